//! `stackctl serve`: a catalog's checks run on their intervals; their state served over HTTP
//! for people (the status page, `/`), load balancers (`/healthz`), scripts (`/status`,
//! `/api/...`) and Prometheus (`/metrics`); their history, incidents and alerts kept in a
//! database so that a restart forgets nothing and repeats nothing.
//!
//! Memory is bounded however long it runs: one state per check with a fixed-size latency
//! history, the rest on disk, at most [`MAX_CONNECTIONS`] connections, each with a header-read
//! timeout, and request bodies (the write API's) capped.

pub mod alert;
mod api;
mod app;
mod http;
pub mod incidents;
pub mod page;
mod state;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use app::App;
pub use http::MAX_CONNECTIONS;
pub use incidents::{Graph, Policy};
use state::State;
pub use store::now_ms;
use store::{Store, locked};

use crate::catalog::Catalog;
use crate::catalog::run::{Remote, run_all};
use crate::error::Error;
use crate::settings::Settings;

/// How `serve` runs, beyond the catalog.
pub struct Options {
    pub listen: SocketAddr,
    /// The database; `None`: in memory.
    pub db: Option<PathBuf>,
    /// Where the incoming webhook's URL (a secret) comes from.
    pub webhook: Option<alert::Source>,
    /// The write API's token (a secret).
    pub api_token: Option<String>,
    pub policy: Policy,
}

/// Runs the catalog and serves its state until SIGTERM or SIGINT.
///
/// # Errors
/// When the address cannot be listened on, or the database cannot be opened.
pub async fn serve(
    catalog: Catalog,
    remote: Option<Remote>,
    options: Options,
    settings: &Settings,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let mut store = if let Some(path) = &options.db {
        Store::open(path)?
    } else {
        tracing::warn!("no `--db`: the history is kept in memory and lost on restart");
        Store::open(std::path::Path::new(":memory:"))?
    };
    store.set_catalog_windows(&catalog.maintenance)?;
    let state = State::new(&catalog);
    let webhook = options.webhook.map(alert::Webhook::new).transpose()?;
    let app = Arc::new(App {
        state,
        store: Arc::new(Mutex::new(store)),
        graph: Graph::new(catalog.depends.clone()),
        policy: options.policy,
        api_token: options.api_token,
        wake: Arc::new(tokio::sync::Notify::new()),
        page: Mutex::new(None),
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| {
            Error::failed(format!(
                "cannot listen on {}: {}",
                options.listen,
                crate::reason::io_reason(&e)
            ))
            .with_hint("pick another address with `--listen HOST:PORT`")
        })?;
    let bound = listener.local_addr().unwrap_or(options.listen);
    tracing::info!(address = %bound, checks = catalog.checks.len(), db = ?options.db, alerts = webhook.is_some(), "serving");
    ready(bound);
    let remote = Arc::new(remote);
    let mut runners = JoinSet::new();
    for (index, entry) in catalog.checks.iter().enumerate() {
        let (app, remote, settings, entry) = (
            Arc::clone(&app),
            Arc::clone(&remote),
            settings.clone(),
            entry.clone(),
        );
        runners.spawn(async move {
            loop {
                let results = run_all(&[&entry], remote.as_ref().as_ref(), &settings).await;
                if let Some(result) = results.into_iter().next() {
                    tracing::debug!(check = %result.name, ok = result.ok, latency_ms = result.latency_ms, "check ran");
                    record(&app, &result);
                    app.state.record(index, result);
                }
                tokio::time::sleep(jittered(entry.interval)).await;
            }
        });
    }
    // Alerts due by time alone (group_wait over, reminders), and pruning.
    let ticker = Arc::clone(&app);
    runners.spawn(async move {
        let mut last_prune = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = now_ms();
            let mut store = locked(&ticker.store);
            let queued =
                store.write(|tx| incidents::dispatch(tx, &ticker.policy, &ticker.graph, now));
            if now - last_prune >= store::HOUR_MS {
                last_prune = now;
                match store.prune(now) {
                    Ok(deleted) => tracing::debug!(deleted, "history pruned"),
                    Err(e) => tracing::warn!("{}", e.message()),
                }
            }
            drop(store);
            match queued {
                Ok(queued) => ticker.after_write(queued),
                Err(e) => tracing::warn!("{}", e.message()),
            }
        }
    });
    if let Some(hook) = webhook {
        runners.spawn(alert::send_loop(
            Arc::clone(&app.store),
            hook,
            Arc::clone(&app.wake),
        ));
    }
    let served = http::run(listener, Arc::clone(&app), shutdown_signal()).await;
    runners.abort_all();
    served
}

/// Stores a result, opens or resolves its incident and queues the alerts due.
fn record(app: &App, result: &crate::catalog::run::CheckResult) {
    let now = now_ms();
    let seen = incidents::Observation {
        check: &result.name,
        service: &result.service,
        at: now,
        ok: result.ok,
        latency_ms: result.latency_ms,
        detail: &result.detail,
    };
    let done = locked(&app.store).write(|tx| {
        let change = incidents::record(tx, &app.policy, &seen)?;
        let queued = incidents::dispatch(tx, &app.policy, &app.graph, now)?;
        Ok((change, queued))
    });
    match done {
        Ok((change, queued)) => {
            if let Some(change) = change {
                tracing::info!(check = %result.name, ?change, "incident");
            }
            app.after_write(queued);
        }
        Err(e) => tracing::warn!(check = %result.name, "not recorded: {}", e.message()),
    }
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
