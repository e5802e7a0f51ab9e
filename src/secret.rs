//! Secrets on disk: written for their owner only (mode 0600), never printed.

use std::io::Write as _;
use std::path::Path;

use crate::error::Error;

/// Writes a secret to a file readable by its owner only.
///
/// # Errors
/// A failure naming the file when it cannot be written.
pub fn write(path: &Path, secret: &str) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| {
        Error::failed(format!(
            "cannot write `{}`: {}",
            path.display(),
            crate::check::io_reason(&e)
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    // An existing file keeps its mode on open: tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    writeln!(file, "{secret}").map_err(fail)
}
