//! `check tcp` against real listeners on loopback.

use std::net::TcpListener;

use crate::support::{closed_port, stackctl};

#[test]
fn open_port_is_healthy() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let out = stackctl(["check", "tcp", &addr.to_string()]).output();
    out.code(0);
    let line = out.one_line();
    assert!(
        line.starts_with(&format!("tcp {addr}: healthy (connected in ")),
        "{line}"
    );
}

#[test]
fn closed_port_is_unhealthy() {
    let port = closed_port();
    let out = stackctl(["check", "tcp", &format!("127.0.0.1:{port}")]).output();
    out.code(1);
    assert_eq!(
        out.one_line(),
        format!("tcp 127.0.0.1:{port}: unhealthy: connection refused")
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn host_names_resolve() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = stackctl(["check", "tcp", &format!("localhost:{port}")]).output();
    // `localhost` may resolve to ::1 first, where nothing listens; the check tries every address.
    out.code(0);
    assert!(
        out.one_line().contains("healthy (connected (127.0.0.1:"),
        "{out:#?}"
    );
}

#[test]
fn ipv6_in_brackets() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        // A host without IPv6 loopback cannot run this test; say so instead of passing silently.
        eprintln!("skipping: no IPv6 loopback here");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let out = stackctl(["check", "tcp", &format!("[::1]:{port}")]).output();
    out.code(0);
    assert!(
        out.one_line()
            .starts_with(&format!("tcp [::1]:{port}: healthy"))
    );
}

#[test]
fn json_output_is_one_object() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = stackctl(["--json", "check", "tcp", &addr]).output();
    out.code(0);
    let line: serde_json::Value = serde_json::from_str(out.one_line()).unwrap();
    assert_eq!(line["check"], "tcp");
    assert_eq!(line["target"], addr);
    assert_eq!(line["healthy"], true);
    assert!(line["elapsed_ms"].as_f64().unwrap() >= 0.0);
}
