//! `stackctl restore FILE`: every member's SHA-256 checked first (a corrupted archive is refused,
//! exit 2, naming the member), the backup's versions compared with the stack's (exit 2, both
//! sides named; `--force`), then the stack stopped, its volumes replaced through the same
//! throw-away container `backup` uses, and the stack brought up with `up`, which waits for
//! every service's healthcheck; `-c` also runs a check catalog.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::backup::{Signals, bring_up};
use super::common::{Recovery, StackArgs, open_stack};
use crate::backup::manifest;
use crate::backup::{self as snapshot, archive, wire};
use crate::engine::docker::DockerApi;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::netns::image::{self, ProbeBinary};
use crate::settings::{Output, Settings};

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The backup (`stackctl backup -o FILE`)
    #[arg(value_name = "FILE")]
    pub archive: PathBuf,
    /// Restore even when the backup's versions or images differ from the stack's
    #[arg(long)]
    pub force: bool,
    /// Also run this check catalog once the stack is up
    #[arg(long, short = 'c', value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    #[command(flatten)]
    pub recovery: Recovery,
}

/// Restores the backup into the stack.
pub async fn run(args: RestoreArgs, settings: &Settings) -> Result<ExitStatus> {
    let started = Instant::now();
    let backup = {
        let file = args.archive.clone();
        tokio::task::spawn_blocking(move || archive::verify(&file))
            .await
            .map_err(|e| Error::failed(format!("reading the backup failed: {e}")))??
    };
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    crate::backup::guard::refuse_if_running(&docker, &stack.project).await?;
    let containers = crate::netns::locate::project(&docker, &stack.project).await?;
    let versions = wire::read(&stack, &containers).await;
    let images = wire::images(&stack, &docker).await;
    manifest::refuse_mismatch(&backup, &versions, &images, args.force, &args.archive)?;
    let image = image::ensure(
        &docker,
        &ProbeBinary::load(args.recovery.binary.as_deref())?,
    )
    .await?;
    let say = |text: String| {
        if settings.output != Output::Json && settings.output != Output::Quiet {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    };
    // Caught so that an interrupt lands between steps, never inside a volume's replacement:
    // the stack is brought up all the same.
    let mut signals = Signals::install()?;
    let stopped_at = Instant::now();
    let replaced = tokio::select! {
        done = snapshot::restore_volumes(&stack, &docker, &image, &args.archive, &backup, |key| {
            say(format!("restoring volume {key}"));
        }) => done,
        signal = signals.next() => Err(Error::failed(format!("interrupted by {signal}: the volumes may be half restored"))),
    };
    let up = bring_up(stack.clone(), &docker, args.recovery.timeout, settings).await;
    let downtime = stopped_at.elapsed();
    let replaced = replaced?;
    up?;
    let mut status = ExitStatus::Success;
    if let Some(catalog) = &args.catalog {
        status = super::backup::run_verify(catalog, &stack.project, settings).await?;
    }
    if settings.output == Output::Json {
        let line = serde_json::json!({
            "event": "restored",
            "file": args.archive.display().to_string(),
            "volumes": replaced,
            "downtime_ms": downtime.as_millis() as u64,
            "elapsed_ms": started.elapsed().as_millis() as u64,
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else {
        say(format!(
            "restored {} from `{}` in {} (services down for {})",
            replaced.join(", "),
            args.archive.display(),
            crate::output::human_duration(started.elapsed()),
            crate::output::human_duration(downtime)
        ));
    }
    Ok(status)
}
