//! Stack files without Docker: several files merged by compose's rules (checked against the
//! library and, where docker-compose 1.29.2 agrees with compose v2, against it), `COMPOSE_FILE`
//! and `.env`, and files compose rejects rejected here too — exit 2, `file:line`, a hint —
//! within bounded time and memory whatever the file says.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stackctl::stack::{LoadOptions, MountKind, Stack};

use crate::support::{Output, stackctl};

/// A project directory to write stack files into.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Loads through the library, from `cwd` (relative to the directory).
    fn load_in(
        &self,
        cwd: &str,
        files: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Stack, stackctl::error::Error> {
        let options = LoadOptions {
            files: files.iter().map(PathBuf::from).collect(),
            project: None,
            env_file: None,
            environment: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            cwd: self.path().join(cwd),
        };
        stackctl::stack::open(&options, &std::collections::BTreeSet::new())
    }

    fn load(&self, files: &[&str]) -> Stack {
        self.load_in(".", files, &[])
            .unwrap_or_else(|e| panic!("loads: {e}"))
    }

    /// `stackctl graph -f FILE...` in the directory: validation only, no Docker.
    fn graph(&self, files: &[&str]) -> Output {
        let mut args = vec!["graph"];
        for file in files {
            args.extend(["-f", file]);
        }
        stackctl(args).current_dir(self.path()).output()
    }
}

const BASE: &str = "\
services:
  web:
    image: chat/web:1
    build:
      context: ./web
      args: [VERSION=1, CHANNEL=stable]
    command: [serve, --port, '80']
    environment:
      - MODE=prod
      - LOG=info
    labels:
      team: chat
    ports:
      - '8080:80'
      - '9000:90'
    volumes:
      - ./data:/data
      - cache:/cache
    depends_on: [db]
    healthcheck:
      test: [CMD, /check, one]
      interval: 5s
  db:
    image: mongo:7
volumes:
  cache: {}
";

const LOCAL: &str = "\
services:
  web:
    image: chat/web:dev
    build:
      context: ./web-dev
      args:
        CHANNEL: beta
    command: [serve, --debug]
    environment:
      LOG: debug
      EXTRA: 'on'
    labels: [tier=front]
    ports:
      - '8080:80'
      - '7000:70'
    volumes:
      - ./dev-data:/data
    depends_on:
      db: {condition: service_healthy}
    healthcheck:
      test: [CMD, /check, two]
  db:
    healthcheck:
      test: [CMD, /ping]
";

#[test]
fn a_second_file_overrides_appends_replaces_and_merges_by_compose_rules() {
    let dir = Dir::new();
    dir.write("compose.yml", BASE);
    dir.write("overrides/compose.local.yml", LOCAL);
    let stack = dir.load(&["compose.yml", "overrides/compose.local.yml"]);
    let web = &stack.services["web"];
    // Single values: the later file wins.
    assert_eq!(web.image.as_deref(), Some("chat/web:dev"));
    // `command` is replaced, not appended (compose-spec 13-merge.md, "Shell commands").
    assert_eq!(
        web.command.as_deref(),
        Some(&["serve".into(), "--debug".into()][..])
    );
    let test = &web.healthcheck.as_ref().unwrap().test;
    assert_eq!(test, &["CMD", "/check", "two"]);
    assert_eq!(
        web.healthcheck.as_ref().unwrap().interval,
        Some(Duration::from_secs(5))
    );
    // Ports are appended; the same port twice is one (unique resources).
    let ports: Vec<(Option<u16>, u16)> = web
        .ports
        .iter()
        .map(|p| (p.host_port, p.container_port))
        .collect();
    assert_eq!(
        ports,
        [(Some(8080), 80), (Some(9000), 90), (Some(7000), 70)]
    );
    // Environment, labels and build args merge by key whichever form each file uses.
    let env: Vec<(&str, &str)> = web
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("EXTRA", "on"), ("LOG", "debug"), ("MODE", "prod")]);
    assert_eq!(web.labels["team"], "chat");
    assert_eq!(web.labels["tier"], "front");
    let build = web.build.as_ref().unwrap();
    assert_eq!(build.args["VERSION"], "1");
    assert_eq!(build.args["CHANNEL"], "beta");
    // Relative paths of every file resolve against the first file's directory.
    assert_eq!(build.context, dir.path().join("web-dev"));
    // Volumes merge by container target, the later file winning in place.
    let mounts: Vec<(&MountKind, String, &str)> = web
        .volumes
        .iter()
        .map(|m| (&m.kind, m.source.clone(), m.target.as_str()))
        .collect();
    let dev_data = dir.path().join("dev-data").to_string_lossy().into_owned();
    assert_eq!(
        mounts,
        [
            (&MountKind::Bind, dev_data, "/data"),
            (&MountKind::Volume, "cache".to_owned(), "/cache"),
        ]
    );
    // depends_on merges by name; the later long form sets the condition.
    assert_eq!(
        web.depends_on["db"].condition,
        stackctl::stack::Condition::ServiceHealthy
    );
    // A service only partly set in the override keeps the rest.
    let db = &stack.services["db"];
    assert_eq!(db.image.as_deref(), Some("mongo:7"));
    assert!(db.healthcheck.is_some());
    // The project is the first file's directory; every file is recorded for the labels.
    assert_eq!(stack.dir, dir.path());
    assert_eq!(
        stack.files,
        [
            dir.path().join("compose.yml"),
            dir.path().join("overrides/compose.local.yml")
        ]
    );
    let labels = stackctl::engine::labels::container_labels(&stack, web, "hash");
    assert_eq!(
        labels[stackctl::engine::labels::CONFIG_FILES],
        format!(
            "{},{}",
            dir.path().join("compose.yml").display(),
            dir.path().join("overrides/compose.local.yml").display()
        )
    );
}

#[test]
fn a_third_file_resets_and_overrides() {
    let dir = Dir::new();
    dir.write("compose.yml", BASE);
    dir.write("b.yml", LOCAL);
    dir.write(
        "c.yml",
        "services:\n  web:\n    ports: !override ['6000:60']\n    labels: !reset {}\n    environment:\n      MODE: !reset null\n",
    );
    let stack = dir.load(&["compose.yml", "b.yml", "c.yml"]);
    let web = &stack.services["web"];
    let ports: Vec<u16> = web.ports.iter().map(|p| p.container_port).collect();
    assert_eq!(ports, [60]);
    assert!(web.labels.is_empty());
    assert!(!web.environment.contains_key("MODE"));
    assert_eq!(web.environment["LOG"], "debug");
}

#[test]
fn a_problem_in_the_second_file_names_that_file_and_line() {
    let dir = Dir::new();
    dir.write("compose.yml", BASE);
    dir.write(
        "compose.local.yml",
        "services:\n  web:\n    ports:\n      - '7000:70'\n      - '70000:80'\n    healthcheck:\n      interval: soon\n",
    );
    let mut transcript = String::new();
    let out = dir.graph(&["compose.yml", "compose.local.yml"]);
    out.code(2);
    transcript.push_str(&out.stderr);
    // References are checked once the files convert cleanly.
    dir.write(
        "compose.local.yml",
        "services:\n  web:\n    image: web\n  bot:\n    image: bot\n    depends_on:\n      - db\n      - wbe\n",
    );
    let out = dir.graph(&["compose.yml", "compose.local.yml"]);
    out.code(2);
    transcript.push_str(&out.stderr);
    insta::assert_snapshot!(transcript);
}

#[test]
fn a_problem_in_a_key_the_first_file_set_names_the_first_file() {
    let dir = Dir::new();
    dir.write(
        "compose.yml",
        "services:\n  web:\n    image: x\n    restart: sometimes\n",
    );
    dir.write(
        "compose.local.yml",
        "services:\n  web:\n    image: y\n    user: 1000\n",
    );
    let out = dir.graph(&["compose.yml", "compose.local.yml"]);
    out.code(2);
    assert!(
        out.stderr
            .contains("compose.yml:4: unknown restart policy `sometimes`"),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains("compose.local.yml:4: `user` must be a string, not a number"),
        "{out:#?}"
    );
}

#[test]
fn compose_file_and_its_separator_come_from_the_environment_or_the_working_directory_env() {
    let dir = Dir::new();
    dir.write(
        "stack/base.yml",
        "services:\n  web:\n    image: ${IMAGE:-none}\n",
    );
    dir.write(
        "stack/dev.yml",
        "services:\n  web:\n    environment: [DEV=1]\n",
    );
    dir.write("stack/.env", "IMAGE=from-project-env\n");
    // From the process environment, `:` separated, relative to the working directory.
    let stack = dir
        .load_in(
            ".",
            &[],
            &[("COMPOSE_FILE", "stack/base.yml:stack/dev.yml")],
        )
        .unwrap();
    assert_eq!(
        stack.services["web"].image.as_deref(),
        Some("from-project-env")
    );
    assert_eq!(stack.services["web"].environment["DEV"], "1");
    assert_eq!(stack.dir, dir.path().join("stack"));
    assert_eq!(stack.project, "stack");
    // From the working directory's `.env`, with another separator; that `.env` wins over the
    // project directory's, and the shell wins over both (compose v2 reads them in that order).
    dir.write(
        ".env",
        "COMPOSE_FILE=stack/base.yml;stack/dev.yml\nCOMPOSE_PATH_SEPARATOR=;\nIMAGE=from-cwd-env\n",
    );
    let stack = dir.load_in(".", &[], &[]).unwrap();
    assert_eq!(stack.services["web"].image.as_deref(), Some("from-cwd-env"));
    assert_eq!(stack.services["web"].environment["DEV"], "1");
    let stack = dir.load_in(".", &[], &[("IMAGE", "from-shell")]).unwrap();
    assert_eq!(stack.services["web"].image.as_deref(), Some("from-shell"));
    // `-f` wins over `COMPOSE_FILE`, and then only the project directory's `.env` is read.
    let stack = dir
        .load_in(".", &["stack/base.yml"], &[("COMPOSE_FILE", "nope.yml")])
        .unwrap();
    assert_eq!(
        stack.services["web"].image.as_deref(),
        Some("from-project-env")
    );
    assert!(!stack.services["web"].environment.contains_key("DEV"));
}

#[test]
fn compose_file_through_the_command_line() {
    let dir = Dir::new();
    dir.write(
        "a.yml",
        "services:\n  db:\n    image: mongo\n  bot:\n    image: bot\n",
    );
    dir.write("b.yml", "services:\n  bot:\n    depends_on: [db]\n");
    let out = stackctl(["graph"])
        .current_dir(dir.path())
        .env("COMPOSE_FILE", "a.yml:b.yml")
        .output();
    out.code(0);
    assert!(out.stdout.contains("bot ← db"), "{out:#?}");
    let out = dir.graph(&["a.yml", "b.yml"]);
    out.code(0);
    assert!(out.stdout.contains("bot ← db"), "{out:#?}");
    let out = stackctl(["graph"])
        .current_dir(dir.path())
        .env("COMPOSE_FILE", "a.yml:missing.yml")
        .output();
    out.code(2);
    assert!(
        out.stderr.contains("`missing.yml` does not exist"),
        "{out:#?}"
    );
}

#[test]
fn the_env_file_beside_the_first_file_is_read_and_the_project_is_named_after_its_directory() {
    let dir = Dir::new();
    dir.write(
        "Chat Ops/compose.yml",
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n    volumes: [./conf:/conf]\n",
    );
    dir.write("Chat Ops/.env", "IMAGE=chat/web:2\n");
    dir.write(
        "override/local.yml",
        "services:\n  web:\n    volumes: [./more:/more]\n",
    );
    dir.write("override/.env", "IMAGE=wrong\n");
    let stack = dir
        .load_in("override", &["../Chat Ops/compose.yml", "local.yml"], &[])
        .unwrap();
    assert_eq!(stack.project, "chatops");
    assert_eq!(stack.services["web"].image.as_deref(), Some("chat/web:2"));
    let sources: Vec<&str> = stack.services["web"]
        .volumes
        .iter()
        .map(|m| m.source.as_str())
        .collect();
    let project = dir.path().join("Chat Ops");
    assert_eq!(stack.dir, project);
    assert_eq!(
        sources,
        [
            project.join("conf").to_str().unwrap(),
            project.join("more").to_str().unwrap()
        ]
    );
}

#[test]
fn without_files_the_default_is_found_upwards_with_its_override() {
    let dir = Dir::new();
    dir.write("compose.yaml", "services:\n  web:\n    image: base\n");
    dir.write(
        "compose.override.yml",
        "services:\n  web:\n    image: override\n",
    );
    std::fs::create_dir_all(dir.path().join("deep/er")).unwrap();
    let stack = dir.load_in("deep/er", &[], &[]).unwrap();
    assert_eq!(stack.services["web"].image.as_deref(), Some("override"));
    assert_eq!(stack.dir, dir.path());
    assert_eq!(stack.files.len(), 2);
}

#[test]
fn disable_wins_over_a_healthcheck_test() {
    let dir = Dir::new();
    dir.write(
        "compose.yml",
        "services:\n  a:\n    image: x\n    healthcheck:\n      disable: true\n      test: [CMD, /check]\n  b:\n    image: x\n    healthcheck:\n      test: [NONE]\n  c:\n    image: x\n    healthcheck:\n      test: [CMD, /check]\n      interval: 5s\n    depends_on:\n      a: {condition: service_started}\n",
    );
    dir.write(
        "off.yml",
        "services:\n  c:\n    healthcheck:\n      disable: true\n",
    );
    let stack = dir.load(&["compose.yml", "off.yml"]);
    for name in ["a", "b", "c"] {
        let check = stack.services[name].healthcheck.as_ref().unwrap();
        assert_eq!(check.test, ["NONE"], "{name}");
        assert_eq!(check.interval, None, "{name}");
    }
    // A service waiting for a disabled healthcheck is told so.
    dir.write(
        "wait.yml",
        "services:\n  c:\n    depends_on:\n      a: {condition: service_healthy}\n",
    );
    let out = dir.graph(&["compose.yml", "wait.yml"]);
    out.code(2);
    assert!(
        out.stderr.contains(
            "wait.yml:4: service `c` waits for `a` to be healthy, but `a` has no healthcheck"
        ),
        "{out:#?}"
    );
}

/// Agrees with docker-compose 1.29.2 where v1 and v2 merge alike (everything in `BASE` and
/// `LOCAL`). Skipped where docker-compose is not installed.
#[test]
fn merges_like_docker_compose() {
    let Ok(version) = std::process::Command::new("docker-compose")
        .arg("version")
        .output()
    else {
        eprintln!("docker-compose is not installed; skipping the comparison");
        return;
    };
    assert!(version.status.success());
    let dir = Dir::new();
    dir.write("compose.yml", BASE);
    dir.write("overrides/compose.local.yml", LOCAL);
    std::fs::create_dir_all(dir.path().join("web-dev")).unwrap();
    let out = std::process::Command::new("docker-compose")
        .args([
            "-f",
            "compose.yml",
            "-f",
            "overrides/compose.local.yml",
            "config",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: yaml_serde::Value = yaml_serde::from_slice(&out.stdout).unwrap();
    let ours = dir.load(&["compose.yml", "overrides/compose.local.yml"]);
    for (name, service) in &ours.services {
        let them = &theirs["services"][name.as_str()];
        assert_eq!(
            service.image.as_deref(),
            them["image"].as_str(),
            "{name} image"
        );
        let command: Option<Vec<&str>> = them["command"]
            .as_sequence()
            .map(|c| c.iter().filter_map(|v| v.as_str()).collect());
        assert_eq!(
            service
                .command
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect()),
            command,
            "{name} command"
        );
        let env: BTreeMap<String, String> = them["environment"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().unwrap().to_owned(),
                            v.as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(service.environment, env, "{name} environment");
        let labels: BTreeMap<String, String> = them["labels"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().unwrap().to_owned(),
                            v.as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(service.labels, labels, "{name} labels");
        let mut ports: Vec<(u64, u64)> = service
            .ports
            .iter()
            .map(|p| (u64::from(p.host_port.unwrap()), u64::from(p.container_port)))
            .collect();
        ports.sort_unstable();
        let mut their_ports: Vec<(u64, u64)> = them["ports"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .map(|p| {
                        (
                            p["published"].as_u64().unwrap(),
                            p["target"].as_u64().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        their_ports.sort_unstable();
        assert_eq!(ports, their_ports, "{name} ports");
        let mut mounts: Vec<String> = service
            .volumes
            .iter()
            .map(|m| format!("{}:{}:rw", m.source, m.target))
            .collect();
        mounts.sort();
        let mut their_mounts: Vec<String> = them["volumes"]
            .as_sequence()
            .map(|s| s.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        their_mounts.sort();
        assert_eq!(mounts, their_mounts, "{name} volumes");
        let test: Option<Vec<&str>> = them["healthcheck"]["test"]
            .as_sequence()
            .map(|t| t.iter().filter_map(|v| v.as_str()).collect());
        assert_eq!(
            service
                .healthcheck
                .as_ref()
                .map(|h| h.test.iter().map(String::as_str).collect()),
            test,
            "{name} healthcheck"
        );
        for (dep, d) in &service.depends_on {
            assert_eq!(
                Some(d.condition.as_str()),
                them["depends_on"][dep.as_str()]["condition"].as_str(),
                "{name} depends_on {dep}"
            );
        }
        if let Some(build) = &service.build {
            assert_eq!(
                build.context,
                PathBuf::from(them["build"]["context"].as_str().unwrap()),
                "{name} build context"
            );
            for (k, v) in &build.args {
                assert_eq!(
                    Some(v.as_str()),
                    them["build"]["args"][k.as_str()].as_str(),
                    "{name} arg {k}"
                );
            }
        }
    }
}

/// Files compose rejects, each rejected before Docker with `file:line` and what to do.
#[test]
fn files_compose_rejects_are_rejected_with_file_line_and_hint() {
    let cases: &[(&str, &str)] = &[
        (
            "networks as a list",
            "services:\n  web:\n    image: x\nnetworks:\n  - front\n",
        ),
        (
            "volumes as a list",
            "services:\n  web:\n    image: x\nvolumes:\n  - data\n",
        ),
        (
            "profiles as a string",
            "services:\n  web:\n    image: x\n    profiles: debug\n",
        ),
        (
            "a list as a service name",
            "services:\n  ? [web, db]\n  : image: x\n  ok:\n    image: x\n",
        ),
        (
            "a number as a key",
            "services:\n  web:\n    image: x\n    environment:\n      1: one\n",
        ),
        (
            "service name characters",
            "services:\n  web app:\n    image: x\n",
        ),
        ("empty image", "services:\n  web:\n    image: \"\"\n"),
        (
            "host ip that is not an ip",
            "services:\n  web:\n    image: x\n    ports:\n      - 80\n      - not-an-ip:8080:80\n",
        ),
        (
            "long-form host ip",
            "services:\n  web:\n    image: x\n    ports:\n      - target: 80\n        host_ip: localhost\n",
        ),
        (
            "port out of range",
            "services:\n  web:\n    image: x\n    ports: [\"70000:80\"]\n",
        ),
        (
            "port ranges of different lengths",
            "services:\n  web:\n    image: x\n    ports: [\"8000-8002:80-81\"]\n",
        ),
        (
            "version as a number",
            "version: 3.8\nservices:\n  web:\n    image: x\n",
        ),
        (
            "user as a number",
            "services:\n  web:\n    image: x\n    user: 1000\n",
        ),
        (
            "command with a number",
            "services:\n  web:\n    image: x\n    command: [sleep, 5]\n",
        ),
        (
            "container name",
            "services:\n  web:\n    image: x\n    container_name: -web\n",
        ),
        (
            "restart policy",
            "services:\n  web:\n    image: x\n    restart: sometimes\n",
        ),
        (
            "negative retries",
            "services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD, /x]\n      retries: -1\n",
        ),
        (
            "duration compose cannot read",
            "services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD, /x]\n      interval: 5 sec\n",
        ),
        (
            "healthcheck test without a command",
            "services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD]\n",
        ),
        (
            "variable name with a space",
            "services:\n  web:\n    image: x\n    environment:\n      - MODE = prod\n",
        ),
        (
            "environment entry not a string",
            "services:\n  web:\n    image: x\n    environment:\n      - {A: 1}\n",
        ),
        (
            "network name",
            "services:\n  web:\n    image: x\nnetworks:\n  front end: {}\n",
        ),
        (
            "external not a boolean",
            "services:\n  web:\n    image: x\nvolumes:\n  data:\n    external: maybe\n",
        ),
        (
            "relative working_dir",
            "services:\n  web:\n    image: x\n    working_dir: app\n",
        ),
        (
            "relative volume target",
            "services:\n  web:\n    image: x\n    volumes: [\"./a:data\"]\n",
        ),
        (
            "long volume without type",
            "services:\n  web:\n    image: x\n    volumes:\n      - source: ./a\n        target: /a\n",
        ),
        (
            "extra host ip",
            "services:\n  web:\n    image: x\n    extra_hosts: [\"db:nowhere\"]\n",
        ),
        (
            "depends_on entry not a name",
            "services:\n  web:\n    image: x\n    depends_on:\n      - [db]\n",
        ),
        (
            "required not a boolean",
            "services:\n  db:\n    image: x\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_started, required: perhaps}\n",
        ),
        (
            "duplicate key",
            "services:\n  web:\n    image: x\n    image: y\n",
        ),
        ("unknown tag", "services:\n  web:\n    image: !secret x\n"),
        (
            "unknown merge source",
            "services:\n  web:\n    <<: [a, b]\n    image: x\n",
        ),
        ("empty file", ""),
    ];
    let dir = Dir::new();
    let mut transcript = String::new();
    for (name, compose) in cases {
        dir.write("compose.yml", compose);
        // An unreachable daemon proves Docker is never touched: validation comes first.
        let out = stackctl(["up", "-f", "compose.yml", "-p", "never-used"])
            .current_dir(dir.path())
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .output();
        assert_eq!(out.code, Some(2), "{name}: {out:#?}");
        assert!(
            out.stderr.starts_with("error: compose.yml"),
            "{name}: {out:#?}"
        );
        let _ = write!(transcript, "# {name}\n{}", out.stderr);
    }
    insta::assert_snapshot!(transcript);
}

/// Many anchors aliased many times: the expansion is refused before it is built.
fn alias_bomb() -> String {
    let mut text = String::from("x-item: &item [");
    text.push_str(&vec!["\"abcdefgh\""; 500].join(", "));
    text.push_str("]\nservices:\n  web:\n    image: x\n    x-copies:\n");
    for _ in 0..2_000 {
        text.push_str("      - [*item, *item, *item, *item, *item]\n");
    }
    text
}

#[test]
fn an_alias_bomb_is_refused_quickly_in_bounded_memory() {
    let dir = Dir::new();
    let text = alias_bomb();
    assert!(text.len() < 120 * 1024, "{}", text.len());
    dir.write("compose.yml", &text);
    // 5 million values once expanded: gigabytes if built. A 256 MiB address-space limit
    // fails the allocation long before that (the process aborts, it does not exit 2).
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "ulimit -v 262144; exec '{}' graph -f compose.yml",
                crate::support::binary().display()
            ),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        // At the anchored text, where the aliases' values are written.
        stderr.contains("compose.yml:1:3520: the document expands to more than 500000 values"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: an anchor is aliased too many times"),
        "{stderr}"
    );
}

#[test]
fn oversized_files_are_refused() {
    let dir = Dir::new();
    let mut text = String::from("services:\n  web:\n    image: x\n");
    while text.len() <= 8 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    dir.write("compose.yml", &text);
    let out = dir.graph(&["compose.yml"]);
    out.code(2);
    assert!(
        out.stderr
            .contains("cannot read `compose.yml`: the file is larger than 8 MiB"),
        "{out:#?}"
    );
}

#[test]
fn deeply_nested_variable_defaults_are_an_error_not_a_crash() {
    let dir = Dir::new();
    let depth = 30_000;
    dir.write(
        "compose.yml",
        &format!(
            "services:\n  web:\n    image: \"{}x{}\"\n",
            "${A:-".repeat(depth),
            "}".repeat(depth)
        ),
    );
    let out = dir.graph(&["compose.yml"]);
    out.code(2);
    assert!(
        out.stderr
            .contains("compose.yml:3: variable defaults are nested more than 64 levels deep"),
        "{out:#?}"
    );
}

/// The start of a long text, for assertion messages.
fn head(text: &str) -> &str {
    let end = text.char_indices().nth(400).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// Validation of files under 1 MiB stays well under a second (a release build; the debug
/// build these tests run is several times slower, hence the looser bound).
const FAST: Duration = Duration::from_secs(5);

#[test]
fn thousands_of_unknown_dependencies_are_reported_quickly() {
    let dir = Dir::new();
    let mut text = String::from("services:\n");
    for i in 0..2_000 {
        let _ = write!(
            text,
            "  service{i:05}:\n    image: x\n    depends_on: [servica{i:05}, other{i:05}x]\n"
        );
    }
    assert!(text.len() < 1024 * 1024);
    dir.write("compose.yml", &text);
    let out = dir.graph(&["compose.yml"]);
    out.code(2);
    assert!(out.elapsed < FAST, "took {:?}", out.elapsed);
    assert!(
        out.stderr
            .starts_with("error: 4000 problems in compose.yml:"),
        "{}",
        head(&out.stderr)
    );
    assert!(
        out.stderr.contains(
            "compose.yml:4: service `service00000` depends on `servica00000`, which is not defined (hint: did you mean `service00000`?)"
        ),
        "{}",
        head(&out.stderr)
    );
    assert!(out.stderr.contains("... and 3900 more"), "{out:#?}");
}

#[test]
fn very_long_names_are_reported_quickly() {
    let dir = Dir::new();
    // Plain keys are limited to 1024 characters by YAML; explicit keys (`? KEY`) are not.
    let long = "a".repeat(100_000);
    let other = format!("{}b", "a".repeat(99_999));
    dir.write(
        "compose.yml",
        &format!(
            "services:\n  ? {long}\n  : image: x\n  ? {other}\n  : image: x\n    depends_on: [{long}c, {other}c]\n"
        ),
    );
    let out = dir.graph(&["compose.yml"]);
    out.code(2);
    assert!(out.elapsed < FAST, "took {:?}", out.elapsed);
    assert!(
        out.stderr.contains("which is not defined"),
        "{}",
        head(&out.stderr)
    );
}

#[test]
fn a_long_dependency_chain_is_checked_without_recursion() {
    let dir = Dir::new();
    let mut text = String::from("services:\n  s0:\n    image: x\n    depends_on: [s19999]\n");
    for i in 1..20_000 {
        let _ = write!(
            text,
            "  s{i}:\n    image: x\n    depends_on: [s{}]\n",
            i - 1
        );
    }
    dir.write("compose.yml", &text);
    let out = dir.graph(&["compose.yml"]);
    // A recursive search overflowed the stack here (exit 134); the time bound is loose since
    // 20,000 services take a while in a debug build on a busy machine.
    out.code(2);
    assert!(out.elapsed < FAST * 4, "took {:?}", out.elapsed);
    assert!(
        out.stderr.contains(
            "dependency cycle: s0 → s19999 → s19998 → s19997 → s19996 → s19995 → ... (19992 more) → s2 → s1 → s0"
        ),
        "{}",
        head(&out.stderr)
    );
}

/// Each kind of defect is reported at the line (and column, where the parser gives one) of
/// the value at fault, not at line 1, not without a line.
#[test]
fn defects_are_reported_where_they_are_written() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "a NUL byte",
            b"services:\n  web:\n    image: x\n    command: \"a\0b\"\n",
            "compose.yml:4:16: control character U+0000 is not allowed in YAML",
        ),
        (
            "invalid UTF-8",
            b"services:\n  web:\n    image: x\n    command: caf\xc3\xa9 \xff\n",
            "compose.yml:4:19: not UTF-8 text (byte 0xff)",
        ),
        (
            "a list as a service name",
            b"services:\n  web:\n    image: x\n  ? [a, b]\n  : image: y\n",
            "compose.yml:4:5: a key under `services` must be a string, not a list",
        ),
        (
            "a number as a service name",
            b"services:\n  web:\n    image: x\n  1: {image: y}\n",
            "compose.yml:4:3: a key under `services` must be a string, not a number",
        ),
        (
            "a bad value deep in a service",
            b"services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits:\n          memory: 1g\n          cpus: lots\n",
            "compose.yml:8: `lots` is not a number of CPUs",
        ),
        (
            "a bad value in a flow mapping over several lines",
            b"services:\n  web:\n    image: x\n    healthcheck: {\n      test: [CMD, /check],\n      retries: -1 }\n",
            "compose.yml:6: `healthcheck.retries` must be a whole number from 0",
        ),
        (
            "a bad value in a flow mapping, not at the start of its line",
            b"services:\n  web:\n    image: x\n    healthcheck: {test: [CMD, /check],\n      interval: 5s, retries: -1 }\n",
            "compose.yml:5:30: `healthcheck.retries` must be a whole number from 0",
        ),
        (
            "a bad entry of a flow list over several lines",
            b"services:\n  web:\n    image: x\n    ports: [\n      \"80\",\n      \"not-an-ip:8080:80\" ]\n",
            "compose.yml:6:7: port `not-an-ip:8080:80`",
        ),
        (
            "a list at the top",
            b"\n- services\n",
            "compose.yml:2:1: expected a mapping with `services:` at the top, not a list",
        ),
    ];
    let dir = Dir::new();
    for (name, text, expected) in cases {
        std::fs::write(dir.path().join("compose.yml"), text).unwrap();
        let out = dir.graph(&["compose.yml"]);
        assert_eq!(out.code, Some(2), "{name}: {out:#?}");
        assert!(
            out.stderr.starts_with(&format!("error: {expected}")),
            "{name}: {}",
            out.stderr
        );
    }
}

/// `.env` files: the line that is not `KEY=VALUE`, as `file:line`.
#[test]
fn env_file_mistakes_name_their_line() {
    let dir = Dir::new();
    dir.write(
        "compose.yml",
        "services:\n  web:\n    image: x\n    env_file: [web.env]\n",
    );
    dir.write(".env", "A=1\n\n# fine\nnot a line\n");
    let out = stackctl(["graph"]).current_dir(dir.path()).output();
    out.code(2);
    assert!(
        out.stderr
            .starts_with("error: .env:4: expected `KEY=VALUE`, got `not a line`"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("hint: a `.env` line is `KEY=VALUE`"),
        "{out:#?}"
    );
    dir.write(".env", "A=1\n");
    dir.write("web.env", "B=2\n3C D=4\n");
    let out = stackctl(["graph"]).current_dir(dir.path()).output();
    out.code(2);
    assert!(
        out.stderr.starts_with(
            "error: compose.yml:4: env_file `web.env:2`: `3C D` is not a variable name"
        ),
        "{out:#?}"
    );
}
