//! A small fluent harness around the `stackctl` binary, plus servers tests start on loopback.

#![allow(dead_code)]

pub mod dns;
pub mod docker;
pub mod http;
pub mod process;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stackctl"))
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
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &std::path::Path) -> Self {
        self.command.current_dir(dir);
        self
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
