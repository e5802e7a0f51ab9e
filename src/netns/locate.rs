//! A project's service containers as Docker reports them — found by compose's labels, so a
//! stack `docker compose` brought up is found as well as one stackctl brought up — or, for a
//! stack `up --engine swarm` deployed, its services' tasks on every node of the swarm.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bollard::models::ContainerInspectResponse;

use crate::engine::docker::DockerApi;
use crate::engine::labels;
use crate::engine::swarm::tasks::{self, RunningTask};
use crate::error::Error;

/// One service's container, with what `probe` and `smoke` need to know about it.
#[derive(Debug, Clone, Default)]
pub struct ServiceContainer {
    pub service: String,
    pub id: String,
    /// The container's name, without the leading `/`.
    pub name: String,
    pub image: String,
    /// `running`, `exited`, `created`, `restarting`, ...
    pub state: String,
    /// Docker's health status (`starting`, `healthy`, `unhealthy`), when it has a healthcheck.
    pub health: Option<String>,
    /// The health log's last output, when unhealthy.
    pub health_output: Option<String>,
    pub exit_code: Option<i64>,
    /// How often Docker restarted it (its restart policy), and whether the kernel's OOM killer
    /// ended it last: a crash loop and an out-of-memory kill look alike in `state`.
    pub restart_count: i64,
    pub oom_killed: bool,
    /// When its current (or last) run started (RFC 3339), when it ever started.
    pub started_at: Option<String>,
    /// Marked as a one-shot job (stackctl's label).
    pub job: bool,
    /// Network name → its address and aliases there.
    pub networks: BTreeMap<String, Endpoint>,
    /// TCP ports the container declares (`EXPOSE`, compose `expose:`/`ports:`).
    pub exposed: BTreeSet<u16>,
    /// The healthcheck's test, as Docker has it (`["CMD", ...]`).
    pub healthcheck: Vec<String>,
    /// Entrypoint, command, environment values: where clients write the addresses they use.
    pub words: Vec<String>,
    /// The services it depends on (compose's `depends_on` label).
    pub depends_on: Vec<String>,
    /// The stack files and the project directory its project was brought up from (compose's
    /// `project.config_files` and `project.working_dir` labels).
    pub config_files: Vec<String>,
    pub working_dir: Option<String>,
    /// A Swarm service's running task: the node it runs on (`id` is its container only when
    /// that node is this one).
    pub swarm: Option<RunningTask>,
}

/// A container's presence on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Option<String>,
    pub aliases: Vec<String>,
}

impl ServiceContainer {
    #[must_use]
    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// `` (node `stkn2`) `` for a Swarm task, else nothing: where messages say where it runs.
    #[must_use]
    pub fn on_node(&self) -> String {
        self.swarm
            .as_ref()
            .map(|t| format!(" (node `{}`)", t.node))
            .unwrap_or_default()
    }

    /// A Swarm service as `probe`, `smoke` and catalogs see a container: its running task, else
    /// how its newest task ended.
    async fn from_swarm(
        docker: &DockerApi,
        service: &str,
        swarm_service: &bollard::models::Service,
    ) -> Result<Self, Error> {
        let spec = swarm_service.spec.clone().unwrap_or_default();
        let container = spec
            .task_template
            .and_then(|t| t.container_spec)
            .unwrap_or_default();
        let service_labels = spec.labels.unwrap_or_default();
        let words = words_of(
            container.command.as_deref(),
            container.args.as_deref(),
            container.env.as_deref(),
        );
        let mut healthcheck = Box::pin(tasks::healthcheck(docker, swarm_service)).await;
        if healthcheck.first().is_some_and(|k| k == "NONE") {
            healthcheck.clear();
        }
        let mut found = Self {
            service: service.to_owned(),
            name: spec.name.unwrap_or_default(),
            image: container.image.unwrap_or_default(),
            job: service_labels.get(labels::JOB).map(String::as_str) == Some("true"),
            healthcheck,
            words,
            ..Self::default()
        };
        if let Some(task) = tasks::running_task(docker, service, swarm_service).await? {
            "running".clone_into(&mut found.state);
            // Swarm reports a task with a healthcheck `running` only once it was healthy, and
            // fails it when it turns unhealthy (moby daemon/cluster/executor/container/
            // controller.go: `Start` waits for `health_status: healthy`, `Wait` returns
            // `ErrContainerUnhealthy`).
            found.health = (!found.healthcheck.is_empty()).then(|| "healthy".to_owned());
            found.networks = task
                .addresses
                .iter()
                .map(|(network, ip)| {
                    let endpoint = Endpoint {
                        ip: Some(ip.clone()),
                        aliases: vec![service.to_owned()],
                    };
                    (network.clone(), endpoint)
                })
                .collect();
            if task.here {
                found.id = task.container_id.clone().unwrap_or_default();
            }
            found.swarm = Some(task);
        } else if let Some((state, code)) = tasks::last_state(docker, swarm_service).await? {
            found.state = state;
            found.exit_code = code;
        } else {
            "created".clone_into(&mut found.state);
        }
        Ok(found)
    }

    fn from_inspect(service: &str, inspect: ContainerInspectResponse) -> Self {
        let config = inspect.config.unwrap_or_default();
        let state = inspect.state.unwrap_or_default();
        let container_labels = config.labels.clone().unwrap_or_default();
        let networks = inspect
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, endpoint)| {
                let ip = endpoint.ip_address.filter(|ip| !ip.is_empty());
                let aliases = endpoint.aliases.unwrap_or_default();
                (name, Endpoint { ip, aliases })
            })
            .collect();
        let exposed = config
            .exposed_ports
            .iter()
            .flatten()
            .filter_map(|key| {
                let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
                (proto == "tcp").then(|| port.parse().ok()).flatten()
            })
            .collect();
        let words = words_of(
            config.entrypoint.as_deref(),
            config.cmd.as_deref(),
            config.env.as_deref(),
        );
        let health = state.health.clone();
        let health_status = health
            .as_ref()
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none");
        let health_output = health
            .and_then(|h| h.log)
            .and_then(|log| log.last().and_then(|entry| entry.output.clone()))
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty());
        let depends_on = container_labels
            .get(labels::DEPENDS_ON)
            .map(|text| {
                text.split(',')
                    .filter_map(|entry| entry.split(':').next())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let status = state.status.map(|s| s.to_string()).unwrap_or_default();
        let config_files = container_labels
            .get(labels::CONFIG_FILES)
            .map(|files| {
                files
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let working_dir = container_labels
            .get(labels::WORKING_DIR)
            .filter(|d| !d.is_empty())
            .cloned();
        Self {
            service: service.to_owned(),
            id: inspect.id.unwrap_or_default(),
            name: inspect
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: config.image.clone().unwrap_or_default(),
            exit_code: (status == "exited").then_some(state.exit_code).flatten(),
            restart_count: inspect.restart_count.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            started_at: state.started_at.clone().filter(|s| !s.starts_with("0001")),
            state: status,
            health: health_status,
            health_output,
            job: container_labels.get(labels::JOB).map(String::as_str) == Some("true"),
            networks,
            exposed,
            healthcheck: config.healthcheck.and_then(|h| h.test).unwrap_or_default(),
            words,
            depends_on,
            config_files,
            working_dir,
            swarm: None,
        }
    }
}

/// Entrypoint, command and the environment's values, in that order.
fn words_of(
    entrypoint: Option<&[String]>,
    cmd: Option<&[String]>,
    env: Option<&[String]>,
) -> Vec<String> {
    let mut words: Vec<String> = entrypoint.unwrap_or_default().to_vec();
    words.extend_from_slice(cmd.unwrap_or_default());
    words.extend(
        env.unwrap_or_default()
            .iter()
            .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_owned())),
    );
    words
}

/// Every service container of the project (one-off and probe containers left out), inspected,
/// by service name. A service with several containers is represented by a running one.
///
/// # Errors
/// When the daemon cannot be asked.
pub async fn project(
    docker: &DockerApi,
    project: &str,
) -> Result<BTreeMap<String, ServiceContainer>, Error> {
    // Boxed, as every Swarm lookup here: the Engine API's futures are large.
    let swarm = Box::pin(tasks::stack_services(docker, project)).await?;
    if !swarm.is_empty() {
        let mut found = BTreeMap::new();
        for (service, swarm_service) in &swarm {
            let one =
                Box::pin(ServiceContainer::from_swarm(docker, service, swarm_service)).await?;
            found.insert(service.clone(), one);
        }
        tracing::debug!(
            project,
            services = found.len(),
            "the stack's Swarm services"
        );
        return Ok(found);
    }
    let mut found: BTreeMap<String, ServiceContainer> = BTreeMap::new();
    for summary in docker.project_containers(project).await? {
        let summary_labels = summary.labels.unwrap_or_default();
        let oneoff = summary_labels.get(labels::ONEOFF).map(String::as_str) == Some("True");
        if oneoff || summary_labels.contains_key(labels::PROBE) {
            continue;
        }
        let Some(service) = summary_labels.get(labels::SERVICE) else {
            continue;
        };
        if found.get(service).is_some_and(ServiceContainer::running) {
            continue;
        }
        let id = summary.id.unwrap_or_default();
        let inspect = docker.inspect(&id).await?;
        found.insert(
            service.clone(),
            ServiceContainer::from_inspect(service, inspect),
        );
    }
    Ok(found)
}

/// The container of one service (a running one when it has several), or `None`: one listing
/// and one inspect, where [`project`] inspects every container.
///
/// # Errors
/// When the daemon cannot be asked.
pub async fn service(
    docker: &DockerApi,
    project: &str,
    service: &str,
) -> Result<Option<ServiceContainer>, Error> {
    if let Some(swarm_service) = Box::pin(tasks::stack_services(docker, project))
        .await?
        .remove(service)
    {
        let found = Box::pin(ServiceContainer::from_swarm(
            docker,
            service,
            &swarm_service,
        ))
        .await?;
        return Ok(Some(found));
    }
    let project_label = format!("{}={project}", labels::PROJECT);
    let service_label = format!("{}={service}", labels::SERVICE);
    let found = docker
        .containers_labelled(&[&project_label, &service_label])
        .await?;
    let mut candidates: Vec<_> = found
        .into_iter()
        .filter(|c| {
            let l = c.labels.clone().unwrap_or_default();
            l.get(labels::ONEOFF).map(String::as_str) != Some("True")
                && !l.contains_key(labels::PROBE)
        })
        .collect();
    candidates
        .sort_by_key(|c| c.state.as_ref().map(ToString::to_string) != Some("running".to_owned()));
    let Some(chosen) = candidates.into_iter().next() else {
        return Ok(None);
    };
    let inspect = docker.inspect(&chosen.id.unwrap_or_default()).await?;
    Ok(Some(ServiceContainer::from_inspect(service, inspect)))
}

/// The running container of `service`, or an error that says why there is none to join.
///
/// # Errors
/// A failure naming the service, with a hint to start it.
pub fn running<'a>(
    containers: &'a BTreeMap<String, ServiceContainer>,
    project: &str,
    service: &str,
) -> Result<&'a ServiceContainer, Error> {
    let Some(container) = containers.get(service) else {
        let known: Vec<String> = containers.keys().map(|s| format!("`{s}`")).collect();
        let hint = if known.is_empty() {
            format!(
                "project `{project}` has no containers; bring it up with `stackctl up`, or name the project with `-p`"
            )
        } else {
            format!(
                "bring it up with `stackctl up {service}`; the project's services are {}",
                known.join(", ")
            )
        };
        return Err(Error::failed(format!(
            "service `{service}` has no container in project `{project}`"
        ))
        .with_hint(hint));
    };
    if container.running() {
        return Ok(container);
    }
    let mut state = format!("`{}`", container.state);
    if let Some(code) = container.exit_code {
        let _ = write!(state, ", exit code {code}");
    }
    let hint = if container.job {
        format!(
            "`{service}` is a one-shot job; probe from a long-running service instead (`stackctl status` lists them)"
        )
    } else {
        format!("start it with `stackctl up {service}`")
    };
    Err(Error::failed(format!(
        "service `{service}` is not running ({state}): a container that is not running has no network namespace to join"
    ))
    .with_hint(hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, state: &str, job: bool) -> ServiceContainer {
        ServiceContainer {
            service: service.into(),
            state: state.into(),
            exit_code: (state == "exited").then_some(0),
            job,
            ..ServiceContainer::default()
        }
    }

    #[test]
    fn a_stopped_service_says_why_and_how() {
        let containers = BTreeMap::from([
            ("web".to_owned(), container("web", "exited", false)),
            ("init".to_owned(), container("init", "exited", true)),
        ]);
        let err = running(&containers, "p", "web").unwrap_err();
        assert_eq!(
            err.to_string(),
            "error: service `web` is not running (`exited`, exit code 0): a container that is not running has no network namespace to join\nhint: start it with `stackctl up web`"
        );
        let job = running(&containers, "p", "init").unwrap_err();
        assert!(job.hint().unwrap().contains("one-shot job"));
        let missing = running(&containers, "p", "db").unwrap_err();
        assert!(missing.message().contains("has no container"));
        assert!(missing.hint().unwrap().contains("`init`, `web`"));
    }
}
