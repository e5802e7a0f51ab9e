//! `stackctl check KIND`: one attempt under a hard timeout, one line on stdout, exit 0 or 1 —
//! fit for a Docker `HEALTHCHECK`.

use std::io::Write;

use clap::{Args, Subcommand};

use super::common::{CheckTimeout, Password, RcServer};
use crate::check::Check;
use crate::check::dns::{DnsCheck, RecordKind};
use crate::check::http::{Header, HttpCheck, HttpSpec, JsonAssertion, StatusSpec};
use crate::check::tcp::TcpCheck;
use crate::cli::values;
use crate::env_vars;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::mongo::check::{MongoCheck, Want};
use crate::rocketchat::check::{Probe, RocketChatCheck};
use crate::rocketchat::client::Client;
use crate::settings::{Output, Settings};
use crate::target::{HostPort, MongoTarget};

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
    /// GitLab is ready (`/-/readiness`; `/-/health` tells a `monitoring_whitelist` refusal apart)
    Gitlab(GitlabCheckArgs),
}

#[derive(Debug, Args)]
pub struct GitlabCheckArgs {
    /// Base URL, e.g. `http://gitlab:8929` (the address must be in GitLab's `monitoring_whitelist`)
    #[arg(long, value_name = "URL", env = env_vars::STACKCTL_GITLAB_URL, value_parser = values::http_url)]
    pub url: url::Url,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct TcpArgs {
    /// `HOST:PORT` or `tcp://HOST:PORT`; IPv6 addresses in brackets, e.g. `[::1]:5432`
    #[arg(value_name = "HOST:PORT", value_parser = values::tcp_address)]
    pub address: HostPort,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// The URL to request (`http://` or `https://`)
    #[arg(value_name = "URL", value_parser = values::http_url)]
    pub url: url::Url,
    /// Accepted status codes: codes, ranges and classes, e.g. `200`, `200-299,304`, `2xx`
    #[arg(long, value_name = "CODES", default_value = "200-399", value_parser = values::status_spec)]
    pub status: StatusSpec,
    /// The body must contain this text
    #[arg(long, value_name = "TEXT")]
    pub body_contains: Option<String>,
    /// The body must match this regular expression
    #[arg(long, value_name = "REGEX", value_parser = values::regex)]
    pub body_regex: Option<regex::Regex>,
    /// The JSON body must hold VALUE at PATH, e.g. `status=ok` or `checks.mongo.status=ok`
    #[arg(long = "json-path", value_name = "PATH=VALUE", value_parser = values::json_assertion)]
    pub json_path: Vec<JsonAssertion>,
    /// Extra request header (repeatable)
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE", value_parser = values::header)]
    pub headers: Vec<Header>,
    /// Virtual host to ask for: sent as `Host` (and TLS server name) while connecting to the URL's address
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Request method
    #[arg(long, value_name = "METHOD", default_value = "GET", value_parser = values::method)]
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
    /// The name to resolve, or a target `dns://NAME[?type=AAAA&expect=VALUE&server=IP:PORT]` (flags override its options)
    #[arg(value_name = "NAME", value_parser = values::dns_query)]
    pub name: values::DnsQuery,
    /// Record type [default: `a`]
    #[arg(long = "type", value_enum, ignore_case = true)]
    pub record: Option<RecordKind>,
    /// At least one answer must equal this value
    #[arg(long, value_name = "VALUE")]
    pub expect: Option<String>,
    /// Ask this server instead of the ones in `/etc/resolv.conf`
    #[arg(long, value_name = "IP:PORT", value_parser = values::dns_server)]
    pub server: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct MongoArgs {
    /// The member, e.g. `mongodb://mongo:27017`, or a seed list with its set, e.g. `mongodb://m1,m2,m3/?replicaSet=rs0` (one of them must fit); credentials allowed, never printed
    #[arg(value_name = "URI", value_parser = values::mongo_target, conflicts_with = "uri", required_unless_present = "uri")]
    pub target: Option<MongoTarget>,
    /// The same as a flag
    #[arg(long, value_name = "URI", env = env_vars::STACKCTL_MONGO_URI, value_parser = values::mongo_target)]
    pub uri: Option<MongoTarget>,
    /// The replica set it must belong to [default: the URI's `replicaSet`]
    #[arg(long, value_name = "NAME")]
    pub replica_set: Option<String>,
    /// What it must be [default: `primary` with `--replica-set`, else `ping`]
    #[arg(long, value_enum)]
    pub want: Option<Want>,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct RcServerCheckArgs {
    /// Base URL, e.g. `http://rocketchat:3000` or `rocketchat+http://rocketchat:3000`
    #[arg(value_name = "URL", value_parser = values::rocketchat_url, conflicts_with = "url", required_unless_present = "url")]
    pub target: Option<url::Url>,
    /// The same as a flag
    #[arg(long, value_name = "URL", env = env_vars::STACKCTL_ROCKETCHAT_URL, value_parser = values::rocketchat_url)]
    pub url: Option<url::Url>,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

/// Who logs in to Rocket.Chat, and where the session is kept.
#[derive(Debug, Args)]
pub struct RcLogin {
    /// The user (name or email)
    #[arg(long, value_name = "NAME")]
    pub user: String,
    #[command(flatten)]
    pub password: Password,
    /// Keep the login token in this file (mode 0600) and reuse it: frequent probes then do not
    /// log in each time (Rocket.Chat rate-limits logins)
    #[arg(long, value_name = "FILE")]
    pub session_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct RcLoginCheckArgs {
    #[command(flatten)]
    pub server: RcServer,
    #[command(flatten)]
    pub login: RcLogin,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

#[derive(Debug, Args)]
pub struct RcRoomCheckArgs {
    #[command(flatten)]
    pub server: RcServer,
    #[command(flatten)]
    pub login: RcLogin,
    /// The room's name (channel or private group)
    #[arg(long, value_name = "NAME")]
    pub room: String,
    /// Also verify the user may post there (without posting)
    #[arg(long)]
    pub write: bool,
    #[command(flatten)]
    pub limit: CheckTimeout,
}

/// Runs one check and prints its line.
pub async fn run(kind: CheckCommand, settings: &Settings) -> Result<ExitStatus> {
    let (check, timeout) = build(kind, settings)?;
    let report = check.run(timeout).await;
    let line = if settings.output == Output::Json {
        report.json()
    } else {
        report.line()
    };
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    Ok(if report.outcome.is_healthy() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The check a command line describes, and its `--timeout` (a catalog entry's runs too).
pub fn build(kind: CheckCommand, settings: &Settings) -> Result<(Check, std::time::Duration)> {
    Ok(match kind {
        CheckCommand::Tcp(args) => (Check::Tcp(TcpCheck::new(args.address)), args.limit.timeout),
        CheckCommand::Http(args) => {
            let spec = HttpSpec {
                url: args.url,
                method: args.method,
                status: args.status,
                body_contains: args.body_contains,
                body_regex: args.body_regex,
                json: args.json_path,
                headers: args.headers,
                host: args.host,
                insecure: args.insecure,
                ca_file: args.ca_file,
                follow_redirects: args.follow_redirects,
            };
            (
                Check::Http(Box::new(HttpCheck::new(spec)?)),
                args.limit.timeout,
            )
        }
        CheckCommand::Mongo(args) => {
            let target = args.target.or(args.uri).ok_or_else(|| {
                crate::error::Error::usage("`check mongo` needs a `mongodb://` URI")
            })?;
            let set = args.replica_set.or_else(|| target.replica_set.clone());
            let check = MongoCheck::lazy(target, set, args.want);
            (Check::Mongo(Box::new(check)), args.limit.timeout)
        }
        CheckCommand::Rocketchat(args) => {
            let url = args.target.or(args.url).ok_or_else(|| {
                crate::error::Error::usage("`check rocketchat` needs the server's URL")
            })?;
            let client = Client::new(url, args.limit.timeout)?;
            (
                rocketchat_check(client, Probe::Server, None, None),
                args.limit.timeout,
            )
        }
        CheckCommand::RocketchatLogin(args) => {
            let check = login_check(args.server, args.login, args.limit, settings, |user| {
                Probe::Login { user }
            })?;
            (check, args.limit.timeout)
        }
        CheckCommand::RocketchatRoom(args) => {
            let (room, write) = (args.room.trim_start_matches('#').to_owned(), args.write);
            let check = login_check(args.server, args.login, args.limit, settings, |user| {
                Probe::Room { user, room, write }
            })?;
            (check, args.limit.timeout)
        }
        CheckCommand::Gitlab(args) => {
            let client = crate::gitlab::client::Client::new(args.url, None, args.limit.timeout)?;
            (
                Check::Gitlab(Box::new(crate::gitlab::check::GitlabCheck::new(client))),
                args.limit.timeout,
            )
        }
        CheckCommand::Dns(args) => (
            Check::Dns(DnsCheck::new(
                args.name.name,
                args.record.or(args.name.record).unwrap_or(RecordKind::A),
                args.expect.or(args.name.expect),
                args.server.or(args.name.server),
            )),
            args.limit.timeout,
        ),
    })
}

/// A Rocket.Chat check that logs in as `login.user`.
fn login_check(
    server: RcServer,
    login: RcLogin,
    limit: CheckTimeout,
    settings: &Settings,
    probe: impl FnOnce(String) -> Probe,
) -> Result<Check> {
    let password = login.password.read(settings)?;
    let client = Client::new(server.url, limit.timeout)?;
    Ok(rocketchat_check(
        client,
        probe(login.user),
        Some(password),
        login.session_file,
    ))
}

fn rocketchat_check(
    client: Client,
    probe: Probe,
    password: Option<String>,
    session_file: Option<std::path::PathBuf>,
) -> Check {
    Check::RocketChat(Box::new(RocketChatCheck::new(
        client,
        probe,
        password,
        session_file,
    )))
}
