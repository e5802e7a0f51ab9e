//! Secrets never reach stdout or stderr, whatever the path: parse errors quoting a malformed
//! value, `--help` showing variables, check lines, NDJSON events, progress lines, trace logs,
//! job errors.

use crate::support::{Output, closed_port, stackctl};

const SECRET: &str = "S3cretPW";

#[track_caller]
fn assert_hidden(out: &Output, what: &str) {
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "a secret leaked ({what}):\n{out:#?}"
    );
}

#[test]
fn malformed_values_are_quoted_without_their_credentials() {
    let bad_port = format!("http://user:{SECRET}@127.0.0.1:99999/");
    let mongo = format!("mongodb://u:{SECRET}@host:99999999");
    let url_flag = format!("http://u:{SECRET}@h:99999");
    let cases: Vec<Vec<&str>> = vec![
        vec!["check", "http", &bad_port],
        vec!["wait", &bad_port],
        vec!["wait", "tcp://127.0.0.1:1", &bad_port],
        vec!["check", "rocketchat", "--url", &url_flag],
        vec!["check", "mongo", "--uri", &mongo],
        vec!["init", "replica-set", "--uri", &mongo, "--member", "m:1"],
        vec![
            "init",
            "rocketchat-admin",
            "--url",
            &url_flag,
            "--password-env",
            "X",
        ],
        // A password holding `/` makes the URL parser read it as a port: still masked.
        vec!["check", "http", "http://user:pa/S3cretPW@127.0.0.1/"],
    ];
    for args in &cases {
        let out = stackctl(args).output();
        assert!(matches!(out.code, Some(1 | 2)), "{out:#?}");
        assert!(out.stderr.contains("***"), "masked, not dropped: {out:#?}");
        assert_hidden(&out, &args.join(" "));
    }
}

#[test]
fn malformed_values_from_variables_are_masked_too() {
    let out = stackctl(["check", "rocketchat"])
        .env(
            "STACKCTL_ROCKETCHAT_URL",
            format!("http://u:{SECRET}@h:99999"),
        )
        .output();
    out.code(1);
    assert_hidden(&out, "STACKCTL_ROCKETCHAT_URL");
    let out = stackctl(["check", "mongo"])
        .env("STACKCTL_MONGO_URI", format!("mongodb://u:{SECRET}@h:0"))
        .output();
    out.code(1);
    assert_hidden(&out, "STACKCTL_MONGO_URI");
}

#[test]
fn header_values_are_never_echoed() {
    for header in [
        format!("Authorization Bearer {SECRET}"),
        format!("Authorization: Bearer {SECRET}\u{1}"),
        format!("Bad Name: {SECRET}"),
    ] {
        let out = stackctl(["check", "http", "http://127.0.0.1:1/", "-H", &header]).output();
        out.code(1);
        assert_hidden(&out, &header);
    }
}

/// Every subcommand's `--help`, with every variable stackctl reads holding a credential —
/// except those declared unable to hold one (`SHOWN_IN_HELP`), which hold ordinary values.
#[test]
fn help_never_shows_a_credential_held_in_a_variable() {
    let tree = stackctl::cli::command();
    let mut paths = Vec::new();
    collect_paths(&tree, &mut Vec::new(), &mut paths);
    assert!(paths.len() > 10, "the command tree was walked: {paths:?}");
    let mut variables = Vec::new();
    collect_env(&tree, &mut variables);
    assert!(variables.contains(&"STACKCTL_MONGO_URI".to_owned()));
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let mut run = stackctl(&args);
        for var in &variables {
            if stackctl::env_vars::SHOWN_IN_HELP.contains(&var.as_str()) {
                run = run.env(var, "1");
            } else {
                let secret = format!("mongodb://user:{SECRET}@db:27017/?token={SECRET}");
                run = run.env(var, &secret);
            }
        }
        let out = run.output();
        out.code(0);
        assert_hidden(&out, &args.join(" "));
    }
}

fn collect_paths(command: &clap::Command, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in command.get_subcommands() {
        prefix.push(sub.get_name().to_owned());
        collect_paths(sub, prefix, out);
        prefix.pop();
    }
}

fn collect_env(command: &clap::Command, out: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if let Some(var) = arg.get_env() {
            let var = var.to_string_lossy().into_owned();
            if !out.contains(&var) {
                out.push(var);
            }
        }
    }
    for sub in command.get_subcommands() {
        collect_env(sub, out);
    }
}

#[test]
fn check_lines_events_progress_and_trace_logs_mask_credentials() {
    let port = closed_port();
    let url = format!("http://bot:{SECRET}@127.0.0.1:{port}/health?access_token={SECRET}&x=1");
    for extra in [&["--json"][..], &[][..], &["--log-level", "trace"][..]] {
        let mut args = extra.to_vec();
        args.extend(["check", "http", &url]);
        let out = stackctl(&args).output();
        out.code(1);
        assert!(out.stdout.contains("bot:***@"), "{out:#?}");
        assert!(out.stdout.contains("access_token=***"), "{out:#?}");
        assert_hidden(&out, "check http");

        let mut args = extra.to_vec();
        args.extend(["wait", "--timeout", "300ms", &url]);
        let out = stackctl(&args).output();
        out.code(3);
        assert_hidden(&out, "wait");
    }
    let out = stackctl([
        "--json",
        "check",
        "rocketchat",
        "--url",
        &format!("http://u:{SECRET}@127.0.0.1:{port}"),
    ])
    .output();
    out.code(1);
    assert_hidden(&out, "check rocketchat");
    let out = stackctl([
        "init",
        "rocketchat-admin",
        "--url",
        &format!("http://u:{SECRET}@127.0.0.1:{port}"),
        "--password-env",
        "PW",
        "--timeout",
        "300ms",
    ])
    .env("PW", "x")
    .output();
    out.code(3);
    assert_hidden(&out, "init rocketchat-admin");
    let out = stackctl([
        "--log-level",
        "trace",
        "check",
        "mongo",
        "--uri",
        &format!("mongodb://u:{SECRET}@127.0.0.1:{port}/?authSource=admin"),
        "--timeout",
        "300ms",
    ])
    .output();
    out.code(1);
    assert_hidden(&out, "check mongo");
}
