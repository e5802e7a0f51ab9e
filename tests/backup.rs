//! `backup`, `restore` and `backup --verify` on the demo stack (compose/demo/compose.yml, whose
//! MongoDB keeps its data directory in the `mongo-data` volume and whose Rocket.Chat keeps its
//! messages in MongoDB): a backup taken with the writers stopped restores the messages posted
//! before it, and only those, and what else was in the volume; `--verify` restores beside
//! the live stack and runs the catalog and smoke there; a flipped byte is refused, naming the
//! member; a backup interrupted with SIGTERM while it archives leaves no file and the stack up.
//! One demo stack for the whole module (bringing it up is most of the time).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::smoke::{ADMIN_PASS, BOT_PASS, Demo};
use crate::support::docker::{docker, static_binaries, wait_for_health};
use crate::support::{Output, binary};

/// Posts `text` in #devops as the admin.
fn post(demo: &Demo, text: &str) {
    demo.admin(&[(
        Method::POST,
        "/api/v1/chat.postMessage",
        Some(json!({"channel": "#devops", "text": text})),
    )]);
}

/// The texts of #devops's last 100 messages.
fn history(demo: &Demo) -> Vec<String> {
    let reply = demo.admin(&[(
        Method::GET,
        "/api/v1/channels.history?roomName=devops&count=100",
        None,
    )]);
    reply[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["msg"].as_str().map(str::to_owned))
        .collect()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `stackctl COMMAND -f demo -p NAME ARGS`, with the demo's variables; no secret may show.
fn run(demo: &Demo, command: &str, args: &[&str]) -> Output {
    let file = root().join("compose/demo/compose.yml");
    let out = crate::support::stackctl(
        [command, "-f", file.to_str().unwrap(), "-p", &demo.name]
            .into_iter()
            .chain(args.iter().copied()),
    )
    .env("BENCH_IMAGE", &demo.image)
    .env("BOT_PASS", BOT_PASS)
    .env("STACKCTL_PROBE_BINARY", static_binaries().join("stackctl"))
    .output_within(Duration::from_secs(240));
    for secret in [ADMIN_PASS, BOT_PASS] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a secret leaked: {out:#?}"
        );
    }
    out
}

/// Writes `text` as `/data/db/<name>` through the running MongoDB container (its image has no
/// shell: `docker cp` of a one-file tar).
fn put(demo: &Demo, name: &str, text: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    docker(&[
        "cp",
        dir.path().join(name).to_str().unwrap(),
        &format!("{}-mongo-1:/data/db/{name}", demo.name),
    ]);
}

/// The content of `/data/db/<name>`, or `None` when it does not exist.
fn get(demo: &Demo, name: &str) -> Option<Vec<u8>> {
    let out = Command::new("docker")
        .args(["cp", &format!("{}-mongo-1:/data/db/{name}", demo.name), "-"])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut entry = archive.entries().unwrap().next()?.unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    Some(bytes)
}

/// Every long-running service of the demo is running, and Docker soon reports it healthy
/// (`up` counts a service ready on its own probe of the healthcheck, before Docker's next
/// interval does).
#[track_caller]
fn assert_up(demo: &Demo) {
    for service in ["mongo", "rocketchat", "bot", "status"] {
        let container = format!("{}-{service}-1", demo.name);
        let state = docker(&["inspect", "-f", "{{.State.Status}}", &container]);
        assert_eq!(state, "running", "{service}");
        let health = wait_for_health(&container, "healthy", Duration::from_secs(20));
        assert_eq!(health, "healthy", "{service}");
    }
}

/// The members of a backup and its manifest.
fn read_backup(path: &Path) -> (Vec<(String, u64)>, serde_json::Value) {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(file);
    let mut members = Vec::new();
    let mut manifest = serde_json::Value::Null;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            for secret in [ADMIN_PASS, BOT_PASS] {
                assert!(!text.contains(secret), "a secret in the manifest: {text}");
            }
            manifest = serde_json::from_str(&text).unwrap();
        } else {
            members.push((name, entry.raw_file_position()));
        }
    }
    (members, manifest)
}

/// Starts `stackctl backup -o FILE` and returns once it archives the MongoDB volume (the
/// writers are stopped by then), with the thread collecting its stderr.
fn backup_until_mongo_data(
    demo: &Demo,
    file: &Path,
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    spawn_until(
        demo,
        &["backup", "-o", file.to_str().unwrap()],
        "archiving volume mongo-data",
    )
}

/// `stackctl ARGS… -f demo -p NAME` as a child of this test, returned once its stderr says
/// `marker` (with the thread that reads the rest of its stderr).
fn spawn_until(
    demo: &Demo,
    args: &[&str],
    marker: &'static str,
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    let mut child = Command::new(binary())
        .args(args)
        .args([
            "-f",
            root().join("compose/demo/compose.yml").to_str().unwrap(),
            "-p",
            &demo.name,
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BENCH_IMAGE", &demo.image)
        .env("BOT_PASS", BOT_PASS)
        .env("STACKCTL_PROBE_BINARY", static_binaries().join("stackctl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            if all.contains(marker) {
                let _ = tx.send(());
            }
        }
        all
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = child.kill();
        panic!(
            "`{args:?}` did not reach `{marker}`: {}",
            reader.join().unwrap()
        );
    }
    (child, reader)
}

/// Copies a 256 MiB file into the MongoDB volume, so that archiving it takes a while.
fn put_big(demo: &Demo, dir: &Path) {
    let big = dir.join("big");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    docker(&[
        "cp",
        big.to_str().unwrap(),
        &format!("{}-mongo-1:/data/db/big", demo.name),
    ]);
}

#[test]
fn a_backup_restores_what_it_took_is_verified_beside_the_stack_and_survives_sigterm() {
    let demo = Demo::up();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.tar");
    put(&demo, "marker", b"before the backup");
    for n in 1..=3 {
        post(&demo, &format!("kept message {n}"));
    }

    // The backup: writers stopped, the volumes archived, the stack back up and healthy.
    let out = run(&demo, "backup", &["-o", file.to_str().unwrap()]);
    out.code(0);
    assert!(out.stderr.contains("backup written: "), "{out:#?}");
    assert!(!dir.path().join("demo.tar.partial").exists());
    assert_up(&demo);
    let (members, manifest) = read_backup(&file);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "volumes/bot-session.tar",
            "volumes/hooks.tar",
            "volumes/mongo-data.tar",
            "volumes/status-data.tar",
            "volumes/status-session.tar"
        ]
    );
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["mode"], "offline");
    assert_eq!(manifest["project"], demo.name.as_str());
    assert_eq!(manifest["stack_files"][0]["name"], "compose.yml");
    assert_eq!(manifest["services"]["mongo"]["image"], demo.image.as_str());
    assert!(
        manifest["services"]["mongo"]["id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // Read over the wire: buildInfo, getParameter (FCV), /api/info, the migrations document.
    let versions = &manifest["versions"];
    assert!(versions["mongodb"].is_string(), "{manifest:#}");
    assert!(versions["fcv"].is_string(), "{manifest:#}");
    assert!(versions["rocketchat"].is_string(), "{manifest:#}");
    assert!(versions["migrations_version"].is_number(), "{manifest:#}");
    assert_eq!(versions["migrations_locked"], false, "{manifest:#}");
    for member in manifest["members"].as_array().unwrap() {
        assert_eq!(member["sha256"].as_str().unwrap().len(), 64);
    }

    // Wrecked: a message posted after the backup, the marker overwritten, a file added; the
    // restore puts back exactly the backup.
    let before = history(&demo);
    for n in 1..=3 {
        assert!(before.contains(&format!("kept message {n}")), "{before:?}");
    }
    post(&demo, "posted after the backup");
    put(&demo, "marker", b"wrecked");
    put(&demo, "added-later", b"not in the backup");
    let out = run(&demo, "restore", &[file.to_str().unwrap()]);
    out.code(0);
    assert!(out.stderr.contains("restored "), "{out:#?}");
    assert_up(&demo);
    assert_eq!(
        get(&demo, "marker").as_deref(),
        Some(&b"before the backup"[..])
    );
    assert_eq!(get(&demo, "added-later"), None);
    let after = history(&demo);
    for n in 1..=3 {
        assert!(after.contains(&format!("kept message {n}")), "{after:?}");
    }
    assert!(
        !after.contains(&"posted after the backup".to_owned()),
        "{after:?}"
    );

    // Verified in a throw-away project beside the live one, which is gone afterwards.
    let catalog = root().join("checks/demo.yml");
    let out = run(
        &demo,
        "backup",
        &[
            "--verify",
            file.to_str().unwrap(),
            "-c",
            catalog.to_str().unwrap(),
        ],
    );
    out.code(0);
    assert!(out.stderr.contains("is good: restored"), "{out:#?}");
    assert!(
        out.stdout.contains("verify: 7 passed, 0 failed"),
        "{out:#?}"
    );
    let containers = docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !containers.contains(&format!("{}-verify-", demo.name)),
        "{containers}\n{out:#?}"
    );
    let volumes = docker(&["volume", "ls", "-q"]);
    assert!(
        !volumes.contains(&format!("{}-verify-", demo.name)),
        "{volumes}"
    );

    // A flipped byte in the MongoDB volume's member: refused before anything is touched.
    let corrupted = dir.path().join("corrupted.tar");
    let mut bytes = std::fs::read(&file).unwrap();
    let (_, at) = members
        .iter()
        .find(|(n, _)| n == "volumes/mongo-data.tar")
        .unwrap();
    bytes[usize::try_from(*at).unwrap() + 600] ^= 0x20;
    std::fs::write(&corrupted, &bytes).unwrap();
    for args in [
        vec!["restore", corrupted.to_str().unwrap()],
        vec!["backup", "--verify", corrupted.to_str().unwrap()],
    ] {
        let out = run(&demo, args[0], &args[1..]);
        out.code(2);
        assert!(
            out.stderr
                .contains("is corrupted: member `volumes/mongo-data.tar` has SHA-256"),
            "{out:#?}"
        );
    }
    assert_eq!(
        get(&demo, "marker").as_deref(),
        Some(&b"before the backup"[..])
    );

    // A stack that names other images than the backup was taken with: refused, both sides
    // named, before anything is touched.
    let other = format!("{}-other", demo.image);
    docker(&["tag", &demo.image, &other]);
    let out = crate::support::stackctl([
        "restore",
        "-f",
        root().join("compose/demo/compose.yml").to_str().unwrap(),
        "-p",
        &demo.name,
        file.to_str().unwrap(),
    ])
    .env("BENCH_IMAGE", &other)
    .env("STACKCTL_PROBE_BINARY", static_binaries().join("stackctl"))
    .output();
    let _ = Command::new("docker").args(["rmi", &other]).output();
    out.code(2);
    assert!(
        out.stderr.contains(&format!(
            "service `mongo`: the backup was taken with image `{}`, the stack names `{other}`",
            demo.image
        )),
        "{out:#?}"
    );
    assert!(out.stderr.contains("--force"), "{out:#?}");
    assert_eq!(
        get(&demo, "marker").as_deref(),
        Some(&b"before the backup"[..])
    );

    // SIGTERM while the volumes are archived (a large file makes that take a while): no
    // backup file, the stack back up.
    put_big(&demo, dir.path());
    let interrupted = dir.path().join("interrupted.tar");
    let (mut child, reader) = backup_until_mongo_data(&demo, &interrupted);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert!(!interrupted.exists());
    assert!(!PathBuf::from(format!("{}.partial", interrupted.display())).exists());
    assert_up(&demo);
}

/// The backup's guard (`<project>-backup-guard`) and the archiver containers of `demo`.
fn leftovers(demo: &Demo) -> String {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={}", demo.name),
        "--filter",
        "label=io.stackctl.probe",
        "--format",
        "{{.Names}} {{.Label \"io.stackctl.probe\"}} {{.Status}}",
    ])
}

/// `out`'s stderr holds `text`.
#[track_caller]
fn says(out: &Output, text: impl AsRef<str>) {
    assert!(out.stderr.contains(text.as_ref()), "{out:#?}");
}

#[test]
fn a_backup_killed_half_way_leaves_the_stack_running_and_the_next_one_succeeds() {
    let demo = Demo::up();
    let dir = tempfile::tempdir().unwrap();
    post(&demo, "before the kill");

    // `--online` on an image without mongodump: refused before anything is written or stopped.
    let online = dir.path().join("online.tar");
    let out = run(
        &demo,
        "backup",
        &["--online", "-o", online.to_str().unwrap()],
    );
    out.code(2);
    says(&out, "has none");
    says(&out, "hint: ");
    assert!(!online.exists());
    assert!(!dir.path().join("online.tar.partial").exists());
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.State.Status}}",
            &format!("{}-rocketchat-1", demo.name)
        ]),
        "running"
    );

    // A backup stopped the writers and archives the MongoDB volume...
    put_big(&demo, dir.path());
    let file = dir.path().join("killed.tar");
    let (mut child, reader) = backup_until_mongo_data(&demo, &file);
    for service in ["rocketchat", "mongo"] {
        let state = docker(&[
            "inspect",
            "-f",
            "{{.State.Status}}",
            &format!("{}-{service}-1", demo.name),
        ]);
        assert_eq!(state, "exited", "{service}");
    }
    // ...under the project's lock: a second backup, an `up`, a `restore` are refused, and
    // `status` says why the services are stopped.
    let out = run(
        &demo,
        "backup",
        &["-o", dir.path().join("second.tar").to_str().unwrap()],
    );
    out.code(1);
    says(
        &out,
        format!("a backup of project `{}` is under way", demo.name),
    );
    says(&out, "hint: ");
    let out = run(&demo, "up", &[]);
    out.code(1);
    says(&out, "is under way");
    let out = run(&demo, "status", &[]);
    out.code(0);
    says(&out, "note: a backup is under way");

    // SIGKILL: nothing runs after it in the process; the guard brings the stack back.
    child.kill().unwrap();
    let killed = Instant::now();
    child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(!stderr.contains("backup written"), "{stderr}");
    let container = |service: &str| format!("{}-{service}-1", demo.name);
    loop {
        let healthy = ["mongo", "rocketchat", "bot", "status"].iter().all(|s| {
            docker(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.Health.Status}}",
                &container(s),
            ]) == "running healthy"
        });
        if healthy {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(120),
            "the stack is not back 120 s after the kill: {}",
            leftovers(&demo)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "the guard brought the stack back {:?} after the kill",
        killed.elapsed()
    );
    assert!(history(&demo).contains(&"before the kill".to_owned()));
    // No archive under the final name; the guard exited with its log, the archiver is gone.
    assert!(!file.exists());
    let guard = format!("{}-backup-guard", demo.name);
    let started = Instant::now();
    while !leftovers(&demo).contains("Exited (0)") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            leftovers(&demo)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(leftovers(&demo).lines().count(), 1, "{}", leftovers(&demo));
    let log = Command::new("docker")
        .args(["logs", &guard])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stderr);
    assert!(log.contains("the backup process is gone"), "{log}");
    assert!(
        log.lines().any(|l| l.contains("brought back ")
            && ["mongo", "status", "rocketchat", "bot"]
                .iter()
                .all(|s| l.contains(s))),
        "{log}"
    );
    let out = run(&demo, "status", &[]);
    says(&out, "note: the last backup was killed; its guard said: ");

    // The next backup says what happened, removes the guard and the partial file, succeeds.
    let out = run(&demo, "backup", &["-o", file.to_str().unwrap()]);
    out.code(0);
    says(
        &out,
        format!(
            "the previous backup of `{}` was killed; its guard said:",
            demo.name
        ),
    );
    says(&out, "backup written: ");
    assert!(file.exists());
    assert!(!dir.path().join("killed.tar.partial").exists());
    assert!(!dir.path().join("killed.tar.partial.volume").exists());
    assert_eq!(leftovers(&demo), "");
    assert_up(&demo);

    // A `backup --verify` killed once its throw-away project has volumes: the project stays
    // (nothing runs after a SIGKILL); the next verify removes it, and only it, and succeeds.
    let (mut child, reader) = spawn_until(
        &demo,
        &["backup", "--verify", file.to_str().unwrap()],
        "restoring volume",
    );
    let throwaway = |kind: &str| {
        docker(&[
            kind,
            "ls",
            "-q",
            "--filter",
            "label=com.docker.compose.project",
        ])
        .lines()
        .filter(|id| {
            docker(&[
                kind,
                "inspect",
                "-f",
                "{{index .Labels \"com.docker.compose.project\"}}",
                id,
            ])
            .starts_with(&format!("{}-verify-", demo.name))
        })
        .count()
    };
    let started = Instant::now();
    while throwaway("volume") == 0 {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stderr = reader.join().unwrap();
    let killed = stderr
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{}-verify-", demo.name)))
        .unwrap_or_else(|| panic!("no throw-away project named: {stderr}"))
        .to_owned();
    assert!(throwaway("volume") > 0);
    let out = run(&demo, "backup", &["--verify", file.to_str().unwrap()]);
    out.code(0);
    says(
        &out,
        format!("removed {killed}, the throw-away project of a `backup --verify` that was killed"),
    );
    assert_eq!(throwaway("volume"), 0);
    assert_eq!(throwaway("network"), 0);
    assert_eq!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={killed}")
        ]),
        ""
    );
    assert_up(&demo);
}
