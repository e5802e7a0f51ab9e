//! `stackctl init JOB`: idempotent jobs retried with backoff until done; exit 0 done, 1 failed,
//! 3 timed out. The jobs themselves live in their domains (`mongo::init`, `rocketchat::init`,
//! `gitlab::init`).

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
    /// Create an incoming webhook if none has this name, keep its script up to date; write its URL to a file (mode 0600)
    RocketchatWebhook(RcWebhookArgs),
    /// Create or update a GitLab project's webhook that posts to Rocket.Chat (`init rocketchat-webhook --output`)
    GitlabWebhook(GitlabWebhookArgs),
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
    /// The integration script (turns e.g. GitLab events into messages); kept up to date on each run
    #[arg(long = "script", visible_alias = "script-file", value_name = "FILE")]
    pub script: Option<std::path::PathBuf>,
    /// Set a script setting: rewrite its line marked `// stackctl:KEY` to `const NAME = VALUE;`
    /// (VALUE as JSON if it parses, else as text), e.g. `max-commits=10` (repeatable)
    #[arg(long = "script-set", value_name = "KEY=VALUE", value_parser = crate::rocketchat::script::setting, requires = "script")]
    pub script_set: Vec<(String, serde_json::Value)>,
    /// Read the script's `gitlab-token` setting (GitLab's `X-Gitlab-Token`) from this variable
    #[arg(
        long,
        value_name = "VAR",
        requires = "script",
        conflicts_with = "gitlab_token_file"
    )]
    pub gitlab_token_env: Option<String>,
    /// Read the script's `gitlab-token` setting from this file
    #[arg(long, value_name = "FILE", requires = "script")]
    pub gitlab_token_file: Option<std::path::PathBuf>,
    /// Where to write the hook URL (mode 0600; the URL is a secret and never printed)
    #[arg(long, value_name = "FILE")]
    pub output: std::path::PathBuf,
    #[command(flatten)]
    pub limit: JobTimeout,
}

#[derive(Debug, Args)]
pub struct GitlabWebhookArgs {
    /// GitLab's base URL, e.g. `http://gitlab:8929`
    #[arg(long, value_name = "URL", env = env_vars::STACKCTL_GITLAB_URL, value_parser = values::http_url)]
    pub url: url::Url,
    /// Read the personal access token (scope `api`; Maintainer of the project) from this variable
    #[arg(
        long,
        value_name = "VAR",
        required_unless_present = "token_file",
        conflicts_with = "token_file"
    )]
    pub token_env: Option<String>,
    /// Read the personal access token from this file
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// The project, as in its URL (`group/project`) or its numeric id
    #[arg(long, value_name = "PATH")]
    pub project: String,
    /// The file holding the hook URL (written by `init rocketchat-webhook --output`); a secret
    #[arg(long, value_name = "FILE")]
    pub target_file: std::path::PathBuf,
    /// Read the webhook's secret token (`X-Gitlab-Token`) from this variable
    #[arg(long, value_name = "VAR", conflicts_with = "secret_file")]
    pub secret_env: Option<String>,
    /// Read the webhook's secret token from this file
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<std::path::PathBuf>,
    /// Events that trigger the hook; the others are turned off
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = crate::gitlab::init::DEFAULT_EVENTS, value_parser = gitlab_event)]
    pub events: Vec<String>,
    /// The hook's name (GitLab 17.1+); a hook with this name or this URL is the one kept up to date
    #[arg(long, value_name = "NAME", default_value = "rocketchat")]
    pub name: String,
    /// Do not verify the target's TLS certificate
    #[arg(long)]
    pub no_ssl_verification: bool,
    /// Give up after this long (exit 3); GitLab takes minutes to boot
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = values::duration)]
    pub timeout: Duration,
}

fn gitlab_event(text: &str) -> Result<String, String> {
    let event = text.trim().trim_end_matches("_events");
    if crate::gitlab::init::EVENTS.contains(&event) {
        Ok(event.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a webhook event; expected one of {}",
            crate::gitlab::init::EVENTS.join(", ")
        ))
    }
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
    let job = match job {
        InitCommand::ReplicaSet(args) => return replica_set(args, settings).await,
        InitCommand::GitlabWebhook(args) => return gitlab_webhook(args, settings).await,
        rocketchat => rocketchat,
    };
    let changes: rc::Changes = std::sync::Arc::default();
    let (server, limit, name) = match &job {
        InitCommand::ReplicaSet(_) | InitCommand::GitlabWebhook(_) => {
            unreachable!("handled above")
        }
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
        unreachable!("every Rocket.Chat job has a server")
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
        InitCommand::ReplicaSet(_) | InitCommand::GitlabWebhook(_) => {
            unreachable!("handled above")
        }
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
            let (script, script_name) = webhook_script(&a, settings)?;
            let hook = rc::WebhookSpec {
                name: a.name.clone(),
                room: a.room.trim_start_matches('#').to_owned(),
                user: a.user.clone(),
                script,
                script_name,
                output: a.output.clone(),
            };
            crate::job::run(&spec, &reporter, |_| {
                rc::webhook(client, &creds, &hook, changes_ref)
            })
            .await?
        }
    };
    print_changes(settings, &changes, &done.value);
    Ok(ExitStatus::Success)
}

/// The script with its settings written in, and its file name; `(None, "")` without `--script`.
fn webhook_script(a: &RcWebhookArgs, settings: &Settings) -> Result<(Option<String>, String)> {
    let Some(path) = &a.script else {
        return Ok((None, String::new()));
    };
    let source = crate::limits::read_text(path, 1024 * 1024).map_err(|e| {
        Error::usage(format!(
            "cannot read `{}`: {}",
            path.display(),
            crate::reason::io_reason(&e)
        ))
    })?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut values = Vec::new();
    for (key, value) in &a.script_set {
        if key == "gitlab-token" {
            return Err(Error::usage(
                "the `gitlab-token` setting is a secret and cannot be given on the command line",
            )
            .with_hint("use `--gitlab-token-env VAR` or `--gitlab-token-file FILE`"));
        }
        values.push((key.clone(), value.clone()));
    }
    if a.gitlab_token_env.is_some() || a.gitlab_token_file.is_some() {
        let token = secret::read_named(
            "GitLab token",
            "--gitlab-token-file",
            a.gitlab_token_file.as_deref(),
            a.gitlab_token_env.as_deref(),
            &settings.variables,
        )?;
        values.push(("gitlab-token".to_owned(), serde_json::Value::String(token)));
    }
    let script = crate::rocketchat::script::configure(&source, &values, &name)?;
    Ok((Some(script), name))
}

/// `init gitlab-webhook`.
async fn gitlab_webhook(args: GitlabWebhookArgs, settings: &Settings) -> Result<ExitStatus> {
    use crate::gitlab::init as gl;
    let token = secret::read_named(
        "token",
        "--token-file",
        args.token_file.as_deref(),
        args.token_env.as_deref(),
        &settings.variables,
    )?;
    let secret_token = if args.secret_env.is_some() || args.secret_file.is_some() {
        Some(secret::read_named(
            "secret token",
            "--secret-file",
            args.secret_file.as_deref(),
            args.secret_env.as_deref(),
            &settings.variables,
        )?)
    } else {
        None
    };
    let shown = args.target_file.display();
    let target = std::fs::read_to_string(&args.target_file).map_err(|e| {
        Error::usage(format!(
            "cannot read the hook URL file `{shown}`: {}",
            crate::reason::io_reason(&e)
        ))
        .with_hint("`init rocketchat-webhook --output FILE` writes it")
    })?;
    // The URL is a secret: the parse error must not echo it.
    let target = url::Url::parse(target.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            Error::usage(format!("`{shown}` does not hold an http(s) URL"))
                .with_hint("`init rocketchat-webhook --output FILE` writes it")
        })?;
    let mut events: Vec<String> = Vec::new();
    for event in &args.events {
        if !events.contains(event) {
            events.push(event.clone());
        }
    }
    let spec = gl::WebhookSpec {
        project: args.project.trim_matches('/').to_owned(),
        target,
        secret: secret_token,
        events,
        name: args.name.clone(),
        ssl_verification: !args.no_ssl_verification,
    };
    let client = crate::gitlab::client::Client::new(
        args.url.clone(),
        Some(token),
        Duration::from_secs(30).min(args.timeout),
    )?;
    let job = crate::job::JobSpec {
        name: format!("gitlab-webhook {}", spec.project),
        timeout: args.timeout,
        policy: RetryPolicy::Exponential {
            min: Duration::from_millis(250),
            max: Duration::from_secs(5),
            factor: 2.0,
        },
    };
    let reporter = Reporter::new(renderer_for(settings));
    let changes: gl::Changes = std::sync::Arc::default();
    let (client, spec_ref, changes_ref) = (&client, &spec, &changes);
    let done = crate::job::run(&job, &reporter, |_| {
        gl::webhook(client, spec_ref, changes_ref)
    })
    .await?;
    print_changes(settings, &changes, &done.value);
    Ok(ExitStatus::Success)
}

/// What a job changed, then what it found in place: one line each on stdout (not with `--json`,
/// whose events already say it).
fn print_changes(settings: &Settings, changes: &std::sync::Mutex<Vec<String>>, found: &[String]) {
    if settings.output == Output::Json {
        return;
    }
    let mut out = std::io::stdout().lock();
    let made = changes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for line in made.iter().chain(found) {
        let _ = writeln!(out, "{line}");
    }
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
