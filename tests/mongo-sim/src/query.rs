//! The query language subset the drivers' CRUD needs: filters, update operators, sort and
//! projection, with MongoDB's semantics for the parts implemented.
//!
//! Sources:
//! - mongo: src/mongo/bson/bsonobj.cpp / bsonelement.cpp woCompare and
//!   src/mongo/bson/bsontypes.cpp canonicalizeBSONType (the cross-type order: MinKey, null,
//!   numbers, string, object, array, binData, ObjectId, bool, date, timestamp, regex, MaxKey;
//!   numbers compare by value whatever their type)
//! - mongo: src/mongo/db/matcher/expression_leaf.cpp (an array field matches when any element
//!   does; `$exists`, `$in`, `$nin`, `$ne` semantics; a missing field equals null)
//! - mongo: src/mongo/db/update/*_node.cpp ($set, $unset, $inc, $push with $each, $addToSet,
//!   $pull by equality, $setOnInsert applied only on upsert inserts)
//! - docs: https://www.mongodb.com/docs/manual/reference/operator/ (operator reference)

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::repl::CmdError;

fn bad_value(msg: impl Into<String>) -> CmdError {
    CmdError::new(2, "BadValue", msg)
}

/// mongo: bsontypes.cpp canonicalizeBSONType.
fn type_rank(b: &Bson) -> i32 {
    match b {
        Bson::MinKey => -1,
        Bson::Null | Bson::Undefined => 5,
        Bson::Double(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Decimal128(_) => 10,
        Bson::String(_) | Bson::Symbol(_) => 15,
        Bson::Document(_) => 20,
        Bson::Array(_) => 25,
        Bson::Binary(_) => 30,
        Bson::ObjectId(_) => 35,
        Bson::Boolean(_) => 40,
        Bson::DateTime(_) => 45,
        Bson::Timestamp(_) => 47,
        Bson::RegularExpression(_) => 50,
        Bson::DbPointer(_) => 55,
        Bson::JavaScriptCode(_) => 60,
        Bson::JavaScriptCodeWithScope(_) => 65,
        Bson::MaxKey => 127,
    }
}

fn number(b: &Bson) -> Option<f64> {
    match b {
        Bson::Double(v) => Some(*v),
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        _ => None,
    }
}

/// mongo: BSONElement::woCompare (values of different types order by canonical type).
pub fn compare(a: &Bson, b: &Bson) -> Ordering {
    let (ra, rb) = (type_rank(a), type_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        _ if ra == 10 => number(a)
            .unwrap_or(0.0)
            .partial_cmp(&number(b).unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Bson::String(x), Bson::String(y)) => x.cmp(y),
        (Bson::Document(x), Bson::Document(y)) => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y.iter()) {
                let o = ka.cmp(kb).then_with(|| compare(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Bson::Array(x), Bson::Array(y)) => {
            for (va, vb) in x.iter().zip(y.iter()) {
                let o = compare(va, vb);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.cmp(y),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::Binary(x), Bson::Binary(y)) => x.bytes.cmp(&y.bytes),
        _ => Ordering::Equal,
    }
}

pub fn equal(a: &Bson, b: &Bson) -> bool {
    compare(a, b) == Ordering::Equal
}

/// The value at a dotted path (`u._id`), `None` when absent. Array elements are addressed
/// by index (`a.0`).
pub fn get_path<'a>(d: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut cur = d.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Bson::Document(sub) => sub.get(p)?,
            Bson::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Whether `d` matches `filter`.
pub fn matches(d: &Document, filter: &Document) -> Result<bool, CmdError> {
    for (k, cond) in filter {
        let ok = match k.as_str() {
            "$and" => all_of(d, cond, true)?,
            "$or" => all_of(d, cond, false)?,
            "$nor" => !all_of(d, cond, false)?,
            "$comment" => true,
            _ if k.starts_with('$') => {
                return Err(bad_value(format!("unknown top level operator: {k}")));
            }
            _ => field_matches(get_path(d, k), cond)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn all_of(d: &Document, list: &Bson, and: bool) -> Result<bool, CmdError> {
    let Bson::Array(items) = list else {
        return Err(bad_value("$and/$or/$nor must be a nonempty array"));
    };
    for item in items {
        let Bson::Document(f) = item else {
            return Err(bad_value("$or/$and/$nor entries need to be full objects"));
        };
        let m = matches(d, f)?;
        if and && !m {
            return Ok(false);
        }
        if !and && m {
            return Ok(true);
        }
    }
    Ok(and)
}

/// An operator document (`{$gt: 1}`) or a value to equal.
fn field_matches(v: Option<&Bson>, cond: &Bson) -> Result<bool, CmdError> {
    if let Bson::Document(ops) = cond
        && ops.keys().next().is_some_and(|k| k.starts_with('$'))
    {
        for (op, arg) in ops {
            if !operator(v, op, arg)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    Ok(eq(v, cond))
}

/// Equality as the matcher does it: a missing field equals null; an array equals a value it
/// contains, or an equal array.
fn eq(v: Option<&Bson>, want: &Bson) -> bool {
    match v {
        None => matches!(want, Bson::Null),
        Some(Bson::Array(items)) => {
            equal(&Bson::Array(items.clone()), want) || items.iter().any(|i| equal(i, want))
        }
        Some(x) => equal(x, want),
    }
}

fn any_elem(v: Option<&Bson>, test: impl Fn(&Bson) -> bool) -> bool {
    match v {
        Some(Bson::Array(items)) => items.iter().any(&test),
        Some(x) => test(x),
        None => false,
    }
}

fn operator(v: Option<&Bson>, op: &str, arg: &Bson) -> Result<bool, CmdError> {
    // Comparisons only between values of the same canonical type (mongo: ComparisonMatchExpression).
    let cmp = |o: fn(Ordering) -> bool| {
        any_elem(v, |x| type_rank(x) == type_rank(arg) && o(compare(x, arg)))
    };
    Ok(match op {
        "$eq" => eq(v, arg),
        "$ne" => !eq(v, arg),
        "$gt" => cmp(|o| o == Ordering::Greater),
        "$gte" => cmp(|o| o != Ordering::Less),
        "$lt" => cmp(|o| o == Ordering::Less),
        "$lte" => cmp(|o| o != Ordering::Greater),
        "$in" | "$nin" => {
            let Bson::Array(list) = arg else {
                return Err(bad_value(format!("{op} needs an array")));
            };
            let found = list.iter().any(|w| eq(v, w));
            if op == "$in" { found } else { !found }
        }
        "$exists" => {
            let want = !matches!(arg, Bson::Boolean(false) | Bson::Int32(0) | Bson::Int64(0));
            v.is_some() == want
        }
        "$not" => match arg {
            Bson::Document(_) => !field_matches(v, arg)?,
            _ => return Err(bad_value("$not needs a regex or a document")),
        },
        "$size" => {
            let n = number(arg).unwrap_or(-1.0);
            matches!(v, Some(Bson::Array(a)) if a.len() as f64 == n)
        }
        "$elemMatch" => {
            let Bson::Document(f) = arg else {
                return Err(bad_value("$elemMatch needs an Object"));
            };
            match v {
                Some(Bson::Array(items)) => items.iter().any(|i| match i {
                    Bson::Document(sub) => matches(sub, f).unwrap_or(false),
                    other => field_matches(Some(other), arg).unwrap_or(false),
                }),
                _ => false,
            }
        }
        _ => return Err(bad_value(format!("unknown operator: {op}"))),
    })
}

/// Sorts by a sort spec (`{ts: -1, _id: 1}`); stable, so ties keep natural order.
pub fn sort(docs: &mut [Document], spec: &Document) {
    docs.sort_by(|a, b| {
        for (k, dir) in spec {
            let null = Bson::Null;
            let o = compare(
                get_path(a, k).unwrap_or(&null),
                get_path(b, k).unwrap_or(&null),
            );
            let o = if number(dir).unwrap_or(1.0) < 0.0 {
                o.reverse()
            } else {
                o
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

/// Applies a projection: inclusion (`{a: 1}`, `_id` kept unless `_id: 0`) or exclusion
/// (`{a: 0}`), top-level and dotted fields. mongo: src/mongo/db/exec/projection_executor.
pub fn project(d: &Document, spec: &Document) -> Result<Document, CmdError> {
    let truthy = |b: &Bson| {
        !matches!(b, Bson::Boolean(false) | Bson::Int32(0) | Bson::Int64(0))
            && !matches!(b, Bson::Double(x) if *x == 0.0)
    };
    let inclusion = spec.iter().any(|(k, v)| k != "_id" && truthy(v));
    let exclusion = spec.iter().any(|(k, v)| k != "_id" && !truthy(v));
    if inclusion && exclusion {
        return Err(CmdError::new(
            31254,
            "Location31254",
            "Cannot do exclusion on field in inclusion projection",
        ));
    }
    if inclusion {
        let mut out = Document::new();
        if spec.get("_id").is_none_or(truthy)
            && let Some(id) = d.get("_id")
        {
            out.insert("_id", id.clone());
        }
        for (k, v) in spec {
            if k != "_id"
                && truthy(v)
                && let Some(val) = get_path(d, k)
            {
                set_path(&mut out, k, val.clone());
            }
        }
        Ok(out)
    } else {
        let mut out = d.clone();
        for (k, v) in spec {
            if !truthy(v) {
                unset_path(&mut out, k);
            }
        }
        Ok(out)
    }
}

/// Sets a dotted path, creating intermediate documents.
pub fn set_path(d: &mut Document, path: &str, value: Bson) {
    match path.split_once('.') {
        None => {
            d.insert(path, value);
        }
        Some((head, rest)) => {
            if !matches!(d.get(head), Some(Bson::Document(_))) {
                d.insert(head, Document::new());
            }
            if let Some(Bson::Document(sub)) = d.get_mut(head) {
                set_path(sub, rest, value);
            }
        }
    }
}

fn unset_path(d: &mut Document, path: &str) {
    match path.split_once('.') {
        None => {
            d.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Bson::Document(sub)) = d.get_mut(head) {
                unset_path(sub, rest);
            }
        }
    }
}

/// Whether `u` is an operator update (`{$set: ...}`) rather than a replacement document.
pub fn is_operator_update(u: &Document) -> bool {
    u.keys().next().is_some_and(|k| k.starts_with('$'))
}

/// Applies an update document to `d` (an operator update, or a replacement keeping `_id`).
/// `inserting` applies `$setOnInsert`.
pub fn apply_update(d: &mut Document, u: &Document, inserting: bool) -> Result<(), CmdError> {
    if !is_operator_update(u) {
        let id = d.get("_id").cloned();
        if let (Some(old), Some(new)) = (&id, u.get("_id"))
            && !equal(old, new)
        {
            // mongo: update_driver / ImmutableField 66.
            return Err(CmdError::new(
                66,
                "ImmutableField",
                "After applying the update, the (immutable) field '_id' was found to have been altered",
            ));
        }
        let mut new = Document::new();
        if let Some(id) = id.or_else(|| u.get("_id").cloned()) {
            new.insert("_id", id);
        }
        for (k, v) in u {
            if k != "_id" {
                new.insert(k.clone(), v.clone());
            }
        }
        *d = new;
        return Ok(());
    }
    for (op, fields) in u {
        let Bson::Document(fields) = fields else {
            return Err(CmdError::new(
                9,
                "FailedToParse",
                format!(
                    "Modifiers operate on fields but we found type {} instead. For example: {{$mod: {{<field>: ...}}}} not {{{op}: {fields}}}",
                    "a non-object"
                ),
            ));
        };
        for (path, arg) in fields {
            match op.as_str() {
                "$set" => set_path(d, path, arg.clone()),
                "$setOnInsert" => {
                    if inserting {
                        set_path(d, path, arg.clone());
                    }
                }
                "$unset" => unset_path(d, path),
                "$inc" => {
                    let cur = get_path(d, path).cloned();
                    let sum = match (cur, arg) {
                        (None, a) => a.clone(),
                        (Some(Bson::Int32(x)), Bson::Int32(y)) => x
                            .checked_add(*y)
                            .map_or(Bson::Int64(i64::from(x) + i64::from(*y)), Bson::Int32),
                        (Some(Bson::Int64(x)), Bson::Int32(y)) => Bson::Int64(x + i64::from(*y)),
                        (Some(Bson::Int32(x)), Bson::Int64(y)) => Bson::Int64(i64::from(x) + y),
                        (Some(Bson::Int64(x)), Bson::Int64(y)) => Bson::Int64(x + y),
                        (Some(x), y) => match (number(&x), number(y)) {
                            (Some(a), Some(b)) => Bson::Double(a + b),
                            _ => {
                                return Err(CmdError::new(
                                    14,
                                    "TypeMismatch",
                                    format!(
                                        "Cannot apply $inc to a value of non-numeric type. {{_id: ...}} has the field '{path}' of non-numeric type"
                                    ),
                                ));
                            }
                        },
                    };
                    set_path(d, path, sum);
                }
                "$push" | "$addToSet" => {
                    let items = match arg {
                        Bson::Document(m) if m.contains_key("$each") => match m.get("$each") {
                            Some(Bson::Array(a)) => a.clone(),
                            _ => return Err(bad_value("The argument to $each must be an array")),
                        },
                        other => vec![other.clone()],
                    };
                    let mut list = match get_path(d, path) {
                        None => Vec::new(),
                        Some(Bson::Array(a)) => a.clone(),
                        Some(_) => {
                            return Err(CmdError::new(
                                2,
                                "BadValue",
                                format!(
                                    "The field '{path}' must be an array but is of another type"
                                ),
                            ));
                        }
                    };
                    for i in items {
                        if op == "$push" || !list.iter().any(|x| equal(x, &i)) {
                            list.push(i);
                        }
                    }
                    set_path(d, path, Bson::Array(list));
                }
                "$pull" => {
                    if let Some(Bson::Array(a)) = get_path(d, path) {
                        let kept: Vec<Bson> = a
                            .iter()
                            .filter(|x| !field_matches(Some(x), arg).unwrap_or(false))
                            .cloned()
                            .collect();
                        set_path(d, path, Bson::Array(kept));
                    }
                }
                _ => {
                    return Err(CmdError::new(
                        9,
                        "FailedToParse",
                        format!(
                            "Unknown modifier: {op}. Expected a valid update modifier or pipeline-style update specified as an array"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The document an upsert inserts: the filter's equality fields, then the update.
/// mongo: src/mongo/db/update/update_driver.cpp populateDocumentWithQueryFields.
pub fn upsert_seed(filter: &Document) -> Document {
    let mut d = Document::new();
    for (k, v) in filter {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Bson::Document(ops) if ops.keys().next().is_some_and(|k| k.starts_with('$')) => {
                if let Some(eqv) = ops.get("$eq") {
                    set_path(&mut d, k, eqv.clone());
                }
            }
            other => set_path(&mut d, k, other.clone()),
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn filters_match_as_the_matcher_does() {
        let d = doc! {"_id": 1, "u": {"username": "bot"}, "tags": ["a", "b"], "n": 5};
        for (f, want) in [
            (doc! {"u.username": "bot"}, true),
            (doc! {"tags": "b"}, true),
            (doc! {"n": {"$gt": 4, "$lte": 5}}, true),
            (doc! {"n": {"$gt": 5}}, false),
            (doc! {"n": {"$gt": "a"}}, false),
            (doc! {"missing": null}, true),
            (doc! {"missing": {"$exists": false}}, true),
            (doc! {"n": {"$in": [1, 5]}}, true),
            (doc! {"$or": [{"n": 1}, {"tags": "a"}]}, true),
            (doc! {"n": 5.0}, true),
        ] {
            assert_eq!(matches(&d, &f).unwrap(), want, "{f}");
        }
    }

    #[test]
    fn updates_sort_and_projection() {
        let mut d = doc! {"_id": 1, "n": 1};
        apply_update(
            &mut d,
            &doc! {"$inc": {"n": 2}, "$set": {"a.b": "x"}, "$push": {"l": {"$each": [1, 2]}}, "$setOnInsert": {"s": 1}},
            false,
        )
        .unwrap();
        assert_eq!(d, doc! {"_id": 1, "n": 3, "a": {"b": "x"}, "l": [1, 2]});
        let mut docs = vec![doc! {"t": 2}, doc! {"t": 1}, doc! {"t": 3}];
        sort(&mut docs, &doc! {"t": -1});
        assert_eq!(docs[0], doc! {"t": 3});
        assert_eq!(
            project(&d, &doc! {"n": 1}).unwrap(),
            doc! {"_id": 1, "n": 3}
        );
        assert_eq!(
            upsert_seed(&doc! {"_id": "control", "v": {"$gt": 1}}),
            doc! {"_id": "control"}
        );
    }
}
