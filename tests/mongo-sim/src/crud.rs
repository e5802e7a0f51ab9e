//! The CRUD and catalog commands drivers send (`insert`, `find`/`getMore`/`killCursors`,
//! `update`, `delete`, `findAndModify`, `count`, `aggregate`, `createIndexes`, `listIndexes`,
//! `listCollections`, `listDatabases`, `create`, `drop`, `dropDatabase`) and the FCV commands
//! (`getParameter`, `setFeatureCompatibilityVersion`), over the persisted [`Store`].
//!
//! Sources:
//! - spec: mongodb/specifications source/crud/crud.md, find_getmore_killcursors_commands.md,
//!   enumerate-collections.md, enumerate-databases.md, index-management.md (command and reply
//!   shapes the drivers rely on)
//! - mongo: src/mongo/db/ops/write_ops.idl and write_ops_exec.cpp (insert/update/delete replies:
//!   `n`, `nModified`, `upserted`, `writeErrors` with `index`, `code`, `errmsg`; ordered writes
//!   stop at the first error; `_id` generated first in an inserted document)
//! - mongo: src/mongo/db/storage/duplicate_key_error_info.cpp (E11000 text)
//! - mongo: src/mongo/db/query/find_request.idl / cursor_response.cpp (`firstBatch` /
//!   `nextBatch`, `id` 0 when exhausted, default first batch of 101 documents)
//! - mongo: src/mongo/db/commands/find_and_modify.cpp (`lastErrorObject`, `value`)
//! - mongo: src/mongo/db/repl/replication_coordinator_impl.cpp canAcceptWritesFor (writes on a
//!   non-primary: NotWritablePrimary 10107 "not primary")
//! - docs: 7.0 compatibility notes ("drop" of a missing collection returns ok from 7.0; earlier
//!   releases answer NamespaceNotFound 26 "ns not found")

use std::collections::HashMap;

use bson::oid::ObjectId;
use bson::{Bson, Document, doc};

use crate::oplog::{self, OpTime};
use crate::query::{self, get_path};
use crate::repl::CmdError;
use crate::store::Store;
use crate::version::Release;

/// mongo: find's default first batch.
const DEFAULT_FIRST_BATCH: usize = 101;
/// A reply batch stops growing at about the 16 MiB document limit.
const BATCH_BYTES: usize = 16 * 1024 * 1024 - 64 * 1024;

/// The FCV document's `_id` in `admin.system.version`.
pub const FCV_ID: &str = "featureCompatibilityVersion";

struct Cursor {
    ns: String,
    rest: std::vec::IntoIter<Document>,
}

/// The documents and the open cursors.
pub struct Data {
    pub store: Store,
    cursors: HashMap<i64, Cursor>,
    /// The term of a primary's writes: set, every replicated record is logged in
    /// `local.oplog.rs` before the commit; unset (standalone, secondary), nothing is logged.
    pub oplog_term: Option<i64>,
    /// The newest entry of `local.oplog.rs` (mongo: lastApplied).
    pub last_op: OpTime,
}

impl Data {
    pub fn new(store: Store) -> Data {
        let last_op = store
            .coll(oplog::DB, oplog::COLL)
            .and_then(|c| c.docs.last())
            .and_then(OpTime::from_doc)
            .unwrap_or(OpTime::NULL);
        let mut store = store;
        store.take_tapped();
        Data {
            store,
            cursors: HashMap::new(),
            oplog_term: None,
            last_op,
        }
    }

    /// Appends an oplog entry built for the next optime in `term`.
    pub fn log_op(&mut self, term: i64, build: impl FnOnce(OpTime) -> Option<Document>) {
        let at = OpTime {
            ts: oplog::next_ts(self.last_op.ts),
            t: term,
        };
        if let Some(e) = build(at) {
            self.store.insert(oplog::DB, oplog::COLL, e);
            self.last_op = at;
        }
    }

    /// Applies an entry pulled from the sync source and records it in our own oplog
    /// (mongo: src/mongo/db/repl/oplog_applier_impl.cpp: apply, then the entry is ours).
    pub fn apply_entry(&mut self, e: &Document) -> Result<(), String> {
        let at = OpTime::from_doc(e).ok_or("oplog entry without ts")?;
        if let Some(r) = oplog::record(e)? {
            self.store.replicate(r);
        }
        self.store.insert(oplog::DB, oplog::COLL, e.clone());
        self.store.take_tapped();
        self.last_op = at;
        Ok(())
    }

    /// Starts our oplog at the sync source's entry an initial sync began from.
    pub fn start_oplog_at(&mut self, e: Document, at: OpTime) {
        self.store.insert(oplog::DB, oplog::COLL, e);
        self.store.take_tapped();
        self.last_op = at;
    }

    /// The FCV stored in `admin.system.version`, if any.
    pub fn fcv(&self) -> Option<String> {
        let coll = self.store.coll("admin", "system.version")?;
        let d = &coll.docs[coll.position(&Bson::String(FCV_ID.into()))?];
        d.get_str("version").ok().map(str::to_owned)
    }

    /// Stores the FCV document (durably).
    pub fn set_fcv(&mut self, version: &str) -> Result<(), CmdError> {
        let d = doc! {"_id": FCV_ID, "version": version};
        let exists = self.fcv().is_some();
        if exists {
            self.store
                .replace("admin", "system.version", FCV_ID.into(), d);
        } else {
            self.store.insert("admin", "system.version", d);
        }
        self.commit()
    }

    pub fn commit(&mut self) -> Result<(), CmdError> {
        let tapped = self.store.take_tapped();
        if let Some(term) = self.oplog_term {
            for r in tapped {
                self.log_op(term, |at| oplog::entry(&r, at));
            }
            self.store.take_tapped();
        }
        self.store.commit().map_err(|e| {
            eprintln!("mongo-sim: {e}");
            CmdError::new(1, "InternalError", e)
        })
    }
}

/// The commands this module answers.
pub const COMMANDS: &[&str] = &[
    "insert",
    "find",
    "getMore",
    "killCursors",
    "update",
    "delete",
    "findAndModify",
    "findandmodify",
    "count",
    "aggregate",
    "createIndexes",
    "listIndexes",
    "listCollections",
    "listDatabases",
    "create",
    "drop",
    "dropDatabase",
    "getParameter",
    "setFeatureCompatibilityVersion",
];

/// Commands that write.
pub fn is_write(name: &str) -> bool {
    matches!(
        name,
        "insert"
            | "update"
            | "delete"
            | "findAndModify"
            | "findandmodify"
            | "createIndexes"
            | "create"
            | "drop"
            | "dropDatabase"
            | "setFeatureCompatibilityVersion"
    )
}

fn coll_name(body: &Document, name: &str) -> Result<String, CmdError> {
    match body.get(name) {
        Some(Bson::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(CmdError::new(
            73,
            "InvalidNamespace",
            format!("collection name has invalid type {}", "non-string"),
        )),
    }
}

fn doc_arg(body: &Document, key: &str) -> Result<Document, CmdError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(Document::new()),
        Some(Bson::Document(d)) => Ok(d.clone()),
        Some(_) => Err(CmdError::new(
            14,
            "TypeMismatch",
            format!("BSON field '{key}' is the wrong type, expected type 'object'"),
        )),
    }
}

fn int_arg(body: &Document, key: &str) -> Option<i64> {
    match body.get(key)? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) => Some(*v as i64),
        _ => None,
    }
}

fn truthy(b: Option<&Bson>) -> bool {
    match b {
        None | Some(Bson::Null) => false,
        Some(Bson::Boolean(v)) => *v,
        Some(Bson::Int32(v)) => *v != 0,
        Some(Bson::Int64(v)) => *v != 0,
        Some(Bson::Double(v)) => *v != 0.0,
        Some(_) => true,
    }
}

/// Runs one data command. `primary`: this node accepts writes.
pub fn run(
    data: &mut Data,
    release: &Release,
    name: &str,
    body: &Document,
    db: &str,
    primary: bool,
) -> Result<Document, CmdError> {
    if is_write(name) && !primary {
        return Err(CmdError::new(10107, "NotWritablePrimary", "not primary"));
    }
    let out = match name {
        "insert" => insert(data, body, db),
        "find" => find(data, body, db),
        "getMore" => get_more(data, body, db),
        "killCursors" => kill_cursors(data, body),
        "update" => update(data, body, db),
        "delete" => delete(data, body, db),
        "findAndModify" | "findandmodify" => find_and_modify(data, body, db, name),
        "count" => count(data, body, db),
        "aggregate" => aggregate(data, body, db),
        "createIndexes" => create_indexes(data, body, db),
        "listIndexes" => list_indexes(data, body, db),
        "listCollections" => list_collections(data, body, db),
        "listDatabases" => Ok(list_databases(data, body)),
        "create" => create(data, body, db),
        "drop" => drop(data, body, db, release),
        "dropDatabase" => {
            data.store.drop_database(db);
            Ok(Document::new())
        }
        "getParameter" => get_parameter(data, body, release),
        "setFeatureCompatibilityVersion" => set_fcv(data, body, release),
        _ => unreachable!("dispatched by COMMANDS"),
    };
    // Whatever the outcome, what was applied is made durable before the reply.
    data.commit()?;
    out
}

fn dup_key(db: &str, coll: &str, id: &Bson) -> Document {
    let shown = match id {
        Bson::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    doc! {
        "code": 11000,
        "errmsg": format!("E11000 duplicate key error collection: {db}.{coll} index: _id_ dup key: {{ _id: {shown} }}"),
        "keyPattern": {"_id": 1},
        "keyValue": {"_id": id.clone()},
    }
}

/// `_id` first, generated when missing (mongo: write_ops_exec.cpp fixDocumentForInsert).
fn with_id(d: &Document) -> Document {
    let mut out = Document::new();
    out.insert(
        "_id",
        d.get("_id")
            .cloned()
            .unwrap_or_else(|| Bson::ObjectId(ObjectId::new())),
    );
    for (k, v) in d {
        if k != "_id" {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

fn docs_arg<'a>(body: &'a Document, key: &str) -> Result<&'a Vec<Bson>, CmdError> {
    match body.get(key) {
        Some(Bson::Array(a)) => Ok(a),
        _ => Err(CmdError::new(
            40414,
            "Location40414",
            format!(
                "BSON field '{}.{key}' is missing but a required field",
                body.keys().next().map_or("", String::as_str)
            ),
        )),
    }
}

fn insert(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "insert")?;
    let ordered = body.get("ordered").is_none_or(|b| truthy(Some(b)));
    let mut n = 0;
    let mut errors = Vec::new();
    for (i, d) in docs_arg(body, "documents")?.iter().enumerate() {
        let Bson::Document(d) = d else { continue };
        let d = with_id(d);
        let id = d.get("_id").cloned().unwrap_or(Bson::Null);
        let exists = data
            .store
            .coll(db, &coll)
            .is_some_and(|c| c.position(&id).is_some());
        if exists {
            let mut e = dup_key(db, &coll, &id);
            e.insert("index", i as i32);
            errors.push(e);
            if ordered {
                break;
            }
            continue;
        }
        data.store.insert(db, &coll, d);
        n += 1;
    }
    let mut out = doc! {"n": n};
    if !errors.is_empty() {
        out.insert("writeErrors", errors);
    }
    Ok(out)
}

/// The matching documents, sorted, skipped and limited (before projection).
fn select(
    data: &Data,
    db: &str,
    coll: &str,
    filter: &Document,
    sort: &Document,
    skip: usize,
    limit: Option<usize>,
) -> Result<Vec<Document>, CmdError> {
    let Some(c) = data.store.coll(db, coll) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in &c.docs {
        if query::matches(d, filter)? {
            out.push(d.clone());
        }
    }
    if !sort.is_empty() {
        query::sort(&mut out, sort);
    }
    let out = out.into_iter().skip(skip);
    Ok(match limit {
        Some(l) => out.take(l).collect(),
        None => out.collect(),
    })
}

/// A cursor reply: the first `first` documents now, the rest kept for getMore.
fn cursor_reply(
    data: &mut Data,
    ns: String,
    docs: Vec<Document>,
    first: usize,
    single: bool,
) -> Document {
    let mut rest = docs.into_iter();
    let batch = take_batch(&mut rest, first);
    let id = if single || rest.len() == 0 {
        0
    } else {
        let id = loop {
            let id = i64::from(rand_u32()) << 20 | i64::from(rand_u32() & 0xfffff);
            if id != 0 && !data.cursors.contains_key(&id) {
                break id;
            }
        };
        data.cursors.insert(
            id,
            Cursor {
                ns: ns.clone(),
                rest,
            },
        );
        id
    };
    doc! {"cursor": {"firstBatch": batch, "id": id, "ns": ns}}
}

fn take_batch(rest: &mut std::vec::IntoIter<Document>, max: usize) -> Vec<Document> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while batch.len() < max {
        let Some(next) = rest.as_slice().first() else {
            break;
        };
        let size = bson::to_vec(next).map_or(0, |v| v.len());
        if !batch.is_empty() && bytes + size > BATCH_BYTES {
            break;
        }
        bytes += size;
        batch.push(rest.next().expect("peeked"));
    }
    batch
}

/// A cursor id: not guessable is all that matters here.
fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let oid = ObjectId::new().bytes();
    nanos ^ u32::from_be_bytes([oid[8], oid[9], oid[10], oid[11]])
}

fn find(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "find")?;
    let filter = doc_arg(body, "filter")?;
    let sort = doc_arg(body, "sort")?;
    let projection = doc_arg(body, "projection")?;
    let skip = int_arg(body, "skip").unwrap_or(0).max(0) as usize;
    let limit = int_arg(body, "limit").filter(|l| *l != 0);
    let mut single = truthy(body.get("singleBatch"));
    let limit = limit.map(|l| {
        // A negative limit is "one batch of |limit|" (legacy form).
        if l < 0 {
            single = true;
        }
        l.unsigned_abs() as usize
    });
    let batch = int_arg(body, "batchSize").map_or(DEFAULT_FIRST_BATCH, |b| b.max(0) as usize);
    let mut docs = select(data, db, &coll, &filter, &sort, skip, limit)?;
    if !projection.is_empty() {
        docs = docs
            .iter()
            .map(|d| query::project(d, &projection))
            .collect::<Result<_, _>>()?;
    }
    Ok(cursor_reply(
        data,
        format!("{db}.{coll}"),
        docs,
        batch,
        single,
    ))
}

fn get_more(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let id = int_arg(body, "getMore").unwrap_or(0);
    let coll = coll_name(body, "collection")?;
    let ns = format!("{db}.{coll}");
    let Some(cursor) = data.cursors.get_mut(&id) else {
        return Err(CmdError::new(
            43,
            "CursorNotFound",
            format!("cursor id {id} not found"),
        ));
    };
    if cursor.ns != ns {
        return Err(CmdError::new(
            13,
            "Unauthorized",
            format!(
                "Requested getMore on namespace '{ns}', but cursor belongs to a different namespace {}",
                cursor.ns
            ),
        ));
    }
    let max = int_arg(body, "batchSize").map_or(usize::MAX, |b| b.max(1) as usize);
    let batch = take_batch(&mut cursor.rest, max);
    let done = cursor.rest.len() == 0;
    if done {
        data.cursors.remove(&id);
    }
    Ok(doc! {"cursor": {"nextBatch": batch, "id": if done { 0 } else { id }, "ns": ns}})
}

fn kill_cursors(data: &mut Data, body: &Document) -> Result<Document, CmdError> {
    let mut killed = Vec::new();
    let mut not_found = Vec::new();
    if let Some(Bson::Array(ids)) = body.get("cursors") {
        for id in ids {
            let id = match id {
                Bson::Int64(v) => *v,
                Bson::Int32(v) => i64::from(*v),
                _ => continue,
            };
            if data.cursors.remove(&id).is_some() {
                killed.push(id);
            } else {
                not_found.push(id);
            }
        }
    }
    Ok(doc! {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
    })
}

/// One update statement; returns (matched, modified, upserted id).
fn update_one_statement(
    data: &mut Data,
    db: &str,
    coll: &str,
    q: &Document,
    u: &Document,
    upsert: bool,
    multi: bool,
) -> Result<(i32, i32, Option<Bson>), CmdError> {
    let targets = select(
        data,
        db,
        coll,
        q,
        &Document::new(),
        0,
        (!multi).then_some(1),
    )?;
    if targets.is_empty() {
        if !upsert {
            return Ok((0, 0, None));
        }
        let mut d = query::upsert_seed(q);
        query::apply_update(&mut d, u, true)?;
        let d = with_id(&d);
        let id = d.get("_id").cloned().unwrap_or(Bson::Null);
        data.store.insert(db, coll, d);
        return Ok((0, 0, Some(id)));
    }
    let mut modified = 0;
    for old in &targets {
        let mut new = old.clone();
        query::apply_update(&mut new, u, false)?;
        let id = old.get("_id").cloned().unwrap_or(Bson::Null);
        if new != *old {
            data.store.replace(db, coll, id, new);
            modified += 1;
        }
    }
    Ok((targets.len() as i32, modified, None))
}

fn pipeline_unsupported() -> CmdError {
    CmdError::new(
        2,
        "BadValue",
        "mongo-sim: pipeline-style updates are not simulated",
    )
}

fn update(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "update")?;
    let ordered = body.get("ordered").is_none_or(|b| truthy(Some(b)));
    let (mut n, mut modified) = (0, 0);
    let mut upserted = Vec::new();
    let mut errors = Vec::new();
    for (i, stmt) in docs_arg(body, "updates")?.iter().enumerate() {
        let Bson::Document(stmt) = stmt else { continue };
        let q = doc_arg(stmt, "q")?;
        let u = match stmt.get("u") {
            Some(Bson::Document(u)) => u.clone(),
            _ => return Err(pipeline_unsupported()),
        };
        let result = update_one_statement(
            data,
            db,
            &coll,
            &q,
            &u,
            truthy(stmt.get("upsert")),
            truthy(stmt.get("multi")),
        );
        match result {
            Ok((matched, m, up)) => {
                n += matched;
                modified += m;
                if let Some(id) = up {
                    n += 1;
                    upserted.push(doc! {"index": i as i32, "_id": id});
                }
            }
            Err(e) => {
                errors.push(doc! {"index": i as i32, "code": e.code, "errmsg": e.errmsg});
                if ordered {
                    break;
                }
            }
        }
    }
    let mut out = doc! {"n": n, "nModified": modified};
    if !upserted.is_empty() {
        out.insert("upserted", upserted);
    }
    if !errors.is_empty() {
        out.insert("writeErrors", errors);
    }
    Ok(out)
}

fn delete(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "delete")?;
    let mut n = 0;
    for stmt in docs_arg(body, "deletes")? {
        let Bson::Document(stmt) = stmt else { continue };
        let q = doc_arg(stmt, "q")?;
        let one = int_arg(stmt, "limit").unwrap_or(0) == 1;
        let targets = select(data, db, &coll, &q, &Document::new(), 0, one.then_some(1))?;
        for d in targets {
            data.store
                .delete(db, &coll, d.get("_id").cloned().unwrap_or(Bson::Null));
            n += 1;
        }
    }
    Ok(doc! {"n": n})
}

fn find_and_modify(
    data: &mut Data,
    body: &Document,
    db: &str,
    name: &str,
) -> Result<Document, CmdError> {
    let coll = coll_name(body, name)?;
    let q = doc_arg(body, "query")?;
    let sort = doc_arg(body, "sort")?;
    let fields = doc_arg(body, "fields")?;
    let remove = truthy(body.get("remove"));
    let return_new = truthy(body.get("new"));
    let upsert = truthy(body.get("upsert"));
    let shown = |d: Option<Document>| -> Result<Bson, CmdError> {
        Ok(match d {
            None => Bson::Null,
            Some(d) if fields.is_empty() => Bson::Document(d),
            Some(d) => Bson::Document(query::project(&d, &fields)?),
        })
    };
    let found = select(data, db, &coll, &q, &sort, 0, Some(1))?
        .into_iter()
        .next();
    if remove {
        let n = i32::from(found.is_some());
        if let Some(d) = &found {
            data.store
                .delete(db, &coll, d.get("_id").cloned().unwrap_or(Bson::Null));
        }
        return Ok(doc! {"lastErrorObject": {"n": n}, "value": shown(found)?});
    }
    let u = match body.get("update") {
        Some(Bson::Document(u)) => u.clone(),
        Some(Bson::Array(_)) => return Err(pipeline_unsupported()),
        _ => {
            return Err(CmdError::new(
                9,
                "FailedToParse",
                "Either an update or remove=true must be specified",
            ));
        }
    };
    match found {
        Some(old) => {
            let mut new = old.clone();
            query::apply_update(&mut new, &u, false)?;
            let id = old.get("_id").cloned().unwrap_or(Bson::Null);
            if new != old {
                data.store.replace(db, &coll, id, new.clone());
            }
            let value = if return_new { new } else { old };
            Ok(
                doc! {"lastErrorObject": {"n": 1, "updatedExisting": true}, "value": shown(Some(value))?},
            )
        }
        None if upsert => {
            let mut d = query::upsert_seed(&q);
            query::apply_update(&mut d, &u, true)?;
            let d = with_id(&d);
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            data.store.insert(db, &coll, d.clone());
            let value = return_new.then_some(d);
            Ok(
                doc! {"lastErrorObject": {"n": 1, "updatedExisting": false, "upserted": id}, "value": shown(value)?},
            )
        }
        None => {
            Ok(doc! {"lastErrorObject": {"n": 0, "updatedExisting": false}, "value": Bson::Null})
        }
    }
}

fn count(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "count")?;
    let q = doc_arg(body, "query")?;
    let skip = int_arg(body, "skip").unwrap_or(0).max(0) as usize;
    let limit = int_arg(body, "limit")
        .filter(|l| *l != 0)
        .map(|l| l.unsigned_abs() as usize);
    let n = select(data, db, &coll, &q, &Document::new(), skip, limit)?.len();
    Ok(doc! {"n": n as i32})
}

/// `$sum` of a constant or a `$field` over a group.
fn sum(docs: &[Document], arg: &Bson) -> Bson {
    let value = |d: &Document| -> Option<f64> {
        match arg {
            Bson::String(f) if f.starts_with('$') => match get_path(d, &f[1..])? {
                Bson::Int32(v) => Some(f64::from(*v)),
                Bson::Int64(v) => Some(*v as f64),
                Bson::Double(v) => Some(*v),
                _ => None,
            },
            Bson::Int32(v) => Some(f64::from(*v)),
            Bson::Int64(v) => Some(*v as f64),
            Bson::Double(v) => Some(*v),
            _ => None,
        }
    };
    let total: f64 = docs.iter().filter_map(value).sum();
    if total.fract() == 0.0 && total.abs() < f64::from(i32::MAX) {
        Bson::Int32(total as i32)
    } else {
        Bson::Double(total)
    }
}

fn group(docs: Vec<Document>, spec: &Document) -> Result<Vec<Document>, CmdError> {
    let key_of = |d: &Document| -> Bson {
        match spec.get("_id") {
            Some(Bson::String(f)) if f.starts_with('$') => {
                get_path(d, &f[1..]).cloned().unwrap_or(Bson::Null)
            }
            Some(other) => other.clone(),
            None => Bson::Null,
        }
    };
    let mut groups: Vec<(Bson, Vec<Document>)> = Vec::new();
    for d in docs {
        let k = key_of(&d);
        match groups.iter_mut().find(|(g, _)| query::equal(g, &k)) {
            Some((_, members)) => members.push(d),
            None => groups.push((k, vec![d])),
        }
    }
    groups
        .into_iter()
        .map(|(k, members)| {
            let mut out = doc! {"_id": k};
            for (field, acc) in spec {
                if field == "_id" {
                    continue;
                }
                match acc {
                    Bson::Document(a) if a.contains_key("$sum") => {
                        out.insert(
                            field.clone(),
                            sum(&members, a.get("$sum").expect("checked")),
                        );
                    }
                    _ => {
                        return Err(CmdError::new(
                            15952,
                            "Location15952",
                            format!("mongo-sim: only $sum accumulators are simulated ({field})"),
                        ));
                    }
                }
            }
            Ok(out)
        })
        .collect()
}

fn aggregate(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "aggregate")?;
    let Some(Bson::Array(pipeline)) = body.get("pipeline") else {
        return Err(CmdError::new(
            14,
            "TypeMismatch",
            "'pipeline' option must be specified as an array",
        ));
    };
    let mut docs = select(data, db, &coll, &Document::new(), &Document::new(), 0, None)?;
    for stage in pipeline {
        let Bson::Document(stage) = stage else {
            return Err(CmdError::new(
                14,
                "TypeMismatch",
                "Each element of the 'pipeline' array must be an object",
            ));
        };
        let Some((op, arg)) = stage.iter().next() else {
            continue;
        };
        docs = match (op.as_str(), arg) {
            ("$match", Bson::Document(f)) => {
                let mut kept = Vec::new();
                for d in docs {
                    if query::matches(&d, f)? {
                        kept.push(d);
                    }
                }
                kept
            }
            ("$sort", Bson::Document(s)) => {
                query::sort(&mut docs, s);
                docs
            }
            ("$skip", _) => {
                let skip = int_arg(stage, "$skip").unwrap_or(0).max(0) as usize;
                docs.into_iter().skip(skip).collect()
            }
            ("$limit", _) => {
                let l = int_arg(stage, "$limit").unwrap_or(0).max(0) as usize;
                docs.into_iter().take(l).collect()
            }
            ("$count", Bson::String(field)) => {
                if docs.is_empty() {
                    Vec::new()
                } else {
                    vec![doc! {field.clone(): docs.len() as i32}]
                }
            }
            ("$group", Bson::Document(spec)) => group(docs, spec)?,
            ("$project", Bson::Document(p)) => docs
                .iter()
                .map(|d| query::project(d, p))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(CmdError::new(
                    40324,
                    "Location40324",
                    format!("Unrecognized pipeline stage name: '{op}'"),
                ));
            }
        };
    }
    let cursor = doc_arg(body, "cursor")?;
    let batch = int_arg(&cursor, "batchSize").map_or(DEFAULT_FIRST_BATCH, |b| b.max(0) as usize);
    Ok(cursor_reply(
        data,
        format!("{db}.{coll}"),
        docs,
        batch,
        false,
    ))
}

fn create_indexes(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "createIndexes")?;
    let created = data.store.create(db, &coll);
    let mut indexes = data
        .store
        .coll(db, &coll)
        .map(|c| c.indexes.clone())
        .unwrap_or_default();
    let before = indexes.len() as i32;
    for spec in docs_arg(body, "indexes")? {
        let Bson::Document(spec) = spec else { continue };
        let name = spec.get_str("name").unwrap_or("").to_owned();
        let key = doc_arg(spec, "key")?;
        match indexes
            .iter()
            .find(|i| i.get_str("name") == Ok(name.as_str()))
        {
            Some(existing) if existing.get_document("key").ok() != Some(&key) => {
                return Err(CmdError::new(
                    86,
                    "IndexKeySpecsConflict",
                    format!(
                        "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: {spec}, existing index: {existing}"
                    ),
                ));
            }
            Some(_) => {}
            None => {
                let mut ix = doc! {"v": 2};
                for (k, v) in spec {
                    ix.insert(k.clone(), v.clone());
                }
                indexes.push(ix);
            }
        }
    }
    let after = indexes.len() as i32;
    let mut out = doc! {
        "numIndexesBefore": before,
        "numIndexesAfter": after,
        "createdCollectionAutomatically": created,
    };
    if after == before {
        out.insert("note", "all indexes already exist");
    } else {
        data.store.set_indexes(db, &coll, indexes);
    }
    Ok(out)
}

fn list_indexes(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "listIndexes")?;
    let Some(c) = data.store.coll(db, &coll) else {
        return Err(CmdError::new(
            26,
            "NamespaceNotFound",
            format!("ns does not exist: {db}.{coll}"),
        ));
    };
    let indexes = c.indexes.clone();
    Ok(cursor_reply(
        data,
        format!("{db}.{coll}"),
        indexes,
        DEFAULT_FIRST_BATCH,
        false,
    ))
}

fn list_collections(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let filter = doc_arg(body, "filter")?;
    let name_only = truthy(body.get("nameOnly"));
    let mut out = Vec::new();
    if let Some(colls) = data.store.dbs.get(db) {
        for name in colls.keys() {
            let entry = if name_only {
                doc! {"name": name, "type": "collection"}
            } else {
                doc! {
                    "name": name,
                    "type": "collection",
                    "options": {},
                    "info": {"readOnly": false},
                    "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
                }
            };
            if query::matches(&entry, &filter)? {
                out.push(entry);
            }
        }
    }
    Ok(cursor_reply(
        data,
        format!("{db}.$cmd.listCollections"),
        out,
        usize::MAX,
        false,
    ))
}

fn list_databases(data: &Data, body: &Document) -> Document {
    let name_only = truthy(body.get("nameOnly"));
    let mut total = 0i64;
    let mut dbs = Vec::new();
    for (name, colls) in &data.store.dbs {
        let size: i64 = colls
            .values()
            .flat_map(|c| &c.docs)
            .map(|d| bson::to_vec(d).map_or(0, |v| v.len() as i64))
            .sum();
        total += size;
        dbs.push(if name_only {
            doc! {"name": name}
        } else {
            doc! {"name": name, "sizeOnDisk": size, "empty": colls.is_empty()}
        });
    }
    if name_only {
        doc! {"databases": dbs}
    } else {
        doc! {"databases": dbs, "totalSize": total, "totalSizeMb": total / (1024 * 1024)}
    }
}

fn create(data: &mut Data, body: &Document, db: &str) -> Result<Document, CmdError> {
    let coll = coll_name(body, "create")?;
    if !data.store.create(db, &coll) {
        return Err(CmdError::new(
            48,
            "NamespaceExists",
            format!("Collection {db}.{coll} already exists."),
        ));
    }
    Ok(Document::new())
}

fn drop(
    data: &mut Data,
    body: &Document,
    db: &str,
    release: &Release,
) -> Result<Document, CmdError> {
    let coll = coll_name(body, "drop")?;
    match data.store.drop_collection(db, &coll) {
        Some(old) => {
            Ok(doc! {"nIndexesWas": old.indexes.len() as i32, "ns": format!("{db}.{coll}")})
        }
        None if release.parts[0] >= 7 => Ok(Document::new()),
        None => Err(CmdError::new(26, "NamespaceNotFound", "ns not found")),
    }
}

/// `{getParameter: 1, featureCompatibilityVersion: 1}` → `{featureCompatibilityVersion:
/// {version: "7.0"}}` (docs: getParameter; ../shared/brief/day2.md §1).
fn get_parameter(data: &Data, body: &Document, release: &Release) -> Result<Document, CmdError> {
    let mut out = Document::new();
    for key in body.keys().skip(1) {
        if key.starts_with('$') || key == "lsid" {
            continue;
        }
        if key == "featureCompatibilityVersion" {
            let version = data.fcv().unwrap_or_else(|| release.fcv());
            out.insert(key.clone(), doc! {"version": version});
        }
    }
    if out.is_empty() {
        return Err(CmdError::new(
            72,
            "InvalidOptions",
            "no option found to get",
        ));
    }
    Ok(out)
}

fn set_fcv(data: &mut Data, body: &Document, release: &Release) -> Result<Document, CmdError> {
    let Ok(target) = body.get_str("setFeatureCompatibilityVersion") else {
        return Err(CmdError::new(
            14,
            "TypeMismatch",
            "BSON field 'setFeatureCompatibilityVersion.setFeatureCompatibilityVersion' is the wrong type, expected type 'string'",
        ));
    };
    if body.contains_key("confirm") && !release.knows_confirm() {
        return Err(CmdError::new(
            40415,
            "Location40415",
            "BSON field 'setFeatureCompatibilityVersion.confirm' is an unknown field.",
        ));
    }
    let settable = release.settable_fcvs();
    if !settable.iter().any(|v| v == target) {
        return Err(CmdError::new(
            2,
            "BadValue",
            format!(
                "Invalid feature compatibility version value '{target}'; expected '{}' or '{}'. See https://docs.mongodb.com/master/release-notes/{}-compatibility/#feature-compatibility.",
                settable[0], settable[1], settable[0]
            ),
        ));
    }
    let current = data.fcv().unwrap_or_else(|| release.fcv());
    if current == target {
        return Ok(Document::new());
    }
    if release.knows_confirm() && !truthy(body.get("confirm")) {
        let text = if target > current.as_str() {
            format!(
                "Once you have upgraded to {target}, you will not be able to downgrade FCV and binary version without support assistance. Please re-run this command with 'confirm: true' to acknowledge this and continue with the FCV upgrade."
            )
        } else {
            "Once you have downgraded the FCV, if you choose to downgrade the binary version, it will require support assistance. Please re-run this command with 'confirm: true' to acknowledge this and continue with the FCV downgrade.".to_owned()
        };
        return Err(CmdError::new(7_369_100, "Location7369100", text));
    }
    eprintln!("mongo-sim: featureCompatibilityVersion {current} -> {target}");
    data.set_fcv(target)?;
    Ok(Document::new())
}
