//! Secrets: read from a file or a variable (never a flag value), written for their owner only
//! (mode 0600), never printed.

use std::collections::BTreeMap;
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
            crate::reason::io_reason(&e)
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    // `/dev/stdout` would print the secret, and tightening `/dev/null`'s mode would break the
    // machine for everyone else: only regular files hold secrets.
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(Error::failed(format!(
            "cannot write `{}`: not a regular file",
            path.display()
        ))
        .with_hint("give a file path for the secret, e.g. `/run/secrets/name`"));
    }
    // An existing file keeps its mode on open: tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    writeln!(file, "{secret}").map_err(fail)
}

/// The largest password file read: a password is short, `/dev/zero` is not.
const PASSWORD_FILE_LIMIT: u64 = 64 * 1024;

/// A password from `--…-file` or `--…-env`: never from the command line itself.
///
/// # Errors
/// A usage error when the file cannot be read or the variable is unset or empty.
pub fn read(
    file: Option<&Path>,
    var: Option<&str>,
    variables: &BTreeMap<String, String>,
) -> Result<String, Error> {
    read_named("password", "--password-file", file, var, variables)
}

/// Like [`read`] for any secret: `what` names it in errors (`password file`, `token file`),
/// `file_flag` is the flag the hint suggests instead of the variable.
///
/// # Errors
/// A usage error when the file cannot be read or the variable is unset or empty.
pub fn read_named(
    what: &str,
    file_flag: &str,
    file: Option<&Path>,
    var: Option<&str>,
    variables: &BTreeMap<String, String>,
) -> Result<String, Error> {
    if let Some(path) = file {
        let text = crate::limits::read_text(path, PASSWORD_FILE_LIMIT).map_err(|e| {
            Error::usage(format!(
                "cannot read {what} file `{}`: {}",
                path.display(),
                crate::reason::io_reason(&e)
            ))
        })?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_owned());
    }
    let var = var.unwrap_or_default();
    match variables.get(var) {
        Some(value) if !value.is_empty() => Ok(value.clone()),
        _ => Err(
            Error::usage(format!("environment variable `{var}` is not set"))
                .with_hint(format!("set it, or use `{file_flag}`")),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_go_only_to_regular_files() {
        let err = super::write(std::path::Path::new("/dev/null"), "s3cret").unwrap_err();
        assert!(err.message().contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook");
        super::write(&path, "s3cret").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret\n");
    }
}
