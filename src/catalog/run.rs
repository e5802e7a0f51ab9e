//! Running a catalog's checks: commands and target URLs here, target URLs with `from:` in a
//! throw-away container in that service's network namespace (one per service and round).
//!
//! With a project (`-p`, or the catalog's `project:`), a check naming the stack's services
//! (`mongo`, `rocketchat`...) that do not resolve here — run from the host or a CI runner —
//! runs inside the stack's network instead: the same stackctl, `verify --stdin` in one
//! throw-away container per round, handed the checks and the variables they read on its
//! stdin. So one catalog passes from the host, from CI and inside the status service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Catalog, Entry, Severity, What};
use crate::engine::docker::DockerApi;
use crate::error::Error;
use crate::netns::image::{self, ProbeBinary};
use crate::netns::locate;
use crate::netns::remote::At;
use crate::netns::result::ProbeResult;
use crate::output::{human_duration, millis};
use crate::settings::Settings;
use crate::target::Target;

/// How many checks run at once: enough that a catalog of dozens finishes in about one
/// check's time, few enough not to flood the servers checked.
pub const PARALLEL: usize = 16;

/// One check's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The service whose network namespace it ran in, when it was run inside the stack's
    /// network because its names do not resolve here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside: Option<String>,
    /// The Swarm node it ran from (its `from:` or inside service's task's node), for a stack
    /// deployed with `--engine swarm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The service it is about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    pub severity: Severity,
    pub ok: bool,
    /// What was seen, or why it failed (secrets masked).
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub latency_ms: f64,
}

impl CheckResult {
    fn of(entry: &Entry, ok: bool, detail: &str, latency: Duration) -> Self {
        let mut result = Self {
            name: entry.name.clone(),
            kind: entry.kind(),
            from: entry.from.clone(),
            inside: None,
            node: None,
            service: entry.service.clone(),
            severity: entry.severity,
            ok,
            detail: crate::redact::text(detail),
            hint: None,
            latency_ms: millis(latency),
        };
        // The condition on the result: passing, but too slowly, is failing.
        if let Some(limit) = entry.max_latency {
            if ok && latency > limit {
                result.ok = false;
                result.detail = format!(
                    "took {}, over its max_latency of {} ({})",
                    human_duration(latency),
                    human_duration(limit),
                    result.detail
                );
            }
        }
        result
    }

    fn failed(entry: &Entry, error: &Error, latency: Duration) -> Self {
        let mut result = Self::of(entry, false, error.message(), latency);
        result.hint = error.hint().map(str::to_owned);
        result
    }
}

/// Where `from:` checks run: the project's containers, and the probe image.
pub struct Remote {
    docker: DockerApi,
    project: String,
    image: String,
    log_filter: String,
    /// The service whose network namespace runs the checks routed inside, and the names (of
    /// the stack's services, aliases and containers) that route a check there.
    inside: Option<(String, BTreeSet<String>)>,
    /// The variables routed checks read (`--password-env`), handed over on stdin.
    variables: BTreeMap<String, String>,
    /// The catalog's text, handed over with them.
    catalog_text: String,
}

impl Remote {
    /// Connects when the catalog has `from:` checks, or when a project is named and some
    /// checks name its services; `None` when nothing needs the stack's network.
    ///
    /// # Errors
    /// No project to find the services in, or no Docker daemon, for `from:` checks.
    pub async fn for_catalog(
        catalog: &Catalog,
        project: Option<&str>,
        settings: &Settings,
    ) -> Result<Option<Self>, Error> {
        let needs_from = catalog.checks.iter().any(|c| c.from.is_some());
        let project = project
            .map(str::to_owned)
            .or_else(|| catalog.project.clone());
        let Some(project) = project else {
            if needs_from {
                return Err(Error::usage(
                    "the catalog's `from:` checks need the project their services are in",
                )
                .with_hint("add `project: NAME` to the catalog, or pass `-p NAME`"));
            }
            return Ok(None);
        };
        let docker = match DockerApi::connect().await {
            Ok(docker) => docker,
            Err(e) if !needs_from => {
                // Inside the stack (the status service) there is no daemon, and no need.
                tracing::debug!(%project, "no Docker daemon; every check runs here: {}", e.message());
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let containers = locate::project(&docker, &project).await?;
        if needs_from {
            known_from(catalog, &project, &containers)?;
        }
        let inside = route(&project, &containers, catalog).await;
        if inside.is_none() && !needs_from {
            return Ok(None);
        }
        // As `probe --binary`: the static stackctl put in the probe image (else this one).
        let explicit = std::env::var_os(crate::env_vars::STACKCTL_PROBE_BINARY).map(PathBuf::from);
        let binary = ProbeBinary::load(explicit.as_deref())?;
        let image = image::ensure(&docker, &binary).await?;
        Ok(Some(Self {
            docker,
            project,
            image,
            log_filter: settings.log_filter.clone(),
            inside,
            variables: settings.variables.clone(),
            catalog_text: catalog.text.clone(),
        }))
    }

    /// Whether `entry` runs inside the stack's network.
    fn routes(&self, entry: &Entry) -> bool {
        entry.from.is_none()
            && self
                .inside
                .as_ref()
                .is_some_and(|(_, names)| super::hosts(entry).iter().any(|h| names.contains(h)))
    }

    /// The running container of `service`, to join its network namespace.
    async fn joined(&self, service: &str) -> Result<locate::ServiceContainer, Error> {
        let found = locate::service(&self.docker, &self.project, service).await?;
        let containers: BTreeMap<String, locate::ServiceContainer> =
            found.into_iter().map(|c| (service.to_owned(), c)).collect();
        locate::running(&containers, &self.project, service).cloned()
    }

    /// Where to run from `container`: inside it, or on its Swarm task's node.
    async fn joining<'a>(
        &'a self,
        container: &'a locate::ServiceContainer,
    ) -> Result<At<'a>, Error> {
        At::of(&self.docker, &self.image, &self.project, container, None).await
    }

    /// Runs target URLs from inside `service`; the results, and the Swarm node they ran on.
    async fn probe(
        &self,
        service: &str,
        targets: &[Target],
        timeout: Duration,
    ) -> Result<(Vec<ProbeResult>, Option<String>), Error> {
        let container = self.joined(service).await?;
        let at = self.joining(&container).await?;
        let results =
            crate::netns::remote::probe_from(at, targets, timeout, &self.log_filter).await?;
        Ok((results, container.swarm.map(|t| t.node)))
    }

    /// Runs whole entries (commands too) inside the stack's network: `verify --stdin` in a
    /// throw-away container, the catalog's text, the names to run and the variables they read
    /// on its stdin (never in its arguments or environment, which `docker inspect` shows).
    async fn verify_inside(
        &self,
        entries: &[&Entry],
    ) -> Result<BTreeMap<String, CheckResult>, Error> {
        let Some((service, _)) = &self.inside else {
            return Err(Error::failed("no service to run the checks from"));
        };
        let container = self.joined(service).await?;
        let node = container.swarm.as_ref().map(|t| t.node.clone());
        let at = self.joining(&container).await?;
        let read: BTreeSet<String> = entries.iter().flat_map(|e| read_variables(e)).collect();
        let plan = InsidePlan {
            catalog: self.catalog_text.clone(),
            names: entries.iter().map(|e| e.name.clone()).collect(),
            variables: self
                .variables
                .iter()
                .filter(|(k, _)| read.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let stdin = serde_json::to_vec(&plan).unwrap_or_default();
        let args = [
            "--json",
            "--log-level",
            &self.log_filter,
            "verify",
            "--stdin",
        ]
        .map(str::to_owned)
        .to_vec();
        let limit = entries
            .iter()
            .map(|e| e.timeout)
            .max()
            .unwrap_or(Duration::from_secs(5))
            + Duration::from_secs(20);
        let mut found = BTreeMap::new();
        let mut on_line = |line: &str| {
            if let Ok(mut result) = serde_json::from_str::<CheckResult>(line) {
                result.inside = Some(service.clone());
                result.node.clone_from(&node);
                found.insert(result.name.clone(), result);
            }
        };
        let finished = at.run(args, &stdin, limit, &mut on_line).await?;
        crate::netns::remote::forward_stderr(&finished.stderr);
        Ok(found)
    }
}

/// What `verify --stdin` is handed: the catalog as read (interpolated), the checks to run and
/// the variables they read.
#[derive(Serialize, Deserialize)]
pub struct InsidePlan {
    pub catalog: String,
    pub names: Vec<String>,
    pub variables: BTreeMap<String, String>,
}

/// The variables a command line reads (`--password-env VAR`, `--admin-password-env VAR`).
fn read_variables(entry: &Entry) -> Vec<String> {
    let What::Command(args) = &entry.what else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut words = args.iter();
    let reads = |flag: &str| flag.starts_with("--") && flag.ends_with("password-env");
    while let Some(word) = words.next() {
        match word.split_once('=') {
            Some((flag, var)) if reads(flag) => out.push(var.to_owned()),
            None if reads(word) => out.extend(words.next().cloned()),
            _ => {}
        }
    }
    out
}

/// Which checks run inside the stack's network, and from which service: those naming the
/// project's services (or their aliases) when those names do not resolve here.
async fn route(
    project: &str,
    containers: &BTreeMap<String, locate::ServiceContainer>,
    catalog: &Catalog,
) -> Option<(String, BTreeSet<String>)> {
    let mut stack_names = BTreeSet::new();
    for (service, container) in containers {
        stack_names.insert(service.clone());
        stack_names.insert(container.name.clone());
        for endpoint in container.networks.values() {
            stack_names.extend(endpoint.aliases.iter().cloned());
        }
    }
    let named: BTreeSet<String> = catalog
        .checks
        .iter()
        .filter(|c| c.from.is_none())
        .flat_map(super::hosts)
        .filter(|h| stack_names.contains(h))
        .collect();
    if named.is_empty() {
        return None;
    }
    let lookups = named.iter().map(|host| async move {
        let resolves =
            tokio::time::timeout(RESOLVE_HERE, tokio::net::lookup_host((host.as_str(), 0)))
                .await
                .is_ok_and(|r| r.is_ok_and(|mut a| a.next().is_some()));
        (host.clone(), resolves)
    });
    let unresolved: BTreeSet<String> = futures_util::future::join_all(lookups)
        .await
        .into_iter()
        .filter(|(_, resolves)| !resolves)
        .map(|(host, _)| host)
        .collect();
    if unresolved.is_empty() {
        tracing::debug!(
            project,
            "the stack's names resolve here; every check runs here"
        );
        return None;
    }
    // The long-running service on the most networks sees the most of the stack; jobs and
    // stopped containers cannot be joined.
    let Some(joined) = containers
        .values()
        .filter(|c| c.running() && !c.job)
        .max_by_key(|c| (c.networks.len(), std::cmp::Reverse(c.service.clone())))
    else {
        tracing::debug!(project, "no running service to join; every check runs here");
        return None;
    };
    tracing::debug!(
        project,
        service = %joined.service,
        names = ?unresolved,
        "checks naming these run inside the stack's network"
    );
    Some((joined.service.clone(), unresolved))
}

/// Every `from:` names a service of the project (when it has any: a stack that is down fails
/// its checks, it is not a mistake in the catalog).
fn known_from(
    catalog: &Catalog,
    project: &str,
    containers: &BTreeMap<String, locate::ServiceContainer>,
) -> Result<(), Error> {
    if containers.is_empty() {
        return Ok(());
    }
    for entry in &catalog.checks {
        let Some(from) = &entry.from else { continue };
        if containers.contains_key(from) {
            continue;
        }
        let services: Vec<String> = containers.keys().cloned().collect();
        let hint = match crate::stack::suggest(from, &services) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!(
                "the project's services are {}",
                services
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(super::problem(
            &catalog.file,
            entry.from_line,
            format!(
                "check `{}`: `from: {from}` is not a service of project `{project}`",
                entry.name
            ),
            &hint,
        ));
    }
    Ok(())
}

/// How long a name may take to resolve here before it counts as the stack's own.
const RESOLVE_HERE: Duration = Duration::from_secs(1);

/// Runs one entry here (not `from:`).
pub async fn run_here(entry: &Entry, settings: &Settings) -> CheckResult {
    let started = Instant::now();
    match &entry.what {
        What::Command(args) => {
            let built = match super::parse_command(args) {
                Ok(kind) => crate::commands::check::build(kind, settings),
                Err(e) => Err(Error::usage(e)),
            };
            match built {
                Ok((check, _)) => {
                    let report = check.run(entry.timeout).await;
                    CheckResult::of(
                        entry,
                        report.outcome.is_healthy(),
                        report.outcome.text(),
                        report.elapsed,
                    )
                }
                Err(e) => CheckResult::failed(entry, &e, started.elapsed()),
            }
        }
        What::Target(url) => match url.parse::<Target>() {
            Ok(target) => {
                let results = crate::netns::here::probe_all(&[target], entry.timeout).await;
                probe_result(entry, results.first())
            }
            Err(e) => CheckResult::failed(entry, &Error::usage(e), started.elapsed()),
        },
    }
}

fn probe_result(entry: &Entry, result: Option<&ProbeResult>) -> CheckResult {
    match result {
        Some(r) => CheckResult::of(
            entry,
            r.result.ok(),
            &format!("{}: {}", r.result.as_str(), r.detail),
            Duration::from_secs_f64(r.latency_ms.max(0.0) / 1000.0),
        ),
        None => CheckResult::of(entry, false, "no result", Duration::ZERO),
    }
}

/// Runs the `from: service` entries in one probe container.
pub async fn run_from(
    remote: Option<&Remote>,
    service: &str,
    entries: &[&Entry],
) -> Vec<CheckResult> {
    let started = Instant::now();
    let Some(remote) = remote else {
        let e = Error::failed("`from:` checks need the Docker daemon");
        return entries
            .iter()
            .map(|entry| CheckResult::failed(entry, &e, started.elapsed()))
            .collect();
    };
    let targets: Vec<Target> = entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Target(url) => url.parse().ok(),
            What::Command(_) => None,
        })
        .collect();
    let timeout = entries
        .iter()
        .map(|e| e.timeout)
        .max()
        .unwrap_or(Duration::from_secs(5));
    match remote.probe(service, &targets, timeout).await {
        Ok((results, node)) if results.len() == entries.len() => entries
            .iter()
            .zip(&results)
            .map(|(entry, r)| CheckResult {
                node: node.clone(),
                ..probe_result(entry, Some(r))
            })
            .collect(),
        Ok(_) => {
            let e = Error::failed("the probe returned too few results");
            entries
                .iter()
                .map(|entry| CheckResult::failed(entry, &e, started.elapsed()))
                .collect()
        }
        Err(e) => entries
            .iter()
            .map(|entry| CheckResult::failed(entry, &e, started.elapsed()))
            .collect(),
    }
}

/// The entries routed inside the stack's network, in one throw-away container.
async fn run_inside(remote: &Remote, routed: Vec<(usize, &Entry)>) -> Vec<(usize, CheckResult)> {
    let started = Instant::now();
    let entries: Vec<&Entry> = routed.iter().map(|(_, e)| *e).collect();
    let found = remote.verify_inside(&entries).await;
    routed
        .into_iter()
        .map(|(index, entry)| {
            let result = match &found {
                Ok(found) => found.get(&entry.name).cloned().unwrap_or_else(|| {
                    let e = Error::failed("the run inside the stack's network gave no result")
                        .with_hint(
                            "rerun with `--log-level debug` to see the probe container's own log",
                        );
                    CheckResult::failed(entry, &e, started.elapsed())
                }),
                Err(e) => CheckResult::failed(entry, e, started.elapsed()),
            };
            (index, result)
        })
        .collect()
}

/// One entry run here, or one service's `from:` entries: results with the entries' indices.
type Run<'a> = futures_util::future::BoxFuture<'a, Vec<(usize, CheckResult)>>;

/// Runs `entries` in parallel (bounded), results in the entries' order.
pub async fn run_all(
    entries: &[&Entry],
    remote: Option<&Remote>,
    settings: &Settings,
) -> Vec<CheckResult> {
    let mut by_service: BTreeMap<&str, Vec<(usize, &Entry)>> = BTreeMap::new();
    let mut here = Vec::new();
    let mut routed = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match (&entry.from, remote) {
            (Some(service), _) => by_service
                .entry(service.as_str())
                .or_default()
                .push((index, entry)),
            (None, Some(remote)) if remote.routes(entry) => routed.push((index, *entry)),
            (None, _) => here.push((index, *entry)),
        }
    }
    let mut runs: Vec<Run<'_>> = Vec::new();
    if let (Some(remote), false) = (remote, routed.is_empty()) {
        runs.push(Box::pin(run_inside(remote, routed)));
    }
    for (index, entry) in here {
        runs.push(Box::pin(async move {
            vec![(index, run_here(entry, settings).await)]
        }));
    }
    for (service, group) in by_service {
        runs.push(Box::pin(async move {
            let group_entries: Vec<&Entry> = group.iter().map(|(_, e)| *e).collect();
            let results = run_from(remote, service, &group_entries).await;
            group.iter().map(|(i, _)| *i).zip(results).collect()
        }));
    }
    let mut out: Vec<(usize, CheckResult)> = futures_util::stream::iter(runs)
        .buffer_unordered(PARALLEL)
        .flat_map(futures_util::stream::iter)
        .collect()
        .await;
    out.sort_by_key(|(index, _)| *index);
    out.into_iter().map(|(_, r)| r).collect()
}
