//! What one check attempt found, and the one line (or JSON object) `check` prints about it.
//!
//! Docker keeps the first 4,096 bytes of a probe's output, and a target or a reason can be as
//! long as anyone makes it (a 10,000-character URL, a server's error text): the line and the
//! JSON object are cut to fit, on character boundaries, with `…` where something was cut, and
//! control characters are escaped so that the line stays one line.

use std::time::Duration;

use serde::Serialize;

use crate::limits::{LINE_LIMIT, fit, fit_json, printable};

/// The most of the target a line shows; the reason gets what is left.
const TARGET_SHARE: usize = 1024;

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
    /// The one line `check` prints: `tcp 127.0.0.1:80: healthy (connected in 0.2 ms)`; at
    /// most [`LINE_LIMIT`] bytes with its newline, whatever the target and the reason.
    #[must_use]
    pub fn line(&self) -> String {
        let target = printable(&self.target);
        let target = fit(&target, TARGET_SHARE);
        let text = printable(self.outcome.text());
        let (verdict, close) = match &self.outcome {
            Outcome::Healthy(_) => (" healthy (", ")"),
            Outcome::Unhealthy(_) => (" unhealthy: ", ""),
        };
        let fixed = self.kind.len() + 1 + target.len() + 1 + verdict.len() + close.len() + 1;
        let text = fit(&text, LINE_LIMIT.saturating_sub(fixed));
        format!("{} {target}:{verdict}{text}{close}", self.kind)
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
        // Keys, punctuation, the kind, the elapsed time and the newline take under 192 bytes.
        let target = fit_json(&self.target, TARGET_SHARE);
        let room = LINE_LIMIT - 192 - TARGET_SHARE;
        let text = fit_json(self.outcome.text(), room);
        let text = text.as_ref();
        serde_json::to_string(&Line {
            check: self.kind,
            target: &target,
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

    #[test]
    fn huge_targets_and_reasons_fit_docker_health_log() {
        for (target, reason) in [
            ("t".repeat(20_000), "r".repeat(20_000)),
            ("\u{1}\n\"".repeat(5_000), "é\u{7}".repeat(5_000)),
            ("db:5432".to_owned(), "\u{1}".repeat(10_000)),
        ] {
            for outcome in [Outcome::Healthy(reason.clone()), Outcome::Unhealthy(reason)] {
                let report = Report {
                    kind: "rocketchat-login",
                    target: target.clone(),
                    outcome,
                    elapsed: Duration::MAX,
                };
                let line = report.line();
                assert!(line.len() < LINE_LIMIT, "{}", line.len());
                assert!(!line.contains('\n') && line.contains('…'));
                let json = report.json();
                assert!(json.len() < LINE_LIMIT, "{}", json.len());
                assert!(!json.contains('\n'));
                let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
                let shown = parsed["target"].as_str().unwrap();
                assert_eq!(shown.ends_with('…'), target.len() > TARGET_SHARE);
            }
        }
    }
}
