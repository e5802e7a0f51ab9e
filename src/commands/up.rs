//! `stackctl up`: bring the stack up in dependency order and return when it is ready.

use std::time::Duration;

use clap::Args;

use super::common::{AllowUnsupported, Engine, EngineArg, StackArgs, open_supported_stack};
use crate::cli::values;
use crate::engine::{DockerApi, UpOptions};
use crate::env_vars;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::output::{Reporter, renderer_for};
use crate::retry::RetryPolicy;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub engine: EngineArg,
    #[command(flatten)]
    pub allow: AllowUnsupported,
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "5m", env = env_vars::STACKCTL_UP_TIMEOUT, value_parser = values::duration)]
    pub timeout: Duration,
    /// Do not run one-shot services (jobs)
    #[arg(long)]
    pub no_jobs: bool,
    /// `--engine swarm`: push every image to this registry (HOST:PORT) and deploy it by digest, so that every node can pull it
    #[arg(long, value_name = "HOST:PORT", env = env_vars::STACKCTL_REGISTRY)]
    pub registry: Option<String>,
}

/// Brings the stack up.
pub async fn run(args: UpArgs, settings: &Settings) -> Result<ExitStatus> {
    let registry = match (&args.registry, args.engine.engine) {
        (None, _) => None,
        (Some(value), Engine::Swarm) => Some(crate::engine::swarm::parse_registry(value)?),
        (Some(_), Engine::Compose) => {
            return Err(crate::error::Error::usage(
                "`--registry` is for `--engine swarm`: plain containers run the local images",
            )
            .with_hint("add `--engine swarm`, or leave `--registry` out"));
        }
    };
    let stack = open_supported_stack(&args.stack, args.allow, settings)?;
    let docker = DockerApi::connect().await?;
    // A backup under way stopped some services on purpose; its guard starts them again.
    crate::backup::guard::refuse_if_running(&docker, &stack.project).await?;
    // Before anything changes: no MongoDB swapped under its data (exit 2, see `upgrade`).
    let selected = crate::engine::plan::selection(&stack, &args.services)?;
    crate::versions::guard::check(&stack, &docker, &selected).await?;
    let options = UpOptions {
        services: args.services,
        timeout: args.timeout,
        no_jobs: args.no_jobs,
        registry,
        policy: RetryPolicy::Exponential {
            min: Duration::from_millis(25),
            max: Duration::from_secs(1),
            factor: 2.0,
        },
    };
    let reporter = Reporter::new(renderer_for(settings));
    match args.engine.engine {
        Engine::Compose => crate::engine::up(stack, docker, options, &reporter).await?,
        Engine::Swarm => crate::engine::swarm::up(stack, docker, options, &reporter).await?,
    };
    Ok(ExitStatus::Success)
}
