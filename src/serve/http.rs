//! The HTTP side of `serve`, on hyper's HTTP/1 server: the page (`GET /`), badges, the JSON
//! API (`/api/...`, writes with a bearer token), `/healthz`, `/status`, `/metrics`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::api;
use super::app::{App, text};
use super::state::State;
use crate::catalog::Severity;
use crate::error::Error;

/// Connections served at once; more are closed at once (memory stays bounded under load).
pub const MAX_CONNECTIONS: usize = 256;
/// A client must send its request headers within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection (keep-alive included) lives.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// How long open connections may finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves until `shutdown` resolves, then lets open connections finish (bounded).
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tracing::debug!(%peer, "too many connections; closed");
                    continue;
                };
                let app = Arc::clone(&app);
                connections.spawn(async move {
                    let _slot = slot;
                    let service = service_fn(move |request: Request<Incoming>| {
                        let app = Arc::clone(&app);
                        async move { Ok::<_, Infallible>(respond(&app, request).await) }
                    });
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service);
                    if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

async fn respond(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() == Method::POST && request.uri().path().starts_with("/api/") {
        return api::post(app, request).await;
    }
    let state = &app.state;
    if request.method() != Method::GET {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served (and POST under /api/)\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, POST"));
        return response;
    }
    match request.uri().path() {
        "/healthz" => healthz(state),
        "/status" => {
            let checks = state.snapshot();
            let ok = checks
                .iter()
                .all(|c| c.up || c.severity == Severity::Warning);
            let body = serde_json::json!({"ok": ok, "checks": checks}).to_string();
            let mut response = text(StatusCode::OK, body);
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        "/metrics" => {
            let mut body = String::new();
            if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot encode the metrics: {e}\n"),
                );
            }
            let mut response = text(StatusCode::OK, body);
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        "/" => api::page(app),
        path if path.starts_with("/badge/") => api::badge(app, path),
        path if path.starts_with("/api/") => api::get(app, path),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /, /healthz, /status, /api/status or /metrics\n".to_owned(),
        ),
    }
}

/// 200 when every critical check is up, else 503 naming the ones that are not (a check not
/// run yet counts as not up: a load balancer must not send traffic before the first round).
fn healthz(state: &State) -> Response<Full<Bytes>> {
    let checks = state.snapshot();
    let mut down = String::new();
    let mut warnings = String::new();
    for check in &checks {
        let why = if check.pending {
            "not run yet".to_owned()
        } else {
            check
                .last
                .as_ref()
                .map(|r| r.detail.clone())
                .unwrap_or_default()
        };
        if check.up {
            continue;
        }
        let line = format!("{}: {why}\n", check.name);
        match check.severity {
            Severity::Critical => down.push_str(&line),
            Severity::Warning => warnings.push_str(&line),
        }
    }
    let mut body = if down.is_empty() {
        format!("ok: {} check(s)\n", checks.len())
    } else {
        format!("down:\n{down}")
    };
    if !warnings.is_empty() {
        body.push_str("warnings:\n");
        body.push_str(&warnings);
    }
    let status = if down.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    text(status, body)
}
