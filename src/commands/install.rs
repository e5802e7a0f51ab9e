//! `stackctl install --to DIR`: copies this binary into a directory, for images that do not
//! contain it — e.g. a Kubernetes initContainer (from an image with stackctl) filling an
//! `emptyDir` that the other containers of the pod mount (`render kubernetes` does this).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The directory to copy the binary into (as `stackctl`, mode 0755)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

/// Copies the running binary to `DIR/stackctl`.
pub fn run(args: &InstallArgs, settings: &Settings) -> Result<ExitStatus> {
    use std::os::unix::fs::PermissionsExt;
    let reason = |e: &std::io::Error| crate::reason::io_reason(e);
    let source = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find this binary: {}", reason(&e))))?;
    let dest = args.to.join("stackctl");
    // Written beside the destination and renamed over it: a half-copied binary is never run.
    let partial = args.to.join(".stackctl.partial");
    std::fs::copy(&source, &partial)
        .and_then(|_| std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::rename(&partial, &dest))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            Error::failed(format!(
                "cannot install into `{}`: {}",
                args.to.display(),
                reason(&e)
            ))
            .with_hint("the directory must exist and be writable (e.g. an `emptyDir` volume)")
        })?;
    if settings.output != crate::settings::Output::Quiet {
        let _ = writeln!(std::io::stdout().lock(), "installed {}", dest.display());
    }
    Ok(ExitStatus::Success)
}
