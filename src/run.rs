//! From a command line to an exit status: parse, resolve settings, dispatch to the command,
//! then exit — or exec the command `wait -- CMD` asked for — reporting errors our way.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use crate::cli::{self, ParseError};
use crate::error::Error;
use crate::exit::{Completion, ExitStatus};
use crate::settings::{Environment, Settings};

/// Runs stackctl with these arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let healthcheck = cli::is_check(&args);
    let cli = match cli::parse(&args) {
        Ok(cli) => cli,
        Err(ParseError::Display(text)) => {
            let _ = write!(std::io::stdout().lock(), "{text}");
            return ExitCode::SUCCESS;
        }
        Err(ParseError::Usage(err)) => return report(&err, healthcheck),
    };
    let settings = Settings::resolve(&cli.global, &Environment::from_process());
    if let Err(err) = crate::logging::init(&settings) {
        return report(&err, healthcheck);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return report(
                &Error::failed(format!("cannot start the async runtime: {e}")),
                healthcheck,
            );
        }
    };
    let result = runtime.block_on(crate::commands::execute(
        cli.command,
        &settings,
        cli::documented,
    ));
    // Nothing may keep running behind an exec'd command.
    drop(runtime);
    match result {
        Ok(Completion::Exit(status)) => status.into(),
        Ok(Completion::Exec(command)) => exec(&command),
        Err(err) => report(&err, healthcheck),
    }
}

/// Replaces this process with the command; returns only if that fails.
fn exec(command: &[OsString]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let (program, rest) = command
        .split_first()
        .expect("clap requires a command after `--`");
    let err = std::process::Command::new(program).args(rest).exec();
    let name = program.to_string_lossy();
    let (status, what) = match err.kind() {
        std::io::ErrorKind::NotFound => (ExitStatus::CommandNotFound, "not found"),
        _ => (ExitStatus::CannotExecute, "cannot be executed"),
    };
    let error = Error::failed(format!(
        "command `{name}` {what}: {}",
        crate::reason::io_reason(&err)
    ))
    .with_hint(
        "`wait -- CMD` runs CMD directly, without a shell; give a path or a program on `PATH`",
    );
    let _ = writeln!(std::io::stderr().lock(), "{error}");
    status.into()
}

/// Prints an error on stderr and returns its exit status; under `check`, one line and exit 1.
fn report(err: &Error, healthcheck: bool) -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    if healthcheck {
        // One line that fits Docker's health log, whatever value the error quotes.
        let line = crate::redact::text(&err.one_line());
        let line = crate::limits::printable(&line);
        let _ = writeln!(
            stderr,
            "error: {}",
            crate::limits::fit(&line, crate::limits::LINE_LIMIT - "error: \n".len())
        );
        err.exit_status().for_healthcheck().into()
    } else {
        let _ = writeln!(stderr, "{err}");
        err.exit_status().into()
    }
}
