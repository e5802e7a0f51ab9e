//! `up`: every selected service started as soon as its dependencies' conditions hold.
//!
//! One task per service: prepare its image, wait on its dependencies' states, then run it
//! (long-running) or run it to completion (a job, retried with backoff). Readiness is noticed
//! from Docker's health status — the events stream wakes every waiter at once — and from the
//! service's `x-stackctl.ready` checks, probed actively with fast backoff, so a dependant starts
//! within milliseconds of its dependency being ready instead of a healthcheck interval later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary, HealthStatusEnum,
};
use futures_util::StreamExt;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::container::{container_ip, create_body, networks};
use super::docker::DockerApi;
use super::heal::{self, Dependency, Drift};
use super::labels;
use super::progress::{Failure, Progress};
use crate::check::Check;
use crate::error::Error;
use crate::output::{Event, Reporter, human_duration, millis};
use crate::retry::RetryPolicy;
use crate::stack::{Condition, Service, Stack};

/// The longest pause between two readiness probes (or exit checks) of one container: a probe
/// costs one `docker exec` (~50 ms here), and every pause is latency added to the critical path.
const PROBE_CAP: Duration = Duration::from_millis(200);

/// What `up` was asked to do.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Services named on the command line (all when empty), plus what they need.
    pub services: Vec<String>,
    /// The one global budget (exit 3 when it runs out).
    pub timeout: Duration,
    /// Do not run one-shot services; dependants of a job wait only for it to exist.
    pub no_jobs: bool,
    /// Delays between readiness probes and job attempts.
    pub policy: RetryPolicy,
    /// `--engine swarm`: the registry every image is pushed to and deployed from by digest.
    pub registry: Option<String>,
}

/// Where a service stands, as its dependants see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Pending,
    /// Started (long-running) but not yet ready.
    Running,
    /// Healthy / ready checks pass (or nothing to wait for).
    Ready,
    /// A job that exited 0.
    Completed,
    Failed,
}

struct Shared {
    stack: Stack,
    docker: DockerApi,
    progress: Progress,
    options: UpOptions,
    states: BTreeMap<String, watch::Sender<State>>,
    existing: HashMap<String, ContainerSummary>,
    /// The current id of each network the selected services declare (by Docker name): a
    /// container joined to an older network of that name must be recreated.
    network_ids: HashMap<String, String>,
    /// Woken by every Docker event of the project.
    changed: Arc<Notify>,
    start_interval: bool,
    /// Long-running services counted ready, watched until `up` returns: one that dies after
    /// it was counted must still fail the run.
    watched: std::sync::Mutex<Vec<Watched>>,
}

/// A long-running service's container and its restart count when it was counted ready.
#[derive(Debug, Clone)]
struct Watched {
    service: String,
    id: String,
    /// Restarts when it was counted ready: two more is a restart loop.
    restarts: i64,
    /// Restarts already said.
    reported: i64,
}

impl Shared {
    fn set(&self, service: &str, state: State) {
        if let Some(tx) = self.states.get(service) {
            tx.send_replace(state);
        }
    }
}

/// Brings the stack up. Returns when every selected service is ready (or completed), or with
/// the first failure, or with a timeout error (exit 3).
pub async fn up(
    stack: Stack,
    docker: DockerApi,
    options: UpOptions,
    reporter: &Reporter,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let selected = super::plan::selection(&stack, &options.services)?;
    for warning in &stack.warnings {
        tracing::warn!("{warning}");
    }
    reporter.emit(&Event::StackStarted {
        project: stack.project.clone(),
        services: selected.iter().cloned().collect(),
    });

    let network_ids = ensure_networks_and_volumes(&stack, &docker, &selected).await?;

    let existing = docker
        .project_containers(&stack.project)
        .await?
        .into_iter()
        .filter(|c| {
            label(c, labels::ONEOFF) == Some("False") && label(c, labels::NUMBER) == Some("1")
        })
        .filter_map(|c| {
            label(&c, labels::SERVICE)
                .map(str::to_owned)
                .map(|s| (s, c))
        })
        .collect();
    let states = selected
        .iter()
        .map(|s| (s.clone(), watch::channel(State::Pending).0))
        .collect();
    let changed = Arc::new(Notify::new());
    let shared = Arc::new(Shared {
        start_interval: docker.api_at_least(1, 44),
        stack,
        docker,
        progress: Progress::new(reporter, started),
        options,
        states,
        existing,
        network_ids,
        changed: Arc::clone(&changed),
        watched: std::sync::Mutex::default(),
    });

    // Docker events wake every waiter; they re-inspect their own container.
    let mut events = shared.docker.events(&shared.stack.project);
    let listener = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if event.is_err() {
                break;
            }
            changed.notify_waiters();
        }
    });

    let mut tasks = JoinSet::new();
    for name in &selected {
        let shared = Arc::clone(&shared);
        let name = name.clone();
        tasks.spawn(async move {
            let result = run_service(&shared, &name).await;
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
        let next = tokio::select! {
            next = tokio::time::timeout_at(deadline, tasks.join_next()) => next,
            failure = watch_ready_services(&shared), if first_failure.is_none() => {
                first_failure = Some(failure);
                tasks.abort_all();
                continue;
            }
        };
        match next {
            Ok(Some(Ok(Ok(())))) => {}
            Ok(Some(Ok(Err(failure)))) => {
                // The first failure is the cause; dependants failing because of it are not.
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
            Ok(None) => {
                // Everything is up; one last look at what was counted ready earlier.
                if first_failure.is_none() {
                    first_failure = sweep(&shared).await;
                }
                break first_failure.map_or(Ok(()), |f| Err(f.to_error()));
            }
            Err(_) => {
                tasks.abort_all();
                break Err(timeout_error(&shared));
            }
        }
    };
    listener.abort();
    let ok = outcome.is_ok();
    reporter.emit(&Event::StackFinished {
        ok,
        elapsed_ms: millis(started.elapsed()),
    });
    outcome.map(|()| started.elapsed())
}

fn label<'a>(container: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    container.labels.as_ref()?.get(key).map(String::as_str)
}

/// Creates what is missing; returns the current id of each network (by Docker name).
async fn ensure_networks_and_volumes(
    stack: &Stack,
    docker: &DockerApi,
    selected: &BTreeSet<String>,
) -> Result<HashMap<String, String>, Error> {
    let mut keys = BTreeSet::new();
    let mut volumes = BTreeSet::new();
    for name in selected {
        let service = &stack.services[name];
        keys.extend(networks(service).into_iter().map(|(k, _)| k));
        volumes.extend(
            service
                .volumes
                .iter()
                .filter(|m| m.kind == crate::stack::MountKind::Volume)
                .map(|m| m.source.clone()),
        );
    }
    let mut ids = HashMap::new();
    for key in keys {
        let network = stack.networks.get(&key).cloned().unwrap_or_default();
        let name = labels::network_name(stack, &key);
        if !network.external {
            docker
                .ensure_network(
                    &name,
                    network.driver.as_deref(),
                    labels::resource_labels(stack, labels::NETWORK, &key),
                )
                .await?;
        }
        // Unknown (say, two networks of that name) is not compared.
        match docker.network_id(&name).await {
            Ok(Some(id)) => {
                ids.insert(name, id);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(network = %name, error = %e.message(), "no network id"),
        }
    }
    for key in volumes {
        if stack.volumes.get(&key).is_some_and(|v| v.external) {
            continue;
        }
        docker
            .ensure_volume(
                &labels::volume_name(stack, &key),
                labels::resource_labels(stack, labels::VOLUME, &key),
            )
            .await?;
    }
    Ok(ids)
}

async fn run_service(shared: &Shared, name: &str) -> Result<(), Failure> {
    let service = &shared.stack.services[name];
    shared.progress.note(name, "preparing its image");
    let (image, image_id) = prepare_image(shared, service).await?;
    wait_for_dependencies(shared, service).await?;
    let hash = labels::config_hash(service, &image_id);
    if service.is_job() {
        if shared.options.no_jobs {
            shared
                .progress
                .emit(name, "skipped", Some("`--no-jobs`".to_owned()));
            shared.set(name, State::Completed);
            return Ok(());
        }
        run_job(shared, service, &image, &hash).await
    } else {
        run_long_lived(shared, service, &image, &hash).await
    }
}

/// The image to run and its id: present locally, built (`build:`), or pulled.
async fn prepare_image(shared: &Shared, service: &Service) -> Result<(String, String), Failure> {
    super::progress::prepare_image(
        &shared.docker,
        &shared.stack.project,
        service,
        |status, image| {
            shared
                .progress
                .emit(&service.name, status, Some(image.to_owned()));
        },
    )
    .await
}

async fn wait_for_dependencies(shared: &Shared, service: &Service) -> Result<(), Failure> {
    let deps: Vec<(&String, Condition)> = service
        .depends_on
        .iter()
        .filter(|(dep, _)| shared.states.contains_key(*dep))
        .map(|(dep, d)| (dep, d.condition))
        .collect();
    if deps.is_empty() {
        return Ok(());
    }
    let waiting: Vec<String> = deps
        .iter()
        .map(|(dep, c)| {
            let what = match c {
                Condition::ServiceStarted => "started",
                Condition::ServiceHealthy => "healthy",
                Condition::ServiceCompletedSuccessfully => "completed",
            };
            format!("{dep} {what}")
        })
        .collect();
    shared
        .progress
        .emit(&service.name, "waiting", Some(waiting.join(", ")));
    for (dep, condition) in deps {
        let what = match condition {
            Condition::ServiceStarted => "to start",
            Condition::ServiceHealthy => "to be healthy",
            Condition::ServiceCompletedSuccessfully => "to complete",
        };
        shared
            .progress
            .note(&service.name, format!("waits for `{dep}` {what}"));
        let mut rx = shared.states[dep].subscribe();
        let state = rx
            .wait_for(|s| *s == State::Failed || satisfied(s, condition))
            .await
            .map_or(State::Failed, |s| s.clone());
        if state == State::Failed {
            return Err(Failure {
                service: service.name.clone(),
                message: format!("not started: dependency `{dep}` failed"),
                logs: Vec::new(),
                hint: None,
            });
        }
    }
    Ok(())
}

fn satisfied(state: &State, condition: Condition) -> bool {
    match condition {
        Condition::ServiceStarted => {
            matches!(state, State::Running | State::Ready | State::Completed)
        }
        Condition::ServiceHealthy => matches!(state, State::Ready | State::Completed),
        Condition::ServiceCompletedSuccessfully => *state == State::Completed,
    }
}

/// Creates (or recreates) the service's container; returns its id. `reuse` gets the existing
/// container's id when its configuration is unchanged.
async fn create_container(
    shared: &Shared,
    service: &Service,
    image: &str,
    hash: &str,
) -> Result<(String, bool), Failure> {
    let docker = &shared.docker;
    let name = labels::container_name(&shared.stack, service);
    let fail = |e: Error| Failure::from_error(&service.name, &e);
    if let Some(existing) = shared.existing.get(&service.name) {
        let id = existing.id.clone().unwrap_or_default();
        let why = if label(existing, labels::CONFIG_HASH) == Some(hash) {
            match converge_networks(shared, service, &id).await? {
                None => return Ok((id, true)),
                Some(why) => why,
            }
        } else if label(existing, labels::CREATED_BY).is_some() {
            "its definition or image changed".to_owned()
        } else {
            // docker compose (or an older stackctl) made it: its config hash follows another
            // scheme, so it cannot be compared with ours.
            let by = label(existing, labels::VERSION)
                .map_or_else(|| "another tool".to_owned(), |v| format!("compose {v}"));
            format!("it was created by {by}, whose config hash cannot be compared with ours")
        };
        shared.progress.emit(&service.name, "recreating", Some(why));
        docker.remove_container(&id, false).await.map_err(fail)?;
    } else {
        shared.progress.emit(&service.name, "creating", None);
    }
    let body = create_body(&shared.stack, service, image, hash, shared.start_interval);
    let id = docker.create(&name, body).await.map_err(fail)?;
    for (key, aliases) in networks(service).into_iter().skip(1) {
        let mut aliases = aliases;
        aliases.push(service.name.clone());
        docker
            .connect_network(&labels::network_name(&shared.stack, &key), &id, aliases)
            .await
            .map_err(fail)?;
    }
    Ok((id, false))
}

/// Puts an unchanged container back on the networks its file declares, with its aliases
/// (`docker network disconnect` takes it off; nothing else puts it back). `Some(why)` when only
/// a new container can: its network was removed and created again.
async fn converge_networks(
    shared: &Shared,
    service: &Service,
    id: &str,
) -> Result<Option<String>, Failure> {
    let fail = |e: Error| Failure::from_error(&service.name, &e);
    let inspect = shared.docker.inspect(id).await.map_err(fail)?;
    let declared: Vec<(String, Vec<String>)> = networks(service)
        .into_iter()
        .map(|(key, mut aliases)| {
            aliases.push(service.name.clone());
            (labels::network_name(&shared.stack, &key), aliases)
        })
        .collect();
    let attached = inspect
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    let drift = heal::network_drift(&declared, &attached, &shared.network_ids);
    if let Some(stale) = drift.iter().find(|d| matches!(d, Drift::Stale { .. })) {
        tracing::debug!(service = %service.name, ?drift, "recreate: network drift");
        return Ok(Some(stale.describe()));
    }
    for d in drift {
        tracing::debug!(service = %service.name, drift = ?d, "reconnect");
        let network = d.network().to_owned();
        if matches!(d, Drift::Aliases { .. }) {
            shared
                .docker
                .disconnect_network(&network, id)
                .await
                .map_err(fail)?;
        }
        let aliases = declared
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let said = aliases
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        shared
            .docker
            .connect_network(&network, id, aliases)
            .await
            .map_err(fail)?;
        shared.progress.emit(
            &service.name,
            "reconnected",
            Some(format!("{}; connected again as {said}", d.describe())),
        );
    }
    Ok(None)
}

async fn run_long_lived(
    shared: &Shared,
    service: &Service,
    image: &str,
    hash: &str,
) -> Result<(), Failure> {
    let (id, reused) = create_container(shared, service, image, hash).await?;
    let inspect = shared
        .docker
        .inspect(&id)
        .await
        .map_err(|e| Failure::new(&service.name, e.message()))?;
    let running = inspect
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false);
    let paused = inspect
        .state
        .as_ref()
        .and_then(|s| s.paused)
        .unwrap_or(false);
    if running && paused {
        tracing::debug!(service = %service.name, "unpause");
        shared
            .docker
            .unpause(&id, &service.name)
            .await
            .map_err(|e| Failure::from_error(&service.name, &e))?;
        shared.progress.emit(
            &service.name,
            "unpaused",
            Some("it was paused; running again".to_owned()),
        );
    } else if reused && running {
        shared.progress.emit(
            &service.name,
            "unchanged",
            Some("already running".to_owned()),
        );
    } else {
        shared.progress.emit(&service.name, "starting", None);
        shared
            .docker
            .start(&id, &service.name)
            .await
            .map_err(|e| Failure::new(&service.name, e.message()))?;
    }
    shared.set(&service.name, State::Running);
    let restarts = wait_until_ready(shared, service, &id).await?;
    shared
        .watched
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Watched {
            service: service.name.clone(),
            id,
            restarts,
            reported: restarts,
        });
    Ok(())
}

/// Resolves with the first failure among the services counted ready (exited, or restarting
/// in a loop); never resolves while they keep running. Woken by Docker events, and at least
/// every second in case an event was missed.
async fn watch_ready_services(shared: &Shared) -> Failure {
    loop {
        let notified = shared.changed.notified();
        if let Some(failure) = sweep(shared).await {
            return failure;
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One look at every watched service; a restart that recovered is said once, not failed.
async fn sweep(shared: &Shared) -> Option<Failure> {
    let watched = shared
        .watched
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for entry in watched {
        let Ok(inspect) = shared.docker.inspect(&entry.id).await else {
            return Some(Failure::new(
                &entry.service,
                "its container disappeared after it was ready",
            ));
        };
        let service = &shared.stack.services[&entry.service];
        if let Some(mut failure) =
            crashed(shared, service, &entry.id, &inspect, entry.restarts).await
        {
            failure.message = format!("{} after it was ready", failure.message);
            return Some(failure);
        }
        let now = restart_count(&inspect);
        if now > entry.reported {
            tracing::debug!(service = %entry.service, restarts = now, "restarted after ready");
            shared.progress.emit(
                &entry.service,
                "restarted",
                Some(format!(
                    "restarted {} time(s) after it was ready; running again",
                    now - entry.restarts
                )),
            );
            let mut list = shared
                .watched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(w) = list.iter_mut().find(|w| w.id == entry.id) {
                w.reported = now;
            }
        }
    }
    None
}

fn restart_count(inspect: &ContainerInspectResponse) -> i64 {
    inspect.restart_count.unwrap_or(0)
}

/// How stackctl notices a service is ready before Docker's healthcheck interval would.
enum Probe {
    /// Nothing to wait for: started is ready.
    None,
    /// Docker's health status only (a `CMD-SHELL` test, which needs a shell we cannot assume).
    DockerHealth,
    /// The service's own exec-form healthcheck command, run by us with fast backoff.
    HealthCommand(Vec<String>),
    /// The `x-stackctl.ready` checks, run from here.
    Checks(Vec<Check>),
}

impl Probe {
    fn for_service(service: &Service, inspect: &ContainerInspectResponse) -> Result<Self, Failure> {
        if !service.ready.is_empty() {
            return ready_checks(service, inspect).map(Probe::Checks);
        }
        let test = service
            .healthcheck
            .as_ref()
            .map(|h| h.test.clone())
            .unwrap_or_default();
        Ok(match test.first().map(String::as_str) {
            Some("CMD") if test.len() > 1 => Probe::HealthCommand(test[1..].to_vec()),
            Some("CMD-SHELL") => Probe::DockerHealth,
            _ => Probe::None,
        })
    }

    /// One round: `Ok(why)` when ready, else `Err(why not)`.
    async fn ready(&self, docker: &DockerApi, id: &str) -> Result<&'static str, String> {
        match self {
            Probe::None => Ok("started"),
            Probe::DockerHealth => Err("waiting for Docker's health status".to_owned()),
            Probe::HealthCommand(cmd) => match docker.exec(id, cmd.clone()).await {
                Some(0) => Ok("healthcheck command passed"),
                Some(code) => Err(format!("healthcheck command exited with code {code}")),
                None => Err("healthcheck command could not be run".to_owned()),
            },
            Probe::Checks(checks) => {
                for check in checks {
                    let report = check.run(Duration::from_secs(2)).await;
                    if !report.outcome.is_healthy() {
                        return Err(format!("{}: {}", report.target, report.outcome.text()));
                    }
                }
                Ok("ready checks passed")
            }
        }
    }
}

/// Returns the container's restart count when it became ready.
async fn wait_until_ready(shared: &Shared, service: &Service, id: &str) -> Result<i64, Failure> {
    let has_health = service
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"));
    let since = shared.progress.started.elapsed();
    let inspect_now = || async {
        shared
            .docker
            .inspect(id)
            .await
            .map_err(|e| Failure::new(&service.name, e.message()))
    };
    let first = inspect_now().await?;
    let baseline_restarts = restart_count(&first);
    let probe = Probe::for_service(service, &first)?;
    let mut delays = shared.options.policy.delays();
    loop {
        let notified = shared.changed.notified();
        let inspect = inspect_now().await?;
        if let Some(failure) = crashed(shared, service, id, &inspect, baseline_restarts).await {
            return Err(failure);
        }
        let docker_healthy = inspect
            .state
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            == Some(HealthStatusEnum::HEALTHY);
        let reason = if has_health && docker_healthy {
            Ok("Docker reports healthy")
        } else {
            probe.ready(&shared.docker, id).await
        };
        let reason = match reason {
            Ok(reason) => reason,
            Err(why) => {
                // Docker's own last health output says more than an exit code.
                let output = inspect
                    .state
                    .as_ref()
                    .and_then(|s| s.health.as_ref())
                    .and_then(|h| h.log.as_ref())
                    .and_then(|log| log.last())
                    .and_then(|l| l.output.as_deref())
                    .map(|o| o.lines().last().unwrap_or_default().trim().to_owned())
                    .filter(|o| !o.is_empty());
                let note = match output {
                    Some(output) => format!("{why}; Docker's last health output: {output}"),
                    None => why,
                };
                tracing::debug!(service = %service.name, %note, "not ready");
                shared.progress.note(&service.name, note);
                pause(&mut delays, notified).await;
                continue;
            }
        };
        let (status, detail) = match probe {
            Probe::None => ("running", None),
            _ => (
                if has_health { "healthy" } else { "ready" },
                Some(format!(
                    "{reason} after {}",
                    human_duration(shared.progress.started.elapsed().saturating_sub(since))
                )),
            ),
        };
        shared.progress.emit(&service.name, status, detail);
        shared.set(&service.name, State::Ready);
        return Ok(baseline_restarts);
    }
}

/// A long-running container that exited or keeps restarting fails the run at once.
async fn crashed(
    shared: &Shared,
    service: &Service,
    id: &str,
    inspect: &ContainerInspectResponse,
    baseline: i64,
) -> Option<Failure> {
    let state = inspect.state.clone().unwrap_or_default();
    let restarts = restart_count(inspect) - baseline;
    let exited = matches!(
        state.status,
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
    );
    let looping = state.restarting == Some(true) || restarts >= 2;
    if !exited && !looping {
        return None;
    }
    let code = state.exit_code.unwrap_or(0);
    let message = if looping {
        format!("keeps restarting (restarted {restarts} times; last exit code {code})")
    } else {
        format!("exited with code {code} while starting")
    };
    Some(Failure {
        service: service.name.clone(),
        message,
        logs: shared.docker.log_tail(id, 10, 0).await,
        hint: Some(format!(
            "a long-running service must keep running; read its log above (`docker logs {}`)",
            labels::container_name(&shared.stack, service)
        )),
    })
}

/// The `ready:` checks, with service names replaced by container addresses (the checks run
/// here, outside the project network, where service names do not resolve).
fn ready_checks(
    service: &Service,
    inspect: &ContainerInspectResponse,
) -> Result<Vec<Check>, Failure> {
    let ip = container_ip(inspect);
    service
        .ready
        .iter()
        .map(|target| {
            let rewritten = match &ip {
                Some(ip) => rewrite_host(target, &service.name, ip),
                None => target.clone(),
            };
            let parsed: crate::target::Target = rewritten.parse().map_err(|e: String| {
                Failure::new(&service.name, format!("ready check `{target}`: {e}"))
            })?;
            crate::check::for_target(parsed).map_err(|e| Failure::new(&service.name, e.message()))
        })
        .collect()
}

/// `tcp://mongo:27017` → `tcp://172.18.0.2:27017` when `mongo` is the service itself.
fn rewrite_host(target: &str, service: &str, ip: &str) -> String {
    let Some((scheme, rest)) = target.split_once("://") else {
        return target.to_owned();
    };
    let host_end = rest.find([':', '/', '?']).unwrap_or(rest.len());
    if &rest[..host_end] == service
        || &rest[..host_end] == "localhost"
        || &rest[..host_end] == "127.0.0.1"
    {
        format!("{scheme}://{ip}{}", &rest[host_end..])
    } else {
        target.to_owned()
    }
}

async fn run_job(
    shared: &Shared,
    service: &Service,
    image: &str,
    hash: &str,
) -> Result<(), Failure> {
    let name = &service.name;
    let mut again = None;
    if let Some(existing) = shared.existing.get(name)
        && label(existing, labels::CONFIG_HASH) == Some(hash)
    {
        let id = existing.id.clone().unwrap_or_default();
        let inspect = shared
            .docker
            .inspect(&id)
            .await
            .map_err(|e| Failure::new(name, e.message()))?;
        let state = inspect.state.unwrap_or_default();
        if state.status == Some(ContainerStateStatusEnum::EXITED) && state.exit_code == Some(0) {
            let finished = heal::docker_time(state.finished_at.as_deref());
            match heal::rerun_reason(finished, &dependencies(shared, service).await) {
                None => {
                    tracing::debug!(service = %name, "completed job still valid: no dependency started after it finished");
                    shared.progress.emit(
                        name,
                        "completed",
                        Some("already done with this definition; not run again".to_owned()),
                    );
                    shared.set(name, State::Completed);
                    return Ok(());
                }
                Some(why) => {
                    tracing::debug!(service = %name, %why, "completed job runs again");
                    shared.progress.emit(name, "rerunning", Some(why.clone()));
                    again = Some(why);
                }
            }
        }
    }
    let job = service.job.clone().unwrap_or_default();
    let (id, _) = create_container(shared, service, image, hash).await?;
    let mut delays = RetryPolicy::Exponential {
        min: job.backoff.min(job.max_backoff),
        max: job.max_backoff,
        factor: 2.0,
    }
    .delays();
    let started = Instant::now();
    let mut last_logs = Vec::new();
    let mut last_code = 0;
    for attempt in 1..=job.attempts {
        shared
            .progress
            .emit(name, "attempt", Some(format!("{attempt}/{}", job.attempts)));
        shared
            .progress
            .note(name, format!("attempt {attempt}/{} running", job.attempts));
        shared
            .docker
            .start(&id, name)
            .await
            .map_err(|e| Failure::new(name, e.message()))?;
        last_code = wait_for_exit(shared, &id, name).await?;
        if last_code == 0 {
            shared.progress.emit(
                name,
                "completed",
                Some(format!(
                    "attempt {attempt}/{} after {}{}",
                    job.attempts,
                    human_duration(started.elapsed()),
                    again
                        .as_ref()
                        .map(|why| format!("; ran again: {why}"))
                        .unwrap_or_default()
                )),
            );
            shared.set(name, State::Completed);
            return Ok(());
        }
        last_logs = attempt_logs(shared, &id).await;
        shared.progress.note(
            name,
            format!("attempt {attempt} exited with code {last_code}"),
        );
        if job.timeout.is_some_and(|t| started.elapsed() >= t) {
            break;
        }
        if attempt < job.attempts {
            let delay = delays.next().unwrap_or(Duration::from_secs(1));
            shared.progress.emit(
                name,
                "retrying",
                Some(format!(
                    "attempt {attempt} exited with code {last_code}{}; next in {}",
                    reason_line(&last_logs)
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default(),
                    human_duration(delay)
                )),
            );
            tokio::time::sleep(delay).await;
        }
    }
    Err(Failure {
        service: name.clone(),
        message: format!(
            "job failed: exited with code {last_code} after {} attempt(s)",
            job.attempts
        ),
        logs: last_logs,
        hint: Some(format!(
            "raise `x-stackctl.job.attempts` if it needs longer, or read its log (`docker logs {}`)",
            labels::container_name(&shared.stack, service)
        )),
    })
}

/// The current containers of the job's dependencies, as the job would have run against them
/// now (each has met its condition by then). A dependency without a container is left out.
async fn dependencies(shared: &Shared, service: &Service) -> Vec<Dependency> {
    let mut found = Vec::new();
    for dep in service.depends_on.keys() {
        let Some(dependency) = shared.stack.services.get(dep) else {
            continue;
        };
        let container = labels::container_name(&shared.stack, dependency);
        match shared.docker.inspect(&container).await {
            Ok(inspect) => {
                let dep = Dependency::from_inspect(dep, dependency.is_job(), &inspect);
                tracing::debug!(job = %service.name, dependency = %dep.service, started = ?dep.started, created = ?dep.created, "dependency");
                found.push(dep);
            }
            Err(e) => {
                tracing::debug!(job = %service.name, %dep, error = %e.message(), "dependency not inspected");
            }
        }
    }
    found
}

/// The last lines the attempt that just ended wrote — not earlier attempts' (the container is
/// reused across attempts, and Docker's `since` has whole-second resolution, so lines are
/// filtered by their own timestamps against this run's start).
async fn attempt_logs(shared: &Shared, id: &str) -> Vec<String> {
    let started_at = match shared.docker.inspect(id).await {
        Ok(inspect) => inspect
            .state
            .and_then(|s| s.started_at)
            .and_then(|t| humantime::parse_rfc3339_weak(&t).ok())
            // The daemon records `StartedAt` a moment after the process starts, and a quick
            // process writes before that: half a second of slack (attempts are seconds apart).
            .map(|t| t - Duration::from_millis(500)),
        Err(_) => None,
    };
    // The log driver may still be writing the last lines when the exit is seen (seconds on a
    // loaded host): short retries, bounded at 2 s, before concluding the attempt printed nothing.
    for _ in 0..20 {
        let lines: Vec<String> = shared
            .docker
            .log_tail_timestamped(id, 10)
            .await
            .into_iter()
            .filter(|(at, _)| match (at, started_at) {
                (Some(at), Some(start)) => *at >= start,
                _ => true,
            })
            .map(|(_, line)| line)
            .collect();
        if !lines.is_empty() {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

async fn wait_for_exit(shared: &Shared, id: &str, name: &str) -> Result<i64, Failure> {
    let mut delays = shared.options.policy.delays();
    loop {
        let notified = shared.changed.notified();
        let inspect = shared
            .docker
            .inspect(id)
            .await
            .map_err(|e| Failure::new(name, e.message()))?;
        let state = inspect.state.unwrap_or_default();
        if matches!(
            state.status,
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
        ) {
            return Ok(state.exit_code.unwrap_or(-1));
        }
        pause(&mut delays, notified).await;
    }
}

/// Waits for the next backoff delay (at most [`PROBE_CAP`]) or a Docker event, whichever first.
async fn pause(
    delays: &mut (dyn Iterator<Item = Duration> + Send),
    event: tokio::sync::futures::Notified<'_>,
) {
    let delay = delays.next().unwrap_or(PROBE_CAP).min(PROBE_CAP);
    tokio::select! {
        () = event => {}
        () = tokio::time::sleep(delay) => {}
    }
}

fn timeout_error(shared: &Shared) -> Error {
    let states: Vec<(String, State)> = shared
        .states
        .iter()
        .map(|(name, tx)| (name.clone(), tx.borrow().clone()))
        .collect();
    let not_ready = states.iter().filter_map(|(name, state)| {
        let (what, fallback) = match state {
            State::Pending => ("not started", "(preparing its image)"),
            State::Running => ("started, not ready", ""),
            State::Ready | State::Completed => return None,
            State::Failed => ("failed", ""),
        };
        Some((name.as_str(), what, fallback))
    });
    shared.progress.timeout_error(
        shared.options.timeout,
        not_ready,
        "raise `--timeout`, or look at the services above with `stackctl status` and `docker logs`",
    )
}

/// The line of a failed attempt's output that says why: its last line, unless that is the
/// `hint:` after the error (stackctl's own jobs end with one), then the line before.
fn reason_line(logs: &[String]) -> Option<&String> {
    logs.iter()
        .rev()
        .find(|l| !l.trim_start().starts_with("hint:"))
        .or(logs.last())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_attempt_is_summed_up_by_its_error_not_its_hint() {
        let logs = vec![
            "init: attempt".to_owned(),
            "error: timed out after 60 s: connection refused".to_owned(),
            "hint: raise `--timeout`".to_owned(),
        ];
        assert_eq!(
            super::reason_line(&logs).map(String::as_str),
            Some("error: timed out after 60 s: connection refused")
        );
        let hints = vec!["hint: only this".to_owned()];
        assert_eq!(super::reason_line(&hints), hints.last());
        assert_eq!(super::reason_line(&[]), None);
    }

    use super::*;

    #[test]
    fn ready_targets_point_at_the_container() {
        assert_eq!(
            rewrite_host("tcp://mongo:27017", "mongo", "172.18.0.2"),
            "tcp://172.18.0.2:27017"
        );
        assert_eq!(
            rewrite_host("http://localhost:3000/api/info", "rc", "10.0.0.3"),
            "http://10.0.0.3:3000/api/info"
        );
        assert_eq!(
            rewrite_host("tcp://other:1", "mongo", "172.18.0.2"),
            "tcp://other:1"
        );
    }

    #[test]
    fn conditions() {
        assert!(satisfied(&State::Running, Condition::ServiceStarted));
        assert!(!satisfied(&State::Running, Condition::ServiceHealthy));
        assert!(satisfied(&State::Ready, Condition::ServiceHealthy));
        assert!(!satisfied(
            &State::Ready,
            Condition::ServiceCompletedSuccessfully
        ));
        assert!(satisfied(
            &State::Completed,
            Condition::ServiceCompletedSuccessfully
        ));
    }
}
