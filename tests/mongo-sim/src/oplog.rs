//! The oplog: every replicated write becomes an entry of `local.oplog.rs` in the server's
//! shape, so secondaries can pull it with `find` and apply it, and a member knows after a
//! restart where it stopped.
//!
//! Sources:
//! - mongo: src/mongo/db/repl/oplog_entry.idl (fields `ts`, `t`, `v`, `op` i/u/d/c/n, `ns`,
//!   `o`, `o2`, `wall`)
//! - mongo: src/mongo/db/repl/optime.h (OpTime ordering: term first, then timestamp)
//! - mongo: src/mongo/db/repl/oplog.cpp (`c` entries name the command in `o`: `create`,
//!   `drop`, `dropDatabase`, `createIndexes`)
//!
//! Simplification (see README "Replica set across containers"): an index change is one `c`
//! entry `{createIndexes: coll, indexes: [...]}` with the collection's whole index list, where
//! mongod writes one entry per index; a replacement is an `u` entry with the whole document,
//! the form mongod uses for replacement-style updates (it writes `$v: 2` diffs otherwise).

use std::cmp::Ordering;

use bson::{Bson, DateTime, Document, Timestamp, doc};

/// The oplog's namespace.
pub const DB: &str = "local";
pub const COLL: &str = "oplog.rs";

/// mongo: src/mongo/db/repl/optime.h: `{ts, t}`, ordered by term then timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpTime {
    pub ts: Timestamp,
    pub t: i64,
}

impl OpTime {
    /// The null optime (mongo: OpTime() — `{ts: Timestamp(0, 0), t: -1}`).
    pub const NULL: OpTime = OpTime {
        ts: Timestamp {
            time: 0,
            increment: 0,
        },
        t: -1,
    };

    pub fn to_doc(self) -> Document {
        doc! {"ts": self.ts, "t": self.t}
    }

    pub fn from_doc(d: &Document) -> Option<OpTime> {
        let ts = match d.get("ts")? {
            Bson::Timestamp(ts) => *ts,
            _ => return None,
        };
        let t = match d.get("t") {
            Some(Bson::Int64(t)) => *t,
            Some(Bson::Int32(t)) => *t as i64,
            _ => -1,
        };
        Some(OpTime { ts, t })
    }

    pub fn from_bson(b: Option<&Bson>) -> Option<OpTime> {
        match b? {
            Bson::Document(d) => OpTime::from_doc(d),
            _ => None,
        }
    }

    /// Seconds since the epoch (for `optimeDate`).
    pub fn date(self) -> DateTime {
        DateTime::from_millis(self.ts.time as i64 * 1000)
    }
}

impl PartialOrd for OpTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OpTime {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.t, self.ts.time, self.ts.increment).cmp(&(o.t, o.ts.time, o.ts.increment))
    }
}

impl std::fmt::Display for OpTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{ ts: Timestamp({}, {}), t: {} }}",
            self.ts.time, self.ts.increment, self.t
        )
    }
}

/// The next timestamp after `last`: the wall clock's second, the increment counting within
/// it (mongo: src/mongo/db/logical_clock.cpp reserveTicks).
pub fn next_ts(last: Timestamp) -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    if now > last.time {
        Timestamp {
            time: now,
            increment: 1,
        }
    } else {
        Timestamp {
            time: last.time,
            increment: last.increment + 1,
        }
    }
}

fn cmd_ns(ns: &str) -> (String, &str) {
    let (db, coll) = ns.split_once('.').unwrap_or((ns, ""));
    (format!("{db}.$cmd"), coll)
}

/// The oplog entry for one store record (see crate::store for the record kinds).
pub fn entry(record: &Document, at: OpTime) -> Option<Document> {
    let ns = record.get_str("ns").unwrap_or("");
    let mut e = doc! {"ts": at.ts, "t": at.t, "v": 2i64};
    match record.get_str("o").ok()? {
        "i" => {
            e.insert("op", "i");
            e.insert("ns", ns);
            e.insert("o", record.get_document("d").ok()?.clone());
        }
        "r" => {
            e.insert("op", "u");
            e.insert("ns", ns);
            e.insert("o", record.get_document("d").ok()?.clone());
            e.insert("o2", doc! {"_id": record.get("id")?.clone()});
        }
        "d" => {
            e.insert("op", "d");
            e.insert("ns", ns);
            e.insert("o", doc! {"_id": record.get("id")?.clone()});
        }
        "c" => {
            let (cmd, coll) = cmd_ns(ns);
            e.insert("op", "c");
            e.insert("ns", cmd);
            e.insert(
                "o",
                doc! {"createIndexes": coll, "indexes": record.get_array("indexes").ok()?.clone()},
            );
        }
        "x" => {
            let (cmd, coll) = cmd_ns(ns);
            e.insert("op", "c");
            e.insert("ns", cmd);
            e.insert("o", doc! {"drop": coll});
        }
        "X" => {
            e.insert("op", "c");
            e.insert("ns", format!("{}.$cmd", record.get_str("db").ok()?));
            e.insert("o", doc! {"dropDatabase": 1});
        }
        _ => return None,
    }
    e.insert("wall", DateTime::now());
    Some(e)
}

/// A no-op entry (mongo: `op: "n"`, e.g. "new primary" written on step-up by
/// replication_coordinator_impl.cpp _postWonElectionUpdateMemberState / "initiating set").
pub fn noop(at: OpTime, msg: &str) -> Document {
    doc! {"ts": at.ts, "t": at.t, "v": 2i64, "op": "n", "ns": "", "o": {"msg": msg},
    "wall": DateTime::now()}
}

/// The store record an entry stands for; `Ok(None)` for a no-op.
pub fn record(e: &Document) -> Result<Option<Document>, String> {
    let op = e.get_str("op").map_err(|_| "oplog entry without op")?;
    let ns = e.get_str("ns").unwrap_or("");
    let o = e.get_document("o").map_err(|_| "oplog entry without o")?;
    let (db, _) = ns.split_once('.').unwrap_or((ns, ""));
    Ok(Some(match op {
        "n" => return Ok(None),
        "i" => doc! {"o": "i", "ns": ns, "d": o.clone()},
        "u" => {
            let id = e
                .get_document("o2")
                .ok()
                .and_then(|d| d.get("_id"))
                .ok_or("u entry without o2._id")?;
            doc! {"o": "r", "ns": ns, "id": id.clone(), "d": o.clone()}
        }
        "d" => doc! {"o": "d", "ns": ns, "id": o.get("_id").ok_or("d entry without _id")?.clone()},
        "c" => {
            if let Ok(coll) = o.get_str("createIndexes") {
                doc! {"o": "c", "ns": format!("{db}.{coll}"), "indexes": o.get_array("indexes").cloned().unwrap_or_default()}
            } else if let Ok(coll) = o.get_str("drop") {
                doc! {"o": "x", "ns": format!("{db}.{coll}")}
            } else if o.contains_key("dropDatabase") {
                doc! {"o": "X", "db": db}
            } else {
                return Err(format!("unknown command entry {o}"));
            }
        }
        other => return Err(format!("unknown op {other}")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimes_order_by_term_first() {
        let a = OpTime {
            ts: Timestamp {
                time: 10,
                increment: 1,
            },
            t: 2,
        };
        let b = OpTime {
            ts: Timestamp {
                time: 5,
                increment: 1,
            },
            t: 3,
        };
        assert!(a < b);
        assert!(OpTime::NULL < a);
    }

    #[test]
    fn every_record_kind_round_trips_through_an_entry() {
        let at = OpTime {
            ts: Timestamp {
                time: 1,
                increment: 1,
            },
            t: 1,
        };
        let records = [
            doc! {"o": "i", "ns": "rc.users", "d": {"_id": "a"}},
            doc! {"o": "r", "ns": "rc.users", "id": "a", "d": {"_id": "a", "n": 2}},
            doc! {"o": "d", "ns": "rc.users", "id": "a"},
            doc! {"o": "c", "ns": "rc.users", "indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]},
            doc! {"o": "x", "ns": "rc.users"},
            doc! {"o": "X", "db": "rc"},
        ];
        for r in records {
            let e = entry(&r, at).unwrap();
            assert_eq!(record(&e).unwrap().unwrap(), r, "entry {e}");
        }
        assert_eq!(record(&noop(at, "new primary")).unwrap(), None);
    }
}
