//! `stackctl upgrade` on the demo stack (compose/demo/compose.yml) with MongoDB and Rocket.Chat
//! running the version simulator images (compose/demo/versions.yml,
//! tests/images/build-version-sims.sh), so the versions
//! are read over the wire and the data lives in the MongoDB volume: `--dry-run` prints the
//! interleaved plan and refuses a downgrade (exit 2); a three-hop path (Rocket.Chat 6.13 on
//! MongoDB 5.0 → MongoDB 6.0 → Rocket.Chat 7.13.9 → MongoDB 7.0) keeps every message posted
//! before and ends with buildInfo, the FCV and `/api/info` at the targets; a planted migration
//! failure on the next path (→ MongoDB 8.0 with Rocket.Chat stopped → Rocket.Chat 8.5.1) is
//! rolled back by restoring the pre-upgrade backup onto the old versions, nothing lost. (`up`
//! refusing a two-major jump and an unsupported pair is tests/data_gate.rs.) One stack for
//! the module.

use std::path::Path;
use std::time::Duration;

use mongodb::bson::doc;
use reqwest::Method;
use serde_json::json;

use crate::smoke::{ADMIN_PASS, BOT_PASS, admin_calls};
use crate::support::docker::{
    Cleanup, demo_image, docker, image_script, static_binaries, static_simulators, unique,
};
use crate::support::{Output, stackctl};

/// A planted failure: Rocket.Chat 8.x's migration 330 throws (the simulator's `--fail-migration`).
const FAIL: &str =
    "services:\n  rocketchat:\n    environment:\n      SIM_FAIL_MIGRATION: \"330\"\n";

const RELEASES: &[&str] = &[
    "mongo:5.0.31",
    "mongo:6.0.14",
    "mongo:7.0.14",
    "mongo:8.0.4",
    "rocket.chat:6.13.1",
    "rocket.chat:7.13.9",
    "rocket.chat:8.5.1",
];

struct Stack {
    dir: tempfile::TempDir,
    name: String,
    bench: String,
    namespace: String,
    _cleanup: Cleanup,
}

impl Stack {
    fn new() -> Self {
        static_simulators();
        let mut cleanup = Cleanup::default();
        let bench = demo_image("stackctl-test-upgrade", &mut cleanup);
        let namespace = unique("stackctl-test-upgrade");
        let built = image_script(
            "build-version-sims.sh",
            &[&[namespace.as_str()], RELEASES].concat(),
        );
        for image in built.lines() {
            cleanup.image(image);
        }
        assert_eq!(built.lines().count(), RELEASES.len(), "{built}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fail.yml"), FAIL).unwrap();
        Self {
            dir,
            name: unique("stupgrade").replace('-', ""),
            bench,
            namespace,
            _cleanup: cleanup,
        }
    }

    fn image(&self, release: &str) -> String {
        format!("{}/{release}", self.namespace)
    }

    /// `stackctl GLOBALS COMMAND -f demo -f versions.yml [-f EXTRA] -p NAME ARGS` with the
    /// files naming these releases; no secret may show.
    fn run(
        &self,
        files: &[&str],
        (mongo, rc): (&str, &str),
        command: &[&str],
        args: &[&str],
    ) -> Output {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/demo");
        let mut all: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
        for file in ["compose.yml", "versions.yml"] {
            all.extend(["-f".into(), demo.join(file).display().to_string()]);
        }
        for file in files {
            all.extend([
                "-f".into(),
                self.dir.path().join(file).display().to_string(),
            ]);
        }
        all.extend(["-p".into(), self.name.clone()]);
        all.extend(args.iter().map(|s| (*s).to_owned()));
        let stackctl_bin = static_binaries().join("stackctl");
        let out = stackctl(all)
            .current_dir(self.dir.path())
            .env("BENCH_IMAGE", &self.bench)
            .env("MONGO_IMAGE", self.image(&format!("mongo:{mongo}")))
            .env("RC_IMAGE", self.image(&format!("rocket.chat:{rc}")))
            .env("STACKCTL_BIN", &stackctl_bin)
            .env("STACKCTL_PROBE_BINARY", &stackctl_bin)
            .env("BOT_PASS", BOT_PASS)
            .output_within(Duration::from_secs(400));
        for secret in [ADMIN_PASS, BOT_PASS] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a secret leaked: {out:#?}"
            );
        }
        out
    }

    fn post(&self, text: &str) {
        admin_calls(
            &self.name,
            &[(
                Method::POST,
                "/api/v1/chat.postMessage",
                Some(json!({"channel": "#devops", "text": text})),
            )],
        );
    }

    /// The texts of #devops's messages that start with `prefix`.
    fn history(&self, prefix: &str) -> Vec<String> {
        let reply = admin_calls(
            &self.name,
            &[(
                Method::GET,
                "/api/v1/channels.history?roomName=devops&count=1000",
                None,
            )],
        );
        let mut texts: Vec<String> = reply[0]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["msg"].as_str())
            .filter(|m| m.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        texts.sort();
        texts
    }

    /// buildInfo's version and the FCV, read over the wire from the MongoDB container.
    fn mongo(&self) -> (String, String) {
        let ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &format!("{}-mongo-1", self.name),
        ]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let member = stackctl::mongo::client::Member::connect(
                &format!("mongodb://{ip}:27017/?directConnection=true"),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            let build = member.command(doc! {"buildInfo": 1}).await.unwrap();
            let fcv = member
                .command(doc! {"getParameter": 1, "featureCompatibilityVersion": 1})
                .await
                .unwrap();
            (
                build.get_str("version").unwrap().to_owned(),
                fcv.get_document("featureCompatibilityVersion")
                    .unwrap()
                    .get_str("version")
                    .unwrap()
                    .to_owned(),
            )
        })
    }

    /// `/api/info`'s version (`major.minor`, as the real server tells callers).
    fn rocketchat(&self) -> String {
        let reply = admin_calls(&self.name, &[(Method::GET, "/api/info", None)]);
        reply[0]["version"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.run(&[], ("5.0.31", "6.13.1"), &["down"], &["-v", "-t", "0"]);
    }
}

#[test]
fn upgrade_walks_an_interleaved_path_keeping_every_message_and_rolls_a_failed_hop_back() {
    let stack = Stack::new();
    let start = ("5.0.31", "6.13.1");
    stack
        .run(&[], start, &["up"], &["--timeout", "120s"])
        .code(0);
    let posted: Vec<String> = (0..5).map(|i| format!("before-upgrade {i}")).collect();
    for text in &posted {
        stack.post(text);
    }
    assert_eq!(stack.history("before-upgrade"), posted);
    let via6 = stack.image("mongo:6.0.14");
    let via7 = stack.image("mongo:7.0.14");

    // (a) The plan, interleaved so every running pair is in the matrix; nothing touched.
    let out = stack.run(
        &[],
        ("7.0.14", "7.13.9"),
        &["upgrade"],
        &["--dry-run", "--via", &via6],
    );
    out.code(0);
    let plan = format!(
        "upgrade plan: Rocket.Chat 6.13 on MongoDB 5.0.31 → Rocket.Chat 7.13.9 on MongoDB 7.0.14 (3 hops)\n\
         \x20 1. MongoDB 5.0 → 6.0: image {via6}\n\
         \x20    then db.adminCommand({{setFeatureCompatibilityVersion: \"6.0\"}})\n\
         \x20 2. Rocket.Chat 6.13 → 7.13.9: image {}\n\
         \x20    one instance; its migrations run, the `control` lock must come free\n\
         \x20 3. MongoDB 6.0 → 7.0: image {via7}\n\
         \x20    then db.adminCommand({{setFeatureCompatibilityVersion: \"7.0\", confirm: true}})\n",
        stack.image("rocket.chat:7.13.9"),
    );
    assert_eq!(out.stdout, plan, "{out:#?}");
    // A downgrade has no path: refused before anything is touched.
    let out = stack.run(&[], ("5.0.31", "6.0.0"), &["upgrade"], &["--dry-run"]);
    out.code(2);
    assert!(
        out.stderr.contains("no upgrade path from Rocket.Chat 6.13 on MongoDB 5.0.31 to Rocket.Chat 6.0.0 on MongoDB 5.0.31: Rocket.Chat: 6.13 to 6.0.0 is a downgrade"),
        "{out:#?}"
    );
    assert_eq!(stack.mongo(), ("5.0.31".to_owned(), "5.0".to_owned()));

    // (b) Three hops, for real: every message kept, the versions at the targets.
    let backup = stack.dir.path().join("pre-7.tar.gz");
    let out = stack.run(
        &[],
        ("7.0.14", "7.13.9"),
        &["upgrade"],
        &[
            "--via",
            &via6,
            "--backup-file",
            backup.to_str().unwrap(),
            "--timeout",
            "90s",
        ],
    );
    out.code(0);
    for needle in [
        "hop 1/3: MongoDB 5.0 → 6.0",
        "hop 3/3: MongoDB 6.0 → 7.0",
        "featureCompatibilityVersion 7.0",
        "upgraded in",
    ] {
        assert!(out.stderr.contains(needle), "{needle}\n{out:#?}");
    }
    assert!(backup.exists(), "the pre-upgrade backup is kept");
    assert_eq!(stack.history("before-upgrade"), posted);
    assert_eq!(stack.mongo(), ("7.0.14".to_owned(), "7.0".to_owned()));
    assert_eq!(stack.rocketchat(), "7.13");

    // (c) The next path fails in Rocket.Chat 8.5.1's migrations, after MongoDB 8.0's setFCV:
    // only the pre-upgrade backup brings the old versions back.
    stack.post("before-upgrade 5");
    let posted: Vec<String> = (0..6).map(|i| format!("before-upgrade {i}")).collect();
    let out = stack.run(
        &["fail.yml"],
        ("8.0.4", "8.5.1"),
        &["--json", "upgrade"],
        &[],
    );
    out.code(1);
    let events = out.ndjson();
    let plan = events
        .iter()
        .find(|e| e["event"] == "upgrade_plan")
        .unwrap();
    assert_eq!(plan["steps"][0]["rocketchat_down"], true, "{plan}");
    assert_eq!(plan["steps"][1]["to"], "8.5.1", "{plan}");
    assert!(
        out.stderr.contains(
            "hop 2/2 (Rocket.Chat 7.13 → 8.5.1) failed: Rocket.Chat 8.5.1 stopped at start-up"
        ) && out.stderr.contains("planted failure in migration 330")
            && out.stderr.contains("rolled back: the pre-upgrade backup `"),
        "{out:#?}"
    );
    assert_eq!(stack.history("before-upgrade"), posted, "nothing lost");
    assert_eq!(stack.mongo(), ("7.0.14".to_owned(), "7.0".to_owned()));
    assert_eq!(stack.rocketchat(), "7.13");
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.Config.Image}}",
            &format!("{}-mongo-1", stack.name)
        ]),
        via7
    );
}
