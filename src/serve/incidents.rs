//! Incidents from results, and which alerts they call for: a check opens an incident after its
//! failure threshold and resolves it after its success threshold (Gatus's hysteresis, so
//! flapping inside the thresholds is no incident); alerts wait `group_wait` (Alertmanager's),
//! are grouped by the stack's dependency graph (one alert for the service at the root, its
//! dependents listed as affected), muted during maintenance, repeated every `reminder`, and
//! queued in the outbox in the same transaction that records them as notified — so a restart
//! neither repeats nor loses one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rusqlite::{Connection, params};

use super::alert;
use super::store::{self, Incident, Window};

/// When incidents open, resolve and alert.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Failures in a row that open an incident (Gatus `failure-threshold`, default 3).
    pub failure_threshold: u32,
    /// Successes in a row that resolve it (Gatus `success-threshold`, default 2).
    pub success_threshold: u32,
    /// Repeat the alert this often while open (Gatus `minimum-reminder-interval`, off).
    pub reminder: Option<Duration>,
    /// How long an opened incident waits for its dependents before the alert goes out
    /// (Alertmanager `group_wait`, 30 s).
    pub group_wait: Duration,
    /// The page, linked from alerts.
    pub page_url: Option<String>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The stack's dependency graph: each service and the services it needs.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    needs: BTreeMap<String, Vec<String>>,
}

impl Graph {
    #[must_use]
    pub fn new(needs: BTreeMap<String, Vec<String>>) -> Self {
        Self { needs }
    }

    /// Every service `service` needs, directly or not (cycles tolerated).
    #[must_use]
    pub fn ancestors(&self, service: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = vec![service];
        while let Some(s) = todo.pop() {
            for need in self.needs.get(s).into_iter().flatten() {
                if need != service && seen.insert(need.clone()) {
                    todo.push(need);
                }
            }
        }
        seen
    }

    /// Every service that needs `service`, directly or not, in dependency order.
    #[must_use]
    pub fn dependents(&self, service: &str) -> Vec<String> {
        let known: BTreeSet<String> = self
            .needs
            .iter()
            .flat_map(|(s, needs)| std::iter::once(s.clone()).chain(needs.iter().cloned()))
            .collect();
        let found: Vec<String> = known
            .into_iter()
            .filter(|s| s != service && self.ancestors(s).contains(service))
            .collect();
        self.order(found)
    }

    /// `services` sorted so that a service comes after those it needs (then by name).
    #[must_use]
    pub fn order(&self, services: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut keyed: Vec<(usize, String)> =
            services.into_iter().map(|s| (self.depth(&s), s)).collect();
        keyed.sort();
        keyed.dedup();
        keyed.into_iter().map(|(_, s)| s).collect()
    }

    /// The length of the longest chain of needs below `service`.
    fn depth(&self, service: &str) -> usize {
        fn walk(g: &Graph, s: &str, seen: &mut Vec<String>) -> usize {
            if seen.iter().any(|x| x == s) {
                return 0;
            }
            seen.push(s.to_owned());
            let d = g
                .needs
                .get(s)
                .into_iter()
                .flatten()
                .map(|n| 1 + walk(g, n, seen))
                .max()
                .unwrap_or(0);
            seen.pop();
            d
        }
        walk(self, service, &mut Vec::new())
    }
}

/// What a result changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened(i64),
    Resolved(i64),
}

/// One result, as recorded.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub check: &'a str,
    pub service: &'a str,
    /// Unix milliseconds.
    pub at: i64,
    pub ok: bool,
    pub latency_ms: f64,
    pub detail: &'a str,
}

/// Records one result and opens or resolves its check's incident.
pub fn record(
    conn: &Connection,
    policy: &Policy,
    seen: &Observation<'_>,
) -> rusqlite::Result<Option<Change>> {
    let Observation {
        check,
        service,
        at,
        ok,
        latency_ms,
        detail,
    } = *seen;
    store::add_result(conn, check, at, ok, latency_ms, detail)?;
    let mut counters = store::counters(conn, check)?;
    if ok {
        counters.oks = counters.oks.saturating_add(1);
        counters.fails = 0;
    } else {
        counters.fails = counters.fails.saturating_add(1);
        counters.oks = 0;
    }
    let mut change = None;
    if !counters.down && counters.fails >= policy.failure_threshold.max(1) {
        counters.down = true;
        conn.execute(
            "INSERT INTO incidents (check_name, service, opened_at, status, detail) VALUES (?1, ?2, ?3, 'investigating', ?4)",
            params![check, service, at, detail],
        )?;
        let id = conn.last_insert_rowid();
        store::note(
            conn,
            id,
            at,
            "detected",
            &format!(
                "`{check}` failed {} time(s) in a row: {detail}",
                counters.fails
            ),
        )?;
        counters.incident = Some(id);
        change = Some(Change::Opened(id));
    } else if counters.down && counters.oks >= policy.success_threshold.max(1) {
        counters.down = false;
        if let Some(id) = counters.incident.take() {
            resolve(
                conn,
                id,
                at,
                &format!(
                    "`{check}` passed {} time(s) in a row: {detail}",
                    counters.oks
                ),
            )?;
            change = Some(Change::Resolved(id));
        }
    }
    store::set_counters(conn, check, &counters)?;
    Ok(change)
}

/// Marks an incident resolved (if it is not already), with a timeline line.
pub fn resolve(conn: &Connection, id: i64, at: i64, why: &str) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE incidents SET resolved_at = ?2, status = 'resolved' WHERE id = ?1 AND resolved_at IS NULL",
        params![id, at],
    )?;
    if changed > 0 {
        store::note(conn, id, at, "recovered", why)?;
        conn.execute(
            "UPDATE checks SET incident = NULL WHERE incident = ?1",
            params![id],
        )?;
    }
    Ok(changed > 0)
}

fn mark(conn: &Connection, id: i64, notified: &str, under: Option<i64>) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE incidents SET notified = ?2, grouped_under = ?3 WHERE id = ?1",
        params![id, notified, under],
    )?;
    Ok(())
}

/// Records `id` as part of incident `root` (of `service`): no alert of its own.
fn group(conn: &Connection, id: i64, root: i64, service: &str, now: i64) -> rusqlite::Result<()> {
    mark(conn, id, "grouped", Some(root))?;
    store::note(
        conn,
        id,
        now,
        "grouped",
        &format!("part of incident #{root} ({service} is down): no alert of its own"),
    )
}

/// Queues an alert of `kind` for incident `id`, and says so in its timeline.
fn queue(conn: &Connection, id: i64, kind: &str, body: &str, now: i64) -> rusqlite::Result<()> {
    store::enqueue(conn, id, kind, body, now)?;
    store::note(
        conn,
        id,
        now,
        "notified",
        &format!("{kind} alert queued for the room"),
    )
}

fn covering<'a>(windows: &'a [Window], service: &str, at: i64) -> Option<&'a Window> {
    windows.iter().find(|w| w.covers(service, at))
}

/// Decides and queues the alerts due at `now`; returns how many were queued.
pub fn dispatch(
    conn: &Connection,
    policy: &Policy,
    graph: &Graph,
    now: i64,
) -> rusqlite::Result<usize> {
    let windows = store::windows(conn, now)?;
    let open = store::incidents_where(conn, "resolved_at IS NULL ORDER BY opened_at, id", &[])?;
    let mut queued = 0;
    let mut handled: BTreeSet<i64> = BTreeSet::new();
    for incident in &open {
        let undecided =
            incident.notified.is_none() || incident.notified.as_deref() == Some("muted");
        if !undecided || handled.contains(&incident.id) {
            continue;
        }
        if now < incident.opened_at + ms(policy.group_wait) {
            continue;
        }
        if let Some(window) = covering(&windows, &incident.service, now) {
            if incident.notified.is_none() {
                mark(conn, incident.id, "muted", None)?;
                store::note(
                    conn,
                    incident.id,
                    now,
                    "muted",
                    &format!("alert muted: maintenance window ({})", window.message),
                )?;
            }
            continue;
        }
        // An open incident of a service this one needs: the alert is that one's.
        let ancestors = graph.ancestors(&incident.service);
        if let Some(root) = open
            .iter()
            .filter(|o| o.id != incident.id && ancestors.contains(&o.service))
            .find(|o| {
                !graph
                    .ancestors(&o.service)
                    .iter()
                    .any(|a| open.iter().any(|x| &x.service == a))
            })
        {
            if root.notified.is_some() || handled.contains(&root.id) {
                group(conn, incident.id, root.id, &root.service, now)?;
            }
            continue;
        }
        let affected: Vec<&Incident> = open
            .iter()
            .filter(|o| {
                o.id != incident.id
                    && o.notified.is_none()
                    && graph.ancestors(&o.service).contains(&incident.service)
            })
            .collect();
        let dependents = graph.dependents(&incident.service);
        let body = alert::opened(incident, &affected, &dependents, policy.page_url.as_deref());
        queue(conn, incident.id, "opened", &body, now)?;
        conn.execute(
            "UPDATE incidents SET notified = 'sent', grouped_under = NULL, reminded_at = ?2 WHERE id = ?1",
            params![incident.id, now],
        )?;
        for other in affected {
            group(conn, other.id, incident.id, &incident.service, now)?;
            handled.insert(other.id);
        }
        handled.insert(incident.id);
        queued += 1;
    }
    if let Some(every) = policy.reminder {
        for incident in &open {
            let due = incident.notified.as_deref() == Some("sent")
                && !handled.contains(&incident.id)
                && incident
                    .reminded_at
                    .is_some_and(|last| now - last >= ms(every));
            if !due || covering(&windows, &incident.service, now).is_some() {
                continue;
            }
            let dependents = graph.dependents(&incident.service);
            let body = alert::reminder(incident, &dependents, now, policy.page_url.as_deref());
            queue(conn, incident.id, "reminder", &body, now)?;
            conn.execute(
                "UPDATE incidents SET reminded_at = ?2 WHERE id = ?1",
                params![incident.id, now],
            )?;
            queued += 1;
        }
    }
    let closed = store::incidents_where(
        conn,
        "resolved_at IS NOT NULL AND (notified IS NULL OR (notified = 'sent' AND resolve_notified = 0)) ORDER BY resolved_at, id",
        &[],
    )?;
    for incident in closed {
        if incident.notified.is_none() {
            mark(conn, incident.id, "flap", None)?;
            store::note(
                conn,
                incident.id,
                now,
                "quiet",
                "recovered before its alert was due: no alert sent",
            )?;
            continue;
        }
        let still: Vec<Incident> = store::incidents_where(
            conn,
            "resolved_at IS NULL AND grouped_under = ?1",
            &[&incident.id],
        )?;
        let body = alert::resolved(&incident, &still, policy.page_url.as_deref());
        queue(conn, incident.id, "resolved", &body, now)?;
        conn.execute(
            "UPDATE incidents SET resolve_notified = 1 WHERE id = ?1",
            params![incident.id],
        )?;
        queued += 1;
    }
    if queued > 0 {
        tracing::debug!(queued, "alerts queued");
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::store::Store;

    fn policy() -> Policy {
        Policy {
            failure_threshold: 3,
            success_threshold: 2,
            reminder: None,
            group_wait: Duration::from_secs(30),
            page_url: None,
        }
    }

    fn seen<'a>(check: &'a str, service: &'a str, at: i64, ok: bool) -> Observation<'a> {
        Observation {
            check,
            service,
            at,
            ok,
            latency_ms: 1.0,
            detail: if ok { "ok" } else { "refused" },
        }
    }

    fn graph() -> Graph {
        Graph::new(BTreeMap::from([
            ("rocketchat".to_owned(), vec!["mongo".to_owned()]),
            ("bot".to_owned(), vec!["rocketchat".to_owned()]),
            ("nginx".to_owned(), vec!["rocketchat".to_owned()]),
        ]))
    }

    #[test]
    fn the_graph_orders_and_finds_dependents() {
        let g = graph();
        assert_eq!(
            g.order(["bot", "mongo", "zed", "rocketchat"].map(str::to_owned)),
            ["mongo", "zed", "rocketchat", "bot"]
        );
        assert_eq!(g.dependents("mongo"), ["rocketchat", "bot", "nginx"]);
        assert!(g.ancestors("bot").contains("mongo"));
        let cyclic = Graph::new(BTreeMap::from([
            ("a".to_owned(), vec!["b".to_owned()]),
            ("b".to_owned(), vec!["a".to_owned()]),
        ]));
        assert_eq!(cyclic.ancestors("a").len(), 1);
    }

    #[test]
    fn thresholds_group_wait_and_grouping() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let (p, g) = (policy(), graph());
        let outbox = |store: &Store| store.outbox().unwrap();
        // Flapping inside the thresholds: two failures, a pass, two failures: no incident.
        store
            .write(|tx| {
                for (i, ok) in (0..).zip([false, false, true, false, false, true]) {
                    assert_eq!(record(tx, &p, &seen("m", "mongo", i, ok))?, None);
                }
                Ok(())
            })
            .unwrap();
        // mongo down, then rocketchat's check fails too: one alert, naming both.
        store
            .write(|tx| {
                for i in 10..13 {
                    record(tx, &p, &seen("m", "mongo", i, false))?;
                    record(tx, &p, &seen("r", "rocketchat", i, false))?;
                }
                assert_eq!(dispatch(tx, &p, &g, 20)?, 0, "group_wait");
                assert_eq!(dispatch(tx, &p, &g, 30_020)?, 1);
                assert_eq!(dispatch(tx, &p, &g, 30_030)?, 0, "once");
                Ok(())
            })
            .unwrap();
        let sent = outbox(&store);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0].1.contains("mongo") && sent[0].1.contains("rocketchat"),
            "{}",
            sent[0].1
        );
        // Recovery: resolved once, after two passes.
        store
            .write(|tx| {
                for i in 40_000..40_002 {
                    record(tx, &p, &seen("m", "mongo", i, true))?;
                    record(tx, &p, &seen("r", "rocketchat", i, true))?;
                }
                dispatch(tx, &p, &g, 40_010)?;
                dispatch(tx, &p, &g, 40_020)
            })
            .unwrap();
        let kinds: Vec<String> = outbox(&store).into_iter().map(|o| o.0).collect();
        assert_eq!(kinds, ["opened", "resolved"]);
        assert!(store.open_incidents().unwrap().is_empty());
        let tl = store.timeline(2).unwrap();
        assert_eq!(
            tl.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["detected", "grouped", "recovered"],
            "{tl:?}"
        );
    }

    #[test]
    fn maintenance_mutes_then_alerts_once_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let (p, g) = (policy(), graph());
        store
            .write(|tx| {
                store::add_window(tx, &["mongo".to_owned()], 0, 100_000, "upgrade", "api")?;
                for i in 0..3 {
                    record(tx, &p, &seen("m", "mongo", i, false))?;
                }
                assert_eq!(dispatch(tx, &p, &g, 50_000)?, 0);
                assert_eq!(dispatch(tx, &p, &g, 60_000)?, 0);
                assert_eq!(
                    dispatch(tx, &p, &g, 100_001)?,
                    1,
                    "still down after the window"
                );
                Ok(())
            })
            .unwrap();
    }
}
