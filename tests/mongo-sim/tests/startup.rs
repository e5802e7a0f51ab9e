//! The simulator's failed starts, each caused by the real condition (options, a key file's
//! mode, a directory it may not write, files it may not read, a device that is full, a CPU
//! without AVX), with mongod's texts and exit status (src/startup.rs names the sources).

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mongodb::bson::doc;

/// A uid other than the test's: `nobody` when the test runs as root (root may write anywhere,
/// so the refusal needs another user), else none (the test's own user meets the mode bits).
fn as_other_user(cmd: &mut Command) {
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn sim(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mongo-sim"));
    cmd.args(["--port", "0"])
        .args(args)
        .current_dir(dir)
        .env_remove("MONGO_SIM_VERSION")
        .env_remove("MONGO_SIM_CPUINFO")
        .env_remove("MONGO_INITDB_ROOT_USERNAME")
        .env_remove("MONGO_INITDB_ROOT_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

/// Runs the simulator to its end, asserts its exit code; its stdout and stderr.
fn ends_with(cmd: &mut Command, code: i32) -> (String, String) {
    let out: Output = cmd.output().unwrap();
    let texts = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(code), "{texts:?}");
    texts
}

/// mongod's JSON log lines.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn auth_on_a_replica_set_needs_a_key_file_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let expected = "BadValue: security.keyFile is required when authorization is enabled with replica sets\ntry 'mongod --help' for more information\n";
    let (_, stderr) = ends_with(&mut sim(dir.path(), &["--replSet", "rs0", "--auth"]), 2);
    assert_eq!(stderr, expected);
    // The image's entrypoint turns --auth on for a root user.
    let (_, stderr) = ends_with(
        sim(dir.path(), &["--replSet", "rs0"])
            .env("MONGO_INITDB_ROOT_USERNAME", "root")
            .env("MONGO_INITDB_ROOT_PASSWORD", "example"),
        2,
    );
    assert_eq!(stderr, expected);
    // One without the other: the entrypoint's own error.
    let (_, stderr) = ends_with(
        sim(dir.path(), &["--replSet", "rs0"]).env("MONGO_INITDB_ROOT_USERNAME", "root"),
        1,
    );
    assert!(
        stderr.contains(
            "error: missing 'MONGO_INITDB_ROOT_USERNAME' or 'MONGO_INITDB_ROOT_PASSWORD'"
        ),
        "{stderr}"
    );
}

#[test]
fn a_key_file_others_may_read_ends_the_start_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keyfile");
    std::fs::write(&key, "c2VjcmV0IGtleSBmb3IgdGhlIHJlcGxpY2Egc2V0\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key_arg = key.to_str().unwrap();
    let args = ["--replSet", "rs0", "--keyFile", key_arg];
    let (stdout, _) = ends_with(&mut sim(dir.path(), &args), 1);
    let lines = json_lines(&stdout);
    assert_eq!(lines[0]["id"], 20254, "{stdout}");
    assert_eq!(lines[0]["msg"], "Read security file failed");
    assert_eq!(
        lines[0]["attr"]["error"],
        serde_json::json!({"code": 30, "codeName": "InvalidPath", "errmsg": format!("permissions on {key_arg} are too open")})
    );
    assert_eq!(lines[1]["s"], "F");
    assert_eq!(
        lines[1]["attr"]["error"],
        "Location5579201: Unable to acquire security key[s]"
    );
    // Mode 0400 passes mongod's checks; access control itself is not simulated.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    let (_, stderr) = ends_with(&mut sim(dir.path(), &args), 1);
    assert!(
        stderr.contains("authentication is not simulated"),
        "{stderr}"
    );
}

/// A data directory `db` in a fresh directory others may enter.
fn data_directory(mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, data)
}

#[test]
fn a_data_directory_it_may_not_write_exits_100() {
    // Root's own directory for another user; the test's user meets a read-only mode.
    let (dir, data) = data_directory(if is_root() { 0o755 } else { 0o555 });
    let mut cmd = sim(dir.path(), &["--dbpath", data.to_str().unwrap()]);
    as_other_user(&mut cmd);
    let (stdout, _) = ends_with(&mut cmd, 100);
    let line = &json_lines(&stdout)[0];
    assert_eq!(line["msg"], "DBException in initAndListen, terminating");
    assert_eq!(
        line["attr"]["error"],
        format!(
            "IllegalOperation: Attempted to create a lock file on a read-only directory: {}",
            data.display()
        )
    );
}

#[test]
fn data_files_it_may_not_read_are_a_fatal_assertion_exit_14() {
    let (dir, data) = data_directory(0o777);
    let log = data.join("mongo-sim.log");
    std::fs::write(&log, b"").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = sim(dir.path(), &["--dbpath", data.to_str().unwrap()]);
    as_other_user(&mut cmd);
    let (stdout, _) = ends_with(&mut cmd, 14);
    let lines = json_lines(&stdout);
    assert_eq!(lines[0]["msg"], "WiredTiger error message", "{stdout}");
    assert_eq!(
        lines[0]["attr"]["message"]["error_str"],
        "Permission denied"
    );
    assert_eq!(lines[2]["id"], 28595);
    assert_eq!(lines[2]["attr"]["reason"], "13: Permission denied");
    assert_eq!(lines[3]["msg"], "Fatal assertion");
    assert_eq!(lines[3]["attr"]["msgid"], 28595);
}

#[test]
fn a_second_server_on_a_locked_data_directory_exits_100() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut first = sim(dir.path(), &["--dbpath", data])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::listening_on(&mut first);
    let second = ends_with(&mut sim(dir.path(), &["--dbpath", data]), 100);
    let _ = first.kill();
    let _ = first.wait();
    assert!(
        second.0.contains(&format!(
            "DBPathInUse: Unable to lock the lock file: {data}/mongod.lock (Resource temporarily unavailable). Another mongod instance is already running on the {data} directory"
        )),
        "{second:?}"
    );
}

/// A write refused with ENOSPC while serving (the replica-set config, written through
/// `/dev/full`): WiredTiger's error, the fatal assertion, then abort().
#[tokio::test]
async fn a_full_disk_while_serving_aborts_with_the_fatal_assertion() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.path().join("replset.tmp")).unwrap();
    let mut child = sim(
        dir.path(),
        &["--dbpath", dir.path().to_str().unwrap(), "--replSet", "rs0"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // The first line says where it listens; the rest is read once it has ended.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("mongo-sim listening on ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_owned();
    let client = mongodb::Client::with_uri_str(format!("mongodb://{addr}/?directConnection=true"))
        .await
        .unwrap();
    // The config is written before the answer: the answer never comes.
    let answer = client
        .database("admin")
        .run_command(
            doc! {"replSetInitiate": {"_id": "rs0", "members": [{"_id": 0, "host": addr.clone()}]}},
        )
        .await;
    assert!(answer.is_err(), "{answer:?}");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed().as_secs() < 20,
            "the simulator did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.signal(), Some(6), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("\"error_str\":\"No space left on device\""),
        "{rest}"
    );
    assert!(rest.contains("\"msg\":\"Fatal assertion\""), "{rest}");
    assert!(rest.contains("\"msgid\":50853"), "{rest}");
}

/// The entrypoint's check is amd64's.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_cpu_without_avx_warns_then_dies_of_sigill() {
    let dir = tempfile::tempdir().unwrap();
    let cpuinfo = dir.path().join("cpuinfo");
    std::fs::write(
        &cpuinfo,
        "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\nflags\t\t: fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm nopl pni cx16 x2apic hypervisor lahf_lm\n",
    )
    .unwrap();
    let out = sim(dir.path(), &[])
        .env("MONGO_SIM_CPUINFO", &cpuinfo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(4), "{stderr}");
    assert!(
        stderr.contains("WARNING: MongoDB 5.0+ requires a CPU with AVX support, and your current system does not appear to have that!\n  see https://jira.mongodb.org/browse/SERVER-54407\n"),
        "{stderr}"
    );
}
