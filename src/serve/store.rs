//! `serve`'s history on disk: one SQLite file (WAL) holding every result, the tiered
//! aggregates that keep a year small, each check's up/down counters, incidents and their
//! timelines, maintenance windows and the alert outbox — so a restart (or `kill -9`) loses at
//! most the result being written, and never what was already notified.
//!
//! Tiers (as Uptime Kuma 2 keeps them, `../shared/brief/status.md` §2): raw results for 24 h,
//! hourly buckets for 30 days, daily buckets for a year. Buckets are added to in the same
//! transaction as the raw row, so no roll-up job can be interrupted half-way; pruning deletes
//! what has aged out of each tier.
//!
//! Opened only by `serve` (and the bench's seeding tool): nothing here runs on a check's path.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::Error;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// How long each tier is kept.
pub const RAW_KEPT_MS: i64 = DAY_MS;
pub const HOURLY_KEPT_MS: i64 = 30 * DAY_MS;
pub const DAILY_KEPT_MS: i64 = 366 * DAY_MS;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS results (
    check_name TEXT NOT NULL, at INTEGER NOT NULL, ok INTEGER NOT NULL,
    latency_ms REAL NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_by_check ON results (check_name, at);
CREATE TABLE IF NOT EXISTS hourly (
    check_name TEXT NOT NULL, bucket INTEGER NOT NULL, total INTEGER NOT NULL,
    ok INTEGER NOT NULL, latency_sum REAL NOT NULL, PRIMARY KEY (check_name, bucket))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily (
    check_name TEXT NOT NULL, bucket INTEGER NOT NULL, total INTEGER NOT NULL,
    ok INTEGER NOT NULL, latency_sum REAL NOT NULL, PRIMARY KEY (check_name, bucket))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checks (
    check_name TEXT PRIMARY KEY, fails INTEGER NOT NULL, oks INTEGER NOT NULL,
    down INTEGER NOT NULL, incident INTEGER);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY, check_name TEXT NOT NULL, service TEXT NOT NULL,
    opened_at INTEGER NOT NULL, resolved_at INTEGER, status TEXT NOT NULL,
    detail TEXT NOT NULL,
    -- NULL: not yet decided; 'sent' (queued in the outbox), 'muted', 'grouped', 'flap'
    notified TEXT, grouped_under INTEGER, reminded_at INTEGER,
    resolve_notified INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS open_incidents ON incidents (resolved_at);
CREATE TABLE IF NOT EXISTS timeline (
    incident INTEGER NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS timeline_by_incident ON timeline (incident, at);
CREATE TABLE IF NOT EXISTS maintenance (
    id INTEGER PRIMARY KEY, services TEXT NOT NULL, starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL, message TEXT NOT NULL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, incident INTEGER NOT NULL,
    kind TEXT NOT NULL, body TEXT NOT NULL, sent_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
";

/// The store, locked (a panic while it was held leaves it usable: every write is one
/// transaction, rolled back on drop).
pub fn locked(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Now, in unix milliseconds.
#[must_use]
pub fn now_ms() -> i64 {
    crate::catalog::unix_ms(std::time::SystemTime::now())
}

/// The database, open.
pub struct Store {
    conn: Connection,
    path: String,
}

/// A store error as the CLI reports it.
fn failed(path: &str, e: &rusqlite::Error) -> Error {
    Error::failed(format!("status database `{path}`: {e}"))
        .with_hint("check the path given with `--db` is writable (a volume in a container)")
}

/// One aggregated bucket (an hour or a day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Unix milliseconds of its start.
    pub start: i64,
    pub total: i64,
    pub ok: i64,
    pub latency_sum: f64,
}

impl Bucket {
    #[must_use]
    pub fn uptime(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.ok as f64 / self.total as f64
        }
    }

    #[must_use]
    pub fn mean_latency(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.latency_sum / self.total as f64
        }
    }
}

/// A check's counters, kept across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub fails: u32,
    pub oks: u32,
    pub down: bool,
    pub incident: Option<i64>,
}

/// An incident as the page and the alerter see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Incident {
    pub id: i64,
    pub check: String,
    pub service: String,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
    pub status: String,
    pub detail: String,
    pub notified: Option<String>,
    pub grouped_under: Option<i64>,
    pub reminded_at: Option<i64>,
    pub resolve_notified: bool,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub at: i64,
    pub kind: String,
    pub text: String,
}

/// A maintenance window as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Window {
    pub id: i64,
    pub services: Vec<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub message: String,
    /// `catalog` or `api`.
    pub source: String,
}

impl Window {
    #[must_use]
    pub fn covers(&self, service: &str, at: i64) -> bool {
        self.starts_at <= at
            && at < self.ends_at
            && (self.services.is_empty() || self.services.iter().any(|s| s == service))
    }
}

/// An alert waiting in the outbox.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub body: String,
    pub attempts: i64,
}

const INCIDENT_COLUMNS: &str = "id, check_name, service, opened_at, resolved_at, status, detail, notified, grouped_under, reminded_at, resolve_notified";

fn incident(row: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        id: row.get(0)?,
        check: row.get(1)?,
        service: row.get(2)?,
        opened_at: row.get(3)?,
        resolved_at: row.get(4)?,
        status: row.get(5)?,
        detail: row.get(6)?,
        notified: row.get(7)?,
        grouped_under: row.get(8)?,
        reminded_at: row.get(9)?,
        resolve_notified: row.get(10)?,
    })
}

impl Store {
    /// Opens (creating) the database at `path`, in WAL mode.
    ///
    /// # Errors
    /// The file cannot be opened or is not a database.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|e| failed(&name, &e))?;
        // WAL: readers (the page) never block the writer; `synchronous=NORMAL` in WAL mode
        // loses no committed transaction when the process dies (only on power loss).
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            // Sorts and indexes in memory: a `FROM scratch` image has no /tmp.
            .and_then(|()| conn.pragma_update(None, "temp_store", "MEMORY"))
            .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|e| failed(&name, &e))?;
        tracing::debug!(db = %name, "status database open");
        Ok(Self { conn, path: name })
    }

    fn err(&self, e: &rusqlite::Error) -> Error {
        failed(&self.path, e)
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`.
    ///
    /// # Errors
    /// What `f` or SQLite returns.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| failed(&self.path, &e))?;
        let value = f(&tx).map_err(|e| failed(&self.path, &e))?;
        tx.commit().map_err(|e| failed(&self.path, &e))?;
        Ok(value)
    }

    #[must_use]
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Removes what has aged out of each tier; returns the rows deleted.
    ///
    /// # Errors
    /// SQLite's.
    pub fn prune(&mut self, now: i64) -> Result<usize, Error> {
        self.write(|tx| {
            let mut deleted = tx.execute(
                "DELETE FROM results WHERE at < ?1",
                params![now - RAW_KEPT_MS],
            )?;
            deleted += tx.execute(
                "DELETE FROM hourly WHERE bucket < ?1",
                params![now - HOURLY_KEPT_MS],
            )?;
            deleted += tx.execute(
                "DELETE FROM daily WHERE bucket < ?1",
                params![now - DAILY_KEPT_MS],
            )?;
            deleted += tx.execute(
                "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?1",
                params![now - HOURLY_KEPT_MS],
            )?;
            Ok(deleted)
        })
    }

    /// Daily buckets of `check` from `since` on, oldest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn daily(&self, check: &str, since: i64) -> Result<Vec<Bucket>, Error> {
        self.buckets("daily", check, since)
    }

    /// Hourly buckets of `check` from `since` on, oldest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn hourly(&self, check: &str, since: i64) -> Result<Vec<Bucket>, Error> {
        self.buckets("hourly", check, since)
    }

    fn buckets(&self, table: &str, check: &str, since: i64) -> Result<Vec<Bucket>, Error> {
        let sql = format!(
            "SELECT bucket, total, ok, latency_sum FROM {table} WHERE check_name = ?1 AND bucket >= ?2 ORDER BY bucket"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(|e| self.err(&e))?;
        statement
            .query_map(params![check, since], |row| {
                Ok(Bucket {
                    start: row.get(0)?,
                    total: row.get(1)?,
                    ok: row.get(2)?,
                    latency_sum: row.get(3)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))
    }

    /// The uptime of `check` since `since` (from hourly buckets within 30 days, else daily),
    /// `None` without any result.
    ///
    /// # Errors
    /// SQLite's.
    pub fn uptime(&self, check: &str, since: i64, now: i64) -> Result<Option<f64>, Error> {
        let table = if now - since <= HOURLY_KEPT_MS {
            "hourly"
        } else {
            "daily"
        };
        let start = if table == "hourly" {
            since - since.rem_euclid(HOUR_MS)
        } else {
            since - since.rem_euclid(DAY_MS)
        };
        let sql = format!(
            "SELECT COALESCE(SUM(total), 0), COALESCE(SUM(ok), 0) FROM {table} WHERE check_name = ?1 AND bucket >= ?2"
        );
        let (total, ok): (i64, i64) = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params![check, start], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(|e| self.err(&e))?;
        Ok((total > 0).then(|| ok as f64 / total as f64))
    }

    /// The counters of every check known.
    ///
    /// # Errors
    /// SQLite's.
    pub fn counters(&self, check: &str) -> Result<Counters, Error> {
        counters(&self.conn, check).map_err(|e| self.err(&e))
    }

    /// Incidents open now, oldest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn open_incidents(&self) -> Result<Vec<Incident>, Error> {
        self.incidents_where("resolved_at IS NULL ORDER BY opened_at, id", params![])
    }

    /// Incidents resolved since `since`, newest first, at most `limit`.
    ///
    /// # Errors
    /// SQLite's.
    pub fn past_incidents(&self, since: i64, limit: i64) -> Result<Vec<Incident>, Error> {
        self.incidents_where(
            "resolved_at IS NOT NULL AND resolved_at >= ?1 ORDER BY resolved_at DESC LIMIT ?2",
            params![since, limit],
        )
    }

    /// One incident.
    ///
    /// # Errors
    /// SQLite's.
    pub fn incident(&self, id: i64) -> Result<Option<Incident>, Error> {
        Ok(self
            .incidents_where("id = ?1", params![id])?
            .into_iter()
            .next())
    }

    fn incidents_where(
        &self,
        condition: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Incident>, Error> {
        incidents_where(&self.conn, condition, values).map_err(|e| self.err(&e))
    }

    /// The timeline of an incident, oldest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn timeline(&self, incident: i64) -> Result<Vec<Entry>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT at, kind, text FROM timeline WHERE incident = ?1 ORDER BY at, rowid",
            )
            .map_err(|e| self.err(&e))?;
        statement
            .query_map(params![incident], |row| {
                Ok(Entry {
                    at: row.get(0)?,
                    kind: row.get(1)?,
                    text: row.get(2)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))
    }

    /// Maintenance windows that have not ended by `now`, soonest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn windows(&self, now: i64) -> Result<Vec<Window>, Error> {
        windows(&self.conn, now).map_err(|e| self.err(&e))
    }

    /// Replaces the catalog's windows by `windows` (the API's are kept).
    ///
    /// # Errors
    /// SQLite's.
    pub fn set_catalog_windows(
        &mut self,
        windows: &[crate::catalog::Maintenance],
    ) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute("DELETE FROM maintenance WHERE source = 'catalog'", [])?;
            for w in windows {
                add_window(
                    tx,
                    &w.services,
                    w.starts_at,
                    w.ends_at,
                    &w.message,
                    "catalog",
                )?;
            }
            Ok(())
        })
    }

    /// The oldest alert not sent yet.
    ///
    /// # Errors
    /// SQLite's.
    pub fn next_pending(&self) -> Result<Option<Pending>, Error> {
        self.conn
            .query_row(
                "SELECT id, body, attempts FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1",
                [],
                |row| {
                    Ok(Pending {
                        id: row.get(0)?,
                        body: row.get(1)?,
                        attempts: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(&e))
    }

    /// Marks an alert sent, and says so in its incident's timeline.
    ///
    /// # Errors
    /// SQLite's.
    pub fn sent(&mut self, id: i64, now: i64) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                params![id, now],
            )?;
            let (incident, kind): (i64, String) = tx.query_row(
                "SELECT incident, kind FROM outbox WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            note(
                tx,
                incident,
                now,
                "notified",
                &format!("{kind} alert delivered to the room"),
            )
        })
    }

    /// Records a failed attempt (the reason carries no URL).
    ///
    /// # Errors
    /// SQLite's.
    pub fn attempt_failed(&mut self, id: i64, reason: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, reason],
            )?;
            Ok(())
        })
    }

    /// Every alert in the outbox, sent or not: (kind, body, sent).
    ///
    /// # Errors
    /// SQLite's.
    pub fn outbox(&self) -> Result<Vec<(String, String, bool)>, Error> {
        let mut statement = self
            .conn
            .prepare("SELECT kind, body, sent_at IS NOT NULL FROM outbox ORDER BY id")
            .map_err(|e| self.err(&e))?;
        statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))
    }
}

pub(crate) fn counters(conn: &Connection, check: &str) -> rusqlite::Result<Counters> {
    Ok(conn
        .query_row(
            "SELECT fails, oks, down, incident FROM checks WHERE check_name = ?1",
            params![check],
            |r| {
                Ok(Counters {
                    fails: r.get(0)?,
                    oks: r.get(1)?,
                    down: r.get(2)?,
                    incident: r.get(3)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

pub(crate) fn set_counters(
    conn: &Connection,
    check: &str,
    counters: &Counters,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO checks (check_name, fails, oks, down, incident) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (check_name) DO UPDATE SET fails = ?2, oks = ?3, down = ?4, incident = ?5",
        params![
            check,
            counters.fails,
            counters.oks,
            counters.down,
            counters.incident
        ],
    )?;
    Ok(())
}

pub(crate) fn incidents_where(
    conn: &Connection,
    condition: &str,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<Incident>> {
    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {condition}");
    let mut statement = conn.prepare_cached(&sql)?;
    statement.query_map(values, incident)?.collect()
}

pub(crate) fn windows(conn: &Connection, now: i64) -> rusqlite::Result<Vec<Window>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, services, starts_at, ends_at, message, source FROM maintenance WHERE ends_at > ?1 ORDER BY starts_at, id",
    )?;
    statement
        .query_map(params![now], |row| {
            let services: String = row.get(1)?;
            Ok(Window {
                id: row.get(0)?,
                services: services
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                starts_at: row.get(2)?,
                ends_at: row.get(3)?,
                message: row.get(4)?,
                source: row.get(5)?,
            })
        })?
        .collect()
}

pub(crate) fn add_window(
    conn: &Connection,
    services: &[String],
    starts_at: i64,
    ends_at: i64,
    message: &str,
    source: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO maintenance (services, starts_at, ends_at, message, source) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![services.join(","), starts_at, ends_at, message, source],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Adds a line to an incident's timeline.
pub(crate) fn note(
    conn: &Connection,
    incident: i64,
    at: i64,
    kind: &str,
    text: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO timeline (incident, at, kind, text) VALUES (?1, ?2, ?3, ?4)",
        params![incident, at, kind, text],
    )?;
    Ok(())
}

/// Stores one result: the raw row and its hour's and day's buckets.
pub fn add_result(
    conn: &Connection,
    check: &str,
    at: i64,
    ok: bool,
    latency_ms: f64,
    detail: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO results (check_name, at, ok, latency_ms, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![check, at, ok, latency_ms, detail],
    )?;
    add_to_buckets(conn, check, at, 1, i64::from(ok), latency_ms)
}

/// Adds `total` results (`ok` of them passing) to the hour's and the day's buckets of `at`.
pub fn add_to_buckets(
    conn: &Connection,
    check: &str,
    at: i64,
    total: i64,
    ok: i64,
    latency_sum: f64,
) -> rusqlite::Result<()> {
    for (table, size) in [("hourly", HOUR_MS), ("daily", DAY_MS)] {
        let sql = format!(
            "INSERT INTO {table} (check_name, bucket, total, ok, latency_sum) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (check_name, bucket) DO UPDATE SET total = total + ?3, ok = ok + ?4, latency_sum = latency_sum + ?5"
        );
        conn.prepare_cached(&sql)?.execute(params![
            check,
            at - at.rem_euclid(size),
            total,
            ok,
            latency_sum
        ])?;
    }
    Ok(())
}

/// Queues an alert body for `incident`.
pub(crate) fn enqueue(
    conn: &Connection,
    incident: i64,
    kind: &str,
    body: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO outbox (created_at, incident, kind, body) VALUES (?1, ?2, ?3, ?4)",
        params![now, incident, kind, body],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_aggregate_and_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = 400 * DAY_MS;
        store
            .write(|tx| {
                for minutes in 0..120 {
                    let at = now - 2 * HOUR_MS + minutes * 60_000;
                    add_result(tx, "a", at, minutes % 4 != 0, 10.0, "")?;
                }
                // A year-old day and a 40-day-old hour.
                add_to_buckets(tx, "a", now - 370 * DAY_MS, 10, 10, 1.0)?;
                add_to_buckets(tx, "a", now - 40 * DAY_MS, 10, 5, 1.0)?;
                add_result(tx, "a", now - 2 * DAY_MS, true, 1.0, "")
            })
            .unwrap();
        let hours = store.hourly("a", now - 3 * HOUR_MS).unwrap();
        assert_eq!(hours.len(), 2);
        assert_eq!(hours.iter().map(|b| b.total).sum::<i64>(), 120);
        assert!((store.uptime("a", now - DAY_MS, now).unwrap().unwrap() - 0.75).abs() < 1e-9);
        store.prune(now).unwrap();
        let raw: i64 = store
            .conn()
            .query_row("SELECT COUNT(*) FROM results", [], |r| r.get(0))
            .unwrap();
        assert_eq!(raw, 120, "the 2-day-old raw row is gone");
        assert!(
            store
                .hourly("a", 0)
                .unwrap()
                .iter()
                .all(|b| b.start >= now - 30 * DAY_MS)
        );
        assert!(
            store
                .daily("a", 0)
                .unwrap()
                .iter()
                .all(|b| b.start >= now - 366 * DAY_MS)
        );
        assert_eq!(store.daily("a", 0).unwrap().len(), 3);
    }
}
