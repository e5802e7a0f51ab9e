//! `serve` as the status page: a real `stackctl serve` with a database, checks against TCP and
//! HTTP servers on loopback that the tests open and close, alerts through the Rocket.Chat
//! simulator's incoming webhook (or a loopback receiver that counts them), and the page loaded
//! by headless Chromium, the test asserting on the DOM it built.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rocketchat::{ADMIN_PASS, BOT_PASS};

const API_TOKEN: &str = "api-T0ken-s3cret";

/// A `stackctl serve` child with a database, killed (SIGKILL) on drop.
struct Served {
    child: Child,
    address: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Served {
    fn start(catalog: &Path, db: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(crate::support::binary())
            .args(["serve", "-c"])
            .arg(catalog)
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_clear()
            .env("STACKCTL_LOG", "debug")
            .env("STACKCTL_API_TOKEN", API_TOKEN)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let address = loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "serve exited: {log:?}"
            );
            log.lock().unwrap().push_str(&line);
            if let Some(rest) = line.strip_prefix("serving on http://") {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                kept.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Self {
            child,
            address,
            log,
        }
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        crate::support::http::exchange(
            self.address,
            &format!(
                "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {API_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    }

    fn status(&self) -> serde_json::Value {
        let (code, body) = self.request("GET", "/api/status", "");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `/api/status` satisfies `want`.
    fn wait_status(
        &self,
        what: &str,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let status = self.status();
            if want(&status) {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never {what}: {status:#}\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log.lock().unwrap();
        for secret in [API_TOKEN, BOT_PASS, ADMIN_PASS, "/hooks/"] {
            assert!(!log.contains(secret), "a secret leaked into the log: {log}");
        }
    }
}

fn incident_open(status: &serde_json::Value, check: &str) -> bool {
    status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == check && c["incident_open"] == true)
}

/// A TCP port that a test opens and closes to make a check pass and fail.
struct Port {
    port: u16,
    listener: Option<TcpListener>,
}

impl Port {
    fn open() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self {
            port: listener.local_addr().unwrap().port(),
            listener: Some(listener),
        }
    }

    fn close(&mut self) {
        self.listener = None;
    }

    fn reopen(&mut self) {
        self.listener = Some(TcpListener::bind(("127.0.0.1", self.port)).unwrap());
    }
}

/// A webhook receiver on loopback: answers like Rocket.Chat's hook (`{"success":true}`) after
/// refusing the first `fail_first` requests with a 500, and keeps every body it accepted.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/id/t0ken", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        let seen = AtomicUsize::new(0);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let body = read_request(&mut stream);
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let reply = if n < fail_first {
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    kept.lock().unwrap().push(body);
                    let ok = r#"{"success":true}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ok}",
                        ok.len()
                    )
                };
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Self { url, bodies }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    fn wait_for(&self, count: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let bodies = self.bodies();
            if bodies.len() >= count {
                return bodies;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} alert(s), not {count}: {bodies:#?}",
                bodies.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn read_request(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    String::from_utf8_lossy(&body).into_owned()
}

/// An HTTP server failing every other request: a check that flaps at every run.
fn flapping_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let _ = read_request(&mut stream);
            let status = if n % 2 == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    port
}

/// The test catalog: `app` needs `db`; checks every 200 ms.
fn catalog(dir: &Path, db_port: u16, app_port: u16, extra: &str) -> PathBuf {
    let file = dir.join("status.yml");
    std::fs::write(
        &file,
        format!(
            "defaults:\n  interval: 200ms\n  timeout: 1s\ndepends:\n  app: [db]\n  web: [app]\nchecks:\n  - name: db answers\n    check: tcp://127.0.0.1:{db_port}\n    service: db\n  - name: app answers\n    check: tcp://127.0.0.1:{app_port}\n    service: app\n{extra}"
        ),
    )
    .unwrap();
    file
}

const FAST: [&str; 6] = [
    "--failure-threshold",
    "2",
    "--success-threshold",
    "2",
    "--group-wait",
    "1s",
];

#[test]
fn killed_mid_outage_it_keeps_history_and_incidents_and_sends_each_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut db, app) = (Port::open(), Port::open());
    let file = catalog(dir.path(), db.port, app.port, "");
    let database = dir.path().join("status.db");
    // The hook refuses the first attempt: the alert waits in the outbox and is retried.
    let hook = Receiver::start(1);
    let env = [("STACKCTL_ALERT_WEBHOOK", hook.url.as_str())];
    let served = Served::start(&file, &database, &FAST, &env);
    served.wait_status("up", |s| s["checks"][0]["state"] == "up");
    db.close();
    served.wait_status("an incident", |s| incident_open(s, "db answers"));
    let opened = hook.wait_for(1);
    assert!(
        opened[0].contains("db is down") && opened[0].contains("app"),
        "{opened:?}"
    );
    // SIGKILL while db is down; db recovers while serve is away.
    served.kill();
    db.reopen();
    // Five passes to resolve: time to look at what the restart kept.
    let mut slow = FAST;
    slow[3] = "5";
    let served = Served::start(&file, &database, &slow, &env);
    let status = served.status();
    assert_eq!(
        status["incidents"].as_array().unwrap().len(),
        1,
        "the open incident survived: {status:#}"
    );
    let uptime = status["checks"][0]["uptime"]["24h"].as_f64().unwrap();
    assert!(
        uptime < 1.0,
        "the failures before the kill are in the history: {uptime}"
    );
    served.wait_status("resolved", |s| !incident_open(s, "db answers"));
    let all = hook.wait_for(2);
    std::thread::sleep(Duration::from_secs(2));
    let all_after = hook.bodies();
    assert_eq!(all_after.len(), 2, "no alert repeated: {all_after:#?}");
    assert!(all[1].contains("db recovered"), "{all:?}");
    let (code, incident) = served.request("GET", "/api/incidents/1", "");
    assert_eq!(code, 200);
    let kinds: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&incident).unwrap()["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect();
    for kind in ["detected", "notified", "recovered"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

#[test]
fn flapping_within_thresholds_and_maintenance_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut db, app) = (Port::open(), Port::open());
    let flapping = flapping_server();
    let file = catalog(
        dir.path(),
        db.port,
        app.port,
        &format!(
            "  - name: web flaps\n    check: http://127.0.0.1:{flapping}/\n    service: web\n"
        ),
    );
    let hook = Receiver::start(0);
    let env = [("STACKCTL_ALERT_WEBHOOK", hook.url.as_str())];
    let served = Served::start(&file, &dir.path().join("s.db"), &FAST, &env);
    let (code, body) = served.request(
        "POST",
        "/api/maintenance",
        r#"{"services": ["db"], "duration": "1h", "message": "replica set upgrade"}"#,
    );
    assert_eq!(code, 201, "{body}");
    db.close();
    served.wait_status("an incident", |s| incident_open(s, "db answers"));
    // Past group_wait, and a dozen flaps of `web flaps`.
    std::thread::sleep(Duration::from_secs(3));
    assert!(hook.bodies().is_empty(), "{:?}", hook.bodies());
    let status = served.status();
    assert!(!incident_open(&status, "web flaps"), "{status:#}");
    // A person says what is going on: the status changes and the timeline has the note.
    let id = status["incidents"][0]["id"].as_i64().unwrap();
    let (code, body) = served.request(
        "POST",
        &format!("/api/incidents/{id}/updates"),
        r#"{"status": "identified", "message": "the upgrade restarted mongod"}"#,
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = served.request(
        "POST",
        &format!("/api/incidents/{id}/updates"),
        r#"{"status": "fixed"}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("investigating, identified, monitoring or resolved"),
        "{body}"
    );
    let (_, page) = served.request("GET", "/", "");
    assert!(
        page.contains(r#"<span class="status">identified</span>"#),
        "{page}"
    );
    assert!(page.contains("the upgrade restarted mongod"), "{page}");
    assert!(
        page.contains("replica set upgrade") && page.contains("In progress"),
        "{page}"
    );
    assert!(page.contains("alert muted: maintenance window"), "{page}");
    // The write API wants its token.
    let (code, _) = crate::support::http::exchange(
        served.address,
        "POST /api/incidents/1/updates HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(code, 401);
}

/// The room's messages, newest first, read as the admin through the REST API.
fn room_messages(url: &str) -> Vec<serde_json::Value> {
    let curl = |args: &[&str]| -> serde_json::Value {
        let out = Command::new("curl").arg("-sS").args(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let login = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        &format!(r#"{{"user":"admin","password":"{ADMIN_PASS}"}}"#),
        &format!("{url}/api/v1/login"),
    ]);
    let (uid, token) = (
        login["data"]["userId"].as_str().unwrap(),
        login["data"]["authToken"].as_str().unwrap(),
    );
    let history = curl(&[
        "-H",
        &format!("x-user-id: {uid}"),
        "-H",
        &format!("x-auth-token: {token}"),
        &format!("{url}/api/v1/channels.history?roomName=devops&count=50"),
    ]);
    history["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"))
        .clone()
}

#[test]
fn an_outage_reaches_the_room_as_one_grouped_alert_and_the_page_shows_it_in_a_browser() {
    let (_sim, url) = crate::rocketchat::start(&["--no-rate-limit"]);
    crate::rocketchat::make_bot(&url);
    crate::rocketchat::make_room(&url, &[]).code(0);
    let dir = tempfile::tempdir().unwrap();
    let hook_file = dir.path().join("hook-url");
    let hook_path = hook_file.to_str().unwrap();
    let mut job = crate::rocketchat::admin_args("rocketchat-webhook", &url);
    job.extend([
        "--name", "status", "--room", "devops", "--as", "bot", "--output", hook_path,
    ]);
    crate::rocketchat::run(&job).code(0);
    let (mut db, mut app) = (Port::open(), Port::open());
    let file = catalog(dir.path(), db.port, app.port, "");
    let mut args = FAST.to_vec();
    args.extend(["--alert-webhook-file", hook_path]);
    let served = Served::start(&file, &dir.path().join("s.db"), &args, &[]);
    served.wait_status("up", |s| {
        s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "up")
    });
    let before = room_messages(&url).len();
    // db goes down and app with it: one alert, naming db and listing app and web as affected.
    let broke = Instant::now();
    db.close();
    app.close();
    let alert = loop {
        let messages = room_messages(&url);
        if messages.len() > before {
            break messages;
        }
        assert!(
            broke.elapsed() < Duration::from_secs(30),
            "no alert in the room"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let newest = &alert[0];
    assert_eq!(
        newest["msg"], ":red_circle: db is down; affected: app, web",
        "{newest:#}"
    );
    let fields = newest["attachments"][0]["fields"].to_string();
    assert!(fields.contains("app (failing: `app answers`)"), "{fields}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        room_messages(&url).len(),
        before + 1,
        "one alert, not one per check"
    );

    // The page, as a browser builds it.
    let page_url = format!("http://{}/", served.address);
    let dom = chromium(&["--dump-dom", &page_url]);
    assert!(dom.contains("<h1>Status</h1>"), "{dom}");
    assert!(
        dom.contains(r#"data-check="db answers" data-state="down""#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"data-check="app answers" data-state="down""#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<span class="state down">Down</span>"#),
        "{dom}"
    );
    let row = |check: &str| dom.find(&format!(r#"data-check="{check}""#)).unwrap();
    assert!(row("db answers") < row("app answers"), "dependency order");
    // The incidents' numbers follow which check crossed its threshold first.
    assert!(
        dom.contains(r#": db — <span class="status">investigating</span>"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<strong class="kind">detected</strong>"#),
        "{dom}"
    );
    assert!(dom.contains("(db is down): no alert of its own"), "{dom}");
    let shot = crate::support::target_dir().join("status-page.png");
    chromium(&[
        "--window-size=1100,1400",
        &format!("--screenshot={}", shot.display()),
        &page_url,
    ]);
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "{}",
        shot.display()
    );

    db.reopen();
    app.reopen();
    let started = Instant::now();
    while room_messages(&url).len() < before + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no resolved alert"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        room_messages(&url)[0]["msg"],
        ":white_check_mark: db recovered"
    );
    let (code, badge) = served.request("GET", "/badge/db-answers/health.svg", "");
    assert_eq!(code, 200);
    assert!(badge.contains("health: operational"), "{badge}");
    let (code, badge) = served.request("GET", "/badge/db%20answers/uptime/24h.svg", "");
    assert_eq!(code, 200);
    assert!(badge.contains("uptime 24h: "), "{badge}");
}

/// Headless Chromium (Debian's `chromium`), its output.
fn chromium(args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs (tests/setup.sh installs it)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every service that `service` needs in `graph`, directly or through others.
fn needs_of(
    graph: &std::collections::BTreeMap<String, Vec<String>>,
    service: &str,
) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![service.to_owned()];
    while let Some(s) = todo.pop() {
        for need in graph.get(&s).into_iter().flatten() {
            if seen.insert(need.clone()) {
                todo.push(need.clone());
            }
        }
    }
    seen
}

#[test]
fn the_stacks_catalogs_depend_as_their_compose_files_do() {
    use std::collections::BTreeMap;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (catalog, compose) in [
        ("checks/chat.yml", "compose/chat/compose.yml"),
        ("checks/demo.yml", "compose/demo/compose.yml"),
    ] {
        let read = |p: &str| -> serde_json::Value {
            yaml_serde::from_str(&std::fs::read_to_string(root.join(p)).unwrap()).unwrap()
        };
        let (catalog, compose) = (read(catalog), read(compose));
        let mut stack: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, service) in compose["services"].as_object().unwrap() {
            let needs = match &service["depends_on"] {
                serde_json::Value::Array(list) => list
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
                serde_json::Value::Object(map) => map.keys().cloned().collect(),
                _ => Vec::new(),
            };
            stack.insert(name.clone(), needs);
        }
        let declared: BTreeMap<String, Vec<String>> =
            serde_json::from_value(catalog["depends"].clone()).unwrap();
        let mut services: std::collections::BTreeSet<String> = catalog["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["service"].as_str().map(str::to_owned))
            .collect();
        services.extend(declared.keys().cloned());
        services.extend(declared.values().flatten().cloned());
        for service in &services {
            assert!(
                stack.contains_key(service),
                "{service} is not a service of the stack"
            );
            let in_stack: std::collections::BTreeSet<String> = needs_of(&stack, service)
                .into_iter()
                .filter(|s| services.contains(s))
                .collect();
            assert_eq!(needs_of(&declared, service), in_stack, "{service}");
        }
    }
}
