//! `--engine swarm`: the same stack file deployed as Swarm services through the Engine API,
//! in dependency order by stackctl's own engine (`docker stack deploy` ignores `depends_on`
//! and refuses its long form). Services, networks and volumes carry `docker stack deploy`'s
//! `com.docker.stack.namespace` label, so `docker stack ps/services/rm` see the stack.

mod api;
mod nodes;
pub mod spec;
pub mod tasks;
mod up;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use nodes::{Destination, destination, parse_registry, push};
pub use up::up;

use super::docker::DockerApi;
use super::down::Removed;
use crate::error::Error;
use crate::stack::Stack;

/// How long `down` waits for Swarm to remove the task containers before it removes the
/// networks and volumes they use.
const DRAIN: Duration = Duration::from_secs(60);

/// Removes the stack's services, then (once their task containers are gone) its networks and,
/// with `volumes`, its volumes on this node.
pub async fn down(stack: &Stack, docker: &DockerApi, volumes: bool) -> Result<Removed, Error> {
    api::require_manager(docker).await?;
    let mut removed = Removed::default();
    for found in api::services(docker, &stack.project).await? {
        let name = found
            .spec
            .and_then(|s| s.name)
            .unwrap_or_else(|| found.id.unwrap_or_default());
        api::remove(docker, &name).await?;
        removed.services.push(name);
    }
    // Swarm stops the tasks of a removed service (each with its stop grace period) and removes
    // their containers, but leaves the exited containers of a job's finished tasks: once
    // nothing runs, stackctl removes what is left itself.
    let started = Instant::now();
    loop {
        let containers = api::containers_left(docker, &stack.project).await?;
        if containers.is_empty() {
            break;
        }
        let left = containers.iter().filter(|(_, running)| *running).count();
        if left == 0 {
            for (id, _) in &containers {
                // Swarm may be removing it too: what matters is that it goes, seen above.
                if let Err(e) = docker.remove_container(id, false).await {
                    tracing::debug!(container = %id, error = %e.message(), "left to Swarm");
                }
            }
        }
        let left = containers.len();
        if started.elapsed() > DRAIN {
            return Err(Error::failed(format!(
                "{left} task container(s) of `{}` were still there after {}s; networks and volumes are kept",
                stack.project,
                DRAIN.as_secs()
            ))
            .with_hint("run `stackctl down --engine swarm` again once `docker ps -a` no longer lists them"));
        }
        tracing::debug!(left, "waiting for Swarm to remove the task containers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Networks and volumes carry compose's project label too (`spec::resource_labels`).
    for (id, name) in docker.project_networks(&stack.project).await? {
        remove_network(docker, &id, &name).await?;
        removed.networks.push(name);
    }
    if volumes {
        for name in docker.project_volumes(&stack.project).await? {
            docker.remove_volume(&name).await?;
            removed.volumes.push(name);
        }
    }
    Ok(removed)
}

/// An overlay network lingers in use for a moment after its last task container is gone (the
/// load balancer endpoint is released asynchronously): retry, bounded.
async fn remove_network(docker: &DockerApi, id: &str, name: &str) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        match docker.remove_network(id).await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                tracing::debug!(network = %name, error = %e.message(), "network busy; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One Swarm service's status.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    /// The Swarm service, when it exists.
    pub swarm_service: Option<String>,
    /// `replicated`, `global`, `job`, or `missing`.
    pub mode: String,
    pub running: u64,
    pub desired: u64,
    /// Completed tasks (a job's result).
    pub completed: u64,
    pub job: bool,
    /// The newest task's state and error, as `docker service ps` shows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_task: Option<String>,
    /// Where its tasks run: the hostname of each task's node (one per task that should be
    /// running; for a job, its newest task's), sorted.
    pub nodes: Vec<String>,
    pub ports: Vec<String>,
}

/// The status of every service in the stack file, read from Swarm.
pub async fn status(stack: &Stack, docker: &DockerApi) -> Result<Vec<ServiceStatus>, Error> {
    api::require_manager(docker).await?;
    let found = api::services(docker, &stack.project).await?;
    let names = api::node_names(docker).await?;
    let mut out = Vec::new();
    for (name, service) in &stack.services {
        let full = spec::service_name(stack, name);
        let Some(svc) = found
            .iter()
            .find(|s| s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(full.as_str()))
        else {
            out.push(ServiceStatus {
                service: name.clone(),
                swarm_service: None,
                mode: "missing".to_owned(),
                running: 0,
                desired: 0,
                completed: 0,
                job: service.is_job(),
                last_task: None,
                nodes: Vec::new(),
                ports: Vec::new(),
            });
            continue;
        };
        let mode = svc
            .spec
            .as_ref()
            .and_then(|s| s.mode.clone())
            .unwrap_or_default();
        let mode = if mode.replicated_job.is_some() || mode.global_job.is_some() {
            "job"
        } else if mode.global.is_some() {
            "global"
        } else {
            "replicated"
        };
        let counts = svc.service_status.clone().unwrap_or_default();
        let tasks = api::tasks(docker, &full).await?;
        let last_task = tasks
            .iter()
            .max_by_key(|t| t.updated_at.clone())
            .and_then(|t| t.status.clone())
            .map(|s| {
                let state = s.state.map(|s| s.to_string()).unwrap_or_default();
                match s.err.filter(|e| !e.is_empty()) {
                    Some(err) => format!("{state}: {err}"),
                    None => state,
                }
            });
        let nodes = task_nodes(&tasks, &names);
        let ports = svc
            .endpoint
            .as_ref()
            .and_then(|e| e.ports.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                Some(format!(
                    "*:{}->{}/{}",
                    p.published_port?,
                    p.target_port?,
                    p.protocol.map(|p| p.to_string()).unwrap_or_default()
                ))
            })
            .collect();
        out.push(ServiceStatus {
            service: name.clone(),
            swarm_service: Some(full),
            mode: mode.to_owned(),
            running: running_tasks(&tasks, &names),
            desired: counts.desired_tasks.unwrap_or(0),
            completed: counts.completed_tasks.unwrap_or(0),
            job: service.is_job(),
            last_task,
            nodes,
            ports,
        });
    }
    Ok(out)
}

/// How many tasks run as they should: desired and observed `running`, on a node that is not
/// down. Swarm's own count (`ServiceStatus.RunningTasks`) still counts a task on a node it lost
/// (its last report said running) while its replacement waits for a node, so `status` said
/// `1/1` for a service that had no task running.
fn running_tasks(tasks: &[bollard::models::Task], names: &HashMap<String, String>) -> u64 {
    let running = Some(bollard::models::TaskState::RUNNING);
    let count = tasks
        .iter()
        .filter(|t| t.desired_state == running)
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == running)
        // `NodeView::label`: only a node that is not ready carries its state in parentheses.
        .filter(|t| {
            t.node_id
                .as_deref()
                .is_some_and(|id| names.get(id).is_some_and(|n| !n.ends_with(')')))
        })
        .count();
    u64::try_from(count).unwrap_or(u64::MAX)
}

/// The nodes of the tasks that should be running (else of the newest task: a job's), by
/// hostname, sorted; a node the swarm no longer lists by its short id. A task waiting for a
/// node (Swarm moved it off a lost one, or its placement pins it there) names the lost node its
/// service's last placed task ran on: `stkn2 (down)`.
fn task_nodes(tasks: &[bollard::models::Task], names: &HashMap<String, String>) -> Vec<String> {
    let live: Vec<&bollard::models::Task> = tasks
        .iter()
        .filter(|t| t.desired_state == Some(bollard::models::TaskState::RUNNING))
        .collect();
    let chosen: Vec<&bollard::models::Task> = if live.is_empty() {
        tasks
            .iter()
            .max_by_key(|t| t.updated_at.clone())
            .into_iter()
            .collect()
    } else {
        live
    };
    let name = |id: &str| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.chars().take(12).collect())
    };
    let mut nodes: Vec<String> = chosen
        .iter()
        .filter_map(|t| t.node_id.as_deref())
        .map(name)
        .collect();
    let unplaced = chosen.iter().any(|t| t.node_id.is_none());
    let lost = tasks
        .iter()
        .filter(|t| t.node_id.is_some())
        .max_by_key(|t| t.updated_at.clone())
        .and_then(|t| t.node_id.as_deref())
        .map(name)
        // `NodeView::label`: only a node that is not ready carries its state in parentheses.
        .filter(|n| n.ends_with(')'));
    if let Some(lost) = lost.filter(|n| unplaced && !nodes.contains(n)) {
        nodes.push(lost);
    }
    nodes.sort();
    nodes
}

/// The status table for people.
#[must_use]
pub fn render(statuses: &[ServiceStatus]) -> String {
    use std::fmt::Write as _;
    let width = statuses
        .iter()
        .map(|s| s.service.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let nodes_width = statuses
        .iter()
        .map(|s| s.nodes.join(",").len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "{:width$}  {:10} {:9} {:24} {:nodes_width$} PORTS\n",
        "SERVICE", "MODE", "REPLICAS", "LAST TASK", "NODES"
    );
    for s in statuses {
        let replicas = if s.job {
            format!("{}/1 done", s.completed.min(1))
        } else {
            format!("{}/{}", s.running, s.desired)
        };
        let nodes = if s.nodes.is_empty() {
            "-".to_owned()
        } else {
            s.nodes.join(",")
        };
        let _ = writeln!(
            out,
            "{:width$}  {:10} {:9} {:24} {nodes:nodes_width$} {}",
            s.service,
            s.mode,
            replicas,
            s.last_task.as_deref().unwrap_or("-"),
            s.ports.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{Task, TaskState, TaskStatus};

    fn task(node: Option<&str>, desired: TaskState, state: TaskState, at: &str) -> Task {
        Task {
            node_id: node.map(str::to_owned),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                ..Default::default()
            }),
            updated_at: Some(at.to_owned()),
            ..Default::default()
        }
    }

    /// Two nodes, the second lost.
    fn lost_second() -> HashMap<String, String> {
        HashMap::from([
            ("n1".to_owned(), "stkn1".to_owned()),
            ("n2".to_owned(), "stkn2 (down)".to_owned()),
        ])
    }

    /// A task moved off the lost node: the old one still reads running, the new one waits.
    fn moved() -> [Task; 2] {
        [
            task(Some("n2"), TaskState::SHUTDOWN, TaskState::RUNNING, "1"),
            task(None, TaskState::RUNNING, TaskState::PENDING, "2"),
        ]
    }

    #[test]
    fn a_task_waiting_for_a_node_names_the_lost_one() {
        let names = lost_second();
        let moved = moved();
        assert_eq!(task_nodes(&moved, &names), ["stkn2 (down)"]);
        // The last node ready: a task waiting for a node names none.
        let names_ready = HashMap::from([("n2".to_owned(), "stkn2".to_owned())]);
        assert!(task_nodes(&moved, &names_ready).is_empty());
        // Placed tasks name their nodes only.
        let placed = [task(
            Some("n1"),
            TaskState::RUNNING,
            TaskState::RUNNING,
            "3",
        )];
        assert_eq!(task_nodes(&placed, &names), ["stkn1"]);
    }

    #[test]
    fn a_task_on_a_lost_node_is_not_counted_running() {
        let names = lost_second();
        assert_eq!(running_tasks(&moved(), &names), 0);
        // Pinned to the lost node: desired running, last seen running, on a node that is down.
        let pinned = [task(
            Some("n2"),
            TaskState::RUNNING,
            TaskState::RUNNING,
            "1",
        )];
        assert_eq!(running_tasks(&pinned, &names), 0);
        // Two replicas, one on each node: one runs.
        let two = [
            task(Some("n1"), TaskState::RUNNING, TaskState::RUNNING, "1"),
            task(Some("n2"), TaskState::RUNNING, TaskState::RUNNING, "1"),
        ];
        assert_eq!(running_tasks(&two, &names), 1);
        // Starting is not running yet.
        let starting = [task(
            Some("n1"),
            TaskState::RUNNING,
            TaskState::STARTING,
            "1",
        )];
        assert_eq!(running_tasks(&starting, &names), 0);
    }
}
