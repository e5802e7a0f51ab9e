//! A throw-away container in another container's network namespace
//! (`network_mode: container:<id>`): it sees the network exactly as that service does — its
//! addresses, its `/etc/hosts`, its resolver — without anything installed in its image.
//!
//! What to do is written to the container's stdin (never its arguments or environment, which
//! `docker inspect` would show: a plan may carry passwords); what it found comes back on its
//! stdout, one JSON object per line. The container is labelled with the project (and
//! `io.stackctl.probe`) so `down` removes any left behind; the daemon removes it as soon as it
//! exits (`AutoRemove`), and we do when it could not run to its end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, ContainerWaitResponse, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::engine::docker::{DockerApi, daemon_error, is_not_found};
use crate::engine::labels;
use crate::error::Error;

/// Where the throw-away container goes.
#[derive(Clone, Copy)]
pub struct Inside<'a> {
    pub docker: &'a DockerApi,
    /// The probe image (`stackctl-probe:<hash>`).
    pub image: &'a str,
    pub project: &'a str,
    /// The service whose network namespace is joined.
    pub service: &'a str,
    /// Its running container.
    pub container_id: &'a str,
}

/// How the container ended.
#[derive(Debug)]
pub struct Finished {
    pub exit_code: i64,
    /// Everything it wrote on stderr (stackctl's own errors and logs).
    pub stderr: String,
}

/// Runs `/stackctl ARGS` inside, writes `stdin` to it, hands each stdout line to `on_line` as
/// it arrives, and removes the container whatever happens. `limit` bounds the whole run.
///
/// # Errors
/// When the daemon refuses, or (a timeout error) when the run outlives `limit`.
pub async fn run(
    inside: Inside<'_>,
    args: Vec<String>,
    stdin: &[u8],
    limit: Duration,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<Finished, Error> {
    let client = inside.docker.client();
    let name = format!("{}-{}-probe-{}", inside.project, inside.service, suffix());
    let body = ContainerCreateBody {
        image: Some(inside.image.to_owned()),
        cmd: Some(args),
        labels: Some(HashMap::from([
            (labels::PROJECT.to_owned(), inside.project.to_owned()),
            (labels::SERVICE.to_owned(), inside.service.to_owned()),
            (labels::ONEOFF.to_owned(), "True".to_owned()),
            (labels::PROBE.to_owned(), inside.service.to_owned()),
        ])),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{}", inside.container_id)),
            // The daemon removes it once it exited; we remove it ourselves only on failure.
            auto_remove: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let started = Instant::now();
    let id = client
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .map_err(|e| daemon_error("cannot create the probe container", &e))?
        .id;
    tracing::debug!(container = %name, service = inside.service, "probe container created");
    // Waiting for the *next* exit, asked before the start (as `docker run` does): the exit code
    // arrives without waiting for the daemon's removal, and is not lost to it.
    let mut waiter = tokio::spawn({
        let client = client.clone();
        let id = id.clone();
        async move {
            let options = WaitContainerOptionsBuilder::new()
                .condition("next-exit")
                .build();
            client.wait_container(&id, Some(options)).next().await
        }
    });
    let outcome = tokio::time::timeout(
        limit,
        attach_and_wait(inside, &id, &name, stdin, on_line, &mut waiter),
    )
    .await
    .unwrap_or_else(|_| {
        Err(Error::timeout(format!(
            "the probe container in `{}` did not finish within {}",
            inside.service,
            crate::output::human_duration(limit)
        )))
    });
    if outcome.is_err() {
        waiter.abort();
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match client.remove_container(&id, Some(options)).await {
            Ok(()) => tracing::debug!(container = %name, "probe container removed"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => tracing::warn!(container = %name, "cannot remove the probe container: {e}"),
        }
    }
    tracing::debug!(container = %name, elapsed = ?started.elapsed(), "probe container done");
    outcome
}

async fn attach_and_wait(
    inside: Inside<'_>,
    id: &str,
    name: &str,
    stdin: &[u8],
    on_line: &mut (dyn FnMut(&str) + Send),
    waiter: &mut tokio::task::JoinHandle<
        Option<Result<ContainerWaitResponse, bollard::errors::Error>>,
    >,
) -> Result<Finished, Error> {
    let client = inside.docker.client();
    let options = AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut attached = client
        .attach_container(id, Some(options))
        .await
        .map_err(|e| daemon_error("cannot attach to the probe container", &e))?;
    client
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(|e| {
            daemon_error(
                &format!("cannot start the probe container in `{}`", inside.service),
                &e,
            )
        })?;
    tracing::debug!(container = %name, "probe container started");
    // Closing our end closes the container's stdin (`stdin_once`): the plan is complete.
    let write = async {
        attached.input.write_all(stdin).await?;
        attached.input.shutdown().await
    };
    if let Err(e) = write.await {
        tracing::debug!(container = %name, "writing the plan: {e}");
    }
    let mut output = Output::default();
    while let Some(frame) = attached.output.next().await {
        match frame {
            Ok(frame) => output.take(frame, on_line),
            Err(e) => {
                tracing::debug!(container = %name, "reading the probe's output: {e}");
                break;
            }
        }
    }
    let stderr = output.finish(on_line);
    let exit_code = match waiter.await {
        Ok(Some(Ok(done))) => done.status_code,
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
        Ok(Some(Err(e))) if !is_not_found(&e) => {
            return Err(daemon_error("waiting for the probe container", &e));
        }
        // Gone before the wait was registered: the results are what counts.
        _ => -1,
    };
    tracing::debug!(container = %name, exit_code, "probe container exited");
    Ok(Finished { exit_code, stderr })
}

/// A probe's output as it arrives: stdout cut into lines for `on_line`, stderr kept whole.
#[derive(Default)]
pub(crate) struct Output {
    pending: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    pub(crate) fn take(&mut self, frame: LogOutput, on_line: &mut (dyn FnMut(&str) + Send)) {
        match frame {
            LogOutput::StdOut { message } => {
                self.pending.extend_from_slice(&message);
                while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.pending.drain(..=end).collect();
                    on_line(String::from_utf8_lossy(&line).trim_end());
                }
            }
            LogOutput::StdErr { message } => self.stderr.extend_from_slice(&message),
            _ => {}
        }
    }

    /// The last line (without its newline) to `on_line`; the stderr.
    pub(crate) fn finish(self, on_line: &mut (dyn FnMut(&str) + Send)) -> String {
        if !self.pending.is_empty() {
            on_line(String::from_utf8_lossy(&self.pending).trim_end());
        }
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The plan of a probe run inside: the file `STACKCTL_PLAN_FILE` names (a one-shot Swarm job's
/// secret, [`super::oneshot`]), else stdin. Nothing else runs yet: a blocking read of the
/// (small) plan is fine. At most `max` bytes are read.
///
/// # Errors
/// When it cannot be read.
pub fn read_plan(max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut text = Vec::new();
    match std::env::var_os(crate::env_vars::STACKCTL_PLAN_FILE) {
        Some(path) if !path.is_empty() => std::fs::File::open(path)?
            .take(max)
            .read_to_end(&mut text)?,
        _ => std::io::stdin().take(max).read_to_end(&mut text)?,
    };
    Ok(text)
}

/// Six hex digits that differ between concurrent probes.
pub(crate) fn suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed =
        nanos ^ std::process::id().rotate_left(16) ^ COUNTER.fetch_add(0x9e37, Ordering::Relaxed);
    format!("{:06x}", mixed & 0x00ff_ffff)
}
