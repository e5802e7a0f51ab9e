//! The simulator as a document store, through the official Rust driver: CRUD as the driver
//! sends it, data kept across restarts in `--dbpath`, the FCV rules and mongod's exit 62.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection};

struct Sim {
    child: Child,
    uri: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dbpath: &Path, version: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mongo-sim"));
    cmd.args(["--port", "0", "--dbpath"])
        .arg(dbpath)
        .args(["--server-version", version])
        .args(extra)
        .env_remove("MONGO_SIM_VERSION")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

fn start(dbpath: &Path, version: &str) -> Sim {
    let mut child = command(dbpath, version, &[])
        .spawn()
        .expect("mongo-sim runs");
    let addr = common::listening_on(&mut child);
    Sim {
        child,
        uri: format!("mongodb://{addr}/?directConnection=true"),
    }
}

async fn client(sim: &Sim) -> Client {
    let mut options = ClientOptions::parse(&sim.uri).await.unwrap();
    options.server_selection_timeout = Some(std::time::Duration::from_secs(5));
    Client::with_options(options).unwrap()
}

async fn fcv(client: &Client) -> String {
    let reply = client
        .database("admin")
        .run_command(doc! {"getParameter": 1, "featureCompatibilityVersion": 1})
        .await
        .unwrap();
    reply
        .get_document("featureCompatibilityVersion")
        .unwrap()
        .get_str("version")
        .unwrap()
        .to_owned()
}

async fn set_fcv(client: &Client, command: Document) -> Result<(), (i32, String)> {
    match client.database("admin").run_command(command).await {
        Ok(_) => Ok(()),
        Err(e) => match *e.kind {
            mongodb::error::ErrorKind::Command(c) => Err((c.code, c.message)),
            other => panic!("{other:?}"),
        },
    }
}

#[tokio::test]
async fn crud_through_the_driver_survives_a_restart_and_follows_the_fcv_rules() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), "6.0.14");
    let c = client(&sim).await;
    let build = c
        .database("admin")
        .run_command(doc! {"buildInfo": 1})
        .await
        .unwrap();
    assert_eq!(build.get_str("version").unwrap(), "6.0.14");
    assert_eq!(
        fcv(&c).await,
        "6.0",
        "a fresh data directory has its release's FCV"
    );

    let messages: Collection<Document> = c.database("rocketchat").collection("rocketchat_message");
    let batch: Vec<Document> = (0..250)
        .map(|i| doc! {"_id": format!("m{i:03}"), "rid": "GENERAL", "msg": format!("hello {i}"), "n": i})
        .collect();
    messages.insert_many(batch).await.unwrap();
    let dup = messages
        .insert_one(doc! {"_id": "m000"})
        .await
        .expect_err("a duplicate _id");
    let mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(dup)) = *dup.kind
    else {
        panic!("{dup}");
    };
    assert_eq!(dup.code, 11000);
    assert_eq!(
        dup.message,
        "E11000 duplicate key error collection: rocketchat.rocketchat_message index: _id_ dup key: { _id: \"m000\" }"
    );
    // More than one batch: the driver iterates with getMore.
    let all: Vec<Document> = messages
        .find(doc! {"rid": "GENERAL"})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 250);
    let newest: Vec<Document> = messages
        .find(doc! {"n": {"$gte": 100}})
        .sort(doc! {"n": -1})
        .limit(3)
        .projection(doc! {"msg": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        newest,
        vec![
            doc! {"_id": "m249", "msg": "hello 249"},
            doc! {"_id": "m248", "msg": "hello 248"},
            doc! {"_id": "m247", "msg": "hello 247"},
        ]
    );
    messages
        .update_one(
            doc! {"_id": "m001"},
            doc! {"$set": {"msg": "edited"}, "$inc": {"n": 1000}, "$push": {"reactions": ":+1:"}},
        )
        .await
        .unwrap();
    let up = messages
        .update_one(
            doc! {"_id": "m999"},
            doc! {"$setOnInsert": {"msg": "upserted"}},
        )
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(up.upserted_id, Some("m999".into()));
    let deleted = messages.delete_many(doc! {"n": {"$lt": 10}}).await.unwrap();
    assert_eq!(deleted.deleted_count, 9, "m001 was moved to n = 1001");
    assert_eq!(messages.count_documents(doc! {}).await.unwrap(), 242);
    assert_eq!(messages.estimated_document_count().await.unwrap(), 242);
    let control: Collection<Document> = c.database("rocketchat").collection("migrations");
    let taken = control
        .find_one_and_update(
            doc! {"_id": "control", "locked": false},
            doc! {"$set": {"locked": true}},
        )
        .await
        .unwrap();
    assert_eq!(taken, None, "no control document yet");
    control
        .insert_one(doc! {"_id": "control", "version": 290, "locked": false})
        .await
        .unwrap();
    messages
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! {"rid": 1, "ts": -1})
                .build(),
        )
        .await
        .unwrap();
    let names = c
        .database("rocketchat")
        .list_collection_names()
        .await
        .unwrap();
    assert_eq!(names, ["migrations", "rocketchat_message"]);
    let dbs = c.list_database_names().await.unwrap();
    assert_eq!(dbs, ["admin", "rocketchat"]);

    // 6.0: FCV 7.0 is not settable, and `confirm` is an unknown field.
    let (code, text) = set_fcv(
        &c,
        doc! {"setFeatureCompatibilityVersion": "6.0", "confirm": true},
    )
    .await
    .unwrap_err();
    assert_eq!(
        (code, text.as_str()),
        (
            40415,
            "BSON field 'setFeatureCompatibilityVersion.confirm' is an unknown field."
        )
    );
    drop(c);
    drop(sim);

    // The binary swapped for 7.0 on the same data: everything is there, the FCV still 6.0.
    let sim = start(dir.path(), "7.0.14");
    let c = client(&sim).await;
    let messages: Collection<Document> = c.database("rocketchat").collection("rocketchat_message");
    assert_eq!(messages.count_documents(doc! {}).await.unwrap(), 242);
    let edited = messages
        .find_one(doc! {"_id": "m001"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.get_str("msg").unwrap(), "edited");
    assert_eq!(edited.get_i32("n").unwrap(), 1001);
    let indexes = messages.list_index_names().await.unwrap();
    assert_eq!(indexes, ["_id_", "rid_1_ts_-1"]);
    assert_eq!(
        fcv(&c).await,
        "6.0",
        "an upgraded deployment keeps the old FCV"
    );
    let (code, text) = set_fcv(&c, doc! {"setFeatureCompatibilityVersion": "7.0"})
        .await
        .unwrap_err();
    assert_eq!(code, 7_369_100);
    assert!(text.starts_with("Once you have upgraded to 7.0, you will not be able to downgrade FCV and binary version without support assistance."), "{text}");
    set_fcv(
        &c,
        doc! {"setFeatureCompatibilityVersion": "7.0", "confirm": true},
    )
    .await
    .unwrap();
    assert_eq!(fcv(&c).await, "7.0");
    drop(c);
    drop(sim);

    // Two majors ahead of the data: mongod's fatal line and exit 62, the data untouched.
    let mut child = command(dir.path(), "8.2.1", &[]).spawn().unwrap();
    let status = child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(62), "{out}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["s"], "F");
    assert_eq!(line["id"], 20573);
    assert_eq!(line["msg"], "Wrong mongod version");
    let error = line["attr"]["error"].as_str().unwrap();
    assert!(error.contains("version: \"7.0\" }"), "{error}");
    assert!(
        error.contains(
            "Invalid feature compatibility version value '7.0'; expected '8.0' or '8.1' or '8.2'."
        ),
        "{error}"
    );

    // The right next binary still reads it.
    let sim = start(dir.path(), "8.0.4");
    let c = client(&sim).await;
    assert_eq!(fcv(&c).await, "7.0");
    let messages: Collection<Document> = c.database("rocketchat").collection("rocketchat_message");
    assert_eq!(messages.count_documents(doc! {}).await.unwrap(), 242);
}

#[test]
fn a_missing_explicit_dbpath_exits_100_as_mongod_does() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = command(&missing, "8.0.4", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NonExistentPath: Data directory"), "{text}");
}

#[tokio::test]
async fn the_replica_set_config_is_kept_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let spawn = || {
        // A fixed port: the member's address is in the stored config.
        let mut child = Command::new(env!("CARGO_BIN_EXE_mongo-sim"))
            .args([
                "--port",
                &port,
                "--replSet",
                "rs0",
                "--election-delay",
                "100ms",
                "--dbpath",
            ])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.ends_with(&format!(":{port}\n")), "{line}");
        Sim {
            child,
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        }
    };
    let status = |c: Client| async move {
        for _ in 0..100 {
            let s = c
                .database("admin")
                .run_command(doc! {"replSetGetStatus": 1})
                .await;
            if let Ok(s) = s
                && s.get_i32("myState") == Ok(1)
            {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("never PRIMARY");
    };
    let sim = spawn();
    let c = client(&sim).await;
    c.database("admin")
        .run_command(doc! {"replSetInitiate": {}})
        .await
        .unwrap();
    status(c).await;
    drop(sim);
    assert!(dir.path().join("replset.json").exists());

    // Restarted on the same data directory: the stored config, elected again, data writable.
    let sim = spawn();
    let c = client(&sim).await;
    let s = status(c.clone()).await;
    assert_eq!(s.get_str("set"), Ok("rs0"));
    c.database("rocketchat")
        .collection::<Document>("users")
        .insert_one(doc! {"_id": "u1"})
        .await
        .unwrap();
}
