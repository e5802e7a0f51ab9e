//! A small fluent harness around the `stackctl` binary, plus servers tests start on loopback.

#![allow(dead_code)]

pub mod dns;
pub mod docker;
pub mod http;
pub mod pods;
pub mod process;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace's target directory (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

/// The simulators' packages, always built as one set (so that cargo resolves the same features
/// every time and keeps its cache).
pub const SIMULATORS: [&str; 6] = [
    "-p",
    "mongo-sim",
    "-p",
    "rocketchat-sim",
    "-p",
    "gitlab-sim",
];

/// `cargo build ARGS` in the workspace, for binaries the tests run (simulators, static
/// builds); panics with `what` when it fails.
pub fn cargo_build(args: &[&str], what: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    // The variables `cargo test` sets for this process (CARGO_PKG_NAME, CARGO_MANIFEST_DIR,
    // OUT_DIR, ...) would reach the build scripts' `rerun-if-env-changed` checks (ring's among
    // them) and rebuild shared dependencies on every run, then again in the shell.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR")
            || key == "OUT_DIR"
        {
            command.env_remove(key.as_ref());
        }
    }
    let status = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("build")
        .args(args)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "{what}");
}

/// The binary cargo built for these tests, or the one `STACKCTL_TEST_BINARY` names (to run
/// the suite against another build, e.g. the static release binary or an older commit's).
pub fn binary() -> PathBuf {
    std::env::var_os("STACKCTL_TEST_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_stackctl")),
        PathBuf::from,
    )
}

/// `stackctl ARGS...`, run with a clean, predictable environment.
pub fn stackctl<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    Run { command }
}

/// A command being prepared.
pub struct Run {
    command: Command,
}

impl Run {
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs in this directory instead of the test's.
    pub fn current_dir(mut self, dir: &std::path::Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Runs until it exits or `limit` passes (then it is killed: `killed` says so).
    pub fn output_within(mut self, limit: Duration) -> Output {
        use std::io::Read as _;
        let started = Instant::now();
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stackctl runs");
        let mut pipes = (child.stdout.take(), child.stderr.take());
        let readers = [
            pipes.0.take().map(|mut p| {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = p.read_to_end(&mut buf);
                    buf
                })
            }),
            pipes.1.take().map(|mut p| {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = p.read_to_end(&mut buf);
                    buf
                })
            }),
        ];
        let mut killed = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                killed = true;
                break child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let [out, err] =
            readers.map(|r| r.map(|t| t.join().unwrap_or_default()).unwrap_or_default());
        Output {
            code: status.code(),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            elapsed: started.elapsed(),
            killed,
        }
    }

    /// Runs to completion.
    pub fn output(mut self) -> Output {
        let started = Instant::now();
        let out = self.command.output().expect("stackctl runs");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
            killed: false,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// Killed by [`Run::output_within`] at its limit.
    pub killed: bool,
}

impl Output {
    /// Asserts the exit code, showing everything on failure.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code:\n{self:#?}"
        );
        self
    }

    /// stdout as NDJSON (`--json`): one value a line; panics on a line that is not JSON.
    #[track_caller]
    pub fn ndjson(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Asserts stdout is exactly one line and returns it.
    #[track_caller]
    pub fn one_line(&self) -> &str {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one line on stdout:\n{self:#?}"
        );
        lines[0]
    }

    /// stdout and stderr with unstable values (ports, timings, paths) replaced, for snapshots.
    pub fn normalized(&self) -> String {
        normalize(&format!(
            "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        ))
    }
}

/// Replaces durations, ports and temp paths with placeholders.
pub fn normalize(text: &str) -> String {
    let rules = [
        (r"\d+(\.\d+)? (ms|s)\b", "[DURATION]"),
        (r"\d+(\.\d+)?(ms|s)\b", "[DURATION]"),
        (r"(127\.0\.0\.1|localhost|\[::1\]):\d+", "$1:[PORT]"),
        (r"/tmp/[^\s`']+", "[TEMP]"),
        (r"\[\s*\d+\.\d+s\]", "[ELAPSED]"),
    ];
    let mut out = text.to_owned();
    for (pattern, replacement) in rules {
        out = regex::Regex::new(pattern)
            .expect("valid pattern")
            .replace_all(&out, replacement)
            .into_owned();
    }
    out
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
