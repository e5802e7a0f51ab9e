//! `check dns` and `wait dns://...` against a real DNS server (hickory-server) on loopback.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{Output, closed_port, dns, normalize, stackctl};

/// One server for the whole test binary; it only ever reads its zone.
fn server() -> SocketAddr {
    static SERVER: OnceLock<SocketAddr> = OnceLock::new();
    *SERVER.get_or_init(dns::start)
}

/// `stackctl check dns NAME --server <ours> EXTRA...`
fn check(name: &str, extra: &[&str]) -> Output {
    let server = server().to_string();
    let mut args = vec!["check", "dns", name, "--server", &server];
    args.extend_from_slice(extra);
    stackctl(args).output()
}

/// The line with durations and ports replaced, e.g.
/// `dns A db.test. @127.0.0.1:[PORT]: healthy (10.0.0.5 in [DURATION])`.
fn line(out: &Output) -> String {
    normalize(out.one_line())
}

#[test]
fn a_record_is_healthy() {
    let out = check("db.test.", &[]);
    out.code(0);
    assert_eq!(
        line(&out),
        "dns A db.test. @127.0.0.1:[PORT]: healthy (10.0.0.5, 10.0.0.6 in [DURATION])"
    );
    assert!(
        out.one_line().contains(&format!("@{}:", server())),
        "{out:#?}"
    );
    assert!(out.stderr.is_empty(), "{out:#?}");
}

#[test]
fn name_without_trailing_dot_resolves() {
    let out = check("db.test", &["--type", "a"]);
    out.code(0);
    assert_eq!(
        line(&out),
        "dns A db.test @127.0.0.1:[PORT]: healthy (10.0.0.5, 10.0.0.6 in [DURATION])"
    );
}

#[test]
fn expect_matches_any_of_the_records() {
    for expected in ["10.0.0.6", "10.0.0.5"] {
        let out = check("db.test.", &["--expect", expected]);
        out.code(0);
        assert_eq!(
            line(&out),
            "dns A db.test. @127.0.0.1:[PORT]: healthy (10.0.0.5, 10.0.0.6 in [DURATION])"
        );
    }
}

#[test]
fn expect_mismatch_is_unhealthy() {
    let out = check("db.test.", &["--expect", "10.0.0.7"]);
    out.code(1);
    assert_eq!(
        line(&out),
        "dns A db.test. @127.0.0.1:[PORT]: unhealthy: expected `10.0.0.7`, got 10.0.0.5, 10.0.0.6"
    );
    assert!(out.stderr.is_empty(), "{out:#?}");
}

#[test]
fn aaaa_record() {
    let out = check("v6.test.", &["--type", "AAAA", "--expect", "::1"]);
    out.code(0);
    assert_eq!(
        line(&out),
        "dns AAAA v6.test. @127.0.0.1:[PORT]: healthy (::1 in [DURATION])"
    );
}

#[test]
fn aaaa_asked_of_a_name_with_only_a_records() {
    let out = check("db.test.", &["--type", "aaaa"]);
    out.code(1);
    assert_eq!(
        line(&out),
        "dns AAAA db.test. @127.0.0.1:[PORT]: unhealthy: no AAAA record"
    );
}

#[test]
fn cname_record() {
    // The expected name matches without its trailing dot and regardless of case.
    let out = check("alias.test.", &["--type", "CNAME", "--expect", "DB.test"]);
    out.code(0);
    assert_eq!(
        line(&out),
        "dns CNAME alias.test. @127.0.0.1:[PORT]: healthy (db.test. in [DURATION])"
    );
}

#[test]
fn srv_record() {
    let out = check(
        "_mongo._tcp.test.",
        &["--type", "srv", "--expect", "0 5 27017 db.test."],
    );
    out.code(0);
    assert_eq!(
        line(&out),
        "dns SRV _mongo._tcp.test. @127.0.0.1:[PORT]: healthy (0 5 27017 db.test. in [DURATION])"
    );
}

#[test]
fn txt_record() {
    let out = check("txt.test.", &["--type", "TXT", "--expect", "v=stackctl1"]);
    out.code(0);
    assert_eq!(
        line(&out),
        "dns TXT txt.test. @127.0.0.1:[PORT]: healthy (v=stackctl1 in [DURATION])"
    );
}

#[test]
fn txt_mismatch_names_what_was_found() {
    let out = check("txt.test.", &["--type", "txt", "--expect", "v=stackctl2"]);
    out.code(1);
    assert_eq!(
        line(&out),
        "dns TXT txt.test. @127.0.0.1:[PORT]: unhealthy: expected `v=stackctl2`, got v=stackctl1"
    );
}

#[test]
fn missing_name_is_nxdomain() {
    let out = check("missing.test.", &[]);
    out.code(1);
    assert_eq!(
        line(&out),
        "dns A missing.test. @127.0.0.1:[PORT]: unhealthy: no such name (NXDOMAIN)"
    );
    assert!(out.stderr.is_empty(), "{out:#?}");
}

#[test]
fn silent_server_times_out() {
    let (_socket, silent) = dns::silent();
    let out = stackctl([
        "check",
        "dns",
        "db.test.",
        "--server",
        &silent.to_string(),
        "--timeout",
        "1s",
    ])
    .output();
    out.code(1);
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}:\n{out:#?}",
        out.elapsed
    );
    let line = out.one_line();
    assert!(
        line.starts_with(&format!("dns A db.test. @{silent}: unhealthy: ")),
        "{out:#?}"
    );
    assert!(
        line.contains("in time") || line.contains("timed out"),
        "{out:#?}"
    );
}

#[test]
fn closed_port_is_unhealthy_quickly() {
    let port = closed_port();
    let out = stackctl([
        "check",
        "dns",
        "db.test.",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "1s",
    ])
    .output();
    out.code(1);
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}:\n{out:#?}",
        out.elapsed
    );
    assert!(
        out.one_line()
            .starts_with(&format!("dns A db.test. @127.0.0.1:{port}: unhealthy: ")),
        "{out:#?}"
    );
}

#[test]
fn unknown_record_type_is_a_usage_error_exiting_one() {
    let out = check("db.test.", &["--type", "MX"]);
    out.code(1);
    assert!(out.stdout.is_empty(), "{out:#?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:#?}");
    assert!(
        lines[0].starts_with("error: invalid value `MX` for `--type"),
        "{out:#?}"
    );
    assert!(lines[0].contains("a, aaaa, cname, srv, txt"), "{out:#?}");
}

#[test]
fn json_output() {
    let server = server().to_string();
    let out = stackctl([
        "--json", "check", "dns", "v6.test.", "--type", "aaaa", "--server", &server,
    ])
    .output();
    out.code(0);
    let line: serde_json::Value = serde_json::from_str(out.one_line()).unwrap();
    assert_eq!(line["check"], "dns");
    assert_eq!(line["target"], format!("AAAA v6.test. @{server}"));
    assert_eq!(line["healthy"], true);
}

#[test]
fn wait_for_a_name_that_resolves() {
    let target = format!("dns://v6.test.?type=AAAA&expect=::1&server={}", server());
    let out = stackctl(["wait", "--timeout", "5s", &target]).output();
    out.code(0);
    assert!(out.elapsed < Duration::from_secs(5), "{out:#?}");
}

#[test]
fn wait_for_a_srv_record_with_expect() {
    let target = format!(
        "dns://_mongo._tcp.test?type=srv&expect=0%205%2027017%20db.test&server={}",
        server()
    );
    stackctl(["wait", "--timeout", "5s", &target])
        .output()
        .code(0);
}

#[test]
fn wait_for_a_missing_name_times_out() {
    let target = format!("dns://missing.test.?server={}", server());
    let out = stackctl(["wait", "--timeout", "1s", &target]).output();
    out.code(3);
    assert!(out.stdout.is_empty(), "{out:#?}");
    assert!(
        out.elapsed < Duration::from_secs(4),
        "took {:?}:\n{out:#?}",
        out.elapsed
    );
    assert!(
        out.stderr
            .contains("error: timed out after 1s; 1 target never became ready"),
        "{out:#?}"
    );
    // The summary names the target and its last reason.
    assert!(out.stderr.contains("\n  dns://missing.test.: "), "{out:#?}");
}

#[test]
fn wait_for_an_unexpected_value_times_out() {
    let target = format!("dns://db.test?expect=10.9.9.9&server={}", server());
    let out = stackctl(["wait", "--timeout", "1s", &target]).output();
    out.code(3);
    assert!(
        out.stderr
            .contains("\n  dns://db.test: expected `10.9.9.9`, got 10.0.0.5, 10.0.0.6 (after "),
        "{out:#?}"
    );
}

/// Every record type against the zone, as a reviewable transcript.
#[test]
fn transcript() {
    let cases: &[(&str, &[&str], i32)] = &[
        ("db.test.", &[], 0),
        ("db.test.", &["--expect", "10.0.0.6"], 0),
        ("db.test.", &["--expect", "10.0.0.7"], 1),
        ("db.test.", &["--type", "aaaa"], 1),
        ("v6.test.", &["--type", "aaaa", "--expect", "::1"], 0),
        ("alias.test.", &["--type", "cname"], 0),
        (
            "alias.test.",
            &["--type", "cname", "--expect", "v6.test."],
            1,
        ),
        ("_mongo._tcp.test.", &["--type", "srv"], 0),
        ("txt.test.", &["--type", "txt"], 0),
        ("db.test.", &["--type", "MX"], 1),
    ];
    let mut transcript = String::new();
    for (name, extra, code) in cases {
        let out = check(name, extra);
        out.code(*code);
        let command = [
            &["check", "dns", name, "--server", "127.0.0.1:[PORT]"],
            *extra,
        ]
        .concat();
        let command = command.join(" ");
        write!(
            transcript,
            "$ stackctl {command}\n{}{}",
            out.stdout, out.stderr
        )
        .unwrap();
    }
    insta::assert_snapshot!(normalize(&transcript));
}
