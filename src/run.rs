//! From a parsed command line to an exit status: resolve settings, run the command, report.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use crate::check::rocketchat::Probe;
use crate::check::{Check, dns::DnsCheck, http::HttpCheck, http::HttpSpec, tcp::TcpCheck};
use crate::cli::{
    self, CheckCommand, Command, DownArgs, GraphArgs, GraphFormat, InitCommand, ParseError,
    ReplicaSetArgs, StackArgs, StatusArgs, UpArgs, WaitArgs,
};
use crate::engine::{DockerApi, UpOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::output::{Reporter, renderer_for};
use crate::probe::{WaitPlan, WaitResult, wait_all};
use crate::retry::RetryPolicy;
use crate::rocketchat::Client;
use crate::settings::{Environment, Output, Settings};
use crate::stack::{LoadOptions, Stack};
use crate::target::Target;
use std::time::Duration;

/// What a command asks the process to do once the runtime is gone.
enum Completion {
    Exit(ExitStatus),
    Exec(Vec<OsString>),
}

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
    let result = runtime.block_on(execute(cli.command, &settings));
    // Nothing may keep running behind an exec'd command.
    drop(runtime);
    match result {
        Ok(Completion::Exit(status)) => status.into(),
        Ok(Completion::Exec(command)) => exec(&command),
        Err(err) => report(&err, healthcheck),
    }
}

async fn execute(command: Command, settings: &Settings) -> Result<Completion> {
    match command {
        Command::Check(kind) => check(kind, settings).await.map(Completion::Exit),
        Command::Wait(args) => wait(args, settings).await,
        Command::Init(job) => init(job, settings).await.map(Completion::Exit),
        Command::Up(args) => up(args, settings).await.map(Completion::Exit),
        Command::Down(args) => down(args, settings).await.map(Completion::Exit),
        Command::Status(args) => status(args, settings).await.map(Completion::Exit),
        Command::Graph(args) => graph(&args, settings).map(Completion::Exit),
    }
}

async fn check(kind: CheckCommand, settings: &Settings) -> Result<ExitStatus> {
    let (check, timeout) = match kind {
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
            let member = crate::mongo::Member::connect(&args.uri, args.limit.timeout).await?;
            let check = crate::check::mongo::MongoCheck::new(member, args.replica_set, args.want);
            (Check::Mongo(Box::new(check)), args.limit.timeout)
        }
        CheckCommand::Rocketchat(args) => {
            let client = Client::new(args.server.url, args.limit.timeout)?;
            (
                rocketchat_check(client, Probe::Server, None, None),
                args.limit.timeout,
            )
        }
        CheckCommand::RocketchatLogin(args) => {
            let password = secret(
                args.password.password_file.as_deref(),
                args.password.password_env.as_deref(),
                settings,
            )?;
            let client = Client::new(args.server.url, args.limit.timeout)?;
            (
                rocketchat_check(
                    client,
                    Probe::Login { user: args.user },
                    Some(password),
                    args.session_file,
                ),
                args.limit.timeout,
            )
        }
        CheckCommand::RocketchatRoom(args) => {
            let password = secret(
                args.password.password_file.as_deref(),
                args.password.password_env.as_deref(),
                settings,
            )?;
            let client = Client::new(args.server.url, args.limit.timeout)?;
            let probe = Probe::Room {
                user: args.user,
                room: args.room.trim_start_matches('#').to_owned(),
                write: args.write,
            };
            (
                rocketchat_check(client, probe, Some(password), args.session_file),
                args.limit.timeout,
            )
        }
        CheckCommand::Dns(args) => (
            Check::Dns(DnsCheck::new(
                args.name,
                args.record,
                args.expect,
                args.server,
            )),
            args.limit.timeout,
        ),
    };
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

async fn wait(args: WaitArgs, settings: &Settings) -> Result<Completion> {
    if args.backoff_min > args.backoff_max {
        return Err(Error::usage(format!(
            "`--backoff-min` ({}) is larger than `--backoff-max` ({})",
            humantime::format_duration(args.backoff_min),
            humantime::format_duration(args.backoff_max)
        ))
        .with_hint("the first delay grows towards the cap; make `--backoff-min` the smaller one"));
    }
    let checks = args
        .targets
        .into_iter()
        .map(|target| Ok((target.to_string(), check_for(target)?)))
        .collect::<Result<Vec<_>>>()?;
    let plan = WaitPlan {
        checks,
        timeout: args.timeout,
        invert: args.invert,
        policy: RetryPolicy::Exponential {
            min: args.backoff_min,
            max: args.backoff_max,
            factor: 2.0,
        },
        attempt_timeout: args.attempt_timeout,
    };
    let reporter = Reporter::new(renderer_for(settings));
    match wait_all(plan, &reporter).await {
        WaitResult::Ready { .. } if args.command.is_empty() => {
            Ok(Completion::Exit(ExitStatus::Success))
        }
        WaitResult::Ready { .. } => Ok(Completion::Exec(args.command)),
        WaitResult::TimedOut { not_ready } => {
            let total = not_ready.len();
            let mut message = format!(
                "timed out after {}; {total} target{} never became ready",
                humantime::format_duration(args.timeout),
                if total == 1 { "" } else { "s" }
            );
            for target in &not_ready {
                let _ = write!(
                    message,
                    "\n  {}: {} (after {} attempt{})",
                    target.target,
                    target.last_error,
                    target.attempts,
                    if target.attempts == 1 { "" } else { "s" }
                );
            }
            Err(Error::timeout(message).with_hint(
                "raise `--timeout`, or check that the targets above are up and reachable from here",
            ))
        }
    }
}

async fn init(job: InitCommand, settings: &Settings) -> Result<ExitStatus> {
    use crate::job::rocketchat as rc;
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
    let admin = |a: &crate::cli::Admin| -> Result<rc::Credentials> {
        Ok(rc::Credentials {
            user: a.admin_user.clone(),
            password: secret(
                a.admin_password_file.as_deref(),
                a.admin_password_env.as_deref(),
                settings,
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
                password: secret(
                    a.password.password_file.as_deref(),
                    a.password.password_env.as_deref(),
                    settings,
                )?,
            };
            crate::job::run(&spec, &reporter, |_| rc::admin(client, &creds)).await?
        }
        InitCommand::RocketchatUser(a) => {
            let creds = admin(&a.admin)?;
            let user = rc::UserSpec {
                user: rc::Credentials {
                    user: a.name.clone(),
                    password: secret(
                        a.password.password_file.as_deref(),
                        a.password.password_env.as_deref(),
                        settings,
                    )?,
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
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    Error::usage(format!(
                        "cannot read `{}`: {}",
                        path.display(),
                        crate::check::io_reason(&e)
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

fn rocketchat_check(
    client: Client,
    probe: Probe,
    password: Option<String>,
    session_file: Option<std::path::PathBuf>,
) -> Check {
    Check::RocketChat(Box::new(crate::check::rocketchat::RocketChatCheck::new(
        client,
        probe,
        password,
        session_file,
    )))
}

/// A password from `--…-file` or `--…-env`: never from the command line itself.
fn secret(
    file: Option<&std::path::Path>,
    var: Option<&str>,
    settings: &Settings,
) -> Result<String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!(
                "cannot read password file `{}`: {}",
                path.display(),
                crate::check::io_reason(&e)
            ))
        })?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_owned());
    }
    let var = var.unwrap_or_default();
    match settings.variables.get(var) {
        Some(value) if !value.is_empty() => Ok(value.clone()),
        _ => Err(
            Error::usage(format!("environment variable `{var}` is not set"))
                .with_hint("set it, or use `--password-file`"),
        ),
    }
}

async fn replica_set(args: ReplicaSetArgs, settings: &Settings) -> Result<ExitStatus> {
    use crate::job::replica_set::{self as rs, ReplicaSetSpec};
    // Each attempt is bounded well below the job's timeout so that retries happen.
    let member = crate::mongo::Member::connect(&args.uri, Duration::from_secs(2)).await?;
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

/// Loads and validates the stack files before anything touches Docker.
fn open_stack(args: &StackArgs, settings: &Settings) -> Result<Stack> {
    let options = LoadOptions {
        files: args.file.clone(),
        project: args.project.clone(),
        env_file: args.env_file.clone(),
        environment: settings.variables.clone(),
        cwd: settings.cwd.clone(),
    };
    crate::stack::open(&options, &args.profiles.iter().cloned().collect())
}

async fn up(args: UpArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    let options = UpOptions {
        services: args.services,
        timeout: args.timeout,
        no_jobs: args.no_jobs,
        policy: RetryPolicy::Exponential {
            min: Duration::from_millis(25),
            max: Duration::from_secs(1),
            factor: 2.0,
        },
    };
    let reporter = Reporter::new(renderer_for(settings));
    crate::engine::up(stack, docker, options, &reporter).await?;
    Ok(ExitStatus::Success)
}

async fn down(args: DownArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    let removed =
        crate::engine::down::down(&stack, &docker, args.volumes, args.remove_orphans).await?;
    if settings.output == Output::Json {
        let line = serde_json::json!({
            "project": stack.project,
            "removed": {"containers": removed.containers, "networks": removed.networks, "volumes": removed.volumes},
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else if settings.output != Output::Quiet {
        let mut err = std::io::stderr().lock();
        for (kind, names) in [
            ("container", &removed.containers),
            ("network", &removed.networks),
            ("volume", &removed.volumes),
        ] {
            for name in names {
                let _ = writeln!(err, "removed {kind} {name}");
            }
        }
        if removed.containers.is_empty()
            && removed.networks.is_empty()
            && removed.volumes.is_empty()
        {
            let _ = writeln!(err, "project {}: nothing to remove", stack.project);
        }
    }
    Ok(ExitStatus::Success)
}

async fn status(args: StatusArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    let statuses = crate::engine::status::status(&stack, &docker).await?;
    let text = if settings.output == Output::Json {
        serde_json::to_string(&statuses).unwrap_or_default() + "\n"
    } else {
        crate::engine::status::render(&statuses)
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(ExitStatus::Success)
}

fn graph(args: &GraphArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_stack(&args.stack, settings)?;
    let text = match args.format {
        GraphFormat::Text => crate::engine::plan::render_text(&stack),
        GraphFormat::Dot => crate::engine::plan::render_dot(&stack),
        GraphFormat::Mermaid => crate::engine::plan::render_mermaid(&stack),
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(ExitStatus::Success)
}

/// A wait target becomes a check; invalid TLS settings fail here, once, not on every retry.
pub(crate) fn check_for(target: Target) -> Result<Check> {
    Ok(match target {
        Target::Tcp(address) => Check::Tcp(TcpCheck::new(address)),
        Target::Http(url) => Check::Http(Box::new(HttpCheck::new(HttpSpec::get(url))?)),
        Target::Dns {
            name,
            record,
            expect,
            server,
        } => Check::Dns(DnsCheck::new(name, record, expect, server)),
    })
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
        crate::check::io_reason(&err)
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
        let _ = writeln!(stderr, "error: {}", err.one_line());
        err.exit_status().for_healthcheck().into()
    } else {
        let _ = writeln!(stderr, "{err}");
        err.exit_status().into()
    }
}
