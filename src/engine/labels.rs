//! Compose's labels and names, so that `docker compose ps`, `logs` and `down` (and
//! docker-compose 1.29.2) see a stack stackctl brought up as their own.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::stack::{Service, Stack};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const VERSION: &str = "com.docker.compose.version";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
/// Ours: marks a one-shot service, so `status` can report its result.
pub const JOB: &str = "io.stackctl.job";
/// Ours: on every container stackctl creates. Its absence means another tool (docker compose)
/// made the container, and that tool's config hash follows another scheme than ours.
pub const CREATED_BY: &str = "io.stackctl.created-by";
/// Ours: marks a throw-away `probe`/`smoke` container (value: the service whose network
/// namespace it joined), so `down` removes any left behind.
pub const PROBE: &str = "io.stackctl.probe";

/// The compose version we claim. A numeric string is what compose expects; 1.29.2 is the
/// Compose on our machines, and claiming it keeps it from complaining about our containers.
pub const COMPOSE_VERSION: &str = "1.29.2";

/// `<project>-<service>-1`, or the service's `container_name`.
#[must_use]
pub fn container_name(stack: &Stack, service: &Service) -> String {
    service
        .container_name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-1", stack.project, service.name))
}

/// `<project>_<key>` unless the network declares its own `name`.
#[must_use]
pub fn network_name(stack: &Stack, key: &str) -> String {
    stack
        .networks
        .get(key)
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", stack.project))
}

/// `<project>_<key>` unless the volume declares its own `name`.
#[must_use]
pub fn volume_name(stack: &Stack, key: &str) -> String {
    stack
        .volumes
        .get(key)
        .and_then(|v| v.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", stack.project))
}

/// The hash of everything that shapes the container: its definition and its image's id.
/// A changed hash means `up` must recreate the container.
#[must_use]
pub fn config_hash(service: &Service, image_id: &str) -> String {
    let definition = serde_json::to_string(service).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(definition.as_bytes());
    hasher.update(b"\0");
    hasher.update(image_id.as_bytes());
    hex(&hasher.finalize())
}

/// Lowercase hex of a digest (shared by every SHA-256 stackctl prints or stores).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The labels of a service's container.
#[must_use]
pub fn container_labels(stack: &Stack, service: &Service, hash: &str) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = service.labels.clone().into_iter().collect();
    let depends = service
        .depends_on
        .iter()
        .map(|(dep, d)| format!("{dep}:{}:{}", d.condition.as_str(), d.restart))
        .collect::<Vec<_>>()
        .join(",");
    for (key, value) in [
        (PROJECT, stack.project.clone()),
        (SERVICE, service.name.clone()),
        (NUMBER, "1".to_owned()),
        (ONEOFF, "False".to_owned()),
        (CONFIG_HASH, hash.to_owned()),
        (VERSION, COMPOSE_VERSION.to_owned()),
        (WORKING_DIR, stack.dir.to_string_lossy().into_owned()),
        (CONFIG_FILES, config_files(stack)),
        (DEPENDS_ON, depends),
        (
            CREATED_BY,
            concat!("stackctl ", env!("CARGO_PKG_VERSION")).to_owned(),
        ),
    ] {
        labels.insert(key.to_owned(), value);
    }
    if service.is_job() {
        labels.insert(JOB.to_owned(), "true".to_owned());
    }
    labels
}

/// Every stack file, comma-separated, as compose writes `project.config_files`.
fn config_files(stack: &Stack) -> String {
    let files: Vec<_> = stack.files.iter().map(|f| f.to_string_lossy()).collect();
    files.join(",")
}

/// Labels of a network or volume (no config-hash: compose recreates on a mismatching one).
#[must_use]
pub fn resource_labels(stack: &Stack, kind: &str, key: &str) -> HashMap<String, String> {
    HashMap::from([
        (kind.to_owned(), key.to_owned()),
        (PROJECT.to_owned(), stack.project.clone()),
        (VERSION.to_owned(), COMPOSE_VERSION.to_owned()),
    ])
}
