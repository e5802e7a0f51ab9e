//! Probing from inside a service: the targets handed to `stackctl probe --here --stdin` in a
//! throw-away container in the service's network namespace, its NDJSON results read back.

use std::time::Duration;

use super::here::Plan;
use super::locate::ServiceContainer;
use super::oneshot::{self, OnNode};
use super::result::ProbeResult;
use super::runner::{self, Finished, Inside};
use crate::engine::docker::DockerApi;
use crate::error::Error;
use crate::target::Target;

/// Extra time the container gets beyond the targets' own bound: create, start, remove.
const CONTAINER_SLACK: Duration = Duration::from_secs(20);

/// Where a probe runs: in the service's container on this node, or as a one-shot job on the
/// node of another node's task.
pub enum At<'a> {
    Inside(Inside<'a>),
    OnNode(OnNode<'a>),
}

impl<'a> From<Inside<'a>> for At<'a> {
    fn from(inside: Inside<'a>) -> Self {
        Self::Inside(inside)
    }
}

impl<'a> From<OnNode<'a>> for At<'a> {
    fn from(on: OnNode<'a>) -> Self {
        Self::OnNode(on)
    }
}

impl<'a> At<'a> {
    /// Where to probe from `container`: inside it when it runs here (a container, or a Swarm
    /// task on this node), else a one-shot job on its task's node, the probe image (`image`,
    /// built here) pushed to `registry` or where the service's own image comes from.
    ///
    /// # Errors
    /// When no registry is known for another node's task, or the push fails.
    pub async fn of(
        docker: &'a DockerApi,
        image: &'a str,
        project: &'a str,
        container: &'a ServiceContainer,
        registry: Option<&str>,
    ) -> Result<Self, Error> {
        match &container.swarm {
            Some(task) if !task.here || container.id.is_empty() => Ok(Self::OnNode(OnNode {
                docker,
                image: Box::pin(super::image::pullable(docker, image, registry, task)).await?,
                project,
                task,
            })),
            _ => Ok(Self::Inside(Inside {
                docker,
                image,
                project,
                service: &container.service,
                container_id: &container.id,
            })),
        }
    }

    /// `` `web` `` here, `` `web` (node `stkn2`) `` on another node: how messages name it.
    #[must_use]
    pub fn shown(&self) -> String {
        match self {
            Self::Inside(inside) => format!("`{}`", inside.service),
            Self::OnNode(on) => format!("`{}` (node `{}`)", on.task.service, on.task.node),
        }
    }

    /// Runs `/stackctl ARGS` there with `stdin` as its plan (see [`runner::run`],
    /// [`oneshot::run`]). The args say `--stdin`; a job reads the plan from its secret.
    ///
    /// # Errors
    /// As the runner's.
    pub async fn run(
        self,
        args: Vec<String>,
        stdin: &[u8],
        limit: Duration,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Finished, Error> {
        match self {
            Self::Inside(inside) => runner::run(inside, args, stdin, limit, on_line).await,
            // Boxed: the job's future (secret, service, polling, logs) is large.
            Self::OnNode(on) => Box::pin(oneshot::run(&on, args, stdin, limit, on_line)).await,
        }
    }
}

/// Checks `targets` from `at`'s service's network namespace (or its node, see [`oneshot`]).
///
/// # Errors
/// When the container cannot run, or ends without results.
pub async fn probe_from(
    at: At<'_>,
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
    let shown = at.shown();
    let finished = at
        .run(args, &stdin, timeout + CONTAINER_SLACK, &mut on_line)
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
            "the probe in {} returned {} of {} results (exit code {}){said}",
            shown,
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
