//! `stackctl man`: the manual page, generated from the same clap definitions the command line
//! is parsed with: `stackctl(1)` on stdout, or one page per subcommand with `--dir`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::settings::{Output, Settings};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page into this directory (`stackctl.1`, `stackctl-check.1`,
    /// `stackctl-check-tcp.1`, ...) instead of printing `stackctl.1`
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints `stackctl(1)`, or writes every page into `--dir`.
pub fn run(args: &ManArgs, tree: clap::Command, settings: &Settings) -> Result<ExitStatus> {
    let Some(dir) = &args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(tree)
            .render(&mut page)
            .and_then(|()| std::io::stdout().lock().write_all(&page))
            .map_err(|e| {
                Error::failed(format!(
                    "cannot print the page: {}",
                    crate::reason::io_reason(&e)
                ))
            })?;
        return Ok(ExitStatus::Success);
    };
    let fail = |e: std::io::Error| {
        Error::failed(format!(
            "cannot write the pages to `{}`: {}",
            dir.display(),
            crate::reason::io_reason(&e)
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    clap_mangen::generate_to(tree, dir).map_err(fail)?;
    if settings.output != Output::Quiet {
        let _ = writeln!(
            std::io::stderr().lock(),
            "man pages written to `{}`",
            dir.display()
        );
    }
    Ok(ExitStatus::Success)
}
