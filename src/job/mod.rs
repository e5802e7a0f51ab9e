//! Jobs: idempotent actions retried until they are done, fail for good, or run out of time.
//!
//! A job is written as one *attempt* that either finishes ([`Step::Done`]), meets a transient
//! condition worth retrying ([`Step::Retry`]: refused, booting, election in progress) or a
//! permanent one ([`Step::Fail`]: wrong configuration, which no retry can fix). [`run`] owns the
//! loop: backoff with jitter between attempts, one deadline for the whole job, events for the
//! renderers, and a timeout error that names the last reason.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::output::{Event, Reporter, human_duration, millis};
use crate::retry::RetryPolicy;

/// What one attempt of a job came to.
#[derive(Debug)]
pub enum Step<T> {
    /// The job is done; `T` says what it did or found.
    Done(T),
    /// Not yet: try again after a delay. The reason is shown and kept for the timeout error.
    Retry(String),
    /// Not yet, and the server said when to come back (HTTP 429 `X-RateLimit-Reset`).
    RetryAfter(Duration, String),
    /// A permanent failure: stop now.
    Fail(Error),
}

/// How a job is run.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The job's name as shown, e.g. `replica-set rs0`.
    pub name: String,
    pub timeout: Duration,
    pub policy: RetryPolicy,
}

/// The outcome of a finished job.
#[derive(Debug, Clone)]
pub struct Finished<T> {
    pub value: T,
    pub attempts: u32,
    pub elapsed: Duration,
}

/// A handle an attempt uses to say what it is doing (`initiated rs0`, `waiting for PRIMARY`).
#[derive(Clone)]
pub struct Progress {
    job: String,
    reporter: Reporter,
    started: Instant,
}

impl Progress {
    /// Reports a step of the job.
    pub fn note(&self, message: impl Into<String>) {
        self.reporter.emit(&Event::JobProgress {
            job: self.job.clone(),
            message: message.into(),
            elapsed_ms: millis(self.started.elapsed()),
        });
    }
}

/// Runs `attempt` until it is done, fails for good, or the job's timeout passes.
///
/// # Errors
/// The attempt's own permanent error, or a timeout error naming the last transient reason.
pub async fn run<T, F, Fut>(
    spec: &JobSpec,
    reporter: &Reporter,
    mut attempt: F,
) -> Result<Finished<T>, Error>
where
    F: FnMut(Progress) -> Fut,
    Fut: Future<Output = Step<T>>,
{
    let started = Instant::now();
    let deadline = crate::limits::deadline_in(spec.timeout);
    let progress = Progress {
        job: spec.name.clone(),
        reporter: reporter.clone(),
        started,
    };
    reporter.emit(&Event::JobStarted {
        job: spec.name.clone(),
        timeout_ms: millis(spec.timeout),
    });
    let mut delays = spec.policy.delays();
    let mut last_reason = String::from("no attempt finished");
    let mut attempts = 0;
    loop {
        attempts += 1;
        let Ok(step) = tokio::time::timeout_at(deadline, attempt(progress.clone())).await else {
            return Err(timed_out(spec, attempts, &last_reason, reporter, started));
        };
        let (delay, reason) = match step {
            Step::Done(value) => {
                reporter.emit(&Event::JobDone {
                    job: spec.name.clone(),
                    attempts,
                    elapsed_ms: millis(started.elapsed()),
                });
                return Ok(Finished {
                    value,
                    attempts,
                    elapsed: started.elapsed(),
                });
            }
            Step::Fail(error) => {
                reporter.emit(&Event::JobFailed {
                    job: spec.name.clone(),
                    error: error.message().to_owned(),
                    elapsed_ms: millis(started.elapsed()),
                });
                return Err(error);
            }
            Step::Retry(reason) => (delays.next().unwrap_or(Duration::from_secs(1)), reason),
            Step::RetryAfter(wait, reason) => (wait, reason),
        };
        tracing::debug!(job = %spec.name, attempt = attempts, %reason, ?delay, "job attempt failed; retrying");
        reporter.emit(&Event::JobRetry {
            job: spec.name.clone(),
            attempt: attempts,
            reason: reason.clone(),
            retry_in_ms: millis(delay),
            elapsed_ms: millis(started.elapsed()),
        });
        last_reason = reason;
        // `delay` may come from a server (`X-RateLimit-Reset`): never add it unchecked.
        if crate::limits::deadline_in(delay) >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(timed_out(spec, attempts, &last_reason, reporter, started));
        }
        tokio::time::sleep(delay).await;
    }
}

fn timed_out(
    spec: &JobSpec,
    attempts: u32,
    last: &str,
    reporter: &Reporter,
    started: Instant,
) -> Error {
    let message = format!(
        "`{}` timed out after {} ({attempts} attempt{}); last: {last}",
        spec.name,
        human_duration(spec.timeout),
        if attempts == 1 { "" } else { "s" }
    );
    reporter.emit(&Event::JobFailed {
        job: spec.name.clone(),
        error: message.clone(),
        elapsed_ms: millis(started.elapsed()),
    });
    Error::timeout(message).with_hint("raise `--timeout`, or look at why the last attempt failed")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::output::Renderer;

    struct Collect(std::sync::Arc<std::sync::Mutex<Vec<Event>>>);
    impl Renderer for Collect {
        fn render(&mut self, event: &Event) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    fn spec(timeout: Duration) -> JobSpec {
        JobSpec {
            name: "test".into(),
            timeout,
            policy: RetryPolicy::Immediate,
        }
    }

    #[tokio::test]
    async fn retries_until_done() {
        let events = std::sync::Arc::default();
        let reporter = Reporter::new(Box::new(Collect(std::sync::Arc::clone(&events))));
        let calls = AtomicU32::new(0);
        let done = run(&spec(Duration::from_secs(5)), &reporter, |_| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Step::Retry("refused".into()),
                _ => Step::Done(42),
            }
        })
        .await
        .unwrap();
        assert_eq!((done.value, done.attempts), (42, 3));
        let retries = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Event::JobRetry { .. }))
            .count();
        assert_eq!(retries, 2);
    }

    #[tokio::test]
    async fn permanent_failure_stops_at_once() {
        let reporter = Reporter::new(Box::new(Collect(std::sync::Arc::default())));
        let calls = AtomicU32::new(0);
        let err = run::<(), _, _>(&spec(Duration::from_secs(5)), &reporter, |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Step::Fail(Error::failed("wrong set name"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.message(), "wrong set name");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn timeout_names_the_last_reason() {
        let reporter = Reporter::new(Box::new(Collect(std::sync::Arc::default())));
        let policy = RetryPolicy::Fixed {
            delay: Duration::from_millis(20),
        };
        let spec = JobSpec {
            policy,
            ..spec(Duration::from_millis(100))
        };
        let err = run::<(), _, _>(&spec, &reporter, |_| async {
            Step::Retry("connection refused".into())
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_status(), crate::exit::ExitStatus::Timeout);
        assert!(
            err.message().ends_with("last: connection refused"),
            "{}",
            err.message()
        );
    }

    #[tokio::test]
    async fn a_hung_attempt_is_cut_off_by_the_deadline() {
        let reporter = Reporter::new(Box::new(Collect(std::sync::Arc::default())));
        let started = Instant::now();
        let err = run::<(), _, _>(&spec(Duration::from_millis(100)), &reporter, |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Step::Done(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_status(), crate::exit::ExitStatus::Timeout);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
