//! Real HTTP against the simulator binary on 127.0.0.1: the rules the end-to-end test
//! (tests/gitlab.rs in the workspace root) does not exercise.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const ROOT: &str = "glpat-root";
const READER: &str = "glpat-reader";

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

fn spawn(args: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitlab-sim"))
        .args([
            "--token",
            &format!("root:admin:api:{ROOT}"),
            "--token",
            &format!("reader:maintainer:read_api:{READER}"),
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gitlab-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("gitlab-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Sim {
        child,
        base: format!("http://{addr}"),
    }
}

async fn call(
    method: &str,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut rb = client.request(method.parse().unwrap(), &url);
    if let Some(t) = token {
        rb = rb.header("PRIVATE-TOKEN", t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[tokio::test]
async fn boot_phases_and_the_monitoring_allowlist() {
    let sim = spawn(&[
        "--refuse-for",
        "600ms",
        "--bad-gateway-for",
        "600ms",
        "--booting-for",
        "600ms",
    ]);
    let get = |path: &str| call("GET", format!("{}{path}", sim.base), None, None);
    let err = reqwest::get(format!("{}/-/health", sim.base)).await;
    assert!(err.is_err_and(|e| e.is_connect()), "refused first");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, ctype, body) = get("/-/readiness").await;
    assert_eq!((status, ctype.as_str()), (502, "text/html; charset=utf-8"));
    assert!(body.contains("GitLab is not responding"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, _, body) = get("/-/readiness").await;
    assert_eq!(status, 503);
    assert_eq!(
        json_of(&body),
        json!({"status": "failed", "master_check": [{"status": "failed", "message": "unexpected Master check result: false"}]})
    );
    assert_eq!(get("/-/health").await.2, "GitLab OK");
    assert_eq!(get("/api/v4/version").await.0, 502);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        json_of(&get("/-/readiness").await.2),
        json!({"status": "ok", "master_check": [{"status": "ok"}]})
    );
    assert_eq!(
        json_of(&get("/-/liveness").await.2),
        json!({"status": "ok"})
    );

    let hidden = spawn(&["--monitoring-whitelist", "10.0.0.0/8,192.168.1.7"]);
    let get = |path: &str| call("GET", format!("{}{path}", hidden.base), None, None);
    assert_eq!(
        get("/-/health").await,
        (404, "text/plain; charset=utf-8".into(), String::new())
    );
    let (status, ctype, _) = get("/-/readiness").await;
    assert_eq!((status, ctype.as_str()), (404, "text/html; charset=utf-8"));
}

#[tokio::test]
async fn tokens_hooks_and_deliveries() {
    let sim = spawn(&[]);
    let api = |p: &str| format!("{}/api/v4{p}", sim.base);
    // A private project: no token 404, a wrong token 401.
    let (s, _, b) = call("GET", api("/projects/ops%2Fchat"), None, None).await;
    assert_eq!(
        (s, json_of(&b)),
        (404, json!({"message": "404 Project Not Found"}))
    );
    let (s, _, b) = call("GET", api("/projects/1"), Some("nope"), None).await;
    assert_eq!(
        (s, json_of(&b)),
        (401, json!({"message": "401 Unauthorized"}))
    );
    // read_api reads, may not write.
    assert_eq!(
        call("GET", api("/projects/ops%2Fchat/hooks"), Some(READER), None)
            .await
            .0,
        200
    );
    let (s, _, b) = call(
        "POST",
        api("/projects/1/hooks"),
        Some(READER),
        Some(json!({"url": "http://93.184.216.34/x"})),
    )
    .await;
    assert_eq!(
        (s, json_of(&b)["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    // Parameters.
    let (s, _, b) = call(
        "POST",
        api("/projects/1/hooks"),
        Some(ROOT),
        Some(json!({"push_events": true})),
    )
    .await;
    assert_eq!((s, json_of(&b)), (400, json!({"error": "url is missing"})));
    let (s, _, b) = call(
        "POST",
        api("/projects/1/hooks"),
        Some(ROOT),
        Some(json!({"url": "ftp://example.com/x"})),
    )
    .await;
    assert_eq!(
        (s, json_of(&b)),
        (422, json!({"message": "Invalid url given"}))
    );
    // Loopback refused until the setting is on.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "token": "t0ken", "name": "n", "issues_events": "true"});
    assert_eq!(
        call(
            "POST",
            api("/projects/1/hooks"),
            Some(ROOT),
            Some(hook.clone())
        )
        .await
        .0,
        422
    );
    assert_eq!(
        call(
            "PUT",
            api("/application/settings"),
            Some(READER),
            Some(json!({"allow_local_requests_from_web_hooks_and_services": true}))
        )
        .await
        .0,
        403
    );
    let (s, _, b) = call(
        "PUT",
        api("/application/settings"),
        Some(ROOT),
        Some(json!({"allow_local_requests_from_web_hooks_and_services": true, "unknown": 1})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        json_of(&b)["allow_local_requests_from_web_hooks_and_services"],
        true
    );
    let (s, _, b) = call("POST", api("/projects/1/hooks"), Some(ROOT), Some(hook)).await;
    assert_eq!(s, 201, "{b}");
    let created = json_of(&b);
    assert_eq!(
        (
            created["id"].as_u64(),
            created["push_events"].as_bool(),
            created["issues_events"].as_bool()
        ),
        (Some(1), Some(true), Some(true))
    );
    assert!(created.get("token").is_none(), "the token is never shown");
    // PUT: url required; a new URL without a token drops the token.
    let (s, _, b) = call(
        "PUT",
        api("/projects/1/hooks/1"),
        Some(ROOT),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!((s, json_of(&b)), (400, json!({"error": "url is missing"})));
    let state = || async {
        json_of(
            &call("GET", format!("{}/_sim/state", sim.base), None, None)
                .await
                .2,
        )
    };
    assert_eq!(state().await["hooks"][0]["token_set"], true);
    call(
        "PUT",
        api("/projects/1/hooks/1"),
        Some(ROOT),
        Some(json!({"url": "http://127.0.0.1:9/other"})),
    )
    .await;
    assert_eq!(state().await["hooks"][0]["token_set"], false);
    assert_eq!(
        call("GET", api("/projects/1/hooks/7"), Some(ROOT), None)
            .await
            .0,
        404
    );
    // Test deliveries: unknown trigger, no sample data, refused connection, blocked URL.
    let test = |t: &str| {
        call(
            "POST",
            api(&format!("/projects/1/hooks/1/test/{t}")),
            Some(ROOT),
            None,
        )
    };
    let (s, _, b) = test("bogus_events").await;
    assert_eq!(
        (s, json_of(&b)),
        (400, json!({"error": "trigger does not have a valid value"}))
    );
    let (s, _, b) = test("job_events").await;
    assert_eq!(
        (s, json_of(&b)),
        (422, json!({"message": "Ensure the project has CI jobs."}))
    );
    let (s, _, b) = test("push_events").await;
    assert_eq!(s, 422);
    assert_eq!(
        json_of(&b)["message"],
        "Failed to open TCP connection to 127.0.0.1:9 (Connection refused - connect(2) for \"127.0.0.1\" port 9)"
    );
    call(
        "PUT",
        api("/application/settings"),
        Some(ROOT),
        Some(json!({"allow_local_requests_from_web_hooks_and_services": false})),
    )
    .await;
    let (s, _, b) = test("tag_push_events").await;
    assert_eq!(
        (s, json_of(&b)),
        (
            422,
            json!({"message": "URL is blocked: Requests to localhost are not allowed"})
        )
    );
    // Five a minute: `job_events`, `push_events`, `tag_push_events` counted (the invalid trigger
    // did not reach the limit), two more pass, the sixth is refused.
    assert_eq!(test("issues_events").await.0, 422);
    assert_eq!(test("issues_events").await.0, 422);
    let (s, _, b) = test("issues_events").await;
    assert_eq!(
        (s, json_of(&b)),
        (
            429,
            json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}})
        )
    );
    let (s, _, b) = call("GET", api("/projects/1/hooks/1/events"), Some(ROOT), None).await;
    assert_eq!(s, 200);
    let events = json_of(&b);
    assert_eq!(events.as_array().unwrap().len(), 4, "{events}");
    assert_eq!(events[0]["trigger"], "issue_hooks");
    assert_eq!(events[0]["response_status"], "internal error");
}
