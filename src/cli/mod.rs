//! The command line, as clap sees it: the top-level parser and the global flags. Each
//! subcommand declares its own arguments in [`crate::commands`]; nothing here decides behaviour
//! ([`crate::settings`] turns the flags into settings).

pub mod global;
pub mod values;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser};

pub use global::GlobalArgs;

use crate::commands::Command;
use crate::env_vars;
use crate::error::Error;

/// Bring up a self-hosted ChatOps stack in dependency order, and health-check it.
#[derive(Debug, Parser)]
#[command(name = "stackctl", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// What parsing the command line produced, when it did not produce a [`Cli`].
#[derive(Debug)]
pub enum ParseError {
    /// `--help` or `--version`: print this on stdout and exit 0.
    Display(String),
    /// A usage error, already in our message style.
    Usage(Error),
}

/// The command tree as clap sees it, with our rules applied: a variable's value is shown in
/// `--help` only when the variable is listed in [`env_vars::SHOWN_IN_HELP`] (a new variable is
/// hidden until someone decides it cannot hold a credential). Parsing, completions and the man
/// page all start here.
#[must_use]
pub fn command() -> clap::Command {
    hide_env_values(Cli::command())
}

/// The command tree for documents (completion scripts, man pages): no variable's value at all,
/// so that what is generated does not depend on the generating machine's environment.
#[must_use]
pub fn documented() -> clap::Command {
    fn hide_all(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| arg.hide_env_values(true))
            .mut_subcommands(hide_all)
    }
    hide_all(command())
}

fn hide_env_values(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let shown = arg
                .get_env()
                .and_then(|var| var.to_str())
                .is_none_or(|var| env_vars::SHOWN_IN_HELP.contains(&var));
            if shown {
                arg
            } else {
                arg.hide_env_values(true)
            }
        })
        .mut_subcommands(hide_env_values)
}

/// Parses the command line.
///
/// # Errors
/// [`ParseError::Display`] for help and version, [`ParseError::Usage`] for bad input.
pub fn parse(args: &[OsString]) -> Result<Cli, ParseError> {
    if let Some(cli) = parse_check(args) {
        return Ok(cli);
    }
    command()
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
        .map_err(|err| {
            use clap::error::ErrorKind;
            match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    ParseError::Display(err.render().to_string())
                }
                // A bare `stackctl check` must not pass as a healthy HEALTHCHECK: it is a usage error.
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let path = subcommand_path(args);
                    ParseError::Usage(
                        Error::usage(format!("`{path}` needs a subcommand"))
                            .with_hint(format!("see `{path} --help`")),
                    )
                }
                _ => ParseError::Usage(usage_error(&err, &subcommand_path(args))),
            }
        })
}

/// `stackctl check ...` parsed against a tree holding `check` alone, or `None` when that does
/// not give a [`Cli`].
///
/// clap builds every command of the tree it is given, on every run: the whole tree (17
/// subcommands, about 160 arguments) cost more than the check itself, in instructions and in
/// musl's `mmap`/`munmap` for its allocations. A HEALTHCHECK runs `check` every few seconds in
/// every container, so `check` gets a tree of its own. Anything but a successful parse (help,
/// version, a usage error) is parsed again against the whole tree: messages, suggestions and
/// help stay exactly those of [`command`]. The grammar is the same types' (`GlobalArgs`,
/// `CheckCommand`); `tests::the_check_tree_parses_as_the_whole_tree` keeps the two in step.
fn parse_check(args: &[OsString]) -> Option<Cli> {
    use clap::{Args, Subcommand};
    if !is_check(args) {
        return None;
    }
    let check =
        crate::commands::check::CheckCommand::augment_subcommands(clap::Command::new("check"))
            .subcommand_required(true)
            .arg_required_else_help(true);
    let tree = GlobalArgs::augment_args(clap::Command::new("stackctl"))
        .subcommand(check)
        .subcommand_required(true);
    let matches = tree.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

/// True when the command line asks for `check`: failures there must exit 1, never 2.
#[must_use]
pub fn is_check(args: &[OsString]) -> bool {
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        match word.as_ref() {
            "--" => return false,
            // The one global flag that takes a separate value.
            "--log-level" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            w => return w == "check",
        }
    }
    false
}

/// `stackctl check tcp`: the program and the subcommands named on the command line, for hints.
fn subcommand_path(args: &[OsString]) -> String {
    let mut command = command();
    let mut path = String::from("stackctl");
    for word in args.iter().skip(1).map(|a| a.to_string_lossy()) {
        let Some(sub) = command.find_subcommand(word.as_ref()).cloned() else {
            if word.starts_with('-') {
                continue;
            }
            break;
        };
        path.push(' ');
        path.push_str(&word);
        command = sub;
    }
    path
}

/// Turns clap's multi-line error into our style: one `error:` line, a `hint:` from clap's tip.
///
/// clap quotes the offending value, which may hold a secret (a URL with a password, a header
/// with a token) and may be huge: credentials are masked, header values hidden, and long
/// literals shortened before anything is shown.
fn usage_error(err: &clap::Error, path: &str) -> Error {
    let text = hide_secret_values(err, &err.render().to_string());
    let text = crate::redact::text(&text);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let mut message = backticks(first.strip_prefix("error: ").unwrap_or(first));
    if message.ends_with(':') {
        // "the following required arguments were not provided:" names them on the next line.
        let missing: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.starts_with('<') || l.starts_with("--"))
            .collect();
        let missing: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        message = format!("{} {}", message, missing.join(", "));
    }
    let mut hint = None;
    for line in lines {
        if let Some(values) = line.strip_prefix("[possible values: ") {
            hint = Some(format!("expected one of: {}", values.trim_end_matches(']')));
        } else if let Some(tip) = line.strip_prefix("tip: ") {
            // clap's "to pass `--x` as a value, use `-- --x`" misleads more than it helps.
            if hint.is_none() && !tip.starts_with("to pass ") {
                hint = Some(backticks(tip));
            }
        }
    }
    let hint = hint.unwrap_or_else(|| format!("see `{path} --help`"));
    Error::usage(shorten_literals(&message)).with_hint(shorten_literals(&hint))
}

/// Flags whose values are secrets even when they do not parse: shown as `NAME:***`.
const SECRET_VALUED: &[&str] = &["--header", "-H"];

/// For a secret-valued flag, clap's rendering (which quotes the raw value, control characters
/// and all) is replaced by our own line naming only the part before `:`.
fn hide_secret_values(err: &clap::Error, text: &str) -> String {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return text.to_owned();
    };
    let flag = arg.split([' ', '=']).next().unwrap_or_default();
    if !SECRET_VALUED.contains(&flag) {
        return text.to_owned();
    }
    let masked = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => match value.split_once(':') {
            Some((name, _)) => format!("{}:***", name.trim()),
            None => "***".to_owned(),
        },
        _ => "***".to_owned(),
    };
    // Our value parsers never quote a secret value; clap's own texts might.
    let why = match std::error::Error::source(err) {
        Some(source) => source.to_string(),
        None => "invalid value".to_owned(),
    };
    format!("error: invalid value '{masked}' for '{arg}': {why}")
}

/// The longest literal (text between backticks) an error message quotes in full.
const LITERAL_LIMIT: usize = 200;

/// Shortens every backticked literal longer than [`LITERAL_LIMIT`] bytes, on a character
/// boundary, ending in `…`: a 100,000-character argument is not echoed back whole.
fn shorten_literals(text: &str) -> String {
    if text.len() <= LITERAL_LIMIT {
        return text.to_owned();
    }
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                crate::limits::fit(part, LITERAL_LIMIT)
            } else {
                std::borrow::Cow::Borrowed(part)
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// clap quotes literals as `'x'`; our messages use backticks.
fn backticks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('\'');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let rest: Vec<&str> = parts.collect();
    // Only balanced quotes are literals; a lone apostrophe stays as it is.
    let balanced = rest.len() % 2 == 0;
    for part in &rest {
        out.push(if balanced { '`' } else { '\'' });
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn check_is_recognised_behind_global_flags() {
        assert!(is_check(&args(&["stackctl", "check", "tcp", "x"])));
        assert!(is_check(&args(&[
            "stackctl",
            "--json",
            "--log-level",
            "debug",
            "check"
        ])));
        assert!(!is_check(&args(&[
            "stackctl",
            "wait",
            "tcp://a:1",
            "--",
            "check"
        ])));
        assert!(!is_check(&args(&[
            "stackctl",
            "--log-level",
            "check",
            "wait"
        ])));
    }

    /// Every line through [`parse_check`] gives the [`Cli`] the whole tree gives.
    #[test]
    fn the_check_tree_parses_as_the_whole_tree() {
        let lines: &[&[&str]] = &[
            &["stackctl", "check", "tcp", "db:5432"],
            &[
                "stackctl",
                "--json",
                "check",
                "tcp",
                "[::1]:5432",
                "--timeout",
                "2s",
            ],
            &[
                "stackctl",
                "-q",
                "--no-color",
                "check",
                "http",
                "https://a/x",
                "--status",
                "2xx",
                "--json-path",
                "a.b=1",
                "--header",
                "X-A:b",
                "--host",
                "c",
                "--insecure",
            ],
            &[
                "stackctl",
                "check",
                "--log-level",
                "debug",
                "dns",
                "mongo",
                "--type",
                "AAAA",
                "--expect",
                "::1",
                "--server",
                "127.0.0.11:53",
            ],
            &[
                "stackctl",
                "check",
                "mongo",
                "--uri",
                "mongodb://m:27017",
                "--replica-set",
                "rs0",
            ],
            &[
                "stackctl",
                "check",
                "rocketchat-room",
                "--url",
                "http://r:3000",
                "--user",
                "bot",
                "--password-env",
                "P",
                "--room",
                "devops",
                "--write",
                "--session-file",
                "/s",
            ],
            &[
                "stackctl",
                "check",
                "gitlab",
                "--url",
                "http://g:8929",
                "--timeout",
                "8s",
            ],
        ];
        for line in lines {
            let line = args(line);
            let fast = parse_check(&line).unwrap_or_else(|| panic!("{line:?}"));
            let whole = command()
                .try_get_matches_from(&line)
                .and_then(|m| Cli::from_arg_matches(&m))
                .unwrap();
            assert_eq!(format!("{fast:?}"), format!("{whole:?}"));
        }
        // Help, version and mistakes are left to the whole tree.
        for line in [
            &["stackctl", "check"][..],
            &["stackctl", "check", "--help"],
            &["stackctl", "check", "tcp", "--help"],
            &["stackctl", "check", "tcp"],
            &["stackctl", "check", "tcp", "db"],
            &["stackctl", "check", "tpc", "db:1"],
            &["stackctl", "--version"],
            &["stackctl", "wait", "tcp://a:1"],
        ] {
            assert!(parse_check(&args(line)).is_none(), "{line:?}");
        }
    }

    #[test]
    fn long_literals_are_shortened() {
        let long = "x".repeat(10_000);
        let message = shorten_literals(&format!("`{long}` is not a valid URL"));
        assert!(message.len() < 300, "{message}");
        assert!(message.ends_with("…` is not a valid URL"), "{message}");
    }

    #[test]
    fn clap_quotes_become_backticks() {
        assert_eq!(
            backticks("unexpected argument '--foo' found"),
            "unexpected argument `--foo` found"
        );
        assert_eq!(backticks("can't parse"), "can't parse");
    }
}
