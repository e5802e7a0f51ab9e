//! Shared simulator state: the replication state, the documents, the simulated release and
//! the injected faults.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::crud::Data;
use crate::repl::Repl;
use crate::version::Release;

/// Active faults; each is on while `now < until`.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Accept and immediately close every new connection.
    pub drop_until: Option<Instant>,
    /// Read requests but hold every reply until this instant (or until cleared).
    pub stall_until: Option<Instant>,
    /// Answer a connection's first hello, then never reply on that connection.
    pub stall_after_handshake_until: Option<Instant>,
}

impl Faults {
    pub fn on(until: Option<Instant>) -> bool {
        until.is_some_and(|t| Instant::now() < t)
    }
}

pub struct Sim {
    repl: Mutex<Repl>,
    data: Mutex<Data>,
    pub release: Release,
    faults: Mutex<Faults>,
    next_conn: AtomicI64,
    next_request: AtomicI32,
}

impl Sim {
    pub fn new(repl: Repl, data: Data, release: Release, faults: Faults) -> Sim {
        Sim {
            repl: Mutex::new(repl),
            data: Mutex::new(data),
            release,
            faults: Mutex::new(faults),
            next_conn: AtomicI64::new(1),
            next_request: AtomicI32::new(1),
        }
    }

    pub fn repl(&self) -> MutexGuard<'_, Repl> {
        self.repl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The replication state with its clocks advanced and its optime taken from the data:
    /// a pending no-op entry ("initiating set", "new primary") is written to the oplog here.
    /// Lock order: replication state, then data (never the other way round).
    pub fn ticked(&self) -> MutexGuard<'_, Repl> {
        let mut r = self.repl();
        r.tick(Instant::now());
        let mut d = self.data();
        if let Some(msg) = r.pending_noop.take() {
            let term = if msg == "initiating set" { -1 } else { r.term };
            d.log_op(term, |at| Some(crate::oplog::noop(at, msg)));
            if let Err(e) = d.commit() {
                eprintln!("mongo-sim: {}", e.errmsg);
            }
        }
        if d.last_op != r.applied() {
            r.last_applied = (d.last_op.ts, d.last_op.t);
            r.last_applied_wall = bson::DateTime::now();
        }
        drop(d);
        r.advance_commit_point();
        r
    }

    pub fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn next_connection_id(&self) -> i64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_request_id(&self) -> i32 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }
}
