//! `up`, `down`, `status`, `graph` against the real Docker daemon, with images built here
//! `FROM scratch` (no registry). Every test uses its own project name and removes what it made.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::docker::{Cleanup, build_image, docker, static_binaries, unique};
use crate::support::{Output, stackctl};

/// A project directory with a compose file and a fixture image; `down -v` and image removal on drop.
struct Project {
    dir: tempfile::TempDir,
    name: String,
    _cleanup: Cleanup,
}

impl Project {
    fn new(compose: &str) -> Self {
        let bin = static_binaries();
        let mut cleanup = Cleanup::default();
        let image = unique("stackctl-test-fixture");
        cleanup.image(&image);
        build_image(
            &image,
            "FROM scratch\nCOPY stackctl http-fixture job-fixture /\n",
            &[
                (&bin.join("stackctl"), "stackctl"),
                (&bin.join("http-fixture"), "http-fixture"),
                (&bin.join("job-fixture"), "job-fixture"),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compose.yml"),
            compose.replace("IMAGE", &image),
        )
        .unwrap();
        let name = unique("sttest").replace('-', "");
        Self {
            dir,
            name,
            _cleanup: cleanup,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("compose.yml")
    }

    fn run(&self, args: &[&str]) -> Output {
        let file = self.file();
        let mut all: Vec<&str> = Vec::new();
        let (globals, rest): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| **a == "--json");
        all.extend(globals);
        all.extend(rest.iter().take(1));
        all.extend(["-f", file.to_str().unwrap(), "-p", &self.name]);
        all.extend(rest.iter().skip(1));
        stackctl(all).output()
    }

    fn events(&self, args: &[&str]) -> (Output, Vec<serde_json::Value>) {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let out = self.run(&with_json);
        let events = out.ndjson();
        (out, events)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans", "-t", "0"]);
    }
}

/// The index of the first `service` event for `service` with `status`.
fn position(events: &[serde_json::Value], service: &str, status: &str) -> usize {
    events
        .iter()
        .position(|e| e["event"] == "service" && e["service"] == service && e["status"] == status)
        .unwrap_or_else(|| panic!("no `{status}` event for `{service}` in {events:#?}"))
}

const CHAIN: &str = r#"
services:
  db:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    healthcheck:
      test: ["CMD", "/stackctl", "check", "tcp", "127.0.0.1:8080"]
      interval: 30s
      timeout: 3s
      retries: 3
  init:
    image: IMAGE
    entrypoint: ["/job-fixture", "2", "50"]
    depends_on:
      db:
        condition: service_healthy
    x-stackctl:
      job: {attempts: 5, backoff: 200ms}
  app:
    image: IMAGE
    entrypoint: ["/http-fixture", "9000"]
    environment:
      MODE: ${MODE:-one}
    depends_on:
      init:
        condition: service_completed_successfully
    x-stackctl:
      ready: ["http://app:9000/"]
"#;

#[test]
fn up_orders_gates_retries_jobs_and_is_idempotent() {
    let project = Project::new(CHAIN);
    let (out, events) = project.events(&["up", "--timeout", "60s"]);
    out.code(0);
    // Health gating: the job starts only once db is healthy — which stackctl notices by running
    // db's own healthcheck command, long before Docker's 30 s interval would.
    assert!(position(&events, "db", "healthy") < position(&events, "init", "creating"));
    assert!(position(&events, "init", "completed") < position(&events, "app", "creating"));
    let attempts = events
        .iter()
        .filter(|e| e["service"] == "init" && e["status"] == "attempt")
        .count();
    assert_eq!(attempts, 3, "two planned failures, then success");
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
    assert_eq!(events.last().unwrap()["event"], "stack_finished");

    // Again: nothing is recreated and the job is not run again.
    let (again, events) = project.events(&["up"]);
    again.code(0);
    assert_eq!(
        events.iter().filter(|e| e["status"] == "unchanged").count(),
        2,
        "{events:#?}"
    );
    let done = &events[position(&events, "init", "completed")];
    assert!(done["detail"].as_str().unwrap().contains("not run again"));
    assert!(
        !events
            .iter()
            .any(|e| e["status"] == "attempt" || e["status"] == "creating")
    );

    // A changed definition recreates only that service.
    let changed = stackctl([
        "--json",
        "up",
        "-f",
        project.file().to_str().unwrap(),
        "-p",
        &project.name,
    ])
    .env("MODE", "two")
    .output();
    changed.code(0);
    assert!(
        changed
            .stdout
            .contains(r#""service":"app","status":"recreating""#),
        "{changed:#?}"
    );
    assert!(
        !changed
            .stdout
            .contains(r#""service":"db","status":"recreating""#)
    );

    // status sees it; docker-compose 1.29.2 sees it too.
    let status = project.run(&["--json", "status"]);
    status.code(0);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["service"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(row("db")["state"], "running");
    // Docker's own status: still `starting` until its first 30 s interval, which stackctl did
    // not have to wait for.
    assert!(
        matches!(row("db")["health"].as_str(), Some("starting" | "healthy")),
        "{rows:#?}"
    );
    assert_eq!(row("init")["exit_code"], 0);
    assert_eq!(row("init")["job"], true);
    // Operators debugging see each Docker call and its duration.
    let debug = project.run(&["status", "--log-level", "debug"]);
    debug.code(0);
    assert!(
        debug.stderr.contains(r#"docker{call="project_containers""#)
            && debug.stderr.contains("time.busy="),
        "{debug:#?}"
    );
    let ps = std::process::Command::new("docker-compose")
        .args([
            "-f",
            project.file().to_str().unwrap(),
            "-p",
            &project.name,
            "ps",
        ])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    for service in ["db", "init", "app"] {
        assert!(
            ps.contains(&format!("{}-{service}-1", project.name)),
            "docker-compose ps:\n{ps}"
        );
    }

    // down removes everything it made.
    project.run(&["down"]).code(0);
    let left = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", project.name),
    ]);
    assert!(left.is_empty(), "containers left: {left}");
    let networks = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("name={}_default", project.name),
    ]);
    assert!(networks.is_empty(), "networks left: {networks}");
}

#[test]
fn a_crash_looping_service_fails_promptly_with_its_log() {
    let project = Project::new(
        r#"
services:
  broken:
    image: IMAGE
    entrypoint: ["/job-fixture", "1000"]
    restart: always
    healthcheck:
      test: ["CMD", "/stackctl", "check", "tcp", "127.0.0.1:8080"]
  app:
    image: IMAGE
    entrypoint: ["/http-fixture", "9000"]
    depends_on:
      broken:
        condition: service_healthy
"#,
    );
    let out = project.run(&["up", "--timeout", "60s"]);
    out.code(1);
    assert!(
        out.elapsed < Duration::from_secs(20),
        "prompt: {:?}",
        out.elapsed
    );
    assert!(
        out.stderr
            .contains("error: service `broken` failed: keeps restarting"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("| attempt "),
        "log tail shown: {out:#?}"
    );
    assert!(out.stderr.contains("hint: "), "{out:#?}");
    assert!(
        out.stderr
            .contains("app: failed (not started: dependency `broken` failed)"),
        "{out:#?}"
    );
}

#[test]
fn a_job_that_never_succeeds_fails_after_its_attempts() {
    let project = Project::new(
        r#"
services:
  init:
    image: IMAGE
    entrypoint: ["/job-fixture", "100"]
    x-stackctl:
      job: {attempts: 2}
"#,
    );
    let out = project.run(&["up"]);
    out.code(1);
    assert!(
        out.stderr
            .contains("service `init` failed: job failed: exited with code 1 after 2 attempt(s)"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("| attempt 2: failing on purpose"),
        "{out:#?}"
    );
    // Only the failing attempt's lines: attempt 1 ran in the same container a second earlier.
    assert!(
        !out.stderr.contains("| attempt 1:"),
        "earlier attempts' lines leak into the log tail: {out:#?}"
    );
    // Retries back off in seconds (a job usually waits for something slow), and say so.
    let delay = regex::Regex::new(r"next in [1-9][0-9.]* s\)").unwrap();
    assert!(
        delay.is_match(&out.stderr),
        "the next delay is shown and in seconds: {out:#?}"
    );
}

#[test]
fn a_service_that_dies_after_it_was_counted_ready_fails_the_run() {
    // `quick` has no healthcheck, so it is ready once started; it exits 1 after a second,
    // while `slow` still waits for a 3 s job. `up` must not say "stack ready".
    let project = Project::new(
        r#"
services:
  quick:
    image: IMAGE
    entrypoint: ["/job-fixture", "1", "1000"]
    restart: "no"
  waiter:
    image: IMAGE
    entrypoint: ["/job-fixture", "0", "3000"]
    x-stackctl:
      job: true
  slow:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    depends_on:
      waiter:
        condition: service_completed_successfully
"#,
    );
    let out = project.run(&["up", "--timeout", "60s"]);
    out.code(1);
    assert!(
        out.stderr.contains(
            "service `quick` failed: exited with code 1 while starting after it was ready"
        ),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("stack ready"), "{out:#?}");
}

#[test]
fn the_global_timeout_exits_three_naming_what_was_not_ready() {
    let project = Project::new(
        r#"
services:
  never:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    healthcheck:
      test: ["CMD", "/stackctl", "check", "tcp", "127.0.0.1:9999"]
  app:
    image: IMAGE
    entrypoint: ["/http-fixture", "9000"]
    depends_on:
      never: {condition: service_healthy}
"#,
    );
    let out = project.run(&["up", "--timeout", "3s"]);
    out.code(3);
    assert!(
        out.stderr
            .contains("error: timed out after 3.0 s; not ready:"),
        "{out:#?}"
    );
    // Why, per service: the last probe result, or the dependency still waited for.
    assert!(
        out.stderr
            .contains("never: started, not ready (healthcheck command exited with code 1)"),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains("app: not started (waits for `never` to be healthy)"),
        "{out:#?}"
    );
}

#[test]
fn validation_errors_name_file_line_and_fix_before_touching_docker() {
    let cases = [
        (
            "cycle",
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
        ),
        (
            "unknown dependency",
            "services:\n  mongo:\n    image: x\n  bot:\n    image: x\n    depends_on: [mongoo]\n",
        ),
        (
            "profile-disabled dependency",
            "services:\n  gitlab:\n    image: x\n    profiles: [gitlab]\n  bot:\n    image: x\n    depends_on: [gitlab]\n",
        ),
        (
            "duplicate container names",
            "services:\n  a:\n    image: x\n    container_name: chat\n  b:\n    image: x\n    container_name: chat\n",
        ),
        (
            "bad duration",
            "services:\n  a:\n    image: x\n    healthcheck:\n      test: [\"CMD\", \"/x\"]\n      interval: soon\n",
        ),
        (
            "unsupported key",
            "services:\n  a:\n    image: x\n    privileged: true\n",
        ),
        (
            "unsupported deploy key",
            "services:\n  a:\n    image: x\n    deploy:\n      replicas: 2\n      rollback_config: {parallelism: 1}\n",
        ),
        (
            "bad deploy value",
            "services:\n  a:\n    image: x\n    deploy:\n      resources:\n        limits: {cpus: half}\n",
        ),
        (
            "healthy without healthcheck",
            "services:\n  a:\n    image: x\n  b:\n    image: x\n    depends_on:\n      a: {condition: service_healthy}\n",
        ),
        (
            "required variable",
            "services:\n  a:\n    image: ${IMAGE:?set IMAGE to the chat image}\n",
        ),
        (
            "bad yaml",
            "services:\n  a:\n    image: x\n   bad: indent\n",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yml");
    let mut transcript = String::new();
    for (name, compose) in cases {
        std::fs::write(&file, compose).unwrap();
        // An unreachable daemon proves Docker is never touched: validation comes first.
        let out = stackctl(["up", "-f", file.to_str().unwrap(), "-p", "never-used"])
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .output();
        out.code(2);
        let _ = write!(
            transcript,
            "# {name}\n{}",
            out.stderr.replace(dir.path().to_str().unwrap(), "[DIR]")
        );
    }
    insta::assert_snapshot!(transcript);
}

#[test]
fn graph_formats() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yml"), CHAIN.replace("IMAGE", "x")).unwrap();
    let file = dir.path().join("compose.yml");
    let mut all = String::new();
    for format in ["text", "dot", "mermaid"] {
        let out = stackctl([
            "graph",
            "-f",
            file.to_str().unwrap(),
            "-p",
            "chat",
            "--format",
            format,
        ])
        .output();
        out.code(0);
        let _ = write!(all, "# {format}\n{}", out.stdout);
    }
    insta::assert_snapshot!(all);
}

#[test]
fn no_stack_file_is_a_usage_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = stackctl([
        "up",
        "-f",
        Path::new(dir.path()).join("missing.yml").to_str().unwrap(),
    ])
    .output();
    out.code(2);
    assert!(out.stderr.contains("does not exist"), "{out:#?}");
}

#[test]
fn builds_images_and_wires_volumes_networks_aliases_and_ports() {
    let project = Project::new(
        r#"
services:
  web:
    build:
      context: ./web
    entrypoint: ["/http-fixture", "8080"]
    volumes: ["data:/data", "./conf:/conf:ro"]
    networks:
      front: {aliases: [www]}
      back: {}
    ports: ["127.0.0.1::8080"]
  probe:
    image: IMAGE
    # Resolves the alias from inside the project network, then serves: proves the wiring.
    entrypoint: ["/stackctl", "wait", "--timeout", "20s", "tcp://www:8080", "--", "/http-fixture", "9000"]
    networks: [front]
    depends_on: [web]
    x-stackctl:
      ready: ["tcp://probe:9000"]
volumes:
  data: {}
networks:
  front: {}
  back: {}
"#,
    );
    let web = project.dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::create_dir_all(project.dir.path().join("conf")).unwrap();
    std::fs::copy(
        static_binaries().join("http-fixture"),
        web.join("http-fixture"),
    )
    .unwrap();
    std::fs::write(
        web.join("Dockerfile"),
        "FROM scratch\nCOPY http-fixture /\n",
    )
    .unwrap();

    let (out, events) = project.events(&["up", "--timeout", "60s"]);
    out.code(0);
    assert!(
        events
            .iter()
            .any(|e| e["service"] == "web" && e["status"] == "building")
    );
    assert!(position(&events, "web", "running") < position(&events, "probe", "ready"));
    let volume = format!("{}_data", project.name);
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        volume
    );
    for network in ["front", "back"] {
        let name = format!("{}_{network}", project.name);
        assert_eq!(
            docker(&[
                "network",
                "ls",
                "--format",
                "{{.Name}}",
                "--filter",
                &format!("name={name}")
            ]),
            name
        );
    }
    let status = project.run(&["--json", "status"]);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let web_row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "web")
        .unwrap();
    assert!(
        web_row["ports"][0]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{rows:#?}"
    );

    project.run(&["down", "-v"]).code(0);
    assert!(docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]).is_empty());
    let _ = docker(&["rmi", "-f", "--no-prune", &format!("{}-web", project.name)]);
}

#[test]
fn a_missing_image_that_cannot_be_pulled_fails_clearly() {
    let project = Project::new("services:\n  ghost:\n    image: stackctl-test-missing/none:1\n");
    let out = project.run(&["up", "--timeout", "60s"]);
    out.code(1);
    assert!(
        out.stderr
            .contains("cannot pull image `stackctl-test-missing/none:1`"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("hint: "), "{out:#?}");
}

/// `stop_grace_period`, `stop_signal`, `shm_size` and `deploy.resources` and
/// `deploy.restart_policy` reach the container as compose sets them, and `down` without `-t` gives each container its own grace period: the fixture (PID 1, no
/// handler) ignores the stop signal, so the stop takes the 2 s period, not Docker's 10 s.
#[test]
fn stop_settings_and_shm_size_reach_docker_and_down_honours_them() {
    let project = Project::new(
        r#"
services:
  slow:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    stop_grace_period: 2s
    stop_signal: SIGUSR1
    shm_size: 128m
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 64m, pids: 100}
        reservations: {memory: 32m}
      restart_policy: {condition: on-failure, max_attempts: 3}
    x-stackctl:
      ready: ["tcp://slow:8080"]
"#,
    );
    project.run(&["up", "--timeout", "60s"]).code(0);
    let id = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", project.name),
    ]);
    let settings = docker(&[
        "inspect",
        "-f",
        "{{.Config.StopTimeout}} {{.Config.StopSignal}} {{.HostConfig.ShmSize}} {{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        &id,
    ]);
    assert_eq!(
        settings,
        format!(
            "2 SIGUSR1 {} 500000000 {} {} 100 on-failure:3",
            128 << 20,
            64 << 20,
            32 << 20
        )
    );
    let down = project.run(&["down"]);
    down.code(0);
    assert!(
        down.elapsed >= Duration::from_secs(2) && down.elapsed < Duration::from_secs(9),
        "down took {:?}: the service's 2 s grace period, not Docker's 10 s",
        down.elapsed
    );
}

#[test]
fn up_puts_containers_back_on_their_networks_with_their_aliases() {
    let project = Project::new(
        r#"
services:
  web:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    networks:
      front: {aliases: [www]}
      back: {}
  probe:
    image: IMAGE
    entrypoint: ["/stackctl", "wait", "--timeout", "20s", "tcp://www:8080", "--", "/http-fixture", "9000"]
    networks: [front]
    depends_on: [web]
    x-stackctl:
      ready: ["tcp://probe:9000"]
networks:
  front: {}
  back: {}
"#,
    );
    project.run(&["up", "--timeout", "60s"]).code(0);
    let web = format!("{}-web-1", project.name);
    let (front, back) = (
        format!("{}_front", project.name),
        format!("{}_back", project.name),
    );
    let endpoint = |network: &str| -> serde_json::Value {
        let json = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", &web]);
        serde_json::from_str::<serde_json::Value>(&json).unwrap()[network].clone()
    };
    let answers_to = |network: &str, alias: &str| {
        let e = endpoint(network);
        ["Aliases", "DNSNames"]
            .iter()
            .filter_map(|k| e[*k].as_array())
            .flatten()
            .any(|a| a == alias)
    };

    // Connected again by hand without its alias: `www` no longer resolves on `front`.
    docker(&["network", "disconnect", &front, &web]);
    docker(&["network", "connect", &front, &web]);
    assert!(!answers_to(&front, "www"));
    let (out, events) = project.events(&["up", "--timeout", "60s"]);
    out.code(0);
    let back_on = &events[position(&events, "web", "reconnected")];
    assert!(
        back_on["detail"]
            .as_str()
            .unwrap()
            .contains("without its aliases `www`"),
        "{events:#?}"
    );
    assert!(answers_to(&front, "www") && answers_to(&front, "web"));

    // Stopped, and a network removed (Docker allows it with stopped containers on it): `up`
    // creates the network again, and only a new container can join it.
    docker(&[
        "stop",
        "-t",
        "0",
        &web,
        &format!("{}-probe-1", project.name),
    ]);
    docker(&["network", "rm", &back]);
    let (out, events) = project.events(&["up", "--timeout", "60s"]);
    out.code(0);
    let recreated = &events[position(&events, "web", "recreating")];
    assert_eq!(
        recreated["detail"],
        format!("its network `{back}` was removed and created again"),
        "{events:#?}"
    );
    assert_eq!(
        endpoint(&back)["NetworkID"],
        docker(&["network", "inspect", "-f", "{{.Id}}", &back]).as_str()
    );
    assert!(answers_to(&front, "www"));

    // Nothing left to converge.
    let (out, events) = project.events(&["up", "--timeout", "60s"]);
    out.code(0);
    assert_eq!(
        events.iter().filter(|e| e["status"] == "unchanged").count(),
        2,
        "{events:#?}"
    );
}
