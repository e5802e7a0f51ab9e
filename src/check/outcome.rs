//! What one check attempt found, and the one line (or JSON object) `check` prints about it.

use std::time::Duration;

use serde::Serialize;

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
}
