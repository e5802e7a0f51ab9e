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
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;

use crate::support::docker::{docker, image_script, static_simulators, unique, wait_for_health};
use crate::support::{Output, closed_port, stackctl};

const DOMAIN: &str = "chat.example.test";
/// The personal access token the GitLab simulator is started with (`compose.local.yml`).
const GITLAB_TOKEN: &str = "glpat-proof-admin-token";

/// The repository's root: the compose files and image scripts are read from there.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
        let bin = static_simulators();
        // Cached across runs on purpose (the Debian root filesystem takes ~30 s to build): the
        // tag is a hash of its build script. The simulator images are this run's own.
        let nginx = image_script("build-nginx.sh", &[]);
        let tag = unique("proof");
        let images: Vec<String> = image_script("build-chat-sims.sh", &[&tag])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(images.len(), 4, "{images:?}");
        let admin_pass = unique("admin-pass");
        let (plain_port, tls_port) = (closed_port(), closed_port());
        // The status page on a free loopback port: stacks of parallel tests must not collide.
        let status_port = format!("127.0.0.1:{}", closed_port());
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
            ("STATUS_PORT", &status_port),
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

    /// The stack with its `gitlab` profile: the GitLab simulator on a free host port, knowing
    /// the API token an administrator created, and the two jobs that wire its hook.
    fn with_gitlab() -> (Self, u16) {
        let mut stack = Self::new();
        let port = closed_port();
        let settings = [
            ("COMPOSE_PROFILES", "gitlab".to_owned()),
            ("GITLAB_API_TOKEN", GITLAB_TOKEN.to_owned()),
            ("GITLAB_WEBHOOK_TOKEN", unique("hook-secret")),
            ("GITLAB_PROJECT", "ops/chat".to_owned()),
            ("GITLAB_HTTP_PORT", port.to_string()),
            ("GITLAB_SSH_PORT", closed_port().to_string()),
        ];
        stack
            .env
            .extend(settings.into_iter().map(|(k, v)| (k.to_owned(), v)));
        (stack, port)
    }

    fn setting(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
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

    /// The certificate the `certs` job generated, as nginx serves it, copied out to a file.
    fn certificate(&self) -> PathBuf {
        let ca = self.workdir.path().join("ca.pem");
        docker(&[
            "cp",
            &format!("{}:/etc/nginx/certs/fullchain.pem", self.container("nginx")),
            ca.to_str().expect("utf-8 path"),
        ]);
        ca
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
            let _ = Command::new("docker")
                .args(["rmi", "-f", "--no-prune", image])
                .output();
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
    let http = through_nginx(port, ca);
    let base = format!("https://{DOMAIN}:{port}/api/v1");
    let (uid, token) = login(&http, port, "admin", admin_pass).await?;
    let (uid, token) = (uid.as_str(), token.as_str());
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
    let ca = stack.certificate();
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

/// A client for nginx's virtual host on `port`, trusting only `ca`.
fn through_nginx(port: u16, ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("the certificate");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
        .resolve(DOMAIN, ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// Logs in through nginx: the user's id and token.
async fn login(
    http: &reqwest::Client,
    port: u16,
    user: &str,
    password: &str,
) -> Result<(String, String), String> {
    let url = format!("https://{DOMAIN}:{port}/api/v1/login");
    let credentials = json!({"user": user, "password": password});
    let reply = call(http.post(url), Some(credentials)).await?;
    match (
        reply["data"]["userId"].as_str(),
        reply["data"]["authToken"].as_str(),
    ) {
        (Some(uid), Some(token)) => Ok((uid.to_owned(), token.to_owned())),
        _ => Err(format!("{user} login: {reply}")),
    }
}

/// The room's messages (newest first, system messages left out), read as `user` through nginx.
async fn room_messages(
    http: &reqwest::Client,
    port: u16,
    user: &str,
    password: &str,
) -> Result<Vec<Value>, String> {
    let base = format!("https://{DOMAIN}:{port}/api/v1");
    let (uid, token) = login(http, port, user, password).await?;
    let url = format!("{base}/channels.history?roomName=devops&count=100");
    let history = call(
        http.get(url)
            .header("X-User-Id", &uid)
            .header("X-Auth-Token", &token),
        None,
    )
    .await?;
    let messages = history["messages"]
        .as_array()
        .ok_or_else(|| format!("history: {history}"))?;
    Ok(messages
        .iter()
        .filter(|m| m.get("t").is_none())
        .cloned()
        .collect())
}

/// The message `tests/gitlab-script` recorded for a payload.
fn rendered(name: &str) -> Value {
    let path = root().join("tests/gitlab-script/snapshots").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("snapshot")).expect("JSON")
}

/// The `gitlab` profile on the local proof: `up` boots the GitLab simulator (503 from
/// `/-/readiness` for a while), installs the real `integrations/gitlab.js` on Rocket.Chat's
/// incoming webhook, and creates GitLab's project hook (allowing local requests, since the hook
/// targets `rocketchat` on the stack's network). GitLab's test deliveries then go container to
/// container — GitLab → Rocket.Chat's hook → the script, run by node → a message in the room —
/// and the bot reads every event kind through nginx.
#[test]
fn the_gitlab_profile_carries_every_event_kind_into_the_room() {
    let (stack, gitlab_port) = ChatStack::with_gitlab();
    let up = stack.up();
    assert_eq!(up.code, Some(0), "up failed:\n{up:#?}");
    eprintln!(
        "chat stack with gitlab up in {:.1} s",
        up.elapsed.as_secs_f64()
    );
    // The hook URL is a secret: the jobs print it masked.
    let hook_job = docker(&["logs", &stack.container("gitlab-hook")]);
    assert!(hook_job.contains("/hooks/***"), "{hook_job}");
    assert!(
        hook_job.contains("allow_local_requests_from_web_hooks_and_services"),
        "{hook_job}"
    );

    let ca = stack.certificate();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let http = through_nginx(stack.tls_port, &ca);
    let bot_pass = stack.setting("BOT_PASS").to_owned();
    let read = || {
        runtime
            .block_on(room_messages(&http, stack.tls_port, "bot", &bot_pass))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let before = read().len();

    let gitlab = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{gitlab_port}/api/v4");
    let admin = |r: reqwest::RequestBuilder| r.header("PRIVATE-TOKEN", GITLAB_TOKEN);
    let hooks = runtime
        .block_on(call(
            admin(gitlab.get(format!("{api}/projects/ops%2Fchat/hooks"))),
            None,
        ))
        .expect("the project's hooks");
    let hook = hooks[0]["id"].as_u64().expect("one hook");
    assert_eq!(
        hooks[0]["url"]
            .as_str()
            .map(|u| u.starts_with("http://rocketchat:3000/hooks/")),
        Some(true),
        "{hooks}"
    );
    // Eight deliveries: more than the five a minute GitLab allows for test deliveries, so the
    // administrator turns that limit's feature flag off first, as the GitLab docs describe.
    let flag = format!("{api}/features/web_hook_test_api_endpoint_rate_limit");
    runtime
        .block_on(call(
            admin(gitlab.post(flag)),
            Some(json!({"value": false})),
        ))
        .expect("the feature flag");
    let events = [
        ("push_events", "push.json"),
        ("tag_push_events", "tag-push.json"),
        ("merge_requests_events", "merge-request-open.json"),
        ("pipeline_events", "pipeline-success.json"),
        ("issues_events", "issue-open.json"),
        ("note_events", "note-merge-request.json"),
        ("confidential_issues_events", "confidential-issue.json"),
        ("confidential_note_events", "confidential-note.json"),
    ];
    for (trigger, snapshot) in events {
        let url = format!("{api}/projects/ops%2Fchat/hooks/{hook}/test/{trigger}");
        let reply = runtime.block_on(call(admin(gitlab.post(url)), None));
        assert_eq!(reply, Ok(json!({"message": "201 Created"})), "{trigger}");
        let messages = read();
        let expected = rendered(snapshot);
        assert_eq!(messages[0]["msg"], expected["text"], "{trigger}");
        assert_eq!(
            messages[0]["attachments"], expected["attachments"],
            "{trigger}"
        );
        assert_eq!(messages[0]["u"]["username"], "bot", "{trigger}");
    }
    assert_eq!(read().len(), before + events.len());

    // `stackctl smoke` on the same stack finds everything from the files: Rocket.Chat and nginx
    // (not the jobs that run in their images), the hook and its secret token; its front-door
    // steps go through the real nginx, TLS and the WebSocket upgrade included.
    let probe_binary = stack.setting("STACKCTL_BIN").to_owned();
    let smoke = stack.stackctl("smoke", &["--binary", &probe_binary]);
    let said = format!("{}{}", smoke.stdout, smoke.stderr);
    assert_eq!(smoke.code, Some(0), "{said}");
    for step in [
        "gitlab hook",
        "front door",
        "front door websocket",
        "admin reads back",
    ] {
        assert!(said.contains(&format!("ok   {step}: ")), "{step}: {said}");
    }
    assert!(
        !said.contains(stack.setting("GITLAB_WEBHOOK_TOKEN")),
        "{said}"
    );

    let down = stack.down();
    assert_eq!(down.code, Some(0), "down failed:\n{down:#?}");
    let left = stack.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}
