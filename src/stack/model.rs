//! The stack as stackctl understands it: a compose file, interpolated and validated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// A loaded stack: its files merged, interpolated and validated.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The compose project name (labels, container and network names).
    pub project: String,
    /// The stack files, absolute, in merge order (the first one's directory is `dir`).
    pub files: Vec<PathBuf>,
    /// The project directory (relative paths are resolved against it).
    pub dir: PathBuf,
    /// Enabled services (profiles applied), by name.
    pub services: BTreeMap<String, Service>,
    /// Declared networks by key (`default` is always present).
    pub networks: BTreeMap<String, Network>,
    /// Declared named volumes by key.
    pub volumes: BTreeMap<String, Volume>,
    /// Warnings found while loading (unset variables...).
    pub warnings: Vec<String>,
}

impl Stack {
    /// A project with no stack file: no services, the default network only (what a command
    /// that finds the containers by their labels works from).
    #[must_use]
    pub fn empty(project: &str, dir: PathBuf) -> Self {
        Self {
            project: project.to_owned(),
            files: Vec::new(),
            dir,
            services: BTreeMap::new(),
            networks: BTreeMap::from([("default".to_owned(), Network::default())]),
            volumes: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

/// One service. Serialised (sorted, without the fields that do not change the container) it
/// gives the configuration hash that decides whether `up` recreates a container.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub build: Option<Build>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    pub volumes: Vec<Mount>,
    /// Network key → aliases.
    pub networks: BTreeMap<String, Vec<String>>,
    pub depends_on: BTreeMap<String, Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub container_name: Option<String>,
    pub extra_hosts: Vec<String>,
    /// `shm_size`: the size of `/dev/shm` in bytes.
    pub shm_size: Option<i64>,
    /// `stop_signal`: what `docker stop` sends first (the image's, else SIGTERM).
    pub stop_signal: Option<String>,
    /// `stop_grace_period`: how long a stop waits before SIGKILL (Docker's default: 10 s).
    pub stop_grace_period: Option<std::time::Duration>,
    /// `deploy`: the cluster keys compose defines (`--engine swarm`; resource limits apply to
    /// plain containers too, as in `docker compose`). Absent from the hash when unset, so
    /// containers made before stackctl read `deploy` keep theirs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(skip)]
    pub profiles: Vec<String>,
    /// `x-stackctl.ready`: checks stackctl probes itself to notice readiness early.
    pub ready: Vec<String>,
    /// `x-stackctl.job`, or implied by a `service_completed_successfully` dependant.
    pub job: Option<JobOptions>,
    /// The line of the service's key in the file that last set it.
    #[serde(skip)]
    pub line: Option<usize>,
}

impl Service {
    /// A one-shot service: run to completion instead of kept running.
    #[must_use]
    pub fn is_job(&self) -> bool {
        self.job.is_some()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub context: PathBuf,
    pub dockerfile: Option<String>,
    pub args: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub host_ip: Option<String>,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MountKind {
    Bind,
    Volume,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Absolute host path (bind) or volume key (volume).
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

/// What a dependency must reach before the dependant starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceStarted => "service_started",
            Self::ServiceHealthy => "service_healthy",
            Self::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub condition: Condition,
    pub required: bool,
    pub restart: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
}

/// How a one-shot service is retried.
#[derive(Debug, Clone, Serialize)]
pub struct JobOptions {
    /// Attempts before giving up.
    pub attempts: u32,
    /// Bound on the whole job (all attempts).
    pub timeout: Option<Duration>,
    /// The first delay between attempts; it doubles (with jitter) up to `max_backoff`.
    pub backoff: Duration,
    /// The longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            attempts: 5,
            timeout: None,
            // Seconds, not milliseconds: a failed job usually waits for something else (a
            // server booting, an election), which takes seconds. Kubernetes Jobs start at 10 s;
            // a stack on one host is quicker, so 2 s doubling to 1 min.
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Network {
    pub external: bool,
    pub name: Option<String>,
    pub driver: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Volume {
    pub external: bool,
    pub name: Option<String>,
}

/// `deploy` (compose specification, `deploy.md`): what a cluster engine needs beyond the
/// container.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deploy {
    /// `mode: global` (one task per node) instead of `replicated`.
    pub global: bool,
    pub replicas: Option<u64>,
    /// `endpoint_mode: vip` (a virtual IP, ports on the routing mesh) instead of `dnsrr`;
    /// unset, stackctl uses `dnsrr` (see `engine::swarm::spec`).
    pub endpoint_mode: Option<String>,
    /// `deploy.labels`: on the service, not its containers.
    pub labels: BTreeMap<String, String>,
    pub constraints: Vec<String>,
    /// `placement.preferences[].spread`.
    pub spread: Vec<String>,
    pub max_replicas_per_node: Option<u64>,
    pub limits: Resources,
    pub reservations: Resources,
    pub restart_policy: Option<DeployRestart>,
}

/// `deploy.resources.limits` / `reservations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// CPUs in billionths (`cpus: "0.5"` is 500 000 000), as the Engine API counts them.
    pub nano_cpus: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub pids: Option<i64>,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployRestart {
    /// `none`, `on-failure` or `any` (compose's default).
    pub condition: String,
    pub delay: Option<Duration>,
    pub max_attempts: Option<u64>,
    pub window: Option<Duration>,
}
