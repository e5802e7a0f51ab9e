//! `stackctl wait TARGET...`: every target probed in parallel with backoff under one deadline,
//! then (optionally) exec a command.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::time::Duration;

use clap::Args;

use crate::check::for_target;
use crate::cli::values;
use crate::env_vars;
use crate::error::{Error, Result};
use crate::exit::{Completion, ExitStatus};
use crate::output::{Reporter, renderer_for};
use crate::probe::{WaitPlan, WaitResult, wait_all};
use crate::retry::RetryPolicy;
use crate::settings::Settings;
use crate::target::Target;

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Targets: `tcp://HOST:PORT`, `http(s)://...`, `dns://NAME[?type=AAAA&expect=VALUE&server=IP:PORT]`, `mongodb://HOST[:PORT][,HOST...][/?replicaSet=NAME]` (a PRIMARY of that set), `rocketchat+http(s)://HOST[:PORT]`
    #[arg(value_name = "TARGET", required = true, value_parser = values::target)]
    pub targets: Vec<Target>,
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "60s", env = env_vars::STACKCTL_WAIT_TIMEOUT, value_parser = values::duration)]
    pub timeout: Duration,
    /// Wait until the targets are NOT reachable
    #[arg(long)]
    pub invert: bool,
    /// First delay between attempts (grows exponentially, with jitter)
    #[arg(long, value_name = "DURATION", default_value = "50ms", env = env_vars::STACKCTL_BACKOFF_MIN, value_parser = values::duration)]
    pub backoff_min: Duration,
    /// Largest delay between attempts
    #[arg(long, value_name = "DURATION", default_value = "2s", env = env_vars::STACKCTL_BACKOFF_MAX, value_parser = values::duration)]
    pub backoff_max: Duration,
    /// Hard timeout of each attempt
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = values::duration)]
    pub attempt_timeout: Duration,
    /// Command to exec (replacing stackctl) once every target is ready
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Waits for the targets; the completion is an exit status or a command to exec.
pub async fn run(args: WaitArgs, settings: &Settings) -> Result<Completion> {
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
        .map(|target| Ok((target.to_string(), for_target(target)?)))
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
