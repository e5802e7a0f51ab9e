//! `stackctl init JOB`: idempotent jobs retried with backoff until done; exit 0 done, 1 failed,
//! 3 timed out. The jobs themselves live in their domains (`mongo::init`, `rocketchat::init`).

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::common::{Admin, JobTimeout, Password, RcServer};
use crate::cli::values;
use crate::env_vars;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::output::{Reporter, renderer_for};
use crate::retry::RetryPolicy;
use crate::rocketchat::client::Client;
use crate::secret;
use crate::settings::{Output, Settings};
use crate::target::HostPort;

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
    #[arg(long = "member", value_name = "HOST:PORT", required = true, value_parser = values::host_port)]
    pub members: Vec<HostPort>,
    /// Rewrite member hosts that differ from `--member` (`replSetReconfig`) instead of failing
    #[arg(long)]
    pub reconfigure: bool,
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = values::duration)]
    pub timeout: Duration,
}

/// Runs one init job.
pub async fn run(job: InitCommand, settings: &Settings) -> Result<ExitStatus> {
    use crate::rocketchat::init as rc;
    let changes: rc::Changes = std::sync::Arc::default();
    let (server, limit, name) = match &job {
        InitCommand::ReplicaSet(_) => (None, None, String::new()),
        InitCommand::RocketchatAdmin(a) => (
            Some(&a.server),
            Some(a.limit),
            "rocketchat-admin".to_owned(),
        ),
        InitCommand::RocketchatUser(a) => (
            Some(&a.server),
            Some(a.limit),
            format!("rocketchat-user {}", a.name),
        ),
        InitCommand::RocketchatRoom(a) => (
            Some(&a.server),
            Some(a.limit),
            format!("rocketchat-room {}", a.name),
        ),
        InitCommand::RocketchatWebhook(a) => (
            Some(&a.server),
            Some(a.limit),
            format!("rocketchat-webhook {}", a.name),
        ),
    };
    let (Some(server), Some(limit)) = (server, limit) else {
        let InitCommand::ReplicaSet(args) = job else {
            unreachable!("only replica-set has no server")
        };
        return replica_set(args, settings).await;
    };
    let client = Client::new(
        server.url.clone(),
        Duration::from_secs(10).min(limit.timeout),
    )?;
    let admin = |a: &Admin| -> Result<rc::Credentials> {
        Ok(rc::Credentials {
            user: a.admin_user.clone(),
            password: secret::read(
                a.admin_password_file.as_deref(),
                a.admin_password_env.as_deref(),
                &settings.variables,
            )?,
        })
    };
    let spec = crate::job::JobSpec {
        name,
        timeout: limit.timeout,
        policy: RetryPolicy::Exponential {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
            factor: 2.0,
        },
    };
    let reporter = Reporter::new(renderer_for(settings));
    let client = &client;
    let changes_ref = &changes;
    let done = match job {
        InitCommand::ReplicaSet(_) => unreachable!("handled above"),
        InitCommand::RocketchatAdmin(a) => {
            let creds = rc::Credentials {
                user: a.user.clone(),
                password: a.password.read(settings)?,
            };
            crate::job::run(&spec, &reporter, |_| rc::admin(client, &creds)).await?
        }
        InitCommand::RocketchatUser(a) => {
            let creds = admin(&a.admin)?;
            let user = rc::UserSpec {
                user: rc::Credentials {
                    user: a.name.clone(),
                    password: a.password.read(settings)?,
                },
                roles: a.roles.clone(),
                email: a.email.clone(),
                reset_password: a.reset_password,
            };
            crate::job::run(&spec, &reporter, |_| {
                rc::user(client, &creds, &user, changes_ref)
            })
            .await?
        }
        InitCommand::RocketchatRoom(a) => {
            let creds = admin(&a.admin)?;
            let room = rc::RoomSpec {
                name: a.name.trim_start_matches('#').to_owned(),
                private: a.private,
                read_only: a.read_only,
                members: a.members.clone(),
            };
            crate::job::run(&spec, &reporter, |_| {
                rc::room(client, &creds, &room, changes_ref)
            })
            .await?
        }
        InitCommand::RocketchatWebhook(a) => {
            let creds = admin(&a.admin)?;
            let script = match &a.script_file {
                Some(path) => Some(crate::limits::read_text(path, 1024 * 1024).map_err(|e| {
                    Error::usage(format!(
                        "cannot read `{}`: {}",
                        path.display(),
                        crate::reason::io_reason(&e)
                    ))
                })?),
                None => None,
            };
            let hook = rc::WebhookSpec {
                name: a.name.clone(),
                room: a.room.trim_start_matches('#').to_owned(),
                user: a.user.clone(),
                script,
                output: a.output.clone(),
            };
            crate::job::run(&spec, &reporter, |_| {
                rc::webhook(client, &creds, &hook, changes_ref)
            })
            .await?
        }
    };
    if settings.output != Output::Json {
        let mut out = std::io::stdout().lock();
        let made = changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for line in made.iter().chain(&done.value) {
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(ExitStatus::Success)
}

async fn replica_set(args: ReplicaSetArgs, settings: &Settings) -> Result<ExitStatus> {
    use crate::mongo::init::{self as rs, ReplicaSetSpec};
    // Each attempt is bounded well below the job's timeout so that retries happen.
    let member = crate::mongo::client::Member::connect(&args.uri, Duration::from_secs(2)).await?;
    let spec = ReplicaSetSpec {
        name: args.name.clone(),
        members: args.members.iter().map(ToString::to_string).collect(),
        reconfigure: args.reconfigure,
    };
    let job = crate::job::JobSpec {
        name: format!("replica-set {}", args.name),
        timeout: args.timeout,
        policy: rs::policy(),
    };
    let reporter = Reporter::new(renderer_for(settings));
    let report = std::sync::Arc::default();
    let started = std::time::Instant::now();
    let done = crate::job::run(&job, &reporter, |progress| {
        let (member, spec, report) = (&member, &spec, &report);
        async move { rs::attempt(member, spec, report, &progress).await }
    })
    .await?;
    let report = report
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if settings.output != Output::Json {
        let mut out = std::io::stdout().lock();
        for line in report.lines(&spec, &done.value, started) {
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(ExitStatus::Success)
}
