//! Probes: checks repeated until ready or out of time.
//!
//! Every target is probed in parallel, each with its own backoff, all under one deadline.
//! When the deadline passes, every target that never became ready is reported with its last
//! error, so a failed wait explains itself.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio::time::Instant as Deadline;

use crate::check::Check;
use crate::output::{Event, NotReady, Reporter, millis};
use crate::retry::RetryPolicy;

/// What to wait for, and how.
#[derive(Debug)]
pub struct WaitPlan {
    /// Each check with the name it is reported under (the target as the user wrote it).
    pub checks: Vec<(String, Check)>,
    /// The one global budget.
    pub timeout: Duration,
    /// Ready means *unreachable* (wait for something to go away).
    pub invert: bool,
    pub policy: RetryPolicy,
    /// The hard limit of each attempt (never beyond the global deadline).
    pub attempt_timeout: Duration,
}

/// How a wait ended.
#[derive(Debug)]
pub enum WaitResult {
    /// Every target became ready.
    Ready { elapsed: Duration },
    /// The deadline passed first.
    TimedOut { not_ready: Vec<NotReady> },
}

#[derive(Debug, Default)]
struct TargetState {
    attempts: u32,
    last_error: String,
    ready: bool,
}

/// Probes every check until it is ready (or, inverted, unreachable) or the timeout passes.
pub async fn wait_all(plan: WaitPlan, reporter: &Reporter) -> WaitResult {
    let started = Instant::now();
    let deadline = crate::limits::deadline_in(plan.timeout);
    let targets: Vec<String> = plan.checks.iter().map(|(name, _)| name.clone()).collect();
    reporter.emit(&Event::WaitStarted {
        targets: targets.clone(),
        timeout_ms: millis(plan.timeout),
        invert: plan.invert,
    });

    let states: Vec<Arc<Mutex<TargetState>>> = targets.iter().map(|_| Arc::default()).collect();
    let mut probes = JoinSet::new();
    for ((target, check), state) in plan.checks.into_iter().zip(&states) {
        let probe = Probe {
            target,
            check,
            state: Arc::clone(state),
            reporter: reporter.clone(),
            policy: plan.policy,
            attempt_timeout: plan.attempt_timeout,
            invert: plan.invert,
            started,
            deadline,
        };
        probes.spawn(probe.run());
    }
    let all_ready = loop {
        match tokio::time::timeout_at(deadline, probes.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    probes.abort_all();

    let not_ready: Vec<NotReady> = targets
        .into_iter()
        .zip(&states)
        .filter_map(|(target, state)| {
            let state = state.lock().unwrap_or_else(PoisonError::into_inner);
            (!state.ready).then(|| NotReady {
                target,
                attempts: state.attempts,
                last_error: if state.last_error.is_empty() {
                    "no attempt finished".to_owned()
                } else {
                    state.last_error.clone()
                },
            })
        })
        .collect();
    let elapsed = started.elapsed();
    reporter.emit(&Event::WaitFinished {
        ready: all_ready,
        elapsed_ms: millis(elapsed),
        not_ready: not_ready.clone(),
    });
    if all_ready {
        WaitResult::Ready { elapsed }
    } else {
        WaitResult::TimedOut { not_ready }
    }
}

struct Probe {
    target: String,
    check: Check,
    state: Arc<Mutex<TargetState>>,
    reporter: Reporter,
    policy: RetryPolicy,
    attempt_timeout: Duration,
    invert: bool,
    started: Instant,
    deadline: Deadline,
}

impl Probe {
    async fn run(self) {
        let target = self.target;
        let mut delays = self.policy.delays();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self.deadline.saturating_duration_since(Deadline::now());
            let report = self.check.run(self.attempt_timeout.min(remaining)).await;
            let healthy = report.outcome.is_healthy();
            let ready = healthy != self.invert;
            tracing::debug!(
                target = %target,
                attempt,
                healthy,
                elapsed = ?report.elapsed,
                outcome = report.outcome.text(),
                "probe attempt"
            );
            let text = match (self.invert, healthy) {
                (true, true) => format!("still reachable: {}", report.outcome.text()),
                (true, false) => format!("unreachable: {}", report.outcome.text()),
                _ => report.outcome.text().to_owned(),
            };
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.attempts = attempt;
                state.ready = ready;
                if !ready {
                    state.last_error.clone_from(&text);
                }
            }
            if ready {
                self.reporter.emit(&Event::Ready {
                    target: target.clone(),
                    attempts: attempt,
                    detail: text,
                    elapsed_ms: millis(self.started.elapsed()),
                });
                return;
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(1));
            tracing::debug!(target = %target, ?delay, "probe retry");
            self.reporter.emit(&Event::NotReady {
                target: target.clone(),
                attempt,
                reason: text,
                retry_in_ms: millis(delay),
                elapsed_ms: millis(self.started.elapsed()),
            });
            tokio::time::sleep_until(crate::limits::deadline_in(delay).min(self.deadline)).await;
        }
    }
}
