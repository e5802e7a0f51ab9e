//! `smoke` on the demo stack (`compose/demo/compose.yml`: the chat stack's shape on the MongoDB
//! and Rocket.Chat simulators) against the real Docker daemon: green as brought up, then red —
//! with the right step named — when the bot's password is wrong, when the hook is gone and
//! when the room was deleted. Its own project and image; everything removed on drop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use stackctl::rocketchat::client::Client;

use crate::support::docker::{Cleanup, demo_image, docker, static_binaries, unique};
use crate::support::{Output, stackctl};

/// The demo's default passwords (`${ADMIN_PASS:-bench-admin-pass}`...): they must never show.
pub(crate) const ADMIN_PASS: &str = "bench-admin-pass";
pub(crate) const BOT_PASS: &str = "bench-bot-pass";

pub(crate) struct Demo {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) name: String,
    pub(crate) image: String,
    _cleanup: Cleanup,
}

impl Demo {
    /// Builds the demo image and brings the demo stack up with `stackctl up`.
    pub(crate) fn up() -> Self {
        let mut cleanup = Cleanup::default();
        // The same image as `compose/demo/up.sh` builds (simulators, fixtures and node).
        let image = demo_image("stackctl-test-demo", &mut cleanup);
        let dir = tempfile::tempdir().unwrap();
        let demo = Self {
            dir,
            name: unique("stsmoke").replace('-', ""),
            image,
            _cleanup: cleanup,
        };
        demo.run(&[], "up", &["--timeout", "120s"]).code(0);
        demo
    }

    fn file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/demo/compose.yml")
    }

    /// `stackctl GLOBALS COMMAND -f FILE -p NAME REST`; no password may show in its output.
    pub(crate) fn run(&self, globals: &[&str], command: &str, rest: &[&str]) -> Output {
        let file = Self::file();
        let mut args: Vec<&str> = globals.to_vec();
        args.extend([command, "-f", file.to_str().unwrap(), "-p", &self.name]);
        args.extend(rest);
        let out = stackctl(args)
            .env("BENCH_IMAGE", &self.image)
            .env(
                "STACKCTL_PROBE_BINARY",
                static_binaries().join("stackctl").to_str().unwrap(),
            )
            .env("WRONG", "not-the-password")
            .output();
        for secret in [ADMIN_PASS, BOT_PASS, "/hooks/"] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a secret leaked: {out:#?}"
            );
        }
        out
    }

    /// Calls Rocket.Chat's API as the admin, from the host (the container's address).
    pub(crate) fn admin(&self, calls: &[(Method, &str, Option<Value>)]) -> Vec<Value> {
        admin_calls(&self.name, calls)
    }
}

/// Calls the Rocket.Chat of project `name` as the admin, from the host (the container's
/// address).
pub(crate) fn admin_calls(name: &str, calls: &[(Method, &str, Option<Value>)]) -> Vec<Value> {
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &format!("{name}-rocketchat-1"),
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = url::Url::parse(&format!("http://{ip}:3000")).unwrap();
        let client = Client::new(url, Duration::from_secs(10)).unwrap();
        let session = client.login("admin", ADMIN_PASS).await.unwrap();
        let mut out = Vec::new();
        for (method, path, body) in calls {
            let reply = client
                .call(method.clone(), path, Some(&session), body.clone(), &[])
                .await
                .unwrap_or_else(|e| panic!("{path}: {}", e.reason()));
            out.push(reply);
        }
        client.logout(&session).await;
        out
    })
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.run(&[], "down", &["-v", "--remove-orphans"]);
    }
}

/// The NDJSON step events of a `--json smoke` run, by step name.
fn steps(out: &Output) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn step<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "smoke_step" && e["name"] == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {events:#?}"))
}

#[test]
fn smoke_is_green_on_the_demo_stack_and_names_the_step_that_breaks() {
    let demo = Demo::up();

    // Green: every step passes or is skipped for a stated reason; JUnit for CI.
    let junit = demo.dir.path().join("smoke.xml");
    let green = demo.run(&["--json"], "smoke", &["--junit", junit.to_str().unwrap()]);
    green.code(0);
    let events = steps(&green);
    for name in [
        "service mongo",
        "service rocketchat",
        "service bot",
        "job mongo-init",
        "job rc-user",
        "job rc-room",
        "job rc-hook",
        "rocketchat api",
        "bot login",
        "bot room devops",
        "bot posts",
        "admin login",
        "admin reads back",
        "gitlab hook",
        "cleanup",
    ] {
        assert_eq!(
            step(&events, name)["status"],
            "passed",
            "{name}: {green:#?}"
        );
    }
    for name in ["front door", "front door websocket"] {
        let skipped = step(&events, name);
        assert_eq!(skipped["status"], "skipped");
        assert_eq!(skipped["detail"], "no nginx service");
    }
    assert!(
        step(&events, "gitlab hook")["detail"]
            .as_str()
            .unwrap()
            .contains("Pipeline [#"),
        "the pipeline event, rendered by integrations/gitlab.js: {green:#?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "smoke_finished");
    assert_eq!(
        (last["ok"].clone(), last["failed"].clone()),
        (json!(true), json!(0))
    );
    crate::catalog::xmllint(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), events.len() - 1, "{xml}");
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    assert!(
        xml.contains(r#"<testcase name="bot posts" classname="smoke.post""#),
        "{xml}"
    );
    // What it posted is gone again.
    let history = demo.admin(&[(
        Method::GET,
        "/api/v1/channels.history?roomName=devops&count=100",
        None,
    )]);
    assert!(
        !history[0].to_string().contains("stackctl smoke")
            && !history[0].to_string().contains("smoke-"),
        "the smoke test's messages were left behind: {:#}",
        history[0]
    );

    // A wrong bot password: the bot's login fails (with the fix); what needs it is skipped.
    let wrong = demo.run(
        &[],
        "smoke",
        &[
            "--bot-password-env",
            "WRONG",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    wrong.code(1);
    assert!(
        wrong
            .stdout
            .contains("FAIL bot login: `bot` cannot log in: unknown user or wrong password"),
        "{wrong:#?}"
    );
    assert!(
        wrong.stdout.contains("     hint: check the bot's password"),
        "{wrong:#?}"
    );
    assert!(
        wrong.stdout.contains("skip bot posts: needs `bot login`"),
        "{wrong:#?}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"failures="1""#), "{xml}");
    assert!(
        xml.contains(r#"<testcase name="bot login" classname="smoke.login""#)
            && xml.contains("<failure message=\"`bot` cannot log in"),
        "{xml}"
    );

    // The hook is gone (the integration was deleted): the hook step fails, the rest passes.
    let integrations = demo.admin(&[(Method::GET, "/api/v1/integrations.list", None)]);
    let id = integrations[0]["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "gitlab")
        .and_then(|i| i["_id"].as_str())
        .unwrap()
        .to_owned();
    demo.admin(&[(
        Method::POST,
        "/api/v1/integrations.remove",
        Some(json!({"type": "webhook-incoming", "integrationId": id})),
    )]);
    let no_hook = demo.run(&["--json"], "smoke", &[]);
    no_hook.code(1);
    let events = steps(&no_hook);
    let hook = step(&events, "gitlab hook");
    assert_eq!(hook["status"], "failed", "{no_hook:#?}");
    assert_eq!(
        hook["detail"],
        "the hook refused the event: Invalid integration id or token provided. (HTTP 404)"
    );
    assert!(
        hook["hint"]
            .as_str()
            .unwrap()
            .contains("run the webhook job again")
    );
    assert_eq!(step(&events, "admin reads back")["status"], "passed");
    assert_eq!(step(&events, "cleanup")["status"], "passed");

    // The room was deleted: the bot's room step fails and says how to recreate it.
    demo.admin(&[(
        Method::POST,
        "/api/v1/channels.delete",
        Some(json!({"roomName": "devops"})),
    )]);
    let no_room = demo.run(&[], "smoke", &[]);
    no_room.code(1);
    assert!(
        no_room.stdout.contains(
            "FAIL bot room devops: room `devops` does not exist (or `bot` may not see it)"
        ),
        "{no_room:#?}"
    );
    assert!(
        no_room
            .stdout
            .contains("hint: create it and invite the bot: `stackctl init rocketchat-room --name devops --member bot`"),
        "{no_room:#?}"
    );
    assert!(
        no_room
            .stdout
            .contains("skip bot posts: needs `bot room devops`"),
        "{no_room:#?}"
    );

    // Out of time: exit 3, naming what did not run.
    let late = demo.run(&[], "smoke", &["--timeout", "1ms"]);
    late.code(3);
    assert!(late.stdout.contains("TIME "), "{late:#?}");
}
