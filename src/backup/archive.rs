//! The backup file: one tar (gzipped when its name ends in `.gz`) holding a member per volume
//! (`volumes/<key>.tar`, the volume as Docker's archive API gives it), the `mongodump` archive of
//! `--online`, and `manifest.json` last. The manifest goes last because it lists every member's
//! SHA-256, known only once the member is written; a reader hashes each member as it passes and
//! checks the sums against the manifest at the end, so a corrupted archive is refused before
//! anything is replaced, naming the member.
//!
//! The file is written as `FILE.partial` and renamed once complete: an interrupted backup never
//! leaves a truncated file under the name a restore would be given.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{Manifest, Member};
use crate::engine::labels::hex;
use crate::error::Error;

/// The manifest's name inside the archive.
pub const MANIFEST: &str = "manifest.json";

/// Where a volume goes inside the archive.
#[must_use]
pub fn volume_member(key: &str) -> String {
    format!("volumes/{key}.tar")
}

/// True when the archive is to be (or is) gzipped: its name ends in `.gz` or `.tgz`.
fn gzipped_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz") || e.eq_ignore_ascii_case("tgz"))
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::failed(format!(
        "{what} `{}`: {}",
        path.display(),
        crate::reason::io_reason(e)
    ))
}

/// A backup file being written.
pub struct Writer {
    path: PathBuf,
    partial: PathBuf,
    builder: Option<tar::Builder<Box<dyn Write + Send>>>,
    members: Vec<Member>,
}

impl Writer {
    /// Starts `path` (as `path.partial`).
    pub fn create(path: &Path) -> Result<Self, Error> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)
            .map_err(|e| io_error("cannot write the backup", &partial, &e))?;
        let out: Box<dyn Write + Send> = if gzipped_name(path) {
            Box::new(flate2::write::GzEncoder::new(
                BufWriter::new(file),
                flate2::Compression::default(),
            ))
        } else {
            Box::new(BufWriter::new(file))
        };
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Deterministic);
        Ok(Self {
            path: path.to_path_buf(),
            partial,
            builder: Some(builder),
            members: Vec::new(),
        })
    }

    /// Where the archive is written until it is complete.
    #[must_use]
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// A file beside the archive for spooling one member (removed once appended).
    #[must_use]
    pub fn spool_path(&self, tag: &str) -> PathBuf {
        let mut spool = self.partial.as_os_str().to_owned();
        spool.push(format!(".{tag}"));
        PathBuf::from(spool)
    }

    /// Appends the spooled file as `name` (its SHA-256 already computed while spooling) and
    /// removes the spool.
    pub fn append_spooled(
        &mut self,
        name: &str,
        spool: &Path,
        sha256: String,
        volume: Option<String>,
    ) -> Result<(), Error> {
        let mut file =
            File::open(spool).map_err(|e| io_error("cannot read the spooled member", spool, &e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error("cannot read the spooled member", spool, &e))?
            .len();
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let builder = self
            .builder
            .as_mut()
            .expect("the builder lives until finish");
        builder
            .append_data(&mut header, name, &mut file)
            .map_err(|e| io_error("cannot write the backup", &self.partial, &e))?;
        drop(file);
        let _ = std::fs::remove_file(spool);
        tracing::debug!(member = %name, size, %sha256, "member appended");
        self.members.push(Member {
            name: name.to_owned(),
            volume,
            size,
            sha256,
        });
        Ok(())
    }

    /// Writes the manifest (with the members' sums), closes the file and renames it into place.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<PathBuf, Error> {
        manifest.members = std::mem::take(&mut self.members);
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::failed(format!("cannot encode the manifest: {e}")))?;
        let mut builder = self.builder.take().expect("finish runs once");
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let write = |e: std::io::Error| io_error("cannot write the backup", &self.partial, &e);
        builder
            .append_data(&mut header, MANIFEST, json.as_slice())
            .map_err(write)?;
        let mut out = builder.into_inner().map_err(write)?;
        out.flush().map_err(write)?;
        // A gzip stream ends with its trailer only when the encoder is finished (on drop).
        drop(out);
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| io_error("cannot move the finished backup to", &self.path, &e))?;
        Ok(self.path.clone())
    }
}

impl Drop for Writer {
    /// An unfinished archive is removed, with its spools.
    fn drop(&mut self) {
        if self.builder.is_some() {
            self.builder = None;
            let _ = std::fs::remove_file(&self.partial);
            for member in ["mongodump", "volume"] {
                let _ = std::fs::remove_file(self.spool_path(member));
            }
        }
    }
}

/// Copies `reader` into `out` hashing it on the way: its size and SHA-256.
fn copy_hashed(mut reader: impl Read, mut out: impl Write) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        size += n as u64;
    }
    out.flush()?;
    Ok((size, hex(&hasher.finalize())))
}

/// Copies `reader` into `spool`, returning its size and SHA-256.
pub fn spool_hashed(reader: impl Read, spool: &Path) -> Result<(u64, String), Error> {
    let file = File::create(spool).map_err(|e| io_error("cannot write", spool, &e))?;
    copy_hashed(reader, BufWriter::new(file)).map_err(|e| io_error("cannot spool", spool, &e))
}

/// The backup as a reader: gunzipped when it starts with gzip's magic bytes (whatever its name).
fn open(path: &Path) -> Result<Box<dyn Read>, Error> {
    let mut file = File::open(path).map_err(|e| {
        Error::usage(format!(
            "cannot read the backup `{}`: {}",
            path.display(),
            crate::reason::io_reason(&e)
        ))
    })?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    drop(file);
    let file = BufReader::new(File::open(path).map_err(|e| io_error("cannot read", path, &e))?);
    Ok(if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

fn corrupted(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::usage(format!(
        "the backup `{}` is corrupted: {what}",
        path.display()
    ))
    .with_hint("take a new backup (`stackctl backup`); a damaged archive is never restored")
}

/// Reads the whole archive, hashes every member and checks each against the manifest: the
/// manifest when every sum matches, else a usage error (exit 2) naming the member.
pub fn verify(path: &Path) -> Result<Manifest, Error> {
    let started = std::time::Instant::now();
    let mut archive = tar::Archive::new(open(path)?);
    let mut sums: Vec<(String, u64, String)> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    let entries = archive
        .entries()
        .map_err(|e| corrupted(path, format!("not a tar archive ({e})")))?;
    let mut last = String::from("the start of the archive");
    for entry in entries {
        let mut entry =
            entry.map_err(|e| corrupted(path, format!("unreadable after `{last}`: {e}")))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| corrupted(path, format!("a member name after `{last}`: {e}")))?;
        if name == MANIFEST {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|e| corrupted(path, format!("member `{name}`: {e}")))?;
            manifest = Some(serde_json::from_slice(&text).map_err(|e| {
                corrupted(path, format!("member `{MANIFEST}` is not a manifest: {e}"))
            })?);
        } else {
            let (size, sum) = copy_hashed(&mut entry, std::io::sink())
                .map_err(|e| corrupted(path, format!("member `{name}`: {e}")))?;
            sums.push((name.clone(), size, sum));
        }
        last = name;
    }
    let manifest = manifest.ok_or_else(|| {
        corrupted(
            path,
            format!("it has no `{MANIFEST}` (an unfinished or foreign archive)"),
        )
    })?;
    for member in &manifest.members {
        match sums.iter().find(|(name, _, _)| *name == member.name) {
            None => {
                return Err(corrupted(
                    path,
                    format!("member `{}` is missing", member.name),
                ));
            }
            Some((_, size, sum)) if *sum != member.sha256 || *size != member.size => {
                return Err(corrupted(
                    path,
                    format!(
                        "member `{}` has SHA-256 {sum} ({size} bytes), the manifest says {} ({} bytes)",
                        member.name, member.sha256, member.size
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some((name, _, _)) = sums
        .iter()
        .find(|(name, _, _)| !manifest.members.iter().any(|m| m.name == *name))
    {
        return Err(corrupted(
            path,
            format!("member `{name}` is not in the manifest"),
        ));
    }
    tracing::debug!(members = sums.len(), elapsed = ?started.elapsed(), "every member's SHA-256 matches the manifest");
    Ok(manifest)
}

/// Copies member `name` out of the archive into `spool` (after [`verify`]).
pub fn extract(path: &Path, name: &str, spool: &Path) -> Result<(), Error> {
    let mut archive = tar::Archive::new(open(path)?);
    let entries = archive
        .entries()
        .map_err(|e| corrupted(path, format!("not a tar archive ({e})")))?;
    for entry in entries {
        let entry = entry.map_err(|e| corrupted(path, e))?;
        let found = entry.path().is_ok_and(|p| p.to_string_lossy() == name);
        if found {
            spool_hashed(entry, spool)?;
            return Ok(());
        }
    }
    Err(corrupted(path, format!("member `{name}` is missing")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::Manifest;

    fn write(path: &Path, members: &[(&str, &[u8])]) {
        let mut writer = Writer::create(path).unwrap();
        for (name, data) in members {
            let spool = writer.spool_path("volume");
            let (_, sum) = spool_hashed(*data, &spool).unwrap();
            writer
                .append_spooled(name, &spool, sum, Some((*name).to_owned()))
                .unwrap();
        }
        writer.finish(Manifest::default()).unwrap();
    }

    #[test]
    fn a_written_archive_verifies_plain_and_gzipped() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        for name in ["b.tar", "b.tar.gz"] {
            let path = dir.join(name);
            write(
                &path,
                &[("volumes/a.tar", b"hello"), ("volumes/b.tar", b"world")],
            );
            let manifest = verify(&path).unwrap();
            assert_eq!(manifest.members.len(), 2);
            assert_eq!(
                manifest.members[0].sha256,
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            );
            let out = dir.join("out");
            extract(&path, "volumes/b.tar", &out).unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), b"world");
        }
    }

    #[test]
    fn a_flipped_byte_names_its_member() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("b.tar");
        write(
            &path,
            &[("volumes/a.tar", b"hello"), ("volumes/b.tar", b"world")],
        );
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"world").unwrap();
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = verify(&path).unwrap_err();
        assert_eq!(err.exit_status(), crate::exit::ExitStatus::Usage);
        assert!(
            err.message().contains("member `volumes/b.tar`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn an_unfinished_archive_is_refused() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("b.tar");
        std::fs::write(&path, b"not a tar at all, just text that is long enough").unwrap();
        let err = verify(&path).unwrap_err();
        assert_eq!(err.exit_status(), crate::exit::ExitStatus::Usage);
    }
}
