//! Three simulator processes as one replica set, through the official Rust driver: initiate,
//! one PRIMARY elected by votes, writes replicated (the implicit `w: "majority"`), the PRIMARY
//! killed and a new one elected with the data, the lost member back as SECONDARY and caught
//! up, and a PRIMARY that cannot see a majority stepping down.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mongodb::Client;
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;

struct Member {
    port: u16,
    dbpath: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn start(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mongo-sim"))
            .args([
                "--port",
                &self.port.to_string(),
                "--replSet",
                "rs0",
                "--dbpath",
            ])
            .arg(&self.dbpath)
            .env_remove("MONGO_SIM_VERSION")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mongo-sim runs");
        common::listening_on(&mut child);
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn direct(host: &str) -> Client {
    let mut o = ClientOptions::parse(format!("mongodb://{host}/?directConnection=true"))
        .await
        .unwrap();
    o.server_selection_timeout = Some(Duration::from_secs(2));
    o.connect_timeout = Some(Duration::from_secs(1));
    Client::with_options(o).unwrap()
}

async fn hello(host: &str) -> Option<Document> {
    let c = direct(host).await;
    c.database("admin")
        .run_command(doc! {"hello": 1})
        .await
        .ok()
}

/// Polls until exactly one of `hosts` says it is the writable primary; its index and the
/// time it took.
async fn wait_primary(hosts: &[String], within: Duration) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        let mut primaries = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            if let Some(r) = hello(h).await
                && r.get_bool("isWritablePrimary") == Ok(true)
            {
                primaries.push(i);
            }
        }
        if primaries.len() == 1 {
            return (primaries[0], started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "no single PRIMARY among {hosts:?} within {within:?} (primaries: {primaries:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_state(host: &str, state: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let c = direct(host).await;
        if let Ok(s) = c
            .database("admin")
            .run_command(doc! {"replSetGetStatus": 1})
            .await
        {
            let me = s
                .get_array("members")
                .unwrap()
                .iter()
                .filter_map(|m| m.as_document())
                .find(|m| m.get_bool("self") == Ok(true))
                .map(|m| m.get_str("stateStr").unwrap_or("").to_owned());
            if me.as_deref() == Some(state) {
                return;
            }
        }
        assert!(
            started.elapsed() < within,
            "{host} not {state} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn names_on(host: &str) -> Vec<String> {
    let c = direct(host).await;
    let mut cur = c
        .database("chat")
        .collection::<Document>("messages")
        .find(doc! {})
        .await
        .unwrap();
    let mut out = Vec::new();
    while cur.advance().await.unwrap() {
        out.push(
            cur.deserialize_current()
                .unwrap()
                .get_str("msg")
                .unwrap()
                .to_owned(),
        );
    }
    out.sort();
    out
}

fn dir(base: &Path, i: usize) -> PathBuf {
    let d = base.join(format!("m{i}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_replicate_and_survive_the_loss_of_the_primary() {
    let base = tempfile::tempdir().unwrap();
    let mut members: Vec<Member> = (0..3)
        .map(|i| Member {
            port: free_port(),
            dbpath: dir(base.path(), i),
            child: None,
        })
        .collect();
    for m in &mut members {
        m.start();
    }
    let hosts: Vec<String> = members.iter().map(Member::host).collect();
    let config = doc! {
        "_id": "rs0",
        "members": [
            {"_id": 0, "host": &hosts[0]},
            {"_id": 1, "host": &hosts[1]},
            {"_id": 2, "host": &hosts[2]},
        ],
        "settings": {"heartbeatIntervalMillis": 200, "electionTimeoutMillis": 1500, "heartbeatTimeoutSecs": 1},
    };
    direct(&hosts[0])
        .await
        .database("admin")
        .run_command(doc! {"replSetInitiate": config})
        .await
        .expect("initiate with three reachable members");
    let (first, took) = wait_primary(&hosts, Duration::from_secs(15)).await;
    eprintln!("first PRIMARY: member {first} after {took:?}");
    for (i, h) in hosts.iter().enumerate() {
        if i != first {
            wait_state(h, "SECONDARY", Duration::from_secs(10)).await;
        }
    }

    // The driver finds the primary through the seed list; writes wait for a majority.
    let mut o = ClientOptions::parse(format!("mongodb://{}/?replicaSet=rs0", hosts.join(",")))
        .await
        .unwrap();
    o.server_selection_timeout = Some(Duration::from_secs(20));
    let set = Client::with_options(o).unwrap();
    let messages = set.database("chat").collection::<Document>("messages");
    for n in 0..5 {
        messages
            .insert_one(doc! {"msg": format!("before-{n}")})
            .await
            .unwrap();
    }
    // Acknowledged by a majority: at least one secondary has them already.
    let mut on_secondaries = 0;
    for (i, h) in hosts.iter().enumerate() {
        if i != first && names_on(h).await.len() == 5 {
            on_secondaries += 1;
        }
    }
    assert!(on_secondaries >= 1, "a majority write is on a secondary");
    let status = direct(&hosts[first])
        .await
        .database("admin")
        .run_command(doc! {"replSetGetStatus": 1})
        .await
        .unwrap();
    let healthy = status
        .get_array("members")
        .unwrap()
        .iter()
        .filter(|m| m.as_document().unwrap().get_f64("health") == Ok(1.0))
        .count();
    assert_eq!(healthy, 3, "{status}");

    // The PRIMARY is lost: the other two elect a new one that has every acknowledged write.
    members[first].kill();
    let others: Vec<String> = (0..3)
        .filter(|i| *i != first)
        .map(|i| hosts[i].clone())
        .collect();
    let (second, took) = wait_primary(&others, Duration::from_secs(12)).await;
    eprintln!("new PRIMARY after the loss: {} in {took:?}", others[second]);
    let want: Vec<String> = (0..5).map(|n| format!("before-{n}")).collect();
    assert_eq!(names_on(&others[second]).await, want);
    messages.insert_one(doc! {"msg": "after"}).await.unwrap();

    // Back: SECONDARY, and it catches up with what was written while it was away.
    members[first].start();
    wait_state(&hosts[first], "SECONDARY", Duration::from_secs(10)).await;
    let started = Instant::now();
    loop {
        if names_on(&hosts[first]).await.len() == 6 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the rejoined member caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The PRIMARY alone: it cannot see a majority and steps down.
    let primary_host = others[second].clone();
    for m in members.iter_mut() {
        if m.host() != primary_host {
            m.kill();
        }
    }
    wait_state(&primary_host, "SECONDARY", Duration::from_secs(8)).await;
}
