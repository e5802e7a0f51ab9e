//! `stackctl serve`: a catalog's checks run on their intervals, and their state served over
//! HTTP for load balancers (`/healthz`), status pages (`/status`) and Prometheus (`/metrics`).
//!
//! Memory is bounded however long it runs: one state per check with a fixed-size latency
//! history, at most [`MAX_CONNECTIONS`] connections, each with a header-read timeout, and
//! only `GET` served (request bodies are never read).

mod http;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

pub use http::MAX_CONNECTIONS;
use state::State;

use crate::catalog::Catalog;
use crate::catalog::run::{Remote, run_all};
use crate::error::Error;
use crate::settings::Settings;

/// Runs the catalog and serves its state until SIGTERM or SIGINT.
///
/// # Errors
/// When the address cannot be listened on.
pub async fn serve(
    catalog: Catalog,
    remote: Option<Remote>,
    listen: SocketAddr,
    settings: &Settings,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let state = Arc::new(State::new(&catalog));
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Error::failed(format!(
            "cannot listen on {listen}: {}",
            crate::reason::io_reason(&e)
        ))
        .with_hint("pick another address with `--listen HOST:PORT`")
    })?;
    let bound = listener.local_addr().unwrap_or(listen);
    tracing::info!(address = %bound, checks = catalog.checks.len(), "serving");
    ready(bound);
    let remote = Arc::new(remote);
    let mut runners = JoinSet::new();
    for (index, entry) in catalog.checks.iter().enumerate() {
        let (state, remote, settings, entry) = (
            Arc::clone(&state),
            Arc::clone(&remote),
            settings.clone(),
            entry.clone(),
        );
        runners.spawn(async move {
            loop {
                let results = run_all(&[&entry], remote.as_ref().as_ref(), &settings).await;
                if let Some(result) = results.into_iter().next() {
                    tracing::debug!(check = %result.name, ok = result.ok, latency_ms = result.latency_ms, "check ran");
                    state.record(index, result);
                }
                tokio::time::sleep(jittered(entry.interval)).await;
            }
        });
    }
    let served = http::run(listener, Arc::clone(&state), shutdown_signal()).await;
    runners.abort_all();
    served
}

/// The interval ± 10 %: checks that share an interval drift apart instead of firing together.
fn jittered(interval: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let noise = RandomState::new().hash_one(std::time::Instant::now()) % 2001;
    let factor = 0.9 + (noise as f64) / 10_000.0;
    interval.mul_f64(factor)
}

/// Resolves on SIGTERM (`docker stop`) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = terminated => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
