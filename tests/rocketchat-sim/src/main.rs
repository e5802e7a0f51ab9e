//! rocketchat-sim: a test-support simulator of Rocket.Chat's REST API.
//! See README.md for options, the /_sim control endpoint and the sources of each behaviour.

mod api;
mod boot;
mod ddp;
mod migrations;
mod script;
mod server_running;
mod state;
mod store;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use crate::api::{Body, HookStep, RawReq, Reply, Sim};
use crate::state::{Db, SettingValue};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum BootingResponse {
    /// 503 with a plain-text body (a proxy in front of a starting server)
    #[value(name = "503")]
    Unavailable,
    /// 200 with the HTML page of the web client (a JSON client cannot parse it)
    Html,
}

#[derive(Parser, Debug)]
#[command(
    name = "rocketchat-sim",
    about = "Simulated Rocket.Chat REST API for tests"
)]
struct Cli {
    /// Port to listen on (0 = pick a free port)
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Do not listen at all for this long (connections are refused)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    refuse_for: Duration,
    /// After listening, answer every request as a booting server for this long
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    booting_for: Duration,
    /// What a booting server answers
    #[arg(long, value_enum, default_value = "503")]
    booting_response: BootingResponse,
    /// MongoDB URL: do not finish booting until it reports a replica-set primary
    #[arg(long, env = "MONGO_URL")]
    mongo_url: Option<String>,
    /// Server selection timeout for --mongo-url (Node driver default: 30000 ms)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    mongo_timeout: Duration,
    /// Version reported by /api/info (full; unauthenticated callers see major.minor)
    #[arg(
        long = "version",
        env = "ROCKETCHAT_SIM_VERSION",
        default_value = "8.0.0"
    )]
    rc_version: String,
    /// Rate limiter: calls allowed per window (API_Enable_Rate_Limiter_Limit_Calls_Default)
    #[arg(long, default_value_t = 10)]
    rate_limit_calls: i64,
    /// Rate limiter window (API_Enable_Rate_Limiter_Limit_Time_Default)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    rate_limit_window: Duration,
    /// Turn the rate limiter off (API_Enable_Rate_Limiter=false)
    #[arg(long)]
    no_rate_limit: bool,
    /// 2FA grace after registration / remember period (Accounts_TwoFactorAuthentication_RememberFor)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m")]
    twofa_grace: Duration,
    /// users.create also requires the caller's second factor
    #[arg(long)]
    users_create_2fa: bool,
    /// Old login error texts ("User has no password set" not masked)
    #[arg(long)]
    legacy_login_errors: bool,
    /// The version from which the API's breaking changes apply (ApiClass.ts'
    /// `shouldBreakInVersion`): with `8.0.0`, an 8.0 server's login failures all read
    /// `{"success":false,"error":"unauthorized"}` (see src/api.rs `Config`)
    #[arg(long, default_value = "9.0.0")]
    break_in_version: String,
    /// Persist state to this JSON file (survives a restart); with --mongo-url the state lives
    /// in MongoDB instead, as the real server's does
    #[arg(long)]
    data_file: Option<PathBuf>,
    /// A planted failure: migration N throws at start-up (the lock stays set at N-1)
    #[arg(long, env = "SIM_FAIL_MIGRATION", value_name = "N")]
    fail_migration: Option<i64>,
    /// Attempts while the migrations control is locked (the server's 30)
    #[arg(long, default_value_t = 30)]
    migration_lock_attempts: u32,
    /// Pause between those attempts (the server's 10 s)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    migration_lock_retry: Duration,
    /// Fail every Nth request with --fail-status (0 = never)
    #[arg(long, default_value_t = 0)]
    fail_every: u64,
    /// Status used by --fail-every
    #[arg(long, default_value_t = 500)]
    fail_status: u16,
    /// Delay every reply by this long
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    delay: Duration,
    /// The node binary that runs incoming-webhook scripts
    #[arg(long, default_value = "node")]
    node: String,
    /// A clock this many seconds off the host's (negative: behind), shown in every answer's
    /// `Date` header: a server on a VM or host whose clock drifted (brief doctor.md X2)
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    clock_offset_s: i64,
}

/// The simulated clock's offset from the host's, in seconds (`--clock-offset-s`, or
/// `POST /_sim/fault {"clock_offset_s": N}`).
static CLOCK_OFFSET_S: AtomicI64 = AtomicI64::new(0);

/// Every answer carries the server's clock in `Date` (RFC 9110 §6.6.1: an origin server with
/// a clock MUST send it; Node's `http` module sets it on every response, `sendDate` defaulting to
/// true — nodejs.org/api/http.html#responsesenddate), read from the simulated clock.
async fn date_header(mut response: Response) -> Response {
    let offset = CLOCK_OFFSET_S.load(Ordering::Relaxed);
    let now = if offset >= 0 {
        SystemTime::now() + Duration::from_secs(offset.unsigned_abs())
    } else {
        SystemTime::now() - Duration::from_secs(offset.unsigned_abs())
    };
    if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response
            .headers_mut()
            .insert(axum::http::header::DATE, value);
    }
    response
}

struct App {
    sim: Mutex<Sim>,
    ready_at: Instant,
    booting_response: BootingResponse,
    data_file: Option<PathBuf>,
    /// The state's MongoDB (with --mongo-url): every change is written before its reply.
    store: Option<tokio::sync::Mutex<store::Store>>,
}

fn log(msg: &str) {
    eprintln!("rocketchat-sim: {msg}");
}

fn main() {
    let cli = Cli::parse();
    script::set_node(cli.node.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    std::process::exit(rt.block_on(run(cli)));
}

async fn run(cli: Cli) -> i32 {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut db = match &cli.data_file {
        Some(p) => match Db::load(p) {
            Ok(Some(db)) => {
                log(&format!("loaded state from {}", p.display()));
                db
            }
            Ok(None) => Db::default(),
            Err(e) => {
                log(&format!("cannot read {}: {e}", p.display()));
                return 2;
            }
        },
        None => Db::default(),
    };

    // Resolve the port now so it can be announced even while connections are refused.
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
    let addr: SocketAddr = match format!("{}:{}", cli.bind, port).parse() {
        Ok(a) => a,
        Err(e) => {
            log(&format!("bad bind address: {e}"));
            return 2;
        }
    };
    let announce = || {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "rocketchat-sim listening on {addr}");
        let _ = out.flush();
    };
    let early_announce = !cli.refuse_for.is_zero() || cli.mongo_url.is_some();
    if early_announce {
        announce();
        log(&format!("refusing connections on {addr} while starting"));
    }
    let start = Instant::now();

    // Meteor connects to MongoDB before it listens.
    if let Some(url) = &cli.mongo_url {
        log(&format!("waiting for a replica-set primary at {url}"));
        if let Err(e) = boot::wait_for_mongo_primary(url, cli.mongo_timeout).await {
            eprintln!("{e}");
            return 1;
        }
        log("MongoDB primary found");
    }
    // The state lives in MongoDB: migrations first (server/startup/migrations/xrun.ts), then
    // the stored state, as the real server reads its collections.
    let mut mongo_store = None;
    if let Some(url) = &cli.mongo_url {
        let mut store = match store::Store::connect(url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        let options = migrations::Options {
            version: cli.rc_version.clone(),
            lock_attempts: cli.migration_lock_attempts,
            lock_retry: cli.migration_lock_retry,
            fail_at: cli.fail_migration,
        };
        if let Err(text) = migrations::run(store.database(), &options).await {
            println!("{text}");
            let _ = std::io::stdout().flush();
            return 1;
        }
        match store.load().await {
            Ok(stored) => db = stored,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
        mongo_store = Some(store);
    }
    let elapsed = start.elapsed();
    if cli.refuse_for > elapsed {
        tokio::time::sleep(cli.refuse_for - elapsed).await;
    }

    let forced = vec![
        (
            "API_Enable_Rate_Limiter_Limit_Calls_Default",
            SettingValue::Int(cli.rate_limit_calls),
        ),
        (
            "API_Enable_Rate_Limiter_Limit_Time_Default",
            SettingValue::Int(cli.rate_limit_window.as_millis() as i64),
        ),
        (
            "Accounts_TwoFactorAuthentication_RememberFor",
            SettingValue::Int(cli.twofa_grace.as_secs() as i64),
        ),
    ];
    let mut forced = forced;
    if cli.no_rate_limit {
        forced.push(("API_Enable_Rate_Limiter", SettingValue::Bool(false)));
    }
    for line in boot::apply_settings(&mut db, &env, &forced) {
        log(&line);
    }
    boot::ensure_permissions(&mut db);
    for line in boot::initial_data(&mut db, &env) {
        log(&line);
    }
    if let Some(store) = mongo_store.as_mut() {
        let ops = store.diff(&db);
        if let Err(e) = store.write(ops).await {
            eprintln!("{e}");
            return 1;
        }
    } else if let Some(p) = &cli.data_file
        && let Err(e) = db.save(p)
    {
        log(&format!("cannot write {}: {e}", p.display()));
        return 2;
    }

    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            log(&format!("cannot listen on {addr}: {e}"));
            return 2;
        }
    };
    if !early_announce {
        announce();
    }
    // serverRunning.ts: 100 ms after start-up, the box; a MongoDB too old for this release
    // ends the process (exit 1) unless BYPASS_MONGO_VALIDATION.
    if let Some(store) = mongo_store.as_ref() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (mongo_version, engine) = server_running::mongo_info(store.database()).await;
        let env_of = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let verdict = server_running::verdict(
            &cli.rc_version,
            mongo_version.as_deref(),
            &engine,
            &env_of("PORT").unwrap_or_else(|| "undefined".to_owned()),
            &db.setting_str("Site_Url"),
            env_of("BYPASS_MONGO_VALIDATION").as_deref(),
        );
        {
            let mut out = std::io::stdout().lock();
            for line in &verdict.lines {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
        if verdict.exit {
            return 1;
        }
    }
    log(&format!(
        "listening on {addr}; version {}; ready in {:?}",
        cli.rc_version, cli.booting_for
    ));
    let mut sim = Sim::new(
        db,
        api::Config {
            version: cli.rc_version.clone(),
            users_create_2fa: cli.users_create_2fa,
            legacy_login_errors: cli.legacy_login_errors,
            break_in_version: cli.break_in_version.clone(),
        },
    );
    CLOCK_OFFSET_S.store(cli.clock_offset_s, Ordering::Relaxed);
    sim.fault.fail_every = cli.fail_every;
    sim.fault.fail_status = cli.fail_status;
    sim.fault.delay_ms = cli.delay.as_millis() as u64;
    let app = Arc::new(App {
        sim: Mutex::new(sim),
        ready_at: Instant::now() + cli.booting_for,
        booting_response: cli.booting_response,
        data_file: cli.data_file.clone().filter(|_| mongo_store.is_none()),
        store: mongo_store.map(tokio::sync::Mutex::new),
    });
    let router = Router::new()
        .route("/websocket", axum::routing::any(websocket))
        .fallback(handle)
        .layer(axum::middleware::map_response(date_header))
        .with_state(app);
    // SIGTERM (`docker stop`): node's default is to exit at once; every change is already in
    // MongoDB or the data file (written before its reply), so nothing is lost. As a container's PID 1 an
    // unhandled SIGTERM would be ignored until SIGKILL.
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::spawn(async move {
            if term.recv().await.is_some() {
                log("SIGTERM: exiting");
                std::process::exit(0);
            }
        });
    }
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    if let Err(e) = server.await {
        log(&format!("server error: {e}"));
        return 1;
    }
    0
}

async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let method = req.method().as_str().to_string();
    let uri = req.uri().clone();
    let path = uri.path().to_string();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let bytes: Bytes = match axum::body::to_bytes(req.into_body(), 8 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
    };

    if path.starts_with("/_sim/") {
        return control(&app, &method, &path, &query, &bytes);
    }

    // boot phase: listening but not ready
    if Instant::now() < app.ready_at {
        return booting(&app);
    }

    // fault injection
    let (delay, fail) = {
        let mut sim = app.sim.lock().expect("lock");
        sim.fault.counter += 1;
        let f = &sim.fault;
        let fail = f.fail_every > 0 && f.counter % f.fail_every == 0;
        (f.delay_ms, fail.then_some(f.fail_status))
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(status) = fail {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_response(
            code,
            &json!({"success": false, "error": "Internal server error"}),
            &[],
        );
    }

    let (body, body_error) = parse_body(
        &path,
        headers.get("content-type").map(String::as_str),
        &bytes,
    );
    let raw = RawReq {
        method,
        path,
        query,
        raw_query: uri.query().unwrap_or_default().to_owned(),
        headers: headers.clone(),
        body,
        body_error,
        raw: String::from_utf8_lossy(&bytes).into_owned(),
        // client address of the TCP peer (Meteor trusts X-Forwarded-For only with HTTP_FORWARDED_COUNT)
        ip: peer.ip().to_string(),
    };
    // A hook whose integration has a script: the script runs (in node) without the lock held.
    let mut script_run = None;
    if raw.path.starts_with("/hooks/") {
        let step = app.sim.lock().expect("lock").hook_begin(&raw);
        match step {
            HookStep::Done(reply) => script_run = Some(Err(reply)),
            HookStep::Script {
                integration,
                request,
                headers,
            } => {
                let code = integration.script.clone().unwrap_or_default();
                let outcome = script::call(&code, &request).await;
                script_run = Some(Ok((integration, outcome, headers)));
            }
        }
    }
    let (reply, snapshot, to_store) = {
        let mut sim = app.sim.lock().expect("lock");
        let reply = match script_run {
            None => sim.dispatch(&raw),
            Some(Err(reply)) => reply,
            Some(Ok((integration, outcome, headers))) => {
                sim.hook_finish(&integration, &raw, outcome, headers)
            }
        };
        let snapshot = if sim.dirty && app.data_file.is_some() {
            sim.dirty = false;
            Some(sim.db.clone())
        } else {
            None
        };
        // The MongoDB store writes what changed (and the data file is off with it).
        let to_store = std::mem::take(&mut sim.dirty) && app.store.is_some();
        (reply, snapshot, to_store)
    };
    if to_store
        && let Some(store) = &app.store
        && let Err(e) = store::Store::sync(store, &app.sim).await
    {
        log(&format!("cannot write the state to MongoDB: {e}"));
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"success": false, "error": e}),
            &[],
        );
    }
    if let (Some(db), Some(p)) = (snapshot, &app.data_file)
        && let Err(e) = db.save(p)
    {
        log(&format!("cannot write {}: {e}", p.display()));
    }
    to_response(reply)
}

/// What a server that listens but is not ready yet answers (every path, `/websocket` included).
fn booting(app: &App) -> Response {
    match app.booting_response {
        BootingResponse::Unavailable => {
            plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        BootingResponse::Html => {
            let mut r = (StatusCode::OK, api::client_html()).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
    }
}

/// `/websocket`: DDP over a raw WebSocket (see `ddp.rs`); anything but an upgrade gets SockJS's
/// 400. Neither rate-limited nor fault-injected, like Meteor's socket server.
async fn websocket(
    State(app): State<Arc<App>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if Instant::now() < app.ready_at {
        return booting(&app);
    }
    match upgrade {
        Ok(upgrade) => upgrade.on_upgrade(ddp::serve),
        Err(_) => plain(StatusCode::BAD_REQUEST, ddp::NOT_AN_UPGRADE),
    }
}

/// Body parsing as Rocket.Chat's API does: JSON, or urlencoded forms; for /hooks a form with the
/// single key `payload` carries JSON (apps/meteor/app/integrations/server/api/api.ts middleware).
fn parse_body(path: &str, ctype: Option<&str>, bytes: &[u8]) -> (Value, Option<String>) {
    if bytes.is_empty() {
        return (json!({}), None);
    }
    let ctype = ctype.unwrap_or("");
    if ctype.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(bytes).into_owned().collect();
        if path.starts_with("/hooks/")
            && ctype == "application/x-www-form-urlencoded"
            && pairs.len() == 1
        {
            let raw = if pairs[0].0 == "payload" {
                pairs[0].1.clone()
            } else {
                String::from_utf8_lossy(bytes).into_owned()
            };
            return match serde_json::from_str::<Value>(&raw) {
                Ok(v) => (v, None),
                Err(e) => (json!({}), Some(format!("Unexpected token in JSON: {e}"))),
            };
        }
        let mut m = serde_json::Map::new();
        for (k, v) in pairs {
            m.insert(k, Value::String(v));
        }
        return (Value::Object(m), None);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => (v, None),
        Err(e) => {
            if ctype.contains("json") {
                (json!({}), Some(format!("Unexpected token in JSON: {e}")))
            } else {
                (json!({}), None)
            }
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json_response(status: StatusCode, v: &Value, headers: &[(String, String)]) -> Response {
    let mut r = (status, v.to_string()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    r
}

fn to_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply.body {
        Body::Json(v) => json_response(status, &v, &reply.headers),
        Body::Html(h) => {
            let mut r = (status, h).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Body::Text(t) => {
            let mut r = (status, t).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
    }
}

/// Sim-only control endpoint (never part of Rocket.Chat).
fn control(
    app: &App,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    bytes: &[u8],
) -> Response {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(json!({}));
    let mut sim = app.sim.lock().expect("lock");
    let ok = |v: Value| json_response(StatusCode::OK, &v, &[]);
    match (method, path) {
        ("POST", "/_sim/fault") => {
            if let Some(n) = body.get("fail_every").and_then(Value::as_u64) {
                sim.fault.fail_every = n;
                sim.fault.counter = 0;
            }
            if let Some(n) = body.get("fail_status").and_then(Value::as_u64) {
                sim.fault.fail_status = n as u16;
            }
            if let Some(n) = body.get("delay_ms").and_then(Value::as_u64) {
                sim.fault.delay_ms = n;
            }
            if let Some(b) = body.get("mongo_down").and_then(Value::as_bool) {
                sim.fault.mongo_down = b;
            }
            if let Some(n) = body.get("clock_offset_s").and_then(Value::as_i64) {
                CLOCK_OFFSET_S.store(n, Ordering::Relaxed);
            }
            let f = &sim.fault;
            ok(
                json!({"fail_every": f.fail_every, "fail_status": f.fail_status, "delay_ms": f.delay_ms, "mongo_down": f.mongo_down, "clock_offset_s": CLOCK_OFFSET_S.load(Ordering::Relaxed)}),
            )
        }
        ("POST", "/_sim/reset-rate-limits") => {
            sim.reset_rate_limits();
            ok(json!({"ok": true}))
        }
        ("GET", "/_sim/email-code") => {
            let user = query.get("username").cloned().unwrap_or_default();
            match sim.mailbox.get(&user) {
                Some(code) => ok(json!({"username": user, "code": code})),
                None => json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": "no code sent"}),
                    &[],
                ),
            }
        }
        ("POST", "/_sim/clear-password") => {
            let user = body.get("username").and_then(Value::as_str).unwrap_or("");
            let id = sim.db.user_by_username(user).map(|u| u.id.clone());
            match id {
                Some(id) => {
                    if let Some(u) = sim.db.user_mut(&id) {
                        u.password = None;
                    }
                    sim.dirty = true;
                    ok(json!({"ok": true}))
                }
                None => json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": "no such user"}),
                    &[],
                ),
            }
        }
        ("GET", "/_sim/state") => {
            let db = &sim.db;
            ok(json!({
                "users": db.users.iter().map(|u| json!({"_id": u.id, "username": u.username, "roles": u.roles, "active": u.active, "email2fa": u.email2fa, "emails": u.emails.iter().map(|e| json!({"address": e.address, "verified": e.verified})).collect::<Vec<_>>() })).collect::<Vec<_>>(),
                "rooms": db.rooms.iter().map(|r| r.json()).collect::<Vec<_>>(),
                "integrations": db.integrations.len(),
                "messages": db.messages.len(),
                "settings": db.settings.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<serde_json::Map<_, _>>(),
            }))
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown /_sim endpoint"}),
            &[],
        ),
    }
}
