//! The chat stack's real compose file (`compose/chat/compose.yml`) on this machine:
//! `compose.local.yml` swaps only the images that cannot be pulled here (a real nginx built from
//! Debian packages, the MongoDB and Rocket.Chat simulators, a stand-in bot). `stackctl up`
//! brings both files up; the proof then goes through nginx from the host, as a user would:
//! `/api/info` by the virtual host's name over TLS with the certificate the `certs` job
//! generated, the HTTP → HTTPS redirect, a WebSocket upgrade to `/websocket` that reaches the
//! Rocket.Chat simulator (DDP handshake and heartbeat), the bot's diver healthy in Docker's eyes
//! and the bot answering in its room; `down -v` then leaves nothing behind.
//!
//! `STACKCTL_TEST_CHAT_WITH=docker-compose` runs the same proof with docker-compose 1.29.2
//! bringing the stack up and down (the files are meant for both).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;

use crate::support::docker::{TARGET, docker, static_binaries, unique, wait_for_health};
use crate::support::{Output, closed_port, stackctl};

const DOMAIN: &str = "chat.example.test";

/// The repository's root: the compose files and image scripts are read from there.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The simulators' static binaries (the images' contents), built once per test run.
fn simulators() -> &'static Path {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--release", "--target", TARGET])
            .args(["-p", "mongo-sim", "-p", "rocketchat-sim"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the simulators failed");
    });
    static_binaries()
}

/// Runs one of the scripts in `tests/images/`, returning its stdout.
fn image_script(script: &str, args: &[&str]) -> String {
    let out = Command::new("bash")
        .current_dir(root())
        .arg(format!("tests/images/{script}"))
        .args(args)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[derive(Clone, Copy, PartialEq)]
enum Driver {
    Stackctl,
    DockerCompose,
}

/// One running proof stack; `down -v` and the removal of its images on drop.
struct ChatStack {
    driver: Driver,
    project: String,
    env: Vec<(String, String)>,
    images: Vec<String>,
    plain_port: u16,
    tls_port: u16,
    admin_pass: String,
    workdir: tempfile::TempDir,
}

impl ChatStack {
    fn new() -> Self {
        let driver = match std::env::var("STACKCTL_TEST_CHAT_WITH").as_deref() {
            Ok("docker-compose") => Driver::DockerCompose,
            _ => Driver::Stackctl,
        };
        let bin = simulators();
        // Cached across runs on purpose (the Debian root filesystem takes ~30 s to build): the
        // tag is a hash of its build script. The simulator images are this run's own.
        let nginx = image_script("build-nginx.sh", &[]);
        let tag = unique("proof");
        let images: Vec<String> = image_script("build-chat-sims.sh", &[&tag])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(images.len(), 3, "{images:?}");
        let admin_pass = unique("admin-pass");
        let (plain_port, tls_port) = (closed_port(), closed_port());
        let stackctl_bin = bin.join("stackctl");
        let env = [
            ("STACKCTL_BIN", stackctl_bin.to_str().expect("utf-8 path")),
            ("LOCAL_IMAGES_TAG", &tag),
            ("LOCAL_NGINX_IMAGE", &nginx),
            ("DOMAIN", DOMAIN),
            ("ADMIN_EMAIL", "admin@chat.example.test"),
            ("ADMIN_PASS", &admin_pass),
            ("BOT_PASS", &unique("bot-pass")),
            ("HTTP_PORT", &plain_port.to_string()),
            ("HTTPS_PORT", &tls_port.to_string()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        Self {
            driver,
            project: unique("chatproof").replace('-', ""),
            env,
            images,
            plain_port,
            tls_port,
            admin_pass,
            workdir: tempfile::tempdir().expect("a work directory"),
        }
    }

    fn files() -> Vec<String> {
        let dir = root().join("compose/chat");
        ["compose.yml", "compose.local.yml"]
            .iter()
            .flat_map(|f| ["-f".to_owned(), dir.join(f).to_string_lossy().into_owned()])
            .collect()
    }

    fn env_file() -> String {
        root()
            .join("compose/chat/.env.example")
            .to_string_lossy()
            .into_owned()
    }

    /// `stackctl VERB -f compose.yml -f compose.local.yml -p PROJECT --env-file ... ARGS`.
    fn stackctl(&self, verb: &str, args: &[&str]) -> Output {
        let mut all = vec![verb.to_owned()];
        all.extend(Self::files());
        all.extend(["-p".to_owned(), self.project.clone()]);
        all.extend(["--env-file".to_owned(), Self::env_file()]);
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let mut run = stackctl(all);
        for (k, v) in &self.env {
            run = run.env(k, v);
        }
        run.output()
    }

    /// `docker-compose --env-file ... -f ... -f ... -p PROJECT ARGS`.
    fn docker_compose(&self, args: &[&str]) -> Output {
        let started = Instant::now();
        let out = Command::new("docker-compose")
            .arg("--env-file")
            .arg(Self::env_file())
            .args(Self::files())
            .args(["-p", &self.project])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("docker-compose runs");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
            killed: false,
        }
    }

    fn up(&self) -> Output {
        match self.driver {
            Driver::Stackctl => self.stackctl("up", &["--timeout", "4m"]),
            Driver::DockerCompose => self.docker_compose(&["up", "-d"]),
        }
    }

    fn down(&self) -> Output {
        match self.driver {
            Driver::Stackctl => self.stackctl("down", &["-v", "--remove-orphans"]),
            Driver::DockerCompose => self.docker_compose(&["down", "-v", "--remove-orphans"]),
        }
    }

    fn container(&self, service: &str) -> String {
        let id = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        assert!(!id.is_empty(), "no container for `{service}`");
        id.lines().next().unwrap_or_default().to_owned()
    }

    /// What the project still owns in Docker: containers, volumes, networks.
    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let mut left = Vec::new();
        for kind in [
            &["ps", "-aq"][..],
            &["volume", "ls", "-q"],
            &["network", "ls", "-q"],
        ] {
            let mut args = kind.to_vec();
            args.extend(["--filter", &label]);
            left.extend(docker(&args).lines().map(str::to_owned));
        }
        // Networks and volumes by name too, in case a tool left a label off.
        for kind in ["volume", "network"] {
            let found = docker(&[
                kind,
                "ls",
                "-q",
                "--filter",
                &format!("name={}_", self.project),
            ]);
            left.extend(found.lines().map(str::to_owned));
        }
        left
    }
}

impl Drop for ChatStack {
    fn drop(&mut self) {
        let _ = self.down();
        for image in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

/// A TLS client trusting only `ca` (PEM), for connections to nginx as `DOMAIN`.
fn tls_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("a PEM file") {
        roots
            .add(cert.expect("a certificate"))
            .expect("a usable root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// Through nginx: TLS as `DOMAIN`, `Upgrade: websocket` to `/websocket`, then DDP's handshake
/// and a heartbeat with the Rocket.Chat simulator behind it.
async fn websocket_through_nginx(port: u16, ca: &Path) -> Vec<Value> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("nginx accepts");
    let name = rustls::pki_types::ServerName::try_from(DOMAIN).expect("a server name");
    let tls = tokio_rustls::TlsConnector::from(tls_config(ca))
        .connect(name, tcp)
        .await
        .expect("TLS with the generated certificate");
    let (mut ws, response) =
        tokio_tungstenite::client_async(format!("wss://{DOMAIN}:{port}/websocket"), tls)
            .await
            .expect("the upgrade goes through nginx");
    assert_eq!(response.status(), 101);
    let mut seen = Vec::new();
    let next = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> Value {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an answer within 10 s")
            .expect("the connection stays open")
            .expect("a frame");
        let Message::Text(text) = frame else {
            panic!("not a text frame: {frame:?}")
        };
        serde_json::from_str(&text).expect("JSON")
    };
    seen.push(next(&mut ws).await);
    let connect = json!({"msg": "connect", "version": "1", "support": ["1"]});
    ws.send(Message::Text(connect.to_string().into()))
        .await
        .expect("send connect");
    seen.push(next(&mut ws).await);
    let ping = json!({"msg": "ping", "id": "proof"});
    ws.send(Message::Text(ping.to_string().into()))
        .await
        .expect("send ping");
    seen.push(next(&mut ws).await);
    let _ = ws.close(None).await;
    seen
}

/// Sends a request with an optional JSON body and reads a JSON answer (the root crate's reqwest
/// has no `json` feature).
async fn call(request: reqwest::RequestBuilder, body: Option<Value>) -> Result<Value, String> {
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(body.to_string()),
        None => request,
    };
    let response = request.send().await.map_err(|e| e.to_string())?;
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&bytes)))
}

/// As the admin, through nginx: say `bot ping` in the bot's room and wait for its `PONG`.
async fn bot_answers(port: u16, ca: &Path, admin_pass: &str) -> Result<(), String> {
    let pem = std::fs::read(ca).expect("the certificate");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
        .resolve(DOMAIN, ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let base = format!("https://{DOMAIN}:{port}/api/v1");
    let credentials = json!({"user": "admin", "password": admin_pass});
    let login = call(http.post(format!("{base}/login")), Some(credentials)).await?;
    let (Some(uid), Some(token)) = (
        login["data"]["userId"].as_str(),
        login["data"]["authToken"].as_str(),
    ) else {
        return Err(format!("admin login: {login}"));
    };
    let auth =
        |r: reqwest::RequestBuilder| r.header("X-User-Id", uid).header("X-Auth-Token", token);
    let ping = json!({"channel": "#devops", "text": "bot ping"});
    let sent = call(
        auth(http.post(format!("{base}/chat.postMessage"))),
        Some(ping),
    )
    .await?;
    let rid = sent["message"]["rid"]
        .as_str()
        .ok_or_else(|| format!("postMessage: {sent}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = format!("{base}/channels.history?roomId={rid}&count=10");
        let history = call(auth(http.get(url)), None).await?;
        let answered = history["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["msg"] == "PONG" && m["u"]["username"] == "bot");
        if answered {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no PONG from the bot within 20 s: {history}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn the_chat_stack_comes_up_behind_nginx_and_leaves_nothing() {
    let stack = ChatStack::new();
    let up = stack.up();
    assert_eq!(up.code, Some(0), "up failed:\n{up:#?}");
    eprintln!("chat stack up in {:.1} s", up.elapsed.as_secs_f64());

    // The certificate the `certs` job generated, as nginx serves it.
    let nginx = stack.container("nginx");
    let ca: PathBuf = stack.workdir.path().join("ca.pem");
    docker(&[
        "cp",
        &format!("{nginx}:/etc/nginx/certs/fullchain.pem"),
        ca.to_str().expect("utf-8 path"),
    ]);
    let ca_arg = ca.to_str().expect("utf-8 path").to_owned();
    let https = format!("https://127.0.0.1:{}/api/info", stack.tls_port);

    // /api/info through nginx, by the virtual host's name, trusting only that certificate.
    let info = stackctl([
        "check",
        "http",
        &https,
        "--host",
        DOMAIN,
        "--ca-file",
        &ca_arg,
        "--json-path",
        "success=true",
    ])
    .output();
    info.code(0);
    // The same request without trusting it fails: TLS is real, not a pass-through.
    stackctl(["check", "http", &https, "--host", DOMAIN])
        .output()
        .code(1);
    // Plain HTTP is redirected to HTTPS.
    let http = format!("http://127.0.0.1:{}/api/info", stack.plain_port);
    stackctl(["check", "http", &http, "--host", DOMAIN, "--status", "301"])
        .output()
        .code(0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // A WebSocket upgrade through nginx reaches Rocket.Chat's DDP endpoint.
    let frames = runtime.block_on(websocket_through_nginx(stack.tls_port, &ca));
    assert_eq!(frames[0], json!({"server_id": "0"}), "{frames:?}");
    assert_eq!(frames[1]["msg"], "connected", "{frames:?}");
    assert_eq!(
        frames[2],
        json!({"msg": "pong", "id": "proof"}),
        "{frames:?}"
    );

    // The bot's diver (its own HEALTHCHECK, run by Docker) says healthy, and the bot answers.
    let bot = stack.container("bot");
    let health = wait_for_health(&bot, "healthy", Duration::from_secs(90));
    assert_eq!(
        health,
        "healthy",
        "{}",
        docker(&["inspect", "-f", "{{json .State.Health}}", &bot])
    );
    runtime
        .block_on(bot_answers(stack.tls_port, &ca, &stack.admin_pass))
        .unwrap_or_else(|e| panic!("{e}\n{}", docker(&["logs", "--tail", "20", &bot])));
    // nginx's own healthcheck (through itself, with the generated certificate) agrees.
    assert_eq!(
        wait_for_health(&nginx, "healthy", Duration::from_secs(60)),
        "healthy"
    );

    let down = stack.down();
    assert_eq!(down.code, Some(0), "down failed:\n{down:#?}");
    let left = stack.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}
