//! The command line, as clap sees it: structure, flags, their environment variables and
//! value parsers. Nothing here decides behaviour; [`crate::settings`] turns it into settings.

use std::ffi::OsString;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};

use crate::check::dns::RecordKind;
use crate::check::http::{Header, JsonAssertion, StatusSpec};
use crate::env_vars;
use crate::error::Error;
use crate::parse;
use crate::target::{HostPort, Target};

/// Bring up a self-hosted ChatOps stack in dependency order, and health-check it.
#[derive(Debug, Parser)]
#[command(name = "stackctl", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Log filter, e.g. `debug` or `stackctl=trace` (falls back to `RUST_LOG`)
    #[arg(long, global = true, value_name = "FILTER", env = env_vars::STACKCTL_LOG)]
    pub log_level: Option<String>,

    /// Machine-readable output: one JSON object per line on stdout
    #[arg(long, global = true, env = env_vars::STACKCTL_JSON, value_parser = BoolishValueParser::new())]
    pub json: bool,

    /// No progress output; results and errors only
    #[arg(long, short, global = true, env = env_vars::STACKCTL_QUIET, value_parser = BoolishValueParser::new())]
    pub quiet: bool,

    /// Never use colour (also when `NO_COLOR` is set)
    #[arg(long, global = true)]
    pub no_color: bool,
}

// Parsed once per process; boxing the larger variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check one target once and exit 0 (healthy) or 1 (unhealthy); fit for `HEALTHCHECK`
    #[command(subcommand)]
    Check(CheckCommand),
    /// Wait until every target is ready (in parallel, with backoff), then optionally exec a command
    Wait(WaitArgs),
    /// Run an idempotent init job until it succeeds (or fails for good, or times out)
    #[command(subcommand)]
    Init(InitCommand),
    /// Bring the stack up in dependency order; return when it is ready
    Up(UpArgs),
    /// Remove the stack's containers and networks (and volumes with `-v`)
    Down(DownArgs),
    /// Show each service's state, health, job result, uptime and ports
    Status(StatusArgs),
    /// Draw the dependency graph of the stack file
    Graph(GraphArgs),
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// A TCP connection can be opened
    Tcp(TcpArgs),
    /// An HTTP(S) request gets the expected answer
    Http(HttpArgs),
    /// A DNS name resolves (to the expected value)
    Dns(DnsArgs),
    /// A MongoDB member is what its clients need (by default the PRIMARY of its replica set)
    Mongo(MongoArgs),
    /// Rocket.Chat is up and serving its API (`/api/info`, and `/readyz` where it exists)
    Rocketchat(RcServerCheckArgs),
    /// A Rocket.Chat user can log in
    RocketchatLogin(RcLoginCheckArgs),
    /// A Rocket.Chat user can log in, the room exists, the user is a member (and may post, with `--write`)
    RocketchatRoom(RcRoomCheckArgs),
}

/// The Rocket.Chat server.
#[derive(Debug, Clone, Args)]
pub struct RcServer {
    /// Base URL, e.g. `http://rocketchat:3000`
    #[arg(long, value_name = "URL", env = env_vars::STACKCTL_ROCKETCHAT_URL, value_parser = parse::http_url)]
    pub url: url::Url,
}

/// A user's password: from a file or a variable, never a bare flag value.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct Password {
    /// Read the password from this file (a trailing newline is ignored)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<std::path::PathBuf>,
    /// Read the password from this environment variable
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

/// The admin's credentials, for jobs that change things.
#[derive(Debug, Clone, Args)]
pub struct Admin {
    /// The admin's user name
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub admin_user: String,
    /// Read the admin's password from this file
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "admin_password_env"
    )]
    pub admin_password_file: Option<std::path::PathBuf>,
    /// Read the admin's password from this environment variable
    #[arg(long, value_name = "VAR")]
    pub admin_password_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct RcServerCheckArgs {
    #[command(flatten)]
    pub server: RcServer,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct RcLoginCheckArgs {
    #[command(flatten)]
    pub server: RcServer,
    /// The user (name or email)
    #[arg(long, value_name = "NAME")]
    pub user: String,
    #[command(flatten)]
    pub password: Password,
    /// Keep the login token in this file (mode 0600) and reuse it: frequent probes then do not
    /// log in each time (Rocket.Chat rate-limits logins)
    #[arg(long, value_name = "FILE")]
    pub session_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct RcRoomCheckArgs {
    #[command(flatten)]
    pub server: RcServer,
    /// The user (name or email)
    #[arg(long, value_name = "NAME")]
    pub user: String,
    #[command(flatten)]
    pub password: Password,
    /// Keep the login token in this file (mode 0600) and reuse it: frequent probes then do not
    /// log in each time (Rocket.Chat rate-limits logins)
    #[arg(long, value_name = "FILE")]
    pub session_file: Option<std::path::PathBuf>,
    /// The room's name (channel or private group)
    #[arg(long, value_name = "NAME")]
    pub room: String,
    /// Also verify the user may post there (without posting)
    #[arg(long)]
    pub write: bool,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct MongoArgs {
    /// The member's URI, e.g. `mongodb://mongo:27017` (credentials allowed; never printed)
    #[arg(long, value_name = "URI", env = env_vars::STACKCTL_MONGO_URI)]
    pub uri: String,
    /// The replica set it must belong to
    #[arg(long, value_name = "NAME")]
    pub replica_set: Option<String>,
    /// What it must be [default: `primary` with `--replica-set`, else `ping`]
    #[arg(long, value_enum)]
    pub want: Option<crate::check::mongo::Want>,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

/// Init jobs: idempotent, retried with backoff until done; exit 0 done, 1 failed, 3 timed out.
#[derive(Debug, Subcommand)]
pub enum InitCommand {
    /// Initiate a MongoDB replica set (or verify it), then wait until a PRIMARY is elected
    ReplicaSet(ReplicaSetArgs),
    /// Wait for Rocket.Chat, then verify the admin logs in and holds the `admin` role
    RocketchatAdmin(RcAdminArgs),
    /// Create a Rocket.Chat user if absent (ready for bots: no 2FA, no default channels), else verify its login
    RocketchatUser(RcUserArgs),
    /// Create a Rocket.Chat room if absent, and invite its members
    RocketchatRoom(RcRoomArgs),
    /// Create an incoming webhook if none has this name; write its URL to a file (mode 0600)
    RocketchatWebhook(RcWebhookArgs),
}

/// The bound of an init job.
#[derive(Debug, Clone, Copy, Args)]
pub struct JobTimeout {
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse::duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RcAdminArgs {
    #[command(flatten)]
    pub server: RcServer,
    /// The admin's user name
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub user: String,
    #[command(flatten)]
    pub password: Password,
    #[command(flatten)]
    pub limit: JobTimeout,
}

#[derive(Debug, Args)]
pub struct RcUserArgs {
    #[command(flatten)]
    pub server: RcServer,
    #[command(flatten)]
    pub admin: Admin,
    /// The user to create or verify
    #[arg(long, value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub password: Password,
    /// Roles of a new user (repeatable)
    #[arg(long = "role", value_name = "ROLE", default_value = "user")]
    pub roles: Vec<String>,
    /// Email of a new user [default: `NAME@users.noreply.invalid`]
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// Set the password when the user exists with another one
    #[arg(long)]
    pub reset_password: bool,
    #[command(flatten)]
    pub limit: JobTimeout,
}

#[derive(Debug, Args)]
pub struct RcRoomArgs {
    #[command(flatten)]
    pub server: RcServer,
    #[command(flatten)]
    pub admin: Admin,
    /// The room's name
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// A private group instead of a public channel
    #[arg(long)]
    pub private: bool,
    /// Read-only (only users with `post-readonly` may post)
    #[arg(long)]
    pub read_only: bool,
    /// A user who must be a member (repeatable)
    #[arg(long = "member", value_name = "NAME")]
    pub members: Vec<String>,
    #[command(flatten)]
    pub limit: JobTimeout,
}

#[derive(Debug, Args)]
pub struct RcWebhookArgs {
    #[command(flatten)]
    pub server: RcServer,
    #[command(flatten)]
    pub admin: Admin,
    /// The integration's name (the key that keeps the job idempotent)
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The room messages go to
    #[arg(long, value_name = "NAME")]
    pub room: String,
    /// The user messages are posted as
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// The integration script (turns e.g. GitLab events into messages)
    #[arg(long, value_name = "FILE")]
    pub script_file: Option<std::path::PathBuf>,
    /// Where to write the hook URL (mode 0600; the URL is a secret and never printed)
    #[arg(long, value_name = "FILE")]
    pub output: std::path::PathBuf,
    #[command(flatten)]
    pub limit: JobTimeout,
}

#[derive(Debug, Args)]
pub struct ReplicaSetArgs {
    /// The member to talk to, e.g. `mongodb://mongo:27017` (credentials allowed; never printed)
    #[arg(long, value_name = "URI", env = env_vars::STACKCTL_MONGO_URI)]
    pub uri: String,
    /// Replica set name: must equal mongod's `--replSet`
    #[arg(long, value_name = "NAME", default_value = "rs0")]
    pub name: String,
    /// A member's `HOST:PORT` as clients will reach it (repeatable, in order)
    #[arg(long = "member", value_name = "HOST:PORT", required = true, value_parser = parse::host_port)]
    pub members: Vec<HostPort>,
    /// Rewrite member hosts that differ from `--member` (`replSetReconfig`) instead of failing
    #[arg(long)]
    pub reconfigure: bool,
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse::duration)]
    pub timeout: Duration,
}

/// The hard limit of one check attempt.
#[derive(Debug, Clone, Copy, Args)]
pub struct CheckTimeout {
    /// Hard timeout of the check
    #[arg(long, value_name = "DURATION", default_value = "5s", env = env_vars::STACKCTL_CHECK_TIMEOUT, value_parser = parse::duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct TcpArgs {
    /// `HOST:PORT`; IPv6 addresses in brackets, e.g. `[::1]:5432`
    #[arg(value_name = "HOST:PORT", value_parser = parse::host_port)]
    pub address: HostPort,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// The URL to request (`http://` or `https://`)
    #[arg(value_name = "URL", value_parser = parse::http_url)]
    pub url: url::Url,
    /// Accepted status codes: codes, ranges and classes, e.g. `200`, `200-299,304`, `2xx`
    #[arg(long, value_name = "CODES", default_value = "200-399", value_parser = parse::status_spec)]
    pub status: StatusSpec,
    /// The body must contain this text
    #[arg(long, value_name = "TEXT")]
    pub body_contains: Option<String>,
    /// The body must match this regular expression
    #[arg(long, value_name = "REGEX", value_parser = parse::regex)]
    pub body_regex: Option<regex::Regex>,
    /// The JSON body must hold VALUE at PATH, e.g. `status=ok` or `checks.mongo.status=ok`
    #[arg(long = "json-path", value_name = "PATH=VALUE", value_parser = parse::json_assertion)]
    pub json_path: Vec<JsonAssertion>,
    /// Extra request header (repeatable)
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE", value_parser = parse::header)]
    pub headers: Vec<Header>,
    /// Virtual host to ask for: sent as `Host` (and TLS server name) while connecting to the URL's address
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Request method
    #[arg(long, value_name = "METHOD", default_value = "GET", value_parser = parse::method)]
    pub method: reqwest::Method,
    /// Accept any TLS certificate
    #[arg(long)]
    pub insecure: bool,
    /// Trust the PEM certificates in this file as well
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Follow redirects (at most 10) instead of judging the redirect itself
    #[arg(long)]
    pub follow_redirects: bool,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct DnsArgs {
    /// The name to resolve
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Record type
    #[arg(long = "type", value_enum, default_value = "a", ignore_case = true)]
    pub record: RecordKind,
    /// At least one answer must equal this value
    #[arg(long, value_name = "VALUE")]
    pub expect: Option<String>,
    /// Ask this server instead of the ones in `/etc/resolv.conf`
    #[arg(long, value_name = "IP:PORT", value_parser = parse::dns_server)]
    pub server: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Targets: `tcp://HOST:PORT`, `http(s)://...`, `dns://NAME[?type=AAAA&expect=VALUE&server=IP:PORT]`
    #[arg(value_name = "TARGET", required = true, value_parser = parse::target)]
    pub targets: Vec<Target>,
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "60s", env = env_vars::STACKCTL_WAIT_TIMEOUT, value_parser = parse::duration)]
    pub timeout: Duration,
    /// Wait until the targets are NOT reachable
    #[arg(long)]
    pub invert: bool,
    /// First delay between attempts (grows exponentially, with jitter)
    #[arg(long, value_name = "DURATION", default_value = "50ms", env = env_vars::STACKCTL_BACKOFF_MIN, value_parser = parse::duration)]
    pub backoff_min: Duration,
    /// Largest delay between attempts
    #[arg(long, value_name = "DURATION", default_value = "2s", env = env_vars::STACKCTL_BACKOFF_MAX, value_parser = parse::duration)]
    pub backoff_max: Duration,
    /// Hard timeout of each attempt
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::duration)]
    pub attempt_timeout: Duration,
    /// Command to exec (replacing stackctl) once every target is ready
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Which stack: shared by `up`, `down`, `status` and `graph`.
#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    /// Stack file (a compose file); repeat to merge several in order, as compose does [default: `COMPOSE_FILE`, else `compose.yaml`, `compose.yml`, `docker-compose.yml` or `docker-compose.yaml` here or in a parent directory, with `compose.override.yml` beside it]
    #[arg(long, short = 'f', value_name = "FILE", env = env_vars::STACKCTL_FILE)]
    pub file: Vec<std::path::PathBuf>,
    /// Project name [default: `COMPOSE_PROJECT_NAME`, `name:` in the files, or the first file's directory name]
    #[arg(long = "project-name", short = 'p', value_name = "NAME", env = env_vars::STACKCTL_PROJECT)]
    pub project: Option<String>,
    /// Read variables from this file instead of `.env`
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<std::path::PathBuf>,
    /// Enable services of this profile (repeatable; adds to `COMPOSE_PROFILES`)
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "5m", env = env_vars::STACKCTL_UP_TIMEOUT, value_parser = parse::duration)]
    pub timeout: Duration,
    /// Do not run one-shot services (jobs)
    #[arg(long)]
    pub no_jobs: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Also remove the named volumes (their data is lost)
    #[arg(long, short = 'v')]
    pub volumes: bool,
    /// Also remove containers of services no longer in the stack file
    #[arg(long)]
    pub remove_orphans: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: GraphFormat,
}

/// How `graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

/// What parsing the command line produced, when it did not produce a [`Cli`].
#[derive(Debug)]
pub enum ParseError {
    /// `--help` or `--version`: print this on stdout and exit 0.
    Display(String),
    /// A usage error, already in our message style.
    Usage(Error),
}

/// Parses the command line.
///
/// # Errors
/// [`ParseError::Display`] for help and version, [`ParseError::Usage`] for bad input.
pub fn parse(args: &[OsString]) -> Result<Cli, ParseError> {
    Cli::try_parse_from(args).map_err(|err| {
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
    use clap::CommandFactory;
    let mut command = Cli::command();
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
fn usage_error(err: &clap::Error, path: &str) -> Error {
    let text = err.render().to_string();
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
    Error::usage(message).with_hint(hint)
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
        use clap::CommandFactory;
        Cli::command().debug_assert();
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

    #[test]
    fn clap_quotes_become_backticks() {
        assert_eq!(
            backticks("unexpected argument '--foo' found"),
            "unexpected argument `--foo` found"
        );
        assert_eq!(backticks("can't parse"), "can't parse");
    }
}
