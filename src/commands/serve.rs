//! `stackctl serve -c checks/chat.yml --db status.db`: the catalog's checks on their intervals,
//! their history kept in a database, incidents opened and resolved, alerts sent into the
//! team's room, the status page on `GET /`, and `/healthz` (200/503), `/status` (JSON) and
//! `/metrics` (Prometheus), until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::verify::CatalogArgs;
use crate::catalog::run::Remote;
use crate::cli::values;
use crate::env_vars;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::serve::alert::Source;
use crate::serve::{Options, Policy};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// The address to serve on (`0.0.0.0:9300` inside a container)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9300", env = env_vars::STACKCTL_LISTEN)]
    pub listen: SocketAddr,
    /// The history database (SQLite, created if missing; keep it on a volume). Without it the
    /// history lives in memory and a restart loses it
    #[arg(long, value_name = "FILE", env = env_vars::STACKCTL_DB)]
    pub db: Option<PathBuf>,
    /// A file holding the Rocket.Chat incoming webhook URL alerts are posted to (the stack's
    /// hook URL file, read at each attempt: it may appear later); or set STACKCTL_ALERT_WEBHOOK
    #[arg(long, value_name = "FILE")]
    pub alert_webhook_file: Option<PathBuf>,
    /// A file holding the token `POST /api/...` requires (`Authorization: Bearer TOKEN`); or
    /// set STACKCTL_API_TOKEN. Without either, the write API is off
    #[arg(long, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Failures in a row that open an incident
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub failure_threshold: u32,
    /// Successes in a row that resolve it
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub success_threshold: u32,
    /// Repeat an alert this often while its incident is open [default: never]
    #[arg(long, value_name = "DURATION", value_parser = values::duration)]
    pub reminder: Option<Duration>,
    /// How long a new incident waits for the incidents of the services that depend on it, so
    /// that one alert names them all (`0s`: at once)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::duration)]
    pub group_wait: Duration,
    /// The page's public address, linked from alerts
    #[arg(long, value_name = "URL")]
    pub page_url: Option<String>,
}

/// Serves until SIGTERM or SIGINT.
pub async fn run(args: ServeArgs, settings: &Settings) -> Result<ExitStatus> {
    let catalog = args.catalog.load()?;
    // The file is read at each attempt (the stack's hook job may write it later); the
    // variable is the URL itself.
    let webhook = match args.alert_webhook_file {
        Some(file) => Some(Source::File(file)),
        None => settings
            .variables
            .get(env_vars::STACKCTL_ALERT_WEBHOOK)
            .filter(|url| !url.trim().is_empty())
            .map(|url| Source::Url(url.trim().to_owned())),
    };
    let api_token = secret(
        "API token",
        "--api-token-file",
        args.api_token_file.as_deref(),
        env_vars::STACKCTL_API_TOKEN,
        settings,
    )?;
    let options = Options {
        listen: args.listen,
        db: args.db,
        webhook,
        api_token,
        policy: Policy {
            failure_threshold: args.failure_threshold,
            success_threshold: args.success_threshold,
            reminder: args.reminder,
            group_wait: args.group_wait,
            page_url: args.page_url,
        },
    };
    let remote = Remote::for_catalog(&catalog, args.catalog.project.as_deref(), settings).await?;
    crate::serve::serve(catalog, remote, options, settings, |bound| {
        // Said on stderr whatever the output mode: with `--listen 127.0.0.1:0` it is the only
        // way to learn the port.
        eprintln!("serving on http://{bound} (/, /healthz, /status, /metrics)");
    })
    .await?;
    Ok(ExitStatus::Success)
}

/// A secret from its file, else its variable, else none.
fn secret(
    what: &str,
    flag: &str,
    file: Option<&std::path::Path>,
    var: &str,
    settings: &Settings,
) -> Result<Option<String>> {
    if file.is_none() && settings.variables.get(var).is_none_or(String::is_empty) {
        return Ok(None);
    }
    let value = crate::secret::read_named(what, flag, file, Some(var), &settings.variables)?;
    if value.trim().is_empty() {
        return Err(Error::usage(format!("the {what} is empty"))
            .with_hint(format!("put it in the file given with `{flag}`")));
    }
    Ok(Some(value.trim().to_owned()))
}
