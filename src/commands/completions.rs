//! `stackctl completions SHELL`: the shell's completion script, generated from the same clap
//! definitions the command line is parsed with, so it never lags behind a new flag.

use std::io::Write;

use clap::Args;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for, e.g. `bash` (then `source <(stackctl completions bash)`)
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script on stdout.
pub fn run(args: &CompletionsArgs, mut tree: clap::Command) -> Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut tree, "stackctl", &mut script);
    std::io::stdout().lock().write_all(&script).map_err(|e| {
        Error::failed(format!(
            "cannot print the script: {}",
            crate::reason::io_reason(&e)
        ))
    })?;
    Ok(ExitStatus::Success)
}
