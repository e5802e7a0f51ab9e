//! `stackctl doctor [-f FILE…] [-p NAME] [SERVICE…]`: why a running stack is broken and what
//! fixes it (the work is in [`crate::doctor`]). Exit 0 healthy, 1 problems found, 3 could not
//! observe (no daemon, no such project).

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;

use super::common::{StackArgs, open_stack};
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
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await.map_err(|e| {
        Error::timeout(format!("cannot observe the stack: {}", e.message())).with_hint(
            e.hint()
                .unwrap_or("is the Docker daemon running? (`docker info`)"),
        )
    })?;
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
