//! `stackctl status`: each service's state, health, job result, uptime and ports.

use std::io::Write;

use clap::Args;

use super::common::{StackArgs, open_stack};
use crate::engine::DockerApi;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::settings::{Output, Settings};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

/// Prints the stack's status as a table or JSON.
pub async fn run(args: StatusArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    let statuses = crate::engine::status::status(&stack, &docker).await?;
    let text = if settings.output == Output::Json {
        serde_json::to_string(&statuses).unwrap_or_default() + "\n"
    } else {
        crate::engine::status::render(&statuses)
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(ExitStatus::Success)
}
