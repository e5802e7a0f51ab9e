//! The stack as Kubernetes manifests that keep its meaning (`stackctl render kubernetes`):
//!
//! - a long-running service is a Deployment, or a StatefulSet when it has named volumes of its
//!   own (one claim per volume); a named volume that several services or a job mount is one
//!   PersistentVolumeClaim they all mount (ReadWriteOnce: their pods share a node); every one
//!   gets a headless Service with `publishNotReadyAddresses`, so that peers resolve it before
//!   it is Ready — the replica-set init dials `mongo` while `mongo`'s readiness waits for a
//!   PRIMARY (the DNS trap of ../shared/brief/beyond.md §3);
//! - a healthcheck is a readiness probe (exec, `timeoutSeconds` set: Kubernetes' default is
//!   1 s) and, with a `start_period`, a startup probe;
//! - `depends_on` is initContainers: `service_healthy`/`service_started` run `stackctl wait` on
//!   the dependency's own check target as its name resolves in the cluster;
//!   `service_completed_successfully` runs the job itself, to completion, before the dependant
//!   (our jobs are idempotent); a job nothing waits for is a `Job` with `backoffLimit` from
//!   `x-stackctl.job.attempts`;
//! - the stackctl binary that compose files bind-mount from the host comes from the stackctl
//!   image instead: an initContainer copies it into an `emptyDir` mounted at the same path;
//! - variables whose names say they are credentials go to one Secret per service;
//! - other bind-mounted files and directories are read at render time into a ConfigMap (a
//!   Secret when they hold credentials) mounted at the same path (see `files.rs`);
//! - `depends_on` targets are written in `stackctl wait`'s grammar:
//!   `mongodb://HOST:PORT/?replicaSet=NAME`, `rocketchat+http://HOST:PORT`, `tcp://`, `dns://`.
//!
//! What has no faithful equivalent (host ports, `extra_hosts`, bind mounts that cannot be read
//! or are over 1 MiB) is left out with a warning naming the service and key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::files;
use crate::stack::{Condition, Healthcheck, MountKind, Service, Stack};

/// How the manifests are written.
#[derive(Debug, Clone)]
pub struct Options {
    /// An image holding the static binary at `/stackctl`.
    pub stackctl_image: String,
}

/// The manifests (file name → object) and what could not be carried over.
#[derive(Debug, Default)]
pub struct Rendered {
    pub objects: Vec<(String, Value)>,
    pub warnings: Vec<String>,
}

/// Compose's healthcheck defaults (interval, timeout 30 s, 3 retries).
const DEFAULT_PERIOD: Duration = Duration::from_secs(30);
/// How long an initContainer waits for a dependency.
const WAIT_TIMEOUT: &str = "10m";

/// A DNS-1123 label: lower case, digits and `-`.
#[must_use]
pub fn object_name(name: &str) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let trimmed = mapped.trim_matches('-');
    trimmed.chars().take(63).collect()
}

fn seconds(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// Renders every service of the stack.
#[must_use]
pub fn render(stack: &Stack, options: &Options) -> Rendered {
    let mut out = Rendered::default();
    let awaited: BTreeSet<&str> = stack
        .services
        .values()
        .flat_map(|s| {
            s.depends_on
                .iter()
                .filter(|(_, d)| d.condition == Condition::ServiceCompletedSuccessfully)
                .map(|(name, _)| name.as_str())
        })
        .collect();
    let mut shared_claims = BTreeSet::new();
    for service in stack.services.values() {
        let mut pod = Pod::new(stack, service, options, &mut out.warnings);
        pod.dependencies(stack, service, options);
        let name = object_name(&service.name);
        for claim in &pod.shared_claims {
            if shared_claims.insert(claim.clone()) {
                out.objects.push((
                    format!("{claim}-pvc.yaml"),
                    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": claim, "labels": {
                               "app.kubernetes.io/part-of": object_name(&stack.project),
                               "app.kubernetes.io/managed-by": "stackctl"}},
                           "spec": claim_spec()}),
                ));
            }
        }
        for (file, object) in std::mem::take(&mut pod.files) {
            out.objects.push((file, object));
        }
        if !pod.secret.is_empty() {
            out.objects.push((
                format!("{name}-secret.yaml"),
                json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": metadata(stack, service, &format!("{name}-env")),
                    "type": "Opaque",
                    "stringData": pod.secret,
                }),
            ));
        }
        if service.is_job() {
            if awaited.contains(service.name.as_str()) {
                // It runs as an initContainer of each service that waits for it.
                continue;
            }
            let attempts = service.job.as_ref().map_or(1, |j| j.attempts.max(1));
            let mut spec = json!({
                "backoffLimit": attempts - 1,
                "template": {
                    "metadata": {"labels": labels(stack, service)},
                    "spec": pod.spec("Never"),
                },
            });
            if let Some(timeout) = service.job.as_ref().and_then(|j| j.timeout) {
                spec["activeDeadlineSeconds"] = json!(seconds(timeout));
            }
            out.objects.push((
                format!("{name}-job.yaml"),
                json!({"apiVersion": "batch/v1", "kind": "Job",
                       "metadata": metadata(stack, service, &name), "spec": spec}),
            ));
            continue;
        }
        out.objects.push((
            format!("{name}-service.yaml"),
            headless_service(stack, service),
        ));
        let template = json!({
            "metadata": {"labels": labels(stack, service)},
            "spec": pod.spec("Always"),
        });
        let selector = json!({"matchLabels": labels(stack, service)});
        let replicas = service
            .deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .unwrap_or(1);
        let workload = if pod.claims.is_empty() {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": metadata(stack, service, &name),
                   "spec": {"replicas": replicas, "selector": selector, "strategy": {"type": "Recreate"},
                            "template": template}})
        } else {
            let claims: Vec<Value> = pod
                .claims
                .iter()
                .map(|claim| json!({"metadata": {"name": claim}, "spec": claim_spec()}))
                .collect();
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                   "metadata": metadata(stack, service, &name),
                   "spec": {"replicas": replicas, "serviceName": name, "selector": selector,
                            "template": template, "volumeClaimTemplates": claims}})
        };
        let kind = workload["kind"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        out.objects.push((format!("{name}-{kind}.yaml"), workload));
    }
    out
}

fn claim_spec() -> Value {
    json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})
}

/// Whether a named volume is a PersistentVolumeClaim of its own rather than a StatefulSet's
/// claim template: when several services mount it (a template gives each its own) or a job
/// does (a Job has no templates).
fn shared_volume(stack: &Stack, key: &str) -> bool {
    let users: Vec<&Service> = stack
        .services
        .values()
        .filter(|s| {
            s.volumes
                .iter()
                .any(|m| m.kind == MountKind::Volume && m.source == key)
        })
        .collect();
    users.len() > 1 || users.iter().any(|s| s.is_job())
}

/// `deploy.resources` as a container's `resources`: CPUs in millicores, memory in bytes.
fn resources(deploy: &crate::stack::Deploy) -> Value {
    let quantities = |r: &crate::stack::Resources| {
        let mut out = serde_json::Map::new();
        if let Some(n) = r.nano_cpus {
            out.insert("cpu".into(), json!(format!("{}m", (n / 1_000_000).max(1))));
        }
        if let Some(bytes) = r.memory_bytes {
            out.insert("memory".into(), json!(bytes.to_string()));
        }
        out
    };
    let mut out = serde_json::Map::new();
    let limits = quantities(&deploy.limits);
    if !limits.is_empty() {
        out.insert("limits".into(), Value::Object(limits));
    }
    let requests = quantities(&deploy.reservations);
    if !requests.is_empty() {
        out.insert("requests".into(), Value::Object(requests));
    }
    Value::Object(out)
}

fn labels(stack: &Stack, service: &Service) -> Value {
    json!({
        "app.kubernetes.io/name": object_name(&service.name),
        "app.kubernetes.io/part-of": object_name(&stack.project),
    })
}

fn metadata(stack: &Stack, service: &Service, name: &str) -> Value {
    let mut labels = labels(stack, service);
    labels["app.kubernetes.io/managed-by"] = json!("stackctl");
    json!({"name": name, "labels": labels})
}

/// The container ports a service's `ports` name, with their protocols as Kubernetes spells
/// them (`TCP`), each once.
fn container_ports(service: &Service) -> BTreeSet<(u16, String)> {
    service
        .ports
        .iter()
        .map(|p| (p.container_port, p.protocol.to_ascii_uppercase()))
        .collect()
}

/// Headless: the name resolves to the pod, Ready or not (`publishNotReadyAddresses`).
fn headless_service(stack: &Stack, service: &Service) -> Value {
    let name = object_name(&service.name);
    let mut spec = json!({
        "clusterIP": "None",
        "publishNotReadyAddresses": true,
        "selector": labels(stack, service),
    });
    let ports = container_ports(service);
    if !ports.is_empty() {
        spec["ports"] = ports
            .iter()
            .map(|(port, protocol)| {
                json!({"name": format!("{}-{port}", protocol.to_ascii_lowercase()),
                       "port": port, "targetPort": port, "protocol": protocol})
            })
            .collect();
    }
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": metadata(stack, service, &name), "spec": spec})
}

/// One pod's parts while they are gathered.
struct Pod {
    init: Vec<Value>,
    main: Value,
    volumes: BTreeMap<String, Value>,
    claims: Vec<String>,
    /// Named volumes mounted from a PersistentVolumeClaim of their own.
    shared_claims: BTreeSet<String>,
    /// ConfigMaps and Secrets holding bind-mounted files (file name, object).
    files: Vec<(String, Value)>,
    secret: BTreeMap<String, String>,
    /// Where the stackctl binary is mounted, when the service expects it there.
    binary_dirs: BTreeSet<String>,
}

impl Pod {
    fn new(
        stack: &Stack,
        service: &Service,
        options: &Options,
        warnings: &mut Vec<String>,
    ) -> Self {
        let mut pod = Self {
            init: Vec::new(),
            main: Value::Null,
            volumes: BTreeMap::new(),
            claims: Vec::new(),
            shared_claims: BTreeSet::new(),
            files: Vec::new(),
            secret: BTreeMap::new(),
            binary_dirs: BTreeSet::new(),
        };
        let name = object_name(&service.name);
        let mut container = pod.container(stack, service, &name, warnings);
        if let Some(h) = &service.healthcheck {
            if let Some(probe) = probe(h) {
                container["readinessProbe"] = probe.clone();
                if let Some(start) = h.start_period {
                    let mut startup = probe;
                    let period = seconds(h.interval.unwrap_or(DEFAULT_PERIOD));
                    startup["failureThreshold"] =
                        json!(seconds(start).div_ceil(period) + u64::from(h.retries.unwrap_or(3)));
                    container["startupProbe"] = startup;
                }
            }
        }
        for port in &service.ports {
            if port.host_port.is_some() {
                warnings.push(format!(
                    "service `{}`: `ports` publishes host port {}; expose the Service with an Ingress or a LoadBalancer instead",
                    service.name,
                    port.host_port.unwrap_or_default()
                ));
            }
        }
        if let Some(deploy) = &service.deploy {
            let resources = resources(deploy);
            if resources != json!({}) {
                container["resources"] = resources;
            }
            if deploy.global || !deploy.constraints.is_empty() || !deploy.spread.is_empty() {
                warnings.push(format!(
                    "service `{}`: `deploy` placement and `mode: global` left out; use node affinity or a DaemonSet",
                    service.name
                ));
            }
        }
        if !service.extra_hosts.is_empty() {
            warnings.push(format!(
                "service `{}`: `extra_hosts` left out; use `hostAliases` if the names are needed",
                service.name
            ));
        }
        for dir in pod.binary_dirs.clone() {
            pod.init.push(json!({
                "name": "stackctl-binary",
                "image": options.stackctl_image,
                "command": ["/stackctl", "install", "--to", dir],
                "volumeMounts": [{"name": "stackctl-binary", "mountPath": dir}],
            }));
            pod.volumes.insert(
                "stackctl-binary".to_owned(),
                json!({"name": "stackctl-binary", "emptyDir": {}}),
            );
        }
        pod.main = container;
        pod
    }

    /// The service's container: image, command, environment (secrets by reference), ports and
    /// volume mounts.
    fn container(
        &mut self,
        stack: &Stack,
        service: &Service,
        name: &str,
        warnings: &mut Vec<String>,
    ) -> Value {
        let secret_name = format!("{name}-env");
        let env: Vec<Value> = service
            .environment
            .iter()
            .map(|(key, value)| {
                if crate::redact::is_secret_variable(key) && !value.is_empty() {
                    self.secret.insert(key.clone(), value.clone());
                    json!({"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}})
                } else {
                    json!({"name": key, "value": value})
                }
            })
            .collect();
        let mut mounts = Vec::new();
        for mount in &service.volumes {
            match mount.kind {
                MountKind::Volume => {
                    let volume = object_name(&mount.source);
                    if shared_volume(stack, &mount.source) {
                        self.shared_claims.insert(volume.clone());
                        self.volumes.insert(
                            volume.clone(),
                            json!({"name": volume, "persistentVolumeClaim": {"claimName": volume}}),
                        );
                    } else if !self.claims.contains(&volume) {
                        self.claims.push(volume.clone());
                    }
                    mounts.push(json!({"name": volume, "mountPath": mount.target,
                                        "readOnly": mount.read_only}));
                }
                MountKind::Bind if mount.target.rsplit('/').next() == Some("stackctl") => {
                    let dir = mount.target.rsplit_once('/').map_or("/", |(d, _)| d);
                    let dir = if dir.is_empty() { "/" } else { dir };
                    self.binary_dirs.insert(dir.to_owned());
                    mounts.push(json!({"name": "stackctl-binary", "mountPath": dir, "readOnly": true}));
                }
                MountKind::Bind => match files::carry(service, mount) {
                    Ok(carried) => {
                        let base = mount.target.trim_end_matches('/').rsplit('/').next();
                        let mut object = format!("{name}-{}", object_name(base.unwrap_or("files")));
                        object = object.chars().take(63).collect::<String>();
                        object = object.trim_end_matches('-').to_owned();
                        while self.volumes.contains_key(&object) {
                            object.push('x');
                        }
                        for skipped in &carried.skipped {
                            warnings.push(format!(
                                "service `{}`: bind mount at `{}`: {skipped}",
                                service.name, mount.target
                            ));
                        }
                        self.volumes
                            .insert(object.clone(), files::volume(&carried, &object));
                        mounts.push(files::volume_mount(&carried, &object, &mount.target));
                        let kind = if carried.secret { "secret" } else { "configmap" };
                        self.files.push((
                            format!("{object}-{kind}.yaml"),
                            files::object(&carried, &metadata(stack, service, &object)),
                        ));
                    }
                    Err(reason) => warnings.push(format!(
                        "service `{}`: bind mount of `{}` at `{}` left out: {reason}; put it in the image",
                        service.name, mount.source, mount.target
                    )),
                },
            }
        }
        let mut container =
            json!({"name": name, "image": service.image.clone().unwrap_or_default()});
        if let Some(entrypoint) = &service.entrypoint {
            container["command"] = json!(entrypoint);
        }
        if let Some(command) = &service.command {
            container["args"] = json!(command);
        }
        if !env.is_empty() {
            container["env"] = json!(env);
        }
        let ports = container_ports(service);
        if !ports.is_empty() {
            container["ports"] = ports
                .iter()
                .map(|(port, protocol)| json!({"containerPort": port, "protocol": protocol}))
                .collect();
        }
        if !mounts.is_empty() {
            container["volumeMounts"] = json!(mounts);
        }
        if let Some(dir) = &service.working_dir {
            container["workingDir"] = json!(dir);
        }
        container
    }

    /// initContainers for `depends_on`, in the order of the dependencies' names.
    fn dependencies(&mut self, stack: &Stack, service: &Service, options: &Options) {
        for (dep_name, dep) in &service.depends_on {
            let Some(dependency) = stack.services.get(dep_name) else {
                continue;
            };
            let init_name = format!("wait-{}", object_name(dep_name));
            match dep.condition {
                Condition::ServiceCompletedSuccessfully => {
                    let mut warnings = Vec::new();
                    let mut job = Self::new(stack, dependency, options, &mut warnings);
                    // What the job itself waits for comes first (the loader refuses cycles).
                    job.dependencies(stack, dependency, options);
                    job.main["name"] = json!(format!("run-{}", object_name(dep_name)));
                    self.init.append(&mut job.init);
                    self.init.push(job.main);
                    self.volumes.append(&mut job.volumes);
                    self.shared_claims.append(&mut job.shared_claims);
                    for claim in job.claims {
                        if !self.claims.contains(&claim) {
                            self.claims.push(claim);
                        }
                    }
                }
                Condition::ServiceHealthy | Condition::ServiceStarted => {
                    let started = dep.condition == Condition::ServiceStarted;
                    let targets = wait_targets(dependency, started);
                    if targets.is_empty() {
                        continue;
                    }
                    let mut command = vec![
                        "/stackctl".to_owned(),
                        "wait".to_owned(),
                        "--timeout".to_owned(),
                        WAIT_TIMEOUT.to_owned(),
                    ];
                    command.extend(targets);
                    self.init
                        .push(json!({"name": init_name, "image": options.stackctl_image,
                                           "command": command}));
                }
            }
        }
    }

    fn spec(&self, restart: &str) -> Value {
        let mut spec = json!({"restartPolicy": restart, "containers": [self.main]});
        // A step two dependencies share (the binary's copy, a job both wait for) runs once,
        // where it first comes: container names are unique within a pod.
        let mut seen = BTreeSet::new();
        let init: Vec<&Value> = self
            .init
            .iter()
            .filter(|c| seen.insert(c["name"].as_str().unwrap_or_default().to_owned()))
            .collect();
        if !init.is_empty() {
            spec["initContainers"] = json!(init);
        }
        let volumes: Vec<&Value> = self.volumes.values().collect();
        if !volumes.is_empty() {
            spec["volumes"] = json!(volumes);
        }
        spec
    }
}

/// The exec probe of a compose healthcheck (`CMD` argv as is, `CMD-SHELL` through `sh -c`).
fn probe(h: &Healthcheck) -> Option<Value> {
    let command: Vec<String> = match h.test.first().map(String::as_str) {
        Some("CMD") => h.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["sh".into(), "-c".into(), h.test[1..].join(" ")],
        _ => return None,
    };
    Some(json!({
        "exec": {"command": command},
        "periodSeconds": seconds(h.interval.unwrap_or(DEFAULT_PERIOD)),
        "timeoutSeconds": seconds(h.timeout.unwrap_or(DEFAULT_PERIOD)),
        "failureThreshold": h.retries.unwrap_or(3).max(1),
    }))
}

/// What `stackctl wait` checks for a dependency, from its peers' side: the target of its own
/// `stackctl check` healthcheck with the loopback host replaced by the service's name, else
/// its ports, else only that its name resolves. For `service_started` only the port of that
/// target: started is not healthy, and waiting for more can wait forever — `mongo` has a
/// PRIMARY only once the replica-set job that waits for it has run.
fn wait_targets(service: &Service, started: bool) -> Vec<String> {
    let host = object_name(&service.name);
    if let Some(target) = service
        .healthcheck
        .as_ref()
        .and_then(|h| check_target(&h.test, &host))
    {
        match listening(&target) {
            Some(tcp) if started => return vec![tcp],
            None if started => {}
            _ => return vec![target],
        }
    }
    let ports: BTreeSet<u16> = service.ports.iter().map(|p| p.container_port).collect();
    if ports.is_empty() {
        return vec![format!("dns://{host}")];
    }
    ports.iter().map(|p| format!("tcp://{host}:{p}")).collect()
}

/// The `tcp://HOST:PORT` a wait target's server listens on.
fn listening(target: &str) -> Option<String> {
    let url = url::Url::parse(target).ok()?;
    let host = url.host_str()?;
    let port = url.port().or(match url.scheme() {
        "http" | "rocketchat+http" => Some(80),
        "https" | "rocketchat+https" => Some(443),
        "mongodb" => Some(27017),
        _ => None,
    })?;
    Some(format!("tcp://{host}:{port}"))
}

/// `["CMD", ".../stackctl", "check", KIND, ...]` → a `wait` target aimed at `host`.
fn check_target(test: &[String], host: &str) -> Option<String> {
    let args = test.get(1..)?;
    let at = args.iter().position(|a| a == "check")?;
    if !args[..at].iter().any(|a| a.ends_with("stackctl")) {
        return None;
    }
    let kind = args.get(at + 1)?.as_str();
    let rest = &args[at + 2..];
    let value_of = |flag: &str| {
        rest.iter()
            .position(|a| a == flag)
            .and_then(|i| rest.get(i + 1))
            .cloned()
    };
    let retarget = |url: &str| {
        let mut parsed = url::Url::parse(url).ok()?;
        parsed.set_host(Some(host)).ok()?;
        Some(parsed.to_string())
    };
    match kind {
        "tcp" => {
            let addr = rest.iter().find(|a| !a.starts_with('-'))?;
            let port = addr.rsplit_once(':')?.1;
            Some(format!("tcp://{host}:{port}"))
        }
        "http" => retarget(rest.iter().find(|a| a.starts_with("http"))?),
        "mongo" => {
            // `wait`'s grammar: `mongodb://HOST:PORT/?replicaSet=NAME` (ready = a PRIMARY of
            // that set), else the port; the check's other options are the check's own.
            let uri = url::Url::parse(&value_of("--uri")?).ok()?;
            let port = uri.port().unwrap_or(27017);
            let set = value_of("--replica-set").or_else(|| {
                uri.query_pairs()
                    .find(|(k, _)| k == "replicaSet")
                    .map(|(_, v)| v.into_owned())
            });
            Some(match set {
                Some(set) => format!("mongodb://{host}:{port}/?replicaSet={set}"),
                None => format!("tcp://{host}:{port}"),
            })
        }
        "rocketchat" => {
            let url = url::Url::parse(&value_of("--url")?).ok()?;
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            Some(format!("rocketchat+{}://{host}{port}", url.scheme()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(object_name("rc_bot.user"), "rc-bot-user");
        assert_eq!(object_name("-Mongo-"), "mongo");
    }

    #[test]
    fn a_services_own_check_becomes_its_peers_wait_target() {
        let mongo = test(&[
            "CMD",
            "/opt/stackctl/stackctl",
            "check",
            "mongo",
            "--uri",
            "mongodb://127.0.0.1:27017/?directConnection=true",
            "--replica-set",
            "rs0",
        ]);
        assert_eq!(
            check_target(&mongo, "mongo").as_deref(),
            Some("mongodb://mongo:27017/?replicaSet=rs0")
        );
        let rc = test(&[
            "CMD",
            "/stackctl",
            "check",
            "rocketchat",
            "--url",
            "http://127.0.0.1:3000",
        ]);
        assert_eq!(
            check_target(&rc, "rocketchat").as_deref(),
            Some("rocketchat+http://rocketchat:3000")
        );
        assert_eq!(
            listening("mongodb://mongo:27017/?replicaSet=rs0").as_deref(),
            Some("tcp://mongo:27017")
        );
        assert_eq!(
            listening("rocketchat+https://chat").as_deref(),
            Some("tcp://chat:443")
        );
        // Every form is one `stackctl wait` accepts.
        for target in [
            check_target(&mongo, "mongo").unwrap(),
            check_target(&rc, "rocketchat").unwrap(),
            listening("mongodb://mongo:27017/?replicaSet=rs0").unwrap(),
        ] {
            assert!(target.parse::<crate::target::Target>().is_ok(), "{target}");
        }
        let tcp = test(&["CMD", "/stackctl", "check", "tcp", "127.0.0.1:8080"]);
        assert_eq!(check_target(&tcp, "web").as_deref(), Some("tcp://web:8080"));
        let shell = test(&["CMD-SHELL", "curl -f http://localhost/"]);
        assert_eq!(check_target(&shell, "web"), None);
    }

    #[test]
    fn probes_set_their_timeout() {
        let h = Healthcheck {
            test: test(&["CMD-SHELL", "true"]),
            interval: Some(Duration::from_secs(10)),
            timeout: None,
            retries: Some(5),
            start_period: None,
            start_interval: None,
        };
        let p = probe(&h).unwrap();
        assert_eq!(p["exec"]["command"], json!(["sh", "-c", "true"]));
        assert_eq!(p["timeoutSeconds"], 30);
        assert_eq!(p["periodSeconds"], 10);
        assert_eq!(p["failureThreshold"], 5);
    }
}
