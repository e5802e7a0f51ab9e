//! `probe` against the real Docker daemon: checks run from inside services whose images hold
//! nothing but their own program (`FROM scratch`), the matrix on a stack with two networks, and
//! stacks docker-compose brought up. Every test uses its own project and removes what it made.

use std::path::PathBuf;

use crate::support::docker::{Cleanup, build_image, docker, static_binaries, unique};
use crate::support::{Output, stackctl};

/// A stack of `FROM scratch` services holding only the HTTP fixture: no shell, no nc, no
/// stackctl. `down -v --remove-orphans` and the image removal on drop.
struct Stack {
    dir: tempfile::TempDir,
    name: String,
    image: String,
    _cleanup: Cleanup,
}

impl Stack {
    fn new(compose: &str) -> Self {
        let bin = static_binaries();
        let mut cleanup = Cleanup::default();
        let image = unique("stackctl-test-notools");
        cleanup.image(&image);
        build_image(
            &image,
            "FROM scratch\nCOPY http-fixture /\n",
            &[(&bin.join("http-fixture"), "http-fixture")],
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compose.yml"),
            compose.replace("IMAGE", &image),
        )
        .unwrap();
        Self {
            dir,
            name: unique("stprobe").replace('-', ""),
            image,
            _cleanup: cleanup,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("compose.yml")
    }

    /// `stackctl GLOBALS COMMAND -f FILE -p NAME REST`, with the static binary for the probe.
    fn run(&self, globals: &[&str], command: &str, rest: &[&str]) -> Output {
        let file = self.file();
        let mut args: Vec<&str> = globals.to_vec();
        args.extend([command, "-f", file.to_str().unwrap(), "-p", &self.name]);
        args.extend(rest);
        stackctl(args)
            .env("STACKCTL_PROBE_BINARY", probe_binary().to_str().unwrap())
            .output()
    }

    fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.name)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.run(&[], "down", &["-v", "--remove-orphans"]);
    }
}

fn probe_binary() -> PathBuf {
    static_binaries().join("stackctl")
}

fn ip_of(container: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container,
    ])
}

/// The probe containers left in a project once the daemon's auto-removal had its moment.
fn gone(project: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let left = leftovers(project);
        if left.is_empty() || started.elapsed() > std::time::Duration::from_secs(10) {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The probe containers left in a project.
fn leftovers(project: &str) -> String {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        "label=io.stackctl.probe",
    ])
}

const TWO_SERVICES: &str = r#"
services:
  db:
    image: IMAGE
    entrypoint: ["/http-fixture", "5432"]
  web:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    environment:
      DATABASE_URL: "postgres://db:5432/app"
"#;

#[test]
fn probe_runs_checks_inside_a_scratch_service_with_no_tools() {
    let stack = Stack::new(TWO_SERVICES);
    stack.run(&[], "up", &["--timeout", "60s"]).code(0);

    let out = stack.run(
        &[],
        "probe",
        &[
            "web",
            "tcp://db:5432",
            "dns://db",
            "http://db:5432/",
            "tcp://db:1",
            "tcp://ghost:80",
        ],
    );
    out.code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{out:#?}");
    let db_ip = ip_of(&stack.container("db"));
    assert!(
        lines[0].starts_with("web → tcp://db:5432: reachable in "),
        "{out:#?}"
    );
    assert!(lines[0].contains(&format!("[{db_ip}]")), "{out:#?}");
    assert!(
        lines[1].starts_with("web → dns://db: resolved in "),
        "{out:#?}"
    );
    assert!(
        lines[2].starts_with("web → http://db:5432/: reachable in "),
        "{out:#?}"
    );
    assert!(
        lines[3].starts_with("web → tcp://db:1: refused in "),
        "{out:#?}"
    );
    assert!(
        lines[4].starts_with("web → tcp://ghost:80: unresolvable in "),
        "{out:#?}"
    );

    // NDJSON: one object per target, with the addresses seen from inside `web`.
    let json = stack.run(&["--json"], "probe", &["web", "tcp://db:5432"]);
    json.code(0);
    let line: serde_json::Value = serde_json::from_str(json.one_line()).unwrap();
    assert_eq!(line["from"], "web");
    assert_eq!(line["target"], "tcp://db:5432");
    assert_eq!(line["result"], "reachable");
    assert_eq!(line["addresses"], serde_json::json!([db_ip]));
    assert!(line["latency_ms"].as_f64().unwrap() > 0.0);

    // Debug logs tell the image, the container's life and each target.
    let debug = stack.run(
        &["--log-level", "debug"],
        "probe",
        &["web", "tcp://db:5432"],
    );
    debug.code(0);
    for event in [
        "probe image cache hit",
        "probe container created",
        "probe container started",
        "probe container exited",
        "probe container done",
        "probing target=tcp://db:5432",
    ] {
        assert!(debug.stderr.contains(event), "no `{event}` in {debug:#?}");
    }
    assert_eq!(gone(&stack.name), "", "a probe container was left behind");

    // The test binary is dynamically linked: it cannot be the probe, and says so.
    let file = stack.file();
    let dynamic = stackctl([
        "probe",
        "-f",
        file.to_str().unwrap(),
        "-p",
        &stack.name,
        "web",
        "tcp://db:5432",
    ])
    .output();
    dynamic.code(2);
    assert!(
        dynamic
            .stderr
            .contains("is dynamically linked (it needs `/")
            && dynamic
                .stderr
                .contains("hint: point `--binary` (or `STACKCTL_PROBE_BINARY`)"),
        "{dynamic:#?}"
    );

    // A stopped service has no namespace to join.
    docker(&["stop", "-t", "1", &stack.container("db")]);
    let stopped = stack.run(&[], "probe", &["db", "tcp://web:8080"]);
    stopped.code(1);
    // (http-fixture dies of SIGTERM: the exit code is Docker's to report.)
    assert!(
        stopped
            .stderr
            .contains("error: service `db` is not running (`exited`, exit code ")
            && stopped
                .stderr
                .contains("a container that is not running has no network namespace to join"),
        "{stopped:#?}"
    );
    assert!(
        stopped
            .stderr
            .contains("hint: start it with `stackctl up db`"),
        "{stopped:#?}"
    );

    // `down` removes probe containers left behind (e.g. by a killed probe).
    docker(&[
        "create",
        "--name",
        &format!("{}-web-probe-test", stack.name),
        "--label",
        &format!("com.docker.compose.project={}", stack.name),
        "--label",
        "com.docker.compose.service=web",
        "--label",
        "com.docker.compose.oneoff=True",
        "--label",
        "io.stackctl.probe=web",
        &stack.image,
        "/http-fixture",
    ]);
    assert_ne!(leftovers(&stack.name), "");
    stack.run(&[], "down", &[]).code(0);
    assert_eq!(leftovers(&stack.name), "", "`down` left a probe container");
}

const TWO_NETWORKS: &str = r#"
services:
  db:
    image: IMAGE
    entrypoint: ["/http-fixture", "5432"]
    networks: [back]
  app:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    environment:
      DATABASE_URL: "postgres://db:5432/app"
    networks: [back, front]
    depends_on: [db]
  web:
    image: IMAGE
    entrypoint: ["/http-fixture", "80"]
    environment:
      UPSTREAM: "http://app:8080"
    networks: [front]
networks:
  back: {}
  front: {}
"#;

fn rows(out: &Output) -> Vec<serde_json::Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v: &serde_json::Value| v["event"] == "matrix_row")
        .collect()
}

fn row<'a>(rows: &'a [serde_json::Value], from: &str, target: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["from"] == from && r["target"] == target)
        .unwrap_or_else(|| panic!("no row {from} -> {target} in {rows:#?}"))
}

#[test]
fn the_matrix_shows_links_and_isolation_and_flags_broken_isolation() {
    let stack = Stack::new(TWO_NETWORKS);
    stack.run(&[], "up", &["--timeout", "60s"]).code(0);

    let out = stack.run(&["--json"], "probe", &["--matrix"]);
    out.code(0);
    let all = rows(&out);
    // The dependency is reachable on the port its client uses.
    let link = row(&all, "app", "tcp://db:5432");
    assert_eq!(link["result"], "reachable", "{link:#}");
    assert_eq!(link["depends_on"], true);
    assert_eq!(link["as_expected"], true);
    assert_eq!(row(&all, "web", "tcp://app:8080")["result"], "reachable");
    // web and db share no network: db must not even resolve from web (and the other way).
    for (from, target) in [
        ("web", "dns://db"),
        ("web", "tcp://db:5432"),
        ("db", "dns://web"),
    ] {
        let isolated = row(&all, from, target);
        assert_eq!(isolated["result"], "unresolvable", "{isolated:#}");
        assert_eq!(isolated["expected"], "unresolvable");
        assert_eq!(isolated["as_expected"], true);
        assert_eq!(isolated["shared_networks"], serde_json::json!([]));
    }
    // The answers each side sees are among Docker's addresses (app's on the shared network).
    let seen = row(&all, "web", "dns://app");
    let docker_has = seen["docker_addresses"].as_array().unwrap();
    assert!(!seen["answers"].as_array().unwrap().is_empty(), "{seen:#}");
    assert!(
        seen["answers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| docker_has.contains(a)),
        "{seen:#}"
    );

    // The table for people.
    let table = stack.run(&[], "probe", &["--matrix"]);
    table.code(0);
    assert!(
        table.stdout.lines().any(|l| l.contains("web")
            && l.contains("tcp://db:5432")
            && l.contains("unresolvable")
            && l.contains("no shared network")),
        "{table:#?}"
    );
    assert!(
        table.stdout.contains("as expected, 0 unexpected"),
        "{table:#?}"
    );

    // Break the isolation: web joins the back network behind the stack file's back. The
    // matrix judges against the file, says so, and fails.
    docker(&[
        "network",
        "connect",
        &format!("{}_back", stack.name),
        &stack.container("web"),
    ]);
    let broken = stack.run(&["--json"], "probe", &["--matrix"]);
    broken.code(1);
    let all = rows(&broken);
    let leak = row(&all, "web", "tcp://db:5432");
    assert_eq!(leak["result"], "reachable", "{leak:#}");
    assert_eq!(leak["expected"], "unresolvable");
    assert_eq!(leak["as_expected"], false);
    assert!(
        leak["detail"]
            .as_str()
            .unwrap()
            .starts_with("isolation broken: `db` is reachable from `web`"),
        "{leak:#}"
    );
    let table = stack.run(&[], "probe", &["--matrix"]);
    table.code(1);
    assert!(
        table.stdout.lines().any(|l| l.starts_with('!')
            && l.contains("tcp://db:5432")
            && l.contains("isolation broken")),
        "{table:#?}"
    );

    // A stopped service is listed as skipped, not probed.
    docker(&["stop", "-t", "1", &stack.container("db")]);
    let partial = stack.run(&[], "probe", &["--matrix"]);
    assert!(
        partial
            .stdout
            .contains("skipped: db: not running (`exited`)"),
        "{partial:#?}"
    );
}

#[test]
fn probe_finds_the_services_of_a_stack_docker_compose_brought_up() {
    let stack = Stack::new(TWO_SERVICES);
    let file = stack.file();
    let compose =
        |args: &[&str]| crate::support::docker::docker_compose(&file, &stack.name, args, &[]);
    compose(&["up", "-d"]);
    // No stack file at hand: `-p` alone finds the containers by compose's labels.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = stackctl([
        "probe",
        "-p",
        &stack.name,
        "web",
        "tcp://db:5432",
        "dns://db",
    ])
    .env("STACKCTL_PROBE_BINARY", probe_binary().to_str().unwrap())
    .current_dir(elsewhere.path())
    .output();
    out.code(0);
    assert!(
        out.stdout.contains("web → tcp://db:5432: reachable"),
        "{out:#?}"
    );
    let matrix = stackctl(["probe", "-p", &stack.name, "--matrix"])
        .env("STACKCTL_PROBE_BINARY", probe_binary().to_str().unwrap())
        .current_dir(elsewhere.path())
        .output();
    matrix.code(0);
    assert!(
        matrix.stdout.contains("db         tcp://db:5432")
            || matrix.stdout.contains("tcp://db:5432"),
        "{matrix:#?}"
    );
    assert_eq!(gone(&stack.name), "");
    compose(&["down", "-v"]);
}
