//! A catalog's results for people (one line per check), for machines (NDJSON), for TAP
//! consumers and for CI systems (JUnit XML). A failing `warning` check is said, but does not
//! fail the run: TAP marks it `# TODO`, JUnit `type="warning"`.

use std::fmt::Write as _;
use std::time::Duration;

use super::Severity;
use super::run::CheckResult;
use crate::output::junit::{self, Case, Verdict};
use crate::output::{human_duration, millis};

/// Counts of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    /// Failing checks of severity `warning`.
    pub warnings: usize,
}

impl Tally {
    #[must_use]
    pub fn of(results: &[CheckResult]) -> Self {
        let mut tally = Self::default();
        for r in results {
            match (r.ok, r.severity) {
                (true, _) => tally.passed += 1,
                (false, Severity::Critical) => tally.failed += 1,
                (false, Severity::Warning) => tally.warnings += 1,
            }
        }
        tally
    }

    /// Every critical check passed.
    #[must_use]
    pub fn ok(self) -> bool {
        self.failed == 0
    }

    /// `verify: 9 passed, 1 failed, 1 warning in 0.4 s`
    #[must_use]
    pub fn line(self, elapsed: Duration) -> String {
        format!(
            "verify: {} passed, {} failed, {} warning(s) in {}",
            self.passed,
            self.failed,
            self.warnings,
            human_duration(elapsed)
        )
    }

    #[must_use]
    pub fn json(self, elapsed: Duration) -> String {
        serde_json::json!({
            "event": "verify_finished",
            "ok": self.ok(),
            "passed": self.passed,
            "failed": self.failed,
            "warnings": self.warnings,
            "elapsed_ms": millis(elapsed),
        })
        .to_string()
    }
}

fn tag(r: &CheckResult) -> &'static str {
    match (r.ok, r.severity) {
        (true, _) => "ok  ",
        (false, Severity::Critical) => "FAIL",
        (false, Severity::Warning) => "warn",
    }
}

/// `ok   mongo primary (from bot): reachable: PRIMARY of rs0 (2.1 ms)`, hint on its own line;
/// `(from bot on node stkn2)` for a Swarm stack.
#[must_use]
pub fn line(r: &CheckResult) -> String {
    let on = r
        .node
        .as_ref()
        .map(|n| format!(" on node {n}"))
        .unwrap_or_default();
    let from = match (&r.from, &r.inside) {
        (Some(f), _) => format!(" (from {f}{on})"),
        (None, Some(i)) => format!(" (inside the stack, from {i}{on})"),
        (None, None) => String::new(),
    };
    let mut text = format!(
        "{} {}{from}: {} ({})",
        tag(r),
        r.name,
        r.detail,
        human_duration(Duration::from_secs_f64(r.latency_ms.max(0.0) / 1000.0))
    );
    if let Some(hint) = &r.hint {
        let _ = write!(text, "\n     hint: {hint}");
    }
    text
}

/// The check as one NDJSON event.
#[must_use]
pub fn json(r: &CheckResult) -> String {
    let mut value = serde_json::to_value(r).unwrap_or_default();
    value["event"] = "check".into();
    value.to_string()
}

/// TAP version 13: one test point per check, a YAML block with the details of a failure.
#[must_use]
pub fn tap(results: &[CheckResult]) -> String {
    let mut out = format!("TAP version 13\n1..{}\n", results.len());
    for (i, r) in results.iter().enumerate() {
        let number = i + 1;
        let name = r.name.replace('#', "\\#");
        if r.ok {
            let _ = writeln!(out, "ok {number} - {name}");
            continue;
        }
        let todo = if r.severity == Severity::Warning {
            " # TODO severity warning"
        } else {
            ""
        };
        let _ = writeln!(out, "not ok {number} - {name}{todo}");
        let _ = writeln!(out, "  ---");
        let quoted = serde_json::to_string(&r.detail).unwrap_or_default();
        let _ = writeln!(out, "  message: {quoted}");
        let _ = writeln!(out, "  kind: {}", r.kind);
        if let Some(hint) = &r.hint {
            let _ = writeln!(
                out,
                "  hint: {}",
                serde_json::to_string(hint).unwrap_or_default()
            );
        }
        let _ = writeln!(out, "  duration_ms: {:.3}", r.latency_ms);
        let _ = writeln!(out, "  ...");
    }
    out
}

/// JUnit XML, the dialect CI systems read: one testcase per check.
#[must_use]
pub fn junit(results: &[CheckResult], catalog: &str, elapsed: Duration) -> String {
    let cases: Vec<Case<'_>> = results
        .iter()
        .map(|r| Case {
            name: &r.name,
            class: format!("verify.{}", r.kind),
            detail: &r.detail,
            elapsed_ms: r.latency_ms,
            verdict: if r.ok {
                Verdict::Passed
            } else {
                Verdict::Failed {
                    kind: match r.severity {
                        Severity::Critical => "failure",
                        Severity::Warning => "warning",
                    },
                    body: junit::body(&r.detail, r.hint.as_deref()),
                }
            },
        })
        .collect();
    junit::report("stackctl verify", catalog, &cases, elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, ok: bool, severity: Severity) -> CheckResult {
        CheckResult {
            name: name.to_owned(),
            kind: "tcp".to_owned(),
            from: None,
            inside: None,
            node: None,
            service: String::new(),
            severity,
            ok,
            detail: if ok { "connected" } else { "refused <here>" }.to_owned(),
            hint: None,
            latency_ms: 1.5,
        }
    }

    #[test]
    fn a_swarm_check_names_the_node_it_ran_from() {
        let mut from = result("web up", true, Severity::Critical);
        from.from = Some("mongo".to_owned());
        from.node = Some("stkn2".to_owned());
        assert_eq!(
            line(&from),
            "ok   web up (from mongo on node stkn2): connected (1.5 ms)"
        );
        let mut inside = result("rc", true, Severity::Critical);
        inside.inside = Some("mongo".to_owned());
        inside.node = Some("stkn2".to_owned());
        assert!(
            line(&inside).contains("(inside the stack, from mongo on node stkn2)"),
            "{}",
            line(&inside)
        );
        assert!(json(&from).contains(r#""node":"stkn2""#), "{}", json(&from));
    }

    #[test]
    fn warnings_are_said_but_do_not_fail() {
        let results = [
            result("a", true, Severity::Critical),
            result("b # 2", false, Severity::Warning),
            result("c", false, Severity::Critical),
        ];
        let tally = Tally::of(&results);
        assert_eq!((tally.passed, tally.failed, tally.warnings), (1, 1, 1));
        assert!(!tally.ok());
        let tap = tap(&results);
        assert!(tap.starts_with("TAP version 13\n1..3\nok 1 - a\n"), "{tap}");
        assert!(
            tap.contains("not ok 2 - b \\# 2 # TODO severity warning\n"),
            "{tap}"
        );
        assert!(
            tap.contains("not ok 3 - c\n  ---\n  message: \"refused <here>\""),
            "{tap}"
        );
        let xml = junit(&results, "demo.yml", Duration::from_millis(20));
        assert!(
            xml.contains(r#"<failure message="refused &lt;here&gt;" type="warning">"#),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 3);
    }
}
