//! The events a long-running command emits. Renderers consume them; `--json` prints them as
//! NDJSON, one object per line with an `event` tag.

use serde::Serialize;

/// Something that happened while waiting.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// `wait` began.
    WaitStarted {
        targets: Vec<String>,
        timeout_ms: f64,
        invert: bool,
    },
    /// One attempt did not find the target ready; another follows after `retry_in_ms`.
    NotReady {
        target: String,
        attempt: u32,
        reason: String,
        retry_in_ms: f64,
        elapsed_ms: f64,
    },
    /// The target is ready.
    Ready {
        target: String,
        attempts: u32,
        detail: String,
        elapsed_ms: f64,
    },
    /// A job began.
    JobStarted { job: String, timeout_ms: f64 },
    /// A job reports a step (`initiated rs0`, `waiting for PRIMARY`).
    JobProgress {
        job: String,
        message: String,
        elapsed_ms: f64,
    },
    /// One attempt of a job met a transient condition; another follows after `retry_in_ms`.
    JobRetry {
        job: String,
        attempt: u32,
        reason: String,
        retry_in_ms: f64,
        elapsed_ms: f64,
    },
    /// A job is done.
    JobDone {
        job: String,
        attempts: u32,
        elapsed_ms: f64,
    },
    /// A job failed for good or ran out of time.
    JobFailed {
        job: String,
        error: String,
        elapsed_ms: f64,
    },
    /// `up` began on these services.
    StackStarted {
        project: String,
        services: Vec<String>,
    },
    /// A service changed state: `waiting`, `building`, `creating`, `starting`, `unchanged`,
    /// `reconnected`, `unpaused`, `rerunning`, `running`, `healthy`, `ready`, `attempt`,
    /// `completed`, `failed`.
    Service {
        service: String,
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        elapsed_ms: f64,
    },
    /// `up` ended.
    StackFinished { ok: bool, elapsed_ms: f64 },
    /// `wait` ended: every target ready, or the timeout ran out.
    WaitFinished {
        ready: bool,
        elapsed_ms: f64,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        not_ready: Vec<NotReady>,
    },
}

/// A target that never became ready, with its last error.
#[derive(Debug, Clone, Serialize)]
pub struct NotReady {
    pub target: String,
    pub attempts: u32,
    pub last_error: String,
}
