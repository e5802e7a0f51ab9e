//! The Swarm half of the Engine API through bollard: services, tasks, overlay networks, scoped
//! to one stack by `com.docker.stack.namespace`.

use std::collections::HashMap;

use bollard::models::{
    LocalNodeState, NetworkCreateRequest, Service, ServiceSpec, Task, TaskState,
};
use bollard::query_parameters::{
    InspectServiceOptions, ListNetworksOptionsBuilder, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};

use super::spec::NAMESPACE;
use crate::engine::docker::{DockerApi, daemon_error, is_not_found};
use crate::error::Error;

const SWARM_HINT: &str = "make this host a single-node swarm with `docker swarm init --advertise-addr 127.0.0.1` (undo: `docker swarm leave --force`), or point DOCKER_HOST at a manager";

/// The swarm as the manager stackctl talks to sees it.
#[derive(Debug, Clone, Default)]
pub struct SwarmInfo {
    /// Nodes in the swarm.
    pub nodes: u64,
    /// Managers among them.
    pub managers: u64,
    /// This node's id and hostname (for placement constraints that pin a service here).
    pub node_id: String,
    pub hostname: String,
}

/// Fails unless the daemon is an active swarm manager (services can only be made there).
#[tracing::instrument(
    level = "debug",
    name = "docker",
    skip_all,
    fields(call = "swarm_state")
)]
pub async fn require_manager(docker: &DockerApi) -> Result<SwarmInfo, Error> {
    let info = docker
        .client()
        .info()
        .await
        .map_err(|e| daemon_error("cannot read the daemon's info", &e))?;
    let swarm = info.swarm.unwrap_or_default();
    if swarm.local_node_state != Some(LocalNodeState::ACTIVE) {
        return Err(
            Error::failed("this Docker daemon is not part of a swarm (`--engine swarm`)")
                .with_hint(SWARM_HINT),
        );
    }
    if swarm.control_available != Some(true) {
        return Err(Error::failed(
            "this Docker daemon is a swarm worker; services are made on a manager",
        )
        .with_hint(SWARM_HINT));
    }
    let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).unwrap_or(1);
    let found = SwarmInfo {
        nodes: count(swarm.nodes),
        managers: count(swarm.managers),
        node_id: swarm.node_id.unwrap_or_default(),
        hostname: info.name.unwrap_or_default(),
    };
    tracing::debug!(nodes = found.nodes, managers = found.managers, node = %found.hostname, "swarm");
    Ok(found)
}

/// A node of the swarm as `status` and `up` tell it: its hostname, and whether the manager
/// sees it `ready` (`Status.State`; `down` when its daemon or its network is lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub id: String,
    pub hostname: String,
    /// `Status.State`: `ready`, `down`, `unknown`, `disconnected`.
    pub state: String,
    /// `Spec.Availability`: `active`, `pause`, `drain`.
    pub availability: String,
}

impl NodeView {
    #[must_use]
    pub fn ready(&self) -> bool {
        self.state.is_empty() || self.state == "ready"
    }

    /// `stkn2`, or `stkn2 (down)` when the manager does not see it ready.
    #[must_use]
    pub fn label(&self) -> String {
        if self.ready() {
            self.hostname.clone()
        } else {
            format!("{} ({})", self.hostname, self.state)
        }
    }
}

/// The swarm's nodes (`GET /nodes`).
#[tracing::instrument(
    level = "debug",
    name = "docker",
    skip_all,
    fields(call = "list_nodes")
)]
pub async fn nodes(docker: &DockerApi) -> Result<Vec<NodeView>, Error> {
    let nodes = docker
        .client()
        .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
        .await
        .map_err(|e| daemon_error("cannot list the swarm's nodes", &e))?;
    Ok(nodes
        .into_iter()
        .filter_map(|n| {
            let id = n.id?;
            let hostname = n
                .description
                .and_then(|d| d.hostname)
                .unwrap_or_else(|| id.chars().take(12).collect());
            let state = n
                .status
                .and_then(|s| s.state)
                .map(|s| s.to_string())
                .unwrap_or_default();
            let availability = n
                .spec
                .and_then(|s| s.availability)
                .map(|a| a.to_string())
                .unwrap_or_default();
            Some(NodeView {
                id,
                hostname,
                state,
                availability,
            })
        })
        .collect())
}

/// Every node's hostname by its id, for telling where tasks run; a node that is not `ready`
/// (its daemon lost, a partition) says so: `stkn3 (down)`.
pub async fn node_names(docker: &DockerApi) -> Result<HashMap<String, String>, Error> {
    Ok(nodes(docker)
        .await?
        .into_iter()
        .map(|n| (n.id.clone(), n.label()))
        .collect())
}

fn namespace_filter(project: &str) -> String {
    format!("{NAMESPACE}={project}")
}

/// The stack's services.
#[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "list_services", project = %project))]
pub async fn services(docker: &DockerApi, project: &str) -> Result<Vec<Service>, Error> {
    let label = namespace_filter(project);
    let filters = HashMap::from([("label", vec![label.as_str()])]);
    docker
        .client()
        .list_services(Some(
            ListServicesOptionsBuilder::new()
                .filters(&filters)
                .status(true)
                .build(),
        ))
        .await
        .map_err(|e| daemon_error("cannot list services", &e))
}

/// One service, if it exists.
#[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "inspect_service", name = %name))]
pub async fn service(docker: &DockerApi, name: &str) -> Result<Option<Service>, Error> {
    match docker
        .client()
        .inspect_service(name, None::<InspectServiceOptions>)
        .await
    {
        Ok(found) => Ok(Some(found)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(daemon_error(
            &format!("cannot inspect service `{name}`"),
            &e,
        )),
    }
}

#[tracing::instrument(
    level = "debug",
    name = "docker",
    skip_all,
    fields(call = "create_service")
)]
pub async fn create(docker: &DockerApi, spec: ServiceSpec) -> Result<(), Error> {
    let name = spec.name.clone().unwrap_or_default();
    docker
        .client()
        .create_service(spec, None)
        .await
        .map_err(|e| daemon_error(&format!("cannot create service `{name}`"), &e))?;
    Ok(())
}

/// Replaces a service's spec; `version` is the one read last (Swarm's optimistic lock).
#[tracing::instrument(
    level = "debug",
    name = "docker",
    skip_all,
    fields(call = "update_service")
)]
pub async fn update(docker: &DockerApi, spec: ServiceSpec, version: u64) -> Result<(), Error> {
    let name = spec.name.clone().unwrap_or_default();
    let options = UpdateServiceOptionsBuilder::new()
        .version(i32::try_from(version).unwrap_or(i32::MAX))
        .build();
    docker
        .client()
        .update_service(&name, spec, options, None)
        .await
        .map_err(|e| daemon_error(&format!("cannot update service `{name}`"), &e))?;
    Ok(())
}

#[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "delete_service", name = %name))]
pub async fn remove(docker: &DockerApi, name: &str) -> Result<(), Error> {
    match docker.client().delete_service(name).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(daemon_error(&format!("cannot remove service `{name}`"), &e)),
    }
}

/// A service's tasks, current and past (Swarm keeps a few per slot).
#[tracing::instrument(level = "trace", name = "docker", skip_all, fields(call = "list_tasks", service = %service))]
pub async fn tasks(docker: &DockerApi, service: &str) -> Result<Vec<Task>, Error> {
    let filters = HashMap::from([("service", vec![service])]);
    docker
        .client()
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| daemon_error(&format!("cannot list the tasks of `{service}`"), &e))
}

/// Creates an attachable overlay network unless it exists; an existing network of another
/// driver (a `bridge` left by a plain `up`) is an error, as Swarm cannot use it.
#[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "ensure_overlay", name = %name))]
pub async fn ensure_overlay(
    docker: &DockerApi,
    name: &str,
    labels: HashMap<String, String>,
) -> Result<bool, Error> {
    let filters = HashMap::from([("name", vec![name])]);
    let existing = docker
        .client()
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| daemon_error("cannot list networks", &e))?;
    if let Some(found) = existing.iter().find(|n| n.name.as_deref() == Some(name)) {
        let driver = found.driver.clone().unwrap_or_default();
        if driver != "overlay" {
            return Err(Error::failed(format!(
                "network `{name}` exists with driver `{driver}`; Swarm services need an overlay network"
            ))
            .with_hint("it is left from a plain `stackctl up`: run `stackctl down` first"));
        }
        return Ok(false);
    }
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("overlay".to_owned()),
        // Attachable: `stackctl probe` (and `docker run --network`) can join it; stack
        // deploy's overlays refuse that.
        attachable: Some(true),
        labels: Some(labels),
        ..Default::default()
    };
    docker
        .client()
        .create_network(request)
        .await
        .map_err(|e| daemon_error(&format!("cannot create network `{name}`"), &e))?;
    Ok(true)
}

/// The stack's task containers left on this node: `(id, running)`.
pub async fn containers_left(
    docker: &DockerApi,
    project: &str,
) -> Result<Vec<(String, bool)>, Error> {
    let label = namespace_filter(project);
    let found = docker.containers_labelled(&[&label]).await?;
    Ok(found
        .into_iter()
        .map(|c| {
            let running = c.state.is_some_and(|s| s.to_string() == "running");
            (c.id.unwrap_or_default(), running)
        })
        .collect())
}

/// A task's address on a network, whichever node runs it: from the task's
/// `NetworksAttachments`, which the manager fills when it allocates the task (bollard's `Task`
/// leaves the field out, hence `get_json`). Where that cannot be read (a `DOCKER_HOST` the plain
/// client does not speak), from the task's container — on this node only.
pub async fn task_address(docker: &DockerApi, task: &Task, network: &str) -> Option<String> {
    let id = task.id.as_deref()?;
    match docker.get_json(&format!("/tasks/{id}")).await {
        Ok(json) => return crate::engine::raw::attachment_address(&json, network),
        Err(e) => tracing::debug!(task = %id, error = %e, "task read from its container instead"),
    }
    let container = task
        .status
        .as_ref()?
        .container_status
        .as_ref()?
        .container_id
        .clone()?;
    let inspect = docker.inspect(&container).await.ok()?;
    let networks = inspect.network_settings?.networks?;
    networks
        .get(network)?
        .ip_address
        .clone()
        .filter(|ip| !ip.is_empty())
}

/// A task's state.
#[must_use]
pub fn state(task: &Task) -> Option<TaskState> {
    task.status.as_ref()?.state
}
