//! The smoke test's results for people (one line per step), for machines (NDJSON) and for CI
//! systems (JUnit XML: one testcase per step, failures with their reason and hint).

use std::fmt::Write as _;
use std::time::Duration;

use super::step::{Status, StepResult};
use crate::exit::ExitStatus;
use crate::output::junit::{self, Case, Verdict};
use crate::output::{human_duration, millis};

/// `ok   service mongo: running, healthy (1.2 ms)`, with the hint on its own line.
#[must_use]
pub fn line(result: &StepResult) -> String {
    let tag = match result.status {
        Status::Passed => "ok  ",
        Status::Failed => "FAIL",
        Status::Skipped => "skip",
        Status::TimedOut => "TIME",
    };
    let mut text = format!("{tag} {}: {}", result.name, result.detail);
    if result.status != Status::Skipped {
        let _ = write!(
            text,
            " ({})",
            human_duration(Duration::from_secs_f64(result.elapsed_ms.max(0.0) / 1000.0))
        );
    }
    if let Some(hint) = &result.hint {
        let _ = write!(text, "\n     hint: {hint}");
    }
    text
}

/// The step as one NDJSON event.
#[must_use]
pub fn json(result: &StepResult) -> String {
    let mut value = serde_json::to_value(result).unwrap_or_default();
    value["event"] = "smoke_step".into();
    value.to_string()
}

/// Counts of each status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub timed_out: usize,
}

impl Tally {
    #[must_use]
    pub fn of(results: &[StepResult]) -> Self {
        let mut tally = Self::default();
        for r in results {
            match r.status {
                Status::Passed => tally.passed += 1,
                Status::Failed => tally.failed += 1,
                Status::Skipped => tally.skipped += 1,
                Status::TimedOut => tally.timed_out += 1,
            }
        }
        tally
    }

    /// 0 when nothing failed, 3 when the time ran out, else 1.
    #[must_use]
    pub fn exit_status(self) -> ExitStatus {
        if self.timed_out > 0 {
            ExitStatus::Timeout
        } else if self.failed > 0 {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }

    /// `smoke: 12 passed, 1 failed, 2 skipped in 1.4 s`
    #[must_use]
    pub fn line(self, elapsed: Duration) -> String {
        let mut text = format!("smoke: {} passed, {} failed", self.passed, self.failed);
        if self.timed_out > 0 {
            let _ = write!(text, ", {} timed out", self.timed_out);
        }
        let _ = write!(
            text,
            ", {} skipped in {}",
            self.skipped,
            human_duration(elapsed)
        );
        text
    }

    /// The closing NDJSON event.
    #[must_use]
    pub fn json(self, project: &str, elapsed: Duration) -> String {
        serde_json::json!({
            "event": "smoke_finished",
            "project": project,
            "ok": self.exit_status() == ExitStatus::Success,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "timed_out": self.timed_out,
            "elapsed_ms": millis(elapsed),
        })
        .to_string()
    }
}

/// The results as JUnit XML, the dialect CI systems (GitLab, Jenkins, GitHub actions) read.
#[must_use]
pub fn junit(results: &[StepResult], project: &str, elapsed: Duration) -> String {
    let cases: Vec<Case<'_>> = results
        .iter()
        .map(|r| Case {
            name: &r.name,
            class: format!("smoke.{}", r.kind),
            detail: &r.detail,
            elapsed_ms: r.elapsed_ms,
            verdict: match r.status {
                Status::Passed => Verdict::Passed,
                Status::Skipped => Verdict::Skipped,
                Status::Failed | Status::TimedOut => Verdict::Failed {
                    kind: if r.status == Status::TimedOut {
                        "timeout"
                    } else {
                        "failure"
                    },
                    body: junit::body(&r.detail, r.hint.as_deref()),
                },
            },
        })
        .collect();
    junit::report(
        "stackctl smoke",
        &format!("smoke {project}"),
        &cases,
        elapsed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, status: Status, detail: &str, hint: Option<&str>) -> StepResult {
        StepResult {
            name: name.into(),
            kind: "login".into(),
            status,
            detail: detail.into(),
            hint: hint.map(str::to_owned),
            elapsed_ms: 12.0,
        }
    }

    #[test]
    fn junit_has_one_testcase_per_step_with_reasons() {
        let results = [
            result("service mongo", Status::Passed, "running, healthy", None),
            result(
                "bot login",
                Status::Failed,
                "`bot` cannot log in: <wrong> password",
                Some("check `BOT_PASS`"),
            ),
            result("front door", Status::Skipped, "no nginx service", None),
        ];
        let xml = junit(&results, "demo", Duration::from_millis(1500));
        assert!(xml.contains(r#"<testsuites name="stackctl smoke" tests="3" failures="1" errors="0" skipped="1" time="1.500">"#), "{xml}");
        assert!(
            xml.contains(r#"<testcase name="bot login" classname="smoke.login" time="0.012">"#)
        );
        assert!(xml.contains(r#"<failure message="`bot` cannot log in: &lt;wrong&gt; password" type="failure">`bot` cannot log in: &lt;wrong&gt; password&#10;hint: check `BOT_PASS`</failure>"#), "{xml}");
        assert!(xml.contains(r#"<skipped message="no nginx service"/>"#));
        assert_eq!(xml.matches("<testcase ").count(), 3);
    }

    #[test]
    fn lines_and_exit_statuses() {
        let failed = result(
            "bot login",
            Status::Failed,
            "wrong password",
            Some("fix it"),
        );
        assert_eq!(
            line(&failed),
            "FAIL bot login: wrong password (12 ms)\n     hint: fix it"
        );
        let skipped = result("front door", Status::Skipped, "no nginx service", None);
        assert_eq!(line(&skipped), "skip front door: no nginx service");
        let tally = Tally::of(&[failed, skipped.clone()]);
        assert_eq!(tally.exit_status(), ExitStatus::Failure);
        assert_eq!(Tally::of(&[skipped]).exit_status(), ExitStatus::Success);
        let late = result("cleanup", Status::TimedOut, "not run", None);
        assert_eq!(Tally::of(&[late]).exit_status(), ExitStatus::Timeout);
        assert_eq!(
            tally.line(Duration::from_millis(1400)),
            "smoke: 0 passed, 1 failed, 1 skipped in 1.4 s"
        );
    }
}
