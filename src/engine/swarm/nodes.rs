//! What a swarm of several nodes needs that one node does not: every task may run on any node,
//! so its image must come from a registry every node pulls from, and a host path it
//! bind-mounts must exist wherever it lands. stackctl only sees the manager it talks to, so it
//! refuses — before deploying anything — what would reach only that node, and pushes local
//! images to `--registry` (or to the registry their name already points at) to deploy them by
//! digest.

use std::fmt::Write as _;

use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

use super::api::SwarmInfo;
use crate::engine::docker::{DockerApi, daemon_error};
use crate::error::Error;
use crate::stack::{MountKind, Service, Stack};

/// Where a local image goes so that every node can pull it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `registry/path`, without tag.
    pub repository: String,
    pub tag: String,
}

/// An image reference split the way Docker splits it (distribution's `reference` package,
/// `splitDockerDomain`): the first path component names a registry when it holds a `.` or a
/// `:`, or is `localhost`; else the image is on Docker Hub.
fn split(reference: &str) -> (Option<&str>, &str, Option<&str>) {
    let name = reference.split('@').next().unwrap_or(reference);
    // The tag is after the last `:` that follows the last `/` (a port is before it).
    let (path, tag) = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    };
    match path.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest, tag)
        }
        _ => (None, path, tag),
    }
}

/// Checks `--registry HOST[:PORT][/PATH]`: what Docker would take for a registry.
pub fn parse_registry(value: &str) -> Result<String, Error> {
    let value = value.trim_end_matches('/');
    let hint = "give the registry as Docker names it in an image, HOST:PORT or HOST/PATH (`--registry 192.168.1.5:5000`, `--registry registry.example.org/team`), without a scheme";
    if value.contains("://") {
        return Err(Error::usage(format!(
            "`--registry {value}`: a scheme is not part of a registry name"
        ))
        .with_hint(hint));
    }
    let first = value.split('/').next().unwrap_or_default();
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return Err(Error::usage(format!(
            "`--registry {value}`: `{first}` is not a registry host (Docker would read it as a Docker Hub namespace)"
        ))
        .with_hint(hint));
    }
    Ok(value.to_owned())
}

/// Where `image` goes: under `registry` when one is given, else under the registry its own
/// name points at; `None` when it names none (a Docker Hub name, or a local build's name).
#[must_use]
pub fn destination(image: &str, registry: Option<&str>) -> Option<Destination> {
    let (domain, path, tag) = split(image);
    let tag = tag.unwrap_or("latest").to_owned();
    match (registry, domain) {
        (Some(registry), _) => Some(Destination {
            repository: format!("{registry}/{path}"),
            tag,
        }),
        (None, Some(domain)) => Some(Destination {
            repository: format!("{domain}/{path}"),
            tag,
        }),
        (None, None) => None,
    }
}

/// The name a service's image has (compose's default for a build without `image:`).
fn image_name(stack: &Stack, service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{}-{}", stack.project, service.name))
}

/// True when one of a service's placement constraints keeps it on the node stackctl talks to.
fn pinned_here(constraints: &[String], swarm: &SwarmInfo) -> bool {
    constraints.iter().any(|c| {
        let Some((key, value)) = c.split_once("==") else {
            return false;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "node.hostname" => value == swarm.hostname,
            "node.id" => value == swarm.node_id,
            "node.role" => value == "manager" && swarm.managers == 1,
            _ => false,
        }
    })
}

/// Refuses, before anything is deployed, what would reach only this node on a swarm of
/// several: an image without a registry to come from, a bind-mounted host path. One error
/// names every such service.
pub async fn refuse_node_local(
    stack: &Stack,
    selected: &std::collections::BTreeSet<String>,
    docker: &DockerApi,
    swarm: &SwarmInfo,
    registry: Option<&str>,
) -> Result<(), Error> {
    if swarm.nodes <= 1 {
        return Ok(());
    }
    let mut images = Vec::new();
    let mut binds = Vec::new();
    for name in selected {
        let service = &stack.services[name];
        let image = image_name(stack, service);
        if destination(&image, registry).is_none() {
            let local_only = if service.build.is_some() {
                true
            } else {
                match docker.client().inspect_image(&image).await {
                    // Pulled images carry the digest every node can pull them by.
                    Ok(found) => found.repo_digests.unwrap_or_default().is_empty(),
                    // Not here: `up` pulls it, from a registry the other nodes reach too.
                    Err(_) => false,
                }
            };
            if local_only {
                images.push(format!("`{name}` (`{image}`)"));
            }
        }
        let constraints = service
            .deploy
            .as_ref()
            .map(|d| d.constraints.clone())
            .unwrap_or_default();
        if pinned_here(&constraints, swarm) {
            continue;
        }
        for mount in &service.volumes {
            if mount.kind == MountKind::Bind {
                binds.push(format!("`{name}` bind-mounts `{}`", mount.source));
            }
        }
    }
    tracing::debug!(
        nodes = swarm.nodes,
        local_images = images.len(),
        binds = binds.len(),
        "node-local checks"
    );
    let others = swarm.nodes - 1;
    let mut message = String::new();
    if !images.is_empty() {
        let _ = write!(
            message,
            "{} exist only on this node (built or loaded here, with no registry digest); the swarm's other {others} node(s) cannot pull them",
            images.join(", ")
        );
    }
    if !binds.is_empty() {
        if !message.is_empty() {
            message.push_str("; ");
        }
        let _ = write!(
            message,
            "{} from this node's filesystem, which the swarm's other {others} node(s) do not have",
            binds.join(", ")
        );
    }
    if message.is_empty() {
        return Ok(());
    }
    let for_images = "push the images to a registry every node reaches: `--registry HOST:PORT` pushes them there and deploys them by digest (or name them `HOST:PORT/NAME` in the stack file)";
    let for_binds = format!(
        "copy the files into the image (for stackctl itself, the stackctl image: `bash compose/kubernetes/build-stackctl-image.sh`), make a small file a Swarm config, or pin the service here with `deploy.placement.constraints: [node.hostname == {}]`",
        swarm.hostname
    );
    let hint = match (images.is_empty(), binds.is_empty()) {
        (true, _) => for_binds,
        (false, true) => for_images.to_owned(),
        (false, false) => format!("{for_images}; for the host paths, {for_binds}"),
    };
    Err(Error::failed(format!("not deployed: {message}")).with_hint(hint))
}

/// Pushes a local image to `to` (tagging it there first) and returns the reference by digest
/// that every node pulls: `registry/path@sha256:…`.
pub async fn push(docker: &DockerApi, image: &str, to: &Destination) -> Result<String, Error> {
    let target = format!("{}:{}", to.repository, to.tag);
    if target != image {
        docker
            .client()
            .tag_image(
                image,
                Some(
                    TagImageOptionsBuilder::new()
                        .repo(&to.repository)
                        .tag(&to.tag)
                        .build(),
                ),
            )
            .await
            .map_err(|e| daemon_error(&format!("cannot tag `{image}` as `{target}`"), &e))?;
    }
    let started = std::time::Instant::now();
    let mut stream = docker.client().push_image(
        &to.repository,
        Some(PushImageOptionsBuilder::new().tag(&to.tag).build()),
        None,
    );
    while let Some(item) = stream.next().await {
        item.map_err(|e| {
            daemon_error(&format!("cannot push `{target}`"), &e).with_hint(
                "is the registry reachable from the manager, and trusted by it (`insecure-registries` in daemon.json for a plain-HTTP one)?",
            )
        })?;
    }
    let found = docker
        .client()
        .inspect_image(&target)
        .await
        .map_err(|e| daemon_error(&format!("cannot inspect `{target}`"), &e))?;
    let prefix = format!("{}@", to.repository);
    let digest = found
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.starts_with(&prefix))
        .ok_or_else(|| {
            Error::failed(format!(
                "`{target}` was pushed but the daemon reports no digest for `{}`",
                to.repository
            ))
        })?;
    tracing::debug!(image = %image, pushed = %digest, elapsed_ms = started.elapsed().as_millis(), "pushed");
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_split_as_docker_splits_it() {
        assert_eq!(split("mongo:7.0"), (None, "mongo", Some("7.0")));
        assert_eq!(split("bitnami/mongodb"), (None, "bitnami/mongodb", None));
        assert_eq!(
            split("localhost:5000/app:1"),
            (Some("localhost:5000"), "app", Some("1"))
        );
        assert_eq!(
            split("registry.example.org/team/app@sha256:ab"),
            (Some("registry.example.org"), "team/app", None)
        );
        assert_eq!(split("localhost/app"), (Some("localhost"), "app", None));
    }

    #[test]
    fn a_local_image_goes_to_the_registry_given_or_its_own() {
        assert_eq!(
            destination("app", Some("10.0.0.1:5000")),
            Some(Destination {
                repository: "10.0.0.1:5000/app".into(),
                tag: "latest".into()
            })
        );
        assert_eq!(
            destination("reg.example.org/team/app:2", Some("10.0.0.1:5000/ci")),
            Some(Destination {
                repository: "10.0.0.1:5000/ci/team/app".into(),
                tag: "2".into()
            })
        );
        assert_eq!(
            destination("reg.example.org/team/app:2", None),
            Some(Destination {
                repository: "reg.example.org/team/app".into(),
                tag: "2".into()
            })
        );
        assert_eq!(destination("app:2", None), None);
    }

    #[test]
    fn a_constraint_on_this_node_pins_a_service_here() {
        let swarm = SwarmInfo {
            nodes: 3,
            managers: 1,
            node_id: "wbuld9agpolk".into(),
            hostname: "stkn1".into(),
        };
        let pinned = |c: &str| pinned_here(&[c.to_owned()], &swarm);
        assert!(pinned("node.hostname==stkn1"));
        assert!(pinned("node.id == wbuld9agpolk"));
        assert!(pinned("node.role == manager"));
        assert!(!pinned("node.hostname == stkn2"));
        assert!(!pinned("node.hostname != stkn1"));
        assert!(!pinned("node.labels.stackctl.node == n1"));
        let managers = SwarmInfo {
            managers: 3,
            ..swarm.clone()
        };
        assert!(!pinned_here(
            &["node.role == manager".to_owned()],
            &managers
        ));
    }

    #[test]
    fn a_registry_must_be_what_docker_takes_for_one() {
        assert_eq!(parse_registry("10.0.0.1:5000/").unwrap(), "10.0.0.1:5000");
        assert!(parse_registry("http://10.0.0.1:5000").is_err());
        let e = parse_registry("team").unwrap_err();
        assert!(e.message().contains("Docker Hub"), "{}", e.message());
    }
}
