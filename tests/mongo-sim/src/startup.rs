//! What happens before the server listens, in the order a container runs it: the official
//! image's entrypoint (its CPU check, `MONGO_INITDB_ROOT_*` turning on `--auth`), then mongod's
//! own start-up (options validation, the keyFile, the data directory's lock file, the storage
//! engine opening its files) — each failure with mongod's own texts and exit status, because a
//! stack's doctor recognises a failed start by them (brief doctor.md M7, M8, M9).
//!
//! Sources:
//! - docker-library/mongo `7.0/docker-entrypoint.sh`: the amd64 AVX check
//!   (`grep -qE '^flags.* avx( .*|$)' /proc/cpuinfo`, the WARNING block on stderr) and
//!   `MONGO_INITDB_ROOT_USERNAME` + `_PASSWORD` → `_mongod_hack_ensure_arg '--auth'` (one
//!   without the other: its "error: missing …" block, exit 1).
//! - mongo `src/mongo/db/mongod_options.cpp` storeMongodOptions: replication + authorization
//!   enabled + no keyFile (and not x509 cluster auth) → BadValue "security.keyFile is required
//!   when authorization is enabled with replica sets"; `mongod_options_init.cpp` prints the
//!   status and "try 'mongod --help' for more information" on stderr and exits
//!   ExitCode::badOptions = 2.
//! - mongo `src/mongo/db/auth/security_file.cpp` readSecurityFile: stat failure "Error reading
//!   file F: …", group/other permission bits → "permissions on F are too open", a character
//!   outside base64 → "invalid char in key file F: c"; logged as id 20254 "Read security file
//!   failed" (InvalidPath 30 / UnsupportedFormat 29), then the fatal id 20575 "Error creating
//!   service context" (`Location5579201: Unable to acquire security key[s]`), exit 1 — as
//!   logged by real 7.0/8.0 servers in public reports.
//! - mongo `src/mongo/db/storage/storage_engine_lock_file_posix.cpp` open(): `DBPATH/mongod.lock`
//!   opened O_RDWR|O_CREAT 0644; EACCES → IllegalOperation "Attempted to create a lock file on a
//!   read-only directory: DBPATH", another error → DBPathInUse "Unable to create/open the lock
//!   file: …", a held flock → DBPathInUse "Unable to lock the lock file: …"; out of
//!   initAndListen as id 20557 "DBException in initAndListen, terminating", exit 100.
//! - mongo `src/mongo/db/storage/wiredtiger/wiredtiger_kv_engine.cpp` _openWiredTiger: the
//!   engine's files cannot be opened → WiredTiger's own error (id 22435 "WiredTiger error
//!   message", with `error_str`/`error_code`), warning 22347, then `LOGV2_FATAL_NOTRACE(28595,
//!   "Terminating.")` → `fassertFailedNoTraceWithLocation` (`src/mongo/util/assert_util.cpp`:
//!   id 23091 "Fatal assertion", 23092 "***aborting after fassert() failure") →
//!   `quickExit(ExitCode::abrupt)` = 14.
//! - mongo `src/mongo/db/storage/wiredtiger/wiredtiger_util.cpp` mdb_handle_error: a write
//!   that fails while serving (a full disk: WiredTiger panics) is logged as 22435 and
//!   `fassert(50853, errorCode != WT_PANIC)` aborts (23089 "Fatal assertion", 23090, SIGABRT:
//!   the container exits 134).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// mongod's JSON log line (src/mongo/logv2: {t, s, c, id, ctx, msg, attr}).
pub fn log_line(
    severity: &str,
    component: &str,
    id: i32,
    ctx: &str,
    msg: &str,
    attr: Option<serde_json::Value>,
) -> String {
    let t = bson::DateTime::now()
        .try_to_rfc3339_string()
        .unwrap_or_default();
    let mut line = serde_json::json!({
        "t": {"$date": t}, "s": severity, "c": component, "id": id, "ctx": ctx, "msg": msg,
    });
    if let Some(attr) = attr {
        line["attr"] = attr;
    }
    line.to_string()
}

/// Prints lines on stdout (mongod logs there in a container) and flushes them, before an exit.
pub fn say(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

/// An OS error as strerror(3) words it (Rust's Display adds " (os error N)").
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The docker-entrypoint's CPU check on amd64: the WARNING block when the cpuinfo flags lack
/// `avx`. Returns whether the flags were read and lack it (mongod 5.0+ then dies on its first
/// AVX instruction); an unreadable file only warns, as `grep -q` failing does.
pub fn avx_check(cpuinfo: &Path) -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    let text = std::fs::read_to_string(cpuinfo).ok();
    let has_avx = text.as_deref().is_some_and(|t| {
        t.lines().any(|l| {
            l.starts_with("flags")
                && l.split_once(':')
                    .is_some_and(|(_, flags)| flags.split_whitespace().any(|f| f == "avx"))
        })
    });
    if !has_avx {
        eprintln!(
            "\nWARNING: MongoDB 5.0+ requires a CPU with AVX support, and your current system does not appear to have that!\n  see https://jira.mongodb.org/browse/SERVER-54407\n  see also https://www.mongodb.com/community/forums/t/mongodb-5-0-cpu-intel-g4650-compatibility/116610/2\n  see also https://github.com/docker-library/mongo/issues/485#issuecomment-891991814\n"
        );
    }
    text.is_some() && !has_avx
}

/// What an AVX instruction does on a CPU without AVX: the kernel raises SIGILL, which ends the
/// process (PID 1 included: a fault signal is forced), and Docker records exit 132.
pub fn illegal_instruction() -> ! {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `ud2` only raises #UD; the process ends with SIGILL, which is the point.
    unsafe {
        std::arch::asm!("ud2", options(noreturn));
    }
    #[cfg(not(target_arch = "x86_64"))]
    std::process::abort();
}

/// The entrypoint's `MONGO_INITDB_ROOT_USERNAME`/`_PASSWORD` rule: both → `--auth`; one alone
/// → its error and exit 1.
pub fn initdb_root_user(user: Option<&str>, password: Option<&str>) -> Result<bool, i32> {
    let set = |v: Option<&str>| v.is_some_and(|v| !v.is_empty());
    match (set(user), set(password)) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        _ => {
            eprintln!(
                "\nerror: missing 'MONGO_INITDB_ROOT_USERNAME' or 'MONGO_INITDB_ROOT_PASSWORD'\n       both must be specified for a user to be created\n"
            );
            Err(1)
        }
    }
}

/// storeMongodOptions' rule for a replica set with authorization: the BadValue text.
pub fn check_auth_options(
    repl_set: bool,
    authorization: bool,
    key_file: bool,
) -> Result<(), String> {
    if repl_set && authorization && !key_file {
        return Err(
            "BadValue: security.keyFile is required when authorization is enabled with replica sets"
                .to_owned(),
        );
    }
    Ok(())
}

/// Options validation failed: the status and the hint on stderr, exit 2 (badOptions).
pub fn bad_options(status: &str) -> ! {
    eprintln!("{status}");
    eprintln!("try 'mongod --help' for more information");
    std::process::exit(2);
}

/// readSecurityFile: the key's text (base64 characters, whitespace dropped) or the error as
/// (code, codeName, errmsg).
pub fn read_key_file(path: &Path) -> Result<String, (i32, &'static str, String)> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        (
            30,
            "InvalidPath",
            format!("Error reading file {name}: {}", strerror(&e)),
        )
    })?;
    if meta.mode() & 0o077 != 0 {
        return Err((
            30,
            "InvalidPath",
            format!("permissions on {name} are too open"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        (
            30,
            "InvalidPath",
            format!("error opening file: {name}: {}", strerror(&e)),
        )
    })?;
    let mut key = String::new();
    for b in bytes {
        if (0x09..=0x0d).contains(&b) || b == b' ' {
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=') {
            return Err((
                29,
                "UnsupportedFormat",
                format!("invalid char in key file {name}: {}", b as char),
            ));
        }
        key.push(b as char);
    }
    Ok(key)
}

/// The keyFile could not be read: mongod's two lines, exit 1.
pub fn key_file_failed(code: i32, code_name: &str, errmsg: &str) -> ! {
    say(&[
        log_line(
            "I",
            "ACCESS",
            20254,
            "main",
            "Read security file failed",
            Some(
                serde_json::json!({"error": {"code": code, "codeName": code_name, "errmsg": errmsg}}),
            ),
        ),
        log_line(
            "F",
            "CONTROL",
            20575,
            "main",
            "Error creating service context",
            Some(
                serde_json::json!({"error": "Location5579201: Unable to acquire security key[s]"}),
            ),
        ),
    ]);
    std::process::exit(1);
}

/// A DBException out of initAndListen: id 20557, exit 100 (ExitCode::uncaught).
pub fn init_and_listen_failed(error: &str) -> ! {
    say(&[log_line(
        "E",
        "CONTROL",
        20557,
        "initandlisten",
        "DBException in initAndListen, terminating",
        Some(serde_json::json!({"error": error})),
    )]);
    std::process::exit(100);
}

/// StorageEngineLockFile::open: creates and locks `DBPATH/mongod.lock`, held until the process
/// ends; on failure the status text.
pub fn lock_data_directory(dir: &Path) -> Result<File, String> {
    let path = dir.join("mongod.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                format!(
                    "IllegalOperation: Attempted to create a lock file on a read-only directory: {}",
                    dir.display()
                )
            } else {
                format!(
                    "DBPathInUse: Unable to create/open the lock file: {} ({}). Ensure the user executing mongod is the owner of the lock file and has the appropriate permissions. Also make sure that another mongod instance is not already running on the {} directory",
                    path.display(),
                    strerror(&e),
                    dir.display()
                )
            }
        })?;
    file.try_lock().map_err(|e| {
        let why = match e {
            std::fs::TryLockError::WouldBlock => "Resource temporarily unavailable".to_owned(),
            std::fs::TryLockError::Error(e) => strerror(&e),
        };
        format!(
            "DBPathInUse: Unable to lock the lock file: {} ({why}). Another mongod instance is already running on the {} directory",
            path.display(),
            dir.display()
        )
    })?;
    Ok(file)
}

/// WiredTiger's own error line (id 22435) for a failed file operation, on thread `ctx`.
fn wiredtiger_error(ctx: &str, file: &Path, op: &str, e: &std::io::Error) -> String {
    let code = e.raw_os_error().unwrap_or(-1);
    let secs = bson::DateTime::now().timestamp_millis() / 1000;
    log_line(
        "E",
        "WT",
        22435,
        ctx,
        "WiredTiger error message",
        Some(serde_json::json!({"error": code, "message": {
            "ts_sec": secs, "thread": format!("{}:0x0", std::process::id()),
            "session_name": "connection", "category": "WT_VERB_DEFAULT", "category_id": 9,
            "verbose_level": "ERROR", "verbose_level_id": -3,
            "msg": format!("{}: {op}", file.display()),
            "error_str": strerror(e), "error_code": code,
        }})),
    )
}

/// The storage engine could not open its files at start-up: WiredTiger's error, then
/// _openWiredTiger's fatal 28595 and fassertFailedNoTrace's lines; exit 14 (ExitCode::abrupt).
pub fn storage_open_failed(file: &Path, op: &str, e: &std::io::Error) -> ! {
    let code = e.raw_os_error().unwrap_or(-1);
    say(&[
        wiredtiger_error("initandlisten", file, op, e),
        log_line(
            "W",
            "STORAGE",
            22347,
            "initandlisten",
            "Failed to start up WiredTiger under any compatibility version. This may be due to an unsupported upgrade or downgrade.",
            None,
        ),
        log_line(
            "F",
            "STORAGE",
            28595,
            "initandlisten",
            "Terminating.",
            Some(serde_json::json!({"reason": format!("{code}: {}", strerror(e))})),
        ),
        log_line(
            "F",
            "ASSERT",
            23091,
            "initandlisten",
            "Fatal assertion",
            Some(
                serde_json::json!({"msgid": 28595, "file": "src/mongo/db/storage/wiredtiger/wiredtiger_kv_engine.cpp", "line": 0}),
            ),
        ),
        log_line(
            "F",
            "ASSERT",
            23092,
            "initandlisten",
            "\n\n***aborting after fassert() failure\n\n",
            None,
        ),
    ]);
    std::process::exit(14);
}

/// A write to the data files failed while serving (the disk filled up): WiredTiger's error and
/// its panic, mdb_handle_error's fassert 50853, then abort() — SIGABRT, exit 134.
pub fn storage_write_failed(file: &Path, e: &std::io::Error) -> ! {
    say(&[
        wiredtiger_error(
            "WTCheckpointThread",
            file,
            "handle-write: pwrite: failed to write",
            e,
        ),
        log_line(
            "E",
            "WT",
            22435,
            "WTCheckpointThread",
            "WiredTiger error message",
            Some(serde_json::json!({"error": -31804, "message": {
                "session_name": "connection", "category": "WT_VERB_DEFAULT",
                "verbose_level": "ERROR",
                "msg": "the process must exit and restart",
                "error_str": "WT_PANIC: WiredTiger library panic", "error_code": -31804,
            }})),
        ),
        log_line(
            "F",
            "ASSERT",
            23089,
            "WTCheckpointThread",
            "Fatal assertion",
            Some(
                serde_json::json!({"msgid": 50853, "file": "src/mongo/db/storage/wiredtiger/wiredtiger_util.cpp", "line": 0}),
            ),
        ),
        log_line(
            "F",
            "ASSERT",
            23090,
            "WTCheckpointThread",
            "\n\n***aborting after fassert() failure\n\n",
            None,
        ),
    ]);
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_on_a_replica_set_needs_a_key_file() {
        assert_eq!(
            check_auth_options(true, true, false).unwrap_err(),
            "BadValue: security.keyFile is required when authorization is enabled with replica sets"
        );
        assert!(check_auth_options(true, true, true).is_ok());
        assert!(check_auth_options(false, true, false).is_ok());
        assert!(check_auth_options(true, false, false).is_ok());
        assert_eq!(initdb_root_user(Some("root"), Some("pw")), Ok(true));
        assert_eq!(initdb_root_user(None, Some("")), Ok(false));
        assert_eq!(initdb_root_user(Some("root"), None), Err(1));
    }

    #[test]
    fn a_key_file_must_be_private_and_base64() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "c2VjcmV0a2V5\nc2VjcmV0a2V5\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, name, msg) = read_key_file(&key).unwrap_err();
        assert_eq!((code, name), (30, "InvalidPath"));
        assert_eq!(
            msg,
            format!("permissions on {} are too open", key.display())
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(read_key_file(&key).unwrap(), "c2VjcmV0a2V5c2VjcmV0a2V5");
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "not-base64").unwrap();
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_key_file(&bad).unwrap_err().2,
            format!("invalid char in key file {}: -", bad.display())
        );
        let gone = read_key_file(&dir.path().join("gone")).unwrap_err();
        assert!(gone.2.ends_with(": No such file or directory"), "{gone:?}");
    }

    #[test]
    fn the_cpu_check_reads_the_flags_line() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with");
        std::fs::write(&with, "processor\t: 0\nflags\t\t: fpu sse2 avx avx2\n").unwrap();
        let without = dir.path().join("without");
        std::fs::write(
            &without,
            "processor\t: 0\nflags\t\t: fpu sse2 avx512-like\n",
        )
        .unwrap();
        assert!(!avx_check(&with));
        assert_eq!(avx_check(&without), cfg!(target_arch = "x86_64"));
        assert!(!avx_check(&dir.path().join("absent")));
    }

    #[test]
    fn a_held_lock_file_refuses_a_second_server() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock_data_directory(dir.path()).unwrap();
        let second = lock_data_directory(dir.path()).unwrap_err();
        assert!(
            second.starts_with(&format!(
                "DBPathInUse: Unable to lock the lock file: {}/mongod.lock (",
                dir.path().display()
            )),
            "{second}"
        );
        assert!(
            second.ends_with(&format!(
                "Another mongod instance is already running on the {} directory",
                dir.path().display()
            )),
            "{second}"
        );
    }

    #[test]
    fn strerror_drops_rusts_suffix() {
        let e = std::io::Error::from_raw_os_error(28);
        assert_eq!(strerror(&e), "No space left on device");
    }
}
