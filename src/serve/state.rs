//! Every check's last result, its up/down state and a bounded latency history; the Prometheus
//! metrics kept beside it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::catalog::run::CheckResult;
use crate::catalog::{Catalog, Severity};

/// Results kept per check for `/status`: an hour at a 1 minute interval.
pub const HISTORY: usize = 60;

type Labels = Vec<(String, String)>;

/// One point of a check's history.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub at: f64,
    pub ok: bool,
    pub latency_ms: f64,
}

/// One check as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckState {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub service: String,
    pub severity: Severity,
    /// Counted up: it passed last, or has failed fewer than `retries` times in a row.
    pub up: bool,
    /// Not run yet.
    pub pending: bool,
    pub failures_in_a_row: u32,
    pub retries: u32,
    pub interval_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<CheckResult>,
    /// Unix seconds of the last run and of the last change of `up`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<f64>,
    pub history: VecDeque<Point>,
    #[serde(skip)]
    labels: Labels,
}

pub struct State {
    checks: Mutex<Vec<CheckState>>,
    pub registry: Registry,
    up: Family<Labels, Gauge>,
    duration: Family<Labels, Gauge<f64, AtomicU64>>,
    last_change: Family<Labels, Gauge<f64, AtomicU64>>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl State {
    #[must_use]
    pub fn new(catalog: &Catalog) -> Self {
        let mut registry = Registry::default();
        let up = Family::<Labels, Gauge>::default();
        let duration = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let last_change = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "stackctl_check_up",
            "1 when the check passes (or has failed fewer times in a row than its retries), else 0",
            up.clone(),
        );
        registry.register(
            "stackctl_check_duration_seconds",
            "How long the check's last run took",
            duration.clone(),
        );
        registry.register(
            "stackctl_check_last_change_timestamp_seconds",
            "When the check last went up or down (unix seconds)",
            last_change.clone(),
        );
        let checks = catalog
            .checks
            .iter()
            .map(|entry| {
                let labels = vec![
                    ("check".to_owned(), entry.name.clone()),
                    ("kind".to_owned(), entry.kind()),
                    ("service".to_owned(), entry.service.clone()),
                    ("from".to_owned(), entry.from.clone().unwrap_or_default()),
                    (
                        "severity".to_owned(),
                        match entry.severity {
                            Severity::Critical => "critical",
                            Severity::Warning => "warning",
                        }
                        .to_owned(),
                    ),
                ];
                CheckState {
                    name: entry.name.clone(),
                    kind: entry.kind(),
                    from: entry.from.clone(),
                    service: entry.service.clone(),
                    severity: entry.severity,
                    up: false,
                    pending: true,
                    failures_in_a_row: 0,
                    retries: entry.retries,
                    interval_s: entry.interval.as_secs_f64(),
                    last: None,
                    last_run: None,
                    last_change: None,
                    history: VecDeque::with_capacity(HISTORY),
                    labels,
                }
            })
            .collect();
        Self {
            checks: Mutex::new(checks),
            registry,
            up,
            duration,
            last_change,
        }
    }

    /// Records a run of check `index`.
    pub fn record(&self, index: usize, result: CheckResult) {
        let mut checks = self
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(check) = checks.get_mut(index) else {
            return;
        };
        let at = now();
        check.failures_in_a_row = if result.ok {
            0
        } else {
            check.failures_in_a_row.saturating_add(1)
        };
        let up = check.failures_in_a_row < check.retries;
        if check.pending || up != check.up {
            check.last_change = Some(at);
            self.last_change.get_or_create(&check.labels).set(at);
        }
        check.up = up;
        check.pending = false;
        check.last_run = Some(at);
        if check.history.len() == HISTORY {
            check.history.pop_front();
        }
        check.history.push_back(Point {
            at,
            ok: result.ok,
            latency_ms: result.latency_ms,
        });
        self.up.get_or_create(&check.labels).set(i64::from(up));
        self.duration
            .get_or_create(&check.labels)
            .set(result.latency_ms / 1000.0);
        check.last = Some(result);
    }

    /// A copy of every check's state.
    pub fn snapshot(&self) -> Vec<CheckState> {
        self.checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yml");
        std::fs::write(
            &file,
            "checks:\n  - name: a\n    check: tcp://127.0.0.1:1\n    retries: 2\n",
        )
        .unwrap();
        crate::catalog::load(&file, &std::collections::BTreeMap::new()).unwrap()
    }

    fn result(ok: bool) -> CheckResult {
        CheckResult {
            name: "a".to_owned(),
            kind: "tcp".to_owned(),
            from: None,
            inside: None,
            node: None,
            service: String::new(),
            severity: Severity::Critical,
            ok,
            detail: String::new(),
            hint: None,
            latency_ms: 2.0,
        }
    }

    #[test]
    fn down_after_retries_failures_in_a_row_and_history_is_bounded() {
        let state = State::new(&catalog());
        state.record(0, result(true));
        assert!(state.snapshot()[0].up);
        state.record(0, result(false));
        assert!(state.snapshot()[0].up, "one failure of two allowed");
        state.record(0, result(false));
        let check = &state.snapshot()[0];
        assert!(!check.up);
        assert_eq!(check.failures_in_a_row, 2);
        for _ in 0..(HISTORY * 3) {
            state.record(0, result(true));
        }
        assert_eq!(state.snapshot()[0].history.len(), HISTORY);
    }
}
