//! Checks: one attempt against one target, returning an [`Outcome`].
//!
//! An unhealthy target is a *result*, not an error: errors are reserved for checks that cannot
//! even be attempted (bad input, unusable TLS settings), which are permanent and never retried.

pub mod dns;
pub mod http;
pub mod mongo;
pub mod rocketchat;
pub mod tcp;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::output::human_duration;

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target is healthy; the detail says what was seen.
    Healthy(String),
    /// The target is not healthy; the reason says why.
    Unhealthy(String),
}

impl Outcome {
    /// True for [`Outcome::Healthy`].
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Healthy(_))
    }

    /// The detail or the reason.
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            Self::Healthy(text) | Self::Unhealthy(text) => text,
        }
    }
}

/// A check, ready to run as often as needed.
#[derive(Debug)]
pub enum Check {
    Tcp(tcp::TcpCheck),
    Http(Box<http::HttpCheck>),
    Dns(dns::DnsCheck),
    Mongo(Box<mongo::MongoCheck>),
    RocketChat(Box<rocketchat::RocketChatCheck>),
}

impl Check {
    /// The kind of check, e.g. `tcp`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tcp(_) => "tcp",
            Self::Http(_) => "http",
            Self::Dns(_) => "dns",
            Self::Mongo(_) => "mongo",
            Self::RocketChat(c) => c.kind(),
        }
    }

    /// What is being checked, safe to print (credentials masked).
    #[must_use]
    pub fn target(&self) -> String {
        match self {
            Self::Tcp(c) => c.target(),
            Self::Http(c) => c.target(),
            Self::Dns(c) => c.target(),
            Self::Mongo(c) => c.target(),
            Self::RocketChat(c) => c.target(),
        }
    }

    async fn attempt(&self, budget: Duration) -> Outcome {
        match self {
            Self::Tcp(c) => c.run().await,
            Self::Http(c) => c.run().await,
            Self::Dns(c) => c.run(budget).await,
            Self::Mongo(c) => c.run().await,
            Self::RocketChat(c) => c.run().await,
        }
    }

    /// One attempt under a hard timeout.
    pub async fn run(&self, timeout: Duration) -> Report {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(timeout, self.attempt(timeout)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Unhealthy(format!("timed out after {}", human_duration(timeout))),
        };
        Report {
            kind: self.kind(),
            target: self.target(),
            outcome,
            elapsed: started.elapsed(),
        }
    }
}

/// The result of one attempt, as printed by `check`.
#[derive(Debug, Clone)]
pub struct Report {
    pub kind: &'static str,
    pub target: String,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

impl Report {
    /// The one line `check` prints: `tcp 127.0.0.1:80: healthy (connected in 0.2 ms)`.
    #[must_use]
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::Healthy(detail) => {
                format!("{} {}: healthy ({detail})", self.kind, self.target)
            }
            Outcome::Unhealthy(reason) => {
                format!("{} {}: unhealthy: {reason}", self.kind, self.target)
            }
        }
    }

    /// The same, as one JSON object.
    #[must_use]
    pub fn json(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            check: &'a str,
            target: &'a str,
            healthy: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<&'a str>,
            elapsed_ms: f64,
        }
        let healthy = self.outcome.is_healthy();
        let text = self.outcome.text();
        serde_json::to_string(&Line {
            check: self.kind,
            target: &self.target,
            healthy,
            detail: healthy.then_some(text),
            reason: (!healthy).then_some(text),
            elapsed_ms: crate::output::millis(self.elapsed),
        })
        .unwrap_or_default()
    }
}

/// Turns an I/O error into a short lowercase reason: `connection refused`.
#[must_use]
pub fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
        ErrorKind::TimedOut => "connection timed out".to_owned(),
        ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        ErrorKind::AddrNotAvailable => "address not available".to_owned(),
        _ => lowercase_first(&strip_os_error(&err.to_string())),
    }
}

/// `Connection refused (os error 111)` → `Connection refused`.
#[must_use]
pub fn strip_os_error(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text.to_owned(),
    }
}

/// Our messages start lowercase; other libraries' often do not.
#[must_use]
pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !chars.clone().next().is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines() {
        let report = Report {
            kind: "tcp",
            target: "db:5432".into(),
            outcome: Outcome::Unhealthy("connection refused".into()),
            elapsed: Duration::from_millis(3),
        };
        assert_eq!(report.line(), "tcp db:5432: unhealthy: connection refused");
        assert_eq!(
            report.json(),
            r#"{"check":"tcp","target":"db:5432","healthy":false,"reason":"connection refused","elapsed_ms":3.0}"#
        );
    }

    #[test]
    fn reasons_are_lowercase_without_os_codes() {
        assert_eq!(strip_os_error("Broken pipe (os error 32)"), "Broken pipe");
        assert_eq!(lowercase_first("Broken pipe"), "broken pipe");
        assert_eq!(lowercase_first("TLS handshake"), "TLS handshake");
    }
}
