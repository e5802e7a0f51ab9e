//! `down`: remove what `up` made — the project's containers and networks, and with `-v` its
//! named volumes. Found by compose's labels, so it also cleans up after docker compose.
//!
//! Containers are stopped and removed in parallel (each gets its stop signal and the grace
//! period before SIGKILL, as `docker stop` gives it), then networks and volumes, which Docker
//! refuses to remove while a container still uses them.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};

use super::docker::DockerApi;
use super::labels;
use crate::error::Error;
use crate::stack::Stack;

/// How many containers are stopped at once: enough that a 40-service stack goes down in about
/// one grace period, few enough not to flood the daemon.
const PARALLEL: usize = 16;

/// What was removed.
#[derive(Debug, Default)]
pub struct Removed {
    /// Swarm services (`--engine swarm`).
    pub services: Vec<String>,
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

/// Removes the stack's containers (and orphans when asked; each stopped with `grace` before it
/// is killed — without one, the container's own stop timeout, which `up` set from the service's
/// `stop_grace_period`, or Docker's 10 s), networks, and volumes with `volumes`.
pub async fn down(
    stack: &Stack,
    docker: &DockerApi,
    volumes: bool,
    remove_orphans: bool,
    grace: Option<Duration>,
) -> Result<Removed, Error> {
    let mut removed = Removed::default();
    let mut doomed = Vec::new();
    for container in docker.project_containers(&stack.project).await? {
        let labels = container.labels.clone().unwrap_or_default();
        let service = labels.get(labels::SERVICE).cloned().unwrap_or_default();
        let oneoff = labels.get(labels::ONEOFF).map(String::as_str) == Some("True");
        let known = stack.services.contains_key(&service);
        let probe = labels.contains_key(labels::PROBE);
        if (!known || oneoff) && !remove_orphans && !probe {
            continue;
        }
        let id = container.id.clone().unwrap_or_default();
        let name = container
            .names
            .and_then(|n| n.first().cloned())
            .unwrap_or_else(|| id.clone())
            .trim_start_matches('/')
            .to_owned();
        doomed.push((id, name));
    }
    removed.containers = stream::iter(doomed)
        .map(|(id, name)| async move {
            docker.stop(&id, grace).await?;
            docker.remove_container(&id, volumes).await?;
            Ok::<_, Error>(name)
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    removed.containers.sort();
    for (id, name) in docker.project_networks(&stack.project).await? {
        docker.remove_network(&id).await?;
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
