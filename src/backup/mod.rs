//! Backups that are proven by a restore (`stackctl backup`, `restore`, `backup --verify`).
//!
//! A `tar` of a live MongoDB volume is not a backup (../shared/brief/day2.md §3): the writers
//! are stopped first, in reverse dependency order — Rocket.Chat and the bot before MongoDB,
//! each with its `stop_grace_period` so mongod shuts down cleanly — then every named volume of
//! the project is archived ([`volumes`]) into one file with a manifest ([`archive`],
//! [`manifest`]) and the versions read over the wire ([`wire`]). The commands restart the stack
//! with `up` whatever happened (the restart offen/docker-volume-backup defers, same source).

pub mod archive;
pub mod guard;
pub mod leftover;
pub mod manifest;
pub mod volumes;
pub mod wire;

use std::collections::BTreeSet;
use std::path::Path;

use bollard::container::LogOutput;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::engine::docker::{DockerApi, daemon_error};
use crate::engine::labels;
use crate::error::Error;
use crate::stack::Stack;

/// How many containers of one dependency level are stopped at once.
const PARALLEL: usize = 8;

/// The named volumes of the stack the backup covers: declared, not external (an external
/// volume belongs to someone else), used by a service. Key → Docker name.
#[must_use]
pub fn stack_volumes(stack: &Stack) -> Vec<(String, String)> {
    let used: BTreeSet<&str> = stack
        .services
        .values()
        .flat_map(|s| &s.volumes)
        .filter(|m| m.kind == crate::stack::MountKind::Volume)
        .map(|m| m.source.as_str())
        .collect();
    stack
        .volumes
        .iter()
        .filter(|(key, v)| !v.external && used.contains(key.as_str()))
        .map(|(key, _)| (key.clone(), labels::volume_name(stack, key)))
        .collect()
}

/// The project's running service containers (no one-off job, no probe) by dependency level,
/// dependencies first: (service, container id). What a backup stops, and what its guard
/// starts again if the backup dies.
pub async fn running_levels(
    stack: &Stack,
    docker: &DockerApi,
) -> Result<Vec<Vec<(String, String)>>, Error> {
    let containers = docker.project_containers(&stack.project).await?;
    Ok(crate::engine::plan::levels(stack)
        .into_iter()
        .map(|level| {
            containers
                .iter()
                .filter(|c| c.state.as_ref().map(ToString::to_string).as_deref() == Some("running"))
                .filter_map(|c| {
                    let l = c.labels.as_ref()?;
                    let service = l.get(labels::SERVICE)?;
                    let ours = l.get(labels::ONEOFF).map(String::as_str) != Some("True")
                        && !l.contains_key(labels::PROBE)
                        && level.contains(service);
                    ours.then(|| (service.clone(), c.id.clone().unwrap_or_default()))
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .collect())
}

/// Stops the containers of `levels` ([`running_levels`]) in reverse dependency order (a level
/// at a time, dependants first), each with its own stop timeout (the service's
/// `stop_grace_period`, set by `up`, else Docker's 10 s). Returns the services stopped, in
/// order.
pub async fn stop_writers(
    docker: &DockerApi,
    levels: &[Vec<(String, String)>],
) -> Result<Vec<String>, Error> {
    let mut stopped = Vec::new();
    for level in levels.iter().rev() {
        let started = std::time::Instant::now();
        let names: Vec<String> = stream::iter(level.iter().cloned())
            .map(|(service, id)| async move {
                docker.stop(&id, None).await?;
                Ok::<_, Error>(service)
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        if !names.is_empty() {
            tracing::debug!(services = ?names, elapsed = ?started.elapsed(), "stopped a dependency level");
        }
        stopped.extend(names);
    }
    Ok(stopped)
}

/// Archives every volume of [`stack_volumes`] into `writer` through the throw-away container.
pub async fn archive_volumes(
    stack: &Stack,
    docker: &DockerApi,
    image: &str,
    writer: &mut archive::Writer,
    mut progress: impl FnMut(&str),
) -> Result<(), Error> {
    for (key, name) in stack_volumes(stack) {
        progress(&key);
        let spool = writer.spool_path("volume");
        let (_, sha256) = volumes::export(docker, image, &stack.project, &name, &spool).await?;
        writer.append_spooled(&archive::volume_member(&key), &spool, sha256, Some(key))?;
    }
    Ok(())
}

/// Removes the throw-away containers an interrupted copy left (they are labelled like probes,
/// so `down` would too).
pub async fn remove_helpers(docker: &DockerApi, project: &str) {
    let Ok(containers) = docker.project_containers(project).await else {
        return;
    };
    for container in containers {
        let ours = container
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::PROBE))
            .is_some_and(|v| v == volumes::HELPER);
        if ours && let Some(id) = &container.id {
            let _ = docker.remove_container(id, false).await;
        }
    }
}

/// The member an online backup writes.
pub const MONGODUMP_MEMBER: &str = "mongodump.archive.gz";

/// `--online`: `mongodump --archive --gzip --oplog` run in the MongoDB container (when its
/// image has it), its output streamed into `writer`; nothing is stopped.
pub async fn mongodump(
    stack: &Stack,
    docker: &DockerApi,
    writer: &mut archive::Writer,
) -> Result<(), Error> {
    let mongo = wire::mongo_service(stack).ok_or_else(|| {
        Error::usage("`--online` needs a MongoDB service, and the stack has none")
            .with_hint("a service running MongoDB's image, or named `mongo`/`mongodb`")
    })?;
    let containers = crate::netns::locate::project(docker, &stack.project).await?;
    let container = crate::netns::locate::running(&containers, &stack.project, &mongo.name)?;
    let probe = docker
        .exec(
            &container.id,
            vec!["mongodump".to_owned(), "--version".to_owned()],
        )
        .await;
    if probe != Some(0) {
        return Err(Error::usage(format!(
            "`--online` runs `mongodump` in `{}`, and its image `{}` has none",
            mongo.name, container.image
        ))
        .with_hint(
            "use an image with MongoDB's database tools (the official `mongo` images have them), \
             or back up offline (without `--online`): the writers are stopped for the copy",
        ));
    }
    let spool = writer.spool_path("mongodump");
    let started = std::time::Instant::now();
    let client = docker.client();
    let config = bollard::models::ExecConfig {
        cmd: Some(
            ["mongodump", "--archive", "--gzip", "--oplog", "--quiet"]
                .map(str::to_owned)
                .to_vec(),
        ),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let created = client
        .create_exec(&container.id, config)
        .await
        .map_err(|e| daemon_error("cannot run mongodump", &e))?;
    let mut stderr = crate::limits::Tail::new(crate::limits::LOG_TAIL_LIMIT);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let spool_for_thread = spool.clone();
    let writer_thread = std::thread::spawn(move || {
        archive::spool_hashed(ChannelReader::new(rx), &spool_for_thread)
    });
    if let bollard::exec::StartExecResults::Attached { mut output, .. } = client
        .start_exec(&created.id, None)
        .await
        .map_err(|e| daemon_error("cannot run mongodump", &e))?
    {
        while let Some(item) = output.next().await {
            match item.map_err(|e| daemon_error("mongodump's output broke off", &e))? {
                LogOutput::StdOut { message } if tx.send(message.to_vec()).is_err() => break,
                LogOutput::StdErr { message } => stderr.push(&message),
                _ => {}
            }
        }
    }
    drop(tx);
    let (size, sha256) = writer_thread
        .join()
        .map_err(|_| Error::failed("the spooling thread panicked"))??;
    let code = client
        .inspect_exec(&created.id)
        .await
        .map_err(|e| daemon_error("cannot read mongodump's exit code", &e))?
        .exit_code;
    if code != Some(0) {
        let _ = std::fs::remove_file(&spool);
        return Err(Error::failed(format!(
            "mongodump in `{}` exited {}: {}",
            mongo.name,
            code.map_or_else(|| "?".to_owned(), |c| c.to_string()),
            crate::redact::text(&stderr.lines().join(" / "))
        )));
    }
    tracing::debug!(size, elapsed = ?started.elapsed(), "mongodump streamed");
    writer.append_spooled(MONGODUMP_MEMBER, &spool, sha256, None)
}

/// A `Read` over the chunks a channel delivers (mongodump's stdout, to the spooling thread).
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChannelReader {
    fn new(rx: std::sync::mpsc::Receiver<Vec<u8>>) -> Self {
        Self {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Replaces each volume of the manifest with its archived contents: the project's containers
/// are removed first (Docker removes no volume a container still names; `up` makes them
/// again), then each volume is removed, created anew with compose's labels and filled.
/// Returns the volumes replaced.
pub async fn restore_volumes(
    stack: &Stack,
    docker: &DockerApi,
    image: &str,
    file: &Path,
    manifest: &manifest::Manifest,
    mut progress: impl FnMut(&str),
) -> Result<Vec<String>, Error> {
    if manifest.members.iter().any(|m| m.name == MONGODUMP_MEMBER) {
        return Err(Error::usage(format!(
            "`{}` is an online backup (a mongodump archive); restore replaces volumes",
            file.display()
        ))
        .with_hint(
            "restore it with `mongorestore --drop --oplogReplay --archive --gzip` in the MongoDB \
             container; `stackctl restore` takes offline backups",
        ));
    }
    let ours = stack_volumes(stack);
    crate::engine::down::down(stack, docker, false, false, None).await?;
    let mut replaced = Vec::new();
    for member in &manifest.members {
        let Some(key) = &member.volume else { continue };
        let Some((_, name)) = ours.iter().find(|(k, _)| k == key) else {
            tracing::warn!(volume = %key, "the backup holds a volume the stack no longer declares; left out");
            continue;
        };
        progress(key);
        let mut spool = file.as_os_str().to_owned();
        spool.push(format!(".restore-{}", crate::netns::runner::suffix()));
        let spool = std::path::PathBuf::from(spool);
        let extracted = archive::extract(file, &member.name, &spool);
        let result = async {
            extracted?;
            docker.remove_volume(name).await?;
            docker
                .ensure_volume(name, labels::resource_labels(stack, labels::VOLUME, key))
                .await?;
            volumes::import(docker, image, &stack.project, name, &spool).await
        }
        .await;
        let _ = std::fs::remove_file(&spool);
        result?;
        replaced.push(key.clone());
    }
    Ok(replaced)
}
