//! `up --engine swarm`: every selected service made a Swarm service as soon as its
//! dependencies' conditions hold, read back from its tasks.
//!
//! - **Started** is a task whose container runs (`starting` or `running`); **healthy** is a
//!   `running` task — Swarm keeps a task `starting` until its healthcheck passes — for every
//!   replica. A job is a replicated job: completed when a task of its current iteration is
//!   `complete`, failed when its attempts are used up (Swarm leaves such a job at `0/1` with
//!   no failed state, so the count is read from the tasks).
//! - **The DNS trap.** Swarm publishes a task's name (and `tasks.<name>`) only once it is
//!   healthy. A dependant that only needs its dependency *started* — the replica-set init,
//!   while `mongo`'s healthcheck waits for a PRIMARY that the init makes — would never resolve
//!   it. stackctl gives such a dependant an `/etc/hosts` line with the dependency's task
//!   address, read from the task's container; the healthcheck stays whole, so Swarm still
//!   replaces a task that loses its PRIMARY. The line is not part of the config hash: a later
//!   `up` with the same stack file changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{Task, TaskState};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::api::{self, SwarmInfo};
use super::nodes;
use super::spec::{resource_labels, service_name, service_spec};
use crate::engine::container::networks;
use crate::engine::docker::DockerApi;
use crate::engine::labels;
use crate::engine::progress::{Failure, Progress};
use crate::engine::up::UpOptions;
use crate::error::Error;
use crate::output::{Event, Reporter, millis};
use crate::retry::RetryPolicy;
use crate::stack::{Condition, Service, Stack};

/// The longest pause between two looks at a service's tasks.
const POLL_CAP: Duration = Duration::from_millis(500);
/// Failed tasks of a long-running service (since `up` made or changed it) before `up` gives
/// up on it rather than watch Swarm restart it until the timeout.
const FAILED_TASKS: usize = 3;
/// How long a watch loop retries a daemon call that fails (a dropped connection, a manager
/// busy with a lost node) before it gives up on the service; within `--timeout` anyway.
const DAEMON_RETRY: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Started,
    Ready,
    Completed,
    /// Unchanged, its task waiting for a node that is down: reported, not waited for.
    Degraded,
    Failed,
}

struct Shared {
    stack: Stack,
    docker: DockerApi,
    progress: Progress,
    options: UpOptions,
    swarm: SwarmInfo,
    states: BTreeMap<String, watch::Sender<State>>,
    /// Images pushed by this run, `name:tag` → the reference by digest: services sharing an
    /// image push it once (a registry refuses concurrent pushes of the same manifest's blobs:
    /// "blob unknown to registry").
    pushed: tokio::sync::Mutex<BTreeMap<String, String>>,
}

impl Shared {
    fn set(&self, service: &str, state: State) {
        if let Some(tx) = self.states.get(service) {
            tx.send_replace(state);
        }
    }
}

/// Deploys the stack as Swarm services. Returns when every selected service is ready (or
/// completed), or with the first failure, or with a timeout error (exit 3).
pub async fn up(
    stack: Stack,
    docker: DockerApi,
    options: UpOptions,
    reporter: &Reporter,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let swarm = api::require_manager(&docker).await?;
    let selected = crate::engine::plan::selection(&stack, &options.services)?;
    // Before anything is made: what only this node has would fail on the others.
    nodes::refuse_node_local(
        &stack,
        &selected,
        &docker,
        &swarm,
        options.registry.as_deref(),
    )
    .await?;
    for warning in &stack.warnings {
        tracing::warn!("{warning}");
    }
    for name in &selected {
        for note in unmapped(&stack.services[name]) {
            tracing::warn!(service = %name, "{note}");
        }
    }
    reporter.emit(&Event::StackStarted {
        project: stack.project.clone(),
        services: selected.iter().cloned().collect(),
    });
    ensure_networks(&stack, &docker, &selected).await?;
    let states = selected
        .iter()
        .map(|s| (s.clone(), watch::channel(State::Pending).0))
        .collect();
    let shared = Arc::new(Shared {
        stack,
        docker,
        progress: Progress::new(reporter, started),
        options,
        swarm,
        states,
        pushed: tokio::sync::Mutex::default(),
    });
    let mut tasks = JoinSet::new();
    for name in &selected {
        let shared = Arc::clone(&shared);
        let name = name.clone();
        tasks.spawn(async move {
            let result = Box::pin(run_service(&shared, &name)).await;
            if let Err(failure) = &result {
                shared.set(&name, State::Failed);
                shared
                    .progress
                    .emit(&name, "failed", Some(failure.message.clone()));
            }
            result
        });
    }
    let deadline = tokio::time::Instant::now() + shared.options.timeout;
    let mut first_failure: Option<Failure> = None;
    let outcome = loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok(Ok(())))) => {}
            Ok(Some(Ok(Err(failure)))) => {
                if first_failure.is_none() {
                    first_failure = Some(failure);
                    tasks.abort_all();
                }
            }
            Ok(Some(Err(join))) if join.is_cancelled() => {}
            Ok(Some(Err(join))) => {
                break Err(Error::failed(format!(
                    "internal error in a service task: {join}"
                )));
            }
            Ok(None) => break first_failure.map_or(Ok(()), |f| Err(f.to_error())),
            Err(_) => {
                tasks.abort_all();
                break Err(timeout_error(&shared));
            }
        }
    };
    let degraded: Vec<String> = shared
        .states
        .iter()
        .filter(|(_, tx)| *tx.borrow() == State::Degraded)
        .map(|(name, _)| name.clone())
        .collect();
    if outcome.is_ok() && !degraded.is_empty() {
        tracing::warn!(
            "up, degraded: {} wait(s) for a lost node (`status` names it); Swarm places the task when the node is back",
            degraded.join(", ")
        );
    }
    reporter.emit(&Event::StackFinished {
        ok: outcome.is_ok(),
        elapsed_ms: millis(started.elapsed()),
    });
    outcome.map(|()| started.elapsed())
}

/// What the service declares that a Swarm service cannot have, said as warnings.
fn unmapped(service: &Service) -> Vec<String> {
    let mut out = Vec::new();
    if service.container_name.is_some() {
        out.push("`container_name` left out: Swarm names task containers itself".to_owned());
    }
    if service.shm_size.is_some() {
        out.push("`shm_size` left out: Swarm services have no shm size (API 1.41)".to_owned());
    }
    if service.ports.iter().any(|p| p.host_ip.is_some()) {
        out.push(
            "a port's host address left out: Swarm publishes on every address of every node"
                .to_owned(),
        );
    }
    if service.ports.iter().any(|p| p.host_port.is_none()) {
        out.push("a port without a published port gets one Swarm picks".to_owned());
    }
    if !service.ready.is_empty() {
        out.push("`x-stackctl.ready` not probed: under Swarm, readiness is the task's health, which also gates its DNS name".to_owned());
    }
    out
}

async fn ensure_networks(
    stack: &Stack,
    docker: &DockerApi,
    selected: &BTreeSet<String>,
) -> Result<(), Error> {
    let keys: BTreeSet<String> = selected
        .iter()
        .flat_map(|name| networks(&stack.services[name]))
        .map(|(key, _)| key)
        .collect();
    for key in keys {
        let network = stack.networks.get(&key).cloned().unwrap_or_default();
        if network.external {
            continue;
        }
        api::ensure_overlay(
            docker,
            &labels::network_name(stack, &key),
            resource_labels(stack, labels::NETWORK, &key),
        )
        .await?;
    }
    Ok(())
}

async fn run_service(shared: &Shared, name: &str) -> Result<(), Failure> {
    let service = &shared.stack.services[name];
    shared.progress.note(name, "preparing its image");
    let (image, image_id) = prepare_image(shared, service).await?;
    wait_for_dependencies(shared, service).await?;
    if service.is_job() && shared.options.no_jobs {
        shared
            .progress
            .emit(name, "skipped", Some("`--no-jobs`".to_owned()));
        shared.set(name, State::Completed);
        return Ok(());
    }
    let hosts = dependency_hosts(shared, service).await;
    let hash = labels::config_hash(service, &image_id);
    let full_name = service_name(&shared.stack, name);
    let fail = |e: Error| Failure::from_error(name, &e);
    let existing = api::service(&shared.docker, &full_name)
        .await
        .map_err(fail)?;
    let spec = service_spec(&shared.stack, service, &image, &hash, &hosts);
    // Tasks that were there before this `up`: their failures are history, not this run's.
    let before: HashSet<String> = match &existing {
        Some(_) => api::tasks(&shared.docker, &full_name)
            .await
            .map_err(fail)?
            .into_iter()
            .filter_map(|t| t.id)
            .collect(),
        None => HashSet::new(),
    };
    let unchanged = if let Some(found) = existing {
        Box::pin(update(shared, service, spec, &hash, &found)).await?
    } else {
        shared.progress.emit(name, "creating", None);
        api::create(&shared.docker, spec).await.map_err(fail)?;
        false
    };
    if service.is_job() {
        watch_job(shared, service, &full_name, &before).await
    } else {
        watch_service(shared, service, &full_name, &before, unchanged).await
    }
}

/// Updates an existing service unless its config hash is unchanged — or it is a job whose
/// last run failed, which a plain `up` would run again too (Swarm reruns a job on any update
/// of its spec, so `ForceUpdate` is bumped). True when it was left unchanged.
async fn update(
    shared: &Shared,
    service: &Service,
    mut spec: bollard::models::ServiceSpec,
    hash: &str,
    found: &bollard::models::Service,
) -> Result<bool, Failure> {
    let name = &service.name;
    let current = found.spec.clone().unwrap_or_default();
    let same = current
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::CONFIG_HASH))
        .map(String::as_str)
        == Some(hash);
    if same && !(service.is_job() && job_ended_failed(shared, service, found).await) {
        shared.progress.emit(name, "unchanged", None);
        return Ok(true);
    }
    let why = if same {
        let force = current
            .task_template
            .as_ref()
            .and_then(|t| t.force_update)
            .unwrap_or(0);
        if let Some(task) = spec.task_template.as_mut() {
            task.force_update = Some(force + 1);
        }
        "its last run failed"
    } else {
        "its definition or image changed"
    };
    shared.progress.emit(name, "updating", Some(why.to_owned()));
    let version = found
        .version
        .as_ref()
        .and_then(|v| v.index)
        .unwrap_or_default();
    api::update(&shared.docker, spec, version)
        .await
        .map_err(|e| Failure::from_error(name, &e))?;
    Ok(false)
}

/// The image the tasks run, and its id. With `--registry`, the image is pushed there and
/// deployed by that digest (every node pulls it from there). Else a local image is referenced
/// by a repository digest when it has one (any node can pull it); on a swarm of several nodes,
/// one without is pushed to the registry its name points at (`nodes::refuse_node_local` has
/// refused the others). On a single node, one built here is referenced by its id: Swarm then
/// skips the registry (moby `daemon/cluster/executor/container/adapter.go` `pullImage`).
async fn prepare_image(shared: &Shared, service: &Service) -> Result<(String, String), Failure> {
    let docker = &shared.docker;
    let fail = |e: Error| Failure::from_error(&service.name, &e);
    let (image, _) = crate::engine::progress::prepare_image(
        docker,
        &shared.stack.project,
        service,
        |status, image| {
            shared
                .progress
                .emit(&service.name, status, Some(image.to_owned()));
        },
    )
    .await?;
    let inspect = docker.client().inspect_image(&image).await.map_err(|e| {
        fail(crate::engine::docker::daemon_error(
            "cannot inspect image",
            &e,
        ))
    })?;
    let id = inspect.id.clone().unwrap_or_default();
    let digest = inspect
        .repo_digests
        .as_ref()
        .and_then(|d| d.first().cloned());
    let registry = shared.options.registry.as_deref();
    let push_to = match (&digest, registry) {
        (_, Some(_)) => nodes::destination(&image, registry),
        (None, None) if shared.swarm.nodes > 1 => nodes::destination(&image, None),
        _ => None,
    };
    let reference = if let Some(to) = push_to {
        let target = format!("{}:{}", to.repository, to.tag);
        // Held while pushing: a second service of the same image waits, then reuses it.
        let mut pushed = shared.pushed.lock().await;
        if let Some(done) = pushed.get(&target) {
            done.clone()
        } else {
            shared
                .progress
                .emit(&service.name, "pushing", Some(target.clone()));
            let digest = nodes::push(docker, &image, &to).await.map_err(fail)?;
            pushed.insert(target, digest.clone());
            digest
        }
    } else if let Some(digest) = digest {
        digest
    } else {
        if shared.swarm.nodes > 1 {
            tracing::warn!(service = %service.name, image = %image, "the image has no registry digest: only this node can run it");
        }
        id.clone()
    };
    tracing::debug!(service = %service.name, image = %image, reference = %reference, "image resolved");
    Ok((reference, id))
}

async fn wait_for_dependencies(shared: &Shared, service: &Service) -> Result<(), Failure> {
    for (dep, dependency) in &service.depends_on {
        let Some(tx) = shared.states.get(dep) else {
            continue;
        };
        let condition = dependency.condition;
        let what = match condition {
            Condition::ServiceStarted => "to start",
            Condition::ServiceHealthy => "to be healthy",
            Condition::ServiceCompletedSuccessfully => "to complete",
        };
        shared
            .progress
            .emit(&service.name, "waiting", Some(format!("{dep} {what}")));
        shared
            .progress
            .note(&service.name, format!("waits for `{dep}` {what}"));
        let mut rx = tx.subscribe();
        let state = rx
            .wait_for(|s| *s == State::Failed || satisfied(*s, condition))
            .await
            .map_or(State::Failed, |s| *s);
        if state == State::Failed {
            return Err(Failure::new(
                &service.name,
                format!("not started: dependency `{dep}` failed"),
            ));
        }
    }
    Ok(())
}

fn satisfied(state: State, condition: Condition) -> bool {
    match condition {
        Condition::ServiceStarted => matches!(
            state,
            State::Started | State::Ready | State::Completed | State::Degraded
        ),
        Condition::ServiceHealthy => {
            matches!(state, State::Ready | State::Completed | State::Degraded)
        }
        Condition::ServiceCompletedSuccessfully => state == State::Completed,
    }
}

/// `/etc/hosts` lines for the dependencies this service needs only started whose names Swarm
/// does not publish yet (they have a healthcheck, and are not healthy): `IP NAME ALIASES...`
/// for their running task, on a network both share. See the module's documentation.
async fn dependency_hosts(shared: &Shared, service: &Service) -> Vec<String> {
    let mut out = Vec::new();
    let mine: BTreeSet<String> = networks(service).into_iter().map(|(k, _)| k).collect();
    for (dep, dependency) in &service.depends_on {
        let Some(target) = shared.stack.services.get(dep) else {
            continue;
        };
        if dependency.condition != Condition::ServiceStarted
            || target.healthcheck.is_none()
            || shared
                .states
                .get(dep)
                .is_none_or(|s| *s.borrow() == State::Ready)
        {
            continue;
        }
        let Ok(tasks) = api::tasks(&shared.docker, &service_name(&shared.stack, dep)).await else {
            continue;
        };
        let running = tasks.iter().find(|t| {
            matches!(
                api::state(t),
                Some(TaskState::STARTING | TaskState::RUNNING)
            )
        });
        let Some(task) = running else { continue };
        for (key, aliases) in networks(target) {
            if !mine.contains(&key) {
                continue;
            }
            let network = labels::network_name(&shared.stack, &key);
            if let Some(ip) = api::task_address(&shared.docker, task, &network).await {
                let mut names = vec![dep.clone()];
                names.extend(aliases);
                tracing::debug!(service = %service.name, dependency = %dep, %ip, "reached by its task address until it is healthy");
                out.push(format!("{ip} {}", names.join(" ")));
                break;
            }
        }
        if !out.iter().any(|line| line.split(' ').nth(1) == Some(dep)) {
            tracing::warn!(service = %service.name, dependency = %dep, "no address of its task on a shared network yet: its name resolves only once it is healthy");
        }
    }
    out
}

/// `call` until it succeeds, retried with jittered back-off for up to `DAEMON_RETRY`: one
/// failed call to the daemon does not fail the service.
async fn retried<T, F, Fut>(service: &str, what: &str, mut call: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    let mut delays = RetryPolicy::Exponential {
        min: Duration::from_millis(100),
        max: Duration::from_secs(2),
        factor: 2.0,
    }
    .delays();
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) => {
                let delay = delays.next().unwrap_or(POLL_CAP);
                if started.elapsed() + delay > DAEMON_RETRY {
                    return Err(Failure::from_error(service, &e));
                }
                tracing::debug!(service, what, error = %e, delay_ms = millis(delay), "daemon call failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// The lost node an unchanged service's task waits for: its task is `pending` with no
/// suitable node, and the node its last placed task ran on (where its placement pins it) is
/// not `ready` — else any node that is not. `None` while every node is ready.
async fn lost_node(shared: &Shared, name: &str, tasks: &[Task], live: &[&Task]) -> Option<String> {
    let waiting = live.iter().any(|t| {
        api::state(t) == Some(TaskState::PENDING)
            && t.status
                .as_ref()
                .and_then(|s| s.err.as_deref())
                .is_some_and(|e| e.contains("no suitable node"))
    });
    if !waiting {
        return None;
    }
    let nodes = retried(name, "list nodes", || api::nodes(&shared.docker))
        .await
        .ok()?;
    let last = tasks
        .iter()
        .filter(|t| t.node_id.is_some())
        .max_by_key(|t| t.updated_at.clone())
        .and_then(|t| t.node_id.clone());
    let down: Vec<&api::NodeView> = nodes.iter().filter(|n| !n.ready()).collect();
    tracing::debug!(service = name, last_node = ?last, down = ?down, "task pending without a node");
    down.iter()
        .find(|n| Some(&n.id) == last.as_ref())
        .or_else(|| down.first())
        .map(|n| format!("{} is {}", n.hostname, n.state))
}

/// Sleeps a little longer each time, up to `POLL_CAP`.
struct Poll(Duration);

impl Poll {
    fn new() -> Self {
        Self(Duration::from_millis(50))
    }

    async fn next(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(POLL_CAP);
    }
}

fn task_error(task: &Task) -> String {
    let status = task.status.clone().unwrap_or_default();
    let state = status.state.map(|s| s.to_string()).unwrap_or_default();
    let mut message = status.err.filter(|e| !e.is_empty()).unwrap_or(state);
    if let Some(code) = status.container_status.and_then(|c| c.exit_code) {
        if !message.contains("exit") {
            let _ = write!(message, " (exit code {code})");
        }
    }
    message
}

/// The last lines of a task's output: through the Swarm API (the manager fetches them from
/// whichever node ran it), else from its container on this node.
async fn task_logs(docker: &DockerApi, task: &Task) -> Vec<String> {
    if let Some(id) = task.id.as_deref() {
        let lines = tokio::time::timeout(Duration::from_secs(10), docker.task_log_tail(id, 20))
            .await
            .unwrap_or_default();
        if !lines.is_empty() {
            return lines;
        }
    }
    let Some(id) = task
        .status
        .as_ref()
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.container_id.clone())
    else {
        return Vec::new();
    };
    docker.log_tail(&id, 20, 0).await
}

fn is_failed(task: &Task) -> bool {
    matches!(
        api::state(task),
        Some(TaskState::FAILED | TaskState::REJECTED)
    )
}

fn is_ended(task: &Task) -> bool {
    matches!(
        api::state(task),
        Some(
            TaskState::COMPLETE
                | TaskState::FAILED
                | TaskState::REJECTED
                | TaskState::SHUTDOWN
                | TaskState::ORPHANED
                | TaskState::REMOVE
        )
    )
}

fn newest(tasks: &[&Task]) -> Option<Task> {
    tasks
        .iter()
        .max_by_key(|t| t.updated_at.clone())
        .map(|t| (*t).clone())
}

async fn watch_service(
    shared: &Shared,
    service: &Service,
    full_name: &str,
    before: &HashSet<String>,
    unchanged: bool,
) -> Result<(), Failure> {
    let name = &service.name;
    let deploy = service.deploy.clone().unwrap_or_default();
    let has_health = service
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE"));
    let mut announced = false;
    let mut poll = Poll::new();
    loop {
        let tasks = retried(name, "list tasks", || api::tasks(&shared.docker, full_name)).await?;
        let live: Vec<&Task> = tasks
            .iter()
            .filter(|t| t.desired_state == Some(TaskState::RUNNING))
            .collect();
        let running = live
            .iter()
            .filter(|t| api::state(t) == Some(TaskState::RUNNING))
            .count();
        let started = live.iter().any(|t| {
            matches!(
                api::state(t),
                Some(TaskState::STARTING | TaskState::RUNNING)
            )
        });
        let wanted = if deploy.global {
            live.len().max(1)
        } else {
            usize::try_from(deploy.replicas.unwrap_or(1)).unwrap_or(usize::MAX)
        };
        if started && !announced {
            announced = true;
            shared.progress.emit(name, "started", None);
            shared.set(name, State::Started);
        }
        if running >= wanted {
            if wanted == 0 && !announced {
                shared.set(name, State::Started);
            }
            shared.progress.emit(
                name,
                if has_health { "healthy" } else { "ready" },
                Some(format!("{running}/{wanted} tasks")),
            );
            shared.set(name, State::Ready);
            return Ok(());
        }
        // Healthy before, unchanged now, and its task cannot be placed because its node is
        // lost: nothing `up` can do; its dependants go on.
        if unchanged {
            if let Some(lost) = lost_node(shared, name, &tasks, &live).await {
                let detail = format!(
                    "its node {lost}; {running}/{wanted} tasks running, the rest pending (no suitable node)"
                );
                tracing::warn!(service = %name, "degraded: {detail}");
                shared.progress.emit(name, "degraded", Some(detail));
                shared.set(name, State::Degraded);
                return Ok(());
            }
        }
        let failed: Vec<&Task> = tasks
            .iter()
            .filter(|t| !before.contains(t.id.as_deref().unwrap_or_default()) && is_failed(t))
            .collect();
        let rejected = failed
            .iter()
            .any(|t| api::state(t) == Some(TaskState::REJECTED));
        if failed.len() >= FAILED_TASKS || rejected {
            let last = newest(&failed).unwrap_or_default();
            return Err(Failure {
                logs: task_logs(&shared.docker, &last).await,
                hint: Some(format!(
                    "`docker service ps --no-trunc {full_name}` shows every task's error"
                )),
                ..Failure::new(
                    name,
                    format!(
                        "{} of its tasks failed; the last: {}",
                        failed.len(),
                        task_error(&last)
                    ),
                )
            });
        }
        let states: Vec<String> = live
            .iter()
            .filter_map(|t| api::state(t).map(|s| s.to_string()))
            .collect();
        shared.progress.note(
            name,
            format!(
                "{running}/{wanted} tasks running; tasks: {}",
                if states.is_empty() {
                    "none yet".to_owned()
                } else {
                    states.join(", ")
                }
            ),
        );
        poll.next().await;
    }
}

/// True when a job's current iteration has no completion and no attempt left to make.
async fn job_ended_failed(
    shared: &Shared,
    service: &Service,
    found: &bollard::models::Service,
) -> bool {
    let Some(id) = found.id.as_deref() else {
        return false;
    };
    let iteration = job_iteration(found);
    let Ok(tasks) = api::tasks(&shared.docker, id).await else {
        return false;
    };
    let current: Vec<&Task> = tasks
        .iter()
        .filter(|t| iteration_of(t) == iteration)
        .collect();
    let attempts = service.job.as_ref().map_or(1, |j| j.attempts) as usize;
    !current
        .iter()
        .any(|t| api::state(t) == Some(TaskState::COMPLETE))
        && current.iter().all(|t| is_ended(t))
        && current.iter().filter(|t| is_failed(t)).count() >= attempts
}

fn job_iteration(service: &bollard::models::Service) -> Option<u64> {
    service
        .job_status
        .as_ref()
        .and_then(|j| j.job_iteration.as_ref())
        .and_then(|v| v.index)
}

fn iteration_of(task: &Task) -> Option<u64> {
    task.job_iteration.as_ref().and_then(|v| v.index)
}

async fn watch_job(
    shared: &Shared,
    service: &Service,
    full_name: &str,
    before: &HashSet<String>,
) -> Result<(), Failure> {
    let name = &service.name;
    let attempts = service.job.as_ref().map_or(1, |j| j.attempts) as usize;
    let mut seen: HashSet<String> = HashSet::new();
    let mut poll = Poll::new();
    loop {
        // The iteration changes with every update of the spec: read it each time, as the
        // update above may not have reached the orchestrator yet.
        let found = retried(name, "inspect service", || {
            api::service(&shared.docker, full_name)
        })
        .await?
        .ok_or_else(|| Failure::new(name, "its service disappeared"))?;
        let iteration = job_iteration(&found);
        let tasks = retried(name, "list tasks", || api::tasks(&shared.docker, full_name)).await?;
        let current: Vec<&Task> = tasks
            .iter()
            .filter(|t| iteration_of(t) == iteration)
            .collect();
        for task in &current {
            let id = task.id.clone().unwrap_or_default();
            if !before.contains(&id) && seen.insert(id) {
                shared
                    .progress
                    .emit(name, "attempt", Some(format!("{}/{attempts}", seen.len())));
            }
        }
        if current
            .iter()
            .any(|t| api::state(t) == Some(TaskState::COMPLETE))
        {
            shared.progress.emit(name, "completed", None);
            shared.set(name, State::Completed);
            return Ok(());
        }
        let failed: Vec<&Task> = current.iter().copied().filter(|t| is_failed(t)).collect();
        if failed.len() >= attempts && current.iter().all(|t| is_ended(t)) {
            let last = newest(&failed).unwrap_or_default();
            return Err(Failure {
                logs: task_logs(&shared.docker, &last).await,
                hint: None,
                ..Failure::new(
                    name,
                    format!(
                        "no attempt succeeded ({attempts} made); the last: {}",
                        task_error(&last)
                    ),
                )
            });
        }
        shared.progress.note(
            name,
            format!("{} of {attempts} attempts failed so far", failed.len()),
        );
        poll.next().await;
    }
}

fn timeout_error(shared: &Shared) -> Error {
    let states: Vec<(String, State)> = shared
        .states
        .iter()
        .map(|(name, tx)| (name.clone(), *tx.borrow()))
        .collect();
    let not_ready = states.iter().filter_map(|(name, state)| {
        let what = match state {
            State::Pending => "not started",
            State::Started => "started, not ready",
            State::Ready | State::Completed | State::Degraded => return None,
            State::Failed => "failed",
        };
        Some((name.as_str(), what, ""))
    });
    shared.progress.timeout_error(
        shared.options.timeout,
        not_ready,
        "raise `--timeout`, or look at the services above with `docker service ps --no-trunc`",
    )
}
