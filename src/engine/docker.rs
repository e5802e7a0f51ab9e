//! The Docker Engine API through bollard, with errors turned into ours. Only what the engine
//! needs; everything is scoped to one project by compose's labels.

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, EndpointSettings,
    EventMessage, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    EventsOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use super::labels;
use crate::error::Error;

/// A connection to the Docker daemon, its API version negotiated.
#[derive(Clone)]
pub struct DockerApi {
    docker: Docker,
    version: (u32, u32),
}

/// A daemon error in our words: `what: reason`.
pub(crate) fn daemon_error(what: &str, err: &bollard::errors::Error) -> Error {
    let text = match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Error::failed(format!("{what}: {}", crate::reason::lowercase_first(&text)))
}

/// The last lines of a log stream, redacted. `tail` bounds the lines, not their length: only
/// the last bytes are kept.
async fn tail_of(
    mut stream: impl Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>>
    + Unpin,
) -> Vec<String> {
    let mut tail = crate::limits::Tail::new(crate::limits::LOG_TAIL_LIMIT);
    while let Some(Ok(chunk)) = stream.next().await {
        tail.push(&chunk.into_bytes());
    }
    tail.lines()
        .iter()
        .map(|line| crate::redact::text(line))
        .collect()
}

/// 304: the container was already stopped.
fn is_not_modified(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 304,
            ..
        }
    )
}

/// True for the daemon's 404.
pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl DockerApi {
    /// Connects (`DOCKER_HOST` or the local socket) and negotiates the API version, which
    /// Engine 20.10 (API 1.41) needs.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "connect"))]
    pub async fn connect() -> Result<Self, Error> {
        let hint = "is the Docker daemon running, and may this user reach its socket? (`docker info` tells)";
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| daemon_error("cannot reach the Docker daemon", &e).with_hint(hint))?
            .negotiate_version()
            .await
            .map_err(|e| daemon_error("cannot reach the Docker daemon", &e).with_hint(hint))?;
        let version = docker.client_version();
        let part = |n: usize| u32::try_from(n).unwrap_or(0);
        Ok(Self {
            version: (part(version.major_version), part(version.minor_version)),
            docker,
        })
    }

    /// The bollard client, for the engine's neighbours that need more of the API than the
    /// engine does (the throw-away probe containers of `netns`).
    #[must_use]
    pub(crate) fn client(&self) -> &Docker {
        &self.docker
    }

    /// True when the negotiated API is at least `major.minor`.
    #[must_use]
    pub fn api_at_least(&self, major: u32, minor: u32) -> bool {
        self.version >= (major, minor)
    }

    /// `GET path` of the Engine API at the negotiated version, as JSON: for the fields bollard's
    /// models leave out (`super::raw`).
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "get_json", path = %path))]
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, String> {
        super::raw::get_json(self.version, path).await
    }

    /// The id of a local image, if present.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "image_id", image = %image))]
    pub async fn image_id(&self, image: &str) -> Result<Option<String>, Error> {
        match self.docker.inspect_image(image).await {
            Ok(found) => Ok(found.id),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(daemon_error(&format!("cannot inspect image `{image}`"), &e)),
        }
    }

    /// Pulls an image; `progress` gets the daemon's status lines.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "pull", image = %image))]
    pub async fn pull(&self, image: &str, mut progress: impl FnMut(&str)) -> Result<(), Error> {
        let (name, tag) = split_tag(image);
        let options = CreateImageOptionsBuilder::new()
            .from_image(name)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(status) = info.status {
                        progress(&status);
                    }
                }
                Err(e) => {
                    return Err(daemon_error(&format!("cannot pull image `{image}`"), &e).with_hint(
                        "no registry reachable? build the image locally (`build:` in the stack file) or load it with `docker load`",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Builds an image from a directory.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "build", tag = %tag))]
    pub async fn build(
        &self,
        tag: &str,
        context: &Path,
        dockerfile: Option<&str>,
        args: &HashMap<String, String>,
        labels: &HashMap<String, String>,
    ) -> Result<(), Error> {
        let archive = tar_directory(context)?;
        let mut builder = BuildImageOptionsBuilder::new()
            .t(tag)
            .rm(true)
            .forcerm(true)
            .buildargs(args)
            .labels(labels);
        if let Some(file) = dockerfile {
            builder = builder.dockerfile(file);
        }
        let mut stream = self.docker.build_image(
            builder.build(),
            None,
            Some(bollard::body_full(archive.into())),
        );
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(error) = info.error_detail.and_then(|d| d.message) {
                        return Err(Error::failed(format!(
                            "building `{tag}` failed: {}",
                            error.trim()
                        ))
                        .with_hint(format!("last build output:\n{}", tail.join("\n"))));
                    }
                    if let Some(line) = info.stream {
                        let line =
                            crate::limits::fit(line.trim_end(), crate::limits::LOG_LINE_LIMIT)
                                .into_owned();
                        if !line.is_empty() {
                            tail.push(line);
                            if tail.len() > 10 {
                                tail.remove(0);
                            }
                        }
                    }
                }
                Err(e) => return Err(daemon_error(&format!("building `{tag}` failed"), &e)),
            }
        }
        Ok(())
    }

    /// Creates the network unless one with that name exists (before API 1.44, creating a
    /// duplicate name succeeds, so look first).
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "ensure_network", name = %name))]
    pub async fn ensure_network(
        &self,
        name: &str,
        driver: Option<&str>,
        labels: HashMap<String, String>,
    ) -> Result<bool, Error> {
        let filters = HashMap::from([("name", vec![name])]);
        let existing = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| daemon_error("cannot list networks", &e))?;
        if existing.iter().any(|n| n.name.as_deref() == Some(name)) {
            return Ok(false);
        }
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: driver.map(str::to_owned),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map_err(|e| daemon_error(&format!("cannot create network `{name}`"), &e))?;
        Ok(true)
    }

    /// Creates the named volume if absent.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "ensure_volume", name = %name))]
    pub async fn ensure_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<bool, Error> {
        if self.docker.inspect_volume(name).await.is_ok() {
            return Ok(false);
        }
        let request = VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map_err(|e| daemon_error(&format!("cannot create volume `{name}`"), &e))?;
        Ok(true)
    }

    /// Every container of the project, running or not.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "project_containers", project = %project))]
    pub async fn project_containers(&self, project: &str) -> Result<Vec<ContainerSummary>, Error> {
        let label = format!("{}={project}", labels::PROJECT);
        self.containers_labelled(&[&label]).await
    }

    /// Every container, running or not, with all of these labels (`KEY` or `KEY=VALUE`).
    pub async fn containers_labelled(
        &self,
        labels: &[&str],
    ) -> Result<Vec<ContainerSummary>, Error> {
        let filters = HashMap::from([("label", labels.to_vec())]);
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| daemon_error("cannot list containers", &e))
    }

    /// Every network with all of these labels.
    pub async fn networks_labelled(
        &self,
        labels: &[&str],
    ) -> Result<Vec<bollard::models::Network>, Error> {
        let filters = HashMap::from([("label", labels.to_vec())]);
        self.docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| daemon_error("cannot list networks", &e))
    }

    /// Every volume with all of these labels.
    pub async fn volumes_labelled(
        &self,
        labels: &[&str],
    ) -> Result<Vec<bollard::models::Volume>, Error> {
        let filters = HashMap::from([("label", labels.to_vec())]);
        Ok(self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| daemon_error("cannot list volumes", &e))?
            .volumes
            .unwrap_or_default())
    }

    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "create", name = %name))]
    pub async fn create(&self, name: &str, body: ContainerCreateBody) -> Result<String, Error> {
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map(|r| r.id)
            .map_err(|e| {
                let error = daemon_error(&format!("cannot create container `{name}`"), &e);
                if matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) {
                    error.with_hint(format!(
                        "a container named `{name}` exists outside this project; remove it (`docker rm -f {name}`) or change `container_name`"
                    ))
                } else {
                    error
                }
            })
    }

    #[tracing::instrument(
        level = "debug",
        name = "docker",
        skip_all,
        fields(call = "connect_network")
    )]
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: Vec<String>,
    ) -> Result<(), Error> {
        let request = NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| {
                daemon_error(
                    &format!("cannot connect `{container}` to network `{network}`"),
                    &e,
                )
            })
    }

    /// Takes a container off a network (to connect it again with other aliases).
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "disconnect_network", network = %network))]
    pub async fn disconnect_network(&self, network: &str, container: &str) -> Result<(), Error> {
        let request = NetworkDisconnectRequest {
            container: container.to_owned(),
            force: Some(true),
        };
        self.docker
            .disconnect_network(network, request)
            .await
            .map_err(|e| {
                daemon_error(
                    &format!("cannot disconnect `{container}` from network `{network}`"),
                    &e,
                )
            })
    }

    /// The id of the network of that name, if it exists.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "network_id", name = %name))]
    pub async fn network_id(&self, name: &str) -> Result<Option<String>, Error> {
        match self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(found) => Ok(found.id),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(daemon_error(
                &format!("cannot inspect network `{name}`"),
                &e,
            )),
        }
    }

    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "unpause", id = %id))]
    pub async fn unpause(&self, id: &str, name: &str) -> Result<(), Error> {
        self.docker
            .unpause_container(id)
            .await
            .map_err(|e| daemon_error(&format!("cannot unpause `{name}`"), &e))
    }

    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "start", id = %id, name = %name))]
    pub async fn start(&self, id: &str, name: &str) -> Result<(), Error> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| daemon_error(&format!("cannot start `{name}`"), &e))
    }

    /// Runs a command inside a running container (as Docker runs a `HEALTHCHECK`) and returns
    /// its exit code; `None` when it could not be run.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "exec", id = %id))]
    pub async fn exec(&self, id: &str, cmd: Vec<String>) -> Option<i64> {
        let config = bollard::models::ExecConfig {
            cmd: Some(cmd),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self.docker.create_exec(id, config).await.ok()?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&created.id, None).await.ok()?
        {
            // Drain the output first: the exit code is only set once the stream has ended.
            while let Some(Ok(_)) = output.next().await {}
        }
        self.docker.inspect_exec(&created.id).await.ok()?.exit_code
    }

    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "inspect", id = %id))]
    pub async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, Error> {
        self.docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(|e| daemon_error(&format!("cannot inspect container `{id}`"), &e))
    }

    /// Stops a container: its stop signal, then SIGKILL after `grace` (as `docker stop -t`), or
    /// after the container's own `StopTimeout` (Docker's default: 10 s) without one.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "stop", id = %id, grace = ?grace))]
    pub async fn stop(&self, id: &str, grace: Option<std::time::Duration>) -> Result<(), Error> {
        let options = grace.map(|grace| {
            let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
            StopContainerOptionsBuilder::new().t(seconds).build()
        });
        let result = self.docker.stop_container(id, options).await;
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) || is_not_modified(&e) => Ok(()),
            Err(e) => Err(daemon_error(&format!("cannot stop container `{id}`"), &e)),
        }
    }

    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "remove_container", id = %id))]
    pub async fn remove_container(&self, id: &str, volumes: bool) -> Result<(), Error> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(volumes)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(daemon_error(&format!("cannot remove container `{id}`"), &e)),
        }
    }

    /// The last `lines` lines of a container's output since `since` (unix seconds; 0 = all).
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "log_tail", id = %id))]
    pub async fn log_tail(&self, id: &str, lines: usize, since: i64) -> Vec<String> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .since(i32::try_from(since).unwrap_or(0))
            .tail(&lines.to_string())
            .build();
        tail_of(self.docker.logs(id, Some(options))).await
    }

    /// The last `lines` lines of a Swarm task's output, whichever node ran it.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "task_log_tail", id = %id))]
    pub async fn task_log_tail(&self, id: &str, lines: usize) -> Vec<String> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        tail_of(self.docker.task_logs(id, Some(options))).await
    }

    /// The last `lines` lines of a container's output, each with the time Docker received it.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "log_tail_timestamped", id = %id))]
    pub async fn log_tail_timestamped(
        &self,
        id: &str,
        lines: usize,
    ) -> Vec<(Option<std::time::SystemTime>, String)> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text.lines()
            .map(|line| match line.split_once(' ') {
                Some((at, rest)) => match humantime::parse_rfc3339_weak(at) {
                    Ok(at) => (Some(at), rest.to_owned()),
                    Err(_) => (None, line.to_owned()),
                },
                None => (None, line.to_owned()),
            })
            .collect()
    }

    /// Container events of the project (start, die, health_status...).
    pub fn events(
        &self,
        project: &str,
    ) -> impl Stream<Item = Result<EventMessage, bollard::errors::Error>> + use<> {
        let label = format!("{}={project}", labels::PROJECT);
        let filters = HashMap::from([("label", vec![label.as_str()]), ("type", vec!["container"])]);
        self.docker
            .events(Some(EventsOptionsBuilder::new().filters(&filters).build()))
    }

    /// Every compose project that has a container, a network or a volume on this daemon.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "projects"))]
    pub async fn projects(&self) -> Result<std::collections::BTreeSet<String>, Error> {
        let key = [labels::PROJECT];
        let project = |labels: Option<&HashMap<String, String>>| {
            labels.and_then(|l| l.get(labels::PROJECT).cloned())
        };
        let containers = self.containers_labelled(&key).await?;
        let networks = self.networks_labelled(&key).await?;
        let volumes = self.volumes_labelled(&key).await?;
        Ok(containers
            .iter()
            .filter_map(|c| project(c.labels.as_ref()))
            .chain(networks.iter().filter_map(|n| project(n.labels.as_ref())))
            .chain(volumes.iter().filter_map(|v| project(Some(&v.labels))))
            .collect())
    }

    /// Networks labelled with the project: (id, name).
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "project_networks", project = %project))]
    pub async fn project_networks(&self, project: &str) -> Result<Vec<(String, String)>, Error> {
        let label = format!("{}={project}", labels::PROJECT);
        Ok(self
            .networks_labelled(&[&label])
            .await?
            .into_iter()
            .map(|n| (n.id.unwrap_or_default(), n.name.unwrap_or_default()))
            .collect())
    }

    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "remove_network", id = %id))]
    pub async fn remove_network(&self, id: &str) -> Result<(), Error> {
        match self.docker.remove_network(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(daemon_error(&format!("cannot remove network `{id}`"), &e)),
        }
    }

    /// Volumes labelled with the project.
    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "project_volumes", project = %project))]
    pub async fn project_volumes(&self, project: &str) -> Result<Vec<String>, Error> {
        let label = format!("{}={project}", labels::PROJECT);
        Ok(self
            .volumes_labelled(&[&label])
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    #[tracing::instrument(level = "debug", name = "docker", skip_all, fields(call = "remove_volume", name = %name))]
    pub async fn remove_volume(&self, name: &str) -> Result<(), Error> {
        match self
            .docker
            .remove_volume(
                name,
                Some(RemoveVolumeOptionsBuilder::new().force(true).build()),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(daemon_error(&format!("cannot remove volume `{name}`"), &e)),
        }
    }
}

/// `name:tag` (a registry port is not a tag); `latest` when absent.
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

/// The build context as a tar archive in memory (contexts of test and chat images are small).
fn tar_directory(dir: &Path) -> Result<Vec<u8>, Error> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .and_then(|()| builder.into_inner())
        .map_err(|e| {
            Error::usage(format!(
                "cannot read the build context `{}`: {e}",
                dir.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_tags() {
        assert_eq!(super::split_tag("mongo:7.0"), ("mongo", "7.0"));
        assert_eq!(
            super::split_tag("registry:5000/app"),
            ("registry:5000/app", "latest")
        );
        assert_eq!(super::split_tag("app"), ("app", "latest"));
    }
}
