//! Settings: the command line and the environment resolved, once, into typed values.
//!
//! Precedence (documented in the README): flag > `STACKCTL_*` variable > stack file > default.
//! clap merges each flag with its variable; this module applies the rules clap cannot express
//! (`RUST_LOG` as a fallback, `NO_COLOR`, terminal detection). Nothing after this reads
//! `std::env`.

use std::io::IsTerminal;

use crate::cli::global::GlobalArgs;
use crate::env_vars;

/// How progress and results are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// NDJSON events and results on stdout.
    Json,
    /// Results only.
    Quiet,
    /// Timestamped lines on stderr (not a terminal).
    Plain,
    /// Progress bars on stderr (a terminal).
    Progress,
}

/// The parts of the environment the settings depend on, read once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub rust_log: Option<String>,
    pub no_color: bool,
    pub stderr_is_terminal: bool,
    /// Every variable, for stack-file interpolation (the shell wins over `.env`).
    pub variables: std::collections::BTreeMap<String, String>,
    pub cwd: std::path::PathBuf,
}

impl Environment {
    /// Reads the process environment.
    #[must_use]
    pub fn from_process() -> Self {
        Self {
            rust_log: std::env::var(env_vars::RUST_LOG)
                .ok()
                .filter(|v| !v.is_empty()),
            no_color: std::env::var_os(env_vars::NO_COLOR).is_some_and(|v| !v.is_empty()),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            variables: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }
}

/// Resolved global settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `tracing` filter directives.
    pub log_filter: String,
    pub output: Output,
    pub color: bool,
    /// The process environment, for interpolating stack files.
    pub variables: std::collections::BTreeMap<String, String>,
    pub cwd: std::path::PathBuf,
}

/// Logs are quiet unless asked for: warnings and errors only.
pub const DEFAULT_LOG_FILTER: &str = "warn";

impl Settings {
    /// Applies the precedence rules.
    #[must_use]
    pub fn resolve(args: &GlobalArgs, env: &Environment) -> Self {
        let log_filter = args
            .log_level
            .clone()
            .filter(|v| !v.is_empty())
            .or_else(|| env.rust_log.clone())
            .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        let output = if args.json {
            Output::Json
        } else if args.quiet {
            Output::Quiet
        } else if env.stderr_is_terminal {
            Output::Progress
        } else {
            Output::Plain
        };
        Self {
            log_filter,
            output,
            color: !args.no_color && !env.no_color && env.stderr_is_terminal,
            variables: env.variables.clone(),
            cwd: env.cwd.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(log_level: Option<&str>, json: bool, quiet: bool, no_color: bool) -> GlobalArgs {
        GlobalArgs {
            log_level: log_level.map(str::to_owned),
            json,
            quiet,
            no_color,
        }
    }

    fn tty() -> Environment {
        Environment {
            rust_log: Some("info".into()),
            no_color: false,
            stderr_is_terminal: true,
            ..Environment::default()
        }
    }

    #[test]
    fn flag_beats_rust_log_beats_default() {
        assert_eq!(
            Settings::resolve(&args(Some("debug"), false, false, false), &tty()).log_filter,
            "debug"
        );
        assert_eq!(
            Settings::resolve(&args(None, false, false, false), &tty()).log_filter,
            "info"
        );
        let bare = Environment::default();
        assert_eq!(
            Settings::resolve(&args(None, false, false, false), &bare).log_filter,
            "warn"
        );
    }

    #[test]
    fn output_mode() {
        assert_eq!(
            Settings::resolve(&args(None, true, true, false), &tty()).output,
            Output::Json
        );
        assert_eq!(
            Settings::resolve(&args(None, false, true, false), &tty()).output,
            Output::Quiet
        );
        assert_eq!(
            Settings::resolve(&args(None, false, false, false), &tty()).output,
            Output::Progress
        );
        let pipe = Environment::default();
        assert_eq!(
            Settings::resolve(&args(None, false, false, false), &pipe).output,
            Output::Plain
        );
    }

    #[test]
    fn colour_off_by_flag_or_no_color() {
        assert!(Settings::resolve(&args(None, false, false, false), &tty()).color);
        assert!(!Settings::resolve(&args(None, false, false, true), &tty()).color);
        let no_color = Environment {
            no_color: true,
            ..tty()
        };
        assert!(!Settings::resolve(&args(None, false, false, false), &no_color).color);
    }
}
