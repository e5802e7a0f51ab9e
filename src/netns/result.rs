//! What one probed target showed: reachable, refused, unresolvable..., the addresses its name
//! resolved to, how long it took. The probe container prints these as NDJSON and `probe`
//! parses them back, so both sides share this one shape.

use serde::{Deserialize, Serialize};

use crate::check::outcome::Outcome;

/// The verdict on one target, in an operator's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The check passed (a connection opened; the service answered as it should).
    Reachable,
    /// A `dns://` name resolved.
    Resolved,
    /// The name does not resolve from there.
    Unresolvable,
    /// The address answered with a refusal: nothing listens on that port.
    Refused,
    /// No answer in time (a firewall, a dead host, a blackholed route).
    Timeout,
    /// No route to the host or network.
    Unreachable,
    /// Reachable, but the service's answer was not healthy.
    Unhealthy,
}

impl Verdict {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reachable => "reachable",
            Self::Resolved => "resolved",
            Self::Unresolvable => "unresolvable",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// True for the verdicts of a passing check.
    #[must_use]
    pub fn ok(self) -> bool {
        matches!(self, Self::Reachable | Self::Resolved)
    }

    /// Reads a failed check's reason (the words `crate::reason` uses).
    #[must_use]
    pub fn of_failure(reason: &str) -> Self {
        let reason = reason.to_ascii_lowercase();
        if reason.contains("refused") {
            Self::Refused
        } else if reason.contains("cannot resolve")
            || reason.contains("no record")
            || reason.contains("nxdomain")
            || reason.contains("failed to lookup")
            || reason.contains("name does not resolve")
            || reason.contains("no addresses")
        {
            Self::Unresolvable
        } else if reason.contains("timed out") || reason.contains("timeout") {
            Self::Timeout
        } else if reason.contains("unreachable") {
            Self::Unreachable
        } else {
            Self::Unhealthy
        }
    }
}

/// One target's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The target, credentials masked.
    pub target: String,
    /// The kind of check (`tcp`, `http`, `dns`, `mongo`, `rocketchat`).
    pub check: String,
    pub result: Verdict,
    /// What the check saw, or why it failed.
    pub detail: String,
    /// The addresses the name resolved to from where the check ran.
    pub addresses: Vec<String>,
    pub latency_ms: f64,
}

impl ProbeResult {
    /// Builds the result of a check's outcome.
    #[must_use]
    pub fn of(
        target: String,
        check: &str,
        outcome: &Outcome,
        dns: bool,
        addresses: Vec<String>,
        latency_ms: f64,
    ) -> Self {
        let result = match outcome {
            Outcome::Healthy(_) if dns => Verdict::Resolved,
            Outcome::Healthy(_) => Verdict::Reachable,
            Outcome::Unhealthy(_) if dns => Verdict::Unresolvable,
            Outcome::Unhealthy(reason) => Verdict::of_failure(reason),
        };
        Self {
            target,
            check: check.to_owned(),
            result,
            detail: outcome.text().to_owned(),
            addresses,
            latency_ms,
        }
    }

    /// `bot → tcp://mongo:27017: reachable in 0.5 ms [172.18.0.2] — connected ...`
    #[must_use]
    pub fn line(&self, from: Option<&str>) -> String {
        let from = from.map(|f| format!("{f} → ")).unwrap_or_default();
        let addresses = if self.addresses.is_empty() {
            String::new()
        } else {
            format!(" [{}]", self.addresses.join(", "))
        };
        format!(
            "{from}{}: {} in {}{addresses} — {}",
            self.target,
            self.result.as_str(),
            crate::output::human_duration(std::time::Duration::from_secs_f64(
                self.latency_ms.max(0.0) / 1000.0
            )),
            self.detail
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_read_in_an_operators_words() {
        assert_eq!(Verdict::of_failure("connection refused"), Verdict::Refused);
        assert_eq!(
            Verdict::of_failure("cannot resolve `db`: failed to lookup address information"),
            Verdict::Unresolvable
        );
        assert_eq!(Verdict::of_failure("timed out after 5 s"), Verdict::Timeout);
        assert_eq!(
            Verdict::of_failure("host unreachable"),
            Verdict::Unreachable
        );
        assert_eq!(
            Verdict::of_failure("status 503 not in 200-399"),
            Verdict::Unhealthy
        );
    }

    #[test]
    fn a_line_names_where_from_what_and_how() {
        let result = ProbeResult::of(
            "tcp://mongo:27017".into(),
            "tcp",
            &Outcome::Healthy("connected in 0.3 ms".into()),
            false,
            vec!["172.18.0.2".into()],
            0.5,
        );
        assert_eq!(
            result.line(Some("bot")),
            "bot → tcp://mongo:27017: reachable in 0.5 ms [172.18.0.2] — connected in 0.3 ms"
        );
        let json = serde_json::to_string(&result).unwrap();
        let back: ProbeResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back.result, Verdict::Reachable);
    }
}
