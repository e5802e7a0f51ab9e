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
