//! gitlab-sim: a test-support simulator of the parts of GitLab the stack's jobs and checks use —
//! the health endpoints and their monitoring allowlist, a long boot, personal access tokens,
//! projects, project webhooks and their deliveries. See README.md for every rule and its source.

mod api;
mod deliver;
mod net;
mod state;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use serde_json::{Map, Value, json};

use crate::api::{App, Body, Config, Req, Resp};
use crate::state::{MAINTAINER, OWNER, Project, State, Token, User};

#[derive(Parser, Debug)]
#[command(
    name = "gitlab-sim",
    about = "Simulated GitLab health checks, webhooks API and deliveries for tests"
)]
struct Cli {
    /// Port to listen on (0 = pick a free port)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Do not listen at all for this long (connections are refused)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    refuse_for: Duration,
    /// Then answer everything with the bundled nginx's 502 page for this long (Puma not up)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    bad_gateway_for: Duration,
    /// Then boot for this long: `/-/readiness` 503, `/-/health` "GitLab OK", the API 502
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    booting_for: Duration,
    /// `gitlab_rails['monitoring_whitelist']`: who may read `/-/health`, `/-/readiness`, `/-/liveness`
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.0/8,::1/128", value_parser = parse_cidr)]
    monitoring_whitelist: Vec<net::Cidr>,
    /// `external_url` (`X-Gitlab-Instance`, projects' `web_url`) [default: `http://ADDR:PORT`]
    #[arg(long)]
    external_url: Option<String>,
    /// GitLab version (`User-Agent: GitLab/<version>` on deliveries, `/api/v4/version`)
    #[arg(long = "version", default_value = "18.0.0")]
    gitlab_version: String,
    /// A user with a personal access token: `NAME:ROLE:SCOPES:TOKEN`, ROLE one of admin,
    /// owner, maintainer, developer (on every project), SCOPES `+`-separated (e.g. `api`)
    #[arg(long = "token", value_name = "NAME:ROLE:SCOPES:TOKEN")]
    tokens: Vec<String>,
    /// A private project (repeatable)
    #[arg(
        long = "project",
        value_name = "GROUP/NAME",
        default_value = "ops/chat"
    )]
    projects: Vec<String>,
    /// Start with `allow_local_requests_from_web_hooks_and_services` on (GitLab's default: off)
    #[arg(long)]
    allow_local_requests: bool,
    /// Test deliveries allowed per window, per project and user (0 = unlimited)
    #[arg(long, default_value_t = 5)]
    test_rate_limit: usize,
    /// The window of `--test-rate-limit`
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    test_rate_window: Duration,
    /// Timeout of one delivery (`gitlab_rails['webhook_timeout']`)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    webhook_timeout: Duration,
}

fn parse_cidr(text: &str) -> Result<net::Cidr, String> {
    text.parse()
}

struct Server {
    app: App,
    bad_gateway_until: Instant,
    ready_at: Instant,
}

fn log(msg: &str) {
    eprintln!("gitlab-sim: {msg}");
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    std::process::exit(rt.block_on(run(cli)));
}

fn users_and_tokens(specs: &[String]) -> Result<(Vec<User>, Vec<Token>), String> {
    let mut users: Vec<User> = Vec::new();
    let mut tokens = Vec::new();
    for spec in specs {
        let mut parts = spec.splitn(4, ':');
        let (Some(name), Some(role), Some(scopes), Some(secret)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("--token `{spec}`: expected NAME:ROLE:SCOPES:TOKEN"));
        };
        let (admin, access) = match role {
            "admin" => (true, OWNER),
            "owner" => (false, OWNER),
            "maintainer" => (false, MAINTAINER),
            "developer" => (false, state::DEVELOPER),
            "none" => (false, 0),
            other => return Err(format!("--token `{spec}`: unknown role `{other}`")),
        };
        let id = match users.iter().find(|u| u.username == name) {
            Some(u) => u.id,
            None => {
                let id = users.len() as u64 + 1;
                users.push(User {
                    id,
                    username: name.to_owned(),
                    admin,
                    access,
                });
                id
            }
        };
        tokens.push(Token {
            secret: secret.to_owned(),
            user_id: id,
            scopes: scopes.split('+').map(str::to_owned).collect(),
        });
    }
    Ok((users, tokens))
}

async fn run(cli: Cli) -> i32 {
    let (users, tokens) = match users_and_tokens(&cli.tokens) {
        Ok(x) => x,
        Err(e) => {
            log(&e);
            return 2;
        }
    };
    let port = if cli.port == 0 {
        match std::net::TcpListener::bind((cli.bind.as_str(), 0)) {
            Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Err(e) => {
                log(&format!("cannot bind {}: {e}", cli.bind));
                return 2;
            }
        }
    } else {
        cli.port
    };
    let addr: SocketAddr = match format!("{}:{port}", cli.bind).parse() {
        Ok(a) => a,
        Err(e) => {
            log(&format!("bad bind address: {e}"));
            return 2;
        }
    };
    let announce = || {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "gitlab-sim listening on {addr}");
        let _ = out.flush();
    };
    // With `--refuse-for` the line comes first, so that a test can watch the refusals;
    // otherwise once the port is bound.
    if !cli.refuse_for.is_zero() {
        announce();
        tokio::time::sleep(cli.refuse_for).await;
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            log(&format!("cannot listen on {addr}: {e}"));
            return 2;
        }
    };
    if cli.refuse_for.is_zero() {
        announce();
    }
    let now = state::now_ms();
    let projects = cli
        .projects
        .iter()
        .enumerate()
        .map(|(i, p)| Project {
            id: i as u64 + 1,
            path_with_namespace: p.clone(),
            created_at: now,
        })
        .collect();
    let mut settings = state::default_settings();
    settings.insert(
        "allow_local_requests_from_web_hooks_and_services".into(),
        json!(cli.allow_local_requests),
    );
    let external_url = cli
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let started = Instant::now();
    let server = Arc::new(Server {
        app: App {
            state: Mutex::new(State {
                users,
                tokens,
                projects,
                hooks: Vec::new(),
                next_hook: 0,
                settings,
                features: HashMap::new(),
                deliveries: Vec::new(),
                test_calls: HashMap::new(),
            }),
            cfg: Config {
                version: cli.gitlab_version.clone(),
                external_url,
                monitoring_whitelist: cli.monitoring_whitelist.clone(),
                test_rate_limit: cli.test_rate_limit,
                test_rate_window: cli.test_rate_window,
                webhook_timeout: cli.webhook_timeout,
            },
        },
        bad_gateway_until: started + cli.bad_gateway_for,
        ready_at: started + cli.bad_gateway_for + cli.booting_for,
    });
    log(&format!(
        "listening on {addr}; GitLab {}; ready in {:?}",
        cli.gitlab_version,
        cli.bad_gateway_for + cli.booting_for
    ));
    let router = Router::new().fallback(handle).with_state(server);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    if let Err(e) = served {
        log(&format!("server error: {e}"));
        return 1;
    }
    0
}

/// Omnibus's nginx error page while Puma is down (files/gitlab-rails/public/502.html).
const BAD_GATEWAY_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>GitLab is not responding (502)</title>\n</head>\n<body>\n<h1>502</h1>\n<h2>Whoops, GitLab is taking too much time to respond.</h2>\n</body>\n</html>\n";

/// Rails' `errors/not_found` page (RequiresAllowlistedMonitoringClient#render_404).
const NOT_FOUND_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Not Found</title>\n</head>\n<body>\n<h1>404</h1>\n<h2>Page not found</h2>\n</body>\n</html>\n";

async fn handle(
    AxState(server): AxState<Arc<Server>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let now = Instant::now();
    if now < server.bad_gateway_until {
        return to_response(html(502, BAD_GATEWAY_PAGE));
    }
    let booting = now < server.ready_at;
    let method = req.method().as_str().to_owned();
    let uri = req.uri().clone();
    let path = uri.path().to_owned();
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let cfg = &server.app.cfg;
    let allowed = cfg
        .monitoring_whitelist
        .iter()
        .any(|c| c.contains(peer.ip()));
    match path.as_str() {
        // lib/gitlab/middleware/basic_health_check.rb: before Rails, no database; outside the
        // allowlist an empty 404
        "/-/health" => {
            return to_response(if allowed {
                text(200, "GitLab OK")
            } else {
                text(404, "")
            });
        }
        // app/controllers/health_controller.rb + RequiresAllowlistedMonitoringClient:
        // outside the allowlist Rails' 404 page
        "/-/readiness" | "/-/liveness" if !allowed => {
            return to_response(html(404, NOT_FOUND_PAGE));
        }
        // doc/administration/monitoring/health_check.md: 503 on failure
        "/-/readiness" => {
            let (status, check) = if booting {
                (
                    503,
                    json!({"status": "failed", "message": "unexpected Master check result: false"}),
                )
            } else {
                (200, json!({"status": "ok"}))
            };
            let state = if booting { "failed" } else { "ok" };
            return to_response(api::Resp {
                status,
                body: Body::Json(json!({"status": state, "master_check": [check]})),
            });
        }
        "/-/liveness" => {
            return to_response(api::Resp {
                status: 200,
                body: Body::Json(json!({"status": "ok"})),
            });
        }
        "/_sim/state" => return to_response(sim_state(&server.app)),
        _ => {}
    }
    if booting {
        return to_response(html(502, BAD_GATEWAY_PAGE));
    }
    let Some(rest) = path.strip_prefix("/api/v4/") else {
        // The image's own HEALTHCHECK curls /help (omnibus-gitlab docker/Dockerfile).
        return to_response(if path == "/help" || path == "/users/sign_in" {
            html(
                200,
                "<!DOCTYPE html>\n<html><head><title>GitLab</title></head><body></body></html>\n",
            )
        } else {
            html(404, NOT_FOUND_PAGE)
        });
    };
    let segments = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map_or_else(|| s.to_owned(), |(_, v)| v.into_owned())
        })
        .collect();
    let mut params: Map<String, Value> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        })
        .unwrap_or_default();
    let ctype = headers.get("content-type").cloned().unwrap_or_default();
    let bytes: Bytes = match axum::body::to_bytes(req.into_body(), 8 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return to_response(api::Resp {
                status: 413,
                body: Body::Text(String::new()),
            });
        }
    };
    let mut body_error = None;
    if !bytes.is_empty() {
        if ctype.starts_with("application/x-www-form-urlencoded") {
            for (k, v) in url::form_urlencoded::parse(&bytes) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => params.extend(m),
                Ok(_) => {}
                // Grape: a JSON body that does not parse is 400
                Err(_) => {
                    body_error = Some(
                        "The provided content-type 'application/json' is not supported.".to_owned(),
                    )
                }
            }
        }
    }
    let resp = server
        .app
        .handle(Req {
            method,
            segments,
            params,
            headers,
            body_error,
        })
        .await;
    to_response(resp)
}

/// Sim-only: hooks (tokens shown only as set or not), settings, deliveries.
fn sim_state(app: &App) -> Resp {
    let st = app.state.lock().expect("lock");
    api::Resp {
        status: 200,
        body: Body::Json(json!({
            "hooks": st.hooks.iter().map(|h| { let mut v = h.json(); v["token_set"] = json!(h.token.is_some()); v }).collect::<Vec<_>>(),
            "settings": st.settings,
            "deliveries": st.deliveries.len(),
        })),
    }
}

fn html(status: u16, page: &str) -> Resp {
    Resp {
        status,
        body: Body::Html(page.to_owned()),
    }
}

fn text(status: u16, t: &str) -> Resp {
    Resp {
        status,
        body: Body::Text(t.to_owned()),
    }
}

fn to_response(resp: Resp) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (ctype, body) = match resp.body {
        Body::Json(v) => ("application/json", v.to_string()),
        Body::Html(h) => ("text/html; charset=utf-8", h),
        Body::Text(t) => ("text/plain; charset=utf-8", t),
    };
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(ctype));
    r
}
