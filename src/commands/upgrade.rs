//! `stackctl upgrade`: brings the running stack to the versions its file now names. The
//! running versions are read over the wire, the path planned (`--dry-run` prints it), a
//! backup taken and verified by a restore beside the stack, then each hop run; a failed hop
//! is rolled back (an image revert while nothing irreversible ran, else the backup restored
//! onto the old versions) and the command exits 1 saying what it did. The domain is in
//! [`crate::upgrade`]; this file strings the commands together.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use super::backup::{BackupArgs, bring_up, pin, run_smoke};
use super::common::{AllowUnsupported, Recovery, StackArgs, open_supported_stack};
use crate::backup::{self as snapshot, archive, wire};
use crate::engine::docker::DockerApi;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::netns::image::{self, ProbeBinary};
use crate::output::{Event, Reporter, renderer_for};
use crate::settings::{Output, Settings};
use crate::stack::Stack;
use crate::upgrade::hop::Runner;
use crate::upgrade::plan::{self, Pair, Plan};

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub allow: AllowUnsupported,
    /// Print the plan (each hop, its image, its setFeatureCompatibilityVersion) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// An image for a release the path passes through (repeatable) [default: the file's repository tagged with the MongoDB series, or with the last release of a Rocket.Chat major]
    #[arg(long, value_name = "IMAGE")]
    pub via: Vec<String>,
    /// Write the pre-upgrade backup here [default: `<project>-pre-upgrade-<UTC time>.tar.gz`]
    #[arg(long, value_name = "FILE")]
    pub backup_file: Option<PathBuf>,
    /// Also run this check catalog once the stack runs the new versions (and on the backup's verification)
    #[arg(long, short = 'c', value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    #[command(flatten)]
    pub recovery: Recovery,
}

fn pair_text(pair: &Pair) -> String {
    match pair.rocketchat {
        Some(rc) => format!("Rocket.Chat {rc} on MongoDB {}", pair.mongodb),
        None => format!("MongoDB {}", pair.mongodb),
    }
}

/// Upgrades the stack.
pub async fn run(args: UpgradeArgs, settings: &Settings) -> Result<ExitStatus> {
    let started = Instant::now();
    let stack = open_supported_stack(&args.stack, args.allow, settings)?;
    let roles = crate::upgrade::roles(&stack)?;
    let (to, images) = crate::upgrade::target(&stack, &roles, &args.via)?;
    let docker = DockerApi::connect().await?;
    let containers = crate::netns::locate::project(&docker, &stack.project).await?;
    let versions = wire::read(&stack, &containers).await;
    let from = crate::upgrade::running(&versions, &roles)?;
    let plan = plan::plan(from, to, &images).map_err(|why| {
        Error::usage(format!(
            "no upgrade path from {} to {}: {why}",
            pair_text(&from),
            pair_text(&to)
        ))
        .with_hint(format!(
            "MongoDB moves one major at a time and Rocket.Chat skips no major; every pair on the \
             way must be in the matrix ({})",
            crate::versions::matrix::MATRIX_SOURCE
        ))
    })?;
    let json = settings.output == Output::Json;
    let show = |plan: &Plan| {
        let mut out = std::io::stdout().lock();
        if json {
            let _ = writeln!(out, "{}", plan.json());
        } else {
            let _ = write!(out, "{}", plan.render());
        }
    };
    if args.dry_run {
        show(&plan);
        return Ok(ExitStatus::Success);
    }
    if plan.steps.is_empty() {
        if !json && settings.output != Output::Quiet {
            let _ = writeln!(
                std::io::stderr().lock(),
                "nothing to upgrade: the stack runs {}, as its file names",
                pair_text(&from)
            );
        }
        return Ok(ExitStatus::Success);
    }
    show(&plan);
    let originals = crate::upgrade::running_images(&containers);
    let file = args
        .backup_file
        .clone()
        .unwrap_or_else(|| default_backup(&stack));
    backup_and_verify(&args, &file, &originals, settings).await?;

    let reporter = Reporter::new(renderer_for(settings));
    reporter.emit(&Event::JobStarted {
        job: "upgrade".to_owned(),
        timeout_ms: crate::output::millis(args.recovery.timeout),
    });
    let mut current = stack.clone();
    pin(&mut current, &originals);
    let mut runner = Runner {
        stack: current,
        docker: &docker,
        reporter: &reporter,
        timeout: args.recovery.timeout,
        mongo: roles.mongo.clone(),
        rocketchat: roles.rocketchat.clone(),
        started,
    };
    let mut hops = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let hop_started = Instant::now();
        runner.say(format!(
            "hop {}/{}: {} on `{}`",
            i + 1,
            plan.steps.len(),
            step.title(),
            step.image()
        ));
        if let Err(failure) = runner.run(step).await {
            let failed = format!("hop {}/{} ({})", i + 1, plan.steps.len(), step.title());
            reporter.emit(&Event::JobFailed {
                job: "upgrade".to_owned(),
                error: format!("{failed}: {}", failure.error.message()),
                elapsed_ms: crate::output::millis(started.elapsed()),
            });
            let rolled = if failure.irreversible {
                restore_old(&args, &stack, &originals, &file, &docker, settings)
                    .await
                    .map(|()| {
                        format!(
                            "rolled back: the pre-upgrade backup `{}` was restored onto the old \
                             versions ({}); the stack runs them",
                            file.display(),
                            pair_text(&from)
                        )
                    })
            } else {
                bring_up(
                    runner.stack.clone(),
                    &docker,
                    args.recovery.timeout,
                    settings,
                )
                .await
                .map(|_| {
                    format!(
                        "rolled back by an image revert (nothing irreversible had run): the \
                             stack runs the images of the last finished hop ({} hop{} done); the \
                             pre-upgrade backup is `{}`",
                        i,
                        if i == 1 { "" } else { "s" },
                        file.display()
                    )
                })
            };
            emit_finished(settings, false, &hops, started, &file);
            return Err(match rolled {
                Ok(what) => Error::failed(format!("{failed} failed: {}; {what}", failure.error.message()))
                    .with_hint("fix the cause (the service's log says more), then run `stackctl upgrade` again"),
                Err(e) => Error::failed(format!(
                    "{failed} failed: {}; the rollback failed too: {}",
                    failure.error.message(),
                    e.message()
                ))
                .with_hint(format!(
                    "restore by hand onto the old tags ({}): `stackctl restore {} --force`",
                    pair_text(&from),
                    file.display()
                )),
            });
        }
        hops.push((step.title(), hop_started.elapsed()));
    }
    // Everything up on the file's images, then the proof.
    runner.say("bringing the whole stack up on the new versions");
    bring_up(stack.clone(), &docker, args.recovery.timeout, settings).await?;
    let mut status = ExitStatus::Success;
    if let Some(catalog) = &args.catalog {
        status = super::backup::run_verify(catalog, &stack.project, settings).await?;
    }
    let smoked = run_smoke(
        &args.stack,
        &stack.project,
        args.recovery.binary.as_deref(),
        settings,
    )
    .await?;
    if smoked != ExitStatus::Success {
        status = smoked;
    }
    reporter.emit(&Event::JobDone {
        job: "upgrade".to_owned(),
        attempts: 1,
        elapsed_ms: crate::output::millis(started.elapsed()),
    });
    emit_finished(
        settings,
        status == ExitStatus::Success,
        &hops,
        started,
        &file,
    );
    Ok(status)
}

/// `<project>-pre-upgrade-<UTC time>.tar.gz` in the working directory.
fn default_backup(stack: &Stack) -> PathBuf {
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    PathBuf::from(format!("{}-pre-upgrade-{at}.tar.gz", stack.project))
}

/// `backup -o FILE`, then `backup --verify FILE`, both on the images running now.
async fn backup_and_verify(
    args: &UpgradeArgs,
    file: &Path,
    originals: &BTreeMap<String, String>,
    settings: &Settings,
) -> Result<()> {
    let backup = |verify: Option<PathBuf>| BackupArgs {
        stack: args.stack.clone(),
        output: verify.is_none().then(|| file.to_path_buf()),
        online: false,
        verify,
        catalog: None,
        force: false,
        recovery: args.recovery.clone(),
        pin_images: originals.clone(),
    };
    let taken = super::backup::run(backup(None), settings).await?;
    if taken != ExitStatus::Success {
        return Err(Error::failed(
            "the pre-upgrade backup failed: nothing was upgraded",
        ));
    }
    let mut verify = backup(Some(file.to_path_buf()));
    verify.catalog.clone_from(&args.catalog);
    let verified = super::backup::run(verify, settings).await?;
    if verified != ExitStatus::Success {
        return Err(Error::failed(format!(
            "the pre-upgrade backup `{}` did not pass its verification (restored beside the \
             stack, its checks failed): nothing was upgraded",
            file.display()
        ))
        .with_hint("`stackctl backup --verify FILE` shows which check failed"));
    }
    Ok(())
}

/// Restores the pre-upgrade backup onto the images that ran before, and brings them up.
async fn restore_old(
    args: &UpgradeArgs,
    stack: &Stack,
    originals: &BTreeMap<String, String>,
    file: &Path,
    docker: &DockerApi,
    settings: &Settings,
) -> Result<()> {
    let mut old = stack.clone();
    pin(&mut old, originals);
    let manifest = {
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || archive::verify(&file))
            .await
            .map_err(|e| Error::failed(format!("reading the backup failed: {e}")))??
    };
    let image = image::ensure(docker, &ProbeBinary::load(args.recovery.binary.as_deref())?).await?;
    snapshot::restore_volumes(&old, docker, &image, file, &manifest, |key| {
        tracing::debug!(volume = %key, "restoring for the rollback");
    })
    .await?;
    bring_up(old, docker, args.recovery.timeout, settings).await?;
    Ok(())
}

fn emit_finished(
    settings: &Settings,
    ok: bool,
    hops: &[(String, Duration)],
    started: Instant,
    file: &Path,
) {
    if settings.output == Output::Json {
        let hops: Vec<serde_json::Value> = hops
            .iter()
            .map(|(title, took)| serde_json::json!({"hop": title, "elapsed_ms": took.as_millis() as u64}))
            .collect();
        let line = serde_json::json!({
            "event": "upgrade_finished",
            "ok": ok,
            "hops": hops,
            "backup": file.display().to_string(),
            "elapsed_ms": started.elapsed().as_millis() as u64,
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else if settings.output != Output::Quiet {
        let mut err = std::io::stderr().lock();
        for (title, took) in hops {
            let _ = writeln!(err, "  {title}: {}", crate::output::human_duration(*took));
        }
        if ok {
            let _ = writeln!(
                err,
                "upgraded in {} (pre-upgrade backup: `{}`)",
                crate::output::human_duration(started.elapsed()),
                file.display()
            );
        }
    }
}
