//! `stackctl backup-guard` (hidden): the guard `backup` runs in a throw-away container before it
//! stops anything, which starts the stack again if the backup process dies
//! ([`crate::backup::guard`] says how and why a container).

use std::time::Duration;

use clap::Args;

use crate::backup::guard;
use crate::cli::values;
use crate::error::Result;
use crate::exit::ExitStatus;

#[derive(Debug, Args)]
pub struct BackupGuardArgs {
    /// The project whose backup is guarded
    #[arg(long, value_name = "NAME")]
    pub project: String,
    /// One dependency level of containers to start again, in order: `SERVICE=ID[,SERVICE=ID...]`
    #[arg(long, value_name = "LEVEL", value_parser = guard::parse_level)]
    pub level: Vec<Vec<(String, String)>>,
    /// Give up waiting for the restarted containers after this long
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = values::duration)]
    pub timeout: Duration,
}

/// Guards until released (exit 0) or until the stack is back after the backup died (0, or 1
/// when a service did not come back).
pub async fn run(args: BackupGuardArgs) -> Result<ExitStatus> {
    Ok(
        if guard::watch(&args.project, &args.level, args.timeout).await {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        },
    )
}
