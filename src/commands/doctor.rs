//! `stackctl doctor [-f FILE…] [-p NAME] [SERVICE…]`: why a running stack is broken and what
//! fixes it (the work is in [`crate::doctor`]). Exit 0 healthy, 1 problems found, 3 could not
//! observe (no daemon, no such project).

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;

use super::common::{StackArgs, open_stack, project_without_file};
use crate::cli::values;
use crate::doctor::{diagnose, inside, observe, report, rules};
use crate::engine::DockerApi;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::settings::{Output, Settings};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Bound of each observation (a Docker call, a MongoDB or Rocket.Chat question)
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = values::duration)]
    pub timeout: Duration,
    /// Observe what a plan on stdin names, from here (how doctor looks from inside the stack)
    #[arg(long, hide = true)]
    pub here: bool,
}

/// The largest plan read on stdin.
const MAX_PLAN: u64 = 1 << 20;

/// Diagnoses the stack and prints the report.
pub async fn run(args: DoctorArgs, settings: &Settings) -> Result<ExitStatus> {
    if args.here {
        return here().await;
    }
    let started = Instant::now();
    let without_file = project_without_file(&args.stack, settings);
    // A stack file is read (and refused, exit 2) before anything touches Docker.
    let stack = match &without_file {
        None => Some(open_stack(&args.stack, settings)?),
        Some(_) => None,
    };
    let docker = DockerApi::connect().await.map_err(|e| {
        Error::timeout(format!("cannot observe the stack: {}", e.message())).with_hint(
            e.hint()
                .unwrap_or("is the Docker daemon running? (`docker info`)"),
        )
    })?;
    let stack = match (stack, without_file) {
        (Some(stack), _) => stack,
        (None, project) => {
            let project = project.unwrap_or_default();
            recorded_stack(&docker, &project, &args.stack, args.timeout, settings).await
        }
    };
    let observation =
        observe::observe(&stack, &docker, &args.services, args.timeout, settings).await?;
    let rules = rules::shipped();
    let findings = diagnose::diagnose(&observation, &rules, &stack.project);
    let report = report::Report::new(
        &stack.project,
        &findings,
        observation.services.len(),
        observation.facts.len(),
        &observation.unobserved,
        started.elapsed(),
    );
    let text = match settings.output {
        Output::Json => report.json(),
        Output::Quiet => format!("{}\n", report.summary),
        _ => report.text(),
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(if report.healthy() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The stack of a project whose file is not at hand (`-p NAME` alone): the files compose
/// recorded on its containers (`project.config_files`, read from `project.working_dir`) when
/// they are still there, so `doctor -p NAME` from any directory reads the file the project was
/// brought up from; else no file at all, and doctor judges what the containers' labels say.
async fn recorded_stack(
    docker: &DockerApi,
    project: &str,
    args: &StackArgs,
    timeout: Duration,
    settings: &Settings,
) -> crate::stack::Stack {
    let containers =
        tokio::time::timeout(timeout * 2, crate::netns::locate::project(docker, project))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
    let recorded = containers
        .values()
        .find(|c| !c.config_files.is_empty())
        .map(|c| (c.config_files.clone(), c.working_dir.clone()));
    let empty = || crate::stack::Stack::empty(project, settings.cwd.clone());
    let Some((files, dir)) = recorded else {
        tracing::debug!(
            project,
            "no stack file recorded on the containers: labels only"
        );
        return empty();
    };
    let files: Vec<std::path::PathBuf> = files.iter().map(std::path::PathBuf::from).collect();
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "warning: `{}`, which project `{project}` was brought up from, is not here: judging its containers' labels only",
            missing.display()
        );
        return empty();
    }
    let cwd = dir.map_or_else(|| settings.cwd.clone(), std::path::PathBuf::from);
    let options = crate::stack::LoadOptions {
        files: files.clone(),
        project: Some(project.to_owned()),
        env_file: args.env_file.clone(),
        environment: settings.variables.clone(),
        cwd,
    };
    match crate::stack::open(&options, &args.profiles.iter().cloned().collect()) {
        Ok(stack) => {
            tracing::debug!(project, files = ?files, "read the stack files compose recorded");
            stack
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "warning: the stack file project `{project}` was brought up from cannot be read ({}): judging its containers' labels only",
                e.one_line()
            );
            empty()
        }
    }
}

/// `doctor --here`: the plan on stdin, observed from this network namespace, one fact a line.
async fn here() -> Result<ExitStatus> {
    use std::io::Read as _;
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_PLAN)
        .read_to_string(&mut text)
        .map_err(|e| Error::usage(format!("cannot read the plan on stdin: {e}")))?;
    let plan: inside::Plan = serde_json::from_str(&text)
        .map_err(|e| Error::usage(format!("the plan on stdin is not valid: {e}")))?;
    let mut out = String::new();
    for fact in inside::observe(&plan).await {
        out.push_str(&serde_json::to_string(&fact).unwrap_or_default());
        out.push('\n');
    }
    let _ = write!(std::io::stdout().lock(), "{out}");
    Ok(ExitStatus::Success)
}
