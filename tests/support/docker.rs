//! Container tests: static binaries, images built locally `FROM scratch`, and cleanup.
//!
//! No registry is reachable, so every image is built here from static (musl) binaries.
//! Everything a test creates carries a unique name and is removed when its guard drops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The musl target the static binaries are built for.
pub const TARGET: &str = "x86_64-unknown-linux-musl";

/// Builds (or finds up to date) the static binaries of these packages and returns the
/// directory holding them. Cargo does nothing when they are fresh; `.ci/run` builds them first.
pub fn static_binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        super::cargo_build(
            &["--release", "--target", TARGET, "-p", "stackctl", "-p", "stackctl-fixtures"],
            "the static build failed; `bash tests/setup.sh` installs the musl target and musl-tools",
        );
        super::target_dir().join(TARGET).join("release")
    })
}

/// The simulators, static, beside [`static_binaries`]: built apart from stackctl (the MongoDB
/// driver's features differ) and always as one set — the same packages `tests/setup.sh` builds —
/// so that cargo's feature resolution, and so its cache, is the same in every caller.
pub fn static_simulators() -> &'static Path {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut args = vec!["--release", "--target", TARGET];
        args.extend(super::SIMULATORS);
        super::cargo_build(&args, "building the static simulators failed");
    });
    static_binaries()
}

/// Runs one of the image scripts in `tests/images/`, returning its stdout (the images built).
pub fn image_script(script: &str, args: &[&str]) -> String {
    repo_script(&format!("tests/images/{script}"), args)
}

/// Runs a bash script of the repository (a path from its root), returning its stdout; panics
/// with its stderr when it fails.
pub fn repo_script(script: &str, args: &[&str]) -> String {
    let out = Command::new("bash")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg(script)
        .args(args)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
}

/// Runs `docker ARGS`, returning stdout; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    docker_at(None, args)
}

/// [`docker`] against the daemon at `host` (`DOCKER_HOST`), or the default one.
pub fn docker_at(host: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("docker");
    if let Some(host) = host {
        command.env("DOCKER_HOST", host);
    }
    let out = command.args(args).output().expect("docker runs");
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes what a test created, even when it fails.
#[derive(Default)]
pub struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
    networks: Vec<String>,
}

impl Cleanup {
    pub fn container(&mut self, name: &str) {
        self.containers.push(name.to_owned());
    }
    pub fn image(&mut self, name: &str) {
        self.images.push(name.to_owned());
    }
    pub fn network(&mut self, name: &str) {
        self.networks.push(name.to_owned());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("docker").args(args).output();
        };
        for c in &self.containers {
            quiet(&["rm", "-f", "-v", c]);
        }
        for n in &self.networks {
            quiet(&["network", "rm", n]);
        }
        // `--no-prune`: an image's untagged parents are the legacy builder's cache, which a
        // build running in another test may be using at this moment ("unknown parent image
        // ID"); they are the same layers every run, so keeping them costs nothing per run.
        for i in &self.images {
            quiet(&["rmi", "-f", "--no-prune", i]);
        }
    }
}

/// The demo stack's image (`compose/demo/build-image.sh`: stackctl, the simulators, the HTTP
/// fixture and node, `FROM scratch`) under a name of this run, removed with `cleanup`.
pub fn demo_image(prefix: &str, cleanup: &mut Cleanup) -> String {
    static_simulators();
    let image = unique(prefix);
    cleanup.image(&image);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("bash")
        .arg(root.join("compose/demo/build-image.sh"))
        .arg(&image)
        .output()
        .expect("bash runs");
    assert!(
        built.status.success(),
        "build-image.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    image
}

/// Builds an image from a Dockerfile and files copied into a fresh context directory.
pub fn build_image(tag: &str, dockerfile: &str, files: &[(&Path, &str)]) {
    let context = tempfile::tempdir().expect("context dir");
    for (source, name) in files {
        std::fs::copy(source, context.path().join(name)).expect("copy into the build context");
    }
    std::fs::write(context.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    docker(&[
        "build",
        "-q",
        "-t",
        tag,
        context.path().to_str().expect("utf-8 path"),
    ]);
}

/// Polls `docker inspect` until the container's health is `want` or the deadline passes;
/// returns the last status seen.
pub fn wait_for_health(container: &str, want: &str, deadline: Duration) -> String {
    let started = Instant::now();
    loop {
        let status = docker(&["inspect", "-f", "{{.State.Health.Status}}", container]);
        if status == want || started.elapsed() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs docker-compose 1.29.2 (`-f FILE -p PROJECT ARGS…`, with `env` added); panics with its
/// stderr when it fails.
pub fn docker_compose(file: &std::path::Path, project: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new("docker-compose")
        .args(["-f", file.to_str().unwrap(), "-p", project])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("docker-compose runs");
    assert!(
        out.status.success(),
        "docker-compose {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
