//! `stackctl backup [-o FILE]`: a consistent snapshot of the whole stack — writers stopped in
//! reverse dependency order, every named volume archived, the stack brought back with `up`
//! even when the backup fails or is interrupted (SIGINT/SIGTERM) — and `backup --verify FILE`,
//! which restores a backup into a throw-away project beside the live one and runs the catalog
//! and `smoke` there: a backup is only called good once it was restored.
//!
//! What holds under SIGKILL: nothing runs after it in this process, so before it stops
//! anything `backup` starts a guard container ([`crate::backup::guard`]) that holds a lease on
//! it and starts the stopped services again when the lease breaks. The archive is written as
//! `FILE.partial` and renamed only once complete, so a killed backup never leaves a file under
//! the final name; the next backup reports what the guard did and removes the partial file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser};

use super::common::{Recovery, StackArgs, open_stack};
use crate::backup::archive::{self, Writer};
use crate::backup::manifest::{self, Manifest, StackFile};
use crate::backup::{self as snapshot, guard, wire};
use crate::engine::docker::DockerApi;
use crate::engine::labels::hex;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::netns::image::{self, ProbeBinary};
use crate::output::{Reporter, renderer_for};
use crate::retry::RetryPolicy;
use crate::settings::{Output, Settings};
use crate::stack::Stack;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Write the backup here (gzipped when the name ends in `.gz`) [default: `<project>-<UTC time>.tar.gz`]
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "verify")]
    pub output: Option<PathBuf>,
    /// Dump MongoDB with `mongodump --archive --gzip --oplog` in its container instead, without stopping anything (the image must have it)
    #[arg(long, conflicts_with = "verify")]
    pub online: bool,
    /// Restore this backup into a throw-away project beside the live one, run the catalog and `smoke` there, then remove it
    #[arg(long, value_name = "FILE")]
    pub verify: Option<PathBuf>,
    /// With `--verify`: the check catalog to run in the throw-away project
    #[arg(long, short = 'c', value_name = "FILE", requires = "verify")]
    pub catalog: Option<PathBuf>,
    /// With `--verify`: restore even when the backup's images differ from the stack's
    #[arg(long, requires = "verify")]
    pub force: bool,
    #[command(flatten)]
    pub recovery: Recovery,
    /// Service → image to run instead of the file's (`upgrade`: the images running before the
    /// file changed, so the restart and the verification run the versions the data is for).
    #[arg(skip)]
    pub pin_images: BTreeMap<String, String>,
}

/// Points each pinned service at its image.
pub(crate) fn pin(stack: &mut Stack, images: &BTreeMap<String, String>) {
    for (name, image) in images {
        if let Some(service) = stack.services.get_mut(name) {
            service.image = Some(image.clone());
        }
    }
}

/// Takes a backup, or verifies one.
pub async fn run(args: BackupArgs, settings: &Settings) -> Result<ExitStatus> {
    if let Some(file) = args.verify.clone() {
        return verify(&args, &file, settings).await;
    }
    let started = Instant::now();
    let mut stack = open_stack(&args.stack, settings)?;
    pin(&mut stack, &args.pin_images);
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&stack));
    let docker = DockerApi::connect().await?;
    let say = |text: String| {
        if settings.output == Output::Plain || settings.output == Output::Progress {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    };
    // The guard's fixed name is the project's backup lock; a guard a killed backup left is
    // reported and removed, with that backup's partial file.
    let leftover = guard::clear_leftover(&docker, &stack.project).await?;
    report_leftover(settings, &stack.project, &leftover);
    let image = if args.online {
        String::new()
    } else {
        image::ensure(
            &docker,
            &ProbeBinary::load(args.recovery.binary.as_deref())?,
        )
        .await?
    };
    let containers = crate::netns::locate::project(&docker, &stack.project).await?;
    let was_running = containers.values().any(|c| c.running() && !c.job);
    let mut manifest = Manifest {
        format: manifest::FORMAT,
        stackctl: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        project: stack.project.clone(),
        mode: if args.online { "online" } else { "offline" }.to_owned(),
        stack_files: stack_files(&stack)?,
        services: wire::images(&stack, &docker).await,
        versions: wire::read(&stack, &containers).await,
        members: Vec::new(),
    };
    manifest.versions.unread.retain(|_, why| !why.is_empty());
    let levels = if args.online {
        Vec::new()
    } else {
        snapshot::running_levels(&stack, &docker).await?
    };
    // The handlers are installed before anything stops and stay for the whole run: from here
    // on, SIGINT and SIGTERM interrupt the copy, never the restart.
    let mut signals = Signals::install()?;
    let mut writer = Writer::create(&output)?;
    // The guard, before anything stops; from here on no early return before its release.
    let lease = if args.online || !was_running {
        None
    } else if let Some(socket) = guard::socket() {
        Some(
            guard::take(
                &docker,
                &image,
                &stack.project,
                &socket,
                &levels,
                args.recovery.timeout,
                writer.partial_path(),
            )
            .await?,
        )
    } else {
        say(
            "warning: the daemon is not reached through a unix socket, so no guard watches this \
             backup: if it is killed before the end, `stackctl up` brings the stack back"
                .to_owned(),
        );
        None
    };
    let stopped_at = Instant::now();
    let work = async {
        if args.online {
            snapshot::mongodump(&stack, &docker, &mut writer).await?;
        } else {
            let stopped = snapshot::stop_writers(&docker, &levels).await?;
            say(format!("stopped {}", stopped.join(", ")));
            snapshot::archive_volumes(&stack, &docker, &image, &mut writer, |key| {
                say(format!("archiving volume {key}"));
            })
            .await?;
        }
        let manifest = manifest.clone();
        tokio::task::spawn_blocking(move || writer.finish(manifest))
            .await
            .map_err(|e| Error::failed(format!("writing the manifest failed: {e}")))?
    };
    let outcome = tokio::select! {
        done = work => done,
        signal = signals.next() => Err(Error::failed(format!(
            "interrupted by {signal}: no backup was written (the stack is being brought back up)"
        ))),
    };
    let archived_in = stopped_at.elapsed();
    if outcome.is_err() {
        snapshot::remove_helpers(&docker, &stack.project).await;
    }
    // The restart runs whatever happened above.
    let restarted = if was_running && !args.online {
        say("bringing the stack back up".to_owned());
        Some(bring_up(stack.clone(), &docker, args.recovery.timeout, settings).await)
    } else {
        None
    };
    let downtime = stopped_at.elapsed();
    if let Some(lease) = lease {
        lease.release(&docker).await;
    }
    let path = match (outcome, restarted) {
        (Err(e), Some(Err(up))) => {
            tracing::error!("{}", up.one_line());
            return Err(e);
        }
        (Err(e), _) => return Err(e),
        (Ok(path), Some(Err(up))) => {
            return Err(Error::failed(format!(
                "the backup `{}` was written, but the stack did not come back: {}",
                path.display(),
                up.message()
            ))
            .with_hint(up.hint().unwrap_or("`stackctl status` shows each service")));
        }
        (Ok(path), _) => path,
    };
    manifest = tokio::task::spawn_blocking({
        let path = path.clone();
        move || archive::verify(&path)
    })
    .await
    .map_err(|e| Error::failed(format!("re-reading the backup failed: {e}")))??;
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    report(
        settings,
        &path,
        size,
        &manifest,
        archived_in,
        (was_running && !args.online).then_some(downtime),
        started.elapsed(),
    );
    Ok(ExitStatus::Success)
}

fn report(
    settings: &Settings,
    path: &Path,
    size: u64,
    manifest: &Manifest,
    archived_in: Duration,
    downtime: Option<Duration>,
    elapsed: Duration,
) {
    let members: Vec<&str> = manifest.members.iter().map(|m| m.name.as_str()).collect();
    if settings.output == Output::Json {
        let line = serde_json::json!({
            "event": "backup_written",
            "file": path.display().to_string(),
            "size": size,
            "members": members,
            "versions": manifest.versions,
            "archive_ms": archived_in.as_millis() as u64,
            "downtime_ms": downtime.map(|d| d.as_millis() as u64),
            "elapsed_ms": elapsed.as_millis() as u64,
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else if settings.output != Output::Quiet {
        let _ = writeln!(
            std::io::stderr().lock(),
            "backup written: {} ({size} bytes; {}) in {}{}",
            path.display(),
            members.join(", "),
            crate::output::human_duration(elapsed),
            downtime.map_or_else(String::new, |d| format!(
                "; services stopped for {}",
                crate::output::human_duration(d)
            )),
        );
    }
}

/// What the guard of a killed backup said (its log), before this backup goes on.
fn report_leftover(settings: &Settings, project: &str, log: &[String]) {
    if log.is_empty() {
        return;
    }
    if settings.output == Output::Json {
        let line = serde_json::json!({
            "event": "backup_guard_report",
            "project": project,
            "log": log,
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else if settings.output != Output::Quiet {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "the previous backup of `{project}` was killed; its guard said:"
        );
        for line in log {
            let _ = writeln!(err, "  {line}");
        }
    }
}

/// `<project>-<UTC time>.tar.gz` in the working directory.
fn default_output(stack: &Stack) -> PathBuf {
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    PathBuf::from(format!("{}-{at}.tar.gz", stack.project))
}

/// Each stack file's name and SHA-256.
fn stack_files(stack: &Stack) -> Result<Vec<StackFile>> {
    use sha2::{Digest, Sha256};
    stack
        .files
        .iter()
        .map(|file| {
            let bytes = std::fs::read(file).map_err(|e| {
                Error::usage(format!(
                    "cannot read `{}`: {}",
                    file.display(),
                    crate::reason::io_reason(&e)
                ))
            })?;
            Ok(StackFile {
                name: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256: hex(&Sha256::digest(&bytes)),
            })
        })
        .collect()
}

/// `up` on the whole stack: dependency order, each service waited for.
pub(crate) async fn bring_up(
    stack: Stack,
    docker: &DockerApi,
    timeout: Duration,
    settings: &Settings,
) -> Result<Duration> {
    let options = crate::engine::UpOptions {
        services: Vec::new(),
        timeout,
        no_jobs: false,
        policy: RetryPolicy::Exponential {
            min: Duration::from_millis(25),
            max: Duration::from_secs(1),
            factor: 2.0,
        },
        // Backups are of the local engine's volumes; a registry only matters to `--engine swarm`.
        registry: None,
    };
    let reporter = Reporter::new(renderer_for(settings));
    crate::engine::up(stack, docker.clone(), options, &reporter).await
}

/// SIGINT and SIGTERM, caught from installation to the end of the process.
pub(crate) struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let failed = |e: std::io::Error| Error::failed(format!("cannot catch signals: {e}"));
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).map_err(failed)?,
            terminate: signal(SignalKind::terminate()).map_err(failed)?,
        })
    }

    /// The next one, by name.
    pub(crate) async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// `backup --verify FILE`: restore into a throw-away project, check it, remove it.
async fn verify(args: &BackupArgs, file: &Path, settings: &Settings) -> Result<ExitStatus> {
    let started = Instant::now();
    let manifest = {
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || archive::verify(&file))
            .await
            .map_err(|e| Error::failed(format!("reading the backup failed: {e}")))??
    };
    let running = open_stack(&args.stack, settings)?;
    // Named after this process, so that a later verify can tell it was killed.
    let project = format!(
        "{}-verify-{}",
        running.project,
        crate::backup::leftover::owner()
    );
    let stack_args = StackArgs {
        project: Some(project.clone()),
        ..args.stack.clone()
    };
    let mut stack = open_stack(&stack_args, settings)?;
    pin(&mut stack, &args.pin_images);
    isolate(&mut stack);
    let docker = DockerApi::connect().await?;
    for leftover in crate::backup::leftover::clear(&docker, &running.project).await? {
        if settings.output != Output::Json && settings.output != Output::Quiet {
            let _ = writeln!(
                std::io::stderr().lock(),
                "removed {leftover}, the throw-away project of a `backup --verify` that was killed"
            );
        }
    }
    let images = wire::images(&stack, &docker).await;
    manifest::refuse_mismatch(
        &manifest,
        &crate::backup::manifest::Versions::default(),
        &images,
        args.force,
        file,
    )?;
    let image = image::ensure(
        &docker,
        &ProbeBinary::load(args.recovery.binary.as_deref())?,
    )
    .await?;
    let mut signals = Signals::install()?;
    let say = |text: String| {
        if settings.output != Output::Json && settings.output != Output::Quiet {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    };
    say(format!(
        "verifying `{}` in the throw-away project {project}",
        file.display()
    ));
    let work = async {
        snapshot::restore_volumes(&stack, &docker, &image, file, &manifest, |key| {
            say(format!("restoring volume {key}"));
        })
        .await?;
        bring_up(stack.clone(), &docker, args.recovery.timeout, settings).await?;
        let mut status = ExitStatus::Success;
        if let Some(catalog) = &args.catalog {
            let verified = run_verify(catalog, &project, settings).await?;
            if verified != ExitStatus::Success {
                status = verified;
            }
        }
        let smoked = run_smoke(
            &stack_args,
            &project,
            args.recovery.binary.as_deref(),
            settings,
        )
        .await?;
        if smoked != ExitStatus::Success {
            status = smoked;
        }
        Ok::<_, Error>(status)
    };
    let outcome = tokio::select! {
        done = work => done,
        signal = signals.next() => Err(Error::failed(format!("interrupted by {signal}"))),
    };
    // The throw-away project goes whatever happened; a removal racing the daemon's own (a
    // probe container's auto-removal) is tried again, a bounded number of times.
    let mut delays = RetryPolicy::Exponential {
        min: Duration::from_millis(500),
        max: Duration::from_secs(4),
        factor: 2.0,
    }
    .delays()
    .take(4);
    loop {
        match crate::engine::down::down(&stack, &docker, true, true, Some(Duration::from_secs(5)))
            .await
        {
            Ok(_) => break,
            Err(e) => {
                let Some(delay) = delays.next() else {
                    say(format!(
                        "warning: cannot remove the throw-away project {project}: {}",
                        e.one_line()
                    ));
                    break;
                };
                tracing::debug!(%project, error = %e.one_line(), ?delay, "removing the throw-away project again");
                tokio::time::sleep(delay).await;
            }
        }
    }
    let status = outcome?;
    let good = status == ExitStatus::Success;
    if settings.output == Output::Json {
        let line = serde_json::json!({
            "event": "backup_verified",
            "file": file.display().to_string(),
            "good": good,
            "project": project,
            "elapsed_ms": started.elapsed().as_millis() as u64,
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else {
        say(format!(
            "backup `{}` {} in {}",
            file.display(),
            if good {
                "is good: restored, checked and smoke-tested"
            } else {
                "is NOT good: it restored, but its checks failed (above)"
            },
            crate::output::human_duration(started.elapsed())
        ));
    }
    Ok(status)
}

/// Makes a stack safe to run beside the live one: no fixed host port (Docker picks free ones),
/// no fixed container, network or volume name; external networks and volumes become the
/// project's own (empty) ones, so nothing the live stack uses is touched.
fn isolate(stack: &mut Stack) {
    for service in stack.services.values_mut() {
        service.container_name = None;
        for port in &mut service.ports {
            port.host_port = None;
        }
    }
    for volume in stack.volumes.values_mut() {
        volume.name = None;
        volume.external = false;
    }
    for network in stack.networks.values_mut() {
        network.name = None;
        network.external = false;
    }
}

/// The catalog, run with its `from:` services in `project`.
pub(crate) async fn run_verify(
    catalog: &Path,
    project: &str,
    settings: &Settings,
) -> Result<ExitStatus> {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::verify::VerifyArgs,
    }
    let argv = [
        "verify".as_ref(),
        "-c".as_ref(),
        catalog.as_os_str(),
        "-p".as_ref(),
        project.as_ref(),
    ];
    let cli = Cli::try_parse_from(argv)
        .map_err(|e| Error::usage(format!("cannot run the catalog: {e}")))?;
    super::verify::run(cli.args, settings).await
}

/// `smoke` on the throw-away project.
pub(crate) async fn run_smoke(
    stack: &StackArgs,
    project: &str,
    binary: Option<&Path>,
    settings: &Settings,
) -> Result<ExitStatus> {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::smoke::SmokeArgs,
    }
    let mut argv: Vec<std::ffi::OsString> = vec!["smoke".into(), "-p".into(), project.into()];
    for file in &stack.file {
        argv.extend(["-f".into(), file.clone().into_os_string()]);
    }
    if let Some(env_file) = &stack.env_file {
        argv.extend(["--env-file".into(), env_file.clone().into_os_string()]);
    }
    for profile in &stack.profiles {
        argv.extend(["--profile".into(), profile.into()]);
    }
    if let Some(binary) = binary {
        argv.extend(["--binary".into(), binary.as_os_str().to_owned()]);
    }
    let cli =
        Cli::try_parse_from(argv).map_err(|e| Error::usage(format!("cannot run smoke: {e}")))?;
    super::smoke::run(cli.args, settings).await
}
