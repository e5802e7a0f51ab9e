//! JUnit XML, the dialect CI systems read (GitLab, Jenkins, GitHub Actions): one `testsuite`
//! of `testcase`s, each passed (its detail as `system-out`), skipped, or failed with a message
//! and a body. Shared by `smoke` and `verify`; tests validate it against tests/schemas/junit.xsd.

use std::fmt::Write as _;
use std::time::Duration;

use super::millis;

/// How one case ended.
pub enum Verdict<'a> {
    Passed,
    Skipped,
    /// `kind` is the failure's `type` (`failure`, `timeout`, `warning`); `body` its text.
    Failed {
        kind: &'a str,
        body: String,
    },
}

/// One test case.
pub struct Case<'a> {
    pub name: &'a str,
    pub class: String,
    pub detail: &'a str,
    pub elapsed_ms: f64,
    pub verdict: Verdict<'a>,
}

/// The report: `tool` names the `testsuites`, `suite` the one `testsuite`.
#[must_use]
pub fn report(tool: &str, suite: &str, cases: &[Case<'_>], elapsed: Duration) -> String {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Failed { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Skipped))
        .count();
    let seconds = |ms: f64| format!("{:.3}", ms.max(0.0) / 1000.0);
    let total = seconds(millis(elapsed));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total}\"",
        cases.len()
    );
    let _ = writeln!(xml, "<testsuites name=\"{}\" {counts}>", escape(tool));
    let _ = writeln!(xml, "  <testsuite name=\"{}\" {counts}>", escape(suite));
    for case in cases {
        let _ = write!(
            xml,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">\n      ",
            escape(case.name),
            escape(&case.class),
            seconds(case.elapsed_ms)
        );
        let detail = escape(case.detail);
        match &case.verdict {
            Verdict::Passed => {
                let _ = write!(xml, "<system-out>{detail}</system-out>");
            }
            Verdict::Skipped => {
                let _ = write!(xml, "<skipped message=\"{detail}\"/>");
            }
            Verdict::Failed { kind, body } => {
                let _ = write!(
                    xml,
                    "<failure message=\"{detail}\" type=\"{kind}\">{}</failure>",
                    escape(body)
                );
            }
        }
        xml.push_str("\n    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// XML text and attribute escaping; characters XML 1.0 cannot hold are dropped.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// A failure's body: the detail, and the hint on its own line.
#[must_use]
pub fn body(detail: &str, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{detail}\nhint: {hint}"),
        None => detail.to_owned(),
    }
}
