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

/// Waits until the container has exited.
fn wait_for_exit(container: &str, limit: Duration) {
    let started = Instant::now();
    while docker(&["inspect", "-f", "{{.State.Status}}", container]) != "exited" {
        assert!(started.elapsed() < limit, "{container} did not exit");
        std::thread::sleep(Duration::from_millis(200));
    }
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
    quoted(
        &found,
        "D-network-missing",
        &format!("{}_default", demo.name),
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
    wait_for_exit(&rocketchat, Duration::from_secs(30));
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
    quoted(
        &found,
        "M2-member-unreachable-name",
        &format!("mongo.hosts = {hostname}:27017"),
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
/// A stack docker-compose 1.29.2 brought up, not stackctl: the same findings from compose's
/// labels and the same file; and with no file at all (`-p` alone, from another directory),
/// from the labels only.
#[test]
fn doctor_reads_a_stack_docker_compose_brought_up() {
    let mut cleanup = Cleanup::default();
    let image = demo_image("stackctl-test-doctor", &mut cleanup);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yml");
    std::fs::write(&file, MONGO_STACK).unwrap();
    let name = unique("stdoctorcompose").replace('-', "");
    let compose = |args: &[&str]| {
        crate::support::docker::docker_compose(&file, &name, args, &[("IMAGE", &image)]);
    };
    compose(&["up", "-d"]);
    let _down = DropGuard(Box::new(|| compose(&["down", "-v"])));
    wait_for_exit(&format!("{name}_rocketchat_1"), Duration::from_secs(30));
    let doctor = |with_file: bool| {
        let elsewhere = tempfile::tempdir().unwrap();
        let mut args = vec!["--json", "doctor", "-p", &name];
        let path = file.to_str().unwrap();
        if with_file {
            args.extend(["-f", path]);
        }
        let out = stackctl(args)
            .env("IMAGE", &image)
            .env(
                "STACKCTL_PROBE_BINARY",
                static_binaries().join("stackctl").to_str().unwrap(),
            )
            .current_dir(elsewhere.path())
            .output();
        out.code(1);
        (report(&out), out.stderr)
    };
    let expected = [
        ("M1-not-initiated".to_owned(), "mongo".to_owned(), true),
        (
            "M1-client-no-primary".to_owned(),
            "rocketchat".to_owned(),
            false,
        ),
    ];
    let (found, _) = doctor(true);
    assert_eq!(findings(&found), expected, "{found:#}");
    quoted(&found, "M1-not-initiated", "94 NotYetInitialized");
    // `-p` alone, from another directory: the file compose recorded on the containers.
    let (found, _) = doctor(false);
    assert_eq!(findings(&found), expected, "{found:#}");
    // The file gone: the containers' labels and logs only, and a warning that says so.
    let moved = dir.path().join("moved.yml");
    std::fs::rename(&file, &moved).unwrap();
    let (found, stderr) = doctor(false);
    std::fs::rename(&moved, &file).unwrap();
    assert!(
        stderr.contains("is not here: judging its containers' labels only"),
        "{stderr}"
    );
    assert!(
        findings(&found)
            .iter()
            .any(|(rule, service, _)| rule == "M1-client-no-primary" && service == "rocketchat"),
        "{found:#}"
    );
}

/// Runs a closure when dropped (a `down` that must happen whatever the test asserted).
struct DropGuard<'a>(Box<dyn Fn() + 'a>);

impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        (self.0)();
    }
}

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
    let found = doctor_finds(
        &stack,
        &[("N1-websocket", "nginx"), ("N2-body-too-large", "nginx")],
    );
    assert!(
        evidence(root(&found, "N1-websocket")).contains(
            "front.websocket = `/websocket` answered HTTP 400, not 101 Switching Protocols"
        ),
        "{found:#}"
    );
    quoted(&found, "N2-body-too-large", "HTTP 413 for a 2 MiB body");

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

    // R2: the stack file says Rocket.Chat's origin is https, the front door serves http; and
    // (M4, info) it still sets MONGO_OPLOG_URL, which this 8.0 server no longer reads.
    let compose = stack.dir.path().join("compose.yml");
    std::fs::write(
        &compose,
        NGINX_STACK
            .replace("http://chat.example.test", "https://chat.example.test")
            .replace(
                "      ROOT_URL:",
                "      MONGO_OPLOG_URL: mongodb://mongo:27017/local\n      ROOT_URL:",
            ),
    )
    .unwrap();
    let found = doctor_finds(
        &stack,
        &[
            ("R2-root-url-mismatch", "rocketchat"),
            ("M4-oplog-url-unused", "rocketchat"),
        ],
    );
    quoted(
        &found,
        "R2-root-url-mismatch",
        "ROOT_URL is https://, the front door `nginx` serves http://",
    );
    quoted(&found, "M4-oplog-url-unused", "rocketchat.version = 8.0");
    // R2: ROOT_URL on localhost behind the proxy.
    std::fs::write(
        &compose,
        NGINX_STACK.replace("http://chat.example.test", "http://localhost:3000"),
    )
    .unwrap();
    doctor_finds(&stack, &[("R2-root-url-localhost", "rocketchat")]);

    // N4: the same vhost over https with a self-signed certificate (the stack file now says
    // nginx serves 443 and Rocket.Chat's origin is https): browsers can be told to accept it,
    // machine clients cannot.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["chat.example.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(stack.dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(stack.dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    let nginx = stack.container("nginx");
    for file in ["cert.pem", "key.pem"] {
        let from = stack.dir.path().join(file);
        docker(&[
            "cp",
            from.to_str().unwrap(),
            &format!("{nginx}:/etc/nginx/{file}"),
        ]);
    }
    let tls_server = GOOD_SITE
        .split_once("server {")
        .map(|(_, server)| server)
        .unwrap()
        .replace(
            "listen 80;",
            "listen 443 ssl;\n  ssl_certificate /etc/nginx/cert.pem;\n  ssl_certificate_key /etc/nginx/key.pem;",
        );
    std::fs::write(
        stack.dir.path().join("site.conf"),
        format!("{GOOD_SITE}server {{{tls_server}"),
    )
    .unwrap();
    docker(&["exec", &nginx, "nginx", "-s", "reload"]);
    let https_stack = NGINX_STACK
        .replace("http://chat.example.test", "https://chat.example.test")
        .replace(
            "    depends_on: [rocketchat]",
            "    ports: [\"127.0.0.1::443\"]\n    depends_on: [rocketchat]",
        );
    std::fs::write(stack.dir.path().join("compose.yml"), https_stack).unwrap();
    let started = Instant::now();
    let found = loop {
        let found = report(&stack.run(&["--json"], "doctor", &[]));
        if !findings(&found).is_empty() || started.elapsed() > Duration::from_secs(15) {
            break found;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        findings(&found),
        [("N4-tls-untrusted".to_owned(), "nginx".to_owned(), true)],
        "{found:#}"
    );
    quoted(
        &found,
        "N4-tls-untrusted",
        "front.tls = https://chat.example.test: ",
    );

    // N3: nginx restarted with an upstream name nothing answers for: it refuses to start.
    std::fs::write(
        stack.dir.path().join("site.conf"),
        BARE_SITE.replace("http://rocketchat:3000", "http://rocketchat-gone:3000"),
    )
    .unwrap();
    docker(&["restart", "-t", "1", &nginx]);
    wait_for_exit(&nginx, Duration::from_secs(20));
    let found = doctor_finds(&stack, &[("N3-upstream", "nginx")]);
    quoted(
        &found,
        "N3-upstream",
        "host not found in upstream \"rocketchat-gone\"",
    );
}

/// MongoDB, its init job and a Rocket.Chat simulator of an old release that keeps its settings
/// in MongoDB and provisions its admin from the environment (so its setup wizard is left
/// `in_progress`), its port published for the fault switches.
const RC_STACK: &str = r#"services:
  mongo:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--port", "27017", "--replSet", "rs0", "--host-name", "mongo", "--election-delay", "1s"]
  mongo-init:
    image: ${IMAGE}
    entrypoint: ["/stackctl", "init", "replica-set", "--uri", "mongodb://mongo:27017", "--name", "rs0", "--member", "mongo:27017", "--timeout", "30s"]
    depends_on:
      mongo:
        condition: service_started
  rocketchat:
    image: ${IMAGE}
    entrypoint: ["/rocketchat-sim", "--bind", "0.0.0.0", "--port", "3000", "--version", "6.6.0", "--mongo-url", "mongodb://mongo:27017/rocketchat?replicaSet=rs0"]
    environment:
      ADMIN_USERNAME: admin
      ADMIN_PASS: doctor-admin-pass
      ADMIN_EMAIL: admin@chat.example
    ports:
      - "127.0.0.1::3000"
    healthcheck:
      test: ["CMD", "/stackctl", "check", "rocketchat", "--url", "http://127.0.0.1:3000", "--timeout", "3s"]
      interval: 2s
      timeout: 4s
      retries: 3
    depends_on:
      mongo-init:
        condition: service_completed_successfully
"#;

/// The same stack with a service on a Bitnami MongoDB image, which no longer exists.
const BITNAMI_SERVICE: &str = "  legacy-mongo:\n    image: bitnami/mongodb:7.0.15\n";

/// A mongod without `--replSet` and a client naming it in its `MONGO_URL`.
const STANDALONE_SERVICES: &str = "  standalone:\n    image: ${IMAGE}\n    entrypoint: [\"/mongo-sim\", \"--bind\", \"0.0.0.0\", \"--port\", \"27017\"]\n  reporter:\n    image: ${IMAGE}\n    entrypoint: [\"/http-fixture\", \"8080\"]\n    environment:\n      MONGO_URL: mongodb://standalone:27017/reports\n    depends_on: [standalone]\n";

/// A Rocket.Chat whose MONGO_URL names a service the stack does not have.
const TYPO_SERVICE: &str = "  rc-typo:\n    image: ${IMAGE}\n    entrypoint: [\"/rocketchat-sim\", \"--bind\", \"0.0.0.0\", \"--port\", \"3000\", \"--mongo-timeout\", \"2s\", \"--mongo-url\", \"mongodb://mongo-typo:27017/rocketchat?replicaSet=rs0\"]\n";

/// A MongoDB whose healthcheck still calls the legacy `mongo` shell (gone from MongoDB 6+
/// images; here, a scratch image without it), a client that names it on a wrong port, and a
/// process that allocates past its container's 64 MiB memory limit.
const LEGACY_SHELL_SERVICE: &str = "  legacy-shell:\n    image: ${IMAGE}\n    entrypoint: [\"/mongo-sim\", \"--bind\", \"0.0.0.0\", \"--port\", \"27017\"]\n    healthcheck:\n      test: [\"CMD\", \"mongo\", \"--quiet\", \"--eval\", \"db.adminCommand('ping')\"]\n      interval: 1s\n      timeout: 2s\n      retries: 2\n  wrong-port:\n    image: ${IMAGE}\n    entrypoint: [\"/http-fixture\", \"8080\"]\n    environment:\n      MONGO_URL: mongodb://legacy-shell:27999/app\n  hog:\n    image: ${IMAGE}\n    entrypoint: [\"/usr/bin/node\", \"-e\", \"const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));\"]\n    deploy:\n      resources:\n        limits:\n          memory: 64M\n";

/// The rules sorted by (rule, service): what a break must add to the findings, and nothing else.
fn sorted_roots(report: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = findings(report)
        .into_iter()
        .map(|(rule, service, _)| (rule, service))
        .collect();
    rows.sort();
    rows
}

fn rows(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = list
        .iter()
        .map(|(r, s)| ((*r).to_owned(), (*s).to_owned()))
        .collect();
    rows.sort();
    rows
}

/// Asserts that the root finding `rule` quotes `text` in its evidence.
fn quoted(found: &Value, rule: &str, text: &str) {
    let seen = evidence(root(found, rule));
    assert!(
        seen.contains(text),
        "{rule} does not quote `{text}`: {found:#}"
    );
}

/// Runs `doctor --json` on the stack, asserts it found exactly these (rule, service) pairs
/// (exit 1), and returns the report.
fn doctor_finds(stack: &TestStack, expected: &[(&str, &str)]) -> Value {
    let out = stack.run(&["--json"], "doctor", &[]);
    let found = report(&out);
    assert_eq!(sorted_roots(&found), rows(expected), "{found:#}");
    out.code(1);
    found
}

/// Rocket.Chat's own signals: its setup wizard left `in_progress` (read from
/// `rocketchat_settings` over the wire), a release clients refuse, then — one fault switch at a
/// time — its clock two minutes off (the `Date` header) and its readiness failing (`/readyz`
/// 503); last, a service on a Bitnami MongoDB image that can no longer be pulled.
#[test]
fn doctor_names_rocket_chats_own_signals_and_a_gone_image() {
    let stack = TestStack::up("stdoctorrc", RC_STACK, &[], &[]);
    let rocketchat = stack.container("rocketchat");
    let address = published(&rocketchat, "3000");
    let fault = |body: &str| {
        let (status, answer) = call(address, "POST", "/_sim/fault", &[], body);
        assert_eq!(status, 200, "{answer}");
    };

    // Standing through every break below: the wizard and the old release.
    let standing = |extra: &[(&'static str, &'static str)]| {
        let mut all = vec![
            ("R3-setup-wizard", "rocketchat"),
            ("R4-unsupported-version", "rocketchat"),
        ];
        all.extend_from_slice(extra);
        all
    };
    let found = doctor_finds(&stack, &standing(&[]));
    let r3 = evidence(root(&found, "R3-setup-wizard"));
    assert!(
        r3.contains("rocketchat.setting.Show_Setup_Wizard = in_progress"),
        "{found:#}"
    );
    quoted(&found, "R4-unsupported-version", "rocketchat.version = 6.6");

    // Its clock two minutes ahead: the Date header says so.
    fault(r#"{"clock_offset_s": 120}"#);
    let found = doctor_finds(&stack, &standing(&[("X2-clock-skew", "rocketchat")]));
    let x2 = evidence(root(&found, "X2-clock-skew"));
    assert!(x2.contains("ahead of the observer's clock"), "{found:#}");

    // Its clock right again, its readiness failing on MongoDB.
    fault(r#"{"clock_offset_s": 0, "mongo_down": true}"#);
    let found = doctor_finds(&stack, &standing(&[("R5-not-ready", "rocketchat")]));
    quoted(&found, "R5-not-ready", "GET /readyz: HTTP 503");
    fault(r#"{"mongo_down": false}"#);

    // R6: ADMIN_PASS changed after the first boot. Rocket.Chat, recreated, keeps the admin it
    // has and says so; the new password is refused.
    let file = stack.dir.path().join("compose.yml");
    let rc_stack = RC_STACK.replace(
        "ADMIN_PASS: doctor-admin-pass",
        "ADMIN_PASS: a-new-admin-pass",
    );
    std::fs::write(&file, &rc_stack).unwrap();
    stack
        .run(&[], "up", &["--timeout", "60s", "rocketchat"])
        .code(0);
    let found = doctor_finds(&stack, &standing(&[("R6-admin-env-ignored", "rocketchat")]));
    quoted(
        &found,
        "R6-admin-env-ignored",
        "Users with admin role already exist; Ignoring environment variables ADMIN_PASS",
    );
    quoted(
        &found,
        "R6-admin-env-ignored",
        "rocketchat.admin_login = refused: Unauthorized (HTTP 401) (as `admin`)",
    );
    assert!(
        !found.to_string().contains("a-new-admin-pass"),
        "a password in the report: {found:#}"
    );
    // The fix it names, run as written (the URL filled in): the old password changes the
    // admin's to the new one, and the same log line is no finding any more.
    let fix = root(&found, "R6-admin-env-ignored")["fix"]
        .as_str()
        .unwrap()
        .to_owned();
    let command = fix
        .split('`')
        .nth(1)
        .unwrap()
        .replace("OLD_ADMIN_PASS=... ", "")
        .replace(
            "--url URL",
            &format!("--url http://{}", published(&rocketchat, "3000")),
        );
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    stackctl(words)
        .env("OLD_ADMIN_PASS", "doctor-admin-pass")
        .env("ADMIN_PASS", "a-new-admin-pass")
        .output()
        .code(0);
    doctor_finds(&stack, &standing(&[]));

    // A service whose image is a Bitnami MongoDB one: not here, and never pullable again.
    std::fs::write(&file, format!("{rc_stack}{BITNAMI_SERVICE}")).unwrap();
    let found = doctor_finds(&stack, &standing(&[("M12-bitnami-gone", "legacy-mongo")]));
    let m12 = evidence(root(&found, "M12-bitnami-gone"));
    assert!(
        m12.contains("stack.image = bitnami/mongodb:7.0.15"),
        "{found:#}"
    );
    assert!(m12.contains("docker.image_local = absent"), "{found:#}");

    // M3: a standalone mongod (no --replSet) that a client's MONGO_URL names, brought up beside.
    std::fs::write(
        &file,
        format!("{rc_stack}{BITNAMI_SERVICE}{STANDALONE_SERVICES}"),
    )
    .unwrap();
    stack
        .run(&[], "up", &["--timeout", "60s", "standalone", "reporter"])
        .code(0);
    let found = doctor_finds(
        &stack,
        &standing(&[
            ("M12-bitnami-gone", "legacy-mongo"),
            ("M3-standalone", "standalone"),
        ]),
    );
    quoted(&found, "M3-standalone", "mongo.role = standalone");

    // X1, as Rocket.Chat logs it: a second Rocket.Chat whose MONGO_URL names a service that
    // does not exist. The driver gives up (2 s here) with getaddrinfo's error; the server
    // selection under it is the client-side M1.
    std::fs::write(
        &file,
        format!("{rc_stack}{BITNAMI_SERVICE}{STANDALONE_SERVICES}{TYPO_SERVICE}"),
    )
    .unwrap();
    // Started, it exits within moments (whether `up` saw that or not).
    let _ = stack.run(&[], "up", &["--timeout", "10s", "rc-typo"]);
    wait_for_exit(&stack.container("rc-typo"), Duration::from_secs(30));
    let found = doctor_finds(
        &stack,
        &standing(&[
            ("M12-bitnami-gone", "legacy-mongo"),
            ("M3-standalone", "standalone"),
            ("X1-dns", "rc-typo"),
            ("M1-client-no-primary", "rc-typo"),
        ]),
    );
    quoted(&found, "X1-dns", "MongoServerSelectionError: getaddrinfo");
    quoted(&found, "X1-dns", "mongo-typo");
    docker(&["rm", "-f", &stack.container("rc-typo")]);

    // M11: a healthcheck calling the legacy `mongo` shell, which the image does not have; `up`
    // gives up waiting for it, the container stays.
    std::fs::write(
        &file,
        format!("{rc_stack}{BITNAMI_SERVICE}{STANDALONE_SERVICES}{LEGACY_SHELL_SERVICE}"),
    )
    .unwrap();
    stack
        .run(&[], "up", &["--timeout", "30s", "wrong-port"])
        .code(0);
    let up = stack.run(&[], "up", &["--timeout", "5s", "legacy-shell"]);
    assert_ne!(up.code, Some(0), "{up:#?}");
    // Started, it is killed within moments (whether `up` saw that or not).
    let _ = stack.run(&[], "up", &["--timeout", "10s", "hog"]);
    wait_for_exit(&stack.container("hog"), Duration::from_secs(30));
    crate::support::docker::wait_for_health(
        &stack.container("legacy-shell"),
        "unhealthy",
        Duration::from_secs(30),
    );
    let found = doctor_finds(
        &stack,
        &standing(&[
            ("M12-bitnami-gone", "legacy-mongo"),
            ("M3-standalone", "standalone"),
            ("M11-no-legacy-shell", "legacy-shell"),
            ("X1-unreachable", "legacy-shell"),
            ("M10-oom", "hog"),
        ]),
    );
    quoted(&found, "M10-oom", "docker.oom_killed = true");
    quoted(&found, "M11-no-legacy-shell", "executable file not found");
    // X1: a client names it on a port nothing listens on.
    let x1 = evidence(root(&found, "X1-unreachable"));
    assert!(
        x1.contains("mongo.error = ") && x1.contains("27999"),
        "{found:#}"
    );
    // R1: Rocket.Chat's image bumped from 6.6 straight to 8.0: its migrations refuse, it exits.
    std::fs::write(
        &file,
        format!("{rc_stack}{BITNAMI_SERVICE}{STANDALONE_SERVICES}{LEGACY_SHELL_SERVICE}")
            .replace("\"--version\", \"6.6.0\"", "\"--version\", \"8.0.0\""),
    )
    .unwrap();
    let up = stack.run(&[], "up", &["--timeout", "20s", "rocketchat"]);
    assert_ne!(up.code, Some(0), "{up:#?}");
    wait_for_exit(&rocketchat, Duration::from_secs(30));
    let found = doctor_finds(
        &stack,
        &[
            ("M12-bitnami-gone", "legacy-mongo"),
            ("M3-standalone", "standalone"),
            ("M11-no-legacy-shell", "legacy-shell"),
            ("X1-unreachable", "legacy-shell"),
            ("M10-oom", "hog"),
            ("R1-upgrade-skipped", "rocketchat"),
        ],
    );
    quoted(&found, "R1-upgrade-skipped", "UPGRADE NOT SUPPORTED");
}

/// Rocket.Chat (the simulator, no database; its rate limiter off, so that a bot failing to log
/// in is not also rate limited within the test's seconds, and no 2FA grace for new users), the jobs that create its room and incoming
/// webhook, the GitLab simulator and the job that points a project hook at that webhook (it
/// turns on local requests with its administrator's token); GitLab's and Rocket.Chat's ports
/// published for the breaks.
const GITLAB_STACK: &str = r#"services:
  rocketchat:
    image: ${IMAGE}
    entrypoint: ["/rocketchat-sim", "--bind", "0.0.0.0", "--port", "3000", "--no-rate-limit", "--twofa-grace", "0s"]
    environment:
      ADMIN_USERNAME: admin
      ADMIN_PASS: doctor-admin-pass
      ADMIN_EMAIL: admin@chat.example
      OVERWRITE_SETTING_Show_Setup_Wizard: completed
    ports:
      - "127.0.0.1::3000"
    healthcheck:
      test: ["CMD", "/stackctl", "check", "rocketchat", "--url", "http://127.0.0.1:3000", "--timeout", "3s"]
      interval: 2s
      timeout: 4s
      retries: 3
  rc-room:
    image: ${IMAGE}
    entrypoint: ["/stackctl", "init", "rocketchat-room", "--url", "http://rocketchat:3000", "--admin-password-env", "ADMIN_PASS", "--name", "devops"]
    environment:
      ADMIN_PASS: doctor-admin-pass
    depends_on:
      rocketchat:
        condition: service_healthy
  rc-hook:
    image: ${IMAGE}
    entrypoint: ["/stackctl", "init", "rocketchat-webhook", "--url", "http://rocketchat:3000", "--admin-password-env", "ADMIN_PASS", "--name", "gitlab", "--room", "devops", "--as", "admin", "--output", "/hooks/gitlab"]
    environment:
      ADMIN_PASS: doctor-admin-pass
    volumes:
      - hooks:/hooks
    depends_on:
      rc-room:
        condition: service_completed_successfully
  gitlab:
    image: ${GITLAB_IMAGE}
    entrypoint: ["/gitlab-sim", "--port", "8929", "--bind", "0.0.0.0", "--external-url", "http://gitlab:8929", "--token", "root:admin:api:glpat-doctor-test", "--project", "ops/chat", "--test-rate-limit", "0"]
    ports:
      - "127.0.0.1::8929"
  gitlab-hook:
    image: ${IMAGE}
    entrypoint: ["/stackctl", "init", "gitlab-webhook", "--url", "http://gitlab:8929", "--token-env", "GITLAB_API_TOKEN", "--project", "ops/chat", "--target-file", "/hooks/gitlab"]
    environment:
      GITLAB_API_TOKEN: glpat-doctor-test
    volumes:
      - hooks:/hooks
    depends_on:
      gitlab:
        condition: service_started
      rc-hook:
        condition: service_completed_successfully
    x-stackctl:
      job: {attempts: 3}
volumes:
  hooks: {}
"#;

/// Hubot (the simulator of the hubot-rocketchat image) as a user Rocket.Chat does not have, and
/// as a user created with a verified email (so email 2FA applies), each with the bot's "diver"
/// healthcheck; added to the GitLab stack's services.
const HUBOT_SERVICE: &str = r#"  hubot:
    image: ${HUBOT_IMAGE}
    entrypoint: ["/hubot-sim"]
    environment:
      ROCKETCHAT_URL: http://rocketchat:3000
      ROCKETCHAT_USER: bot
      ROCKETCHAT_PASSWORD: not-the-bots-password
      ROCKETCHAT_ROOM: devops
    healthcheck:
      test: ["CMD", "/stackctl", "check", "rocketchat-room", "--url", "http://rocketchat:3000", "--user", "bot", "--password-env", "ROCKETCHAT_PASSWORD", "--room", "devops", "--timeout", "3s"]
      interval: 1s
      timeout: 4s
      retries: 2
  hubot-2fa:
    image: ${HUBOT_IMAGE}
    entrypoint: ["/hubot-sim"]
    environment:
      ROCKETCHAT_URL: http://rocketchat:3000
      ROCKETCHAT_USER: bot2fa
      ROCKETCHAT_PASSWORD: bot2fa-password
      ROCKETCHAT_ROOM: devops
    healthcheck:
      test: ["CMD", "/stackctl", "check", "rocketchat-room", "--url", "http://rocketchat:3000", "--user", "bot2fa", "--password-env", "ROCKETCHAT_PASSWORD", "--room", "devops", "--timeout", "3s"]
      interval: 1s
      timeout: 4s
      retries: 2
  hubot-form:
    image: ${HUBOT_IMAGE}
    entrypoint: ["/hubot-sim"]
    environment:
      ROCKETCHAT_URL: http://rocketchat:3000
      ROCKETCHAT_USER: formbot
      ROCKETCHAT_PASSWORD: formbot-password
      ROCKETCHAT_ROOM: devops
      HUBOT_SIM_LOGIN_BODY: form
"#;

/// One HTTP/1.1 request to a published port; the status and the body as JSON.
fn call(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let headers: String = headers
        .iter()
        .flat_map(|(name, value)| [name, ": ", value, "\r\n"])
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = crate::support::http::exchange(address, &request);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn published(container: &str, port: &str) -> std::net::SocketAddr {
    let out = docker(&["port", container, port]);
    out.lines()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no published port: {out}"))
}

/// GitLab's side of the webhook to Rocket.Chat, read from its API with the webhook job's token:
/// healthy, no finding; local requests turned off (G1); Rocket.Chat's integration disabled
/// (G3, its 503 in the hook's last delivery); the hook pointed at a wrong token (G2, the 404),
/// then failing until GitLab disables it (G4, `alert_status`), as the simulator's copy of
/// GitLab's auto-disabling does.
#[test]
fn doctor_names_the_gitlab_webhook_rules_from_gitlabs_api() {
    let mut cleanup = Cleanup::default();
    let gitlab_image = unique("stackctl-test-doctor-gitlab");
    cleanup.image(&gitlab_image);
    let simulators = crate::support::docker::static_simulators();
    crate::support::docker::build_image(
        &gitlab_image,
        "FROM scratch\nCOPY gitlab-sim /gitlab-sim\n",
        &[(&simulators.join("gitlab-sim"), "gitlab-sim")],
    );
    let stack = TestStack::up(
        "stdoctorgl",
        GITLAB_STACK,
        &[],
        &[("GITLAB_IMAGE", gitlab_image.clone())],
    );
    let gitlab = published(&stack.container("gitlab"), "8929");
    let rocketchat = published(&stack.container("rocketchat"), "3000");
    let token = [("PRIVATE-TOKEN", "glpat-doctor-test")];
    // The hook job is done (nothing waits for it, so `up` may return first).
    let job = stack.container("gitlab-hook");
    wait_for_exit(&job, Duration::from_secs(30));

    // Healthy: no finding (within a few seconds: on a loaded machine the jobs' containers may
    // still be settling when `up` returns).
    let started = Instant::now();
    loop {
        let healthy = stack.run(&["--json"], "doctor", &[]);
        if healthy.code == Some(0) {
            assert!(findings(&report(&healthy)).is_empty(), "{healthy:#?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{healthy:#?}");
        std::thread::sleep(Duration::from_millis(500));
    }

    let (status, hooks) = call(gitlab, "GET", "/api/v4/projects/1/hooks", &token, "");
    assert_eq!(status, 200, "{hooks}");
    let hook_id = hooks[0]["id"].as_u64().unwrap();
    let hook_url = hooks[0]["url"].as_str().unwrap().to_owned();
    let test_delivery = || {
        call(
            gitlab,
            "POST",
            &format!("/api/v4/projects/1/hooks/{hook_id}/test/push_events"),
            &token,
            "",
        )
    };
    let allow_local = |on: bool| {
        let (status, body) = call(
            gitlab,
            "PUT",
            &format!(
                "/api/v4/application/settings?allow_local_requests_from_web_hooks_and_services={on}"
            ),
            &token,
            "",
        );
        assert_eq!(status, 200, "{body}");
    };

    // G1: local requests turned off again; the hook points into the stack's network.
    allow_local(false);
    let found = doctor_finds(&stack, &[("G1-local-requests-blocked", "gitlab")]);
    let g1 = evidence(root(&found, "G1-local-requests-blocked"));
    assert!(
        g1.contains("gitlab.allow_local_requests = false"),
        "{found:#}"
    );
    assert!(
        g1.contains("→ http://rocketchat:3000/hooks/… resolves to a private address"),
        "{found:#}"
    );
    assert!(
        !g1.contains(&hook_url),
        "the hook's secret path is shown: {g1}"
    );
    allow_local(true);

    // G3: the incoming integration disabled in Rocket.Chat; a delivery gets its 503.
    let (status, login) = call(
        rocketchat,
        "POST",
        "/api/v1/login",
        &[],
        r#"{"user": "admin", "password": "doctor-admin-pass"}"#,
    );
    assert_eq!(status, 200, "{login}");
    let auth_token = login["data"]["authToken"].as_str().unwrap().to_owned();
    let user_id = login["data"]["userId"].as_str().unwrap().to_owned();
    let auth = [
        ("X-Auth-Token", auth_token.as_str()),
        ("X-User-Id", user_id.as_str()),
    ];
    let integration = hook_url
        .split("/hooks/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let enable = |on: bool| {
        let body = serde_json::json!({"type": "webhook-incoming", "integrationId": integration, "channel": "#devops", "scriptEnabled": false, "name": "gitlab", "enabled": on});
        let (status, answer) = call(
            rocketchat,
            "PUT",
            "/api/v1/integrations.update",
            &auth,
            &body.to_string(),
        );
        assert_eq!(status, 200, "{answer}");
    };
    enable(false);
    assert_eq!(test_delivery().0, 422);
    let found = doctor_finds(&stack, &[("G3-integration-disabled-or-script", "gitlab")]);
    quoted(&found, "G3-integration-disabled-or-script", "HTTP 503");
    enable(true);

    // G2: the hook pointed at a token Rocket.Chat does not know; then G4, after four failures
    // in a row GitLab stops the hook for a minute.
    let wrong = format!("{}/wrong-token", hook_url.rsplit_once('/').unwrap().0);
    let (status, body) = call(
        gitlab,
        "PUT",
        &format!("/api/v4/projects/1/hooks/{hook_id}"),
        &token,
        &serde_json::json!({"url": wrong}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(test_delivery().0, 422);
    let found = doctor_finds(&stack, &[("G2-hook-token-or-path", "gitlab")]);
    assert!(
        evidence(root(&found, "G2-hook-token-or-path")).contains("HTTP 404 {")
            && evidence(root(&found, "G2-hook-token-or-path"))
                .contains("\"Invalid integration id or token provided.\""),
        "{found:#}"
    );
    for _ in 0..3 {
        assert_eq!(test_delivery().0, 422);
    }
    let found = doctor_finds(
        &stack,
        &[
            ("G2-hook-token-or-path", "gitlab"),
            ("G4-hook-auto-disabled", "gitlab"),
        ],
    );
    quoted(
        &found,
        "G4-hook-auto-disabled",
        "alert_status temporarily_disabled, disabled until ",
    );

    // B4: a Hubot whose user Rocket.Chat does not have; its healthcheck (the bot's "diver")
    // and its log say it cannot log in.
    let hubot_image = hubot_image("stackctl-test-doctor-hubot", &mut cleanup);
    std::fs::write(
        stack.dir.path().join("compose.yml"),
        GITLAB_STACK.replace(
            "\nvolumes:\n",
            &format!(
                "\n{}volumes:\n",
                HUBOT_SERVICE.replace("${HUBOT_IMAGE}", &hubot_image)
            ),
        ),
    )
    .unwrap();
    let create_user = |name: &str, verified: bool| {
        let user = serde_json::json!({"email": format!("{name}@chat.example"), "name": name, "password": format!("{name}-password"), "username": name, "verified": verified, "roles": ["bot"]});
        let (status, created) = call(
            rocketchat,
            "POST",
            "/api/v1/users.create",
            &auth,
            &user.to_string(),
        );
        assert_eq!(status, 200, "{created}");
    };
    // B1: the second bot's user created as guides say (email verified): email 2FA applies.
    create_user("bot2fa", true);
    // B5: a third bot, its user as `init rocketchat-user` makes one (email not verified), that
    // posts its login as a form (no healthcheck: such clients rarely have one).
    create_user("formbot", false);
    let up = stack.run(
        &[],
        "up",
        &["--timeout", "5s", "hubot", "hubot-2fa", "hubot-form"],
    );
    assert_ne!(up.code, Some(0), "{up:#?}");
    for bot in ["hubot", "hubot-2fa"] {
        crate::support::docker::wait_for_health(
            &stack.container(bot),
            "unhealthy",
            Duration::from_secs(30),
        );
    }
    let found = doctor_finds(
        &stack,
        &[
            ("G2-hook-token-or-path", "gitlab"),
            ("G4-hook-auto-disabled", "gitlab"),
            ("B4-bot-login", "hubot"),
            ("B1-bot-totp", "hubot-2fa"),
            ("B5-bot-form-login", "hubot-form"),
        ],
    );
    quoted(&found, "B1-bot-totp", "needs a second factor");
    quoted(&found, "B4-bot-login", "cannot log in");
    quoted(
        &found,
        "B5-bot-form-login",
        "bot.login_form = refused: Unauthorized (HTTP 401) (as `formbot`)",
    );
    quoted(
        &found,
        "B5-bot-form-login",
        "bot.login_json = accepted (as `formbot`)",
    );
    assert!(
        !found.to_string().contains("formbot-password"),
        "a password in the report: {found:#}"
    );
    drop(stack);
    drop(cleanup);
}

/// RC_STACK's MongoDB and Rocket.Chat, the latter at 8.0 (its setup wizard completed) with a
/// rate limiter that allows three calls per route and address in ten minutes; the jobs that
/// create a bot user without the `bot` role and the room `devops` it is a member of. The breaks
/// below are services added to it one group at a time.
fn start_stack() -> String {
    let stack = RC_STACK
        .replace(
            "\"--version\", \"6.6.0\",",
            "\"--version\", \"8.0.0\", \"--rate-limit-calls\", \"3\", \"--rate-limit-window\", \"10m\",",
        )
        .replace(
            "      ADMIN_EMAIL: admin@chat.example\n",
            "      ADMIN_EMAIL: admin@chat.example\n      OVERWRITE_SETTING_Show_Setup_Wizard: completed\n",
        );
    assert!(
        stack.contains("\"8.0.0\", \"--rate-limit-calls\"") && stack.contains("OVERWRITE_SETTING_"),
        "RC_STACK changed: {stack}"
    );
    format!("{stack}{START_JOBS}")
}

/// The bot's user (no `bot` role) and its room.
const START_JOBS: &str = r#"  rc-user:
    image: ${IMAGE}
    entrypoint: ["/stackctl", "init", "rocketchat-user", "--url", "http://rocketchat:3000", "--admin-password-env", "ADMIN_PASS", "--name", "ratebot", "--password-env", "BOT_PASS"]
    environment:
      ADMIN_PASS: doctor-admin-pass
      BOT_PASS: ratebot-password
    depends_on:
      rocketchat:
        condition: service_healthy
  rc-room:
    image: ${IMAGE}
    entrypoint: ["/stackctl", "init", "rocketchat-room", "--url", "http://rocketchat:3000", "--admin-password-env", "ADMIN_PASS", "--name", "devops", "--member", "ratebot"]
    environment:
      ADMIN_PASS: doctor-admin-pass
    depends_on:
      rc-user:
        condition: service_completed_successfully
"#;

/// M8: a root user for the image's entrypoint (so `--auth`) on a replica set without a
/// keyFile; a keyFile others may read. M7: a CPU whose flags lack `avx`.
const START_BREAKS_1: &str = r#"  mongo-auth:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--replSet", "rs0"]
    environment:
      MONGO_INITDB_ROOT_USERNAME: root
      MONGO_INITDB_ROOT_PASSWORD: example
  mongo-key:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--replSet", "rs0", "--keyFile", "/etc/mongo/keyfile"]
    volumes:
      - ./keyfile:/etc/mongo/keyfile:ro
  mongo-noavx:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--replSet", "rs0"]
    environment:
      MONGO_SIM_CPUINFO: /etc/cpuinfo
    volumes:
      - ./cpuinfo:/etc/cpuinfo:ro
"#;

/// M9: a data volume owned by root, mongod run as another uid; a data volume on a 64 KiB tmpfs.
/// M6: data written by MongoDB 5.0 (the image is bumped to 7.0 later).
const START_BREAKS_2: &str = r#"  mongo-perm:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0"]
    user: "65534:65534"
    volumes:
      - perm-data:/data/db
  mongo-full:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--replSet", "rs0"]
    volumes:
      - full-data:/data/db
  mongo-old:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--server-version", "5.0.31"]
    volumes:
      - old-data:/data/db
"#;

/// M5: a MongoDB 6.0 replica set (initiated) under a Rocket.Chat 8.0. B2: the bot, its diver
/// healthcheck probing every second as a user the rate limiter counts.
const START_BREAKS_3: &str = r#"  mongo6:
    image: ${IMAGE}
    entrypoint: ["/mongo-sim", "--bind", "0.0.0.0", "--port", "27017", "--replSet", "rs0", "--host-name", "mongo6", "--election-delay", "1s", "--server-version", "6.0.14"]
  mongo6-init:
    image: ${IMAGE}
    entrypoint: ["/stackctl", "init", "replica-set", "--uri", "mongodb://mongo6:27017", "--name", "rs0", "--member", "mongo6:27017", "--timeout", "30s"]
    depends_on:
      mongo6:
        condition: service_started
  rocketchat-on-6:
    image: ${IMAGE}
    entrypoint: ["/rocketchat-sim", "--bind", "0.0.0.0", "--port", "3000", "--version", "8.0.0", "--mongo-url", "mongodb://mongo6:27017/rocketchat?replicaSet=rs0"]
    environment:
      OVERWRITE_SETTING_Show_Setup_Wizard: completed
    depends_on:
      mongo6-init:
        condition: service_completed_successfully
  ratebot:
    image: ${HUBOT_IMAGE}
    entrypoint: ["/hubot-sim"]
    environment:
      ROCKETCHAT_URL: http://rocketchat:3000
      ROCKETCHAT_USER: ratebot
      ROCKETCHAT_PASSWORD: ratebot-password
      ROCKETCHAT_ROOM: devops
    healthcheck:
      test: ["CMD", "/stackctl", "check", "rocketchat-room", "--url", "http://rocketchat:3000", "--user", "ratebot", "--password-env", "ROCKETCHAT_PASSWORD", "--room", "devops", "--timeout", "3s"]
      interval: 1s
      timeout: 4s
      retries: 2
"#;

/// The volumes of the breaks: one Docker makes, one on a tmpfs of 64 KiB made by the test.
const START_VOLUMES: &str = "volumes:\n  perm-data: {}\n  old-data: {}\n  full-data:\n    external: true\n    name: ${FULL_VOLUME}\n";

/// The image of the Hubot simulator with stackctl (its diver healthcheck), removed with
/// `cleanup`.
fn hubot_image(prefix: &str, cleanup: &mut Cleanup) -> String {
    let simulators = crate::support::docker::static_simulators();
    let image = unique(prefix);
    cleanup.image(&image);
    crate::support::docker::build_image(
        &image,
        "FROM scratch\nCOPY hubot-sim stackctl /\n",
        &[
            (&simulators.join("hubot-sim"), "hubot-sim"),
            (&simulators.join("stackctl"), "stackctl"),
        ],
    );
    image
}

/// A volume of the test's own, removed on drop (after the stack that uses it).
struct OwnVolume(String);

impl Drop for OwnVolume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm", "-f", &self.0])
            .output();
    }
}

/// Runs `docker exec CONTAINER ARGS`, whatever it exits with; its output.
fn exec(container: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(args)
        .output()
        .unwrap()
}

/// Polls until the container's log contains `text`.
fn wait_for_log(container: &str, text: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        let out = std::process::Command::new("docker")
            .args(["logs", container])
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if log.contains(text) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{container}: no `{text}` in {log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// mongod's failed starts and a rate-limited bot, each from its real condition: MongoDB with
/// a root user and `--replSet` but no keyFile (M8, exit 2), a keyFile others may read (exit 1),
/// a CPU without AVX (M7, SIGILL: exit 132), a data volume another uid owns (M9, exit 100), a
/// data volume that fills up while it runs (M9), data of MongoDB 5.0 under a 7.0 image (M6,
/// exit 62), Rocket.Chat 8.0 on MongoDB 6.0 (M5, its `SERVER ERROR` box, exit 1), and a bot
/// without the `bot` role whose healthcheck the rate limiter stops (B2).
#[test]
fn doctor_names_mongod_start_failures_and_a_rate_limited_bot() {
    let mut cleanup = Cleanup::default();
    let hubot_image = hubot_image("stackctl-test-doctor-ratebot", &mut cleanup);
    let tmpfs = OwnVolume(unique("stdoctorfull"));
    docker(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=65536",
        &tmpfs.0,
    ]);
    let base = start_stack();
    let stack = TestStack::up(
        "stdoctorstart",
        &base,
        &[
            ("keyfile", "c2VjcmV0IGtleSBvZiB0aGUgcmVwbGljYSBzZXQ=\n"),
            (
                "cpuinfo",
                "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\nflags\t\t: fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm nopl pni cx16 x2apic hypervisor lahf_lm\n",
            ),
        ],
        &[
            ("HUBOT_IMAGE", hubot_image.clone()),
            ("FULL_VOLUME", tmpfs.0.clone()),
        ],
    );
    let file = stack.dir.path().join("compose.yml");
    let write = |services: &[&str]| {
        std::fs::write(&file, format!("{base}{}{START_VOLUMES}", services.concat())).unwrap();
    };
    // The key file as `openssl rand -base64` leaves it on the host: mode 0644.
    {
        use std::os::unix::fs::PermissionsExt;
        let key = stack.dir.path().join("keyfile");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    // M8 and M7: each exits at once.
    write(&[START_BREAKS_1]);
    // `up` may see it running before it ends: its exit is what counts.
    let _ = stack.run(
        &[],
        "up",
        &["--timeout", "10s", "mongo-auth", "mongo-key", "mongo-noavx"],
    );
    for service in ["mongo-auth", "mongo-key", "mongo-noavx"] {
        wait_for_exit(&stack.container(service), Duration::from_secs(20));
    }
    // What each group adds to the findings, which stay.
    let mut expected = vec![
        ("M8-keyfile", "mongo-auth"),
        ("M8-keyfile-permissions", "mongo-key"),
        ("M7-no-avx", "mongo-noavx"),
    ];
    let found = doctor_finds(&stack, &expected);
    for (rule, text) in [
        (
            "M8-keyfile",
            "BadValue: security.keyFile is required when authorization is enabled with replica sets",
        ),
        ("M8-keyfile", "docker.exit_code = 2"),
        (
            "M8-keyfile-permissions",
            "permissions on /etc/mongo/keyfile are too open",
        ),
        ("M8-keyfile-permissions", "docker.exit_code = 1"),
        ("M7-no-avx", "docker.exit_code = 132"),
    ] {
        quoted(&found, rule, text);
    }

    // M9 and M6: a volume it may not write; a volume that fills up; MongoDB 5.0's data.
    write(&[START_BREAKS_1, START_BREAKS_2]);
    let _ = stack.run(
        &[],
        "up",
        &["--timeout", "10s", "mongo-perm", "mongo-full", "mongo-old"],
    );
    wait_for_exit(&stack.container("mongo-perm"), Duration::from_secs(20));
    let mongo_full = stack.container("mongo-full");
    let mongo_old = stack.container("mongo-old");
    wait_for_log(
        &mongo_full,
        "mongo-sim listening on",
        Duration::from_secs(20),
    );
    wait_for_log(
        &mongo_old,
        "mongo-sim listening on",
        Duration::from_secs(20),
    );
    // Something else fills the disk, then the set's first write finds it full.
    let filler = exec(
        &mongo_full,
        &[
            "/usr/bin/node",
            "-e",
            "try { require('fs').writeFileSync('/data/db/filler', Buffer.alloc(1 << 20, 1)) } catch (e) { console.log(e.code) }",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&filler.stdout).trim(),
        "ENOSPC",
        "{filler:?}"
    );
    let initiate = exec(
        &mongo_full,
        &[
            "/stackctl",
            "init",
            "replica-set",
            "--uri=mongodb://127.0.0.1:27017",
            "--name=rs0",
            "--member=127.0.0.1:27017",
            "--timeout=5s",
        ],
    );
    assert!(!initiate.status.success(), "{initiate:?}");
    wait_for_exit(&mongo_full, Duration::from_secs(20));
    // The image bumped two majors over the data.
    write(&[
        START_BREAKS_1,
        &START_BREAKS_2.replace("\"5.0.31\"", "\"7.0.14\""),
    ]);
    let _ = stack.run(&[], "up", &["--timeout", "10s", "mongo-old"]);
    wait_for_exit(&mongo_old, Duration::from_secs(20));
    expected.extend([
        ("M9-disk", "mongo-perm"),
        ("M9-disk", "mongo-full"),
        ("M6-fcv-upgrade", "mongo-old"),
    ]);
    let found = doctor_finds(&stack, &expected);
    let m9 = |service: &str| {
        let finding = found["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "M9-disk" && f["service"] == service)
            .unwrap_or_else(|| panic!("no M9 on {service}: {found:#}"));
        evidence(finding)
    };
    let perm = m9("mongo-perm");
    assert!(
        perm.contains(
            "IllegalOperation: Attempted to create a lock file on a read-only directory: /data/db"
        ) && perm.contains("docker.exit_code = 100"),
        "{perm}"
    );
    let disk = m9("mongo-full");
    assert!(disk.contains("No space left on device"), "{disk}");
    quoted(&found, "M6-fcv-upgrade", "docker.exit_code = 62");
    quoted(&found, "M6-fcv-upgrade", "Wrong mongod version");

    // M5 and B2: Rocket.Chat 8.0 refuses MongoDB 6.0; the bot's probes hit the rate limiter.
    write(&[
        START_BREAKS_1,
        &START_BREAKS_2.replace("\"5.0.31\"", "\"7.0.14\""),
        START_BREAKS_3,
    ]);
    let _ = stack.run(
        &[],
        "up",
        &["--timeout", "20s", "rocketchat-on-6", "ratebot"],
    );
    wait_for_exit(&stack.container("rocketchat-on-6"), Duration::from_secs(30));
    let ratebot = stack.container("ratebot");
    // Unhealthy, its last probe stopped by the limiter (its first probes pass).
    let started = Instant::now();
    loop {
        let health: Value = serde_json::from_str(&docker(&[
            "inspect",
            "-f",
            "{{json .State.Health}}",
            &ratebot,
        ]))
        .unwrap();
        let last = health["Log"].as_array().and_then(|l| l.last());
        if health["Status"] == "unhealthy"
            && last.is_some_and(|l| {
                l["Output"]
                    .as_str()
                    .is_some_and(|o| o.contains("(HTTP 429)"))
            })
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{health:#}");
        std::thread::sleep(Duration::from_millis(300));
    }
    expected.extend([
        ("M5-mongo-too-old", "rocketchat-on-6"),
        ("B2-bot-rate-limited", "ratebot"),
    ]);
    let found = doctor_finds(&stack, &expected);
    for (rule, text) in [
        (
            "M5-mongo-too-old",
            "YOUR CURRENT MONGODB VERSION IS NOT SUPPORTED BY ROCKET.CHAT,",
        ),
        ("M5-mongo-too-old", "docker.exit_code = 1"),
        (
            "B2-bot-rate-limited",
            "rate limited (HTTP 429) for another ",
        ),
    ] {
        quoted(&found, rule, text);
    }
    drop(stack);
    drop(tmpfs);
    drop(cleanup);
}
