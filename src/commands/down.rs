//! `stackctl down`: remove the stack's containers and networks (and volumes with `-v`).

use std::io::Write;

use clap::Args;

use super::common::{Engine, EngineArg, StackArgs, open_stack};
use crate::engine::DockerApi;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::settings::{Output, Settings};

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub engine: EngineArg,
    /// Also remove the named volumes (their data is lost)
    #[arg(long, short = 'v')]
    pub volumes: bool,
    /// Also remove containers of services no longer in the stack file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Seconds each container gets to stop before it is killed (as `docker compose down -t`)
    /// [default: the service's `stop_grace_period`, else 10]
    #[arg(long, short = 't', value_name = "SECONDS")]
    pub timeout: Option<u16>,
}

/// Takes the stack down and says what was removed.
pub async fn run(args: DownArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    let removed = match args.engine.engine {
        Engine::Compose => {
            crate::engine::down::down(
                &stack,
                &docker,
                args.volumes,
                args.remove_orphans,
                args.timeout
                    .map(|seconds| std::time::Duration::from_secs(seconds.into())),
            )
            .await?
        }
        // Swarm stops a removed service's tasks with their own `stop_grace_period`; services
        // no longer in the file are the stack's all the same (found by its label).
        Engine::Swarm => crate::engine::swarm::down(&stack, &docker, args.volumes).await?,
    };
    if settings.output == Output::Json {
        let line = serde_json::json!({
            "project": stack.project,
            "removed": {"services": removed.services, "containers": removed.containers, "networks": removed.networks, "volumes": removed.volumes},
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else if settings.output != Output::Quiet {
        let mut err = std::io::stderr().lock();
        for (kind, names) in [
            ("service", &removed.services),
            ("container", &removed.containers),
            ("network", &removed.networks),
            ("volume", &removed.volumes),
        ] {
            for name in names {
                let _ = writeln!(err, "removed {kind} {name}");
            }
        }
        if removed.services.is_empty()
            && removed.containers.is_empty()
            && removed.networks.is_empty()
            && removed.volumes.is_empty()
        {
            let _ = writeln!(err, "project {}: nothing to remove", stack.project);
        }
    }
    Ok(ExitStatus::Success)
}
