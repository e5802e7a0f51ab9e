//! Check catalogs: `verify` against real servers on loopback (its text, NDJSON, TAP and JUnit —
//! the JUnit validated by xmllint against tests/schemas/junit.xsd), `serve` (health, status,
//! metrics read by Prometheus's own OpenMetrics parser, a load of wrk with memory measured,
//! SIGTERM), the stacks' catalogs against checks/catalog.schema.json, and the demo stack's
//! catalog in its `status` service and from the host with `from:`.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{closed_port, dns, http, stackctl};

const PASSWORD: &str = "catalog-secret-pw";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python")
}

/// A catalog over every kind of target this machine can serve, one warning failing.
fn loopback_catalog(web: SocketAddr, tcp: SocketAddr, dns: SocketAddr) -> String {
    format!(
        r#"defaults:
  timeout: 2s
checks:
  - name: web health
    check: http://{web}/health
    max_latency: 1s
    tags: [web]
  - name: web says ok
    check: [http, "http://{web}/health", --status, "200", --json-path, status=ok]
    tags: [web]
  - name: port open
    check: tcp {tcp}
  - name: db resolves
    check: dns db.test --server {dns} --expect 10.0.0.5
  - name: login refused
    check: rocketchat-login --url http://127.0.0.1:{closed} --user bot --password-env CATALOG_PW
    severity: warning
"#,
        closed = closed_port()
    )
}

#[test]
fn verify_reports_every_check_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let web = http::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap();
    let dns = dns::start();
    let file = write(dir.path(), "checks.yml", &loopback_catalog(web, tcp, dns));
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-c", file.to_str().unwrap()]);
        let out = stackctl(all).env("CATALOG_PW", PASSWORD).output();
        assert!(
            !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
            "the password leaked: {out:#?}"
        );
        out
    };

    let text = run(&["verify"]);
    text.code(0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{text:#?}");
    assert!(
        lines[0].starts_with("ok   web health: reachable: 200 OK"),
        "{text:#?}"
    );
    assert!(lines[3].starts_with("ok   db resolves: "), "{text:#?}");
    assert!(lines[4].starts_with("warn login refused: "), "{text:#?}");
    assert!(
        lines[5].starts_with("verify: 4 passed, 0 failed, 1 warning(s) in "),
        "{text:#?}"
    );

    let json = run(&["--json", "verify"]);
    json.code(0);
    let events: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 6);
    assert_eq!(events[2]["name"], "port open");
    assert_eq!(events[2]["service"], "127.0.0.1");
    assert_eq!(events[4]["severity"], "warning");
    assert_eq!(events[4]["ok"], false);
    assert_eq!(events[5]["event"], "verify_finished");
    assert_eq!(events[5]["ok"], true);

    let tagged = run(&["verify", "--tag", "web"]);
    tagged.code(0);
    assert_eq!(tagged.stdout.lines().count(), 3, "{tagged:#?}");

    let junit = dir.path().join("verify.xml");
    let tap = run(&[
        "verify",
        "--format",
        "tap",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    tap.code(0);
    assert!(
        tap.stdout
            .starts_with("TAP version 13\n1..5\nok 1 - web health\n"),
        "{tap:#?}"
    );
    assert!(
        tap.stdout
            .contains("not ok 5 - login refused # TODO severity warning\n  ---\n"),
        "{tap:#?}"
    );
    xmllint(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 5);
    assert!(xml.contains(r#"type="warning""#), "{xml}");

    // A critical check failing fails the run, naming it.
    drop(listener);
    let red = run(&["verify"]);
    red.code(1);
    assert!(red.stdout.contains("FAIL port open: "), "{red:#?}");
    assert!(
        red.stdout.contains("verify: 3 passed, 1 failed"),
        "{red:#?}"
    );
    let junit = dir.path().join("red.xml");
    run(&["verify", "--junit", junit.to_str().unwrap()]).code(1);
    xmllint(&junit);

    // A slow pass is a failure when the entry bounds its latency.
    let slow = write(
        dir.path(),
        "slow.yml",
        &format!(
            "checks:\n  - name: stalls\n    check: http://{web}/stall\n    timeout: 300ms\n  - name: too slow\n    check: dns db.test --server {dns}\n    max_latency: 1ns\n"
        ),
    );
    let out = stackctl(["verify", "-c", slow.to_str().unwrap()]).output();
    out.code(1);
    assert!(out.stdout.contains("FAIL stalls: "), "{out:#?}");
    assert!(out.stdout.contains("over its max_latency of"), "{out:#?}");
}

/// Validates a JUnit report against tests/schemas/junit.xsd with xmllint.
pub(crate) fn xmllint(file: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint runs (tests/setup.sh installs libxml2-utils)");
    assert!(
        out.status.success(),
        "{} is not valid JUnit: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_catalog_is_refused_with_its_line_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "checks.yml",
        "checks:\n  - name: ok\n    check: tcp://127.0.0.1:1\n  - name: typo\n    check: mongo --urii mongodb://x\n",
    );
    for command in ["verify", "serve"] {
        let out = stackctl([command, "-c", file.to_str().unwrap()]).output();
        out.code(2);
        assert!(
            out.stderr
                .starts_with("error: checks.yml:5:12: check `typo`: unexpected argument '--urii'"),
            "{out:#?}"
        );
        assert!(out.stderr.contains("hint: "), "{out:#?}");
    }
    let missing = stackctl(["verify", "-c", "/nonexistent/checks.yml"]).output();
    missing.code(2);
    assert!(
        missing.stderr.contains("hint: pass the catalog"),
        "{missing:#?}"
    );
}

/// Every kind of mistake is reported at the line and column of the value at fault — not at
/// its entry's first line, not at line 1 — whatever the style the catalog is written in.
#[test]
fn each_mistake_is_reported_where_it_is_written() {
    const ENTRY: &str = "checks:\n  - name: first\n    check: tcp://a:1\n";
    let cases: &[(&str, String, &str)] = &[
        (
            "unknown check kind",
            format!("{ENTRY}  - name: second\n    timeout: 2s\n    check: frobnicate a:1\n"),
            "checks.yml:6:12: check `second`: unrecognized subcommand 'frobnicate'",
        ),
        (
            "bad duration in an entry",
            format!(
                "{ENTRY}  - name: second\n    check: tcp://b:1\n    interval: 5s\n\n    # why\n    timeout: soon\n"
            ),
            "checks.yml:9:14: `timeout`: `soon` is not a duration",
        ),
        (
            "bad interval",
            format!("{ENTRY}    interval: 0s\n"),
            "checks.yml:4:15: `interval` must be above 0",
        ),
        (
            "bad max_latency",
            format!("{ENTRY}    max_latency: fast\n"),
            "checks.yml:4:18: `max_latency`: `fast` is not a duration",
        ),
        (
            "bad duration in the defaults",
            format!("project: demo\ndefaults:\n  interval: 10s\n  timeout: soon\n{ENTRY}"),
            "checks.yml:4:12: `timeout`: `soon` is not a duration",
        ),
        (
            "bad target URL",
            format!("{ENTRY}  - name: second\n    service: b\n    check: fttp://b:1\n"),
            "checks.yml:6:12: check `second`: unsupported scheme `fttp`",
        ),
        (
            "duplicate name",
            format!("{ENTRY}  - check: tcp://b:1\n    name: first\n"),
            "checks.yml:5:11: two checks are named `first`",
        ),
        (
            "`from` with a command",
            format!("{ENTRY}  - name: second\n    check: tcp b:1\n    from: bot\n"),
            "checks.yml:6:11: check `second`: `from` runs a target URL",
        ),
        (
            "unknown field",
            format!("{ENTRY}    tiemout: 1s\n"),
            "checks.yml:4:5: checks[0]: unknown field `tiemout`",
        ),
        (
            "entries at column 0",
            "checks:\n- name: a\n  check: tcp://a:1\n- name: b\n  check: tcp://b:1\n  timeout: soon\n"
                .to_owned(),
            "checks.yml:6:12: `timeout`: `soon` is not a duration",
        ),
        (
            "flow style",
            "checks: [\n  {name: a, check: \"tcp://a:1\"},\n  {name: b, check: \"tcp://b:1\", timeout: soon},\n]\n"
                .to_owned(),
            "checks.yml:3:42: `timeout`: `soon` is not a duration",
        ),
        (
            "a NUL byte",
            format!("{ENTRY}    service: \"a\0\"\n"),
            "checks.yml:4:16: control character U+0000 is not allowed in YAML",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text, expected) in cases {
        let file = write(dir.path(), "checks.yml", text);
        let out = stackctl(["verify", "-c", file.to_str().unwrap()]).output();
        assert_eq!(out.code, Some(2), "{name}: {out:#?}");
        assert!(
            out.stderr.starts_with(&format!("error: {expected}")),
            "{name}: {}",
            out.stderr
        );
    }
    // Invalid UTF-8: the line and column of the first bad byte.
    let file = dir.path().join("checks.yml");
    std::fs::write(
        &file,
        b"checks:\n  - name: caf\xc3\xa9 \xff\n    check: tcp://a:1\n",
    )
    .unwrap();
    let out = stackctl(["verify", "-c", file.to_str().unwrap()]).output();
    out.code(2);
    assert!(
        out.stderr
            .starts_with("error: checks.yml:2:16: not UTF-8 text (byte 0xff)"),
        "{}",
        out.stderr
    );
}

/// The stacks' catalogs load and follow checks/catalog.schema.json.
#[test]
fn the_stacks_catalogs_follow_the_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
for path in sys.argv[2:]:
    jsonschema.validate(yaml.safe_load(open(path)), schema)
bad = {"checks": [{"name": "x", "check": "tcp://a:1", "tiemout": "1s"}]}
try:
    jsonschema.validate(bad, schema)
    sys.exit("a misspelt key passed the schema")
except jsonschema.ValidationError:
    pass
"#;
    let out = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .arg(root.join("checks/catalog.schema.json"))
        .arg(root.join("checks/demo.yml"))
        .arg(root.join("checks/chat.yml"))
        .output()
        .expect("the venv's python (tests/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And stackctl reads them (variables as the status services set them).
    for (name, vars) in [
        ("demo.yml", vec![]),
        (
            "chat.yml",
            vec![
                ("DOMAIN", "chat.example"),
                ("TLS_CERT_FILE", "c.pem"),
                ("BOT_USER", "bot"),
                ("BOT_ROOM", "devops"),
            ],
        ),
    ] {
        // `--tag nothing` loads and checks the file, then refuses: nothing is run.
        let mut run = stackctl([
            "verify",
            "-c",
            root.join("checks").join(name).to_str().unwrap(),
            "--tag",
            "nothing",
        ]);
        for (k, v) in vars {
            run = run.env(k, v);
        }
        let out = run.output();
        out.code(2);
        assert!(
            out.stderr.contains("has the tag(s) nothing"),
            "{name}: {out:#?}"
        );
    }
}

/// A `stackctl serve` child, killed on drop.
struct Served {
    child: Child,
    address: SocketAddr,
}

impl Served {
    fn start(catalog: &Path) -> Self {
        let mut child = Command::new(crate::support::binary())
            .args([
                "serve",
                "-c",
                catalog.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .env_clear()
            .env("CATALOG_PW", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        // The address is on the `serving on` line (a warning may come first: no `--db`).
        let mut line = String::new();
        while !line.contains("serving on") {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "serve exited");
        }
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .parse()
            .unwrap();
        // Keep draining stderr so that serve never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            assert!(!rest.contains(PASSWORD), "the password leaked: {rest}");
        });
        Self { child, address }
    }

    fn get(&self, path: &str) -> (u16, String) {
        crate::support::http::exchange(
            self.address,
            &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
        )
    }

    fn wait_for(&self, path: &str, want: u16) -> String {
        let started = Instant::now();
        loop {
            let (status, body) = self.get(path);
            if status == want {
                return body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{path} stayed {status}: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_reports_health_status_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let web = http::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap();
    let file = write(
        dir.path(),
        "checks.yml",
        &format!(
            "defaults:\n  interval: 200ms\n  timeout: 1s\nchecks:\n  - name: web health\n    check: http://{web}/health\n  - name: port open\n    check: tcp://{tcp}\n    retries: 2\n  - name: login refused\n    check: rocketchat-login --url http://127.0.0.1:{} --user bot --password-env CATALOG_PW\n    severity: warning\n",
            closed_port()
        ),
    );
    let served = Served::start(&file);
    let body = served.wait_for("/healthz", 200);
    assert!(
        body.starts_with("ok: 3 check(s)\nwarnings:\nlogin refused: "),
        "{body}"
    );

    let (status, body) = served.get("/status");
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["ok"], true);
    assert_eq!(state["checks"][1]["name"], "port open");
    assert_eq!(state["checks"][1]["up"], true);
    assert!(!state["checks"][0]["history"].as_array().unwrap().is_empty());
    assert_eq!(served.get("/nope").0, 404);

    // /metrics, read by Prometheus's own parser.
    let (status, metrics) = served.get("/metrics");
    assert_eq!(status, 200);
    let parsed = parse_metrics(&metrics);
    assert!(
        parsed["stackctl_check_up"]["web health"] > 0.5,
        "{parsed:#?}"
    );
    assert!(
        parsed["stackctl_check_up"]["login refused"] < 0.5,
        "{parsed:#?}"
    );
    assert!(parsed["stackctl_check_duration_seconds"]["port open"] > 0.0);
    assert!(parsed["stackctl_check_last_change_timestamp_seconds"]["port open"] > 1.7e9);

    // The port closes: two failures in a row, then 503 naming it.
    drop(listener);
    let body = served.wait_for("/healthz", 503);
    assert!(body.starts_with("down:\nport open: "), "{body}");
    let parsed = parse_metrics(&served.get("/metrics").1);
    assert!(
        parsed["stackctl_check_up"]["port open"] < 0.5,
        "{parsed:#?}"
    );

    // Load: wrk on /metrics for 10 s; memory must stay where it was.
    let before = served.rss_kib();
    let wrk = Command::new("wrk")
        .args(["-t2", "-c32", "-d10s"])
        .arg(format!("http://{}/metrics", served.address))
        .output()
        .expect("wrk runs (tests/setup.sh installs it)");
    let report = String::from_utf8_lossy(&wrk.stdout).into_owned();
    let per_second: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in {report}"));
    assert!(per_second > 100.0, "{report}");
    assert!(!report.contains("Non-2xx"), "{report}");
    let after = served.rss_kib();
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB under load"
    );

    // SIGTERM: it stops promptly, with success.
    let mut served = served;
    let killed = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// Metric → check → value, from `prometheus_client.openmetrics.parser`.
fn parse_metrics(
    text: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>> {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        out.setdefault(sample.name, {})[sample.labels["check"]] = sample.value
print(json.dumps(out))
"#;
    let mut child = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python (tests/setup.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The demo stack: its `status` service serves checks/demo.yml (healthy once every critical
/// check passes), `verify` runs it inside the stack, and from the host `from:` checks run in
/// the bot's network namespace.
#[test]
fn the_demo_stack_verifies_itself_and_from_its_services() {
    let demo = crate::smoke::Demo::up();
    let status = format!("{}-status-1", demo.name);
    let health =
        crate::support::docker::docker(&["inspect", "-f", "{{.State.Health.Status}}", &status]);
    assert!(
        matches!(health.as_str(), "healthy" | "starting"),
        "{health}"
    );
    let inside = Command::new("docker")
        .args([
            "exec",
            &status,
            "/stackctl",
            "verify",
            "-c",
            "/checks/demo.yml",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inside.stdout).into_owned();
    assert!(
        inside.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&inside.stderr)
    );
    assert!(
        text.contains("verify: 7 passed, 0 failed, 0 warning(s)"),
        "{text}"
    );
    assert!(!text.contains(crate::smoke::BOT_PASS));
    // `/metrics`, then the status page (its history in the `status-data` volume), each read
    // inside the status container for what it must hold.
    for (path, holds) in [
        (
            "/metrics",
            "stackctl_check_up{check=\"mongo has a primary\"",
        ),
        ("/", "data-check=\"mongo has a primary\""),
    ] {
        let url = format!("http://127.0.0.1:9300{path}");
        let served = Command::new("docker")
            .args([
                "exec",
                &status,
                "/stackctl",
                "check",
                "http",
                &url,
                "--body-contains",
                holds,
            ])
            .output()
            .unwrap();
        assert!(
            served.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&served.stdout)
        );
    }
    let published = crate::support::docker::docker(&["port", &status, "9300"]);
    assert!(published.starts_with("127.0.0.1:"), "{published}");
    let mounts = crate::support::docker::docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Destination}} {{end}}",
        &status,
    ]);
    assert!(mounts.contains("/data"), "{mounts}");

    let catalog = write(
        demo.dir.path(),
        "from.yml",
        "checks:\n  - name: bot reaches mongo\n    check: tcp://mongo:27017\n    from: bot\n  - name: bot sees the primary\n    check: mongodb://mongo:27017/?replicaSet=rs0\n    from: bot\n  - name: bot reaches rocketchat\n    check: rocketchat+http://rocketchat:3000\n    from: bot\n  - name: nothing on mongo:1\n    check: tcp://mongo:1\n    from: status\n    severity: warning\n",
    );
    let probe_binary = crate::support::docker::static_binaries().join("stackctl");
    let out = stackctl([
        "--json",
        "verify",
        "-c",
        catalog.to_str().unwrap(),
        "-p",
        &demo.name,
    ])
    .env("STACKCTL_PROBE_BINARY", &probe_binary)
    .output();
    out.code(0);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 5, "{out:#?}");
    for event in &events[..3] {
        assert_eq!(event["ok"], true, "{event}");
        assert_eq!(event["from"], "bot");
    }
    assert_eq!(events[3]["ok"], false);
    assert_eq!(events[3]["from"], "status");
    assert_eq!(events[4]["ok"], true);

    // The shipped catalog from the host, as CI runs it: the stack's names do not resolve here,
    // so the checks naming them run inside the stack's network, in one throw-away container.
    let shipped = stackctl([
        "verify",
        "-c",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("checks/demo.yml")
            .to_str()
            .unwrap(),
        "-p",
        &demo.name,
    ])
    .env("BOT_PASS", crate::smoke::BOT_PASS)
    .env("STACKCTL_PROBE_BINARY", &probe_binary)
    .output();
    shipped.code(0);
    assert!(
        shipped
            .stdout
            .contains("verify: 7 passed, 0 failed, 0 warning(s)"),
        "{shipped:#?}"
    );
    assert!(shipped.stdout.contains("(inside the stack"), "{shipped:#?}");
    assert!(!shipped.stdout.contains(crate::smoke::BOT_PASS));
    assert!(!shipped.stderr.contains(crate::smoke::BOT_PASS));

    // A `from:` that names no service of the project is a mistake in the catalog: exit 2 at
    // its line, before anything runs.
    let typo = write(
        demo.dir.path(),
        "typo.yml",
        "checks:\n  - name: bot reaches mongo\n    check: tcp://mongo:27017\n    from: boot\n",
    );
    let out = stackctl(["verify", "-c", typo.to_str().unwrap(), "-p", &demo.name]).output();
    out.code(2);
    assert!(out.stderr.contains("typo.yml:4:"), "{out:#?}");
    assert!(out.stderr.contains("did you mean `bot`?"), "{out:#?}");
}
