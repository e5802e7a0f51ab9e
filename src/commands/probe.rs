//! `stackctl probe SERVICE TARGET...`: stackctl's checks run from inside a service's network
//! namespace by a throw-away container; `--matrix` checks every service against every other;
//! `--here` runs the targets from this machine.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::common::{StackArgs, open_stack, project_without_file};
use crate::cli::values;
use crate::engine::docker::DockerApi;
use crate::env_vars;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::netns::here::{Plan, probe_all};
use crate::netns::image::{self, ProbeBinary};
use crate::netns::locate::{self, ServiceContainer};
use crate::netns::matrix::{self, Row};
use crate::netns::remote::{At, probe_from};
use crate::netns::result::ProbeResult;
use crate::settings::{Output, Settings};
use crate::stack::Stack;
use crate::target::Target;

/// The largest plan read inside: targets and a timeout.
const PLAN_MAX: u64 = 1 << 20;

/// How many probe containers run at once during `--matrix`.
const MATRIX_PARALLELISM: usize = 4;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The service whose network namespace the targets are checked from
    #[arg(value_name = "SERVICE", required_unless_present_any = ["matrix", "here"])]
    pub service: Option<String>,
    /// `tcp://HOST:PORT`, `http(s)://...`, `dns://NAME[?type=..]`, `mongodb://HOST[:PORT][/?replicaSet=NAME]`, `rocketchat+http(s)://HOST[:PORT]`
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Check every running service against every other (by name, and on the ports their clients use)
    #[arg(long, conflicts_with = "here")]
    pub matrix: bool,
    /// Check the targets from this machine instead of from inside a service
    #[arg(long)]
    pub here: bool,
    /// Read the targets from stdin as JSON (how the probe container is told what to check)
    #[arg(long, hide = true, requires = "here")]
    pub stdin: bool,
    /// Bound of each target's check
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = values::duration)]
    pub timeout: Duration,
    /// Swarm: the registry (HOST:PORT) the probe image is pushed to, for a task on another node [default: the registry the service's image comes from]
    #[arg(long, value_name = "HOST:PORT")]
    pub registry: Option<String>,
    /// The static stackctl binary to put in the probe image [default: the running binary]
    #[arg(long, value_name = "PATH", env = env_vars::STACKCTL_PROBE_BINARY)]
    pub binary: Option<PathBuf>,
}

/// Runs the probe and prints one result per target (or the matrix).
pub async fn run(args: ProbeArgs, settings: &Settings) -> Result<ExitStatus> {
    if args.stdin {
        return inside(settings).await;
    }
    if args.here {
        let words = args.service.iter().chain(&args.targets);
        let targets = parse_targets(words)?;
        if targets.is_empty() {
            return Err(Error::usage("no targets to check")
                .with_hint("e.g. `stackctl probe --here tcp://127.0.0.1:27017 dns://mongo`"));
        }
        let results = probe_all(&targets, args.timeout).await;
        return Ok(print_results(&results, None, None, settings));
    }
    if args.matrix && (!args.targets.is_empty() || args.service.is_some()) {
        return Err(Error::usage("`--matrix` takes no service or targets")
            .with_hint("it checks every service against every other; drop the arguments"));
    }
    let service = args.service.clone().unwrap_or_default();
    let targets = parse_targets(args.targets.iter())?;
    if targets.is_empty() && !args.matrix {
        return Err(Error::usage(format!("no targets to check from `{service}`")).with_hint(
            format!(
                "e.g. `stackctl probe {service} tcp://mongo:27017 dns://rocketchat`, or `stackctl probe --matrix`"
            ),
        ));
    }
    let (project, stack) = project_and_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    if args.matrix {
        let containers = locate::project(&docker, &project).await?;
        return run_matrix(
            &args,
            settings,
            &docker,
            &project,
            stack.as_ref(),
            &containers,
        )
        .await;
    }
    // One service: one listing and one inspect (the whole project only to explain its absence).
    let containers = match locate::service(&docker, &project, &service).await? {
        Some(found) => BTreeMap::from([(service.clone(), found)]),
        None => locate::project(&docker, &project).await?,
    };
    let container = locate::running(&containers, &project, &service)?;
    let binary = ProbeBinary::load(args.binary.as_deref())?;
    let image = image::ensure(&docker, &binary).await?;
    let registry = registry_of(&args)?;
    // A Swarm task on another node is probed from a one-shot job on its node.
    let at = At::of(&docker, &image, &project, container, registry.as_deref()).await?;
    let node = container.swarm.as_ref().map(|t| t.node.as_str());
    tracing::debug!(service = %service, node = ?node, "probing from the service");
    let results = probe_from(at, &targets, args.timeout, &settings.log_filter).await?;
    Ok(print_results(&results, Some(&service), node, settings))
}

/// `--registry`, checked as `up --registry` checks it.
fn registry_of(args: &ProbeArgs) -> Result<Option<String>> {
    args.registry
        .as_deref()
        .map(crate::engine::swarm::parse_registry)
        .transpose()
}

/// `probe --here --stdin`, inside the probe container: the plan from stdin, NDJSON results.
async fn inside(settings: &Settings) -> Result<ExitStatus> {
    // Nothing else runs yet: a blocking read of the (small) plan is fine.
    let text = crate::netns::runner::read_plan(PLAN_MAX)
        .map_err(|e| Error::usage(format!("cannot read the probe plan: {e}")))?;
    let plan: Plan = serde_json::from_slice(&text)
        .map_err(|e| Error::usage(format!("the probe plan on stdin is not valid: {e}")))?;
    let targets = parse_targets(plan.targets.iter())?;
    let results = probe_all(&targets, Duration::from_millis(plan.timeout_ms)).await;
    let json = Settings {
        output: Output::Json,
        ..settings.clone()
    };
    print_results(&results, None, None, &json);
    // The results are the answer; the caller judges them.
    Ok(ExitStatus::Success)
}

fn parse_targets<'a>(words: impl Iterator<Item = &'a String>) -> Result<Vec<Target>> {
    words
        .map(|w| {
            w.parse::<Target>().map_err(|e| {
                Error::usage(format!("invalid target: {e}")).with_hint(
                    "targets look like `tcp://mongo:27017`, `http://rocketchat:3000/api/info`, `dns://mongo`, `mongodb://mongo:27017/?replicaSet=rs0` or `rocketchat+http://rocketchat:3000`",
                )
            })
        })
        .collect()
}

/// Prints one line (or JSON object) per result, naming the Swarm node it was checked from;
/// success when every target passed.
fn print_results(
    results: &[ProbeResult],
    from: Option<&str>,
    node: Option<&str>,
    settings: &Settings,
) -> ExitStatus {
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        node: Option<&'a str>,
        #[serde(flatten)]
        result: &'a ProbeResult,
    }
    let mut out = std::io::stdout().lock();
    for result in results {
        let text = if settings.output == Output::Json {
            serde_json::to_string(&Line { from, node, result }).unwrap_or_default()
        } else {
            match (from, node) {
                (Some(from), Some(node)) => result.line(Some(&format!("{from}@{node}"))),
                _ => result.line(from),
            }
        };
        let _ = writeln!(out, "{text}");
    }
    if results.iter().all(|r| r.result.ok()) {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

/// The project (and its stack file when there is one). `-p NAME` alone is enough for a stack
/// whose file is not at hand — e.g. one `docker compose` brought up elsewhere: its containers
/// are found by their labels.
fn project_and_stack(args: &StackArgs, settings: &Settings) -> Result<(String, Option<Stack>)> {
    if let Some(project) = project_without_file(args, settings) {
        return Ok((project, None));
    }
    let stack = open_stack(args, settings)?;
    Ok((stack.project.clone(), Some(stack)))
}

async fn run_matrix(
    args: &ProbeArgs,
    settings: &Settings,
    docker: &DockerApi,
    project: &str,
    stack: Option<&Stack>,
    containers: &BTreeMap<String, ServiceContainer>,
) -> Result<ExitStatus> {
    use futures_util::StreamExt;
    let declared = stack.map(declared_by).unwrap_or_default();
    let plan = matrix::plan(containers, &declared);
    if plan.pairs.is_empty() {
        return Err(Error::failed(format!(
            "project `{project}` has fewer than two running services: nothing to check"
        ))
        .with_hint("bring the stack up first (`stackctl up`), or name the project with `-p`"));
    }
    let binary = ProbeBinary::load(args.binary.as_deref())?;
    let image = image::ensure(docker, &binary).await?;
    let registry = registry_of(args)?;
    let registry = registry.as_deref();
    let sources = plan.by_source();
    let probes = sources.iter().map(|(from, targets)| {
        let image = image.clone();
        async move {
            let container = &containers[from];
            let outcome = async {
                let parsed = parse_targets(targets.iter())?;
                let at = At::of(docker, &image, project, container, registry).await?;
                probe_from(at, &parsed, args.timeout, &settings.log_filter).await
            };
            (from.clone(), outcome.await)
        }
    });
    let finished: Vec<(String, Result<Vec<ProbeResult>>)> = futures_util::stream::iter(probes)
        .buffer_unordered(MATRIX_PARALLELISM)
        .collect()
        .await;
    let mut by_source: BTreeMap<String, Vec<ProbeResult>> = BTreeMap::new();
    let mut skipped = plan.skipped.clone();
    for (from, outcome) in finished {
        match outcome {
            Ok(results) => {
                by_source.insert(from, results);
            }
            Err(e) => skipped.push(matrix::Skipped {
                service: from,
                reason: format!("the probe failed: {}", e.one_line()),
            }),
        }
    }
    let mut rows = Vec::new();
    let mut cursor: BTreeMap<&str, usize> = BTreeMap::new();
    for pair in &plan.pairs {
        let Some(results) = by_source.get(&pair.from) else {
            continue;
        };
        let index = cursor.entry(pair.from.as_str()).or_default();
        if let Some(result) = results.get(*index) {
            rows.push(Row::judge(pair, result));
        }
        *index += 1;
    }
    let probe_failed = skipped.len() > plan.skipped.len();
    let mut out = std::io::stdout().lock();
    if settings.output == Output::Json {
        for row in &rows {
            let mut value = serde_json::to_value(row).unwrap_or_default();
            value["event"] = "matrix_row".into();
            let _ = writeln!(out, "{value}");
        }
        for s in &skipped {
            let line = serde_json::json!({"event": "matrix_skipped", "service": s.service, "reason": s.reason});
            let _ = writeln!(out, "{line}");
        }
        let unexpected = rows.iter().filter(|r| !r.as_expected).count();
        let line = serde_json::json!({"event": "matrix_finished", "project": project, "checks": rows.len(), "unexpected": unexpected});
        let _ = writeln!(out, "{line}");
    } else {
        let _ = write!(out, "{}", matrix::render(&rows, &skipped));
    }
    let all_expected = rows.iter().all(|r| r.as_expected);
    Ok(if all_expected && !probe_failed {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// What the stack file says about each service: its ready checks, dependencies and networks.
fn declared_by(stack: &Stack) -> matrix::Declared {
    let mut declared = matrix::Declared::default();
    let mut networks = BTreeMap::new();
    for (name, service) in &stack.services {
        declared.ready.insert(name.clone(), service.ready.clone());
        declared
            .depends
            .insert(name.clone(), service.depends_on.keys().cloned().collect());
        let keys: Vec<String> = if service.networks.is_empty() {
            vec!["default".to_owned()]
        } else {
            service.networks.keys().cloned().collect()
        };
        networks.insert(
            name.clone(),
            keys.iter()
                .map(|key| crate::engine::labels::network_name(stack, key))
                .collect(),
        );
    }
    declared.networks = Some(networks);
    declared
}
