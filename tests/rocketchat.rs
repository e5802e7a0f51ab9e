//! Rocket.Chat checks and init jobs against the simulator (tests/rocketchat-sim), which answers
//! with Rocket.Chat's envelopes, status codes, error strings, boot phases, rate limiter and 2FA.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::process::Simulator;
use crate::support::{Output, closed_port, stackctl};

const ADMIN_PASS: &str = "Adm1n-S3cret-pw";
const BOT_PASS: &str = "B0t-S3cret-pw";

fn start(args: &[&str]) -> (Simulator, String) {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    let sim = Simulator::start_with_env(
        "rocketchat-sim",
        &all,
        &[
            ("ADMIN_USERNAME", "admin"),
            ("ADMIN_PASS", ADMIN_PASS),
            ("ADMIN_EMAIL", "admin@chat.example"),
        ],
    );
    let url = format!("http://{}", sim.addr);
    (sim, url)
}

/// `stackctl ARGS` with the passwords in the environment, asserting they never show.
fn run(args: &[&str]) -> Output {
    let out = stackctl(args)
        .env("ADMIN_PASS", ADMIN_PASS)
        .env("BOT_PASS", BOT_PASS)
        .env("WRONG", "not-it")
        .output();
    for secret in [ADMIN_PASS, BOT_PASS] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a password leaked: {out:#?}"
        );
    }
    out
}

fn admin_args<'a>(job: &'a str, url: &'a str) -> Vec<&'a str> {
    vec![
        "--quiet",
        "init",
        job,
        "--url",
        url,
        "--admin-password-env",
        "ADMIN_PASS",
    ]
}

fn make_bot(url: &str) {
    let mut args = admin_args("rocketchat-user", url);
    args.extend([
        "--name",
        "bot",
        "--password-env",
        "BOT_PASS",
        "--role",
        "bot",
    ]);
    run(&args).code(0);
}

fn make_room(url: &str, extra: &[&str]) -> Output {
    let mut args = admin_args("rocketchat-room", url);
    args.extend(["--name", "devops", "--member", "bot"]);
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn server_check_reports_refused_booting_html_and_ready() {
    let port = closed_port();
    let out = run(&[
        "check",
        "rocketchat",
        "--url",
        &format!("http://127.0.0.1:{port}"),
    ]);
    out.code(1);
    assert!(
        out.one_line().ends_with("unhealthy: connection refused"),
        "{out:#?}"
    );

    let (_sim, url) = start(&["--booting-for", "30s"]);
    let out = run(&["check", "rocketchat", "--url", &url]);
    out.code(1);
    assert!(
        out.one_line()
            .ends_with("unhealthy: HTTP 503 (still booting?)"),
        "{out:#?}"
    );

    let (_sim, url) = start(&["--booting-for", "30s", "--booting-response", "html"]);
    let out = run(&["check", "rocketchat", "--url", &url]);
    out.code(1);
    assert!(
        out.one_line()
            .contains("answers its HTML page, not the API"),
        "{out:#?}"
    );

    let (_sim, url) = start(&[]);
    let out = run(&["check", "rocketchat", "--url", &url]);
    out.code(0);
    assert!(
        out.one_line()
            .contains("healthy (Rocket.Chat 8.0, ready in "),
        "{out:#?}"
    );
}

#[test]
fn admin_job_waits_through_boot_and_explains_a_wrong_password() {
    let (_sim, url) = start(&["--refuse-for", "700ms", "--booting-for", "700ms"]);
    let out = run(&[
        "--json",
        "init",
        "rocketchat-admin",
        "--url",
        &url,
        "--password-env",
        "ADMIN_PASS",
    ]);
    out.code(0);
    assert!(
        out.stdout.contains("connection refused") && out.stdout.contains("HTTP 503"),
        "retried through both phases: {out:#?}"
    );
    let out = admin_job_with_a_wrong_password(&url);
    out.code(1);
    assert!(
        out.elapsed < Duration::from_secs(3),
        "a refusal is permanent: {:?}",
        out.elapsed
    );
    assert!(
        out.stderr
            .contains("`admin` cannot log in: unknown user or wrong password"),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains("hint: `ADMIN_USERNAME`/`ADMIN_PASS` create an admin only"),
        "{out:#?}"
    );
}

#[test]
fn user_job_creates_then_verifies_and_resets_only_when_asked() {
    let (_sim, url) = start(&["--no-rate-limit"]);
    let mut args = admin_args("rocketchat-user", &url);
    args.extend([
        "--name",
        "bot",
        "--password-env",
        "BOT_PASS",
        "--role",
        "bot",
    ]);
    let first = run(&args);
    first.code(0);
    assert_eq!(
        first.stdout,
        "user `bot`: created with roles bot\nuser `bot`: login verified\n"
    );
    let second = run(&args);
    second.code(0);
    assert_eq!(
        second.stdout,
        "user `bot`: already exists, login verified\n"
    );

    let mut wrong = admin_args("rocketchat-user", &url);
    wrong.extend(["--name", "bot", "--password-env", "WRONG"]);
    let out = run(&wrong);
    out.code(1);
    assert!(
        out.stderr
            .contains("exists but this password does not log it in"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("hint: pass `--reset-password`"),
        "{out:#?}"
    );
    wrong.push("--reset-password");
    let out = run(&wrong);
    out.code(0);
    assert!(
        out.stdout.contains("user `bot`: password reset"),
        "{out:#?}"
    );

    // The bot logs in: created `verified: false`, email 2FA does not catch it.
    run(&[
        "check",
        "rocketchat-login",
        "--url",
        &url,
        "--user",
        "bot",
        "--password-env",
        "WRONG",
    ])
    .code(0);
}

#[test]
fn login_check_names_email_two_factor_with_its_fix() {
    let (_sim, url) = start(&["--no-rate-limit"]);
    // A user created the way Rocket.Chat's defaults catch it: a verified email, auto opt-in on.
    let created = as_admin(
        &url,
        "/api/v1/users.create",
        &serde_json::json!({"username": "human", "name": "Human", "email": "human@chat.example", "password": "Hum4n-pw", "verified": true}),
    );
    assert_eq!(created["success"], true, "{created}");
    let out = stackctl([
        "check",
        "rocketchat-login",
        "--url",
        &url,
        "--user",
        "human",
        "--password-env",
        "HP",
    ])
    .env("HP", "Hum4n-pw")
    .output();
    out.code(1);
    assert!(
        out.one_line()
            .contains("needs a second factor (email 2FA; hint: create bots with `verified: false`"),
        "{out:#?}"
    );
    let out = stackctl([
        "check",
        "rocketchat-login",
        "--url",
        &url,
        "--user",
        "ghost",
        "--password-env",
        "HP",
    ])
    .env("HP", "x")
    .output();
    out.code(1);
    assert!(
        out.one_line()
            .contains("`ghost` cannot log in: unknown user or wrong password"),
        "{out:#?}"
    );
}

#[test]
fn room_job_and_the_diver_check() {
    let (_sim, url) = start(&["--no-rate-limit"]);
    make_bot(&url);
    let check = |room: &str, write: bool| {
        let mut args = vec![
            "check",
            "rocketchat-room",
            "--url",
            &url,
            "--user",
            "bot",
            "--password-env",
            "BOT_PASS",
            "--room",
            room,
        ];
        if write {
            args.push("--write");
        }
        run(&args)
    };
    let out = check("devops", false);
    out.code(1);
    assert!(
        out.one_line().contains("room `devops` does not exist"),
        "{out:#?}"
    );

    let first = make_room(&url, &[]);
    first.code(0);
    assert_eq!(
        first.stdout,
        "room `devops`: created as a channel\nroom `devops`: `bot` is a member\n"
    );
    let again = make_room(&url, &[]);
    again.code(0);
    assert_eq!(
        again.stdout,
        "room `devops`: already exists as a channel\nroom `devops`: `bot` is a member\n"
    );
    let out = check("devops", true);
    out.code(0);
    assert!(
        out.one_line()
            .contains("healthy (member of channel `devops`, may post in "),
        "{out:#?}"
    );

    // A read-only announcements room: the bot is a member but may not post there.
    let mut args = admin_args("rocketchat-room", &url);
    args.extend(["--name", "announcements", "--read-only", "--member", "bot"]);
    run(&args).code(0);
    check("announcements", false).code(0);
    let out = check("announcements", true);
    out.code(1);
    assert!(
        out.one_line()
            .contains("`announcements`: read-only, and `bot` lacks `post-readonly`"),
        "{out:#?}"
    );

    // A private group; asking for it as a public channel is refused.
    let mut args = admin_args("rocketchat-room", &url);
    args.extend(["--name", "ops-private", "--private", "--member", "bot"]);
    run(&args).code(0);
    check("ops-private", true).code(0);
    let mut args = admin_args("rocketchat-room", &url);
    args.extend(["--name", "ops-private"]);
    let out = run(&args);
    out.code(1);
    assert!(
        out.stderr
            .contains("exists as a private group, not a channel"),
        "{out:#?}"
    );
}

#[test]
fn webhook_job_writes_a_private_url_and_delivers_into_the_room() {
    let (_sim, url) = start(&["--no-rate-limit"]);
    make_bot(&url);
    make_room(&url, &[]).code(0);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("hook-url");
    let mut args = admin_args("rocketchat-webhook", &url);
    args.extend([
        "--name",
        "gitlab",
        "--room",
        "devops",
        "--as",
        "bot",
        "--output",
        output.to_str().unwrap(),
    ]);
    let first = run(&args);
    first.code(0);
    assert!(
        first
            .stdout
            .starts_with("webhook `gitlab`: created, posting to #devops as `bot`\n"),
        "{first:#?}"
    );
    let second = run(&args);
    second.code(0);
    assert!(
        second
            .stdout
            .starts_with("webhook `gitlab`: already exists\n"),
        "{second:#?}"
    );

    let mode = std::fs::metadata(&output).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let hook = std::fs::read_to_string(&output).unwrap().trim().to_owned();
    let token = hook.rsplit('/').next().unwrap().to_owned();
    for out in [&first, &second] {
        assert!(
            !out.stdout.contains(&token) && !out.stderr.contains(&token),
            "the token leaked: {out:#?}"
        );
    }
    // A recorded-looking GitLab pipeline event reaches the room through the hook.
    let posted = std::process::Command::new("curl")
        .args(["-fsS", "-H", "content-type: application/json", "-H", "x-gitlab-event: Pipeline Hook", "-d"])
        .arg(r#"{"object_kind":"pipeline","object_attributes":{"id":31,"status":"success","ref":"main"},"project":{"path_with_namespace":"ops/chat"},"user":{"name":"Ada"}}"#)
        .arg(&hook)
        .output()
        .unwrap();
    assert!(posted.status.success(), "{posted:?}");
    assert!(String::from_utf8_lossy(&posted.stdout).contains(r#""success":true"#));
}

#[test]
fn rate_limits_are_waited_out_not_hammered() {
    // Two logins per 2 s per route and address: the third job must wait for the reset.
    let (_sim, url) = start(&["--rate-limit-calls", "2", "--rate-limit-window", "2s"]);
    for _ in 0..2 {
        run(&[
            "--quiet",
            "init",
            "rocketchat-admin",
            "--url",
            &url,
            "--password-env",
            "ADMIN_PASS",
        ])
        .code(0);
    }
    let out = run(&[
        "--json",
        "init",
        "rocketchat-admin",
        "--url",
        &url,
        "--password-env",
        "ADMIN_PASS",
    ]);
    out.code(0);
    let retries: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "job_retry")
        .collect();
    assert!(
        !retries.is_empty() && retries.len() <= 2,
        "waited for the reset instead of hammering: {retries:#?}"
    );
    assert!(
        retries[0]["reason"]
            .as_str()
            .unwrap()
            .contains("rate limited (HTTP 429)"),
        "{retries:#?}"
    );
    assert!(
        retries[0]["retry_in_ms"].as_f64().unwrap() > 100.0,
        "{retries:#?}"
    );
}

#[test]
fn setup_survives_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("state.json");
    let data = data_path.to_str().unwrap();
    let port = closed_port().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let sim = Simulator::start_with_env(
        "rocketchat-sim",
        &["--port", &port, "--data-file", data, "--no-rate-limit"],
        &[("ADMIN_PASS", ADMIN_PASS)],
    );
    make_bot(&url);
    drop(sim);
    // Down now: the next job retries until the server is back.
    let data_owned = data.to_owned();
    let restarted = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        Simulator::start_with_env(
            "rocketchat-sim",
            &[
                "--port",
                &port,
                "--data-file",
                &data_owned,
                "--no-rate-limit",
                "--booting-for",
                "500ms",
            ],
            &[("ADMIN_PASS", ADMIN_PASS)],
        )
    });
    let out = make_room(&url, &["--timeout", "30s"]);
    let _sim = restarted.join().unwrap();
    out.code(0);
    let mut args = admin_args("rocketchat-user", &url);
    args.extend([
        "--name",
        "bot",
        "--password-env",
        "BOT_PASS",
        "--role",
        "bot",
    ]);
    let again = run(&args);
    again.code(0);
    assert_eq!(
        again.stdout, "user `bot`: already exists, login verified\n",
        "state survived the restart"
    );
}

#[test]
fn passwords_come_only_from_files_or_variables() {
    let out = stackctl([
        "check",
        "rocketchat-login",
        "--url",
        "http://127.0.0.1:1",
        "--user",
        "bot",
        "--password",
        "x",
    ])
    .output();
    out.code(1);
    assert!(
        out.stderr.contains("unexpected argument `--password`"),
        "{out:#?}"
    );
    let out = stackctl([
        "check",
        "rocketchat-login",
        "--url",
        "http://127.0.0.1:1",
        "--user",
        "bot",
        "--password-env",
        "UNSET_VAR",
    ])
    .output();
    out.code(1);
    assert_eq!(
        out.stderr.trim(),
        "error: environment variable `UNSET_VAR` is not set (hint: set it, or use `--password-file`)"
    );
}

#[test]
fn a_session_file_keeps_frequent_probes_under_the_login_rate_limit() {
    // Four logins a minute per route and address: not enough to log in on every probe.
    let (_sim, url) = start(&["--rate-limit-calls", "4", "--rate-limit-window", "60s"]);
    make_bot(&url);
    let reset = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "POST",
            &format!("{url}/_sim/reset-rate-limits"),
        ])
        .status()
        .unwrap();
    assert!(reset.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.session");
    let probe = |with_file: bool| {
        let mut args = vec![
            "check",
            "rocketchat-room",
            "--url",
            &url,
            "--user",
            "bot",
            "--password-env",
            "BOT_PASS",
            "--room",
            "general",
        ];
        if with_file {
            args.extend(["--session-file", file.to_str().unwrap()]);
        }
        run(&args)
    };
    // The first probe logs in and keeps the token; the next ones reuse it.
    for _ in 0..8 {
        let out = probe(true);
        assert!(!out.one_line().contains("rate limited"), "{out:#?}");
    }
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&file).unwrap();
    let token = token.lines().nth(1).unwrap();
    // Without the file every probe logs in, and the limiter soon says no.
    let outs: Vec<Output> = (0..4).map(|_| probe(false)).collect();
    assert!(
        outs.iter()
            .any(|o| o.code == Some(1) && o.stdout.contains("rate limited (HTTP 429)")),
        "{outs:#?}"
    );
    for out in &outs {
        assert!(!out.stdout.contains(token) && !out.stderr.contains(token));
    }
}

/// `init rocketchat-admin` with a password that is not the admin's; 30 s to spare.
fn admin_job_with_a_wrong_password(url: &str) -> Output {
    run(&[
        "init",
        "rocketchat-admin",
        "--url",
        url,
        "--password-env",
        "WRONG",
        "--timeout",
        "30s",
    ])
}

/// `POST` as the admin, through curl (the way an operator would fix a room by hand).
fn as_admin(url: &str, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let login = std::process::Command::new("curl")
        .args(["-fsS", "-H", "content-type: application/json", "-d"])
        .arg(format!(r#"{{"user":"admin","password":"{ADMIN_PASS}"}}"#))
        .arg(format!("{url}/api/v1/login"))
        .output()
        .unwrap();
    let login: serde_json::Value = serde_json::from_slice(&login.stdout).unwrap();
    let (uid, token) = (
        login["data"]["userId"].as_str().unwrap(),
        login["data"]["authToken"].as_str().unwrap(),
    );
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-H",
            "content-type: application/json",
            "-H",
            &format!("x-user-id: {uid}"),
            "-H",
            &format!("x-auth-token: {token}"),
            "-d",
        ])
        .arg(body.to_string())
        .arg(format!("{url}{path}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn room_id(url: &str, room: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-fsS", &format!("{url}/_sim/state")])
        .output()
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    state["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == room)
        .and_then(|r| r["_id"].as_str().or_else(|| r["id"].as_str()))
        .unwrap_or_else(|| panic!("no room {room} in {state}"))
        .to_owned()
}

#[test]
fn the_diver_knows_room_roles_unmuted_and_muted_users() {
    let (_sim, url) = start(&["--no-rate-limit"]);
    make_bot(&url);
    let write_check = |room: &str| {
        run(&[
            "check",
            "rocketchat-room",
            "--url",
            &url,
            "--user",
            "bot",
            "--password-env",
            "BOT_PASS",
            "--room",
            room,
            "--write",
        ])
    };
    for room in ["news", "alerts"] {
        let mut args = admin_args("rocketchat-room", &url);
        args.extend(["--name", room, "--read-only", "--member", "bot"]);
        run(&args).code(0);
        let out = write_check(room);
        out.code(1);
        assert!(
            out.one_line().contains(&format!(
                "`{room}`: read-only, and `bot` lacks `post-readonly` (roles: bot; in the room: none) and was not unmuted there"
            )),
            "{out:#?}"
        );
    }
    // What an operator does by hand, to the bot in a room.
    let to_bot = |path: &str, room: &str| {
        let body = serde_json::json!({"roomId": room_id(&url, room), "username": "bot"});
        let reply = as_admin(&url, path, &body);
        assert_eq!(reply["success"], true, "{path}: {reply}");
    };
    // A room role that holds `post-readonly`.
    to_bot("/api/v1/channels.addModerator", "news");
    let out = write_check("news");
    out.code(0);
    assert!(
        out.one_line()
            .contains("may post (`post-readonly` through its room role `moderator`)"),
        "{out:#?}"
    );
    // Unmuted in the read-only room.
    to_bot("/api/v1/rooms.unmuteUser", "alerts");
    let out = write_check("alerts");
    out.code(0);
    assert!(
        out.one_line().contains("may post (unmuted in the room)"),
        "{out:#?}"
    );
    // Muted in an ordinary channel: no posting there, though a member.
    make_room(&url, &[]).code(0);
    write_check("devops").code(0);
    to_bot("/api/v1/rooms.muteUser", "devops");
    let out = write_check("devops");
    out.code(1);
    assert!(
        out.one_line()
            .contains("`devops`: `bot` is muted there (hint: unmute it"),
        "{out:#?}"
    );
    // Membership alone is still healthy.
    let out = run(&[
        "check",
        "rocketchat-room",
        "--url",
        &url,
        "--user",
        "bot",
        "--password-env",
        "BOT_PASS",
        "--room",
        "devops",
    ]);
    out.code(0);
}

#[test]
fn a_server_that_no_longer_says_why_a_login_failed() {
    // An 8.0 server built with `shouldBreakInVersion('8.0.0')`: every refusal is `unauthorized`.
    let (_sim, url) = start(&[
        "--no-rate-limit",
        "--version",
        "8.0.0",
        "--break-in-version",
        "8.0.0",
    ]);
    make_bot(&url);
    let out = run(&[
        "check",
        "rocketchat-login",
        "--url",
        &url,
        "--user",
        "bot",
        "--password-env",
        "WRONG",
    ]);
    out.code(1);
    let line = out.one_line();
    assert!(
        line.contains("`bot` cannot log in, and the server does not say why")
            && line.contains(
                "hint: the likely causes are a wrong password or an unknown user, email 2FA"
            ),
        "{out:#?}"
    );
    // A job fails at once (exit 1), not after its timeout.
    let out = admin_job_with_a_wrong_password(&url);
    out.code(1);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    assert!(out.stderr.contains("does not say why"), "{out:#?}");
    // The user job: a wrong password can still be reset...
    let mut wrong = admin_args("rocketchat-user", &url);
    wrong.extend(["--name", "bot", "--password-env", "WRONG"]);
    let out = run(&wrong);
    out.code(1);
    assert!(
        out.stderr
            .contains("exists but cannot log in with this password")
            && out.stderr.contains("pass `--reset-password`"),
        "{out:#?}"
    );
    wrong.push("--reset-password");
    let out = run(&wrong);
    out.code(0);
    assert!(
        out.stdout.contains("user `bot`: password reset"),
        "{out:#?}"
    );
    // ...but when a reset does not help (email 2FA here), it stops instead of looping.
    let created = as_admin(
        &url,
        "/api/v1/users.create",
        &serde_json::json!({"username": "human", "name": "Human", "email": "human@chat.example", "password": "Hum4n-pw", "verified": true}),
    );
    assert_eq!(created["success"], true, "{created}");
    let mut human = admin_args("rocketchat-user", &url);
    human.extend([
        "--name",
        "human",
        "--password-env",
        "BOT_PASS",
        "--reset-password",
        "--timeout",
        "30s",
    ]);
    let out = run(&human);
    out.code(1);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    assert!(
        out.stderr.contains(
            "its password was reset, yet it still cannot log in, and the server does not say why"
        ),
        "{out:#?}"
    );
}

/// Waits (at most 30 s) until the server answers `/api/info`: with `--mongo-url` it announces
/// its port before it has found a primary and run its migrations.
fn ready((sim, url): (Simulator, String)) -> (Simulator, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ok = std::process::Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", &format!("{url}/api/info")])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return (sim, url);
        }
        assert!(std::time::Instant::now() < deadline, "{url} never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the Rocket.Chat simulator until it exits (a start-up that fails): its code and output.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(crate::support::process::built("rocketchat-sim"))
        .args(["--port", "0"])
        .args(args)
        .env("ADMIN_PASS", ADMIN_PASS)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The simulator's `/_sim/state`.
fn sim_state(url: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-fsS", &format!("{url}/_sim/state")])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `migrations` control document of `db`, read with the driver.
fn control(mongo: &str, db: &str) -> mongodb::bson::Document {
    find_one(
        mongo,
        db,
        "migrations",
        mongodb::bson::doc! {"_id": "control"},
    )
    .expect("a control document")
}

/// One document of `db.coll`, read with the driver.
fn find_one(
    mongo: &str,
    db: &str,
    coll: &str,
    filter: mongodb::bson::Document,
) -> Option<mongodb::bson::Document> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client =
            mongodb::Client::with_uri_str(format!("mongodb://{mongo}/?directConnection=true"))
                .await
                .unwrap();
        client
            .database(db)
            .collection::<mongodb::bson::Document>(coll)
            .find_one(filter)
            .await
            .unwrap()
    })
}

#[test]
fn state_lives_in_mongodb_and_the_migration_rules_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mongo = Simulator::start(
        "mongo-sim",
        &[
            "--port",
            "0",
            "--replSet",
            "rs0",
            "--election-delay",
            "100ms",
            "--dbpath",
            dir.path().to_str().unwrap(),
        ],
    );
    let member = mongo.addr.to_string();
    let uri = format!("mongodb://{member}");
    crate::mongo::init(&uri, "rs0", &member, &["--timeout", "20s"]).code(0);
    let url_of = |db: &str| format!("mongodb://{member}/{db}?replicaSet=rs0");
    let rocketchat = url_of("rocketchat");
    let rc_on = |version: &str, mongo_url: &str| {
        ready(start(&[
            "--no-rate-limit",
            "--version",
            version,
            "--mongo-url",
            mongo_url,
        ]))
    };
    let rc = |version: &str| rc_on(version, &rocketchat);

    // Posted on 7.x, kept in `rocketchat_message`, there again after a restart.
    let (sim, url) = rc("7.13.9");
    let posted = as_admin(
        &url,
        "/api/v1/chat.postMessage",
        &serde_json::json!({"channel": "#general", "text": "kept in mongo"}),
    );
    assert_eq!(posted["success"], true, "{posted}");
    let before = sim_state(&url);
    drop(sim);
    let control7 = control(&member, "rocketchat");
    assert_eq!(control7.get_i64("version"), Ok(318), "{control7}");
    assert_eq!(control7.get_bool("locked"), Ok(false), "{control7}");
    let stored = find_one(
        &member,
        "rocketchat",
        "rocketchat_message",
        mongodb::bson::doc! {"msg": "kept in mongo"},
    )
    .expect("the message is in rocketchat_message");
    assert_eq!(stored.get_str("rid"), Ok("GENERAL"), "{stored}");
    let (sim, url) = rc("7.13.9");
    let state = sim_state(&url);
    assert_eq!(state["messages"], before["messages"], "{state}");
    assert_eq!(state["users"], before["users"], "{state}");
    assert_eq!(state["rooms"], before["rooms"], "{state}");
    drop(sim);

    // 7 → 8 migrates; back to 7 cannot find its migration.
    drop(rc("8.5.1"));
    let (code, out) = run_to_exit(&["--version", "7.13.9", "--mongo-url", &rocketchat]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Error: Can't find migration version 335"),
        "{out}"
    );

    // 6 → 8 skips a major: UPGRADE NOT SUPPORTED, the lock left set.
    let skipped = url_of("skipped");
    drop(rc_on("6.5.8", &skipped));
    let (code, out) = run_to_exit(&["--version", "8.5.1", "--mongo-url", &skipped]);
    assert_eq!(code, Some(1), "{out}");
    for needle in [
        "ERROR! SERVER STOPPED",
        "Your database migration failed:",
        "UPGRADE NOT SUPPORTED!",
        "To be able to update to version 8.x.y you need to update to version 7.x first.",
    ] {
        assert!(out.contains(needle), "{needle}\n{out}");
    }
    assert_eq!(control(&member, "skipped").get_bool("locked"), Ok(true));

    // A planted failure stops at the last good step with the lock held; the same build then
    // waits on the lock and gives up.
    let planted = url_of("planted");
    drop(rc_on("6.5.8", &planted));
    let (code, out) = run_to_exit(&[
        "--version",
        "7.13.9",
        "--mongo-url",
        &planted,
        "--fail-migration",
        "310",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("planted failure in migration 310"), "{out}");
    let left = control(&member, "planted");
    assert_eq!(left.get_bool("locked"), Ok(true), "{left}");
    assert_eq!(left.get_i64("version"), Ok(309), "{left}");
    let (code, out) = run_to_exit(&[
        "--version",
        "7.13.9",
        "--mongo-url",
        &planted,
        "--migration-lock-attempts",
        "2",
        "--migration-lock-retry",
        "100ms",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Your database migration control is locked."),
        "{out}"
    );
}
