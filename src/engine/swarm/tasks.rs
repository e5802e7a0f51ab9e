//! Where a stack service's task runs, whichever node that is: `probe`, `smoke` and catalogs
//! look a service up here before they look for a container, because a task on another node
//! has no container the manager could list (`/containers/json` is per node, `/tasks` is the
//! swarm's).

use std::collections::HashMap;

use bollard::models::{Task, TaskState};
use bollard::query_parameters::ListTasksOptionsBuilder;

use super::api;
use super::spec::NAMESPACE;
use crate::engine::docker::{DockerApi, daemon_error};
use crate::engine::labels;
use crate::error::Error;

/// A running task of a stack service.
#[derive(Debug, Clone, Default)]
pub struct RunningTask {
    /// The stack's service name (`web`), and Swarm's (`project_web`).
    pub service: String,
    pub swarm_service: String,
    pub task_id: String,
    /// The node that runs it: its id, its hostname, and whether it is the node stackctl talks
    /// to (where its container can be joined directly).
    pub node_id: String,
    pub node: String,
    pub here: bool,
    /// Its container, as the task's status reports it (on its own node).
    pub container_id: Option<String>,
    /// The image the service runs (`registry/name@sha256:…` when deployed through one).
    pub image: String,
    /// The networks the service is attached to, by id (what a one-shot service joins).
    pub network_ids: Vec<String>,
    /// Its addresses, network name → address, from the task's `NetworksAttachments`.
    pub addresses: Vec<(String, String)>,
}

/// The stack's services in Swarm, by stack service name → Swarm service; empty when the daemon
/// is not a swarm manager (a plain `up`'s containers are found by their labels instead).
///
/// # Errors
/// When the daemon cannot be asked.
pub async fn stack_services(
    docker: &DockerApi,
    project: &str,
) -> Result<HashMap<String, bollard::models::Service>, Error> {
    let info = docker
        .client()
        .info()
        .await
        .map_err(|e| daemon_error("cannot read the daemon's info", &e))?;
    let manager = info
        .swarm
        .as_ref()
        .and_then(|s| s.control_available)
        .unwrap_or(false);
    if !manager {
        tracing::debug!(
            project,
            "not a swarm manager: containers are found by labels"
        );
        return Ok(HashMap::new());
    }
    let found = api::services(docker, project).await?;
    Ok(found
        .into_iter()
        .filter(|s| {
            // Probe services stackctl left behind carry the namespace too: not the stack's.
            let l = s.spec.as_ref().and_then(|s| s.labels.as_ref());
            !l.is_some_and(|l| l.contains_key(labels::PROBE))
        })
        .filter_map(|s| {
            let name = s
                .spec
                .as_ref()?
                .labels
                .as_ref()?
                .get(labels::SERVICE)?
                .clone();
            Some((name, s))
        })
        .collect())
}

/// The running task of `service` (when it has several replicas, one on this node, else the
/// lowest slot's), or `None` when none runs.
///
/// # Errors
/// When the daemon cannot be asked.
pub async fn running_task(
    docker: &DockerApi,
    service: &str,
    swarm_service: &bollard::models::Service,
) -> Result<Option<RunningTask>, Error> {
    let Some(id) = swarm_service.id.clone() else {
        return Ok(None);
    };
    let spec = swarm_service.spec.clone().unwrap_or_default();
    let filters = HashMap::from([
        ("service", vec![id.as_str()]),
        ("desired-state", vec!["running"]),
    ]);
    let tasks = docker
        .client()
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| daemon_error(&format!("cannot list the tasks of `{service}`"), &e))?;
    let info = docker
        .client()
        .info()
        .await
        .map_err(|e| daemon_error("cannot read the daemon's info", &e))?;
    let this_node = info.swarm.and_then(|s| s.node_id).unwrap_or_default();
    // One on this node first (its own container can be joined: the service's exact view, and
    // no job to schedule), else the lowest slot.
    let mut running: Vec<Task> = tasks
        .into_iter()
        .filter(|t| api::state(t) == Some(TaskState::RUNNING))
        .collect();
    running.sort_by_key(|t| {
        (
            t.node_id.as_deref() != Some(this_node.as_str()),
            t.slot,
            t.created_at.clone(),
        )
    });
    let Some(task) = running.into_iter().next() else {
        tracing::debug!(service, "no running task");
        return Ok(None);
    };
    let node_id = task.node_id.clone().unwrap_or_default();
    let names = api::node_names(docker).await?;
    let node = names
        .get(&node_id)
        .cloned()
        .unwrap_or_else(|| node_id.chars().take(12).collect());
    let task_id = task.id.clone().unwrap_or_default();
    let addresses = match docker.get_json(&format!("/tasks/{task_id}")).await {
        Ok(json) => crate::engine::raw::attachment_addresses(&json),
        Err(e) => {
            tracing::debug!(task = %task_id, error = %e, "task addresses not read");
            Vec::new()
        }
    };
    let template = spec.task_template.unwrap_or_default();
    let found = RunningTask {
        service: service.to_owned(),
        swarm_service: spec.name.unwrap_or_default(),
        here: !node_id.is_empty() && node_id == this_node,
        container_id: task
            .status
            .and_then(|s| s.container_status)
            .and_then(|c| c.container_id),
        image: template
            .container_spec
            .and_then(|c| c.image)
            .unwrap_or_default(),
        network_ids: template
            .networks
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.target)
            .collect(),
        task_id,
        node_id,
        node,
        addresses,
    };
    tracing::debug!(service, node = %found.node, here = found.here, task = %found.task_id, "running task");
    Ok(Some(found))
}

/// The namespace label's filter value of a project (also what a probe service carries, so
/// `down` removes one left behind).
#[must_use]
pub fn namespace_label(project: &str) -> (String, String) {
    (NAMESPACE.to_owned(), project.to_owned())
}

/// How a service without a running task ended, as Docker would say it of a container:
/// `("exited", Some(code))` for a finished task (a job's), else Swarm's state of its newest
/// task (`pending`, `rejected`, …) and no code. `None` when it has no task at all.
///
/// # Errors
/// When the daemon cannot be asked.
pub async fn last_state(
    docker: &DockerApi,
    swarm_service: &bollard::models::Service,
) -> Result<Option<(String, Option<i64>)>, Error> {
    let Some(name) = swarm_service.spec.as_ref().and_then(|s| s.name.clone()) else {
        return Ok(None);
    };
    let tasks = api::tasks(docker, &name).await?;
    let Some(newest) = tasks.into_iter().max_by_key(|t| t.updated_at.clone()) else {
        return Ok(None);
    };
    let status = newest.status.unwrap_or_default();
    let code = status.container_status.and_then(|c| c.exit_code);
    Ok(Some(match status.state {
        Some(TaskState::COMPLETE) => ("exited".to_owned(), Some(code.unwrap_or(0))),
        Some(TaskState::FAILED) if code.is_some() => ("exited".to_owned(), code),
        Some(state) => (state.to_string(), None),
        None => ("unknown".to_owned(), None),
    }))
}

/// A service's healthcheck test (`["CMD", …]`), empty when it has none. Read as JSON: the
/// Engine API writes the field `Healthcheck`, bollard's model reads `HealthCheck` (Go decodes
/// names case-insensitively, serde does not), so the model's field is always empty on the way
/// back.
pub async fn healthcheck(
    docker: &DockerApi,
    swarm_service: &bollard::models::Service,
) -> Vec<String> {
    let Some(id) = swarm_service.id.as_deref() else {
        return Vec::new();
    };
    match docker.get_json(&format!("/services/{id}")).await {
        Ok(json) => json
            .pointer("/Spec/TaskTemplate/ContainerSpec/Healthcheck/Test")
            .and_then(|t| t.as_array())
            .map(|t| {
                t.iter()
                    .filter_map(|w| w.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Err(e) => {
            tracing::debug!(service = %id, error = %e, "healthcheck not read");
            Vec::new()
        }
    }
}
