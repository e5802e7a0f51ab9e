//! The flags every subcommand accepts, as clap sees them; [`crate::settings`] resolves them.

use clap::Args;
use clap::builder::BoolishValueParser;

use crate::env_vars;

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Log filter, e.g. `debug` or `stackctl=trace` (falls back to `RUST_LOG`)
    #[arg(long, global = true, value_name = "FILTER", env = env_vars::STACKCTL_LOG)]
    pub log_level: Option<String>,

    /// Machine-readable output: one JSON object per line on stdout
    #[arg(long, global = true, env = env_vars::STACKCTL_JSON, value_parser = BoolishValueParser::new())]
    pub json: bool,

    /// No progress output; results and errors only
    #[arg(long, short, global = true, env = env_vars::STACKCTL_QUIET, value_parser = BoolishValueParser::new())]
    pub quiet: bool,

    /// Never use colour (also when `NO_COLOR` is set)
    #[arg(long, global = true)]
    pub no_color: bool,
}
