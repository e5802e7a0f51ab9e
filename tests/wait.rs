//! `wait`: parallel probing, backoff, one deadline, `--invert`, exec, NDJSON events.

use std::net::TcpListener;
use std::time::Duration;

use crate::support::{closed_port, http, stackctl};

#[test]
fn targets_are_probed_in_parallel() {
    // Two servers that come up 600 ms and 700 ms from now. With retries at most 100 ms apart,
    // in parallel the wait ends at about 0.8 s; one target after the other it would take at
    // least 1.3 s (each server's own start-up delay, added).
    let a = http::start_after(Duration::from_millis(600));
    let b = http::start_after(Duration::from_millis(700));
    let out = stackctl([
        "wait",
        "--backoff-max",
        "100ms",
        "--timeout",
        "10s",
        &format!("http://{a}/health"),
        &format!("tcp://{b}"),
    ])
    .output();
    out.code(0);
    assert!(
        out.elapsed < Duration::from_millis(1200),
        "parallel: {:?}\n{out:#?}",
        out.elapsed
    );
    assert!(
        out.stderr
            .contains(&format!("http://{a}/health: ready after")),
        "{out:#?}"
    );
    assert!(out.stderr.contains("all targets ready after"), "{out:#?}");
    assert!(out.stdout.is_empty(), "progress stays off stdout");
}

#[test]
fn timeout_exits_three_naming_each_target_with_its_last_error() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = closed_port();
    let out = stackctl([
        "wait",
        "--timeout",
        "700ms",
        &format!("tcp://{}", up.local_addr().unwrap()),
        &format!("tcp://127.0.0.1:{down}"),
        &format!("http://127.0.0.1:{down}/health"),
    ])
    .output();
    out.code(3);
    assert!(
        out.elapsed < Duration::from_millis(1500),
        "{:?}",
        out.elapsed
    );
    let err = &out.stderr[out.stderr.find("error:").expect("an error line")..];
    let expected = format!(
        "error: timed out after 700ms; 2 targets never became ready\n  tcp://127.0.0.1:{down}: connection refused (after "
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(err.contains(&format!(
        "\n  http://127.0.0.1:{down}/health: connection refused (after "
    )));
    assert!(err.contains("\nhint: "));
}

#[test]
fn backoff_grows_then_caps() {
    let port = closed_port();
    let out = stackctl([
        "--json",
        "wait",
        "--timeout",
        "1500ms",
        "--backoff-min",
        "20ms",
        "--backoff-max",
        "200ms",
        &format!("tcp://127.0.0.1:{port}"),
    ])
    .output();
    out.code(3);
    let delays: Vec<f64> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "not_ready")
        .map(|e| e["retry_in_ms"].as_f64().unwrap())
        .collect();
    // 1.5 s of delays that grow from 20-40 ms to 100-200 ms: at least 6 of them.
    assert!(delays.len() >= 6, "{delays:?}");
    assert!(
        (20.0..=40.0).contains(&delays[0]),
        "first delay near the minimum: {delays:?}"
    );
    assert!(
        delays.iter().all(|d| *d <= 200.0),
        "never beyond the cap: {delays:?}"
    );
    assert!(
        delays[delays.len() - 1] >= 100.0,
        "grown to the cap region: {delays:?}"
    );
}

#[test]
fn invert_waits_until_unreachable() {
    let port = closed_port();
    let out = stackctl([
        "wait",
        "--invert",
        "--timeout",
        "2s",
        &format!("tcp://127.0.0.1:{port}"),
    ])
    .output();
    out.code(0);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let out = stackctl([
        "wait",
        "--invert",
        "--timeout",
        "300ms",
        &format!("tcp://{addr}"),
    ])
    .output();
    out.code(3);
    assert!(out.stderr.contains("still reachable"), "{out:#?}");
}

#[test]
fn permanent_errors_fail_at_once() {
    let out = stackctl([
        "wait",
        "--timeout",
        "30s",
        "tcp://db:5432",
        "tcp://db:99999",
    ])
    .output();
    out.code(2);
    assert!(out.elapsed < Duration::from_secs(2));
}

#[test]
fn exec_replaces_the_process_once_ready() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let out = stackctl([
        "--quiet",
        "wait",
        &format!("tcp://{addr}"),
        "--",
        "sh",
        "-c",
        "echo started as $$; exit 7",
    ])
    .output();
    // The command's own exit status comes through: stackctl is no longer there.
    out.code(7);
    assert!(out.stdout.starts_with("started as "), "{out:#?}");

    let out = stackctl([
        "--quiet",
        "wait",
        &format!("tcp://{addr}"),
        "--",
        "no-such-program-xyz",
    ])
    .output();
    out.code(127);
    assert!(
        out.stderr
            .contains("command `no-such-program-xyz` not found"),
        "{out:#?}"
    );
}

#[test]
fn exec_does_not_run_when_the_wait_fails() {
    let port = closed_port();
    let out = stackctl([
        "wait",
        "--timeout",
        "200ms",
        &format!("tcp://127.0.0.1:{port}"),
        "--",
        "sh",
        "-c",
        "echo should-not-run",
    ])
    .output();
    out.code(3);
    assert!(!out.stdout.contains("should-not-run"));
}

#[test]
fn json_events_are_ndjson_on_stdout() {
    let late = http::start_after(Duration::from_millis(300));
    let out = stackctl([
        "--json",
        "wait",
        "--timeout",
        "5s",
        &format!("tcp://{late}"),
    ])
    .output();
    out.code(0);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(events[0]["event"], "wait_started");
    assert_eq!(events[0]["targets"][0], format!("tcp://{late}"));
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "not_ready" && e["reason"] == "connection refused")
    );
    let ready = events
        .iter()
        .find(|e| e["event"] == "ready")
        .expect("a ready event");
    assert!(ready["attempts"].as_u64().unwrap() >= 2);
    assert_eq!(events.last().unwrap()["event"], "wait_finished");
    assert_eq!(events.last().unwrap()["ready"], true);
    assert!(out.stderr.is_empty(), "{out:#?}");
}
