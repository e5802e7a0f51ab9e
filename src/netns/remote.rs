//! Probing from inside a service: the targets handed to `stackctl probe --here --stdin` in a
//! throw-away container in the service's network namespace, its NDJSON results read back.

use std::time::Duration;

use super::here::Plan;
use super::result::ProbeResult;
use super::runner::{Inside, run};
use crate::error::Error;
use crate::target::Target;

/// Extra time the container gets beyond the targets' own bound: create, start, remove.
const CONTAINER_SLACK: Duration = Duration::from_secs(20);

/// Checks `targets` from `inside.service`'s network namespace.
///
/// # Errors
/// When the container cannot run, or ends without results.
pub async fn probe_from(
    inside: Inside<'_>,
    targets: &[Target],
    timeout: Duration,
    log_filter: &str,
) -> Result<Vec<ProbeResult>, Error> {
    let plan = Plan {
        targets: targets.iter().map(Target::raw).collect(),
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let stdin = serde_json::to_vec(&plan).unwrap_or_default();
    let args = [
        "--json",
        "--log-level",
        log_filter,
        "probe",
        "--here",
        "--stdin",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut results = Vec::new();
    let mut stray = Vec::new();
    let mut on_line = |line: &str| match serde_json::from_str::<ProbeResult>(line) {
        Ok(result) => results.push(result),
        Err(_) if line.trim().is_empty() => {}
        Err(_) => stray.push(line.to_owned()),
    };
    let finished = run(
        inside,
        args,
        &stdin,
        timeout + CONTAINER_SLACK,
        &mut on_line,
    )
    .await?;
    forward_stderr(&finished.stderr);
    if results.len() != targets.len() {
        let said = finished
            .stderr
            .lines()
            .chain(stray.iter().map(String::as_str))
            .find(|l| l.starts_with("error:"))
            .map_or_else(String::new, |l| {
                format!(": {}", l.trim_start_matches("error: "))
            });
        return Err(Error::failed(format!(
            "the probe in `{}` returned {} of {} results (exit code {}){said}",
            inside.service,
            results.len(),
            targets.len(),
            finished.exit_code
        ))
        .with_hint("rerun with `--log-level debug` to see the probe container's own log"));
    }
    Ok(results)
}

/// The probe container's own log lines (its `--log-level`) go where ours go.
pub fn forward_stderr(text: &str) {
    use std::io::Write as _;
    if !text.trim().is_empty() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
