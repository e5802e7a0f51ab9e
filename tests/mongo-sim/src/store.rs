//! The simulator's documents, kept where mongod keeps them: in its data directory (`--dbpath`),
//! so a container restarted (or recreated on the same volume) finds its data again, and a
//! backup of the volume means something.
//!
//! Format: one append-only log, `DBPATH/mongo-sim.log`, of BSON records (each a complete BSON
//! document, so its first four bytes are its length). Every command's records are appended and
//! `fsync`ed before the reply, so an acknowledged write survives a crash. At start-up the log is
//! replayed; a torn last record (a crash mid-append) is dropped, then the log is compacted into
//! one record per collection and document, written to a temporary file, `fsync`ed and renamed
//! over the log (a crash during compaction leaves the old log whole).
//!
//! Records: `{o: "c", ns, indexes}` a collection created, `{o: "i", ns, d}` a document inserted,
//! `{o: "r", ns, id, d}` replaced, `{o: "d", ns, id}` deleted, `{o: "x", ns}` a collection
//! dropped, `{o: "X", db}` a database dropped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bson::{Bson, Document, doc};

/// The log's file name inside the data directory.
pub const LOG_FILE: &str = "mongo-sim.log";

/// A file operation on the data files that the OS refused: which file, what was done, why.
#[derive(Debug)]
pub struct IoFailure {
    pub file: PathBuf,
    pub op: &'static str,
    pub error: std::io::Error,
}

impl std::fmt::Display for IoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.op, self.error)
    }
}

/// One collection: its documents in insertion order (the natural order a collection scan
/// returns on an unsharded collection without deletes) and its index specs.
#[derive(Debug, Clone)]
pub struct Collection {
    pub docs: Vec<Document>,
    pub indexes: Vec<Document>,
}

impl Default for Collection {
    fn default() -> Self {
        Collection {
            docs: Vec::new(),
            // mongo: every collection has the `_id_` index (v: 2 since 3.4).
            indexes: vec![doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}],
        }
    }
}

impl Collection {
    pub fn position(&self, id: &Bson) -> Option<usize> {
        self.docs.iter().position(|d| d.get("_id") == Some(id))
    }
}

/// Every database's collections, and the open log they are persisted to.
pub struct Store {
    pub dbs: BTreeMap<String, BTreeMap<String, Collection>>,
    log: Option<(PathBuf, File)>,
    pending: Vec<u8>,
    /// Records of replicated namespaces applied since the last [`Store::take_tapped`]: what
    /// the oplog is written from (`local` is never replicated: mongo's `local` database).
    tapped: Vec<Document>,
}

fn split_ns(ns: &str) -> (&str, &str) {
    ns.split_once('.').unwrap_or((ns, ""))
}

impl Store {
    /// A store kept in memory only (no data directory).
    pub fn in_memory() -> Store {
        Store {
            dbs: BTreeMap::new(),
            log: None,
            pending: Vec::new(),
            tapped: Vec::new(),
        }
    }

    /// Opens (replays and compacts) the log in `dir`.
    pub fn open(dir: &Path) -> Result<Store, IoFailure> {
        let path = dir.join(LOG_FILE);
        let mut store = Store::in_memory();
        if path.exists() {
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|error| IoFailure {
                    file: path.clone(),
                    op: "handle-open: open",
                    error,
                })?;
            let mut at = 0;
            let mut records = 0usize;
            while at < bytes.len() {
                let Some(len) = bytes
                    .get(at..at + 4)
                    .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                else {
                    break;
                };
                let Some(raw) = bytes.get(at..at + len).filter(|_| len >= 5) else {
                    break;
                };
                let Ok(record) = Document::from_reader(raw) else {
                    break;
                };
                store.apply(&record);
                records += 1;
                at += len;
            }
            if at < bytes.len() {
                eprintln!(
                    "mongo-sim: {}: dropping a torn record at byte {at} of {} (an interrupted write)",
                    path.display(),
                    bytes.len()
                );
            }
            eprintln!(
                "mongo-sim: replayed {records} records from {}",
                path.display()
            );
        }
        store.compact(dir, &path)?;
        Ok(store)
    }

    /// Rewrites the log as the current state: temporary file, fsync, rename, fsync the directory.
    fn compact(&mut self, dir: &Path, path: &Path) -> Result<(), IoFailure> {
        let tmp = dir.join(format!("{LOG_FILE}.tmp"));
        let mut out = Vec::new();
        for (db, colls) in &self.dbs {
            for (name, coll) in colls {
                let ns = format!("{db}.{name}");
                push(
                    &mut out,
                    &doc! {"o": "c", "ns": &ns, "indexes": coll.indexes.clone()},
                );
                for d in &coll.docs {
                    push(&mut out, &doc! {"o": "i", "ns": &ns, "d": d.clone()});
                }
            }
        }
        let write = || -> std::io::Result<File> {
            let mut f = File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            File::open(dir)?.sync_all()?;
            OpenOptions::new().append(true).open(path)
        };
        let file = write().map_err(|error| IoFailure {
            file: tmp.clone(),
            op: "handle-write: pwrite: failed to write",
            error,
        })?;
        self.log = Some((path.to_path_buf(), file));
        Ok(())
    }

    /// Applies one record to the in-memory state (replay and live writes alike).
    fn apply(&mut self, r: &Document) {
        let ns = r.get_str("ns").unwrap_or("");
        let (db, coll) = split_ns(ns);
        match r.get_str("o").unwrap_or("") {
            "c" => {
                let c = self
                    .dbs
                    .entry(db.into())
                    .or_default()
                    .entry(coll.into())
                    .or_default();
                if let Ok(ix) = r.get_array("indexes") {
                    c.indexes = ix.iter().filter_map(|b| b.as_document().cloned()).collect();
                }
            }
            "i" => {
                if let Ok(d) = r.get_document("d") {
                    self.coll_mut(db, coll).docs.push(d.clone());
                }
            }
            "r" => {
                if let (Some(id), Ok(d)) = (r.get("id"), r.get_document("d")) {
                    let c = self.coll_mut(db, coll);
                    if let Some(i) = c.position(id) {
                        c.docs[i] = d.clone();
                    }
                }
            }
            "d" => {
                if let Some(id) = r.get("id") {
                    let c = self.coll_mut(db, coll);
                    if let Some(i) = c.position(id) {
                        c.docs.remove(i);
                    }
                }
            }
            "x" => {
                if let Some(colls) = self.dbs.get_mut(db) {
                    colls.remove(coll);
                    if colls.is_empty() {
                        self.dbs.remove(db);
                    }
                }
            }
            "X" => {
                self.dbs.remove(r.get_str("db").unwrap_or(""));
            }
            other => eprintln!("mongo-sim: unknown log record {other:?} ignored"),
        }
    }

    /// The collection, created (implicitly, as a write creates it) when missing.
    fn coll_mut(&mut self, db: &str, coll: &str) -> &mut Collection {
        self.dbs
            .entry(db.into())
            .or_default()
            .entry(coll.into())
            .or_default()
    }

    pub fn coll(&self, db: &str, coll: &str) -> Option<&Collection> {
        self.dbs.get(db)?.get(coll)
    }

    /// Applies a record and queues it for [`Store::commit`].
    fn record(&mut self, r: Document) {
        self.apply(&r);
        if self.log.is_some() {
            push(&mut self.pending, &r);
        }
        let local =
            r.get_str("ns").unwrap_or("").starts_with("local.") || r.get_str("db") == Ok("local");
        if !local {
            self.tapped.push(r);
        }
    }

    /// The replicated records applied since the last call (the oplog's source).
    pub fn take_tapped(&mut self) -> Vec<Document> {
        std::mem::take(&mut self.tapped)
    }

    /// Applies a record pulled from another member's oplog, idempotently as mongo's oplog
    /// application is (src/mongo/db/repl/oplog.cpp applyOperation_inlock: an insert of an
    /// existing `_id` becomes an upsert, an update of a missing document is ignored in
    /// initial sync), and queues it for [`Store::commit`].
    pub fn replicate(&mut self, r: Document) {
        if r.get_str("o") == Ok("i")
            && let Ok(d) = r.get_document("d")
            && let Some(id) = d.get("_id")
        {
            let (db, coll) = split_ns(r.get_str("ns").unwrap_or(""));
            if self.coll(db, coll).and_then(|c| c.position(id)).is_some() {
                let ns = r.get_str("ns").unwrap_or("").to_string();
                let id = id.clone();
                let d = d.clone();
                self.record(doc! {"o": "r", "ns": ns, "id": id, "d": d});
                self.tapped.clear();
                return;
            }
        }
        self.record(r);
        self.tapped.clear();
    }

    /// Drops every database but `local` (the start of an initial sync: mongo's
    /// initial_syncer.cpp drops user databases before cloning).
    pub fn drop_replicated(&mut self) {
        let names: Vec<String> = self.dbs.keys().filter(|d| *d != "local").cloned().collect();
        for db in names {
            self.drop_database(&db);
        }
        self.tapped.clear();
    }

    /// Creates the collection if missing; `true` when it was created.
    pub fn create(&mut self, db: &str, coll: &str) -> bool {
        if self.coll(db, coll).is_some() {
            return false;
        }
        let indexes = Collection::default().indexes;
        self.record(doc! {"o": "c", "ns": format!("{db}.{coll}"), "indexes": indexes});
        true
    }

    pub fn set_indexes(&mut self, db: &str, coll: &str, indexes: Vec<Document>) {
        self.record(doc! {"o": "c", "ns": format!("{db}.{coll}"), "indexes": indexes});
    }

    pub fn insert(&mut self, db: &str, coll: &str, d: Document) {
        self.create(db, coll);
        self.record(doc! {"o": "i", "ns": format!("{db}.{coll}"), "d": d});
    }

    pub fn replace(&mut self, db: &str, coll: &str, id: Bson, d: Document) {
        self.record(doc! {"o": "r", "ns": format!("{db}.{coll}"), "id": id, "d": d});
    }

    pub fn delete(&mut self, db: &str, coll: &str, id: Bson) {
        self.record(doc! {"o": "d", "ns": format!("{db}.{coll}"), "id": id});
    }

    pub fn drop_collection(&mut self, db: &str, coll: &str) -> Option<Collection> {
        let old = self.coll(db, coll).cloned()?;
        self.record(doc! {"o": "x", "ns": format!("{db}.{coll}")});
        Some(old)
    }

    pub fn drop_database(&mut self, db: &str) {
        self.record(doc! {"o": "X", "db": db});
    }

    /// Appends the queued records and fsyncs them: the write is durable once this returns. A
    /// write the OS refuses (a full disk) ends the process as WiredTiger's panic ends mongod
    /// (crate::startup::storage_write_failed): nothing acknowledged may be lost.
    pub fn commit(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some((path, file)) = self.log.as_mut() else {
            self.pending.clear();
            return Ok(());
        };
        let result = file
            .write_all(&self.pending)
            .and_then(|()| file.sync_data());
        self.pending.clear();
        if let Err(e) = result {
            crate::startup::storage_write_failed(path, &e);
        }
        Ok(())
    }
}

fn push(out: &mut Vec<u8>, d: &Document) {
    d.to_writer(out).expect("a BSON document serializes");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_survive_a_reopen_and_a_torn_tail_is_dropped() {
        let dir = std::env::temp_dir().join(format!("mongo-sim-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let mut s = Store::open(&dir).unwrap();
            s.insert("rocketchat", "users", doc! {"_id": "a", "n": 1});
            s.insert("rocketchat", "users", doc! {"_id": "b", "n": 2});
            s.replace("rocketchat", "users", "a".into(), doc! {"_id": "a", "n": 3});
            s.delete("rocketchat", "users", "b".into());
            s.insert("scratch", "tmp", doc! {"_id": 1});
            s.drop_database("scratch");
            s.commit().unwrap();
        }
        // A crash mid-append: half a record at the end.
        let log = dir.join(LOG_FILE);
        let mut half = Vec::new();
        push(
            &mut half,
            &doc! {"o": "i", "ns": "rocketchat.users", "d": {"_id": "c"}},
        );
        half.truncate(half.len() / 2);
        OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(&half)
            .unwrap();
        let s = Store::open(&dir).unwrap();
        let users = s.coll("rocketchat", "users").unwrap();
        assert_eq!(users.docs, vec![doc! {"_id": "a", "n": 3}]);
        assert!(s.coll("scratch", "tmp").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
