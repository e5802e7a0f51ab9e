//! `doctor` against the real Docker daemon: the demo stack as brought up gives no finding; then
//! it is broken by hand — a network disconnected, a container removed, a container stopped —
//! and doctor names each break with its evidence, the symptoms under their root cause. A small
//! stack of the MongoDB and Rocket.Chat simulators shows the replica-set rules from the wire:
//! never initiated (Rocket.Chat's own `ReplicaSetNoPrimary` exit listed under it), then a
//! member advertised as its container id. Its own projects and images; removed on drop.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::smoke::Demo;
use crate::support::docker::{Cleanup, demo_image, docker, static_binaries, unique};
use crate::support::{Output, stackctl};

/// `doctor --json`'s report.
fn report(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:#?}"))
}

/// Every finding, root causes and their consequences alike: (rule, service, is a root).
fn findings(report: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for root in report["findings"].as_array().unwrap() {
        let row = |f: &Value, root: bool| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["service"].as_str().unwrap().to_owned(),
                root,
            )
        };
        out.push(row(root, true));
        for c in root["consequences"].as_array().into_iter().flatten() {
            out.push(row(c, false));
        }
    }
    out
}

fn root<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no root finding {rule}: {report:#}"))
}

fn evidence(finding: &Value) -> String {
    finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} = {}",
                e["fact"].as_str().unwrap(),
                e["text"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The demo stack, healthy, then broken three ways, one after another.
#[test]
fn doctor_on_the_demo_stack_is_quiet_when_healthy_and_names_each_break() {
    let demo = Demo::up();
    crate::support::docker::wait_for_health(
        &format!("{}-bot-1", demo.name),
        "healthy",
        Duration::from_secs(30),
    );
    let healthy = demo.run(&["--json"], "doctor", &[]);
    healthy.code(0);
    let found = report(&healthy);
    assert_eq!(found["verdict"], "healthy", "{found:#}");
    assert!(findings(&found).is_empty(), "{found:#}");
    assert!(
        found["unobserved"].as_array().unwrap().is_empty(),
        "{found:#}"
    );
    let text = demo.run(&[], "doctor", &[]);
    text.code(0);
    assert!(
        text.stdout
            .starts_with(&format!("doctor: project `{}` is healthy", demo.name)),
        "{text:#?}"
    );

    // A network disconnected by hand: the service is on none of the stack's networks.
    let status = format!("{}-status-1", demo.name);
    docker(&[
        "network",
        "disconnect",
        &format!("{}_default", demo.name),
        &status,
    ]);
    let out = demo.run(&["--json"], "doctor", &[]);
    out.code(1);
    let found = report(&out);
    assert_eq!(
        findings(&found),
        [("D-network-missing".to_owned(), "status".to_owned(), true)],
        "{found:#}"
    );
    assert!(
        evidence(root(&found, "D-network-missing")).contains(&format!("{}_default", demo.name)),
        "{found:#}"
    );

    // A container removed by hand: the service has no container.
    docker(&["rm", "-f", &status]);
    let out = demo.run(&["--json"], "doctor", &[]);
    out.code(1);
    assert_eq!(
        findings(&report(&out)),
        [("D-missing".to_owned(), "status".to_owned(), true)]
    );

    // Rocket.Chat stopped: the root cause; the bot's failure (once its probe notices) is a
    // consequence under it, never a problem of its own; MongoDB is not blamed.
    docker(&["stop", "-t", "1", &format!("{}-rocketchat-1", demo.name)]);
    crate::support::docker::wait_for_health(
        &format!("{}-bot-1", demo.name),
        "unhealthy",
        Duration::from_secs(40),
    );
    let out = demo.run(&["--json"], "doctor", &[]);
    out.code(1);
    let found = report(&out);
    let rows = findings(&found);
    let exited = root(&found, "D-exited");
    assert_eq!(exited["service"], "rocketchat", "{found:#}");
    assert!(evidence(exited).contains("docker.exit_code"), "{found:#}");
    assert!(
        rows.iter().any(|(_, s, root)| s == "bot" && !root),
        "{found:#}"
    );
    assert!(!rows.iter().any(|(_, s, _)| s == "mongo"), "{found:#}");
    let text = demo.run(&[], "doctor", &[]);
    text.code(1);
    assert!(
        text.stdout
            .starts_with(&format!("doctor: project `{}` has 2 problem(s)", demo.name)),
        "{text:#?}"
    );
    assert!(
        text.stdout.contains("  consequence:\n    [critical] bot:"),
        "{text:#?}"
    );
    assert!(text.stdout.contains("fix: stackctl up -p "), "{text:#?}");
}

/// A stack of the MongoDB and Rocket.Chat simulators only: `up` starts them, nothing
/// initiates the set.
const MONGO_STACK: &str = r#"services:
  mongo:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--port", "27017", "--replSet", "rs0", "--election-delay", "1s"]
  rocketchat:
    image: ${IMAGE}
    entrypoint: ["/rocketchat-sim", "--bind", "0.0.0.0", "--port", "3000", "--mongo-url", "mongodb://mongo:27017/rocketchat?replicaSet=rs0", "--mongo-timeout", "2s"]
    depends_on: [mongo]
"#;

/// A small stack of this test's own, written to a temporary directory beside the files it
/// mounts, brought up with `stackctl up` and removed on drop.
struct TestStack {
    dir: tempfile::TempDir,
    name: String,
    env: Vec<(&'static str, String)>,
    _cleanup: Cleanup,
}

impl TestStack {
    fn up(
        prefix: &str,
        stack: &str,
        files: &[(&str, &str)],
        env: &[(&'static str, String)],
    ) -> Self {
        let mut cleanup = Cleanup::default();
        let image = demo_image("stackctl-test-doctor", &mut cleanup);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yml"), stack).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut all = vec![("IMAGE", image)];
        all.extend(env.iter().cloned());
        let stack = Self {
            dir,
            name: unique(prefix).replace('-', ""),
            env: all,
            _cleanup: cleanup,
        };
        stack.run(&[], "up", &["--timeout", "60s"]).code(0);
        stack
    }

    fn run(&self, globals: &[&str], command: &str, rest: &[&str]) -> Output {
        let file = self.dir.path().join("compose.yml");
        let mut args: Vec<&str> = globals.to_vec();
        args.extend([command, "-f", file.to_str().unwrap(), "-p", &self.name]);
        args.extend(rest);
        let mut run = stackctl(args).env(
            "STACKCTL_PROBE_BINARY",
            static_binaries().join("stackctl").to_str().unwrap(),
        );
        for (key, value) in &self.env {
            run = run.env(key, value);
        }
        run.output()
    }

    fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.name)
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = self.run(&[], "down", &["-v", "--remove-orphans"]);
    }
}

/// The replica-set rules, observed over the wire from inside the stack's network.
#[test]
fn doctor_names_the_replica_set_rules_from_inside_the_stack() {
    let stack = TestStack::up("stdoctor", MONGO_STACK, &[], &[]);
    // Rocket.Chat gives up on the set (2 s here, 30 s for real) and exits with the driver's
    // words; wait for that exit.
    let rocketchat = stack.container("rocketchat");
    let started = Instant::now();
    while docker(&["inspect", "-f", "{{.State.Status}}", &rocketchat]) != "exited" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "rocketchat-sim did not give up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = stack.run(&["--json"], "doctor", &[]);
    out.code(1);
    let found = report(&out);
    assert_eq!(
        findings(&found),
        [
            ("M1-not-initiated".to_owned(), "mongo".to_owned(), true),
            (
                "M1-client-no-primary".to_owned(),
                "rocketchat".to_owned(),
                false
            ),
        ],
        "{found:#}"
    );
    let m1 = root(&found, "M1-not-initiated");
    assert!(
        evidence(m1).contains("mongo.role = uninitialized"),
        "{found:#}"
    );
    assert!(evidence(m1).contains("94 NotYetInitialized"), "{found:#}");
    assert_eq!(
        m1["evidence"][0]["from"], "from mongo's network",
        "{found:#}"
    );
    assert!(
        evidence(&m1["consequences"][0]).contains("ReplicaSetNoPrimary"),
        "{found:#}"
    );

    // Initiated the way `rs.initiate()` without a config does it: the member is recorded
    // under the container's hostname, its id, which no other container resolves.
    let mongo = stack.container("mongo");
    let hostname = docker(&["inspect", "-f", "{{.Config.Hostname}}", &mongo]);
    docker(&[
        "exec",
        &mongo,
        "/stackctl",
        "init",
        "replica-set",
        "--uri",
        "mongodb://127.0.0.1:27017",
        "--name",
        "rs0",
        "--member",
        &format!("{hostname}:27017"),
    ]);
    // Elected (one member: after `--election-delay`), so only the advertised name is wrong.
    let started = Instant::now();
    while !std::process::Command::new("docker")
        .args([
            "exec",
            &mongo,
            "/stackctl",
            "check",
            "mongo",
            "--uri",
            "mongodb://127.0.0.1:27017",
        ])
        .args(["--replica-set", "rs0", "--timeout", "2s"])
        .status()
        .unwrap()
        .success()
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no PRIMARY");
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = stack.run(&["--json"], "doctor", &[]);
    out.code(1);
    let found = report(&out);
    let roots: Vec<_> = findings(&found).into_iter().filter(|r| r.2).collect();
    assert_eq!(
        roots,
        [
            (
                "M2-member-unreachable-name".to_owned(),
                "mongo".to_owned(),
                true
            ),
            ("M2-member-not-in-url".to_owned(), "mongo".to_owned(), true),
        ],
        "{found:#}"
    );
    assert!(
        evidence(root(&found, "M2-member-unreachable-name"))
            .contains(&format!("mongo.hosts = {hostname}:27017")),
        "{found:#}"
    );
    assert!(
        root(&found, "M2-member-unreachable-name")["fix"]
            .as_str()
            .unwrap()
            .contains("rs.reconfig"),
        "{found:#}"
    );
}

/// Nothing to observe: exit 3 with the reason, not a verdict.
#[test]
fn doctor_exits_3_when_it_cannot_observe() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yml");
    std::fs::write(&file, "services:\n  web:\n    image: nginx\n").unwrap();
    let project = unique("stdoctorabsent").replace('-', "");
    let absent = stackctl(["doctor", "-f", file.to_str().unwrap(), "-p", &project]).output();
    absent.code(3);
    assert!(absent.stderr.contains("has no containers"), "{absent:#?}");
    assert!(absent.stderr.contains("hint: "), "{absent:#?}");
    let no_daemon = stackctl(["doctor", "-f", file.to_str().unwrap(), "-p", &project])
        .env(
            "DOCKER_HOST",
            format!("unix://{}/none.sock", dir.path().display()),
        )
        .output();
    no_daemon.code(3);
    assert!(
        no_daemon.stderr.contains("cannot observe the stack"),
        "{no_daemon:#?}"
    );
}

/// The front door: a real nginx in front of the Rocket.Chat simulator.
const NGINX_STACK: &str = r#"services:
  rocketchat:
    image: ${IMAGE}
    entrypoint: ["/rocketchat-sim", "--bind", "0.0.0.0", "--port", "3000"]
    environment:
      ROOT_URL: http://chat.example.test
  nginx:
    image: ${NGINX_IMAGE}
    volumes:
      - ./site.conf:/etc/nginx/conf.d/site.conf:ro
    depends_on: [rocketchat]
"#;

/// The vhost as too many guides write it: no upgrade headers, nginx's default 1 MiB body limit.
const BARE_SITE: &str = "server {\n  listen 80;\n  server_name chat.example.test;\n  location / {\n    proxy_pass http://rocketchat:3000;\n  }\n}\n";

/// The vhost as compose/chat's template writes it.
const GOOD_SITE: &str = "map $http_upgrade $connection_upgrade {\n  default upgrade;\n  '' close;\n}\nserver {\n  listen 80;\n  server_name chat.example.test;\n  client_max_body_size 200M;\n  location / {\n    proxy_pass http://rocketchat:3000;\n    proxy_http_version 1.1;\n    proxy_set_header Upgrade $http_upgrade;\n    proxy_set_header Connection $connection_upgrade;\n    proxy_set_header Host $http_host;\n  }\n}\n";

/// nginx dropping the WebSocket upgrade and refusing a 2 MiB body: both named from inside the
/// stack through the vhost; with the vhost fixed (and nginx reloaded), no finding.
#[test]
fn doctor_names_the_front_door_rules_through_a_real_nginx() {
    let nginx = crate::support::docker::image_script("build-nginx.sh", &[]);
    let stack = TestStack::up(
        "stdoctornginx",
        NGINX_STACK,
        &[("site.conf", BARE_SITE)],
        &[("NGINX_IMAGE", nginx)],
    );
    let out = stack.run(&["--json"], "doctor", &[]);
    out.code(1);
    let found = report(&out);
    assert_eq!(
        findings(&found),
        [
            ("N1-websocket".to_owned(), "nginx".to_owned(), true),
            ("N2-body-too-large".to_owned(), "nginx".to_owned(), true),
        ],
        "{found:#}"
    );
    assert!(
        evidence(root(&found, "N1-websocket")).contains(
            "front.websocket = `/websocket` answered HTTP 400, not 101 Switching Protocols"
        ),
        "{found:#}"
    );
    assert!(
        evidence(root(&found, "N2-body-too-large")).contains("HTTP 413 for a 2 MiB body"),
        "{found:#}"
    );

    std::fs::write(stack.dir.path().join("site.conf"), GOOD_SITE).unwrap();
    docker(&["exec", &stack.container("nginx"), "nginx", "-s", "reload"]);
    // A reload starts new workers; the old ones finish what they serve.
    let started = Instant::now();
    loop {
        let out = stack.run(&["--json"], "doctor", &[]);
        if out.code == Some(0) {
            assert_eq!(report(&out)["verdict"], "healthy");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{out:#?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
