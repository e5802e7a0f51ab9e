//! `stackctl graph`: draw the dependency graph of the stack file (no Docker needed).

use std::io::Write;

use clap::Args;

use super::common::{StackArgs, open_stack};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: GraphFormat,
}

/// How `graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

/// Prints the graph in the asked format.
pub fn run(args: &GraphArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let text = match args.format {
        GraphFormat::Text => crate::engine::plan::render_text(&stack),
        GraphFormat::Dot => crate::engine::plan::render_dot(&stack),
        GraphFormat::Mermaid => crate::engine::plan::render_mermaid(&stack),
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(ExitStatus::Success)
}
