//! The one target grammar: every command that takes a target (`wait`, `check`, `probe`)
//! accepts the same URL forms, and `wait` on a replica set is the entrypoint gate
//! `stackctl wait mongodb://mongo:27017/?replicaSet=rs0 -- node main.js` — against the MongoDB
//! and Rocket.Chat simulators.

use std::time::Duration;

use crate::support::process::Simulator;
use crate::support::{closed_port, stackctl};

fn mongo(args: &[&str]) -> Simulator {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    Simulator::start("mongo-sim", &all)
}

#[test]
fn wait_on_a_replica_set_gates_an_entrypoint_until_a_primary_exists() {
    let sim = mongo(&["--replSet", "rs0", "--election-delay", "500ms"]);
    let set = format!("mongodb://{}/?replicaSet=rs0", sim.addr);
    // Not initiated yet: no PRIMARY, so the wait times out and says why.
    let out = stackctl(["wait", "--timeout", "1s", &set]).output();
    out.code(3);
    assert!(out.stderr.contains("replica set not initiated"), "{out:#?}");

    // Initiated in the background while `wait` gates `echo`: it runs once there is a PRIMARY.
    let member = sim.addr.to_string();
    let uri = format!("mongodb://{}", sim.addr);
    let initiator = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stackctl([
            "--quiet",
            "init",
            "replica-set",
            "--uri",
            &uri,
            "--name",
            "rs0",
            "--member",
            &member,
        ])
        .output()
    });
    let out = stackctl(["wait", "--timeout", "20s", &set, "--", "echo", "gate open"]).output();
    out.code(0);
    assert_eq!(out.stdout.trim(), "gate open", "{out:#?}");
    initiator.join().unwrap().code(0);

    // The form rendered manifests once wrote (no `/` before `?`) is the same target.
    let bare = format!("mongodb://{}?replicaSet=rs0", sim.addr);
    stackctl(["wait", "--timeout", "5s", &bare])
        .output()
        .code(0);
    // A wrong set name is a mismatch, not a PRIMARY.
    let wrong = format!("mongodb://{}/?replicaSet=other", sim.addr);
    let out = stackctl(["wait", "--timeout", "1s", &wrong]).output();
    out.code(3);
    assert!(out.stderr.contains("expected `other`"), "{out:#?}");
}

#[test]
fn a_seed_list_is_ready_when_one_member_is_primary_and_says_what_each_is() {
    let sim = mongo(&["--replSet", "rs0", "--election-delay", "100ms"]);
    let member = sim.addr.to_string();
    stackctl([
        "--quiet",
        "init",
        "replica-set",
        "--uri",
        &format!("mongodb://{member}"),
        "--name",
        "rs0",
        "--member",
        &member,
    ])
    .output()
    .code(0);
    let down = format!("127.0.0.1:{}", closed_port());
    let list = format!("mongodb://{down},{member}/?replicaSet=rs0");
    // `check mongo` takes the target as its argument, `--uri` as before.
    let out = stackctl(["check", "mongo", &list]).output();
    out.code(0);
    assert!(out.one_line().contains("PRIMARY of `rs0`"), "{out:#?}");
    let out = stackctl(["check", "mongo", "--uri", &list, "--want", "secondary"]).output();
    out.code(1);
    let line = out.one_line();
    assert!(line.contains("none of 2 members is SECONDARY"), "{line}");
    assert!(
        line.contains(&format!("{down}: connection refused")),
        "{line}"
    );
    assert!(
        line.contains(&format!("{member}: PRIMARY of `rs0`")),
        "{line}"
    );
}

#[test]
fn every_check_takes_its_target_as_a_url_and_no_error_shows_debug_text() {
    let rc = Simulator::start_with_env(
        "rocketchat-sim",
        &["--port", "0"],
        &[
            ("ADMIN_USERNAME", "admin"),
            ("ADMIN_PASS", "x-Adm1n-pw"),
            ("ADMIN_EMAIL", "a@b.c"),
        ],
    );
    let url = format!("rocketchat+http://{}", rc.addr);
    for args in [
        vec!["check", "rocketchat", url.as_str()],
        vec!["check", "rocketchat", "--url", url.as_str()],
        vec!["wait", "--timeout", "10s", url.as_str()],
    ] {
        stackctl(args).output().code(0);
    }
    let tcp = format!("tcp://{}", rc.addr);
    stackctl(["check", "tcp", &tcp]).output().code(0);
    let out = stackctl([
        "check",
        "dns",
        "dns://localhost?type=A&expect=127.0.0.1",
        "--timeout",
        "3s",
    ])
    .output();
    out.code(0);
    // A URL where a name is expected, a name no resolver takes: our words, never Rust's.
    // (Under `check`, bad input exits 1 with one line: a healthcheck has two outcomes.)
    let out = stackctl(["check", "dns", "tasks web"]).output();
    out.code(1);
    assert!(out.stderr.contains("is not a DNS name"), "{out:#?}");
    let out = stackctl(["check", "tcp", &format!("http://{}", rc.addr)]).output();
    out.code(1);
    assert!(out.stderr.contains("use `stackctl check http`"), "{out:#?}");
    for (bad, code) in [
        (vec!["wait", "mongodb+srv://db.example"], 2),
        (vec!["wait", "redis://x:1"], 2),
        (
            vec![
                "check",
                "mongo",
                "mongodb://u:s3cret@m:1/?connectTimeoutMS=soon",
            ],
            1,
        ),
    ] {
        let out = stackctl(bad.clone()).output();
        out.code(code);
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !text.contains("Err(") && !text.contains("Some("),
                "{bad:?}: {text}"
            );
            assert!(!text.contains("s3cret"), "{bad:?}: {text}");
        }
    }
}
