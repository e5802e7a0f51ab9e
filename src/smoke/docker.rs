//! The smoke test's Docker steps: every service running (and healthy when it has a
//! healthcheck), every job exited 0 — as Docker reports it, not as assumed — and the hook URL
//! read out of the webhook job's container.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::time::Instant;

use bollard::query_parameters::DownloadFromContainerOptionsBuilder;
use futures_util::StreamExt;

use super::step::{Status, Step, StepResult};
use crate::engine::docker::{DockerApi, is_not_found};
use crate::netns::locate::ServiceContainer;

/// Judges one `service` or `job` step.
pub async fn judge(
    docker: &DockerApi,
    step: &Step,
    containers: &BTreeMap<String, ServiceContainer>,
) -> StepResult {
    let started = Instant::now();
    let (Step::Service { service } | Step::Job { service }) = step else {
        return StepResult::new(step, Status::Skipped, "not a Docker step");
    };
    let job = matches!(step, Step::Job { .. });
    let Some(container) = containers.get(service) else {
        return StepResult::new(step, Status::Failed, "no container")
            .with_hint(Some(format!("bring it up: `stackctl up {service}`")))
            .took(started.elapsed());
    };
    let mut result = if job {
        judge_job(docker, step, container).await
    } else {
        judge_service(docker, step, container).await
    };
    // A Swarm stack: where its task runs (a job's finished task has no node to name here).
    result.detail.push_str(&container.on_node());
    result.took(started.elapsed())
}

async fn judge_job(docker: &DockerApi, step: &Step, c: &ServiceContainer) -> StepResult {
    match (c.state.as_str(), c.exit_code) {
        ("exited", Some(0)) => StepResult::new(step, Status::Passed, "completed (exit code 0)"),
        ("exited", Some(code)) => {
            let tail = docker.log_tail(&c.id, 5, 0).await;
            let mut detail = format!("failed (exit code {code})");
            if let Some(last) = tail.iter().rev().find(|l| !l.trim().is_empty()) {
                let _ = write!(detail, "; last log line: {}", last.trim());
            }
            StepResult::new(step, Status::Failed, detail).with_hint(Some(format!(
                "`docker logs {}` shows the whole run; `stackctl up` runs it again once fixed",
                c.name
            )))
        }
        ("running" | "restarting", _) => StepResult::new(step, Status::Failed, "still running")
            .with_hint(Some(
                "run the smoke test once `stackctl up` has returned".to_owned(),
            )),
        (state, _) => StepResult::new(step, Status::Failed, format!("never completed (`{state}`)"))
            .with_hint(Some(format!("run it: `stackctl up {}`", c.service))),
    }
}

async fn judge_service(docker: &DockerApi, step: &Step, c: &ServiceContainer) -> StepResult {
    if !c.running() {
        let mut detail = format!("not running (`{}`", c.state);
        if let Some(code) = c.exit_code {
            let _ = write!(detail, ", exit code {code}");
        }
        detail.push(')');
        return StepResult::new(step, Status::Failed, detail).with_hint(Some(format!(
            "`docker logs {}` tells why; `stackctl up {}` starts it",
            c.name, c.service
        )));
    }
    match c.health.as_deref() {
        None => StepResult::new(step, Status::Passed, "running (no healthcheck)"),
        Some("healthy") => StepResult::new(step, Status::Passed, "running, healthy"),
        Some("unhealthy") => {
            let output = c
                .health_output
                .as_deref()
                .map(|o| format!(": {}", o.lines().last().unwrap_or(o)))
                .unwrap_or_default();
            StepResult::new(step, Status::Failed, format!("running, unhealthy{output}")).with_hint(
                Some(format!(
                    "`docker inspect {}` holds the last healthcheck results",
                    c.name
                )),
            )
        }
        Some(other) => {
            // `starting`: Docker has not run its first probe yet (Engine 20.10 waits a full
            // interval). Run the healthcheck's own command now, as `up` does.
            let command = match c.healthcheck.split_first() {
                Some((kind, rest)) if kind == "CMD" => Some(rest.to_vec()),
                Some((kind, rest)) if kind == "CMD-SHELL" => Some(
                    ["/bin/sh".to_owned(), "-c".to_owned()]
                        .into_iter()
                        .chain(rest.iter().cloned())
                        .collect(),
                ),
                _ => None,
            };
            match command {
                Some(cmd) if docker.exec(&c.id, cmd.clone()).await == Some(0) => StepResult::new(
                    step,
                    Status::Passed,
                    format!("running; its healthcheck passes when run now (Docker still says `{other}`)"),
                ),
                _ => StepResult::new(step, Status::Failed, format!("running, `{other}`: its healthcheck does not pass yet"))
                    .with_hint(Some(
                        "run the smoke test once `stackctl up` has returned, or raise the healthcheck's `start_period`".to_owned(),
                    )),
            }
        }
    }
}

/// The text of `path` inside a container (running or not), trimmed; `None` when it is absent.
///
/// # Errors
/// A reason when the daemon cannot be asked.
pub async fn read_file(
    docker: &DockerApi,
    container: &str,
    path: &str,
) -> Result<Option<String>, String> {
    let options = DownloadFromContainerOptionsBuilder::new()
        .path(path)
        .build();
    let mut stream = docker
        .client()
        .download_from_container(container, Some(options));
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => archive.extend_from_slice(&bytes),
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(crate::reason::lowercase_first(&e.to_string())),
        }
    }
    let mut entries = tar::Archive::new(&archive[..]);
    let mut entries = entries.entries().map_err(|e| e.to_string())?;
    let Some(entry) = entries.next() else {
        return Ok(None);
    };
    let mut entry = entry.map_err(|e| e.to_string())?;
    let mut text = String::new();
    entry
        .read_to_string(&mut text)
        .map_err(|e| format!("`{path}` is not text: {e}"))?;
    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}
