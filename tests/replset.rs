//! A three-member replica set of simulator containers on one bridge network: `init
//! replica-set` with three members, `check mongo` naming each member's state, the PRIMARY's
//! container stopped and a new PRIMARY elected that has the data, the lost member started again
//! and back as SECONDARY with what was written while it was away.

use std::time::{Duration, Instant};

use mongodb::Client;
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;

use crate::support::docker::{Cleanup, build_image, docker, static_simulators, unique};

struct Set {
    names: Vec<String>,
    image: String,
}

impl Set {
    /// `docker exec` in member `i`: its stdout, stderr and exit code.
    fn exec(&self, i: usize, args: &[&str]) -> (String, String, i32) {
        let out = std::process::Command::new("docker")
            .arg("exec")
            .arg(&self.names[i])
            .args(args)
            .output()
            .expect("docker runs");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    fn ip(&self, i: usize) -> String {
        docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &self.names[i],
        ])
    }
}

async fn direct(ip: &str) -> Client {
    let mut o = ClientOptions::parse(format!("mongodb://{ip}:27017/?directConnection=true"))
        .await
        .unwrap();
    o.server_selection_timeout = Some(Duration::from_secs(2));
    o.connect_timeout = Some(Duration::from_secs(1));
    Client::with_options(o).unwrap()
}

/// The member's own state per `replSetGetStatus`, if it answers.
async fn state_of(ip: &str) -> Option<String> {
    let s = direct(ip)
        .await
        .database("admin")
        .run_command(doc! {"replSetGetStatus": 1})
        .await
        .ok()?;
    s.get_array("members")
        .ok()?
        .iter()
        .filter_map(|m| m.as_document())
        .find(|m| m.get_bool("self") == Ok(true))
        .and_then(|m| m.get_str("stateStr").ok().map(str::to_owned))
}

async fn messages_on(ip: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let sorted: Vec<Document> = direct(ip)
        .await
        .database("chat")
        .collection::<Document>("messages")
        .aggregate([doc! {"$sort": {"msg": 1}}])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    sorted
        .iter()
        .filter_map(|d| d.get_str("msg").ok().map(str::to_owned))
        .collect()
}

/// Polls until one of `members` is PRIMARY; its index and the time it took.
async fn wait_primary(set: &Set, members: &[usize], within: Duration) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        for &i in members {
            if state_of(&set.ip(i)).await.as_deref() == Some("PRIMARY") {
                return (i, started.elapsed());
            }
        }
        assert!(
            started.elapsed() < within,
            "no PRIMARY among members {members:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sim_containers_elect_again_when_the_primary_is_stopped() {
    let bin = static_simulators();
    let mut cleanup = Cleanup::default();
    let image = unique("stackctl-test-replset");
    cleanup.image(&image);
    build_image(
        &image,
        "FROM scratch\nCOPY stackctl mongo-sim /\n",
        &[
            (&bin.join("stackctl"), "stackctl"),
            (&bin.join("mongo-sim"), "mongo-sim"),
        ],
    );
    let network = unique("stackctl-test-replset");
    docker(&["network", "create", &network]);
    cleanup.network(&network);
    let mut set = Set {
        names: Vec::new(),
        image,
    };
    for i in 1..=3 {
        let name = unique(&format!("stackctl-test-replset-m{i}"));
        cleanup.container(&name);
        let host = format!("m{i}");
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &network,
            "--network-alias",
            &host,
            "--hostname",
            &host,
            "-v",
            "/data/db",
            &set.image,
            "/mongo-sim",
            "--bind",
            "0.0.0.0",
            "--port",
            "27017",
            "--replSet",
            "rs0",
            "--dbpath",
            "/data/db",
        ]);
        set.names.push(name);
    }

    // The init job initiates the three and ends when a PRIMARY is elected, whichever it is.
    let started = Instant::now();
    let (out, err, code) = set.exec(
        0,
        &[
            "/stackctl",
            "init",
            "replica-set",
            "--uri",
            "mongodb://m1:27017",
            "--name",
            "rs0",
            "--member",
            "m1:27017",
            "--member",
            "m2:27017",
            "--member",
            "m3:27017",
            "--timeout",
            "40s",
        ],
    );
    assert_eq!(code, 0, "init replica-set: {out}\n{err}");
    eprintln!(
        "replset: initiated and PRIMARY elected in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let (first, _) = wait_primary(&set, &[0, 1, 2], Duration::from_secs(5)).await;

    // `check mongo` on the seed list: healthy, naming each member's state.
    let seeds = "mongodb://m1:27017,m2:27017,m3:27017/?replicaSet=rs0";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (out, err, code) = set.exec(
            0,
            &[
                "/stackctl",
                "check",
                "mongo",
                "--uri",
                seeds,
                "--timeout",
                "5s",
            ],
        );
        let text = format!("{out}{err}");
        if code == 0
            && text.contains("3/3 members healthy")
            && text.matches("SECONDARY").count() == 2
        {
            assert!(
                text.contains(&format!("m{} PRIMARY", first + 1))
                    || text.contains(&format!("m{}:27017 PRIMARY", first + 1)),
                "{text}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "check mongo: {text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Written to the PRIMARY with the default (majority) write concern.
    let primary = direct(&set.ip(first)).await;
    let messages = primary.database("chat").collection::<Document>("messages");
    for n in 0..3 {
        messages
            .insert_one(doc! {"msg": format!("before-{n}")})
            .await
            .unwrap();
    }

    // The PRIMARY's container stops: the two others elect a new one that has the data.
    let stopped = Instant::now();
    docker(&["stop", "-t", "5", &set.names[first]]);
    let others: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    let (second, _) = wait_primary(&set, &others, Duration::from_secs(20)).await;
    let took = stopped.elapsed();
    eprintln!(
        "replset: new PRIMARY m{} {took:.1?} after the stop",
        second + 1
    );
    assert!(took < Duration::from_secs(15), "new PRIMARY in {took:?}");
    let want: Vec<String> = (0..3).map(|n| format!("before-{n}")).collect();
    assert_eq!(messages_on(&set.ip(second)).await, want);
    direct(&set.ip(second))
        .await
        .database("chat")
        .collection::<Document>("messages")
        .insert_one(doc! {"msg": "after"})
        .await
        .unwrap();

    // Started again: SECONDARY, with what was written while it was away.
    docker(&["start", &set.names[first]]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ip = set.ip(first);
        if state_of(&ip).await.as_deref() == Some("SECONDARY") && messages_on(&ip).await.len() == 4
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted member is SECONDARY and caught up"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
