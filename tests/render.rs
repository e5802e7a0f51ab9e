//! `stackctl render kubernetes` on the repository's stacks: the manifests are snapshotted, and
//! validated offline in strict mode against two Kubernetes versions' schemas
//! (`kubernetes-validate`, pinned in tests/requirements.txt, from `target/venv`).

use std::path::Path;
use std::process::Command;

use crate::support::{Output, stackctl, target_dir};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The demo stack (its image a fixed name) and the chat stack (its required settings given).
fn render(stack: &str, rest: &[&str]) -> Output {
    let mut args = vec!["render", "kubernetes"];
    let (file, env_file) = match stack {
        "demo" => (root().join("compose/demo/compose.yml"), None),
        _ => (
            root().join("compose/chat/compose.yml"),
            Some(root().join("compose/chat/.env.example")),
        ),
    };
    let file = file.to_string_lossy().into_owned();
    args.extend(["-f", &file, "-p", stack]);
    let env_file = env_file.map(|f| f.to_string_lossy().into_owned());
    if let Some(env_file) = &env_file {
        args.extend(["--env-file", env_file]);
    }
    args.extend(rest);
    stackctl(args)
        .env("BENCH_IMAGE", "stackctl-demo:latest")
        .env("STACKCTL_BIN", "/usr/local/bin/stackctl")
        .env("ADMIN_PASS", "render-admin-pass")
        .env("BOT_PASS", "render-bot-pass")
        .output()
}

fn validate(version: &str, files: &[std::path::PathBuf]) -> std::process::Output {
    let tool = target_dir().join("venv/bin/kubernetes-validate");
    assert!(
        tool.exists(),
        "`{}` is missing: run `bash tests/setup.sh`",
        tool.display()
    );
    Command::new(tool)
        .args(["--strict", "--quiet", "-k", version])
        .args(files)
        .output()
        .expect("kubernetes-validate runs")
}

#[test]
fn the_demo_stacks_manifests_keep_its_order_readiness_and_jobs() {
    let out = render("demo", &[]);
    out.code(0);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn the_chat_stacks_manifests_keep_its_order_readiness_and_jobs() {
    let out = render("chat", &[]);
    out.code(0);
    // What Kubernetes has no equivalent for is named on stderr, not silently dropped.
    for left_out in [
        "service `nginx`: `ports` publishes host port 80",
        "service `certs`: bind mount of",
    ] {
        assert!(out.stderr.contains(left_out), "{}", out.stderr);
    }
    assert!(!out.stdout.contains("render-admin-pass") || out.stdout.contains("kind: Secret"));
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn manifests_pass_strict_schema_validation_on_two_kubernetes_versions() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for stack in ["demo", "chat"] {
        let out_dir = dir.path().join(stack);
        render(stack, &["-o", out_dir.to_str().unwrap()]).code(0);
        for entry in std::fs::read_dir(&out_dir).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    assert!(files.len() > 20, "{files:?}");
    for version in ["1.29.0", "1.37.0"] {
        let checked = validate(version, &files);
        assert!(
            checked.status.success(),
            "Kubernetes {version}:\n{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    // The validator is strict for real: a misspelt field fails it.
    let broken = dir.path().join("broken.yaml");
    let statefulset = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with("-statefulset.yaml"))
        .expect("a StatefulSet");
    let text = std::fs::read_to_string(statefulset).unwrap();
    std::fs::write(&broken, text.replace("serviceName:", "servicename:")).unwrap();
    assert!(!validate("1.37.0", &[broken]).status.success());
}

#[test]
fn strict_rendering_refuses_what_cannot_be_carried_over() {
    let out = render("chat", &["--strict"]);
    out.code(2);
    assert!(
        out.stderr.contains("cannot be carried over to Kubernetes"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: drop `--strict`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn install_copies_the_binary_for_a_shared_volume() {
    let dir = tempfile::tempdir().unwrap();
    stackctl(["install", "--to", dir.path().to_str().unwrap()])
        .output()
        .code(0);
    let copy = dir.path().join("stackctl");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&copy).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(crate::support::binary()).unwrap()
    );
    // The copy runs.
    let version = Command::new(&copy).arg("--version").output().unwrap();
    assert!(version.status.success());
    let missing = dir.path().join("missing");
    let out = stackctl(["install", "--to", missing.to_str().unwrap()]).output();
    out.code(1);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}
