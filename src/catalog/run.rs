//! Running a catalog's checks: commands and target URLs here, target URLs with `from:` in a
//! throw-away container in that service's network namespace (one per service and round).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use super::{Catalog, Entry, Severity, What};
use crate::engine::docker::DockerApi;
use crate::error::Error;
use crate::netns::image::{self, ProbeBinary};
use crate::netns::locate;
use crate::netns::result::ProbeResult;
use crate::netns::runner::Inside;
use crate::netns::target::ProbeTarget;
use crate::output::{human_duration, millis};
use crate::settings::Settings;

/// How many checks run at once: enough that a catalog of dozens finishes in about one
/// check's time, few enough not to flood the servers checked.
pub const PARALLEL: usize = 16;

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The service it is about.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service: String,
    pub severity: Severity,
    pub ok: bool,
    /// What was seen, or why it failed (secrets masked).
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub latency_ms: f64,
}

impl CheckResult {
    fn of(entry: &Entry, ok: bool, detail: &str, latency: Duration) -> Self {
        let mut result = Self {
            name: entry.name.clone(),
            kind: entry.kind(),
            from: entry.from.clone(),
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
}

impl Remote {
    /// Connects when the catalog has `from:` checks; `None` when it has none.
    ///
    /// # Errors
    /// No project to find the services in, or no Docker daemon.
    pub async fn for_catalog(
        catalog: &Catalog,
        project: Option<&str>,
        settings: &Settings,
    ) -> Result<Option<Self>, Error> {
        if catalog.checks.iter().all(|c| c.from.is_none()) {
            return Ok(None);
        }
        let project = project
            .map(str::to_owned)
            .or_else(|| catalog.project.clone())
            .ok_or_else(|| {
                Error::usage("the catalog's `from:` checks need the project their services are in")
                    .with_hint("add `project: NAME` to the catalog, or pass `-p NAME`")
            })?;
        let docker = DockerApi::connect().await?;
        // As `probe --binary`: the static stackctl put in the probe image (else this one).
        let explicit = std::env::var_os(crate::env_vars::STACKCTL_PROBE_BINARY).map(PathBuf::from);
        let binary = ProbeBinary::load(explicit.as_deref())?;
        let image = image::ensure(&docker, &binary).await?;
        Ok(Some(Self {
            docker,
            project,
            image,
            log_filter: settings.log_filter.clone(),
        }))
    }

    /// Runs target URLs from inside `service`.
    async fn probe(
        &self,
        service: &str,
        targets: &[ProbeTarget],
        timeout: Duration,
    ) -> Result<Vec<ProbeResult>, Error> {
        let found = locate::service(&self.docker, &self.project, service).await?;
        let containers: BTreeMap<String, locate::ServiceContainer> =
            found.into_iter().map(|c| (service.to_owned(), c)).collect();
        let container = locate::running(&containers, &self.project, service)?;
        let inside = Inside {
            docker: &self.docker,
            image: &self.image,
            project: &self.project,
            service,
            container_id: &container.id,
        };
        crate::netns::remote::probe_from(inside, targets, timeout, &self.log_filter).await
    }
}

/// Runs one entry here (not `from:`).
pub async fn run_here(entry: &Entry, settings: &Settings) -> CheckResult {
    let started = Instant::now();
    match &entry.what {
        What::Command(args) => {
            let built = match super::parse_command(args) {
                Ok(kind) => crate::commands::check::build(kind, settings).await,
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
        What::Target(url) => match url.parse::<ProbeTarget>() {
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
    let targets: Vec<ProbeTarget> = entries
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
        Ok(results) if results.len() == entries.len() => entries
            .iter()
            .zip(&results)
            .map(|(entry, r)| probe_result(entry, Some(r)))
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
    for (index, entry) in entries.iter().enumerate() {
        match &entry.from {
            Some(service) => by_service
                .entry(service.as_str())
                .or_default()
                .push((index, entry)),
            None => here.push((index, *entry)),
        }
    }
    let mut runs: Vec<Run<'_>> = Vec::new();
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
