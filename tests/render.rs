//! `stackctl render kubernetes` on the repository's stacks: the manifests are snapshotted, and
//! validated offline in strict mode against two Kubernetes versions' schemas
//! (`kubernetes-validate`, pinned in tests/requirements.txt, from `target/venv`).

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use crate::support::docker::{
    Cleanup, build_image, image_script, repo_script, static_simulators, unique,
};
use crate::support::{Output, pods, stackctl, target_dir};

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

/// The stream with the content of carried files (ConfigMaps, file Secrets) as sizes and
/// digests: the snapshot is about the manifests, not about `gitlab.js`' latest edit.
fn summarized(stream: &str) -> String {
    use sha2::Digest as _;
    let mut text = String::new();
    for mut object in crate::support::pods::parse(stream) {
        let files = object["kind"] == "ConfigMap"
            || (object["kind"] == "Secret" && object.get("data").is_some());
        if files {
            for field in ["data", "binaryData"] {
                if let Some(map) = object.get_mut(field).and_then(|m| m.as_object_mut()) {
                    for value in map.values_mut() {
                        let bytes = value.as_str().unwrap_or_default().as_bytes();
                        let digest = format!("{:x}", sha2::Sha256::digest(bytes));
                        *value = serde_json::json!(format!(
                            "<{} bytes, sha256 {}...>",
                            bytes.len(),
                            &digest[..12]
                        ));
                    }
                }
            }
        }
        text.push_str("---\n");
        text.push_str(&yaml_serde::to_string(&object).unwrap());
    }
    text
}

#[test]
fn the_demo_stacks_manifests_keep_its_order_readiness_and_jobs() {
    let out = render("demo", &[]);
    out.code(0);
    // Everything is carried over: the webhook script and the check catalog as ConfigMaps.
    assert!(!out.stderr.contains("WARN"), "{}", out.stderr);
    insta::assert_snapshot!(summarized(&out.stdout));
}

#[test]
fn the_chat_stacks_manifests_keep_its_order_readiness_and_jobs() {
    let out = render("chat", &[]);
    out.code(0);
    // What Kubernetes has no equivalent for is named on stderr, not silently dropped.
    assert!(
        out.stderr
            .contains("service `nginx`: `ports` publishes host port 80"),
        "{}",
        out.stderr
    );
    // Bind-mounted files (the certificate script, nginx's template, the check catalog) are
    // carried as ConfigMaps, not left out.
    assert!(!out.stderr.contains("bind mount"), "{}", out.stderr);
    assert!(!out.stdout.contains("render-admin-pass") || out.stdout.contains("kind: Secret"));
    insta::assert_snapshot!(summarized(&out.stdout));
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

/// Builds the images both stacks run on (removed with `cleanup`, except the cached nginx):
/// the stackctl image, the pod runner's pause image, the demo image, the chat simulators.
struct Images {
    stackctl: String,
    pause: String,
    demo: String,
    chat_tag: String,
    nginx: String,
}

impl Images {
    fn build(cleanup: &mut Cleanup) -> Self {
        let bin = static_simulators();
        let tag = unique("render").to_ascii_lowercase();
        let stackctl = format!("stackctl-test/stackctl:{tag}");
        let pause = format!("stackctl-test/pause:{tag}");
        let demo = format!("stackctl-test/demo:{tag}");
        for image in [&stackctl, &pause, &demo] {
            cleanup.image(image);
        }
        let binary = bin.join("stackctl");
        repo_script(
            "compose/kubernetes/build-stackctl-image.sh",
            &[&stackctl, binary.to_str().unwrap()],
        );
        repo_script("compose/demo/build-image.sh", &[&demo]);
        build_image(
            &pause,
            "FROM scratch\nCOPY job-fixture /pause\n",
            &[(&bin.join("job-fixture"), "job-fixture")],
        );
        let nginx = image_script("build-nginx.sh", &[]);
        for image in image_script("build-chat-sims.sh", &[&tag]).split_whitespace() {
            cleanup.image(image);
        }
        Self {
            stackctl,
            pause,
            demo,
            chat_tag: tag,
            nginx,
        }
    }

    /// `render kubernetes` of a stack on these images, parsed.
    fn render(&self, stack: &str) -> Vec<serde_json::Value> {
        let admin = unique("admin-pass");
        let bot = unique("bot-pass");
        let mut args = vec![
            "render".to_owned(),
            "kubernetes".to_owned(),
            "--stackctl-image".to_owned(),
            self.stackctl.clone(),
            "-p".to_owned(),
            stack.to_owned(),
        ];
        let files: &[&str] = if stack == "demo" {
            &["compose/demo/compose.yml"]
        } else {
            &["compose/chat/compose.yml", "compose/chat/compose.local.yml"]
        };
        for file in files {
            args.extend([
                "-f".to_owned(),
                root().join(file).to_string_lossy().into_owned(),
            ]);
        }
        if stack == "chat" {
            let env_file = root().join("compose/chat/.env.example");
            args.extend([
                "--env-file".to_owned(),
                env_file.to_string_lossy().into_owned(),
            ]);
        }
        let out = stackctl(args)
            .env("BENCH_IMAGE", &self.demo)
            .env("ADMIN_PASS", &admin)
            .env("BOT_PASS", &bot)
            // The chat stack's local proof (compose/chat/local-proof.sh), minus the host ports.
            .env("STACKCTL_BIN", "/usr/local/bin/stackctl")
            .env("LOCAL_IMAGES_TAG", &self.chat_tag)
            .env("LOCAL_NGINX_IMAGE", &self.nginx)
            .env("DOMAIN", "chat.example.test")
            .env("ADMIN_EMAIL", "admin@chat.example.test")
            .env("HTTP_PORT", "8080")
            .env("HTTPS_PORT", "8443")
            .output();
        out.code(0);
        assert!(!out.stderr.contains("bind mount"), "{}", out.stderr);
        pods::parse(&out.stdout)
    }
}

/// The rendered manifests RUN: every pod of the demo stack and of the chat stack's local proof
/// reaches Ready and every Job completes, on Docker with Kubernetes' semantics
/// (tests/support/pods.rs says what that runner models and what not). The waits of the
/// initContainers, the stackctl image, the files carried as ConfigMaps and the shared claims
/// all have to work for that.
#[test]
fn the_rendered_pods_of_both_stacks_become_ready() {
    let mut cleanup = Cleanup::default();
    let images = Images::build(&mut cleanup);
    let mut figures = Vec::new();
    for stack in ["demo", "chat"] {
        let objects = images.render(stack);
        let report = pods::run(&objects, &images.pause, Duration::from_secs(300))
            .unwrap_or_else(|e| panic!("{stack}: {e}"));
        let workloads = objects
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
            .count();
        let jobs = objects.iter().filter(|o| o["kind"] == "Job").count();
        assert_eq!(report.ready.len(), workloads, "{stack}: {report:?}");
        assert_eq!(report.completed.len(), jobs, "{stack}: {report:?}");
        figures.push(format!(
            "{stack}: {} pods ready, {} job(s) complete in {:.1} s ({} container(s) retried)",
            report.ready.len(),
            report.completed.len(),
            report.elapsed.as_secs_f64(),
            report.retries.len()
        ));
        for retry in &report.retries {
            eprintln!("pod runner: {stack}: retried: {retry}");
        }
    }
    eprintln!("pod runner: {}", figures.join("; "));
}

/// The runner itself is honest about failure: a Job failing once is retried after back-off
/// and completes (its attempts counted on a claim), one with no retries left fails the run.
#[test]
fn the_pod_runner_retries_jobs_up_to_their_backoff_limit() {
    let mut cleanup = Cleanup::default();
    let bin = crate::support::docker::static_binaries();
    let pause = format!(
        "stackctl-test/pause:{}",
        unique("runner").to_ascii_lowercase()
    );
    cleanup.image(&pause);
    build_image(
        &pause,
        "FROM scratch\nCOPY job-fixture /pause\n",
        &[(&bin.join("job-fixture"), "job-fixture")],
    );
    let job = |name: &str, failures: &str, backoff_limit: u64| {
        serde_json::json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": backoff_limit, "template": {"spec": {
                "restartPolicy": "Never",
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
                "containers": [{
                    "name": name, "image": pause, "command": ["/pause", failures],
                    "env": [{"name": "ATTEMPTS_FILE", "value": "/data/attempts"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }],
            }}},
        })
    };
    let report = pods::run(&[job("flaky", "1", 1)], &pause, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.completed, ["job/flaky"]);
    // Kubernetes' first back-off is 10 s.
    assert!(report.elapsed >= Duration::from_secs(10), "{report:?}");
    let failed = pods::run(&[job("broken", "5", 0)], &pause, Duration::from_secs(60)).unwrap_err();
    assert!(
        failed.contains("job/broken: 1 pod(s) failed (backoffLimit 0)"),
        "{failed}"
    );
}
