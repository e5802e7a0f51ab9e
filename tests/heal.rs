//! `up` heals a running demo stack that drifted from its file: a job runs again when a service
//! it depends on restarted after it finished (`mongo` stopped or restarted, then `up`), and a
//! container taken off its network or paused is put back — while an unchanged stack stays
//! unchanged. Real Docker; its own project and image, removed on drop.

use std::time::Duration;

use serde_json::Value;

use crate::smoke::Demo;
use crate::support::Output;
use crate::support::docker::docker;

/// `--json up`: its output (exit code asserted by the caller) and its events.
fn up(demo: &Demo) -> (Output, Vec<Value>) {
    up_with(demo, &[])
}

fn up_with(demo: &Demo, extra: &[&str]) -> (Output, Vec<Value>) {
    let mut rest = vec!["--timeout", "120s"];
    rest.extend(extra);
    let out = demo.run(&["--json"], "up", &rest);
    let events = out.ndjson();
    (out, events)
}

/// The `service` events of `service` with `status`.
fn said<'a>(events: &'a [Value], service: &str, status: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"] == "service" && e["service"] == service && e["status"] == status)
        .collect()
}

/// Exit 0, and every service ready or completed.
#[track_caller]
fn all_ready(out: &Output, events: &[Value]) {
    out.code(0);
    let last = events.last().expect("events");
    assert_eq!(last["event"], "stack_finished", "{events:#?}");
    assert_eq!(last["ok"], true, "{events:#?}");
    for service in ["mongo", "rocketchat", "bot", "status"] {
        assert!(
            events.iter().any(|e| e["service"] == service
                && matches!(e["status"].as_str(), Some("healthy" | "ready"))),
            "`{service}` not ready: {events:#?}"
        );
    }
    for job in ["mongo-init", "rc-user", "rc-room", "rc-hook"] {
        assert!(
            !said(events, job, "completed").is_empty(),
            "`{job}` not completed: {events:#?}"
        );
    }
}

/// Nothing recreated, no job run again.
#[track_caller]
fn unchanged(out: &Output, events: &[Value]) {
    all_ready(out, events);
    assert!(
        !events.iter().any(|e| matches!(
            e["status"].as_str(),
            Some("rerunning" | "attempt" | "creating" | "recreating" | "reconnected" | "starting")
        )),
        "{events:#?}"
    );
}

/// `mongo-init` ran again because `mongo` restarted, and only the jobs that depend on what
/// restarted did.
#[track_caller]
fn mongo_init_ran_again(out: &Output, events: &[Value]) {
    all_ready(out, events);
    let again = said(events, "mongo-init", "rerunning");
    assert_eq!(again.len(), 1, "{events:#?}");
    assert_eq!(
        again[0]["detail"], "`mongo` restarted after it finished",
        "{events:#?}"
    );
    assert!(!said(events, "mongo-init", "attempt").is_empty());
    let done = said(events, "mongo-init", "completed");
    assert!(
        done[0]["detail"]
            .as_str()
            .unwrap()
            .contains("ran again: `mongo` restarted"),
        "{events:#?}"
    );
    // Rocket.Chat did not restart: the jobs that depend on it stand.
    for job in ["rc-user", "rc-room", "rc-hook"] {
        assert!(said(events, job, "rerunning").is_empty(), "{events:#?}");
    }
}

/// `network`'s aliases of `container`, or `None` when it is not on it.
fn aliases(container: &str, network: &str) -> Option<Vec<String>> {
    let json = docker(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks}}",
        container,
    ]);
    let networks: Value = serde_json::from_str(&json).unwrap();
    let endpoint = networks.get(network)?;
    Some(
        endpoint["Aliases"]
            .as_array()
            .into_iter()
            .chain(endpoint["DNSNames"].as_array())
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
    )
}

#[test]
fn up_heals_a_restarted_database_and_a_disconnected_service() {
    let demo = Demo::up();
    let container = |service: &str| format!("{}-{service}-1", demo.name);
    let network = format!("{}_default", demo.name);

    // Nothing changed: nothing runs again.
    let (out, events) = up(&demo);
    unchanged(&out, &events);

    // `mongo` stopped, then `up`: the init job runs again because its dependency started after
    // it finished (its data, and so the replica set, are kept in the `mongo-data` volume).
    docker(&["stop", "-t", "1", &container("mongo")]);
    let (out, events) = up(&demo);
    mongo_init_ran_again(&out, &events);
    assert!(!said(&events, "mongo", "starting").is_empty());
    eprintln!("healed a stopped mongo in {:?}", out.elapsed);
    assert!(out.elapsed < Duration::from_secs(60), "{:?}", out.elapsed);

    // Restarted while running (`docker restart`, or a crash under a restart policy).
    docker(&["restart", "-t", "1", &container("mongo")]);
    let (out, events) = up_with(&demo, &["--log-level", "debug"]);
    mongo_init_ran_again(&out, &events);
    // Operators see the decision in the debug log.
    assert!(
        out.stderr.contains("completed job runs again")
            && out.stderr.contains("`mongo` restarted after it finished"),
        "{}",
        out.stderr
    );
    eprintln!("healed a restarted mongo in {:?}", out.elapsed);

    // Healed, it is unchanged again: the job that ran again stands.
    let (out, events) = up(&demo);
    unchanged(&out, &events);

    // Taken off its network: the bot (which reaches `rocketchat` by name) would never be
    // healthy again. `up` connects it again, with its aliases.
    docker(&["network", "disconnect", &network, &container("rocketchat")]);
    assert_eq!(aliases(&container("rocketchat"), &network), None);
    let (out, events) = up(&demo);
    all_ready(&out, &events);
    let back = said(&events, "rocketchat", "reconnected");
    assert_eq!(back.len(), 1, "{events:#?}");
    assert!(
        back[0]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("it was off network `{network}`")),
        "{events:#?}"
    );
    let now = aliases(&container("rocketchat"), &network).expect("back on the network");
    assert!(now.iter().any(|a| a == "rocketchat"), "{now:?}");
    // Rocket.Chat kept running (and its data): its jobs stand.
    for job in ["rc-user", "rc-room", "rc-hook"] {
        assert!(said(&events, job, "rerunning").is_empty(), "{events:#?}");
    }

    // Paused: unpaused.
    docker(&["pause", &container("rocketchat")]);
    let (out, events) = up(&demo);
    all_ready(&out, &events);
    assert_eq!(
        said(&events, "rocketchat", "unpaused").len(),
        1,
        "{events:#?}"
    );

    // And once more, nothing to do.
    let (out, events) = up(&demo);
    unchanged(&out, &events);
}
