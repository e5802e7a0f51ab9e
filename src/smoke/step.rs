//! The smoke test's steps as data: each has a kind, parameters and a name, and (de)serialises,
//! so a plan can be written down, shipped into the probe container, or reused by a later check
//! catalog. Running them is [`super::chat`]'s and [`super::docker`]'s business.

use serde::{Deserialize, Serialize};

/// Who acts in a chat step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Bot,
    Admin,
}

impl Actor {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Admin => "admin",
        }
    }
}

/// One step of the smoke test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A long-running service's container runs, and is healthy when it has a healthcheck.
    Service { service: String },
    /// A one-shot service ran and exited 0.
    Job { service: String },
    /// Rocket.Chat serves its API (`GET /api/info`).
    Server,
    /// A user logs in with its own password (`POST /api/v1/login`).
    Login { who: Actor },
    /// The bot finds its room and is a member of it.
    Room { room: String },
    /// The bot posts a unique message into the room with its own `_id` (`chat.sendMessage`).
    Post { room: String },
    /// The admin reads that message back by its id (`chat.getMessage`): it was stored, and
    /// another user may read it.
    ReadBack,
    /// A recorded GitLab event (`X-Gitlab-Event: <event>`) POSTed to the incoming webhook is
    /// rendered into a message that appears in `room`.
    Hook { event: String, room: String },
    /// The front door serves `/api/info` by its virtual host name.
    FrontDoor {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vhost: Option<String>,
    },
    /// The front door upgrades a websocket on `/websocket` (Rocket.Chat's realtime API).
    Websocket {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vhost: Option<String>,
    },
    /// What the smoke test posted is deleted again (`chat.delete`).
    Cleanup,
}

impl Step {
    /// The step's name: the testcase name in JUnit, the start of its line.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Service { service } => format!("service {service}"),
            Self::Job { service } => format!("job {service}"),
            Self::Server => "rocketchat api".to_owned(),
            Self::Login { who } => format!("{} login", who.as_str()),
            Self::Room { room } => format!("bot room {room}"),
            Self::Post { .. } => "bot posts".to_owned(),
            Self::ReadBack => "admin reads back".to_owned(),
            Self::Hook { .. } => "gitlab hook".to_owned(),
            Self::FrontDoor { .. } => "front door".to_owned(),
            Self::Websocket { .. } => "front door websocket".to_owned(),
            Self::Cleanup => "cleanup".to_owned(),
        }
    }

    /// The step's kind, as serialised (`service`, `login`, ...).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Service { .. } => "service",
            Self::Job { .. } => "job",
            Self::Server => "server",
            Self::Login { .. } => "login",
            Self::Room { .. } => "room",
            Self::Post { .. } => "post",
            Self::ReadBack => "read_back",
            Self::Hook { .. } => "hook",
            Self::FrontDoor { .. } => "front_door",
            Self::Websocket { .. } => "websocket",
            Self::Cleanup => "cleanup",
        }
    }

    /// Steps answered by Docker itself; the others talk to the stack over the network.
    #[must_use]
    pub fn is_docker(&self) -> bool {
        matches!(self, Self::Service { .. } | Self::Job { .. })
    }
}

/// A step as planned: to run, or to report as skipped (and why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    #[serde(flatten)]
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

impl Planned {
    #[must_use]
    pub fn run(step: Step) -> Self {
        Self { step, skip: None }
    }

    #[must_use]
    pub fn skip(step: Step, why: impl Into<String>) -> Self {
        Self {
            step,
            skip: Some(why.into()),
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    /// Not run (or cut short) because the global `--timeout` ran out.
    TimedOut,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::TimedOut => "timed_out",
        }
    }
}

/// What one step found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    pub kind: String,
    pub status: Status,
    /// What was seen, or why it failed or was skipped.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub elapsed_ms: f64,
}

impl StepResult {
    #[must_use]
    pub fn new(step: &Step, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: step.name(),
            kind: step.kind().to_owned(),
            status,
            detail: detail.into(),
            hint: None,
            elapsed_ms: 0.0,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    #[must_use]
    pub fn took(mut self, elapsed: std::time::Duration) -> Self {
        self.elapsed_ms = crate::output::millis(elapsed);
        self
    }
}

/// A step's failure: the reason, and the likely fix when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_and_write_as_plain_data() {
        let plan = vec![
            Planned::run(Step::Service {
                service: "mongo".into(),
            }),
            Planned::run(Step::Login { who: Actor::Bot }),
            Planned::skip(
                Step::FrontDoor {
                    url: String::new(),
                    vhost: None,
                },
                "no nginx service",
            ),
        ];
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(
            text,
            r#"[{"kind":"service","service":"mongo"},{"kind":"login","who":"bot"},{"kind":"front_door","url":"","skip":"no nginx service"}]"#
        );
        let back: Vec<Planned> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, plan);
        let yaml_like: Planned =
            serde_json::from_str(r#"{"kind":"hook","event":"Pipeline Hook","room":"devops"}"#)
                .unwrap();
        assert_eq!(yaml_like.step.name(), "gitlab hook");
    }
}
