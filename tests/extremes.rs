//! No input makes stackctl panic, and no `check` prints more than Docker keeps.
//!
//! The command tree is walked from the same clap definitions the binary parses with, so a new
//! subcommand or flag is covered the day it is added: every leaf command runs with each of its
//! arguments (and each argument's environment variable) set in turn to extreme values — huge
//! and zero durations and numbers, 100,000-character strings, control characters, invalid
//! UTF-8 — while everything else holds a plausible value pointing at a closed loopback port.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::Mutex;
use std::time::Duration;

use crate::support::{Output, closed_port, stackctl};

/// How long one run may take before it is killed (a run that waits is not a failure).
const RUN_LIMIT: Duration = Duration::from_secs(10);

fn extreme_values() -> Vec<OsString> {
    let mut values: Vec<OsString> = [
        "18446744073709551615s",
        "99999999999999999999999999d",
        "24h",
        "0s",
        "-1",
        "4294967296",
        "",
        "\u{1}\u{7f}\u{1b}[2J\u{feff}\u{202e}\n",
        "%00%ff%",
        "[::1",
        ":@",
        "http://",
        "mongodb://u:p@h:99999999,",
        "/dev/zero",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    values.push(OsString::from("x".repeat(100_000)));
    values.push(OsString::from("é😀".repeat(20_000)));
    values.push(OsString::from(format!("http://{}/", "a".repeat(100_000))));
    values.push(OsString::from_vec(vec![0xff, 0xfe, b'a', 0x80]));
    values
}

/// One way to run a command: its arguments and environment.
#[derive(Clone, Debug)]
struct Case {
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    check: bool,
}

/// The leaf commands of the tree, each with its path (`check tcp`).
fn leaves(
    command: &clap::Command,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, clap::Command)>,
) {
    let subs: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        out.push((path.clone(), command.clone()));
    }
    for sub in subs {
        path.push(sub.get_name().to_owned());
        leaves(sub, path, out);
        path.pop();
    }
}

/// A plausible value for an argument: everything points at a closed port, times are short.
fn plausible(arg: &clap::Arg, port: u16, dir: &std::path::Path) -> Option<OsString> {
    let id = arg.get_id().as_str();
    let value_name = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(ToString::to_string)
        .unwrap_or_default();
    let value = match (id, value_name.as_str()) {
        (_, "HOST:PORT") => format!("127.0.0.1:{port}"),
        ("uri", _) => format!("mongodb://127.0.0.1:{port}"),
        (_, "URL") => format!("http://127.0.0.1:{port}/"),
        (_, "TARGET") => format!("tcp://127.0.0.1:{port}"),
        (_, "DURATION") => "50ms".to_owned(),
        ("password_env" | "admin_password_env", _) => "PW".to_owned(),
        ("output" | "session_file", _) => dir.join(id).to_string_lossy().into_owned(),
        (_, "NAME" | "USER" | "ROOM") => "localhost".to_owned(),
        _ => return None,
    };
    Some(OsString::from(value))
}

fn flag(arg: &clap::Arg) -> Option<String> {
    arg.get_long()
        .map(|l| format!("--{l}"))
        .or_else(|| arg.get_short().map(|s| format!("-{s}")))
}

/// The baseline arguments of a leaf: every required argument, plus bounded times.
fn baseline(command: &clap::Command, port: u16, dir: &std::path::Path) -> Vec<(String, OsString)> {
    let mut out = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        let wanted = arg.is_required_set()
            || matches!(id, "password_env" | "admin_password_env" | "timeout");
        if !wanted || !arg.get_action().takes_values() || arg.is_last_set() {
            continue;
        }
        if let Some(value) = plausible(arg, port, dir) {
            out.push((id.to_owned(), value));
        }
    }
    out
}

fn render(
    command: &clap::Command,
    path: &[String],
    values: &[(String, OsString)],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = path.iter().map(OsString::from).collect();
    for (id, value) in values {
        let Some(arg) = command.get_arguments().find(|a| a.get_id() == id.as_str()) else {
            continue;
        };
        if let Some(flag) = flag(arg) {
            args.push(OsString::from(flag));
        }
        args.push(value.clone());
    }
    args
}

fn cases(port: u16, dir: &std::path::Path) -> Vec<Case> {
    let tree = stackctl::cli::command();
    let mut found = Vec::new();
    leaves(&tree, &mut Vec::new(), &mut found);
    assert!(
        found.len() >= 15,
        "the tree was walked: {:?}",
        found.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let extremes = extreme_values();
    let mut cases = Vec::new();
    for (path, command) in &found {
        let check = path.first().is_some_and(|p| p == "check");
        let base = baseline(command, port, dir);
        cases.push(Case {
            args: render(command, path, &base),
            env: Vec::new(),
            check,
        });
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str().to_owned();
            if !arg.get_action().takes_values() || arg.is_last_set() || arg.is_global_set() {
                continue;
            }
            for value in &extremes {
                // The stack loader is not bounded yet: `-f /dev/zero` would read forever.
                if value == "/dev/zero" && matches!(id.as_str(), "file" | "env_file") {
                    continue;
                }
                let mut values: Vec<(String, OsString)> =
                    base.iter().filter(|(i, _)| *i != id).cloned().collect();
                values.push((id.clone(), value.clone()));
                let args = render(command, path, &values);
                cases.push(Case {
                    args: args.clone(),
                    env: Vec::new(),
                    check,
                });
                if check && value.len() > 1000 {
                    let mut json = vec![OsString::from("--json")];
                    json.extend(args);
                    cases.push(Case {
                        args: json,
                        env: Vec::new(),
                        check,
                    });
                }
                if let Some(var) = arg.get_env() {
                    let values: Vec<(String, OsString)> =
                        base.iter().filter(|(i, _)| *i != id).cloned().collect();
                    cases.push(Case {
                        args: render(command, path, &values),
                        env: vec![(var.to_string_lossy().into_owned(), value.clone())],
                        check,
                    });
                }
            }
        }
    }
    // The global flags, once per value, in front of a quick command.
    for value in &extremes {
        cases.push(Case {
            args: vec![
                OsString::from("--log-level"),
                value.clone(),
                OsString::from("check"),
                OsString::from("tcp"),
                OsString::from(format!("127.0.0.1:{port}")),
            ],
            env: Vec::new(),
            check: true,
        });
    }
    cases
}

#[track_caller]
fn judge(case: &Case, out: &Output) -> Option<String> {
    let shown = || {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                let a = a.to_string_lossy();
                if a.len() > 60 {
                    format!(
                        "{}…({} bytes)",
                        a.chars().take(40).collect::<String>(),
                        a.len()
                    )
                } else {
                    a.into_owned()
                }
            })
            .collect();
        format!(
            "stackctl {} (env {:?})",
            args.join(" "),
            case.env.iter().map(|(k, _)| k).collect::<Vec<_>>()
        )
    };
    if out.stderr.contains("panicked") || out.code == Some(101) {
        return Some(format!("{}: panicked:\n{}", shown(), out.stderr));
    }
    // `/dev/zero` as a file to read must be refused at once, not read for ever.
    if out.killed && case.args.iter().any(|a| a == "/dev/zero") {
        return Some(format!(
            "{}: still reading `/dev/zero` when killed",
            shown()
        ));
    }
    // Every check has a timeout of at most a day against a closed port: it ends at once.
    if out.killed && case.check {
        return Some(format!(
            "{}: a check was still running after {RUN_LIMIT:?}",
            shown()
        ));
    }
    if out.code.is_none() && !out.killed {
        return Some(format!("{}: killed by a signal:\n{}", shown(), out.stderr));
    }
    if case.check && !out.killed {
        let total = out.stdout.len() + out.stderr.len();
        let lines = out.stdout.lines().count() + out.stderr.lines().count();
        if total > 4096 || lines > 1 {
            return Some(format!(
                "{}: a check printed {total} bytes on {lines} lines (at most 4,096 bytes, one line):\n{}{}",
                shown(),
                crate::support::normalize(&out.stdout.chars().take(300).collect::<String>()),
                crate::support::normalize(&out.stderr.chars().take(300).collect::<String>())
            ));
        }
        if out.code == Some(2) {
            return Some(format!(
                "{}: a check exited 2 (reserved by Docker)",
                shown()
            ));
        }
    }
    None
}

#[test]
fn no_input_panics_and_no_check_line_outgrows_the_health_log() {
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let cases = cases(port, dir.path());
    let queue = Mutex::new(cases.iter());
    let failures = Mutex::new(Vec::new());
    let killed = Mutex::new(0_usize);
    std::thread::scope(|scope| {
        for _ in 0..12 {
            scope.spawn(|| {
                loop {
                    let Some(case) = queue.lock().unwrap().next() else {
                        return;
                    };
                    let mut run = stackctl(&case.args)
                        .current_dir(dir.path())
                        .env("PW", "pw")
                        .env("RUST_BACKTRACE", "0");
                    for (key, value) in &case.env {
                        run = run.env(key, value);
                    }
                    let out = run.output_within(RUN_LIMIT);
                    if out.killed {
                        *killed.lock().unwrap() += 1;
                        if std::env::var_os("STACKCTL_TEST_VERBOSE").is_some() {
                            let args: Vec<String> = case
                                .args
                                .iter()
                                .map(|a| a.to_string_lossy().chars().take(50).collect())
                                .collect();
                            eprintln!(
                                "killed: {args:?} {:?}",
                                case.env.iter().map(|e| &e.0).collect::<Vec<_>>()
                            );
                        }
                    }
                    if let Some(failure) = judge(case, &out) {
                        failures.lock().unwrap().push(failure);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} runs, {} killed at the {RUN_LIMIT:?} limit, {} failures",
        cases.len(),
        killed.into_inner().unwrap(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
