//! `--engine swarm` on a real single-node swarm: the one-node bed of tests/swarm-nodes.sh (a
//! daemon in its own network namespace, made a swarm manager), not this machine's daemon. A
//! `docker swarm leave` on the host's daemon breaks name resolution in the bridge networks of
//! the containers running then (moby/moby#45144, reported on 20.10; the likely cause of a CI
//! run on 20.10.24 where a compose stack of another test, up beside this one, never got its
//! replica set initiated), and the tests run side by side. One test function; its stacks run side by side.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::docker::{Cleanup, build_image, docker_at, static_binaries, unique};
use crate::support::{Output, stackctl};

/// `unix://…` of the bed's manager, once it is up.
static MANAGER: OnceLock<String> = OnceLock::new();

fn manager() -> &'static str {
    MANAGER.get().expect("the one-node bed is up")
}

/// `docker ARGS` against the swarm's manager.
fn docker(args: &[&str]) -> String {
    docker_at(Some(manager()), args)
}

/// A stack file in its own directory, deployed as a unique stack, taken down on drop.
struct Stack {
    dir: tempfile::TempDir,
    file: PathBuf,
    name: String,
    env: Vec<(String, String)>,
}

impl Stack {
    fn new(compose: &str, image: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yml");
        std::fs::write(&file, compose.replace("IMAGE", image)).unwrap();
        Self {
            dir,
            file,
            name: unique("stswarm").replace('-', ""),
            env: Vec::new(),
        }
    }

    fn at(file: &Path, env: &[(&str, &str)]) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            file: file.to_path_buf(),
            name: unique("stswarm").replace('-', ""),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn run(&self, global: &[&str], command: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut all: Vec<&str> = global.to_vec();
        all.extend([command, "--engine", "swarm", "-f"]);
        all.push(self.file.to_str().unwrap());
        all.extend(["-p", &self.name]);
        all.extend(args);
        let mut run = stackctl(all)
            .current_dir(self.dir.path())
            .env("DOCKER_HOST", manager());
        for (k, v) in &self.env {
            run = run.env(k, v);
        }
        for (k, v) in extra {
            run = run.env(k, v);
        }
        run.output_within(Duration::from_secs(240))
    }

    fn up(&self, extra: &[(&str, &str)]) -> (Output, Vec<serde_json::Value>) {
        let out = self.run(&["--json"], "up", &["--timeout", "150s"], extra);
        let events = out.ndjson();
        (out, events)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.run(&["--quiet"], "down", &["-v"], &[]);
    }
}

fn position(events: &[serde_json::Value], service: &str, status: &str) -> usize {
    events
        .iter()
        .position(|e| e["event"] == "service" && e["service"] == service && e["status"] == status)
        .unwrap_or_else(|| panic!("no `{status}` event for `{service}` in {events:#?}"))
}

fn count(events: &[serde_json::Value], service: &str, status: &str) -> usize {
    events
        .iter()
        .filter(|e| e["service"] == service && e["status"] == status)
        .count()
}

const CHAIN: &str = r#"
services:
  db:
    image: IMAGE
    entrypoint: ["/http-fixture", "8080"]
    healthcheck:
      test: ["CMD", "/stackctl", "check", "tcp", "127.0.0.1:8080"]
      interval: 1s
      timeout: 3s
      retries: 3
  init:
    image: IMAGE
    entrypoint: ["/job-fixture", "2", "50"]
    environment:
      ATTEMPTS_FILE: /state/attempts
    volumes:
      - state:/state
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
    deploy:
      replicas: 2
      resources:
        limits: {cpus: "0.5", memory: 64m}
    healthcheck:
      test: ["CMD", "/stackctl", "check", "http", "http://db:8080/"]
      interval: 1s
      timeout: 3s
      retries: 3
    depends_on:
      init:
        condition: service_completed_successfully
volumes:
  state: {}
"#;

const BROKEN: &str = r#"
services:
  broken:
    image: IMAGE
    entrypoint: ["/job-fixture", "9"]
    environment:
      ATTEMPTS_FILE: /state/attempts
    volumes:
      - state:/state
    x-stackctl:
      job: {attempts: 2, backoff: 100ms}
  after:
    image: IMAGE
    entrypoint: ["/http-fixture", "9000"]
    depends_on:
      broken:
        condition: service_completed_successfully
volumes:
  state: {}
"#;

/// The chain: ordering by health and completion, a job retried until it completes (its
/// attempts read from Swarm's tasks), `deploy:` keys on the service, `up` again a no-op, a
/// changed variable an update of that service only, `docker stack` seeing the stack, `down`.
fn chain(image: &str) {
    let stack = Stack::new(CHAIN, image);
    let (out, events) = stack.up(&[]);
    out.code(0);
    assert!(position(&events, "db", "healthy") < position(&events, "init", "creating"));
    assert!(position(&events, "init", "completed") < position(&events, "app", "creating"));
    assert_eq!(
        count(&events, "init", "attempt"),
        3,
        "two planned failures, then success: {events:#?}"
    );
    assert_eq!(
        events[position(&events, "app", "healthy")]["detail"],
        "2/2 tasks"
    );

    let name = &stack.name;
    let app = format!("{name}_app");
    let spec = docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.Labels}} {{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}",
        &app,
    ]);
    assert!(
        spec.contains(&format!("com.docker.stack.namespace:{name}")),
        "{spec}"
    );
    assert!(spec.ends_with(" 500000000 67108864"), "{spec}");
    let mode = docker(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.Mode}}",
        &format!("{name}_init"),
    ]);
    assert!(mode.contains("ReplicatedJob"), "{mode}");

    // `docker stack` sees our services and their tasks.
    let services = docker(&[
        "stack",
        "services",
        "--format",
        "{{.Name}} {{.Replicas}}",
        name,
    ]);
    assert!(services.contains(&format!("{app} 2/2")), "{services}");
    let ps = docker(&[
        "stack",
        "ps",
        "--format",
        "{{.Name}} {{.CurrentState}}",
        name,
    ]);
    assert!(
        ps.contains(&format!("{name}_init.")) && ps.contains("Complete"),
        "{ps}"
    );
    let network = docker(&[
        "network",
        "inspect",
        "--format",
        "{{.Driver}} {{.Attachable}}",
        &format!("{name}_default"),
    ]);
    assert_eq!(network, "overlay true");

    // Again: nothing changes, nothing reruns.
    let version = |svc: &str| {
        docker(&[
            "service",
            "inspect",
            "--format",
            "{{.Version.Index}}",
            &format!("{name}_{svc}"),
        ])
    };
    let before: Vec<String> = ["db", "init", "app"].iter().map(|s| version(s)).collect();
    let (again, events) = stack.up(&[]);
    again.code(0);
    assert_eq!(
        events.iter().filter(|e| e["status"] == "unchanged").count(),
        3,
        "{events:#?}"
    );
    assert!(!events.iter().any(|e| matches!(
        e["status"].as_str(),
        Some("attempt" | "creating" | "updating")
    )));
    let after: Vec<String> = ["db", "init", "app"].iter().map(|s| version(s)).collect();
    assert_eq!(before, after, "a no-op `up` must not touch a service");

    // A changed variable updates that service only.
    let (changed, events) = stack.up(&[("MODE", "two")]);
    changed.code(0);
    assert_eq!(count(&events, "app", "updating"), 1, "{events:#?}");
    assert_eq!(
        count(&events, "db", "updating") + count(&events, "init", "updating"),
        0
    );

    let status = stack.run(&["--json"], "status", &[], &[("MODE", "two")]);
    status.code(0);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let row = |svc: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["service"] == svc)
            .unwrap_or_else(|| panic!("no `{svc}` in {rows:#?}"))
            .clone()
    };
    assert_eq!(row("app")["mode"], "replicated");
    assert_eq!(row("app")["desired"], 2);
    assert_eq!(row("init")["mode"], "job");
    assert_eq!(row("init")["completed"], 1);
    let table = stack.run(&[], "status", &[], &[]);
    table.code(0);
    assert!(table.stdout.starts_with("SERVICE"), "{table:#?}");

    let down = stack.run(&["--json"], "down", &["-v"], &[]);
    down.code(0);
    let removed: serde_json::Value = serde_json::from_str(down.stdout.trim()).unwrap();
    assert_eq!(removed["removed"]["services"].as_array().unwrap().len(), 3);
    assert_eq!(
        removed["removed"]["networks"],
        serde_json::json!([format!("{name}_default")])
    );
    assert_eq!(
        removed["removed"]["volumes"],
        serde_json::json!([format!("{name}_state")])
    );
    assert_eq!(
        docker(&["stack", "services", "-q", name]),
        "",
        "`docker stack services` still lists the stack"
    );
}

/// A job out of attempts fails the run with its last task's error and log, and its dependant
/// is never made.
fn failed_job(image: &str) {
    let stack = Stack::new(BROKEN, image);
    let (out, events) = stack.up(&[]);
    out.code(1);
    assert_eq!(count(&events, "broken", "attempt"), 2, "{events:#?}");
    assert!(
        out.stderr
            .contains("service `broken` failed: no attempt succeeded (2 made)"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("non-zero exit (1)"), "{out:#?}");
    assert!(
        out.stderr.contains("attempt 2: failing on purpose"),
        "the last attempt's log: {out:#?}"
    );
    assert_eq!(count(&events, "after", "creating"), 0);
}

/// The demo stack: `mongo`'s healthcheck waits for a PRIMARY that `mongo-init` makes, and
/// `mongo-init` dials `mongo` by name — the DNS trap. Its whole chain comes up.
fn demo(image: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/demo/compose.yml");
    let stack = Stack::at(&file, &[("BENCH_IMAGE", image)]);
    let (out, events) = stack.up(&[]);
    out.code(0);
    assert!(position(&events, "mongo", "started") < position(&events, "mongo-init", "creating"));
    assert!(position(&events, "mongo-init", "completed") < position(&events, "mongo", "healthy"));
    for job in ["rc-user", "rc-room", "rc-hook"] {
        assert!(position(&events, job, "completed") > 0);
    }
    position(&events, "bot", "healthy");
    let ps = docker(&["stack", "ps", "--format", "{{.Name}}", &stack.name]);
    assert!(ps.contains(&format!("{}_mongo-init.", stack.name)), "{ps}");
}

#[test]
fn stacks_run_in_order_on_a_single_node_swarm() {
    let bin = static_binaries();
    let mut cleanup = Cleanup::default();
    let image = unique("stackctl-test-swarm");
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
    let demo_image = unique("stackctl-test-swarm-demo");
    cleanup.image(&demo_image);
    crate::support::docker::static_simulators();
    let built = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/demo/build-image.sh"))
        .arg(&demo_image)
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");

    let bed = crate::nodes::Bed::up_with(1);
    bed.load(&image);
    bed.load(&demo_image);
    MANAGER.set(bed.host.clone()).expect("one bed per run");
    std::thread::scope(|scope| {
        let runs = [
            scope.spawn(|| chain(&image)),
            scope.spawn(|| failed_job(&image)),
            scope.spawn(|| demo(&demo_image)),
        ];
        for run in runs {
            if let Err(panic) = run.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}
