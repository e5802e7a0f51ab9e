//! The command line's contract: exit codes and one clear line for bad input.

use std::fmt::Write as _;

use crate::support::{closed_port, stackctl};

#[test]
fn help_and_version_exit_zero_on_stdout() {
    let out = stackctl(["--help"]).output();
    out.code(0);
    assert!(out.stdout.contains("Usage: stackctl"));
    let out = stackctl(["--version"]).output();
    out.code(0);
    assert!(out.stdout.starts_with("stackctl "));
}

#[test]
fn bad_inputs_under_check_exit_one_with_one_line() {
    let cases: &[&[&str]] = &[
        &["check", "tcp", "db:99999"],
        &["check", "tcp", "db"],
        &["check", "tcp", "::1:80"],
        &["check", "http", "not a url"],
        &["check", "http", "ftp://x/"],
        &["check", "tcp", "db:5432", "--timeout", "5x"],
        &["check", "tcp", "db:5432", "--timeout", "5"],
        &["check", "tcp", "db:5432", "--frobnicate"],
        &["check", "http", "http://x/", "--status", "abc"],
        &["check", "http", "http://x/", "--json-path", "status"],
        &["check", "http", "http://x/", "--body-regex", "("],
        &["check", "dns", "x", "--type", "MX"],
        &["check", "frob"],
    ];
    let mut transcript = String::new();
    for args in cases {
        let out = stackctl(*args).output();
        out.code(1);
        assert!(
            out.stdout.is_empty(),
            "nothing on stdout for a usage error: {out:#?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "exactly one line: {out:#?}");
        let _ = write!(transcript, "$ stackctl {}\n{}", args.join(" "), out.stderr);
    }
    insta::assert_snapshot!(transcript);
}

#[test]
fn bad_inputs_elsewhere_exit_two_with_a_hint() {
    let cases: &[&[&str]] = &[
        &["wait", "db:5432"],
        &["wait", "tcp://db:70000"],
        &["wait", "tcp://db:1", "--timeout", "soon"],
        &["wait", "--bogus", "tcp://db:1"],
        &["wait", "udp://db:53"],
        &[
            "wait",
            "tcp://db:1",
            "--backoff-min",
            "5s",
            "--backoff-max",
            "1s",
        ],
        &["wait"],
        &["frobnicate"],
    ];
    let mut transcript = String::new();
    for args in cases {
        let out = stackctl(*args).output();
        out.code(2);
        assert!(out.stderr.starts_with("error: "), "{out:#?}");
        assert!(out.stderr.contains("\nhint: "), "{out:#?}");
        let _ = write!(transcript, "$ stackctl {}\n{}", args.join(" "), out.stderr);
    }
    insta::assert_snapshot!(transcript);
}

#[test]
fn environment_supplies_defaults_and_flags_win() {
    let port = closed_port();
    let target = format!("tcp://127.0.0.1:{port}");
    // STACKCTL_WAIT_TIMEOUT=300ms: the wait gives up quickly.
    let out = stackctl(["wait", &target])
        .env("STACKCTL_WAIT_TIMEOUT", "300ms")
        .output();
    out.code(3);
    assert!(out.elapsed.as_millis() < 3000, "{out:#?}");
    // The flag beats the variable.
    let out = stackctl(["wait", &target, "--timeout", "100ms"])
        .env("STACKCTL_WAIT_TIMEOUT", "1h")
        .output();
    out.code(3);
    assert!(out.stderr.contains("timed out after 100ms"), "{out:#?}");
    // A bad value in the environment is reported like a bad flag.
    let out = stackctl(["check", "tcp", "127.0.0.1:1"])
        .env("STACKCTL_CHECK_TIMEOUT", "x")
        .output();
    out.code(1);
    assert!(out.stderr.contains("`x` is not a duration"), "{out:#?}");
    // STACKCTL_JSON=1 selects JSON like --json.
    let out = stackctl(["check", "tcp", &format!("127.0.0.1:{port}")])
        .env("STACKCTL_JSON", "1")
        .output();
    out.code(1);
    let line: serde_json::Value = serde_json::from_str(out.one_line()).expect("json");
    assert_eq!(line["healthy"], false);
}

#[test]
fn a_missing_subcommand_is_an_error_never_a_healthy_check() {
    let out = stackctl(["check"]).output();
    out.code(1);
    assert_eq!(
        out.stderr.trim(),
        "error: `stackctl check` needs a subcommand (hint: see `stackctl check --help`)"
    );
    stackctl(["init"]).output().code(2);
    stackctl(Vec::<&str>::new()).output().code(2);
}

#[test]
fn invalid_log_filter_is_a_usage_error() {
    let out = stackctl(["--log-level", "stackctl=loud", "wait", "tcp://127.0.0.1:1"]).output();
    out.code(2);
    assert!(out.stderr.contains("invalid log filter"), "{out:#?}");
}
