//! Simulators (test-support binaries of this workspace) run as child processes on loopback.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// Builds the workspace's test-support binaries once per test run (debug profile) and
/// returns the path of one (to run it as a command, e.g. to see it exit).
pub fn built(package: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        super::cargo_build(&super::SIMULATORS, "building the simulators failed");
    });
    super::target_dir().join("debug").join(package)
}

/// A running simulator, killed on drop.
pub struct Simulator {
    child: Child,
    pub addr: SocketAddr,
}

impl Simulator {
    /// Starts `binary ARGS` and waits for its `... listening on ADDR:PORT` line.
    pub fn start(binary: &str, args: &[&str]) -> Self {
        Self::start_with_env(binary, args, &[])
    }

    /// Like [`Simulator::start`], with extra environment variables.
    pub fn start_with_env(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(built(binary))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the simulator starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a first line");
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in `{line}`"));
        Self { child, addr }
    }

    /// Signals the simulator (e.g. to toggle a fault), like `kill -SIGNAL`.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
