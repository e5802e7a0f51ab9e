//! The guard that brings the stack back when `backup` dies between stopping the writers and
//! starting them again (SIGKILL, the terminal or SSH session gone, a CI job cancelled).
//!
//! Before anything stops, `backup` starts a throw-away container, `<project>-backup-guard`,
//! running stackctl itself (the probe's `FROM scratch` image, [`crate::netns::image`]) with the
//! daemon's socket mounted and the hidden `backup-guard` command. `backup` holds the guard's
//! stdin through an attach; the container is created with `OpenStdin` and `StdinOnce`, so the
//! daemon closes the guard's stdin when that attach ends (moby `container/stream/attach.go`,
//! `CopyStreams`: with `CloseStdin` and no TTY, the container's stdin is closed once the
//! client's stream ends). The lease is that open stdin: `backup` writes `done` when it has
//! brought the stack back itself and the guard exits; end of file without `done` means the
//! process is gone, and the guard starts the containers it was given, a dependency level at
//! a time, waits (bounded) until each is running and healthy, removes the archiver's
//! leftovers, says what it did on its output (`docker logs <project>-backup-guard`) and exits.
//!
//! Why a container rather than a detached host process (`setsid` + a pipe): a process on the
//! host survives a SIGKILL of its parent and a hang-up of the terminal, but not what kills a
//! whole cgroup — `systemd-logind`'s `KillUserProcesses` at logout, `systemctl stop` of the
//! unit a backup runs in, a CI runner cancelling its job, the OOM killer of a container the
//! backup runs in. The daemon owns the guard container, so the only thing that takes both the
//! backup and its guard is the daemon (or the host) itself — and then nothing could restart
//! the stack anyway. The price is that it needs the daemon's unix socket: with a tcp
//! `DOCKER_HOST` there is no guard, and `backup` says so (SIGINT/SIGTERM are still caught).
//!
//! The guard is also the project's backup lock: its name is fixed, so a second `backup` (or an
//! `up`) while it runs is refused, and a guard that finished after a kill (it stays, exited,
//! with its log) is reported and removed by the next `backup`, with the `.partial` file the
//! killed run left.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::AttachContainerOptionsBuilder;
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::engine::docker::{DockerApi, daemon_error, is_not_found};
use crate::engine::labels;
use crate::error::Error;
use crate::retry::RetryPolicy;

/// The probe label's value on the guard container.
pub const GUARD: &str = "backup-guard";

/// The label naming the `.partial` file of the backup the guard watches.
const PARTIAL: &str = "io.stackctl.backup.partial";

/// Where the daemon's socket is mounted in the guard container.
const SOCKET: &str = "/var/run/docker.sock";

/// What the guard prints once it reaches the daemon; `backup` stops nothing before.
const READY: &str = "ready";

/// What `backup` writes when it no longer needs the guard.
const DONE: &str = "done";

/// How long the guard may take to start and reach the daemon.
const START_LIMIT: Duration = Duration::from_secs(30);

/// How long a released guard may take to exit.
const RELEASE_LIMIT: Duration = Duration::from_secs(10);

/// How many lines of a finished guard's log the next `backup` shows.
const LOG_LINES: usize = 40;

/// The guard container's name: fixed per project, which makes it the project's backup lock.
#[must_use]
pub fn name(project: &str) -> String {
    format!("{project}-backup-guard")
}

/// The guard of `project`'s running backup, if one runs: `Err` naming it (for `backup` and
/// `up`, which would race it).
pub async fn refuse_if_running(docker: &DockerApi, project: &str) -> Result<(), Error> {
    let guard = name(project);
    match docker.client().inspect_container(&guard, None).await {
        Ok(found) if found.state.as_ref().and_then(|s| s.running) == Some(true) => {
            let since = found
                .state
                .and_then(|s| s.started_at)
                .unwrap_or_else(|| "?".to_owned());
            Err(Error::failed(format!(
                "a backup of project `{project}` is under way (its guard `{guard}` runs since {since})"
            ))
            .with_hint(format!(
                "wait for it to end; if its stackctl was killed, the guard starts the stack again \
                 and exits by itself (`docker logs {guard}` says what it did)"
            )))
        }
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(daemon_error(&format!("cannot inspect `{guard}`"), &e)),
    }
}

/// Refuses while a backup runs; else removes what a killed backup left: its archiver
/// containers, and its guard (exited after restarting the stack), whose log is returned, with
/// the `.partial` file of that backup.
pub async fn clear_leftover(docker: &DockerApi, project: &str) -> Result<Vec<String>, Error> {
    refuse_if_running(docker, project).await?;
    let guard = name(project);
    // No backup runs (the check above), so an archiver container of this project is a
    // killed run's leftover.
    super::remove_helpers(docker, project).await;
    let found = match docker.client().inspect_container(&guard, None).await {
        Ok(found) => found,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(daemon_error(&format!("cannot inspect `{guard}`"), &e)),
    };
    let log = docker.log_tail(&guard, LOG_LINES, 0).await;
    let partial = found
        .config
        .and_then(|c| c.labels)
        .and_then(|l| l.get(PARTIAL).cloned());
    if let Some(partial) = partial.map(PathBuf::from)
        && partial.extension().is_some_and(|e| e == "partial")
    {
        // The partial archive and the member it was spooling ([`super::archive::Writer`]).
        for tag in ["", ".volume", ".mongodump"] {
            let mut file = partial.as_os_str().to_owned();
            file.push(tag);
            if std::fs::remove_file(&file).is_ok() {
                tracing::debug!(file = %PathBuf::from(file).display(), "removed a killed backup's partial file");
            }
        }
    }
    docker.remove_container(&guard, false).await?;
    // Released but not removed (the backup died between the two): nothing to report.
    if log.iter().any(|l| l.contains("backup-guard: released")) {
        return Ok(Vec::new());
    }
    Ok(log)
}

/// One line for `status` when the project has a guard: a backup under way, or the last line
/// of what the guard of a killed backup did.
pub async fn describe(docker: &DockerApi, project: &str) -> Option<String> {
    let guard = name(project);
    let found = docker.client().inspect_container(&guard, None).await.ok()?;
    if found.state.as_ref().and_then(|s| s.running) == Some(true) {
        return Some(format!(
            "a backup is under way; its guard `{guard}` starts the stack again if it dies"
        ));
    }
    let last = docker
        .log_tail(&guard, 1, 0)
        .await
        .pop()
        .unwrap_or_default();
    Some(format!(
        "the last backup was killed; its guard said: {last} (`docker logs {guard}`; the next \
         backup removes it)"
    ))
}

/// The daemon's socket the guard can mount, if the daemon is reached through one.
#[must_use]
pub fn socket() -> Option<PathBuf> {
    crate::engine::raw::unix_socket().filter(|p| p.exists())
}

/// The running guard, held by `backup`.
pub struct Lease {
    id: String,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    drain: tokio::task::JoinHandle<()>,
}

/// Starts the guard of `project` watching the containers of `levels` (dependency order, each
/// a list of (service, container id)); returns once it reached the daemon and reads its
/// stdin. `partial` is the file the backup writes, removed by the next run if left.
pub async fn take(
    docker: &DockerApi,
    image: &str,
    project: &str,
    socket: &Path,
    levels: &[Vec<(String, String)>],
    timeout: Duration,
    partial: &Path,
) -> Result<Lease, Error> {
    let started = Instant::now();
    let guard = name(project);
    // The probe image's entrypoint is `/stackctl`.
    let mut cmd = vec![
        "backup-guard".to_owned(),
        "--project".to_owned(),
        project.to_owned(),
        "--timeout".to_owned(),
        format!("{}ms", timeout.as_millis()),
    ];
    for level in levels.iter().filter(|l| !l.is_empty()) {
        cmd.push("--level".to_owned());
        cmd.push(
            level
                .iter()
                .map(|(service, id)| format!("{service}={id}"))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let partial = std::path::absolute(partial).unwrap_or_else(|_| partial.to_path_buf());
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(cmd),
        env: Some(vec![format!("DOCKER_HOST=unix://{SOCKET}")]),
        labels: Some(HashMap::from([
            (labels::PROJECT.to_owned(), project.to_owned()),
            (labels::ONEOFF.to_owned(), "True".to_owned()),
            (labels::PROBE.to_owned(), GUARD.to_owned()),
            (PARTIAL.to_owned(), partial.display().to_string()),
        ])),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(vec![Mount {
                target: Some(SOCKET.to_owned()),
                source: Some(socket.display().to_string()),
                typ: Some(MountType::BIND),
                ..Default::default()
            }]),
            network_mode: Some("none".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = match docker
        .client()
        .create_container(
            Some(
                bollard::query_parameters::CreateContainerOptionsBuilder::new()
                    .name(&guard)
                    .build(),
            ),
            body,
        )
        .await
    {
        Ok(created) => created.id,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => {
            // Another backup created it between our check and now.
            refuse_if_running(docker, project).await?;
            return Err(Error::failed(format!(
                "a backup of project `{project}` is starting (its guard `{guard}` exists)"
            ))
            .with_hint("wait for it to end, then run the backup again"));
        }
        Err(e) => return Err(daemon_error(&format!("cannot create `{guard}`"), &e)),
    };
    let lease = async {
        let options = AttachContainerOptionsBuilder::new()
            .stdin(true)
            .stdout(true)
            .stream(true)
            .build();
        let attached = docker
            .client()
            .attach_container(&id, Some(options))
            .await
            .map_err(|e| daemon_error(&format!("cannot attach to `{guard}`"), &e))?;
        docker.start(&id, &guard).await?;
        let mut output = attached.output;
        let mut seen = String::new();
        let ready = tokio::time::timeout(START_LIMIT, async {
            while let Some(Ok(item)) = output.next().await {
                seen.push_str(&String::from_utf8_lossy(&item.into_bytes()));
                if seen.lines().any(|l| l.trim() == READY) {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if !ready {
            let log = docker.log_tail(&id, LOG_LINES, 0).await;
            return Err(Error::failed(format!(
                "the backup guard `{guard}` did not start within {}: {}",
                crate::output::human_duration(START_LIMIT),
                log.join(" / ")
            ))
            .with_hint(
                "nothing was stopped; the guard runs the static stackctl (`--binary`) with the \
                 daemon's socket mounted, and its output above says why it did not",
            ));
        }
        // The guard's later output is only read so that it never blocks on a full pipe.
        let drain = tokio::spawn(async move { while output.next().await.is_some() {} });
        Ok(Lease {
            id: id.clone(),
            input: attached.input,
            drain,
        })
    }
    .await;
    match lease {
        Ok(lease) => {
            tracing::debug!(container = %guard, elapsed = ?started.elapsed(), "backup guard ready");
            Ok(lease)
        }
        Err(e) => {
            let _ = docker.remove_container(&id, false).await;
            Err(e)
        }
    }
}

impl Lease {
    /// Tells the guard the stack is back (or never stopped), waits for it to exit (bounded)
    /// and removes it. Failures only warn: the guard exits by itself on end of file anyway.
    pub async fn release(mut self, docker: &DockerApi) {
        let started = Instant::now();
        let said = async {
            self.input.write_all(format!("{DONE}\n").as_bytes()).await?;
            self.input.flush().await?;
            self.input.shutdown().await
        }
        .await;
        if let Err(e) = said {
            tracing::warn!(error = %e, "cannot release the backup guard");
        }
        let mut delays = RetryPolicy::Exponential {
            min: Duration::from_millis(20),
            max: Duration::from_millis(500),
            factor: 2.0,
        }
        .delays();
        while started.elapsed() < RELEASE_LIMIT {
            match docker.inspect(&self.id).await {
                Ok(found) if found.state.as_ref().and_then(|s| s.running) == Some(true) => {}
                _ => break,
            }
            tokio::time::sleep(delays.next().unwrap_or(Duration::from_millis(500))).await;
        }
        self.drain.abort();
        if let Err(e) = docker.remove_container(&self.id, true).await {
            tracing::warn!(error = %e.one_line(), "cannot remove the backup guard");
        }
        tracing::debug!(elapsed = ?started.elapsed(), "backup guard released");
    }
}

/// One line of the guard's log (its stderr, kept by Docker).
fn say(text: &str) {
    use std::io::Write;
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let _ = writeln!(std::io::stderr().lock(), "{at} backup-guard: {text}");
}

/// The guard itself (inside its container): says it is ready, reads its stdin; on `done` it
/// exits, on end of file it starts `levels` in order and waits for each (until `timeout`).
/// True when everything came back (or nothing had to).
pub async fn watch(project: &str, levels: &[Vec<(String, String)>], timeout: Duration) -> bool {
    use std::io::Write;
    let docker = match DockerApi::connect().await {
        Ok(docker) => docker,
        Err(e) => {
            say(&format!("cannot reach the daemon: {}", e.one_line()));
            return false;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{READY}");
        let _ = out.flush();
    }
    let services: Vec<&str> = levels.iter().flatten().map(|(s, _)| s.as_str()).collect();
    say(&format!(
        "watching the backup of project `{project}` (it stops {})",
        services.join(", ")
    ));
    // A blocking read on its own thread: stdin is the lease, nothing else happens meanwhile.
    let released = tokio::task::spawn_blocking(|| {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() == DONE => return true,
                Ok(_) => {}
                Err(e) => {
                    say(&format!("the lease broke ({e})"));
                    return false;
                }
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if released {
        say("released: the backup brought the stack back itself");
        return true;
    }
    say("the backup process is gone (its stdin closed without `done`): starting the stack again");
    let ok = restart(&docker, levels, timeout).await;
    super::remove_helpers(&docker, project).await;
    ok
}

/// Starts each level's containers, then waits until each runs and is healthy (when it has a
/// healthcheck), before the next level; all within `timeout`.
async fn restart(docker: &DockerApi, levels: &[Vec<(String, String)>], timeout: Duration) -> bool {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut back = Vec::new();
    for level in levels {
        for (service, id) in level {
            match docker
                .client()
                .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
                .await
            {
                // 304: it runs already (the backup got as far as starting it).
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304, ..
                }) => {}
                Err(e) => say(&format!(
                    "cannot start {service}: {}",
                    daemon_error("", &e).one_line()
                )),
            }
        }
        for (service, id) in level {
            match wait_ready(docker, id, deadline).await {
                Ok(()) => back.push(service.as_str()),
                Err(state) => {
                    say(&format!(
                        "{service} did not come back within {} ({state}); `stackctl up` starts it",
                        crate::output::human_duration(timeout)
                    ));
                    return false;
                }
            }
        }
    }
    say(&format!(
        "brought back {} in {}",
        back.join(", "),
        crate::output::human_duration(started.elapsed())
    ));
    true
}

/// Waits until the container runs and, if it has a healthcheck, is healthy; `Err` with its
/// last state at the deadline. An exec-form healthcheck (`CMD ...`) is run here with backoff,
/// as `up` does, rather than waited for on Docker's interval; a `CMD-SHELL` one is Docker's.
async fn wait_ready(docker: &DockerApi, id: &str, deadline: Instant) -> Result<(), String> {
    let mut delays = RetryPolicy::Exponential {
        min: Duration::from_millis(50),
        max: Duration::from_secs(1),
        factor: 2.0,
    }
    .delays();
    loop {
        let state = match docker.inspect(id).await {
            Ok(found) => {
                let test = found
                    .config
                    .and_then(|c| c.healthcheck)
                    .and_then(|h| h.test)
                    .unwrap_or_default();
                let state = found.state.unwrap_or_default();
                let health = state
                    .health
                    .and_then(|h| h.status)
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty() && s != "none");
                match (state.running, health.as_deref()) {
                    (Some(true), None | Some("healthy")) => return Ok(()),
                    (Some(true), Some(other)) => match test.split_first() {
                        Some((kind, cmd)) if kind == "CMD" && !cmd.is_empty() => {
                            match docker.exec(id, cmd.to_vec()).await {
                                Some(0) => return Ok(()),
                                code => format!("running, {other}, healthcheck exited {code:?}"),
                            }
                        }
                        _ => format!("running, {other}"),
                    },
                    _ => state
                        .status
                        .map_or_else(|| "not running".to_owned(), |s| s.to_string()),
                }
            }
            Err(e) => e.one_line(),
        };
        let delay = delays.next().unwrap_or(Duration::from_secs(1));
        if Instant::now() + delay > deadline {
            return Err(state);
        }
        tracing::debug!(%id, %state, ?delay, "waiting for a restarted container");
        tokio::time::sleep(delay).await;
    }
}

/// Parses one `--level`: `SERVICE=ID[,SERVICE=ID...]`.
pub fn parse_level(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(|pair| {
            pair.split_once('=')
                .filter(|(s, id)| !s.is_empty() && !id.is_empty())
                .map(|(s, id)| (s.to_owned(), id.to_owned()))
                .ok_or_else(|| format!("`{pair}` is not SERVICE=CONTAINER_ID"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_is_service_id_pairs() {
        assert_eq!(
            parse_level("mongo=abc,status=def").unwrap(),
            [
                ("mongo".to_owned(), "abc".to_owned()),
                ("status".to_owned(), "def".to_owned())
            ]
        );
        assert!(
            parse_level("mongo")
                .unwrap_err()
                .contains("SERVICE=CONTAINER_ID")
        );
        assert!(parse_level("=abc").is_err());
    }
}
