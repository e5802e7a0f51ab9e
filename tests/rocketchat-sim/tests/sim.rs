//! Real HTTP against the simulator binary on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

struct Sim {
    child: Child,
    base: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Sim {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rocketchat-sim"));
    cmd.args(["--port", "0"]).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ADMIN_")
            || k.starts_with("OVERWRITE_SETTING_")
            || k == "MONGO_URL"
            || k == "PORT"
        {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rocketchat-sim");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("rocketchat-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Sim {
        child,
        base: format!("http://{addr}"),
    }
}

fn admin_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ADMIN_USERNAME", "boss"),
        ("ADMIN_PASS", "s3cret-pass"),
        ("ADMIN_EMAIL", "boss@example.com"),
        ("ADMIN_NAME", "The Boss"),
    ]
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = client().get(format!("{base}/api/info")).send().await
            && r.status() == 200
            && r.json::<Value>().await.is_ok_and(|b| b["success"] == true)
        {
            return;
        }
        assert!(Instant::now() < deadline, "simulator never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Session {
    base: String,
    uid: String,
    token: String,
}

async fn post(base: &str, path: &str, body: Value, auth: Option<&Session>) -> (u16, Value) {
    let mut rb = client().post(format!("{base}{path}")).json(&body);
    if let Some(s) = auth {
        rb = rb
            .header("X-User-Id", &s.uid)
            .header("X-Auth-Token", &s.token);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(base: &str, path: &str, auth: Option<&Session>) -> (u16, Value) {
    let mut rb = client().get(format!("{base}{path}"));
    if let Some(s) = auth {
        rb = rb
            .header("X-User-Id", &s.uid)
            .header("X-Auth-Token", &s.token);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn login(base: &str, user: &str, password: &str) -> Session {
    let (s, b) = post(
        base,
        "/api/v1/login",
        json!({"user": user, "password": password}),
        None,
    )
    .await;
    assert_eq!(s, 200, "login {user}: {b}");
    Session {
        base: base.to_string(),
        uid: b["data"]["userId"].as_str().unwrap().to_string(),
        token: b["data"]["authToken"].as_str().unwrap().to_string(),
    }
}

async fn create_user(admin: &Session, username: &str, verified: bool) -> Value {
    let (s, b) = post(
        &admin.base,
        "/api/v1/users.create",
        json!({"username": username, "email": format!("{username}@example.com"), "name": username, "password": "pw-12345", "verified": verified}),
        Some(admin),
    )
    .await;
    assert_eq!(s, 200, "users.create {username}: {b}");
    b["user"].clone()
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn boot_phases_refuse_then_503_then_ready() {
    let sim = spawn(&["--refuse-for", "1500ms", "--booting-for", "1500ms"], &[]);
    let url = format!("{}/api/info", sim.base);
    let err = client()
        .get(&url)
        .send()
        .await
        .expect_err("must refuse while starting");
    assert!(err.is_connect(), "{err}");
    // wait for the listener, then expect the booting answer
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        if let Ok(r) = client().get(&url).send().await {
            break r;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r.status(), 503);
    wait_ready(&sim.base).await;
    let (s, b) = get(&sim.base, "/api/info", None).await;
    assert_eq!(s, 200);
    assert_eq!(b, json!({"version": "8.0", "success": true}));
    let (s, b) = get(&sim.base, "/readyz", None).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ok")));
    let (s, b) = get(&sim.base, "/livez", None).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn booting_html_page_and_fault_control() {
    let sim = spawn(
        &[
            "--booting-for",
            "800ms",
            "--booting-response",
            "html",
            "--no-rate-limit",
        ],
        &[],
    );
    let r = client()
        .get(format!("{}/api/info", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.json::<Value>().await.is_err(),
        "a JSON client cannot parse the booting page"
    );
    wait_ready(&sim.base).await;
    let (s, _) = post(
        &sim.base,
        "/_sim/fault",
        json!({"mongo_down": true, "fail_every": 2, "fail_status": 502}),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = get(&sim.base, "/readyz", None).await; // request 1
    assert_eq!(s, 503);
    assert_eq!(b["checks"]["mongo"]["status"], "unavailable");
    let (s, _) = get(&sim.base, "/api/info", None).await; // request 2 -> injected failure
    assert_eq!(s, 502);
    post(
        &sim.base,
        "/_sim/fault",
        json!({"mongo_down": false, "fail_every": 0}),
        None,
    )
    .await;
    assert_eq!(get(&sim.base, "/readyz", None).await.0, 200);
}

#[tokio::test]
async fn mongo_without_primary_fails_like_rocket_chat() {
    // nothing listens on port 9 of loopback: no primary can be selected
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rocketchat-sim"));
    let out = cmd
        .args([
            "--port",
            "0",
            "--mongo-url",
            "mongodb://127.0.0.1:9/rocketchat?replicaSet=rs0",
            "--mongo-timeout",
            "1s",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MongoServerSelectionError"), "{err}");
    assert!(err.contains("ReplicaSetNoPrimary"), "{err}");
}

#[tokio::test]
async fn admin_bootstrap_rules_and_restart_with_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rc.json");
    let data_s = data.to_str().unwrap();
    {
        let sim = spawn(&["--data-file", data_s, "--no-rate-limit"], &admin_env());
        wait_ready(&sim.base).await;
        let admin = login(&sim.base, "boss", "s3cret-pass").await;
        let (s, me) = get(&sim.base, "/api/v1/me", Some(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(me["username"], "boss");
        assert_eq!(me["name"], "The Boss");
        assert_eq!(me["roles"], json!(["admin"]));
        assert_eq!(me["emails"][0]["verified"], false);
        create_user(&admin, "alice", false).await;
        // login by email works too
        login(&sim.base, "boss@example.com", "s3cret-pass").await;
    }
    {
        // restart: an admin exists, so a different ADMIN_PASS is ignored
        let mut env = admin_env();
        env[1] = ("ADMIN_PASS", "another-pass");
        let sim = spawn(&["--data-file", data_s, "--no-rate-limit"], &env);
        wait_ready(&sim.base).await;
        let (s, b) = post(
            &sim.base,
            "/api/v1/login",
            json!({"user": "boss", "password": "another-pass"}),
            None,
        )
        .await;
        assert_eq!(s, 401, "{b}");
        let admin = login(&sim.base, "boss", "s3cret-pass").await;
        let (s, b) = get(&sim.base, "/api/v1/users.info?username=alice", Some(&admin)).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["user"]["username"], "alice");
        login(&sim.base, "alice", "pw-12345").await;
    }
}

#[tokio::test]
async fn no_admin_without_admin_pass() {
    let sim = spawn(&["--no-rate-limit"], &[("ADMIN_USERNAME", "boss")]);
    wait_ready(&sim.base).await;
    let (_, st) = get(&sim.base, "/_sim/state", None).await;
    let users: Vec<&str> = st["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(users, vec!["rocket.cat"]);
}

#[tokio::test]
async fn login_failures() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let unauthorized = json!({"success": false, "status": "error", "error": "Unauthorized", "message": "Unauthorized"});
    let (s, b) = post(
        &sim.base,
        "/api/v1/login",
        json!({"user": "boss", "password": "wrong"}),
        None,
    )
    .await;
    assert_eq!((s, &b), (401, &unauthorized));
    let (s, b) = post(
        &sim.base,
        "/api/v1/login",
        json!({"username": "nobody", "password": "x"}),
        None,
    )
    .await;
    assert_eq!((s, &b), (401, &unauthorized));
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "oauthy", false).await;
    post(
        &sim.base,
        "/_sim/clear-password",
        json!({"username": "oauthy"}),
        None,
    )
    .await;
    let (s, b) = post(
        &sim.base,
        "/api/v1/login",
        json!({"user": "oauthy", "password": "pw-12345"}),
        None,
    )
    .await;
    assert_eq!((s, &b), (401, &unauthorized));
    // not logged in
    let (s, b) = get(&sim.base, "/api/v1/me", None).await;
    assert_eq!(s, 401);
    assert_eq!(b["error"], "You must be logged in to do this.");
    assert_eq!(b["status"], "error");
    // logout invalidates the token
    let (s, b) = post(&sim.base, "/api/v1/logout", json!({}), Some(&admin)).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["message"], "You've been logged out!");
    assert_eq!(get(&sim.base, "/api/v1/me", Some(&admin)).await.0, 401);
}

#[tokio::test]
async fn legacy_login_error_user_has_no_password() {
    let sim = spawn(&["--no-rate-limit", "--legacy-login-errors"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "oauthy", false).await;
    post(
        &sim.base,
        "/_sim/clear-password",
        json!({"username": "oauthy"}),
        None,
    )
    .await;
    let (s, b) = post(
        &sim.base,
        "/api/v1/login",
        json!({"user": "oauthy", "password": "pw"}),
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(b["error"], 403);
    assert_eq!(b["message"], "User has no password set");
}

#[tokio::test]
async fn users_create_rules() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    let user = create_user(&admin, "alice", false).await;
    assert_eq!(user["roles"], json!(["user"]));
    // duplicate
    let (s, b) = post(
        &sim.base,
        "/api/v1/users.create",
        json!({"username": "alice", "email": "other@example.com", "name": "A", "password": "p"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["error"],
        "alice is already in use :( [error-field-unavailable]"
    );
    assert_eq!(b["errorType"], "error-field-unavailable");
    assert_eq!(b["details"]["field"], "alice");
    // unknown field
    let (s, b) = post(&sim.base, "/api/v1/users.create", json!({"username": "bob", "email": "bob@example.com", "name": "B", "password": "p", "nope": 1}), Some(&admin)).await;
    assert_eq!(s, 400);
    assert_eq!(b["errorType"], "invalid-params");
    assert_eq!(
        b["error"],
        "must NOT have additional properties [invalid-params]"
    );
    // missing field
    let (s, b) = post(
        &sim.base,
        "/api/v1/users.create",
        json!({"username": "bob", "name": "B", "password": "p"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["error"],
        "must have required property 'email' [invalid-params]"
    );
    // joinDefaultChannels defaults to true: alice is in #general
    let alice = login(&sim.base, "alice", "pw-12345").await;
    let (s, b) = get(
        &sim.base,
        "/api/v1/subscriptions.getOne?roomId=GENERAL",
        Some(&alice),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["subscription"]["rid"], "GENERAL");
    // a plain user may not create users
    let (s, b) = post(
        &sim.base,
        "/api/v1/users.create",
        json!({"username": "carol", "email": "c@example.com", "name": "C", "password": "p"}),
        Some(&alice),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["error"],
        "Adding user is not allowed [error-action-not-allowed]"
    );
    // users.info of a missing user
    let (s, b) = get(&sim.base, "/api/v1/users.info?username=ghost", Some(&admin)).await;
    assert_eq!(
        (s, b),
        (400, json!({"success": false, "error": "User not found."}))
    );
    // permissions.listAll
    let (s, b) = get(&sim.base, "/api/v1/permissions.listAll", Some(&alice)).await;
    assert_eq!(s, 200);
    let bypass = b["update"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["_id"] == "api-bypass-rate-limit")
        .unwrap();
    assert_eq!(bypass["roles"], json!(["admin", "bot", "app"]));
    assert_eq!(b["remove"], json!([]));
}

#[tokio::test]
async fn two_factor_rules() {
    let sim = spawn(&["--no-rate-limit", "--twofa-grace", "0s"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    // verified email + auto opt-in -> email 2FA at login
    create_user(&admin, "verified-bot", true).await;
    let (s, b) = post(
        &sim.base,
        "/api/v1/login",
        json!({"user": "verified-bot", "password": "pw-12345"}),
        None,
    )
    .await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"], "totp-required");
    assert_eq!(b["message"], "TOTP Required");
    assert_eq!(b["details"]["method"], "email");
    assert_eq!(b["details"]["codeGenerated"], true);
    assert_eq!(b["details"]["availableMethods"], json!(["email"]));
    let (_, code) = get(&sim.base, "/_sim/email-code?username=verified-bot", None).await;
    let code = code["code"].as_str().unwrap().to_string();
    let (s, b) = post(
        &sim.base,
        "/api/v1/login",
        json!({"user": "verified-bot", "password": "pw-12345", "code": code}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // unverified -> no 2FA at login
    create_user(&admin, "plain-bot", false).await;
    login(&sim.base, "plain-bot", "pw-12345").await;
    // users.update needs the caller's password hash as second factor once the grace is over
    let target = get(
        &sim.base,
        "/api/v1/users.info?username=plain-bot",
        Some(&admin),
    )
    .await
    .1["user"]["_id"]
        .clone();
    let body = json!({"userId": target, "data": {"name": "Renamed"}});
    let (s, b) = post(
        &sim.base,
        "/api/v1/users.update",
        body.clone(),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["errorType"], "totp-required");
    assert_eq!(b["error"], "TOTP Required [totp-required]");
    assert_eq!(
        b["details"],
        json!({"method": "password", "codeGenerated": false, "availableMethods": []})
    );
    let r = client()
        .post(format!("{}/api/v1/users.update", sim.base))
        .header("X-User-Id", &admin.uid)
        .header("X-Auth-Token", &admin.token)
        .header("x-2fa-code", sha256_hex("wrong"))
        .header("x-2fa-method", "password")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorType"],
        "totp-invalid"
    );
    let r = client()
        .post(format!("{}/api/v1/users.update", sim.base))
        .header("X-User-Id", &admin.uid)
        .header("X-Auth-Token", &admin.token)
        .header("x-2fa-code", sha256_hex("s3cret-pass"))
        .header("x-2fa-method", "password")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["user"]["name"], "Renamed");
}

#[tokio::test]
async fn two_factor_grace_after_registration() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "x1", false).await;
    let target = get(&sim.base, "/api/v1/users.info?username=x1", Some(&admin))
        .await
        .1["user"]["_id"]
        .clone();
    // admin was created seconds ago: within the default 30 minutes no second factor is asked
    let (s, b) = post(
        &sim.base,
        "/api/v1/users.update",
        json!({"userId": target, "data": {"name": "N"}}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn rooms_invite_subscription_and_read_only() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "alice", false).await;
    let alice = login(&sim.base, "alice", "pw-12345").await;
    let (s, b) = post(
        &sim.base,
        "/api/v1/channels.create",
        json!({"name": "ops", "members": ["ghost"]}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["channel"]["t"], "c");
    assert_eq!(b["channel"]["usersCount"], 1);
    let ops = b["channel"]["_id"].as_str().unwrap().to_string();
    let (s, b) = post(
        &sim.base,
        "/api/v1/channels.create",
        json!({"name": "ops"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["error"],
        "A channel with name 'ops' exists [error-duplicate-channel-name]"
    );
    assert_eq!(b["errorType"], "error-duplicate-channel-name");
    let (s, b) = get(
        &sim.base,
        "/api/v1/channels.info?roomName=nope",
        Some(&admin),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["errorType"], "error-room-not-found");
    let (s, b) = get(
        &sim.base,
        "/api/v1/channels.info?roomName=ops",
        Some(&alice),
    )
    .await;
    assert_eq!((s, b["channel"]["_id"].as_str()), (200, Some(ops.as_str())));
    // membership check
    let (_, b) = get(
        &sim.base,
        &format!("/api/v1/subscriptions.getOne?roomId={ops}"),
        Some(&alice),
    )
    .await;
    assert_eq!(b, json!({"subscription": null, "success": true}));
    let (s, b) = post(
        &sim.base,
        "/api/v1/channels.invite",
        json!({"roomId": ops, "username": "alice"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = get(
        &sim.base,
        &format!("/api/v1/subscriptions.getOne?roomId={ops}"),
        Some(&alice),
    )
    .await;
    assert_eq!(b["subscription"]["u"]["username"], "alice");
    // private, read-only group
    let (s, b) = post(
        &sim.base,
        "/api/v1/groups.create",
        json!({"name": "announce", "readOnly": true}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["group"]["ro"], true);
    let grp = b["group"]["_id"].as_str().unwrap().to_string();
    // not a member: groups.info says not found, even by name
    let (s, b) = get(
        &sim.base,
        "/api/v1/groups.info?roomName=announce",
        Some(&alice),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["error"],
        "The required \"roomId\" or \"roomName\" param provided does not match any group [error-room-not-found]"
    );
    let (s, _) = post(
        &sim.base,
        "/api/v1/groups.invite",
        json!({"roomId": grp, "username": "alice"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.postMessage",
        json!({"roomId": grp, "text": "hi"}),
        Some(&alice),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"success": false, "error": "You can't send messages because the room is readonly."})
        )
    );
    let (s, _) = post(
        &sim.base,
        "/api/v1/chat.postMessage",
        json!({"roomId": grp, "text": "owner may"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200);
    // unknown destination
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.postMessage",
        json!({"channel": "#nowhere", "text": "x"}),
        Some(&admin),
    )
    .await;
    assert_eq!((s, b["errorType"].as_str()), (400, Some("invalid-channel")));
}

#[tokio::test]
async fn post_message_and_history_newest_first() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    post(
        &sim.base,
        "/api/v1/channels.create",
        json!({"name": "dev"}),
        Some(&admin),
    )
    .await;
    for text in ["one", "two", "three"] {
        let (s, b) = post(
            &sim.base,
            "/api/v1/chat.postMessage",
            json!({"channel": "#dev", "text": text, "alias": "CI"}),
            Some(&admin),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["channel"], "#dev");
        assert_eq!(b["message"]["msg"], text);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let info = get(
        &sim.base,
        "/api/v1/channels.info?roomName=dev",
        Some(&admin),
    )
    .await
    .1;
    let rid = info["channel"]["_id"].as_str().unwrap();
    let (s, b) = get(
        &sim.base,
        &format!("/api/v1/channels.history?roomId={rid}&count=2"),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200);
    let msgs: Vec<&str> = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["msg"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, vec!["three", "two"]);
    assert_eq!(b["messages"][0]["alias"], "CI");
}

#[tokio::test]
async fn integration_and_hooks_deliver_into_history() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "gitlab-bot", false).await;
    post(
        &sim.base,
        "/api/v1/channels.create",
        json!({"name": "ci"}),
        Some(&admin),
    )
    .await;
    let mk = |name: &str, script: bool| json!({"type": "webhook-incoming", "name": name, "enabled": true, "username": "gitlab-bot", "channel": "#ci", "scriptEnabled": script, "script": if script { GITLAB_JS } else { "" }});
    let (s, b) = post(
        &sim.base,
        "/api/v1/integrations.create",
        mk("plain", false),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let plain = b["integration"].clone();
    assert_eq!(plain["token"].as_str().unwrap().len(), 48);
    // no de-duplication by name
    let (s, b) = post(
        &sim.base,
        "/api/v1/integrations.create",
        mk("gitlab", true),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200);
    let gl = b["integration"].clone();
    let (s, _) = post(
        &sim.base,
        "/api/v1/integrations.create",
        mk("gitlab", true),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200);
    let (_, list) = get(&sim.base, "/api/v1/integrations.list", Some(&admin)).await;
    assert_eq!(list["total"], 3);
    // the bot got the bot role
    let (_, info) = get(
        &sim.base,
        "/api/v1/users.info?username=gitlab-bot",
        Some(&admin),
    )
    .await;
    assert!(
        info["user"]["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("bot"))
    );
    // a plain user may not create integrations
    let alice_user = create_user(&admin, "alice", false).await;
    assert_eq!(alice_user["username"], "alice");
    let alice = login(&sim.base, "alice", "pw-12345").await;
    let (s, b) = post(
        &sim.base,
        "/api/v1/integrations.create",
        mk("nope", false),
        Some(&alice),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("Unauthorized [not_authorized]"))
    );

    let hook = |i: &Value| {
        format!(
            "{}/hooks/{}/{}",
            sim.base,
            i["_id"].as_str().unwrap(),
            i["token"].as_str().unwrap()
        )
    };
    let r = client()
        .post(hook(&plain))
        .json(&json!({"text": "deploy finished"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    // form body payload=<json>
    let r = client()
        .post(hook(&plain))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "payload={}",
            url_encode(&json!({"text": "from a form"}).to_string())
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // a recorded GitLab pipeline event through the integration's real script (gitlab.js in node)
    let pipeline: Value = serde_json::from_str(include_str!(
        "../../gitlab-script/payloads/pipeline-success.json"
    ))
    .unwrap();
    let r = client()
        .post(hook(&gl))
        .header("X-Gitlab-Event", "Pipeline Hook")
        .json(&pipeline)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, h) = get(
        &sim.base,
        "/api/v1/channels.history?roomName=ci&count=10",
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{h}");
    let msgs = h["messages"].as_array().unwrap();
    let snapshot: Value = serde_json::from_str(include_str!(
        "../../gitlab-script/snapshots/pipeline-success.json"
    ))
    .unwrap();
    assert_eq!(msgs[0]["msg"], snapshot["text"]);
    assert_eq!(msgs[0]["attachments"], snapshot["attachments"]);
    assert_eq!(msgs[0]["u"]["username"], "gitlab-bot");
    assert_eq!(msgs[0]["bot"]["i"], gl["_id"]);
    assert_eq!(msgs[1]["msg"], "from a form");
    assert_eq!(msgs[2]["msg"], "deploy finished");
    // the bot joined #ci when it first posted ('uj' system message)
    assert!(
        msgs.iter()
            .any(|m| m["t"] == "uj" && m["msg"] == "gitlab-bot")
    );
    // bad token
    let r = client()
        .post(format!(
            "{}/hooks/{}/wrong",
            sim.base,
            plain["_id"].as_str().unwrap()
        ))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"success": false, "error": "Invalid integration id or token provided."})
    );
}

const GITLAB_JS: &str = include_str!("../../../compose/chat/integrations/gitlab.js");

async fn put(base: &str, path: &str, body: Value, auth: &Session) -> (u16, Value) {
    let r = client()
        .put(format!("{base}{path}"))
        .header("X-User-Id", &auth.uid)
        .header("X-Auth-Token", &auth.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn returning(text: &str) -> String {
    format!("class Script {{ process_incoming_request({{ request }}) {{ return {text}; }} }}")
}

#[tokio::test]
async fn integrations_update_and_get_and_what_scripts_return() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "hookbot", false).await;
    let base = json!({"type": "webhook-incoming", "name": "h", "enabled": true, "username": "hookbot", "channel": "#general", "scriptEnabled": true});
    let mut create = base.clone();
    create["script"] = json!(returning("{ content: { text: 'a ' + request.content.n } }"));
    let (s, b) = post(
        &sim.base,
        "/api/v1/integrations.create",
        create,
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let id = b["integration"]["_id"].as_str().unwrap().to_owned();
    let hook = format!(
        "{}/hooks/{id}/{}",
        sim.base,
        b["integration"]["token"].as_str().unwrap()
    );
    let send = |body: Value| {
        let hook = hook.clone();
        async move {
            let r = client().post(&hook).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let last = || async {
        let (_, h) = get(
            &sim.base,
            "/api/v1/channels.history?roomName=general&count=1",
            Some(&admin),
        )
        .await;
        h["messages"][0]["msg"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(send(json!({"n": 1})).await, (200, json!({"success": true})));
    assert_eq!(last().await, "a 1");

    // integrations.get
    let (s, b) = get(
        &sim.base,
        &format!("/api/v1/integrations.get?integrationId={id}"),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["integration"]["script"]
            .as_str()
            .unwrap()
            .contains("'a '")
    );
    let created_at = b["integration"]["_updatedAt"].clone();
    let (s, b) = get(
        &sim.base,
        "/api/v1/integrations.get?integrationId=nope",
        Some(&admin),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"success": false, "error": "The integration does not exists."})
        )
    );
    let (s, b) = get(&sim.base, "/api/v1/integrations.get", Some(&admin)).await;
    assert_eq!(s, 400);
    assert_eq!(b["errorType"], "invalid-params");

    // integrations.update replaces the script in place: still one integration
    let mut update = base.clone();
    update["integrationId"] = json!(id);
    update["script"] = json!(returning("{ content: { text: 'b ' + request.content.n } }"));
    let (s, b) = put(
        &sim.base,
        "/api/v1/integrations.update",
        update.clone(),
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_ne!(b["integration"]["_updatedAt"], created_at);
    assert_eq!(b["integration"]["_updatedBy"]["username"], "boss");
    let (_, list) = get(&sim.base, "/api/v1/integrations.list", Some(&admin)).await;
    assert_eq!(list["total"], 1);
    send(json!({"n": 2})).await;
    assert_eq!(last().await, "b 2");
    let mut missing = update.clone();
    missing.as_object_mut().unwrap().remove("enabled");
    let (s, b) = put(&sim.base, "/api/v1/integrations.update", missing, &admin).await;
    assert_eq!((s, b["errorType"].as_str()), (400, Some("invalid-params")));
    let mut unknown = update.clone();
    unknown["integrationId"] = json!("nope");
    let (s, b) = put(&sim.base, "/api/v1/integrations.update", unknown, &admin).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("No integration found."))
    );

    // what api.ts does with each kind of result
    let cases = [
        (returning("null"), 200, json!({"success": true})),
        (
            returning("{ error: { message: 'nope' } }"),
            400,
            json!({"success": false, "message": "nope"}),
        ),
        (
            returning("{ error: 'nope' }"),
            400,
            json!({"success": false, "error": "nope"}),
        ),
        (
            returning("{ content: { text: 'x', channel: '#elsewhere' } }"),
            400,
            json!({"success": false, "error": "overriding destination channel is disabled for this integration"}),
        ),
        (
            returning("{ content: 'text' }"),
            400,
            json!({"success": false, "error": "error-running-script"}),
        ),
        (
            "class Script { process_incoming_request() { throw new Error('boom'); } }".to_owned(),
            400,
            json!({"success": false, "error": "error-running-script"}),
        ),
        (
            "class Script { process_incoming_request() { return { content: { text: 'x', f() {} } }; } }".to_owned(),
            400,
            json!({"success": false, "error": "error-running-script"}),
        ),
        (
            "class Script {}".to_owned(),
            200,
            json!({"success": true}),
        ),
        (
            "const x = 1;".to_owned(),
            400,
            json!({"success": false, "error": "Script is not defined"}),
        ),
    ];
    for (script, status, answer) in cases {
        let mut update = update.clone();
        update["script"] = json!(script);
        let (s, b) = put(&sim.base, "/api/v1/integrations.update", update, &admin).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(send(json!({"n": 3})).await, (status, answer), "{script}");
    }

    // a script that does not compile is kept with its error and not run: the body is posted
    let mut broken = update.clone();
    broken["script"] = json!("return 1;");
    let (s, b) = put(&sim.base, "/api/v1/integrations.update", broken, &admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["integration"]["scriptError"]["name"], "SyntaxError");
    assert_eq!(
        b["integration"]["scriptError"]["message"],
        "Illegal return statement"
    );
    assert_eq!(send(json!({"text": "unscripted"})).await.0, 200);
    assert_eq!(last().await, "unscripted");

    // disabled: 503 before any script runs
    let mut disabled = update.clone();
    disabled["enabled"] = json!(false);
    put(&sim.base, "/api/v1/integrations.update", disabled, &admin).await;
    assert_eq!(
        send(json!({"n": 4})).await,
        (
            503,
            json!({"success": false, "error": "Service Unavailable"})
        )
    );
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn rate_limiter_429_with_headers() {
    let sim = spawn(
        &["--rate-limit-calls", "3", "--rate-limit-window", "60s"],
        &admin_env(),
    );
    wait_ready(&sim.base).await;
    // login is limited for everybody (no user yet)
    let mut last = None;
    for i in 0..4 {
        let r = client()
            .post(format!("{}/api/v1/login", sim.base))
            .json(&json!({"user": "boss", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        let remaining = r.headers()["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .to_string();
        if i < 3 {
            assert_eq!(r.status(), 401);
            assert_eq!(remaining, (2 - i).to_string());
        }
        last = Some(r);
    }
    let r = last.unwrap();
    assert_eq!(r.status(), 429);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(r.headers()["x-ratelimit-limit"], "3");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = r.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset > now_ms && reset <= now_ms + 61_000,
        "reset {reset} is epoch ms"
    );
    let b: Value = r.json().await.unwrap();
    let e = b["error"].as_str().unwrap();
    assert!(
        e.starts_with("Error, too many requests. Please slow down. You must wait "),
        "{e}"
    );
    assert!(
        e.ends_with(" seconds before trying this endpoint again. [error-too-many-requests]"),
        "{e}"
    );
    assert_eq!(b["success"], false);
    post(&sim.base, "/_sim/reset-rate-limits", json!({}), None).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    // the admin has api-bypass-rate-limit
    for _ in 0..6 {
        assert_eq!(get(&sim.base, "/api/v1/me", Some(&admin)).await.0, 200);
    }
    // ...but /hooks are always limited
    create_user(&admin, "hookbot", false).await;
    let (_, b) = post(&sim.base, "/api/v1/integrations.create", json!({"type": "webhook-incoming", "name": "h", "enabled": true, "username": "hookbot", "channel": "#general", "scriptEnabled": false}), Some(&admin)).await;
    let url = format!(
        "{}/hooks/{}/{}",
        sim.base,
        b["integration"]["_id"].as_str().unwrap(),
        b["integration"]["token"].as_str().unwrap()
    );
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(
            client()
                .post(&url)
                .json(&json!({"text": "t"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    // a normal user is limited on REST routes
    let alice_pw = "pw-12345";
    create_user(&admin, "alice", false).await;
    post(&sim.base, "/_sim/reset-rate-limits", json!({}), None).await;
    let alice = login(&sim.base, "alice", alice_pw).await;
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(get(&sim.base, "/api/v1/me", Some(&alice)).await.0);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
}

#[tokio::test]
async fn websocket_speaks_ddp_once_booted() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let sim = spawn(&["--booting-for", "2s"], &[]);
    let url = format!("{}/websocket", sim.base);
    // While booting, the same answer as every other path.
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    wait_ready(&sim.base).await;
    // Not an upgrade: SockJS's refusal.
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "Can \"Upgrade\" only to \"WebSocket\"."
    );

    let (mut ws, response) = tokio_tungstenite::connect_async(url.replacen("http", "ws", 1))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    let mut exchange = async |send: Option<Value>| -> Value {
        if let Some(v) = send {
            ws.send(Message::Text(v.to_string().into())).await.unwrap();
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        serde_json::from_str(frame.to_text().unwrap()).unwrap()
    };
    assert_eq!(exchange(None).await, json!({"server_id": "0"}));
    let connected = exchange(Some(
        json!({"msg": "connect", "version": "1", "support": ["1", "pre2"]}),
    ))
    .await;
    assert_eq!(connected["msg"], "connected");
    assert_eq!(
        exchange(Some(json!({"msg": "ping", "id": "a1"}))).await,
        json!({"msg": "pong", "id": "a1"})
    );
    let result = exchange(Some(
        json!({"msg": "method", "id": "2", "method": "login", "params": []}),
    ))
    .await;
    assert_eq!(result["id"], "2");
    assert_eq!(result["error"]["error"], 404);
}

/// canSendMessage.ts (validateRoomMessagePermissionsAsync): a read-only room lets post the
/// holders of `post-readonly` — global roles or room roles (owner, moderator) — and users
/// unmuted in it; a muted user may post in no room.
#[tokio::test]
async fn read_only_rooms_room_roles_unmuted_and_muted_users() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    for name in ["mod", "quiet", "loud"] {
        create_user(&admin, name, false).await;
    }
    let (s, b) = post(
        &sim.base,
        "/api/v1/channels.create",
        json!({"name": "news", "readOnly": true, "members": ["mod", "quiet", "loud"]}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let news = b["channel"]["_id"].as_str().unwrap().to_string();
    let post_as = |who: &'static str| {
        let base = sim.base.clone();
        let news = news.clone();
        async move {
            let session = login(&base, who, "pw-12345").await;
            post(
                &base,
                "/api/v1/chat.postMessage",
                json!({"roomId": news, "text": "hello"}),
                Some(&session),
            )
            .await
        }
    };
    let readonly =
        json!({"success": false, "error": "You can't send messages because the room is readonly."});
    assert_eq!(post_as("mod").await, (400, readonly.clone()));
    // A room role with `post-readonly`: moderator.
    let (s, b) = post(
        &sim.base,
        "/api/v1/channels.addModerator",
        json!({"roomId": news, "username": "mod"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = post(
        &sim.base,
        "/api/v1/channels.addModerator",
        json!({"roomId": news, "username": "mod"}),
        Some(&admin),
    )
    .await;
    assert_eq!(
        (s, b["errorType"].as_str()),
        (400, Some("error-user-already-moderator"))
    );
    assert_eq!(post_as("mod").await.0, 200);
    let mod_session = login(&sim.base, "mod", "pw-12345").await;
    let (_, b) = get(
        &sim.base,
        &format!("/api/v1/subscriptions.getOne?roomId={news}"),
        Some(&mod_session),
    )
    .await;
    assert_eq!(b["subscription"]["roles"], json!(["moderator"]));
    // Unmuted in the read-only room: may post without the permission.
    let (s, b) = post(
        &sim.base,
        "/api/v1/rooms.unmuteUser",
        json!({"roomId": news, "username": "loud"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = get(
        &sim.base,
        "/api/v1/channels.info?roomName=news",
        Some(&admin),
    )
    .await;
    assert_eq!(b["channel"]["unmuted"], json!(["loud"]));
    assert_eq!(post_as("loud").await.0, 200);
    // Muting in a read-only room takes the user off `unmuted` again.
    post(
        &sim.base,
        "/api/v1/rooms.muteUser",
        json!({"roomId": news, "username": "loud"}),
        Some(&admin),
    )
    .await;
    assert_eq!(post_as("loud").await, (400, readonly));
    // Muted in an ordinary room: may not post there.
    let (_, b) = post(
        &sim.base,
        "/api/v1/channels.create",
        json!({"name": "chat", "members": ["quiet"]}),
        Some(&admin),
    )
    .await;
    let chat = b["channel"]["_id"].as_str().unwrap().to_string();
    let (s, b) = post(
        &sim.base,
        "/api/v1/rooms.muteUser",
        json!({"roomId": chat, "username": "quiet"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = get(
        &sim.base,
        "/api/v1/channels.info?roomName=chat",
        Some(&admin),
    )
    .await;
    assert_eq!(b["channel"]["muted"], json!(["quiet"]));
    let quiet = login(&sim.base, "quiet", "pw-12345").await;
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.postMessage",
        json!({"roomId": chat, "text": "hi"}),
        Some(&quiet),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"success": false, "error": "You_have_been_muted"})
        )
    );
    // Only holders of `mute-user` may mute; only members can be muted.
    let (s, b) = post(
        &sim.base,
        "/api/v1/rooms.muteUser",
        json!({"roomId": chat, "username": "boss"}),
        Some(&quiet),
    )
    .await;
    assert_eq!(
        (s, b["errorType"].as_str()),
        (400, Some("error-not-allowed"))
    );
    let (s, b) = post(
        &sim.base,
        "/api/v1/rooms.muteUser",
        json!({"roomId": chat, "username": "mod"}),
        Some(&admin),
    )
    .await;
    assert_eq!(
        (s, b["errorType"].as_str()),
        (400, Some("error-user-not-in-room"))
    );
}

/// ApiClass.ts login route: once `applyBreakingChanges` holds, every failure is only
/// `unauthorized()`; `--break-in-version 8.0.0` makes an 8.0 server answer so.
#[tokio::test]
async fn login_failures_say_nothing_once_breaking_changes_apply() {
    let sim = spawn(
        &[
            "--no-rate-limit",
            "--version",
            "8.0.0",
            "--break-in-version",
            "8.0.0",
        ],
        &admin_env(),
    );
    wait_ready(&sim.base).await;
    let opaque = json!({"success": false, "error": "unauthorized"});
    for body in [
        json!({"user": "boss", "password": "wrong"}),
        json!({"user": "nobody", "password": "x"}),
    ] {
        assert_eq!(
            post(&sim.base, "/api/v1/login", body, None).await,
            (401, opaque.clone())
        );
    }
    // A user caught by email 2FA gets the same answer: no `totp-required` any more.
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "human", true).await;
    assert_eq!(
        post(
            &sim.base,
            "/api/v1/login",
            json!({"user": "human", "password": "pw-12345"}),
            None
        )
        .await,
        (401, opaque)
    );
    // The default (9.0.0) keeps the 8.x compatibility fields.
    let compat = spawn(&["--no-rate-limit", "--version", "8.0.0"], &admin_env());
    wait_ready(&compat.base).await;
    let (_, b) = post(
        &compat.base,
        "/api/v1/login",
        json!({"user": "boss", "password": "wrong"}),
        None,
    )
    .await;
    assert_eq!(b["error"], "Unauthorized");
}

#[tokio::test]
async fn send_message_with_own_id_read_back_delete_and_erase() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    create_user(&admin, "alice", false).await;
    create_user(&admin, "mallory", false).await;
    let (_, created) = post(
        &sim.base,
        "/api/v1/groups.create",
        json!({"name": "ops", "members": ["alice"]}),
        Some(&admin),
    )
    .await;
    let rid = created["group"]["_id"].as_str().unwrap().to_string();
    let alice = login(&sim.base, "alice", "pw-12345").await;
    let mallory = login(&sim.base, "mallory", "pw-12345").await;

    // chat.sendMessage keeps the caller's _id.
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.sendMessage",
        json!({"message": {"_id": "smokeMessageId001", "rid": rid, "msg": "hello"}}),
        Some(&alice),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"]["_id"], "smokeMessageId001");
    assert_eq!(b["message"]["u"]["username"], "alice");
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.sendMessage",
        json!({"message": {"rid": "nope", "msg": "x"}}),
        Some(&alice),
    )
    .await;
    assert_eq!((s, b["error"].clone()), (400, json!("error-invalid-room")));
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.sendMessage",
        json!({"message": {"rid": rid, "msg": "x"}}),
        Some(&mallory),
    )
    .await;
    assert_eq!((s, b["error"].clone()), (400, json!("error-not-allowed")));

    // chat.getMessage: members read it; others are not allowed; unknown ids fail bare.
    let (s, b) = get(
        &sim.base,
        "/api/v1/chat.getMessage?msgId=smokeMessageId001",
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"]["msg"], "hello");
    let (s, b) = get(
        &sim.base,
        "/api/v1/chat.getMessage?msgId=smokeMessageId001",
        Some(&mallory),
    )
    .await;
    assert_eq!(
        (s, b["errorType"].clone()),
        (400, json!("error-not-allowed"))
    );
    let (s, b) = get(
        &sim.base,
        "/api/v1/chat.getMessage?msgId=none",
        Some(&admin),
    )
    .await;
    assert_eq!((s, b), (400, json!({"success": false})));

    // chat.delete: the room id must match; others' messages need delete-message.
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.delete",
        json!({"roomId": "other", "msgId": "smokeMessageId001"}),
        Some(&admin),
    )
    .await;
    assert_eq!(
        (s, b["error"].clone()),
        (
            400,
            json!("The room id provided does not match where the message is from.")
        )
    );
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.delete",
        json!({"roomId": rid, "msgId": "smokeMessageId001"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["_id"], "smokeMessageId001");
    let (s, b) = post(
        &sim.base,
        "/api/v1/chat.delete",
        json!({"roomId": rid, "msgId": "smokeMessageId001"}),
        Some(&admin),
    )
    .await;
    assert_eq!(
        (s, b["error"].clone()),
        (
            400,
            json!("No message found with the id of \"smokeMessageId001\".")
        )
    );

    // groups.delete needs delete-p (admin, owner); the room is gone afterwards.
    let (s, _) = post(
        &sim.base,
        "/api/v1/groups.delete",
        json!({"roomId": rid}),
        Some(&alice),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = post(
        &sim.base,
        "/api/v1/groups.delete",
        json!({"roomName": "ops"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = get(&sim.base, "/api/v1/groups.info?roomName=ops", Some(&admin)).await;
    assert_eq!(b["errorType"], "error-room-not-found");
}

#[tokio::test]
async fn integrations_remove_makes_the_hook_unknown() {
    let sim = spawn(&["--no-rate-limit"], &admin_env());
    wait_ready(&sim.base).await;
    let admin = login(&sim.base, "boss", "s3cret-pass").await;
    post(
        &sim.base,
        "/api/v1/channels.create",
        json!({"name": "dev"}),
        Some(&admin),
    )
    .await;
    let (s, b) = post(
        &sim.base,
        "/api/v1/integrations.create",
        json!({"type": "webhook-incoming", "name": "ci", "enabled": true, "username": "boss", "channel": "#dev", "scriptEnabled": false}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let id = b["integration"]["_id"].as_str().unwrap().to_string();
    let token = b["integration"]["token"].as_str().unwrap().to_string();
    let hook = format!("/hooks/{id}/{token}");
    let (s, _) = post(&sim.base, &hook, json!({"text": "before"}), None).await;
    assert_eq!(s, 200);
    let (s, b) = post(
        &sim.base,
        "/api/v1/integrations.remove",
        json!({"type": "webhook-incoming", "integrationId": id}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["integration"]["_id"], id.as_str());
    let (s, b) = post(&sim.base, &hook, json!({"text": "after"}), None).await;
    assert_eq!(s, 404);
    assert_eq!(b["error"], "Invalid integration id or token provided.");
    let (s, b) = post(
        &sim.base,
        "/api/v1/integrations.remove",
        json!({"type": "webhook-incoming", "integrationId": id}),
        Some(&admin),
    )
    .await;
    assert_eq!(
        (s, b["error"].clone()),
        (400, json!("No integration found."))
    );
}

/// A login posted as a form: accepted by 7.5.1, refused with 401 Unauthorized by 7.6.0 while
/// JSON still works (RocketChat/Rocket.Chat#36073, jadolg/rocketchat_API#299).
#[tokio::test]
async fn a_form_login_is_refused_from_7_6() {
    let form = |base: String| async move {
        let r = client()
            .post(format!("{base}/api/v1/login"))
            .form(&[("user", "boss"), ("password", "s3cret-pass")])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let old = spawn(&["--no-rate-limit", "--version", "7.5.1"], &admin_env());
    wait_ready(&old.base).await;
    let (status, body) = form(old.base.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["authToken"].is_string(), "{body}");

    let new = spawn(&["--no-rate-limit", "--version", "7.6.0"], &admin_env());
    wait_ready(&new.base).await;
    assert_eq!(
        form(new.base.clone()).await,
        (
            401,
            json!({"success": false, "error": "Unauthorized", "status": "error", "message": "Unauthorized"})
        )
    );
    login(&new.base, "boss", "s3cret-pass").await;
}
