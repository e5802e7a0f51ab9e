//! `stackctl smoke`: the end-to-end chat test for CI, against a stack that is up. Docker's own
//! steps run here; the chat steps run inside a service's network namespace (a throw-away probe
//! container; Rocket.Chat's service by default, `--from` another): no published port needed,
//! the stack's names resolve as they do for its services. `--here` runs them from this machine.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::common::{StackArgs, open_stack};
use crate::cli::values;
use crate::engine::docker::DockerApi;
use crate::env_vars;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::netns::image::{self, ProbeBinary};
use crate::netns::locate::{self, ServiceContainer};
use crate::netns::remote::{At, forward_stderr};
use crate::settings::{Output, Settings};
use crate::smoke::chat::{self, ChatPlan};
use crate::smoke::discover::{Discovered, discover};
use crate::smoke::plan::{self, HookSource};
use crate::smoke::report::{self, Tally};
use crate::smoke::step::{Planned, Status, StepResult};
use crate::stack::Stack;

/// Extra time the probe container gets to start and be removed.
const CONTAINER_SLACK: Duration = Duration::from_secs(15);

/// The largest plan read inside: steps, URLs and credentials.
const PLAN_MAX: u64 = 1 << 20;

#[derive(Debug, Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "2m", env = env_vars::STACKCTL_SMOKE_TIMEOUT, value_parser = values::duration)]
    pub timeout: Duration,
    /// Rocket.Chat's base URL, as seen from where the chat steps run [default: from the stack file]
    #[arg(long, value_name = "URL", value_parser = values::http_url)]
    pub url: Option<url::Url>,
    /// The bot's user name [default: from the stack file]
    #[arg(long, value_name = "NAME")]
    pub bot_user: Option<String>,
    /// Read the bot's password from this environment variable [default: from the stack file]
    #[arg(long, value_name = "VAR")]
    pub bot_password_env: Option<String>,
    /// The admin's user name [default: from the stack file, else `admin`]
    #[arg(long, value_name = "NAME")]
    pub admin_user: Option<String>,
    /// Read the admin's password from this environment variable [default: from the stack file]
    #[arg(long, value_name = "VAR")]
    pub admin_password_env: Option<String>,
    /// The room the bot posts in (a dedicated smoke room keeps the team's room quiet) [default: the bot's room]
    #[arg(long, value_name = "NAME")]
    pub room: Option<String>,
    /// Read the incoming webhook's URL from this file [default: the webhook job's `--output`, read out of its container]
    #[arg(long, value_name = "FILE")]
    pub hook_file: Option<PathBuf>,
    /// Send this variable's value as `X-Gitlab-Token` with the GitLab event [default: the secret the webhook job's `--gitlab-token-env` gave the script]
    #[arg(long, value_name = "VAR")]
    pub gitlab_token_env: Option<String>,
    /// Run the chat steps from this service's network namespace [default: Rocket.Chat's service]
    #[arg(long, value_name = "SERVICE", conflicts_with = "here")]
    pub from: Option<String>,
    /// Run the chat steps from this machine (the URL must then be reachable from here)
    #[arg(long)]
    pub here: bool,
    /// Leave what the smoke test posted in place
    #[arg(long)]
    pub keep: bool,
    /// Also write the results as JUnit XML to this file
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// The static stackctl binary to put in the probe image [default: the running binary]
    #[arg(long, value_name = "PATH", env = env_vars::STACKCTL_PROBE_BINARY)]
    pub binary: Option<PathBuf>,
    /// Read the chat plan from stdin (how the probe container is told what to do)
    #[arg(long, hide = true, requires = "here")]
    pub stdin: bool,
}

/// Prints each step's result as soon as it is known, and keeps them for the summary.
struct Printer {
    json: bool,
    results: Vec<StepResult>,
}

impl Printer {
    fn emit(&mut self, result: StepResult) {
        let text = if self.json {
            report::json(&result)
        } else {
            report::line(&result)
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
        self.results.push(result);
    }

    /// Reports steps that never ran, with why.
    fn not_run(&mut self, steps: &[Planned], status: Status, why: &str, hint: Option<&str>) {
        for (i, planned) in steps.iter().enumerate() {
            let (status, detail, hint) = if i == 0 {
                (status, why.to_owned(), hint.map(str::to_owned))
            } else {
                let status = if status == Status::TimedOut {
                    Status::TimedOut
                } else {
                    Status::Skipped
                };
                (status, format!("not run: {why}"), None)
            };
            self.emit(StepResult::new(&planned.step, status, detail).with_hint(hint));
        }
    }
}

/// Runs the smoke test; exit 0 (all passed), 1 (a step failed) or 3 (timed out).
pub async fn run(args: SmokeArgs, settings: &Settings) -> Result<ExitStatus> {
    if args.stdin {
        return inside(settings).await;
    }
    let started = Instant::now();
    let deadline = started + args.timeout;
    let stack = open_stack(&args.stack, settings)?;
    let docker = DockerApi::connect().await?;
    let containers = locate::project(&docker, &stack.project).await?;
    let mut found = discover(&stack);
    tracing::debug!(?found, "smoke: read from the stack file");
    apply_overrides(&args, settings, &mut found)?;
    let hook = hook_url(&args, &docker, &found, &containers).await?;
    let room = found.room.clone().unwrap_or_default();
    let source = match &hook {
        Ok(_) => HookSource::Found,
        Err(why) => HookSource::Missing(why.clone()),
    };
    let steps = plan::steps(&stack, &found, &room, &source);
    let mut printer = Printer {
        json: settings.output == Output::Json,
        results: Vec::new(),
    };
    let (docker_steps, chat_steps): (Vec<Planned>, Vec<Planned>) =
        steps.into_iter().partition(|p| p.step.is_docker());
    for planned in &docker_steps {
        if Instant::now() >= deadline {
            printer.emit(StepResult::new(
                &planned.step,
                Status::TimedOut,
                "not run: the smoke test's `--timeout` ran out",
            ));
            continue;
        }
        let result = crate::smoke::docker::judge(&docker, &planned.step, &containers).await;
        printer.emit(result);
    }
    run_chat(
        &args,
        settings,
        &docker,
        &stack,
        &containers,
        &found,
        hook.ok(),
        chat_steps,
        deadline,
        &mut printer,
    )
    .await;
    let elapsed = started.elapsed();
    let tally = Tally::of(&printer.results);
    let summary = if printer.json {
        tally.json(&stack.project, elapsed)
    } else {
        tally.line(elapsed)
    };
    let _ = writeln!(std::io::stdout().lock(), "{summary}");
    if let Some(path) = &args.junit {
        let xml = report::junit(&printer.results, &stack.project, elapsed);
        std::fs::write(path, xml).map_err(|e| {
            Error::failed(format!(
                "cannot write the JUnit report `{}`: {}",
                path.display(),
                crate::reason::io_reason(&e)
            ))
        })?;
    }
    Ok(tally.exit_status())
}

/// Flags win over what the stack file says.
fn apply_overrides(args: &SmokeArgs, settings: &Settings, found: &mut Discovered) -> Result<()> {
    let from_env =
        |var: &str| -> Result<String> { crate::secret::read(None, Some(var), &settings.variables) };
    if let Some(url) = &args.url {
        found.url = Some(url.to_string());
    }
    if let Some(user) = &args.bot_user {
        found.bot_user = Some(user.clone());
    }
    if let Some(var) = &args.bot_password_env {
        found.bot_password = Some(from_env(var)?);
    }
    if let Some(user) = &args.admin_user {
        found.admin_user = Some(user.clone());
    }
    if let Some(var) = &args.admin_password_env {
        found.admin_password = Some(from_env(var)?);
    }
    if let Some(room) = &args.room {
        found.room = Some(room.trim_start_matches('#').to_owned());
        if let Some(hook) = &mut found.hook
            && hook.room.is_none()
        {
            hook.room.clone_from(&found.room);
        }
    }
    Ok(())
}

/// The hook URL (a secret), or why the hook step is skipped.
async fn hook_url(
    args: &SmokeArgs,
    docker: &DockerApi,
    found: &Discovered,
    containers: &BTreeMap<String, ServiceContainer>,
) -> Result<std::result::Result<String, String>> {
    if let Some(path) = &args.hook_file {
        return match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => Ok(Ok(text.trim().to_owned())),
            Ok(_) => Ok(Err(format!("the hook file `{}` is empty", path.display()))),
            Err(e) => Err(Error::usage(format!(
                "cannot read the hook file `{}`: {}",
                path.display(),
                crate::reason::io_reason(&e)
            ))),
        };
    }
    let Some(job) = &found.hook else {
        return Ok(Err(
            "no webhook job (`init rocketchat-webhook --output FILE`) in the stack, and no `--hook-file`"
                .to_owned(),
        ));
    };
    let Some(container) = containers.get(&job.service) else {
        return Ok(Err(format!(
            "no hook file: the webhook job `{}` has no container",
            job.service
        )));
    };
    match crate::smoke::docker::read_file(docker, &container.id, &job.path).await {
        Ok(Some(url)) => Ok(Ok(url)),
        Ok(None) => Ok(Err(format!(
            "no hook file: `{}` wrote none at `{}`",
            job.service, job.path
        ))),
        Err(reason) => Ok(Err(format!(
            "cannot read `{}` from `{}`: {reason}",
            job.path, job.service
        ))),
    }
}

/// The URL to use from this machine: `--url`, else Rocket.Chat's published port.
fn url_from_here(stack: &Stack, found: &Discovered) -> Option<String> {
    let rc = stack.services.get(found.rocketchat.as_deref()?)?;
    let port: u16 = rc
        .environment
        .get("PORT")
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let published = rc
        .ports
        .iter()
        .find(|p| p.container_port == port && p.host_port.is_some())?;
    let host = published
        .host_ip
        .clone()
        .filter(|ip| ip != "0.0.0.0" && !ip.is_empty())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    Some(format!("http://{host}:{}", published.host_port?))
}

#[allow(clippy::too_many_arguments)]
async fn run_chat(
    args: &SmokeArgs,
    settings: &Settings,
    docker: &DockerApi,
    stack: &Stack,
    containers: &BTreeMap<String, ServiceContainer>,
    found: &Discovered,
    hook: Option<String>,
    steps: Vec<Planned>,
    deadline: Instant,
    printer: &mut Printer,
) {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        printer.not_run(
            &steps,
            Status::TimedOut,
            "the smoke test's `--timeout` ran out",
            None,
        );
        return;
    }
    let url = if args.here && args.url.is_none() {
        url_from_here(stack, found)
    } else {
        found.url.clone()
    };
    let Some(url) = url else {
        let why = if args.here {
            "no Rocket.Chat URL reachable from here: Rocket.Chat publishes no port"
        } else {
            "no Rocket.Chat service found in the stack"
        };
        printer.not_run(&steps, Status::Failed, why, Some("give `--url URL`"));
        return;
    };
    // From this machine the stack's own names do not resolve: the hook's path on our URL.
    let hook_url = match (&hook, args.here) {
        (Some(hook), true) => url::Url::parse(hook).ok().and_then(|h| {
            let mut rebased = url::Url::parse(&url).ok()?;
            rebased.set_path(h.path());
            Some(rebased.to_string())
        }),
        _ => hook,
    };
    let chat_plan = ChatPlan {
        steps: steps.clone(),
        url,
        bot_user: found.bot_user.clone().unwrap_or_default(),
        admin_user: found
            .admin_user
            .clone()
            .unwrap_or_else(|| "admin".to_owned()),
        bot_password: found.bot_password.clone(),
        admin_password: found.admin_password.clone(),
        hook_url,
        gitlab_token: match &args.gitlab_token_env {
            Some(var) => settings.variables.get(var).cloned(),
            None => found.gitlab_token.clone(),
        },
        budget_ms: u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
        keep: args.keep,
    };
    if args.here {
        chat::run(&chat_plan, &mut |r| printer.emit(r)).await;
        return;
    }
    // Rocket.Chat's own namespace by default: its name resolves there as for every client,
    // and its address is nobody's client address — the login rate limiter counts per address,
    // and a bot whose healthcheck logs in shares its address with whatever runs in its namespace.
    let from = args
        .from
        .clone()
        .or_else(|| found.rocketchat.clone())
        .or_else(|| found.bot_service.clone())
        .unwrap_or_default();
    let container = match locate::running(containers, &stack.project, &from) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot run the chat steps inside `{from}`: {}", e.message());
            printer.not_run(&steps, Status::Failed, &why, e.hint());
            return;
        }
    };
    let image = match ProbeBinary::load(args.binary.as_deref()) {
        Ok(binary) => image::ensure(docker, &binary).await,
        Err(e) => Err(e),
    };
    let image = match image {
        Ok(image) => image,
        Err(e) => {
            printer.not_run(&steps, Status::Failed, e.message(), e.hint());
            return;
        }
    };
    // A Swarm task on another node: the chat steps run from a one-shot job on its node.
    let at = match At::of(docker, &image, &stack.project, container, None).await {
        Ok(at) => at,
        Err(e) => {
            printer.not_run(&steps, Status::Failed, e.message(), e.hint());
            return;
        }
    };
    let shown = at.shown();
    let stdin = serde_json::to_vec(&chat_plan).unwrap_or_default();
    let command = [
        "--json",
        "--log-level",
        &settings.log_filter,
        "smoke",
        "--here",
        "--stdin",
    ]
    .map(str::to_owned)
    .to_vec();
    let before = printer.results.len();
    // A Swarm stack: each chat step says which node it ran from.
    let on_node = container.on_node();
    let mut on_line = |line: &str| {
        if let Ok(mut result) = serde_json::from_str::<StepResult>(line) {
            result.detail.push_str(&on_node);
            printer.emit(result);
        }
    };
    let finished = at
        .run(command, &stdin, remaining + CONTAINER_SLACK, &mut on_line)
        .await;
    let reported = printer.results.len() - before;
    match finished {
        Ok(done) => {
            forward_stderr(&done.stderr);
            if reported < steps.len() {
                let why = format!(
                    "the probe container in {shown} ended early (exit code {})",
                    done.exit_code
                );
                printer.not_run(
                    &steps[reported..],
                    Status::Failed,
                    &why,
                    Some("rerun with `--log-level debug` to see its log"),
                );
            }
        }
        Err(e) => {
            let status = if e.kind() == crate::error::ErrorKind::Timeout {
                Status::TimedOut
            } else {
                Status::Failed
            };
            printer.not_run(
                &steps[reported.min(steps.len())..],
                status,
                e.message(),
                e.hint(),
            );
        }
    }
}

/// `smoke --here --stdin`, inside the probe container: the plan from stdin, NDJSON results.
async fn inside(_settings: &Settings) -> Result<ExitStatus> {
    let text = crate::netns::runner::read_plan(PLAN_MAX)
        .map_err(|e| Error::usage(format!("cannot read the smoke plan: {e}")))?;
    let plan: ChatPlan = serde_json::from_slice(&text)
        .map_err(|e| Error::usage(format!("the smoke plan on stdin is not valid: {e}")))?;
    let mut printer = Printer {
        json: true,
        results: Vec::new(),
    };
    chat::run(&plan, &mut |r| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default());
        let _ = out.flush();
        printer.results.push(r);
    })
    .await;
    Ok(ExitStatus::Success)
}
