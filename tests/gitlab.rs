//! GitLab → Rocket.Chat end to end, on loopback: the Rocket.Chat simulator runs the real
//! integration script (compose/chat/integrations/gitlab.js, in node), the GitLab simulator
//! delivers its recorded events with GitLab's headers, and stackctl's init jobs wire the two.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::process::Simulator;
use crate::support::{Output, closed_port, stackctl};

const ADMIN_PASS: &str = "Adm1n-S3cret-pw";
const BOT_PASS: &str = "B0t-S3cret-pw";
const GITLAB_TOKEN: &str = "glpat-Adm1nT0ken-e2e";
const MAINTAINER_TOKEN: &str = "glpat-Ma1ntT0ken-e2e";
const DEVELOPER_TOKEN: &str = "glpat-D3vT0ken-e2e";
const HOOK_SECRET: &str = "h00k-S3cret-e2e";
const WRONG_SECRET: &str = "not-the-s3cret";
const SECRETS: &[&str] = &[
    ADMIN_PASS,
    BOT_PASS,
    GITLAB_TOKEN,
    MAINTAINER_TOKEN,
    DEVELOPER_TOKEN,
    HOOK_SECRET,
    WRONG_SECRET,
];

fn script_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compose/chat/integrations/gitlab.js")
        .display()
        .to_string()
}

/// `stackctl ARGS` with every secret in the environment, asserting none of them shows.
fn run(args: &[&str]) -> Output {
    let out = stackctl(args)
        .env("ADMIN_PASS", ADMIN_PASS)
        .env("BOT_PASS", BOT_PASS)
        .env("GITLAB_TOKEN", GITLAB_TOKEN)
        .env("MAINTAINER_TOKEN", MAINTAINER_TOKEN)
        .env("DEVELOPER_TOKEN", DEVELOPER_TOKEN)
        .env("HOOK_SECRET", HOOK_SECRET)
        .env("WRONG_SECRET", WRONG_SECRET)
        .output();
    for secret in SECRETS {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a secret leaked: {out:#?}"
        );
    }
    out
}

fn rocketchat() -> (Simulator, String) {
    // Rocket.Chat limits /hooks/… like every route unless it runs with TEST_MODE.
    let sim = Simulator::start_with_env(
        "rocketchat-sim",
        &["--port", "0", "--no-rate-limit"],
        &[("ADMIN_USERNAME", "admin"), ("ADMIN_PASS", ADMIN_PASS)],
    );
    let url = format!("http://{}", sim.addr);
    (sim, url)
}

fn gitlab(extra: &[&str]) -> (Simulator, String) {
    let admin = format!("root:admin:api:{GITLAB_TOKEN}");
    let maintainer = format!("maint:maintainer:api:{MAINTAINER_TOKEN}");
    let developer = format!("dev:developer:api:{DEVELOPER_TOKEN}");
    let mut args = vec![
        "--token",
        &admin,
        "--token",
        &maintainer,
        "--token",
        &developer,
        "--project",
        "ops/chat",
    ];
    args.extend_from_slice(extra);
    let sim = Simulator::start("gitlab-sim", &args);
    let url = format!("http://{}", sim.addr);
    (sim, url)
}

/// One HTTP request from the test itself: `(status, JSON body or Null)`.
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .no_proxy()
            .build()
            .expect("client");
        let mut request = client.request(method.parse().expect("method"), url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

/// A Rocket.Chat session: `[("X-User-Id", …), ("X-Auth-Token", …)]`.
fn login(rc: &str, user: &str, password: &str) -> Vec<(String, String)> {
    let (status, reply) = http(
        "POST",
        &format!("{rc}/api/v1/login"),
        &[],
        Some(&json!({"user": user, "password": password})),
    );
    assert_eq!(status, 200, "{reply}");
    vec![
        (
            "X-User-Id".to_owned(),
            reply["data"]["userId"].as_str().unwrap().to_owned(),
        ),
        (
            "X-Auth-Token".to_owned(),
            reply["data"]["authToken"].as_str().unwrap().to_owned(),
        ),
    ]
}

fn as_headers(session: &[(String, String)]) -> Vec<(&str, &str)> {
    session
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The room's messages, newest first, read through the API as the bot.
fn history(rc: &str, bot: &[(String, String)]) -> Vec<Value> {
    let (status, reply) = http(
        "GET",
        &format!("{rc}/api/v1/channels.history?roomName=devops&count=100"),
        &as_headers(bot),
        None,
    );
    assert_eq!(status, 200, "{reply}");
    reply["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.get("t").is_none())
        .cloned()
        .collect()
}

/// `POST /projects/1/hooks/:hook/test/:trigger` as GitLab's admin.
fn trigger(gl: &str, hook: u64, what: &str) -> (u16, Value) {
    http(
        "POST",
        &format!("{gl}/api/v4/projects/ops%2Fchat/hooks/{hook}/test/{what}"),
        &[("PRIVATE-TOKEN", GITLAB_TOKEN)],
        None,
    )
}

fn snapshot(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/gitlab-script/snapshots")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("snapshot")).expect("JSON")
}

fn rc_job<'a>(job: &'a str, rc: &'a str) -> Vec<&'a str> {
    vec![
        "--quiet",
        "init",
        job,
        "--url",
        rc,
        "--admin-password-env",
        "ADMIN_PASS",
    ]
}

#[test]
fn every_gitlab_event_reaches_the_room_through_the_real_script() {
    let started = Instant::now();
    let (_rc_sim, rc) = rocketchat();
    let dir = tempfile::tempdir().unwrap();
    let hook_file = dir.path().join("gitlab-hook");
    let hook_path = hook_file.to_str().unwrap();
    let script = script_path();

    let mut user = rc_job("rocketchat-user", &rc);
    user.extend([
        "--name",
        "bot",
        "--password-env",
        "BOT_PASS",
        "--role",
        "bot",
    ]);
    run(&user).code(0);
    let mut room = rc_job("rocketchat-room", &rc);
    room.extend(["--name", "devops", "--member", "bot"]);
    run(&room).code(0);

    let mut rc_hook = rc_job("rocketchat-webhook", &rc);
    rc_hook.extend([
        "--name",
        "gitlab",
        "--room",
        "devops",
        "--as",
        "bot",
        "--script",
        &script,
        "--gitlab-token-env",
        "HOOK_SECRET",
        "--output",
        hook_path,
    ]);
    let first = run(&rc_hook);
    first.code(0);
    assert_eq!(
        first.stdout,
        format!(
            "webhook `gitlab`: created, posting to #devops as `bot` with script `gitlab.js`\n\
             webhook `gitlab`: hook URL written to `{hook_path}` (mode 0600)\n"
        )
    );
    let hook_url = std::fs::read_to_string(&hook_file)
        .unwrap()
        .trim()
        .to_owned();
    let hook_token = hook_url.rsplit('/').next().unwrap().to_owned();

    // GitLab boots: unhealthy until `/-/readiness` says ready.
    let (_gl_sim, gl) = gitlab(&["--booting-for", "3s"]);
    let out = run(&["check", "gitlab", "--url", &gl]);
    out.code(1);
    assert!(
        out.one_line().contains(
            "unhealthy: not ready yet: `/-/readiness` answers 503: `master_check` failed"
        ),
        "{out:#?}"
    );

    // Runs while GitLab still boots: retried through the 502s, then the loopback target is
    // refused until local requests are allowed.
    let gl_hook = [
        "init",
        "gitlab-webhook",
        "--url",
        &gl,
        "--token-env",
        "GITLAB_TOKEN",
        "--project",
        "ops/chat",
        "--target-file",
        hook_path,
        "--secret-env",
        "HOOK_SECRET",
        "--events",
        "push,tag_push,merge_requests,pipeline,issues,note,confidential_issues,confidential_note",
    ];
    let mut json_run = vec!["--json"];
    json_run.extend_from_slice(&gl_hook);
    let out = run(&json_run);
    out.code(0);
    assert!(
        out.stdout.contains("GitLab is still starting?"),
        "retried while GitLab booted: {out:#?}"
    );
    let mut quiet = vec!["--quiet"];
    quiet.extend_from_slice(&gl_hook);
    let shown = format!("{rc}/hooks/***");
    for out in [&first, &out] {
        assert!(!out.stdout.contains(&hook_token) && !out.stderr.contains(&hook_token));
    }

    let out = run(&["check", "gitlab", "--url", &gl]);
    out.code(0);
    assert!(
        out.one_line().contains("healthy (`/-/readiness` ok in "),
        "{out:#?}"
    );

    // Second runs change nothing.
    let again = run(&rc_hook);
    again.code(0);
    assert_eq!(
        again.stdout,
        format!(
            "webhook `gitlab`: already exists; script `gitlab.js` unchanged\n\
             webhook `gitlab`: hook URL written to `{hook_path}` (mode 0600)\n"
        )
    );
    let again = run(&quiet);
    again.code(0);
    assert_eq!(
        again.stdout,
        format!("gitlab hook #1 on `ops/chat`: already up to date → {shown}\n")
    );
    assert_eq!(
        std::fs::read_to_string(&hook_file).unwrap().trim(),
        hook_url
    );

    let bot = login(&rc, "bot", BOT_PASS);
    let before = history(&rc, &bot).len();
    let events = [
        ("push_events", "push.json", "Push Hook"),
        ("tag_push_events", "tag-push.json", "Tag Push Hook"),
        (
            "merge_requests_events",
            "merge-request-open.json",
            "Merge Request Hook",
        ),
        ("pipeline_events", "pipeline-success.json", "Pipeline Hook"),
        ("issues_events", "issue-open.json", "Issue Hook"),
    ];
    let check_last = |snap: &str| {
        let messages = history(&rc, &bot);
        let expected = snapshot(snap);
        let last = &messages[0];
        assert_eq!(last["msg"], expected["text"], "{snap}");
        assert_eq!(last["attachments"], expected["attachments"], "{snap}");
        assert_eq!(last["u"]["username"], "bot");
        messages.len()
    };
    for (what, snap, _) in events {
        assert_eq!(
            trigger(&gl, 1, what),
            (201, json!({"message": "201 Created"})),
            "{what}"
        );
        check_last(snap);
    }
    // Five test deliveries a minute per project and user (GitLab 17.1+)...
    let (status, reply) = trigger(&gl, 1, "note_events");
    assert_eq!(
        (status, reply),
        (
            429,
            json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}})
        )
    );
    // ...unless an administrator turns the limit's feature flag off.
    let (status, _) = http(
        "POST",
        &format!("{gl}/api/v4/features/web_hook_test_api_endpoint_rate_limit"),
        &[("PRIVATE-TOKEN", GITLAB_TOKEN)],
        Some(&json!({"value": false})),
    );
    assert_eq!(status, 201);
    for (what, snap) in [
        ("note_events", "note-merge-request.json"),
        ("confidential_issues_events", "confidential-issue.json"),
        ("confidential_note_events", "confidential-note.json"),
    ] {
        assert_eq!(trigger(&gl, 1, what).0, 201, "{what}");
        check_last(snap);
    }
    assert_eq!(history(&rc, &bot).len(), before + 8);

    // GitLab's delivery headers, as its hook event log shows them.
    let (status, log) = http(
        "GET",
        &format!("{gl}/api/v4/projects/ops%2Fchat/hooks/1/events"),
        &[("PRIVATE-TOKEN", GITLAB_TOKEN)],
        None,
    );
    assert_eq!(status, 200);
    let push = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["trigger"] == "push_hooks")
        .expect("the push delivery is logged");
    let headers = &push["request_headers"];
    assert_eq!(headers["X-Gitlab-Event"], "Push Hook");
    assert_eq!(headers["X-Gitlab-Token"], "[REDACTED]");
    assert_eq!(headers["User-Agent"], "GitLab/18.0.0");
    assert_eq!(headers["X-Gitlab-Instance"], gl.as_str());
    assert_eq!(headers["Content-Type"], "application/json");
    for uuid in [
        "Idempotency-Key",
        "X-Gitlab-Webhook-UUID",
        "X-Gitlab-Event-UUID",
    ] {
        assert_eq!(headers[uuid].as_str().unwrap().len(), 36, "{uuid}");
    }
    assert_eq!(push["response_status"], "200");
    assert_eq!(push["response_body"], r#"{"success":true}"#);

    // A wrong secret token: the script refuses, GitLab reports the failed delivery, nothing is
    // posted. The changed secret updates the hook in place.
    let mut wrong = quiet.clone();
    let at = wrong.iter().position(|a| *a == "HOOK_SECRET").unwrap();
    wrong[at] = "WRONG_SECRET";
    let out = run(&wrong);
    out.code(0);
    assert_eq!(
        out.stdout,
        format!("gitlab hook #1 on `ops/chat`: updated (secret token) → {shown}\n")
    );
    let count = history(&rc, &bot).len();
    let (status, reply) = trigger(&gl, 1, "push_events");
    assert_eq!(status, 422, "{reply}");
    assert_eq!(
        serde_json::from_str::<Value>(reply["message"].as_str().unwrap()).unwrap(),
        json!({"success": false, "message": "X-Gitlab-Token is missing or wrong"})
    );
    assert_eq!(history(&rc, &bot).len(), count, "nothing posted");
    run(&quiet).code(0);

    // A changed script is updated in place (still one integration, same URL) and used at once.
    let mut changed = rc_hook.clone();
    changed.extend(["--script-set", "max-commits=1"]);
    let out = run(&changed);
    out.code(0);
    assert!(
        out.stdout
            .starts_with("webhook `gitlab`: updated (script)\nwebhook `gitlab`: hook URL written"),
        "{out:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(&hook_file).unwrap().trim(),
        hook_url
    );
    let admin = login(&rc, "admin", ADMIN_PASS);
    let (_, list) = http(
        "GET",
        &format!("{rc}/api/v1/integrations.list"),
        &as_headers(&admin),
        None,
    );
    assert_eq!(list["total"], 1, "updated, not duplicated");
    assert_eq!(trigger(&gl, 1, "push_events").0, 201);
    let latest = &history(&rc, &bot)[0];
    assert_eq!(
        latest["attachments"][0]["text"],
        "[da156088](http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7) fixed readme — GitLab dev user\n… and 3 earlier commits"
    );
    let (_, hooks) = http(
        "GET",
        &format!("{gl}/api/v4/projects/ops%2Fchat/hooks"),
        &[("PRIVATE-TOKEN", GITLAB_TOKEN)],
        None,
    );
    assert_eq!(hooks.as_array().unwrap().len(), 1, "one GitLab hook");
    eprintln!(
        "gitlab end to end: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_first_gitlab_webhook_run_allows_local_requests_and_says_so() {
    let (_rc_sim, rc) = rocketchat();
    let (_gl_sim, gl) = gitlab(&[]);
    let dir = tempfile::tempdir().unwrap();
    let hook_file = dir.path().join("hook");
    std::fs::write(&hook_file, format!("{rc}/hooks/abc/def\n")).unwrap();
    let job = |token: &str| {
        run(&[
            "--quiet",
            "init",
            "gitlab-webhook",
            "--url",
            &gl,
            "--token-env",
            token,
            "--project",
            "ops/chat",
            "--target-file",
            hook_file.to_str().unwrap(),
            "--timeout",
            "30s",
        ])
    };
    // A maintainer may create hooks but not change instance settings.
    let out = job("MAINTAINER_TOKEN");
    out.code(1);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    assert!(
        out.stderr.contains(
            "GitLab refuses the hook URL: `127.0.0.1` is loopback and requests to the local network are not allowed"
        ),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains("hint: run once with an administrator's token"),
        "{out:#?}"
    );
    let out = job("GITLAB_TOKEN");
    out.code(0);
    assert_eq!(
        out.stdout,
        format!(
            "gitlab: allowed webhooks to reach the local network (`allow_local_requests_from_web_hooks_and_services`), since the hook URL's host `127.0.0.1` is loopback\n\
             gitlab hook #1 on `ops/chat`: created → {rc}/hooks/*** (push, tag_push, merge_requests, pipeline, issues, note, confidential_issues, confidential_note)\n"
        )
    );
    // Now the maintainer's run finds it up to date.
    let out = job("MAINTAINER_TOKEN");
    out.code(0);
    assert_eq!(
        out.stdout,
        format!("gitlab hook #1 on `ops/chat`: already up to date → {rc}/hooks/***\n")
    );
}

#[test]
fn gitlab_webhook_refusals_fail_at_once_with_a_hint() {
    let (_gl_sim, gl) = gitlab(&["--allow-local-requests"]);
    let dir = tempfile::tempdir().unwrap();
    let hook_file = dir.path().join("hook");
    std::fs::write(&hook_file, "http://127.0.0.1:1/hooks/abc/def\n").unwrap();
    let job = |token_env: &str, project: &str| {
        let out = stackctl([
            "init",
            "gitlab-webhook",
            "--url",
            &gl,
            "--token-env",
            token_env,
            "--project",
            project,
            "--target-file",
            hook_file.to_str().unwrap(),
            "--timeout",
            "30s",
        ])
        .env("GITLAB_TOKEN", GITLAB_TOKEN)
        .env("DEVELOPER_TOKEN", DEVELOPER_TOKEN)
        .env("BAD", "glpat-not-a-token")
        .output();
        out.code(1);
        assert!(out.elapsed < Duration::from_secs(5), "{out:#?}");
        out.stderr
    };
    let stderr = job("BAD", "ops/chat");
    assert!(
        stderr.contains("project `ops/chat`: 401 Unauthorized (HTTP 401)")
            && stderr.contains("hint: give a personal access token with the `api` scope"),
        "{stderr}"
    );
    let stderr = job("GITLAB_TOKEN", "ops/nope");
    assert!(
        stderr.contains("project `ops/nope`: 404 Project Not Found (HTTP 404)")
            && stderr.contains("hint: give the project as in its URL (`group/project`)"),
        "{stderr}"
    );
    let stderr = job("DEVELOPER_TOKEN", "ops/chat");
    assert!(
        stderr.contains("hooks of `ops/chat`: 403 Forbidden (HTTP 403)")
            && stderr.contains("hint: the token's user needs the Maintainer role on `ops/chat`"),
        "{stderr}"
    );
    assert!(!stderr.contains("abc/def"), "the hook URL is a secret");

    let out = stackctl([
        "init",
        "gitlab-webhook",
        "--url",
        &gl,
        "--token-env",
        "GITLAB_TOKEN",
        "--project",
        "ops/chat",
        "--target-file",
        "/nonexistent/hook",
    ])
    .env("GITLAB_TOKEN", GITLAB_TOKEN)
    .output();
    out.code(2);
    assert!(
        out.stderr.contains("cannot read the hook URL file")
            && out
                .stderr
                .contains("hint: `init rocketchat-webhook --output FILE` writes it"),
        "{out:#?}"
    );
}

#[test]
fn check_gitlab_explains_the_monitoring_allowlist() {
    let (_gl_sim, gl) = gitlab(&["--monitoring-whitelist", "10.0.0.0/8"]);
    let out = run(&["check", "gitlab", "--url", &gl]);
    out.code(1);
    assert_eq!(
        out.one_line(),
        format!(
            "gitlab {gl}/: unhealthy: `/-/health` answers an empty 404: this address is not in GitLab's `monitoring_whitelist` (hint: add it, or its network, to `gitlab_rails['monitoring_whitelist']` in `GITLAB_OMNIBUS_CONFIG`)"
        )
    );
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let out = run(&["check", "gitlab", "--url", &closed]);
    out.code(1);
    assert!(
        out.one_line().ends_with("unhealthy: connection refused"),
        "{out:#?}"
    );
}

#[test]
fn script_settings_need_their_markers_and_keep_secrets_off_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plain.js");
    std::fs::write(&script, "class Script { process_incoming_request() {} }\n").unwrap();
    let base = |extra: &[&str]| {
        let mut args = vec![
            "init",
            "rocketchat-webhook",
            "--url",
            "http://127.0.0.1:1",
            "--admin-password-env",
            "ADMIN_PASS",
            "--name",
            "gitlab",
            "--room",
            "devops",
            "--as",
            "bot",
            "--output",
            "/dev/null",
            "--script",
            script.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = base(&["--gitlab-token-env", "HOOK_SECRET"]);
    out.code(2);
    assert!(
        out.stderr.contains(
            "error: `plain.js` has no line marked `// stackctl:gitlab-token`; expected one"
        ),
        "{out:#?}"
    );
    let out = base(&["--script-set", "gitlab-token=x"]);
    out.code(2);
    assert!(
        out.stderr
            .contains("hint: use `--gitlab-token-env VAR` or `--gitlab-token-file FILE`"),
        "{out:#?}"
    );
    // `--script-file` is still understood.
    let out = stackctl(["init", "rocketchat-webhook", "--help"]).output();
    assert!(out.stdout.contains("--script <FILE>") && out.stdout.contains("script-file"));
}

#[test]
fn script_settings_are_written_as_the_harness_writes_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(script_path()).unwrap();
    let node = |program: &str, input: &str, arg: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new("node")
            .args(["-e", program, arg])
            .current_dir(root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let token = "q\"uote \\ back\nline </script> \' `${tick}`";
    let settings = vec![
        ("gitlab-token".to_owned(), json!(token)),
        ("show-confidential".to_owned(), json!(true)),
        ("max-commits".to_owned(), json!(12)),
    ];
    let ours = stackctl::rocketchat::script::configure(&source, &settings, "gitlab.js").unwrap();
    let reference = node(
        "const { configure } = require('./tests/gitlab-script/harness.js');\n\
         process.stdout.write(configure(require('fs').readFileSync(0, 'utf8'), Object.fromEntries(JSON.parse(process.argv[1]))));",
        &source,
        &serde_json::to_string(&settings).unwrap(),
    );
    assert_eq!(ours, reference, "same text as harness.js configure()");

    // Line separators are escaped (the harness would write them raw); the script still reads
    // the same token: a request carrying it is accepted, another is refused.
    let token = "sep\u{2028}ara\u{2029}tors";
    let ours = stackctl::rocketchat::script::configure(
        &source,
        &[("gitlab-token".to_owned(), json!(token))],
        "gitlab.js",
    )
    .unwrap();
    let verdict = node(
        "const h = require('./tests/gitlab-script/harness.js');\n\
         const script = h.load(require('fs').readFileSync(0, 'utf8'), { strict: true });\n\
         const ask = (t) => script.call(h.hookRequest({ headers: { 'X-Gitlab-Token': t, 'X-Gitlab-Event': 'Push Hook' }, content: {} }));\n\
         Promise.all([ask(process.argv[1]), ask('other')]).then(([a, b]) => process.stdout.write(JSON.stringify([!a.error, !b.error])));",
        &ours,
        token,
    );
    assert_eq!(verdict, "[true,false]");
}
