//! What doctor prints: for people, a verdict line first, then each root cause with its
//! evidence, cause and fix, and its consequences under it; with `--json`, one document whose
//! field names are stable (documented in the README, "Diagnosing a stack").

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::diagnose::Finding;
use super::rules::Severity;

/// How many lines of one piece of evidence people see (JSON carries them all).
const SHOWN_LINES: usize = 6;

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub project: &'a str,
    /// `healthy` or `problems`.
    pub verdict: &'static str,
    /// The verdict line people see.
    pub summary: String,
    /// Root causes first; symptoms under them.
    pub findings: &'a [Finding],
    /// Services observed, and facts gathered.
    pub services: usize,
    pub facts: usize,
    /// What could not be observed, and why.
    pub unobserved: &'a [String],
    pub elapsed_ms: f64,
}

impl<'a> Report<'a> {
    #[must_use]
    pub fn new(
        project: &'a str,
        findings: &'a [Finding],
        services: usize,
        facts: usize,
        unobserved: &'a [String],
        elapsed: Duration,
    ) -> Self {
        let problems = findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .count();
        let symptoms: usize = findings.iter().map(|f| f.consequences.len()).sum();
        let summary = if problems == 0 {
            format!(
                "doctor: project `{project}` is healthy ({services} services, {facts} facts checked in {})",
                crate::output::human_duration(elapsed)
            )
        } else {
            let first = findings
                .iter()
                .find(|f| f.severity != Severity::Info)
                .map(|f| format!(" — {}: {}", f.service, f.title))
                .unwrap_or_default();
            let symptoms = if symptoms == 0 {
                String::new()
            } else {
                format!(" ({symptoms} consequence(s) listed under them)")
            };
            format!("doctor: project `{project}` has {problems} problem(s){symptoms}{first}")
        };
        Self {
            project,
            verdict: if problems == 0 { "healthy" } else { "problems" },
            summary,
            findings,
            services,
            facts,
            unobserved,
            elapsed_ms: crate::output::millis(elapsed),
        }
    }

    /// Whether a problem was found.
    #[must_use]
    pub fn healthy(&self) -> bool {
        self.verdict == "healthy"
    }

    /// The report for people.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.summary);
        for finding in self.findings {
            out.push('\n');
            finding_text(&mut out, finding, "");
            for consequence in &finding.consequences {
                let _ = writeln!(out, "  consequence:");
                finding_text(&mut out, consequence, "    ");
            }
        }
        for what in self.unobserved {
            let _ = writeln!(out, "\nnot observed: {what}");
        }
        out
    }

    /// The report as one JSON document.
    #[must_use]
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }
}

fn finding_text(out: &mut String, f: &Finding, indent: &str) {
    let _ = writeln!(
        out,
        "{indent}[{}] {}: {} ({})",
        f.severity.as_str(),
        f.service,
        f.title,
        f.rule
    );
    for e in &f.evidence {
        let from = e
            .from
            .as_deref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        let lines: Vec<&str> = e.text.lines().collect();
        if lines.len() <= 1 {
            let _ = writeln!(out, "{indent}  seen: {} = {}{from}", e.fact, e.text);
        } else {
            let skipped = lines.len().saturating_sub(SHOWN_LINES);
            let more = if skipped > 0 {
                format!(", last {SHOWN_LINES} of {} lines", lines.len())
            } else {
                String::new()
            };
            let _ = writeln!(out, "{indent}  seen: {}{from}{more}:", e.fact);
            for line in &lines[skipped..] {
                let _ = writeln!(out, "{indent}    | {line}");
            }
        }
    }
    if !indent.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}  cause: {}", f.cause);
    let _ = writeln!(out, "{indent}  fix: {}", f.fix);
    let _ = writeln!(out, "{indent}  source: {}", f.source);
}
