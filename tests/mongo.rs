//! `check mongo` and `init replica-set` against the MongoDB simulator (tests/mongo-sim), which
//! answers with the server's wire format, reply shapes, error codes and election timing.

use std::time::Duration;

use crate::support::process::Simulator;
use crate::support::{closed_port, stackctl};

fn sim(args: &[&str]) -> (Simulator, String) {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    let sim = Simulator::start("mongo-sim", &all);
    let uri = format!("mongodb://{}", sim.addr);
    (sim, uri)
}

/// `stackctl init replica-set` (quiet) on `uri` with one `member`.
pub fn init(uri: &str, name: &str, member: &str, extra: &[&str]) -> crate::support::Output {
    let mut args = vec![
        "--quiet",
        "init",
        "replica-set",
        "--uri",
        uri,
        "--name",
        name,
        "--member",
        member,
    ];
    args.extend_from_slice(extra);
    stackctl(args).output()
}

fn check(uri: &str, extra: &[&str]) -> crate::support::Output {
    let mut args = vec!["check", "mongo", "--uri", uri];
    args.extend_from_slice(extra);
    stackctl(args).output()
}

#[test]
fn fresh_member_is_initiated_and_waited_on_until_primary_then_a_rerun_is_a_no_op() {
    let (sim, uri) = sim(&["--replSet", "rs0", "--election-delay", "1500ms"]);
    let member = sim.addr.to_string();
    let out = check(&uri, &["--replica-set", "rs0"]);
    out.code(1);
    assert!(
        out.one_line()
            .ends_with("unhealthy: replica set not initiated (run `stackctl init replica-set`)"),
        "{out:#?}"
    );

    let out = init(&uri, "rs0", &member, &[]);
    out.code(0);
    // Done only once a PRIMARY exists: about the election delay, not the initiate round trip.
    assert!(
        out.elapsed >= Duration::from_millis(1400),
        "returned before the election: {:?}",
        out.elapsed
    );
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        format!("replica set `rs0`: initiated with {member}")
    );
    assert!(out.stdout.contains("PRIMARY is"), "{out:#?}");

    let out = check(&uri, &["--replica-set", "rs0"]);
    out.code(0);
    assert!(
        out.one_line()
            .contains("healthy (PRIMARY of `rs0`, 1/1 members healthy"),
        "{out:#?}"
    );

    let again = init(&uri, "rs0", &member, &[]);
    again.code(0);
    assert_eq!(
        again.stdout.lines().next().unwrap(),
        format!("replica set `rs0`: already initiated with {member}")
    );
    assert!(again.elapsed < Duration::from_secs(1));
}

#[test]
fn check_fails_during_the_election_window_and_passes_after_it() {
    let (sim, uri) = sim(&["--replSet", "rs0", "--election-delay", "2s"]);
    // Initiate by hand (through a job that cannot wait) to observe the window.
    let member = sim.addr.to_string();
    let started = std::time::Instant::now();
    let early = init(&uri, "rs0", &member, &["--timeout", "300ms"]);
    early.code(3);
    let out = check(&uri, &["--replica-set", "rs0"]);
    out.code(1);
    assert!(
        out.one_line()
            .contains("SECONDARY of `rs0`, not PRIMARY (an election may be in progress)"),
        "{out:#?}"
    );
    std::thread::sleep(
        Duration::from_secs(2).saturating_sub(started.elapsed()) + Duration::from_millis(300),
    );
    check(&uri, &["--replica-set", "rs0"]).code(0);
}

#[test]
fn a_server_listening_late_is_waited_for() {
    let port = closed_port();
    let port_text = port.to_string();
    let sim = std::thread::spawn(move || {
        Simulator::start(
            "mongo-sim",
            &[
                "--port",
                &port_text,
                "--replSet",
                "rs0",
                "--listen-delay",
                "3s",
                "--election-delay",
                "200ms",
            ],
        )
    });
    let uri = format!("mongodb://127.0.0.1:{port}");
    let out = init(
        &uri,
        "rs0",
        &format!("127.0.0.1:{port}"),
        &["--timeout", "30s"],
    );
    let _sim = sim.join().unwrap();
    out.code(0);
    assert!(out.elapsed >= Duration::from_secs(3), "{:?}", out.elapsed);
}

#[test]
fn two_concurrent_inits_both_succeed_with_one_config() {
    let (sim, uri) = sim(&["--replSet", "rs0", "--election-delay", "500ms"]);
    let member = sim.addr.to_string();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (uri, member) = (uri.clone(), member.clone());
            std::thread::spawn(move || init(&uri, "rs0", &member, &[]))
        })
        .collect();
    let outs: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    for out in &outs {
        out.code(0);
    }
    let initiated = outs
        .iter()
        .filter(|o| o.stdout.contains(": initiated with"))
        .count();
    assert!(initiated <= 1, "only one can have initiated: {outs:#?}");
    // One config, version 1: nobody initiated twice or reconfigured.
    let status = check(&uri, &["--replica-set", "rs0"]);
    status.code(0);
}

#[test]
fn set_name_mismatch_fails_with_a_hint() {
    let (sim, uri) = sim(&["--replSet", "rs0"]);
    let out = init(&uri, "chat", &sim.addr.to_string(), &[]);
    out.code(1);
    assert!(
        out.stderr
            .contains("set name that differs from command line set name"),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains("hint: `--name chat` must equal mongod's `--replSet`"),
        "{out:#?}"
    );
    let out = check(&uri, &["--replica-set", "chat"]);
    out.code(1);
}

#[test]
fn a_standalone_server_fails_fast_with_a_hint() {
    let (sim, uri) = sim(&[]);
    let out = init(&uri, "rs0", &sim.addr.to_string(), &["--timeout", "30s"]);
    out.code(1);
    assert!(
        out.elapsed < Duration::from_secs(2),
        "fail fast: {:?}",
        out.elapsed
    );
    assert!(out.stderr.contains("code 76"), "{out:#?}");
    assert!(
        out.stderr
            .contains("hint: start mongod with `--replSet rs0`"),
        "{out:#?}"
    );
    let out = check(&uri, &["--replica-set", "rs0"]);
    out.code(1);
    assert!(
        out.one_line()
            .contains("a standalone server, not a replica-set member"),
        "{out:#?}"
    );
    check(&uri, &[]).code(0);
}

#[test]
fn a_member_that_does_not_map_to_this_node_is_rejected_with_a_hint() {
    let (_sim, uri) = sim(&["--replSet", "rs0"]);
    let out = init(&uri, "rs0", "mongo-elsewhere:27017", &[]);
    out.code(1);
    assert!(out.stderr.contains("maps to this node"), "{out:#?}");
    assert!(
        out.stderr
            .contains("hint: one `--member` must be this server"),
        "{out:#?}"
    );
}

#[test]
fn a_member_recorded_under_the_wrong_host_is_refused_then_repaired_with_reconfigure() {
    let (sim, uri) = sim(&["--replSet", "rs0", "--election-delay", "200ms"]);
    let port = sim.addr.port();
    init(&uri, "rs0", &format!("localhost:{port}"), &[]).code(0);
    let wanted = format!("127.0.0.1:{port}");
    let out = init(&uri, "rs0", &wanted, &[]);
    out.code(1);
    assert!(
        out.stderr
            .contains(&format!("has members localhost:{port}, expected {wanted}")),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("hint: rerun with `--reconfigure`"),
        "{out:#?}"
    );
    let out = init(&uri, "rs0", &wanted, &["--reconfigure"]);
    out.code(0);
    assert!(
        out.stdout
            .contains(&format!("member hosts rewritten to {wanted}")),
        "{out:#?}"
    );
    let out = init(&uri, "rs0", &wanted, &[]);
    out.code(0);
    assert!(out.stdout.contains("already initiated"), "{out:#?}");
}

#[test]
fn a_stalled_server_fails_the_check_within_its_timeout() {
    let (_sim, uri) = sim(&["--replSet", "rs0", "--stall-after-handshake"]);
    let out = check(&uri, &["--replica-set", "rs0", "--timeout", "1s"]);
    out.code(1);
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
    assert!(out.one_line().contains("unhealthy"), "{out:#?}");
}

#[test]
fn refused_and_timed_out_init() {
    let port = closed_port();
    let uri = format!("mongodb://127.0.0.1:{port}");
    let out = check(&uri, &[]);
    out.code(1);
    assert_eq!(
        out.one_line(),
        format!("mongo 127.0.0.1:{port}: unhealthy: connection refused")
    );
    let out = init(
        &uri,
        "rs0",
        &format!("127.0.0.1:{port}"),
        &["--timeout", "1s"],
    );
    out.code(3);
    assert!(out.stderr.contains("timed out after 1.0 s"), "{out:#?}");
    assert!(out.stderr.contains("last: connection refused"), "{out:#?}");
}

#[test]
fn credentials_never_appear_in_output() {
    let (sim, _) = sim(&["--replSet", "rs0"]);
    let uri = format!("mongodb://admin:Sup3rSecret@{}/?authSource=admin", sim.addr);
    let outs = [
        check(&uri, &["--replica-set", "rs0", "--timeout", "2s"]),
        init(&uri, "rs0", &sim.addr.to_string(), &["--timeout", "2s"]),
        stackctl([
            "--json",
            "init",
            "replica-set",
            "--uri",
            &uri,
            "--member",
            &sim.addr.to_string(),
            "--timeout",
            "1s",
        ])
        .output(),
        check("mongodb://admin:Sup3rSecret@", &[]),
    ];
    for out in &outs {
        assert!(
            !out.stdout.contains("Sup3rSecret") && !out.stderr.contains("Sup3rSecret"),
            "{out:#?}"
        );
    }
}
