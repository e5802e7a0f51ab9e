//! The probe image: `FROM scratch` plus stackctl's own static binary, built on the fly through
//! the Engine API (no registry, nothing installed in anyone's image) and cached by the binary's
//! SHA-256, so the first `probe` on a host builds it and every later one finds it.

use std::path::{Path, PathBuf};

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::elf::{Linking, linking};
use crate::engine::docker::{DockerApi, daemon_error};
use crate::engine::labels::{self, hex};
use crate::error::Error;

/// The repository of probe images; the tag is the binary's hash.
pub const REPOSITORY: &str = "stackctl-probe";

/// Label on a probe image: the full SHA-256 of the binary inside.
pub const BINARY_HASH: &str = "io.stackctl.binary-sha256";

/// The binary that goes into the probe image.
pub struct ProbeBinary {
    /// Where it was read from, for messages.
    pub path: PathBuf,
    bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

impl std::fmt::Debug for ProbeBinary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeBinary")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl ProbeBinary {
    /// Reads `explicit` (from `--binary` / `STACKCTL_PROBE_BINARY`), else the running binary
    /// (`/proc/self/exe`), and makes sure it can run in a `FROM scratch` image.
    ///
    /// # Errors
    /// A usage error when it cannot be read or is dynamically linked.
    pub fn load(explicit: Option<&Path>) -> Result<Self, Error> {
        let path = explicit.map_or_else(|| PathBuf::from("/proc/self/exe"), Path::to_path_buf);
        let shown = if explicit.is_some() {
            format!("`{}`", path.display())
        } else {
            "the running stackctl".to_owned()
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::usage(format!(
                "cannot read {shown} to build the probe image: {}",
                crate::reason::io_reason(&e)
            ))
        })?;
        let hint = "point `--binary` (or `STACKCTL_PROBE_BINARY`) at the static build: \
                    `cargo build --release --target x86_64-unknown-linux-musl` makes \
                    `target/x86_64-unknown-linux-musl/release/stackctl`";
        match linking(&bytes) {
            Linking::Static => {}
            Linking::Dynamic(loader) => {
                return Err(Error::usage(format!(
                    "{shown} is dynamically linked (it needs `{loader}`), so it cannot run in the \
                     probe's `FROM scratch` image"
                ))
                .with_hint(hint));
            }
            Linking::NotElf(why) => {
                return Err(
                    Error::usage(format!("{shown} cannot be the probe: {why}")).with_hint(hint)
                );
            }
        }
        let sha256 = hex(&Sha256::digest(&bytes));
        Ok(Self {
            path,
            bytes,
            sha256,
        })
    }

    /// `stackctl-probe:<first 12 hex digits of the hash>`.
    #[must_use]
    pub fn tag(&self) -> String {
        format!("{REPOSITORY}:{}", &self.sha256[..12])
    }
}

/// The probe image's tag: found if present, else built from `binary`.
///
/// # Errors
/// When the daemon refuses the build.
pub async fn ensure(docker: &DockerApi, binary: &ProbeBinary) -> Result<String, Error> {
    let tag = binary.tag();
    if docker.image_id(&tag).await?.is_some() {
        tracing::debug!(image = %tag, "probe image cache hit");
        return Ok(tag);
    }
    let started = std::time::Instant::now();
    tracing::debug!(image = %tag, binary = %binary.path.display(), "building the probe image");
    let context = build_context(&binary.bytes)
        .map_err(|e| Error::failed(format!("cannot pack the probe image's build context: {e}")))?;
    let image_labels = std::collections::HashMap::from([
        (labels::PROBE.to_owned(), "image".to_owned()),
        (BINARY_HASH.to_owned(), binary.sha256.clone()),
    ]);
    let options = BuildImageOptionsBuilder::new()
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .labels(&image_labels)
        .build();
    let mut stream =
        docker
            .client()
            .build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    return Err(Error::failed(format!(
                        "building the probe image `{tag}` failed: {}",
                        message.trim()
                    )));
                }
            }
            Err(e) => {
                return Err(daemon_error(
                    &format!("building the probe image `{tag}` failed"),
                    &e,
                ));
            }
        }
    }
    tracing::debug!(image = %tag, elapsed = ?started.elapsed(), "probe image built");
    Ok(tag)
}

/// The probe image as another node of a swarm pulls it: pushed to `registry`, else to the
/// registry `task`'s own image comes from (the one `up --registry` pushed to, which that node
/// already pulls from), and named by digest.
///
/// # Errors
/// A failure with a hint when no registry is known (the image exists only here), or the push
/// fails.
pub async fn pullable(
    docker: &DockerApi,
    tag: &str,
    registry: Option<&str>,
    task: &crate::engine::swarm::tasks::RunningTask,
) -> Result<String, Error> {
    use crate::engine::swarm::{destination, push};
    let from_service = destination(&task.image, None)
        .and_then(|d| d.repository.split('/').next().map(str::to_owned));
    let Some(registry) = registry.map(str::to_owned).or(from_service) else {
        return Err(Error::failed(format!(
            "`{}` runs on node `{}`, which cannot pull the probe image `{tag}`: it exists only on this node",
            task.service, task.node
        ))
        .with_hint("name a registry every node pulls from: `stackctl probe --registry HOST:PORT …`"));
    };
    let Some(to) = destination(tag, Some(&registry)) else {
        return Err(Error::usage(format!("`{registry}` is not a registry")));
    };
    tracing::debug!(image = %tag, registry = %registry, node = %task.node, "pushing the probe image");
    push(docker, tag, &to).await
}

/// A Dockerfile and the binary, as the tar archive the build endpoint reads.
fn build_context(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let dockerfile = b"FROM scratch\nCOPY stackctl /stackctl\nENTRYPOINT [\"/stackctl\"]\n";
    let mut archive = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", &dockerfile[..], 0o644),
        ("stackctl", binary, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        archive.append_data(&mut header, name, data)?;
    }
    archive.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_refused_with_the_hint() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("probe.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let err = ProbeBinary::load(Some(&script)).unwrap_err();
        assert!(err.message().contains("cannot be the probe"), "{err}");
        assert!(err.hint().unwrap().contains("STACKCTL_PROBE_BINARY"));
    }

    #[test]
    fn the_context_holds_the_dockerfile_and_an_executable_binary() {
        let context = build_context(b"\x7fELF...").unwrap();
        let mut archive = tar::Archive::new(&context[..]);
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![("Dockerfile".into(), 0o644), ("stackctl".into(), 0o755)]
        );
    }
}
