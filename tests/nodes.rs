//! `--engine swarm` across three nodes: the test bed of `tests/swarm-nodes.sh` (three dockerd,
//! each in a network namespace of its own, joined by a bridge, with a registry on it) brought
//! up for the test and down again when it ends, also when it fails. It needs root; where the
//! bed cannot be built the test fails — it does not skip.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::docker::{Cleanup, build_image, docker_at, static_simulators, unique};
use crate::support::{Output, stackctl};

/// The registry the test bed runs on its bridge (`tests/swarm-nodes.sh`).
const REGISTRY: &str = "192.168.213.1:5000";
/// The Rocket.Chat admin's password in the node-loss test (its override file).
const NODES_TEST_PASS: &str = "Nodes-test-pass-1";

/// The three-node test bed (or fewer nodes: `up_with`); `down` on drop.
pub(crate) struct Bed {
    /// `unix://…` of the manager.
    pub(crate) host: String,
    /// Override files every `stackctl` call adds after the test's stack file.
    overrides: Vec<std::path::PathBuf>,
    /// One bed at a time (its names are fixed): the tests of this binary take turns, each
    /// holding its turn until its bed's `down` ran.
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Waits for the bed of any other test of this binary to be down.
fn bed_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed holding its turn still brought its bed down (`Drop`).
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Bed {
    fn up() -> Self {
        Self::up_with(3)
    }

    /// A bed of `nodes` nodes (1-3), the first the manager.
    pub(crate) fn up_with(nodes: u32) -> Self {
        let turn = bed_turn();
        let started = Instant::now();
        let out = Command::new("bash")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["tests/swarm-nodes.sh", "up"])
            .env("SWARM_NODES", nodes.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        // From here on `down` runs whatever happened: a half-built bed is removed too.
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let host = stdout
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("DOCKER_HOST="))
            .unwrap_or_default()
            .to_owned();
        let bed = Self {
            host,
            overrides: Vec::new(),
            _turn: turn,
        };
        assert!(
            out.status.success() && !bed.host.is_empty(),
            "the three-node test bed did not come up (it needs root, dockerd and docker-registry: `bash tests/setup.sh`):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "nodes: test bed up in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        bed
    }

    /// `docker ARGS` against the manager; panics with stderr on failure.
    pub(crate) fn docker(&self, args: &[&str]) -> String {
        docker_at(Some(&self.host), args)
    }

    /// Copies an image of the host's daemon to the manager (`docker save | docker load`): the
    /// manager has it locally, as an image built there would be.
    pub(crate) fn load(&self, image: &str) {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save runs");
        let loaded = Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .arg("load")
            .stdin(save.stdout.take().expect("piped"))
            .output()
            .expect("docker load runs");
        assert!(save.wait().expect("docker save ends").success());
        assert!(
            loaded.status.success(),
            "docker load: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
    }

    /// `stackctl [--json] COMMAND --engine swarm -f FILE -p PROJECT ARGS…` against the manager,
    /// with `STACK_IMAGE` set to `image`.
    fn stackctl(&self, file: &Path, project: &str, image: &str, args: &[&str]) -> Output {
        let file = file.to_str().expect("utf-8 path");
        let (global, rest) = match args.first() {
            Some(&"--json") => (&args[..1], &args[1..]),
            _ => (&args[..0], args),
        };
        let mut all: Vec<&str> = global.to_vec();
        all.extend(rest.first().copied());
        all.extend(["--engine", "swarm", "-f", file, "-p", project]);
        for extra in &self.overrides {
            all.extend(["-f", extra.to_str().expect("utf-8 path")]);
        }
        all.extend(rest.iter().skip(1).copied());
        stackctl(all)
            .env("DOCKER_HOST", &self.host)
            .env("STACK_IMAGE", image)
            .env("NODES_TEST_PASS", NODES_TEST_PASS)
            .output_within(Duration::from_secs(200))
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let out = Command::new("bash")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["tests/swarm-nodes.sh", "down"])
            .stdin(Stdio::null())
            .output();
        if let Ok(out) = out {
            if !out.status.success() {
                eprintln!(
                    "swarm-nodes.sh down failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

fn events_of(out: &Output, status: &str) -> Vec<String> {
    out.ndjson()
        .iter()
        .filter(|e| e["event"] == "service" && e["status"] == status)
        .filter_map(|e| e["service"].as_str().map(str::to_owned))
        .collect()
}

/// The simulators' image (stackctl, mongo-sim, rocketchat-sim, http-fixture), removed with
/// `cleanup`.
fn stack_image(cleanup: &mut Cleanup) -> String {
    let bin = static_simulators();
    let image = unique("stackctl-test-nodes");
    cleanup.image(&image);
    build_image(
        &image,
        "FROM scratch\nCOPY stackctl mongo-sim rocketchat-sim http-fixture /\n",
        &[
            (&bin.join("stackctl"), "stackctl"),
            (&bin.join("mongo-sim"), "mongo-sim"),
            (&bin.join("rocketchat-sim"), "rocketchat-sim"),
            (&bin.join("http-fixture"), "http-fixture"),
        ],
    );
    image
}

#[test]
fn the_chat_stack_runs_across_three_nodes_through_a_registry() {
    let mut cleanup = Cleanup::default();
    let image = stack_image(&mut cleanup);
    let bed = Bed::up();
    bed.load(&image);
    // compose/nodes: MongoDB on node 2, its replica-set job on node 3, web spread over all.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/nodes/compose.yml");
    let project = unique("stnodes").replace('-', "");
    let stack_services = || {
        bed.docker(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.stack.namespace={project}"),
        ])
    };

    // A local-only image is refused before anything is deployed.
    let refused = bed.stackctl(&file, &project, &image, &["up", "--timeout", "60s"]);
    refused.code(1);
    assert!(
        refused
            .stderr
            .contains("exist only on this node (built or loaded here, with no registry digest); the swarm's other 2 node(s) cannot pull them"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--registry HOST:PORT"),
        "{}",
        refused.stderr
    );
    assert_eq!(stack_services(), "", "nothing is deployed");

    // So is a host path only the manager has.
    let bound = tempfile::tempdir().unwrap();
    std::fs::write(bound.path().join("gitlab.js"), "// script\n").unwrap();
    std::fs::write(
        bound.path().join("compose.yml"),
        format!(
            "services:\n  hook:\n    image: {image}\n    entrypoint: [\"/http-fixture\", \"8080\"]\n    volumes:\n      - ./gitlab.js:/gitlab.js:ro\n"
        ),
    )
    .unwrap();
    let refused = bed.stackctl(
        &bound.path().join("compose.yml"),
        &project,
        &image,
        &["up", "--registry", REGISTRY, "--timeout", "60s"],
    );
    refused.code(1);
    assert!(
        refused.stderr.contains("`hook` bind-mounts `")
            && refused
                .stderr
                .contains("gitlab.js` from this node's filesystem"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("the stackctl image") && refused.stderr.contains("Swarm config"),
        "{}",
        refused.stderr
    );
    assert_eq!(stack_services(), "", "nothing is deployed");

    // Through the registry: pushed, deployed by digest, spread over the nodes.
    let (up, guard) = up_through_registry(&bed, &file, &project, &image);
    // One image for the four services: pushed once.
    let pushed = events_of(&up, "pushing");
    assert_eq!(pushed.len(), 1, "{}", up.stdout);
    for service in ["mongo", "mongo-init", "rocketchat", "web"] {
        let spec = bed.docker(&[
            "service",
            "inspect",
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
            &format!("{project}_{service}"),
        ]);
        assert!(
            spec.starts_with(&format!("{REGISTRY}/{image}@sha256:")),
            "{service} runs {spec}"
        );
    }

    let status = bed.stackctl(&file, &project, &image, &["--json", "status"]);
    status.code(0);
    let statuses: Vec<serde_json::Value> = serde_json::from_str(&status.stdout).unwrap();
    let nodes_of = |service: &str| -> Vec<String> {
        statuses
            .iter()
            .find(|s| s["service"] == service)
            .and_then(|s| s["nodes"].as_array())
            .map(|n| {
                n.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(nodes_of("mongo"), ["stkn2"], "{}", status.stdout);
    assert_eq!(nodes_of("mongo-init"), ["stkn3"], "{}", status.stdout);
    assert_eq!(
        nodes_of("web"),
        ["stkn1", "stkn2", "stkn3"],
        "{}",
        status.stdout
    );
    let table = bed.stackctl(&file, &project, &image, &["status"]);
    table.code(0);
    assert!(table.stdout.contains("NODES"), "{}", table.stdout);
    assert!(
        table.stdout.contains("stkn1,stkn2,stkn3"),
        "{}",
        table.stdout
    );

    // Again: nothing changes (the pushed images are the same ids).
    let again = bed.stackctl(
        &file,
        &project,
        &image,
        &["--json", "up", "--registry", REGISTRY, "--timeout", "60s"],
    );
    again.code(0);
    assert_eq!(events_of(&again, "unchanged").len(), 4, "{}", again.stdout);

    // A node lost (its daemon killed): `status` names it once the manager has marked it down
    // (swarmkit: after three missed 5 s heartbeats).
    let daemon = std::fs::read_to_string("/run/stackctl-nodes/n3/docker.pid").unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", daemon.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    let lost = Instant::now();
    wait_status(
        &bed,
        (&file, &project, &image),
        lost,
        Duration::from_secs(45),
        |table| table.contains("stkn3 (down)"),
    );

    drop(guard);
    assert_eq!(stack_services(), "", "down removed the services");
    drop(bed);
    // The bed's `down` leaves the host as it found it.
    let left = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).output().expect("runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!left("ip", &["netns", "list"]).contains("stkn"));
    assert!(!left("ip", &["-br", "link"]).contains("stkn"));
    assert!(!left("iptables", &["-S", "DOCKER-USER"]).contains("stknbr0"));
    assert!(!Path::new("/run/stackctl-nodes").exists());
    drop(cleanup);
}

/// Polls `status` (every second, until `within` after `since`) until its table `shows` the
/// lost node.
fn wait_status(
    bed: &Bed,
    (file, project, image): (&Path, &str, &str),
    since: Instant,
    within: Duration,
    shows: impl Fn(&str) -> bool,
) {
    loop {
        let status = bed.stackctl(file, project, image, &["status"]);
        status.code(0);
        if shows(&status.stdout) {
            eprintln!(
                "nodes: status shows the lost node after {:.1}s:\n{}",
                since.elapsed().as_secs_f64(),
                status.stdout
            );
            return;
        }
        assert!(
            since.elapsed() < within,
            "status never showed the lost node:\n{}",
            status.stdout
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `up --json --registry` of the stack, which must succeed, and the guard that takes it down.
fn up_through_registry<'a>(
    bed: &'a Bed,
    file: &'a Path,
    project: &'a str,
    image: &'a str,
) -> (Output, StackDown<'a>) {
    let started = Instant::now();
    let up = bed.stackctl(
        file,
        project,
        image,
        &["--json", "up", "--registry", REGISTRY, "--timeout", "150s"],
    );
    let guard = StackDown {
        bed,
        file,
        project,
        image,
    };
    up.code(0);
    eprintln!(
        "nodes: {} up on 3 nodes in {:.1}s",
        file.display(),
        started.elapsed().as_secs_f64()
    );
    (up, guard)
}

/// `down -v` of the test's stack on drop (before the bed goes).
struct StackDown<'a> {
    bed: &'a Bed,
    file: &'a Path,
    project: &'a str,
    image: &'a str,
}

impl Drop for StackDown<'_> {
    fn drop(&mut self) {
        let out = self
            .bed
            .stackctl(self.file, self.project, self.image, &["down", "-v"]);
        if out.code != Some(0) {
            eprintln!("down: {}", out.stderr);
        }
    }
}

/// `--registry` is checked before anything else: it belongs to `--engine swarm`, and it must be
/// what Docker takes for a registry.
#[test]
fn a_registry_flag_is_refused_where_it_cannot_work() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/nodes/compose.yml");
    let file = file.to_str().unwrap();
    let out = stackctl(["up", "-f", file, "--registry", "10.0.0.1:5000"])
        .env("STACK_IMAGE", "x")
        .output();
    out.code(2);
    assert!(
        out.stderr.contains("`--registry` is for `--engine swarm`")
            && out.stderr.contains("hint: add `--engine swarm`"),
        "{}",
        out.stderr
    );
    for (value, says) in [
        (
            "http://10.0.0.1:5000",
            "a scheme is not part of a registry name",
        ),
        ("team", "`team` is not a registry host"),
    ] {
        let out = stackctl(["up", "--engine", "swarm", "-f", file, "--registry", value])
            .env("STACK_IMAGE", "x")
            .output();
        out.code(2);
        assert!(out.stderr.contains(says), "{}", out.stderr);
        assert!(
            out.stderr
                .contains("hint: give the registry as Docker names it"),
            "{}",
            out.stderr
        );
    }
}

/// The simulators' image (stackctl, mongo-sim, rocketchat-sim, http-fixture), built on the
/// host's daemon and removed by `cleanup`.
fn simulators_image(cleanup: &mut Cleanup, prefix: &str) -> String {
    let bin = static_simulators();
    let image = unique(prefix);
    cleanup.image(&image);
    let files: Vec<(std::path::PathBuf, &str)> =
        ["stackctl", "mongo-sim", "rocketchat-sim", "http-fixture"]
            .into_iter()
            .map(|name| (bin.join(name), name))
            .collect();
    let files: Vec<(&Path, &str)> = files.iter().map(|(p, n)| (p.as_path(), *n)).collect();
    build_image(
        &image,
        "FROM scratch\nCOPY stackctl mongo-sim rocketchat-sim http-fixture /\n",
        &files,
    );
    image
}

/// `probe`, `smoke` and `verify` find the stack's Swarm tasks on every node: a task on a worker
/// is probed from a one-shot job on its node (which leaves nothing behind), one on the manager
/// from inside its container, and every result names its node — a failure too.
#[test]
fn probe_smoke_and_verify_reach_tasks_on_every_node() {
    let mut cleanup = Cleanup::default();
    let image = simulators_image(&mut cleanup, "stackctl-test-swarmprobe");
    let bed = Bed::up();
    bed.load(&image);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/nodes/compose.yml");
    // Rocket.Chat with an admin (its `ADMIN_USERNAME`/`ADMIN_PASS`) and a room it is in, for
    // smoke's logins and post.
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin.yml");
    std::fs::write(
        &admin,
        "services:\n  rocketchat:\n    environment:\n      ADMIN_USERNAME: chatadmin\n      ADMIN_PASS: ${PROBE_TEST_PASS}\n  smoke-room:\n    image: ${STACK_IMAGE}\n    entrypoint: [\"/stackctl\", \"init\", \"rocketchat-room\", \"--url\", \"http://rocketchat:3000\", \"--admin-user\", \"chatadmin\", \"--admin-password-env\", \"ADMIN_PASS\", \"--name\", \"smoke\", \"--member\", \"chatadmin\"]\n    x-stackctl:\n      job: true\n    environment:\n      ADMIN_PASS: ${PROBE_TEST_PASS}\n    depends_on:\n      rocketchat:\n        condition: service_healthy\n",
    )
    .unwrap();
    let project = unique("stprobe").replace('-', "");
    let binary = static_simulators().join("stackctl");
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        for f in [&file, &admin] {
            all.extend(["-f", f.to_str().expect("utf-8 path")]);
        }
        all.extend(["-p", &project]);
        stackctl(all)
            .env("DOCKER_HOST", &bed.host)
            .env("STACK_IMAGE", &image)
            .env("PROBE_TEST_PASS", "Probe-test-pass-1")
            .env("STACKCTL_PROBE_BINARY", &binary)
            .output_within(Duration::from_secs(180))
    };
    let up = run(&[
        "up",
        "--engine",
        "swarm",
        "--registry",
        REGISTRY,
        "--timeout",
        "150s",
    ]);
    let _guard = StackDown {
        bed: &bed,
        file: &file,
        project: &project,
        image: &image,
    };
    up.code(0);

    // MongoDB runs on the worker stkn2: probed from a job there, by the stack's names.
    let started = Instant::now();
    let remote = run(&[
        "probe",
        "mongo",
        "tcp://rocketchat:3000",
        "http://rocketchat:3000/api/info",
        "dns://web",
    ]);
    eprintln!(
        "nodes: a probe from stkn2 in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    remote.code(0);
    let lines: Vec<&str> = remote.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{remote:#?}");
    for (line, verdict) in lines.iter().zip(["reachable", "reachable", "resolved"]) {
        assert!(line.starts_with("mongo@stkn2 → "), "{line}");
        assert!(line.contains(&format!(": {verdict} in ")), "{line}");
    }
    // web's three replicas, one per node: `dns://web` answers all three addresses.
    let answers = lines[2]
        .split_once(" [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map_or(0, |(list, _)| list.split(", ").count());
    assert_eq!(answers, 3, "{}", lines[2]);

    // web has a replica on the manager: probed from inside its container there.
    let local = run(&["--json", "probe", "web", "tcp://mongo:27017"]);
    local.code(0);
    let result = &local.ndjson()[0];
    assert_eq!(result["from"], "web", "{}", local.stdout);
    assert_eq!(result["node"], "stkn1", "{}", local.stdout);
    assert_eq!(result["result"], "reachable", "{}", local.stdout);

    // A failure on the worker says where it was seen.
    let failed = run(&["probe", "mongo", "tcp://rocketchat:9", "--timeout", "3s"]);
    failed.code(1);
    assert!(
        failed
            .stdout
            .starts_with("mongo@stkn2 → tcp://rocketchat:9: refused"),
        "{failed:#?}"
    );

    // The one-shot jobs and their plans' secrets are gone.
    let probes = bed.docker(&["service", "ls", "-q", "--filter", "label=io.stackctl.probe"]);
    assert_eq!(probes, "", "probe jobs left behind");
    let secrets = bed.docker(&["secret", "ls", "-q", "--filter", "label=io.stackctl.probe"]);
    assert_eq!(secrets, "", "probe plans left behind");

    // A catalog: `from: mongo` checks run on stkn2, and one naming Rocket.Chat is routed inside
    // the stack (its name does not resolve here); each result names the node.
    let catalog = dir.path().join("checks.yml");
    std::fs::write(
        &catalog,
        "checks:\n  - name: mongo reaches rocketchat\n    check: http://rocketchat:3000/api/info\n    from: mongo\n  - name: web answers\n    check: tcp://web:8080\n    from: mongo\n  - name: rocketchat answers\n    check: rocketchat+http://rocketchat:3000\n  - name: nothing on rocketchat:9\n    check: tcp://rocketchat:9\n    from: mongo\n    severity: warning\n",
    )
    .unwrap();
    let verify = stackctl(["verify", "-c", catalog.to_str().unwrap(), "-p", &project])
        .env("DOCKER_HOST", &bed.host)
        .env("STACKCTL_PROBE_BINARY", &binary)
        .output_within(Duration::from_secs(90));
    verify.code(0);
    for name in ["mongo reaches rocketchat", "web answers"] {
        assert!(
            verify
                .stdout
                .contains(&format!("ok   {name} (from mongo on node stkn2): ")),
            "{verify:#?}"
        );
    }
    assert!(
        verify
            .stdout
            .contains("rocketchat answers (inside the stack, from mongo on node stkn2): "),
        "{verify:#?}"
    );
    assert!(
        verify
            .stdout
            .contains("warn nothing on rocketchat:9 (from mongo on node stkn2): "),
        "{verify:#?}"
    );

    // `smoke` passes: Docker's view of every service names its node, and the chat steps run
    // from MongoDB's task on stkn2 (`--from`), naming that node.
    let smoke = run(&[
        "--json",
        "smoke",
        "--timeout",
        "60s",
        "--from",
        "mongo",
        "--room",
        "smoke",
        "--bot-user",
        "chatadmin",
        "--bot-password-env",
        "PROBE_TEST_PASS",
        "--admin-user",
        "chatadmin",
        "--admin-password-env",
        "PROBE_TEST_PASS",
    ]);
    smoke.code(0);
    let steps = smoke.ndjson();
    let step = |name: &str| -> (String, String) {
        let found = steps
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {}", smoke.stdout));
        let text = |key: &str| found[key].as_str().unwrap_or_default().to_owned();
        (text("status"), text("detail"))
    };
    let passed = |detail: &str| ("passed".to_owned(), detail.to_owned());
    assert_eq!(
        step("service mongo"),
        passed("running, healthy (node `stkn2`)")
    );
    assert_eq!(
        step("service web"),
        passed("running, healthy (node `stkn1`)")
    );
    assert_eq!(step("job mongo-init"), passed("completed (exit code 0)"));
    assert_eq!(step("job smoke-room"), passed("completed (exit code 0)"));
    let (status, rocketchat) = step("service rocketchat");
    assert_eq!(status, "passed", "{rocketchat}");
    assert!(
        rocketchat.starts_with("running, healthy (node `stkn"),
        "{rocketchat}"
    );
    assert_eq!(
        step("rocketchat api"),
        passed("Rocket.Chat 8.0 at http://rocketchat:3000/ (node `stkn2`)")
    );
    for chat in [
        "bot login",
        "bot room smoke",
        "bot posts",
        "admin login",
        "admin reads back",
        "cleanup",
    ] {
        let (status, detail) = step(chat);
        assert_eq!(status, "passed", "{chat}: {detail}");
        assert!(detail.ends_with("(node `stkn2`)"), "{detail}");
    }
    assert!(!smoke.stdout.contains("Probe-test-pass-1"));
    assert!(!smoke.stderr.contains("Probe-test-pass-1"));
    drop(dir);
}

/// `docker exec` in the running task of `service` on the manager's node: (exit code, output).
fn exec_on_manager(bed: &Bed, service: &str, args: &[&str]) -> (i32, String) {
    let id = bed.docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={service}"),
    ]);
    let id = id.lines().next().unwrap_or_default();
    assert!(!id.is_empty(), "no task of {service} on the manager");
    let out = Command::new("docker")
        .env("DOCKER_HOST", &bed.host)
        .arg("exec")
        .arg(id)
        .args(args)
        .output()
        .expect("docker runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `check mongo` on the set's seed list, from the member on the manager's node.
fn check_set(bed: &Bed, project: &str) -> (i32, String) {
    exec_on_manager(
        bed,
        &format!("{project}_mongo1"),
        &[
            "/stackctl",
            "check",
            "mongo",
            "--uri",
            "mongodb://mongo1:27017,mongo2:27017,mongo3:27017/?replicaSet=rs0",
            "--timeout",
            "3s",
        ],
    )
}

/// The member `check mongo` names PRIMARY (`mongo2`), from the member on the manager's node;
/// else what the check said.
fn primary_member(bed: &Bed, project: &str) -> Result<String, String> {
    let (code, text) = check_set(bed, project);
    let name = text
        .split(":27017: PRIMARY of")
        .next()
        .and_then(|before| {
            before
                .rsplit(|c: char| c.is_whitespace() || c == '(')
                .next()
        })
        .filter(|name| code == 0 && name.starts_with("mongo"));
    name.map(str::to_owned).ok_or(text)
}

fn swarm_nodes(args: &[&str]) {
    let out = Command::new("bash")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("tests/swarm-nodes.sh")
        .args(args)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "swarm-nodes.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The replica set across the three nodes (compose/nodes/replset.yml): rooms made through
/// Rocket.Chat, the node holding the PRIMARY loses its network; the two others elect a new
/// PRIMARY, Rocket.Chat (on the manager's node) keeps answering through the web service,
/// `status` names the lost node, `up` again says the member is degraded and leaves every healthy
/// service as it was, and Rocket.Chat restarted reads every room back from the new PRIMARY; the
/// node back, its member rejoins as SECONDARY and the rooms are still all there.
#[test]
fn a_node_lost_with_the_primary_keeps_the_chat_answering() {
    let mut cleanup = Cleanup::default();
    let image = stack_image(&mut cleanup);
    let mut bed = Bed::up();
    bed.load(&image);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/nodes/replset.yml");
    // Rocket.Chat with an admin (`ADMIN_USERNAME`/`ADMIN_PASS`); web, where the test runs
    // stackctl, knows the password.
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin.yml");
    std::fs::write(
        &admin,
        "services:\n  rocketchat:\n    environment:\n      ADMIN_USERNAME: chatadmin\n      ADMIN_PASS: ${NODES_TEST_PASS}\n  web:\n    environment:\n      ADMIN_PASS: ${NODES_TEST_PASS}\n",
    )
    .unwrap();
    bed.overrides.push(admin);
    let bed = bed;
    let project = unique("strs").replace('-', "");
    let (_, guard) = up_through_registry(&bed, &file, &project, &image);
    // Written before the loss: rooms, which Rocket.Chat keeps in MongoDB (acknowledged once a
    // majority has them: the implicit default write concern).
    let rooms: Vec<String> = (1..=3).map(|n| format!("before-{n}")).collect();
    for room in &rooms {
        let (code, text) = in_web(
            &bed,
            &project,
            &[
                "init",
                "rocketchat-room",
                "--url",
                "http://rocketchat:3000",
                "--admin-user",
                "chatadmin",
                "--admin-password-env",
                "ADMIN_PASS",
                "--name",
                room,
                "--member",
                "chatadmin",
            ],
        );
        assert_eq!(code, 0, "room {room}: {text}");
    }
    let primary = primary_member(&bed, &project).expect("a PRIMARY after up");
    eprintln!("nodes: PRIMARY {primary}");
    // mongoN runs on node nN (the placement constraints); the manager's node must stay.
    let node: String = primary.trim_start_matches("mongo").to_owned();
    assert_ne!(
        node, "1",
        "the PRIMARY is on the manager's node; the test cuts another one"
    );

    swarm_nodes(&["cut", &node]);
    let lost = Instant::now();
    let mut new_primary = None;
    let mut last_check = String::new();
    let mut outage = Duration::ZERO;
    let mut down_since: Option<Instant> = None;
    while lost.elapsed() < Duration::from_secs(40) {
        let tick = Instant::now();
        let (code, text) = exec_on_manager(
            &bed,
            &format!("{project}_web"),
            &[
                "/stackctl",
                "check",
                "rocketchat",
                "--url",
                "http://rocketchat:3000",
                "--timeout",
                "2s",
            ],
        );
        match (code, down_since) {
            (0, Some(since)) => {
                outage += since.elapsed();
                down_since = None;
            }
            (0, None) => {}
            (_, None) => {
                eprintln!("nodes: front door failing: {text}");
                down_since = Some(tick);
            }
            _ => {}
        }
        if new_primary.is_none() {
            match primary_member(&bed, &project) {
                Ok(p) if p != primary => {
                    eprintln!(
                        "nodes: new PRIMARY {p} {:.1}s after the node was lost",
                        lost.elapsed().as_secs_f64()
                    );
                    new_primary = Some(p);
                }
                Ok(p) => last_check = format!("{p} still PRIMARY"),
                Err(text) => last_check = text,
            }
        }
        if new_primary.is_some() && down_since.is_none() && lost.elapsed() > Duration::from_secs(20)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if let Some(since) = down_since {
        outage += since.elapsed();
    }
    eprintln!("nodes: front door outage {:.1}s", outage.as_secs_f64());
    assert!(
        new_primary.is_some(),
        "no new PRIMARY within 40 s; check mongo said: {last_check}"
    );
    assert!(outage < Duration::from_secs(20), "outage {outage:?}");

    // `status` names the lost node for the member whose task waits for it.
    wait_status(
        &bed,
        (&file, &project, &image),
        lost,
        Duration::from_secs(60),
        // Its task is not counted running any more (Swarm's own count still said 1/1).
        |table| {
            table.lines().any(|l| {
                l.starts_with(&primary)
                    && l.contains(&format!("stkn{node} (down)"))
                    && l.contains(" 0/1 ")
            })
        },
    );

    // `up` again: the member is degraded (its node is down), the rest unchanged and healthy,
    // no healthy service recreated.
    let healthy: Vec<String> = ["mongo1", "mongo2", "mongo3", "rocketchat"]
        .into_iter()
        .filter(|m| *m != primary)
        .map(|m| format!("{project}_{m}"))
        .collect();
    let task_ids = || -> Vec<String> {
        healthy
            .iter()
            .map(|s| {
                bed.docker(&[
                    "service",
                    "ps",
                    "-q",
                    "--filter",
                    "desired-state=running",
                    s,
                ])
            })
            .collect()
    };
    let ids_before = task_ids();
    let started = Instant::now();
    let again = bed.stackctl(
        &file,
        &project,
        &image,
        &["--json", "up", "--registry", REGISTRY, "--timeout", "90s"],
    );
    eprintln!(
        "nodes: up again with a node lost in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    again.code(0);
    assert_eq!(
        events_of(&again, "degraded"),
        std::slice::from_ref(&primary),
        "{}",
        again.stdout
    );
    let degraded = again
        .ndjson()
        .into_iter()
        .find(|e| e["status"] == "degraded")
        .unwrap();
    assert!(
        degraded["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("its node stkn{node} is down")),
        "{degraded}"
    );
    assert_eq!(events_of(&again, "unchanged").len(), 6, "{}", again.stdout);
    assert_eq!(
        task_ids(),
        ids_before,
        "up again recreated a healthy service"
    );
    restart_and_read(&bed, &project, &rooms, "on the new PRIMARY");

    swarm_nodes(&["mend", &node]);
    let back = Instant::now();
    loop {
        let (_, text) = check_set(&bed, &project);
        if text.contains(&format!("{primary}:27017 SECONDARY"))
            && text.contains("3/3 members healthy")
        {
            eprintln!(
                "nodes: {primary} back as SECONDARY {:.1}s after its node returned",
                back.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "{primary} did not rejoin: {text}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    restart_and_read(&bed, &project, &rooms, "with the member back");
    drop(guard);
    drop(bed);
    drop(dir);
    drop(cleanup);
}

/// `stackctl ARGS` in web's task on the manager (which has `ADMIN_PASS`).
fn in_web(bed: &Bed, project: &str, args: &[&str]) -> (i32, String) {
    let mut all = vec!["/stackctl"];
    all.extend(args);
    exec_on_manager(bed, &format!("{project}_web"), &all)
}

/// Restarts Rocket.Chat (a new task reads its state from MongoDB) and checks, within 60 s,
/// that every room is there.
fn restart_and_read(bed: &Bed, project: &str, rooms: &[String], when: &str) {
    let started = Instant::now();
    let service = format!("{project}_rocketchat");
    // `ID CurrentState` of the task that should run; restarted once another one is `Running`
    // (Swarm stops the old task first: its update order is `stop-first`).
    let current = || {
        bed.docker(&[
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.CurrentState}}",
            &service,
        ])
    };
    let old = current();
    let old = old.split(' ').next().unwrap_or_default().to_owned();
    bed.docker(&[
        "service", "update", "--force", "--quiet", "--detach", &service,
    ]);
    loop {
        let now = current();
        if !now.starts_with(&old) && now.contains(" Running") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Rocket.Chat not restarted {when}: {now}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for room in rooms {
        loop {
            let (code, text) = in_web(
                bed,
                project,
                &[
                    "check",
                    "rocketchat-room",
                    "--url",
                    "http://rocketchat:3000",
                    "--user",
                    "chatadmin",
                    "--password-env",
                    "ADMIN_PASS",
                    "--room",
                    room,
                    "--timeout",
                    "3s",
                ],
            );
            if code == 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "room {room} not read back {when}: {text}"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    eprintln!(
        "nodes: Rocket.Chat restarted {when} reads the {} rooms back in {:.1}s",
        rooms.len(),
        started.elapsed().as_secs_f64()
    );
}
