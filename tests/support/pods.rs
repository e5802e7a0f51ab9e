//! A small pod runner: rendered Kubernetes manifests run on Docker with the semantics that
//! decide whether they can start, so a test proves the pods reach Ready, not only that the
//! schema accepts them.
//!
//! What it models:
//! - a pod is a sandbox container holding its network namespace (attached to one network under
//!   the names of the Services selecting it, from the pod's start: headless Services with
//!   `publishNotReadyAddresses` resolve before Ready) and its containers joined to it;
//! - `initContainers` one after another, each to exit 0; with `restartPolicy: Always` a failed
//!   one is run again after Kubernetes' back-off (10 s, doubling, at most 5 min), with `Never`
//!   the pod fails;
//! - then the containers (`command` replaces the image's entrypoint, `args` its command);
//!   exec readiness and startup probes with `docker exec`, every `periodSeconds`, bounded by
//!   `timeoutSeconds`, `failureThreshold` failures in a row (a failed startup probe restarts the
//!   container); a container that exits is started again (`Always`) with back-off;
//! - Deployments and StatefulSets (`replicas` pods; claim templates as one volume per pod),
//!   Jobs (a new pod per attempt, `backoffLimit` retries after back-off,
//!   `activeDeadlineSeconds`);
//! - ConfigMaps and Secrets as read-only files (`subPath` for one key), `emptyDir` and
//!   PersistentVolumeClaims as Docker volumes (empty: `volume-nocopy`, as a fresh PV is), `env`
//!   values and `secretKeyRef`/`configMapKeyRef` (given through the docker client's
//!   environment, never on a command line).
//!
//! What it does not model: scheduling and nodes (everything runs on this one Docker host,
//! so ReadWriteOnce claims are always shareable), kube-proxy and ClusterIP virtual IPs (only
//! headless Services exist here; another kind is refused), probes' exact timing (a probe
//! starts when the previous one ended), `initialDelaySeconds`/`successThreshold`, liveness
//! probes, resource requests and limits, RBAC and service accounts, security contexts (`fsGroup`,
//! users), image pull policies (images must be local), pod DNS search domains, `$(VAR)`
//! expansion in commands, and rolling updates.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

/// The label on everything a run creates, so that everything is removed by it.
const LABEL: &str = "stackctl-test.pods";
/// How often container states are looked at.
const TICK: Duration = Duration::from_millis(500);

/// What a finished run reports.
#[derive(Debug)]
pub struct Report {
    /// Pods of Deployments and StatefulSets that became Ready.
    pub ready: Vec<String>,
    /// Jobs that completed.
    pub completed: Vec<String>,
    pub elapsed: Duration,
    /// Containers that exited non-zero or could not start on the way (each retried), with
    /// the last lines they wrote.
    pub retries: Vec<String>,
}

/// Where each pod or Job stands.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Pending(String),
    Ready,
    Complete,
    Failed(String),
}

/// Runs the objects until every pod is Ready and every Job complete, or `limit` passes;
/// everything created is removed before it returns. `Err` says which pods did not get there.
pub fn run(objects: &[Value], pause_image: &str, limit: Duration) -> Result<Report, String> {
    let cluster = Arc::new(Cluster::new(objects, pause_image)?);
    let started = Instant::now();
    let deadline = started + limit;
    let mut threads = Vec::new();
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match kind {
            "Deployment" | "StatefulSet" => {
                let replicas = object["spec"]["replicas"].as_u64().unwrap_or(1);
                for i in 0..replicas {
                    let pod = if kind == "StatefulSet" {
                        format!("{name}-{i}")
                    } else {
                        format!("{name}-{i}-pod")
                    };
                    let claims = claim_templates(object, &name, i);
                    let template = object["spec"]["template"].clone();
                    cluster.set(&pod, Phase::Pending("created".into()));
                    let c = Arc::clone(&cluster);
                    threads.push(std::thread::spawn(move || {
                        c.keep_running(&pod, &template, &claims, deadline);
                    }));
                }
            }
            "Job" => {
                let spec = object["spec"].clone();
                cluster.set(&format!("job/{name}"), Phase::Pending("created".into()));
                let c = Arc::clone(&cluster);
                threads.push(std::thread::spawn(move || c.job(&name, &spec, deadline)));
            }
            _ => {}
        }
    }
    let outcome = loop {
        let phases = cluster.phases.lock().unwrap().clone();
        // (failed, still waiting), each with what was last seen.
        let (mut failed, mut waiting) = (Vec::new(), Vec::new());
        for (p, s) in &phases {
            match s {
                Phase::Failed(why) => failed.push(format!("{p}: {why}")),
                Phase::Pending(what) => waiting.push(format!("{p}: {what}")),
                Phase::Ready | Phase::Complete => {}
            }
        }
        if !failed.is_empty() {
            break Err(format!("failed:\n  {}", failed.join("\n  ")));
        }
        if waiting.is_empty() {
            let pick = |want: &Phase| {
                phases
                    .iter()
                    .filter(|(_, s)| *s == want)
                    .map(|(p, _)| p.clone())
                    .collect::<Vec<_>>()
            };
            break Ok(Report {
                ready: pick(&Phase::Ready),
                completed: pick(&Phase::Complete),
                elapsed: started.elapsed(),
                retries: cluster
                    .events()
                    .into_iter()
                    .filter(|e| e.contains(": exited") || e.contains("cannot start"))
                    .collect(),
            });
        }
        if Instant::now() > deadline {
            break Err(format!(
                "not ready after {limit:?}:\n  {}",
                waiting.join("\n  ")
            ));
        }
        std::thread::sleep(TICK);
    };
    cluster.stop.store(true, Ordering::SeqCst);
    for thread in threads {
        let _ = thread.join();
    }
    outcome.map_err(|e| format!("{e}\nevents:\n  {}", cluster.events().join("\n  ")))
}

/// `volumeClaimTemplates` → (volume name, Docker volume) for replica `i`.
fn claim_templates(object: &Value, name: &str, i: u64) -> Vec<(String, String)> {
    object["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["metadata"]["name"].as_str())
        .map(|claim| (claim.to_owned(), format!("{claim}-{name}-{i}")))
        .collect()
}

/// The objects of one run and what it created.
struct Cluster {
    run: String,
    network: String,
    pause_image: String,
    /// ConfigMaps and Secrets written out as files: `kind/name/key`.
    files: tempfile::TempDir,
    /// (kind, name) → key → value, for `env`.
    values: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    /// Service name → selector.
    services: Vec<(String, BTreeMap<String, String>)>,
    phases: Mutex<BTreeMap<String, Phase>>,
    events: Mutex<Vec<String>>,
    stop: AtomicBool,
    started: Instant,
}

impl Cluster {
    fn new(objects: &[Value], pause_image: &str) -> Result<Self, String> {
        let run = super::docker::unique("pods").replace('_', "-");
        let files = tempfile::tempdir().map_err(|e| e.to_string())?;
        // Readable by a container's non-root user too, as a ConfigMap volume is.
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        std::fs::set_permissions(files.path(), mode).map_err(|e| e.to_string())?;
        let mut values = BTreeMap::new();
        let mut services = Vec::new();
        let b64 = |v: &Value| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .unwrap_or_default()
        };
        for object in objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let mut map: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            let entries = |field: &str| object[field].as_object().cloned().unwrap_or_default();
            match kind {
                "ConfigMap" => {
                    for (k, v) in entries("data") {
                        map.insert(k, v.as_str().unwrap_or_default().as_bytes().to_vec());
                    }
                    for (k, v) in entries("binaryData") {
                        map.insert(k, b64(&v));
                    }
                }
                "Secret" => {
                    for (k, v) in entries("data") {
                        map.insert(k, b64(&v));
                    }
                    for (k, v) in entries("stringData") {
                        map.insert(k, v.as_str().unwrap_or_default().as_bytes().to_vec());
                    }
                }
                "Service" => {
                    let spec = &object["spec"];
                    if spec["clusterIP"] != "None" || spec["publishNotReadyAddresses"] != true {
                        return Err(format!(
                            "Service `{name}`: only headless Services with `publishNotReadyAddresses` are modelled"
                        ));
                    }
                    let selector = spec["selector"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect();
                    services.push((name.to_owned(), selector));
                    continue;
                }
                _ => continue,
            }
            let dir = files.path().join(kind).join(name);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            for (key, bytes) in &map {
                std::fs::write(dir.join(key), bytes).map_err(|e| e.to_string())?;
            }
            values.insert((kind.to_owned(), name.to_owned()), map);
        }
        let cluster = Self {
            network: run.clone(),
            run,
            pause_image: pause_image.to_owned(),
            files,
            values,
            services,
            phases: Mutex::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            started: Instant::now(),
        };
        Self::docker(&[
            "network",
            "create",
            "--label",
            &cluster.label(),
            &cluster.network,
        ])?;
        Ok(cluster)
    }

    fn label(&self) -> String {
        format!("{LABEL}={}", self.run)
    }

    fn set(&self, pod: &str, phase: Phase) {
        self.phases.lock().unwrap().insert(pod.to_owned(), phase);
    }

    fn event(&self, text: &str) {
        let at = self.started.elapsed().as_secs_f64();
        self.events
            .lock()
            .unwrap()
            .push(format!("{at:6.1}s {text}"));
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps `d` unless the run stops or its deadline comes first; `false` then.
    fn sleep(&self, d: Duration, deadline: Instant) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stopped() || Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100).min(d));
        }
        true
    }

    fn docker(args: &[&str]) -> Result<String, String> {
        let out = Command::new("docker")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("docker: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// A Deployment's or StatefulSet's pod: started, kept running, Ready by its probes.
    fn keep_running(
        &self,
        pod: &str,
        template: &Value,
        claims: &[(String, String)],
        deadline: Instant,
    ) {
        let spec = &template["spec"];
        let labels = string_map(&template["metadata"]["labels"]);
        let Ok(volumes) = self.volumes(pod, spec, claims) else {
            self.set(pod, Phase::Failed("cannot create its volumes".into()));
            return;
        };
        if let Err(e) = self.sandbox(pod, &labels) {
            self.set(pod, Phase::Failed(format!("sandbox: {e}")));
            return;
        }
        if !self.init_containers(pod, spec, &volumes, true, deadline) {
            return;
        }
        let containers: Vec<Value> = spec["containers"].as_array().cloned().unwrap_or_default();
        let mut running: Vec<Running> = Vec::new();
        for c in &containers {
            match self.start(pod, c, &volumes, 0) {
                Ok(id) => running.push(Running::new(c, id)),
                Err(e) => {
                    self.set(
                        pod,
                        Phase::Failed(format!("container `{}`: {e}", c["name"])),
                    );
                    return;
                }
            }
        }
        self.set(pod, Phase::Pending("probing".into()));
        while !self.stopped() && Instant::now() < deadline {
            for r in &mut running {
                self.step(pod, r, &volumes);
            }
            if running.iter().all(|r| r.ready) {
                self.set(pod, Phase::Ready);
            } else {
                let waiting: Vec<&str> = running
                    .iter()
                    .filter(|r| !r.ready)
                    .map(|r| r.name.as_str())
                    .collect();
                self.set(
                    pod,
                    Phase::Pending(format!("not ready: {}", waiting.join(", "))),
                );
            }
            std::thread::sleep(TICK);
        }
    }

    /// One look at a running container: restart it when it exited (with back-off), probe it
    /// when its probe is due.
    fn step(&self, pod: &str, r: &mut Running, volumes: &Volumes) {
        let now = Instant::now();
        if now < r.next_check {
            return;
        }
        if let Some(code) = Self::exit_code(&r.id) {
            if r.restart_at.is_none() {
                r.restarts += 1;
                let backoff = backoff(r.restarts);
                self.event(&format!(
                    "{pod}/{}: exited {code}{}; restart in {backoff:?}",
                    r.name,
                    Self::tail(&r.id)
                ));
                r.restart_at = Some(now + backoff);
                r.ready = false;
            }
            if r.restart_at.is_some_and(|at| now >= at) {
                let _ = Self::docker(&["rm", "-f", &r.id]);
                match self.start(pod, &r.spec, volumes, r.restarts) {
                    Ok(id) => {
                        *r = Running {
                            restarts: r.restarts,
                            ..Running::new(&r.spec, id)
                        }
                    }
                    Err(e) => self.event(&format!("{pod}/{}: cannot start: {e}", r.name)),
                }
            }
            return;
        }
        let (probe, startup) = if r.started {
            (&r.spec["readinessProbe"], false)
        } else {
            (&r.spec["startupProbe"], true)
        };
        if probe.is_null() {
            r.started = true;
            if r.spec["readinessProbe"].is_null() {
                r.ready = true;
            }
            return;
        }
        let period = Duration::from_secs(probe["periodSeconds"].as_u64().unwrap_or(10));
        let timeout = Duration::from_secs(probe["timeoutSeconds"].as_u64().unwrap_or(1));
        let threshold = probe["failureThreshold"].as_u64().unwrap_or(3);
        let ok = Self::exec_probe(&r.id, probe, timeout);
        r.next_check = now + period;
        if ok {
            r.failures = 0;
            if startup {
                r.started = true;
                r.next_check = Instant::now();
            } else {
                r.ready = true;
            }
            return;
        }
        r.failures += 1;
        if r.failures >= threshold {
            if startup {
                self.event(&format!(
                    "{pod}/{}: startup probe failed {threshold} times; killed",
                    r.name
                ));
                let _ = Self::docker(&["kill", &r.id]);
                r.next_check = Instant::now();
            } else if r.ready {
                self.event(&format!(
                    "{pod}/{}: readiness probe failed {threshold} times",
                    r.name
                ));
                r.ready = false;
            }
            r.failures = 0;
        }
    }

    /// `docker exec` of an exec probe, killed after `timeout` (a failure, as in Kubernetes).
    fn exec_probe(id: &str, probe: &Value, timeout: Duration) -> bool {
        let command: Vec<String> = probe["exec"]["command"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a.as_str().unwrap_or_default().to_owned())
            .collect();
        let Ok(mut child) = Command::new("docker")
            .arg("exec")
            .arg(id)
            .args(&command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return false;
        };
        let until = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// A Job: a pod per attempt, `backoffLimit` failed pods allowed, back-off between them.
    fn job(&self, name: &str, spec: &Value, deadline: Instant) {
        let key = format!("job/{name}");
        let deadline = spec["activeDeadlineSeconds"]
            .as_u64()
            .map_or(deadline, |s| {
                deadline.min(Instant::now() + Duration::from_secs(s))
            });
        let limit = spec["backoffLimit"].as_u64().unwrap_or(6);
        let template = &spec["template"];
        let labels = string_map(&template["metadata"]["labels"]);
        for attempt in 0..=limit {
            if attempt > 0 && !self.sleep(backoff(attempt as u32), deadline) {
                return;
            }
            let pod = format!("{name}-{attempt}");
            self.set(&key, Phase::Pending(format!("pod {pod}")));
            match self.run_to_completion(&pod, &template["spec"], &labels, deadline) {
                Ok(()) => {
                    self.set(&key, Phase::Complete);
                    return;
                }
                Err(e) => self.event(&format!("{pod}: failed: {e}")),
            }
            if self.stopped() {
                return;
            }
        }
        self.set(
            &key,
            Phase::Failed(format!(
                "{} pod(s) failed (backoffLimit {limit})",
                limit + 1
            )),
        );
    }

    /// A `restartPolicy: Never` pod: init containers, then the containers, each to exit 0.
    fn run_to_completion(
        &self,
        pod: &str,
        spec: &Value,
        labels: &BTreeMap<String, String>,
        deadline: Instant,
    ) -> Result<(), String> {
        let volumes = self.volumes(pod, spec, &[])?;
        self.sandbox(pod, labels)?;
        if !self.init_containers(pod, spec, &volumes, false, deadline) {
            return Err("an init container failed".into());
        }
        let ids: Vec<String> = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| self.start(pod, c, &volumes, 0))
            .collect::<Result<_, _>>()?;
        for id in ids {
            match self.wait_exit(&id, deadline) {
                Some(0) => {}
                Some(code) => return Err(format!("exited {code}{}", Self::tail(&id))),
                None => return Err("still running at the deadline".into()),
            }
        }
        Ok(())
    }

    /// The init containers in order; `retry` (`restartPolicy: Always`/`OnFailure`) runs a
    /// failed one again after back-off. `false` when the pod cannot go on.
    fn init_containers(
        &self,
        pod: &str,
        spec: &Value,
        volumes: &Volumes,
        retry: bool,
        deadline: Instant,
    ) -> bool {
        for c in spec["initContainers"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or_default();
            let mut attempt = 0;
            loop {
                if retry {
                    self.set(pod, Phase::Pending(format!("init container `{name}`")));
                }
                let code = match self.start(pod, c, volumes, attempt) {
                    Ok(id) => {
                        let code = self.wait_exit(&id, deadline);
                        if code != Some(0) {
                            let code = code.map_or("at the deadline".to_owned(), |c| c.to_string());
                            self.event(&format!("{pod}/{name}: exited {code}{}", Self::tail(&id)));
                        }
                        code
                    }
                    Err(e) => {
                        self.event(&format!("{pod}/{name}: cannot start: {e}"));
                        None
                    }
                };
                if code == Some(0) {
                    break;
                }
                attempt += 1;
                if !retry {
                    return false;
                }
                if !self.sleep(backoff(attempt), deadline) {
                    return false;
                }
            }
        }
        true
    }

    /// The exit code once the container stopped, polled until the deadline (`None` then).
    fn wait_exit(&self, id: &str, deadline: Instant) -> Option<i64> {
        while !self.stopped() && Instant::now() < deadline {
            if let Some(code) = Self::exit_code(id) {
                return Some(code);
            }
            std::thread::sleep(TICK);
        }
        None
    }

    fn exit_code(id: &str) -> Option<i64> {
        let state = Self::docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            id,
        ])
        .ok()?;
        match state.split_once(' ') {
            Some(("false", code)) => code.parse().ok(),
            _ => None,
        }
    }

    /// The last lines a container wrote, for an event.
    fn tail(id: &str) -> String {
        let out = Command::new("docker")
            .args(["logs", "--tail", "5", id])
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default();
        let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            String::new()
        } else {
            format!(":\n      {}", lines.join("\n      "))
        }
    }

    /// The pod's sandbox: its network namespace, on the network under its Services' names.
    fn sandbox(&self, pod: &str, labels: &BTreeMap<String, String>) -> Result<(), String> {
        let name = format!("{}-{pod}", self.run);
        let mut args = vec![
            "run".to_owned(),
            "-d".to_owned(),
            "--name".to_owned(),
            name.clone(),
        ];
        args.extend([
            "--label".to_owned(),
            self.label(),
            "--network".to_owned(),
            self.network.clone(),
        ]);
        args.extend(["--hostname".to_owned(), pod.to_owned()]);
        for (service, selector) in &self.services {
            if !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                args.extend(["--network-alias".to_owned(), service.clone()]);
            }
        }
        // The pause process: the job fixture sleeping for a day (killed at the end).
        args.extend([
            self.pause_image.clone(),
            "/pause".into(),
            "0".into(),
            "86400000".into(),
        ]);
        let _ = Self::docker(&["rm", "-f", &name]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::docker(&refs)?;
        self.event(&format!("{pod}: started"));
        Ok(())
    }

    /// The pod's volumes as `--mount` values by volume name (configMap/secret: host files).
    fn volumes(
        &self,
        pod: &str,
        spec: &Value,
        claims: &[(String, String)],
    ) -> Result<Volumes, String> {
        let mut out = BTreeMap::new();
        for (name, docker_volume) in claims {
            let volume = format!("{}-{docker_volume}", self.run);
            Self::docker(&["volume", "create", "--label", &self.label(), &volume])?;
            out.insert(name.clone(), Source::Volume(volume));
        }
        for v in spec["volumes"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or_default().to_owned();
            let source = if v.get("emptyDir").is_some() {
                let volume = format!("{}-{pod}-{name}", self.run);
                Self::docker(&["volume", "create", "--label", &self.label(), &volume])?;
                Source::Volume(volume)
            } else if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
                let volume = format!("{}-{claim}", self.run);
                Self::docker(&["volume", "create", "--label", &self.label(), &volume])?;
                Source::Volume(volume)
            } else if let Some(cm) = v["configMap"]["name"].as_str() {
                Source::Files(self.files.path().join("ConfigMap").join(cm))
            } else if let Some(secret) = v["secret"]["secretName"].as_str() {
                Source::Files(self.files.path().join("Secret").join(secret))
            } else {
                return Err(format!("volume `{name}`: this kind is not modelled"));
            };
            out.insert(name, source);
        }
        Ok(out)
    }

    /// Starts one container of the pod, joined to its sandbox.
    fn start(
        &self,
        pod: &str,
        c: &Value,
        volumes: &Volumes,
        attempt: u32,
    ) -> Result<String, String> {
        let cname = c["name"].as_str().unwrap_or_default();
        let name = format!("{}-{pod}-{cname}-{attempt}", self.run);
        let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.clone()];
        args.extend(["--label".into(), self.label()]);
        args.extend(["--network".into(), format!("container:{}-{pod}", self.run)]);
        let mut env = Vec::new();
        for e in c["env"].as_array().into_iter().flatten() {
            let key = e["name"].as_str().unwrap_or_default().to_owned();
            let value = if let Some(v) = e["value"].as_str() {
                v.as_bytes().to_vec()
            } else {
                let (kind, r) = if e["valueFrom"]["secretKeyRef"].is_object() {
                    ("Secret", &e["valueFrom"]["secretKeyRef"])
                } else {
                    ("ConfigMap", &e["valueFrom"]["configMapKeyRef"])
                };
                let object = (
                    kind.to_owned(),
                    r["name"].as_str().unwrap_or_default().to_owned(),
                );
                self.values
                    .get(&object)
                    .and_then(|m| m.get(r["key"].as_str().unwrap_or_default()))
                    .cloned()
                    .ok_or_else(|| format!("`{key}`: {kind} `{}` has no such key", object.1))?
            };
            args.extend(["-e".into(), key.clone()]);
            env.push((key, String::from_utf8_lossy(&value).into_owned()));
        }
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let vname = m["name"].as_str().unwrap_or_default();
            let target = m["mountPath"].as_str().unwrap_or_default();
            let ro = if m["readOnly"] == true {
                ",readonly"
            } else {
                ""
            };
            let mount = match volumes.get(vname) {
                Some(Source::Volume(v)) => {
                    format!("type=volume,src={v},dst={target},volume-nocopy{ro}")
                }
                Some(Source::Files(dir)) => {
                    let src = match m["subPath"].as_str() {
                        Some(key) => dir.join(key),
                        None => dir.clone(),
                    };
                    // ConfigMap and Secret volumes are read-only in Kubernetes.
                    format!("type=bind,src={},dst={target},readonly", src.display())
                }
                None => return Err(format!("volume `{vname}` is not declared")),
            };
            args.extend(["--mount".into(), mount]);
        }
        if let Some(dir) = c["workingDir"].as_str() {
            args.extend(["-w".into(), dir.into()]);
        }
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|a| a.as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let command = strings(&c["command"]);
        if let Some(first) = command.first() {
            args.extend(["--entrypoint".into(), first.clone()]);
        }
        args.push(c["image"].as_str().unwrap_or_default().to_owned());
        args.extend(command.iter().skip(1).cloned());
        args.extend(strings(&c["args"]));
        let _ = Self::docker(&["rm", "-f", &name]);
        // Values reach `docker run -e NAME` through the client's environment: no secret on a
        // command line.
        let out = Command::new("docker")
            .args(&args)
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("docker: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let label = format!("label={}", self.label());
        if let Ok(ids) = Self::docker(&["ps", "-aq", "--filter", &label]) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids);
                let _ = Self::docker(&args);
            }
        }
        if let Ok(names) = Self::docker(&["volume", "ls", "-q", "--filter", &label]) {
            for v in names.split_whitespace() {
                let _ = Self::docker(&["volume", "rm", "-f", v]);
            }
        }
        let _ = Self::docker(&["network", "rm", &self.network]);
    }
}

type Volumes = BTreeMap<String, Source>;

enum Source {
    Volume(String),
    Files(PathBuf),
}

/// A container of a running pod and what its probes found.
struct Running {
    name: String,
    spec: Value,
    id: String,
    started: bool,
    ready: bool,
    failures: u64,
    restarts: u32,
    restart_at: Option<Instant>,
    next_check: Instant,
}

impl Running {
    fn new(spec: &Value, id: String) -> Self {
        Self {
            name: spec["name"].as_str().unwrap_or_default().to_owned(),
            spec: spec.clone(),
            id,
            started: false,
            ready: false,
            failures: 0,
            restarts: 0,
            restart_at: None,
            next_check: Instant::now(),
        }
    }
}

/// Kubernetes' restart back-off: 10 s, doubling, at most 5 min.
fn backoff(n: u32) -> Duration {
    Duration::from_secs((10u64 << n.saturating_sub(1).min(5)).min(300))
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The documents of a multi-document YAML stream, as `render kubernetes` writes it.
pub fn parse(stream: &str) -> Vec<Value> {
    documents(stream)
        .iter()
        .map(|d| yaml_serde::from_str(d).expect("a YAML document"))
        .collect()
}

/// A stream's documents: the text between `---` lines.
pub fn documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.lines() {
        if line == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}
