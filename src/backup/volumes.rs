//! A volume in and out of the archive through a throw-away container and Docker's archive API
//! (`GET`/`PUT /containers/{id}/archive`), nothing installed in any service's image.
//!
//! Why the archive API rather than a container running `stackctl` that tars to stdout: the
//! daemon mounts a created container's volumes for an archive call without starting it, so the
//! container runs no process at all — no stdout framing to demultiplex, no exit code to wait
//! for, ownership, modes and links kept by the daemon's own tar — and its image is the probe's
//! (`FROM scratch` + the static stackctl, [`crate::netns::image`]), never started. The volume is
//! mounted read-only for a backup. The container is labelled like a probe, so `down` removes
//! one left behind by a killed run.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine::docker::{DockerApi, daemon_error};
use crate::engine::labels::{self, hex};
use crate::error::Error;

/// Where the volume is mounted in the throw-away container; the archive's entries start with
/// `volume/`.
const MOUNT: &str = "/volume";

/// The value of the probe label on the throw-away containers.
pub const HELPER: &str = "backup";

/// Creates (never starts) the throw-away container with `volume` at [`MOUNT`].
async fn create(
    docker: &DockerApi,
    image: &str,
    project: &str,
    volume: &str,
    read_only: bool,
) -> Result<String, Error> {
    let name = format!("{project}-backup-{}", crate::netns::runner::suffix());
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["/stackctl".to_owned(), "--version".to_owned()]),
        labels: Some(HashMap::from([
            (labels::PROJECT.to_owned(), project.to_owned()),
            (labels::ONEOFF.to_owned(), "True".to_owned()),
            (labels::PROBE.to_owned(), HELPER.to_owned()),
        ])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(vec![Mount {
                target: Some(MOUNT.to_owned()),
                source: Some(volume.to_owned()),
                typ: Some(MountType::VOLUME),
                read_only: Some(read_only),
                ..Default::default()
            }]),
            network_mode: Some("none".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker.create(&name, body).await
}

/// Streams volume `volume` (a tar from Docker) into `spool`; returns its size and SHA-256.
pub async fn export(
    docker: &DockerApi,
    image: &str,
    project: &str,
    volume: &str,
    spool: &Path,
) -> Result<(u64, String), Error> {
    let started = std::time::Instant::now();
    let id = create(docker, image, project, volume, true).await?;
    let result = async {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(MOUNT)
            .build();
        let mut stream = docker.client().download_from_container(&id, Some(options));
        let mut file = tokio::fs::File::create(spool).await.map_err(|e| {
            Error::failed(format!(
                "cannot write `{}`: {}",
                spool.display(),
                crate::reason::io_reason(&e)
            ))
        })?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| daemon_error(&format!("cannot read volume `{volume}`"), &e))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| {
                Error::failed(format!(
                    "cannot write `{}`: {}",
                    spool.display(),
                    crate::reason::io_reason(&e)
                ))
            })?;
        }
        file.flush()
            .await
            .map_err(|e| Error::failed(format!("cannot write `{}`: {e}", spool.display())))?;
        Ok::<_, Error>((size, hex(&hasher.finalize())))
    }
    .await;
    docker.remove_container(&id, false).await?;
    if let Ok((size, _)) = &result {
        tracing::debug!(%volume, size, elapsed = ?started.elapsed(), "volume archived");
    }
    result
}

/// Extracts the tar in `spool` (as [`export`] made it) into volume `volume`.
pub async fn import(
    docker: &DockerApi,
    image: &str,
    project: &str,
    volume: &str,
    spool: &Path,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let id = create(docker, image, project, volume, false).await?;
    let result = async {
        let file = tokio::fs::File::open(spool).await.map_err(|e| {
            Error::failed(format!(
                "cannot read `{}`: {}",
                spool.display(),
                crate::reason::io_reason(&e)
            ))
        })?;
        // Chunks of 256 KiB read as the daemon takes them: the volume is never in memory.
        let chunks = futures_util::stream::unfold(file, |mut file| async move {
            let mut buf = vec![0u8; 256 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(hyper::body::Bytes::from(buf)), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        });
        let options = UploadToContainerOptionsBuilder::new().path("/").build();
        docker
            .client()
            .upload_to_container(&id, Some(options), bollard::body_try_stream(chunks))
            .await
            .map_err(|e| daemon_error(&format!("cannot restore volume `{volume}`"), &e))
    }
    .await;
    docker.remove_container(&id, false).await?;
    if result.is_ok() {
        tracing::debug!(%volume, elapsed = ?started.elapsed(), "volume restored");
    }
    result
}
