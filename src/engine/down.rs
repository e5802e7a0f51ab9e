//! `down`: remove what `up` made — the project's containers and networks, and with `-v` its
//! named volumes. Found by compose's labels, so it also cleans up after docker compose.

use super::docker::DockerApi;
use super::labels;
use crate::error::Error;
use crate::stack::Stack;

/// What was removed.
#[derive(Debug, Default)]
pub struct Removed {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

/// Removes the stack's containers (and orphans when asked), networks, and volumes with `volumes`.
pub async fn down(
    stack: &Stack,
    docker: &DockerApi,
    volumes: bool,
    remove_orphans: bool,
) -> Result<Removed, Error> {
    let mut removed = Removed::default();
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
        docker.remove_container(&id, volumes).await?;
        let name = container
            .names
            .and_then(|n| n.first().cloned())
            .unwrap_or(id)
            .trim_start_matches('/')
            .to_owned();
        removed.containers.push(name);
    }
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
