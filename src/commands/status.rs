//! `stackctl status`: each service's state, health, job result, uptime and ports.

use std::io::Write;

use clap::Args;

use super::common::{Engine, EngineArg, StackArgs, open_stack};
use crate::engine::DockerApi;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::settings::{Output, Settings};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// Prints the stack's status as a table or JSON.
pub async fn run(args: StatusArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    let json = settings.output == Output::Json;
    let text = match args.engine.engine {
        Engine::Compose => {
            let statuses = crate::engine::status::status(&stack, &docker).await?;
            if json {
                serde_json::to_string(&statuses).unwrap_or_default() + "\n"
            } else {
                crate::engine::status::render(&statuses)
            }
        }
        Engine::Swarm => {
            let statuses = crate::engine::swarm::status(&stack, &docker).await?;
            if json {
                serde_json::to_string(&statuses).unwrap_or_default() + "\n"
            } else {
                crate::engine::swarm::render(&statuses)
            }
        }
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    if !json
        && settings.output != Output::Quiet
        && let Some(note) = crate::backup::guard::describe(&docker, &stack.project).await
    {
        let _ = writeln!(std::io::stderr().lock(), "note: {note}");
    }
    Ok(ExitStatus::Success)
}
