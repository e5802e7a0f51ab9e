//! Every answer stackctl reads is bounded: against a server that never stops sending, each
//! command stays within its timeout *and* within a few MiB of memory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use crate::support::binary;

/// The peak resident memory a command may reach against an endless body.
const PEAK_LIMIT_KIB: u64 = 64 * 1024;

/// A server answering every request `200 OK` with a JSON body that never ends (chunked), as
/// fast as the client reads it.
fn endless_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
                chunk.extend(std::iter::once(b'[').chain(std::iter::repeat_n(b'1', 64 * 1024 - 1)));
                chunk.extend_from_slice(b"\r\n");
                while stream.write_all(&chunk).is_ok() {}
            });
        }
    });
    addr
}

/// Runs stackctl under GNU time; returns the exit code, stdout and the peak RSS in KiB.
fn peak(args: &[&str]) -> (Option<i32>, String, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(binary())
        .args(args)
        .env_clear()
        .env("PW", "pw")
        .output()
        .expect("GNU time runs (`bash tests/setup.sh` installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("peak-rss-kib "))
        .next_back()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak in {stderr}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        kib,
    )
}

#[test]
fn endless_bodies_cost_a_bounded_amount_of_memory() {
    let addr = endless_server();
    let url = format!("http://{addr}");
    let health = format!("{url}/health");
    let cases: Vec<Vec<&str>> = vec![
        vec!["check", "rocketchat", "--url", &url, "--timeout", "5s"],
        vec![
            "check",
            "rocketchat-login",
            "--url",
            &url,
            "--user",
            "bot",
            "--password-env",
            "PW",
            "--timeout",
            "5s",
        ],
        vec![
            "init",
            "rocketchat-admin",
            "--url",
            &url,
            "--password-env",
            "PW",
            "--timeout",
            "3s",
        ],
        vec![
            "check",
            "http",
            &health,
            "--body-contains",
            "ok",
            "--timeout",
            "5s",
        ],
        vec![
            "check",
            "http",
            &health,
            "--json-path",
            "a=1",
            "--timeout",
            "5s",
        ],
        vec!["wait", &health, "--timeout", "2s"],
    ];
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for args in &cases {
        let started = std::time::Instant::now();
        let (code, stdout, kib) = peak(args);
        let elapsed = started.elapsed();
        report.push(format!(
            "{kib:>8} KiB  {elapsed:>8.2?}  {}",
            args[..2].join(" ")
        ));
        if kib >= PEAK_LIMIT_KIB || elapsed > Duration::from_secs(8) || code == Some(101) {
            failures.push(format!(
                "`stackctl {}`: peak {kib} KiB (limit {PEAK_LIMIT_KIB} KiB), {elapsed:?}, exit {code:?}: {}",
                args.join(" "),
                stdout.trim()
            ));
        }
    }
    eprintln!("peak RSS against an endless body:\n{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
