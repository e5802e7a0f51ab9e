//! `stackctl serve -c checks/chat.yml`: the catalog's checks on their intervals, their state on
//! `GET /healthz` (200/503), `/status` (JSON) and `/metrics` (Prometheus), until SIGTERM.

use std::net::SocketAddr;

use clap::Args;

use super::verify::CatalogArgs;
use crate::catalog::run::Remote;
use crate::env_vars;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// The address to serve on (`0.0.0.0:9300` inside a container)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9300", env = env_vars::STACKCTL_LISTEN)]
    pub listen: SocketAddr,
}

/// Serves until SIGTERM or SIGINT.
pub async fn run(args: ServeArgs, settings: &Settings) -> Result<ExitStatus> {
    let catalog = args.catalog.load()?;
    let remote = Remote::for_catalog(&catalog, args.catalog.project.as_deref(), settings).await?;
    crate::serve::serve(catalog, remote, args.listen, settings, |bound| {
        // Said on stderr whatever the output mode: with `--listen 127.0.0.1:0` it is the only
        // way to learn the port.
        eprintln!("serving on http://{bound} (/healthz, /status, /metrics)");
    })
    .await?;
    Ok(ExitStatus::Success)
}
