//! `check http` against real HTTP and HTTPS servers on loopback.

use std::time::Duration;

use crate::support::{closed_port, http, stackctl};

fn url(path: &str) -> String {
    use std::sync::OnceLock;
    static SERVER: OnceLock<std::net::SocketAddr> = OnceLock::new();
    let addr = SERVER.get_or_init(http::start);
    format!("http://{addr}{path}")
}

fn check(args: &[&str]) -> crate::support::Output {
    let mut all = vec!["check", "http"];
    all.extend_from_slice(args);
    stackctl(all).output()
}

#[test]
fn ok_status_is_healthy() {
    let target = url("/health");
    let out = check(&[&target]);
    out.code(0);
    assert!(
        out.one_line()
            .starts_with(&format!("http {target}: healthy (200 OK in ")),
        "{out:#?}"
    );
}

#[test]
fn unexpected_status_is_unhealthy() {
    let target = url("/down");
    let out = check(&[&target]);
    out.code(1);
    assert_eq!(
        out.one_line(),
        format!("http {target}: unhealthy: status 503 Service Unavailable, expected 200-399")
    );
    check(&[&target, "--status", "503"]).code(0);
    check(&[&target, "--status", "5xx"]).code(0);
    check(&[&target, "--status", "200,500-502"]).code(1);
}

#[test]
fn body_assertions() {
    let target = url("/health");
    check(&[&target, "--body-contains", "\"ok\""]).code(0);
    let out = check(&[&target, "--body-contains", "degraded"]);
    out.code(1);
    assert!(
        out.one_line()
            .ends_with("unhealthy: status 200 OK, but the body does not contain `degraded`")
    );
    check(&[&target, "--body-regex", r#""version":"8\.\d+""#]).code(0);
    check(&[&target, "--body-regex", "^nope"]).code(1);
}

#[test]
fn json_path_assertions() {
    let target = url("/health");
    check(&[
        &target,
        "--json-path",
        "status=ok",
        "--json-path",
        "checks.mongo.status=ok",
    ])
    .code(0);
    check(&[&target, "--json-path", "members[1]=2"]).code(0);
    let out = check(&[&target, "--json-path", "checks.mongo.status=down"]);
    out.code(1);
    assert!(
        out.one_line()
            .ends_with("but JSON `checks.mongo.status` is `ok`, expected `down`"),
        "{out:#?}"
    );
    let out = check(&[&url("/html"), "--json-path", "status=ok"]);
    out.code(1);
    assert!(out.one_line().contains("the body is not JSON"), "{out:#?}");
}

#[test]
fn redirects_are_judged_unless_followed() {
    let target = url("/redirect");
    check(&[&target]).code(0);
    let out = check(&[&target, "--status", "200"]);
    out.code(1);
    assert!(
        out.one_line()
            .ends_with("unhealthy: status 302 Found, expected 200")
    );
    let out = check(&[&target, "--status", "200", "--follow-redirects"]);
    out.code(0);
}

#[test]
fn headers_method_and_virtual_host() {
    check(&[&url("/token")]).code(1);
    check(&[&url("/token"), "--header", "X-Token: s3cret"]).code(0);
    check(&[&url("/submit")]).code(1);
    check(&[&url("/submit"), "--method", "post", "--status", "201"]).code(0);
    let out = check(&[&url("/host")]);
    out.code(1);
    let out = check(&[
        &url("/host"),
        "--host",
        "chat.example",
        "--body-contains",
        "vhost chat.example",
    ]);
    out.code(0);
    assert!(
        out.one_line().contains("(host chat.example): healthy"),
        "{out:#?}"
    );
}

#[test]
fn secret_header_values_and_credentials_never_print() {
    let with_credentials = url("/token").replace("http://", "http://bot:hunter2@");
    let out = check(&[&with_credentials, "--header", "X-Token: hunter2"]);
    out.code(1);
    assert!(
        !out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"),
        "{out:#?}"
    );
    assert!(out.one_line().contains("bot:***@"), "{out:#?}");
}

#[test]
fn refused_and_stalled_servers_are_unhealthy_within_the_timeout() {
    let out = check(&[&format!("http://127.0.0.1:{}/", closed_port())]);
    out.code(1);
    assert!(
        out.one_line().ends_with("unhealthy: connection refused"),
        "{out:#?}"
    );

    let out = check(&[&url("/stall"), "--timeout", "500ms"]);
    out.code(1);
    assert!(
        out.one_line()
            .ends_with("unhealthy: timed out after 500 ms"),
        "{out:#?}"
    );
    assert!(
        out.elapsed < Duration::from_secs(2),
        "hard timeout honoured: {:?}",
        out.elapsed
    );
}

#[test]
fn tls_verification_insecure_and_ca_file() {
    let (addr, pem) = http::start_tls();
    let target = format!("https://localhost:{}/", addr.port());
    let out = check(&[&target]);
    out.code(1);
    assert!(
        out.one_line()
            .contains("unhealthy: the server's certificate is self-signed and not trusted"),
        "{out:#?}"
    );

    check(&[&target, "--insecure", "--body-contains", "secure"]).code(0);

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    check(&[&target, "--ca-file", ca.to_str().unwrap()]).code(0);

    // An unusable CA file is a configuration error: one line, exit 1 under `check`.
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let out = check(&[&target, "--ca-file", bogus.to_str().unwrap()]);
    out.code(1);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.starts_with("error: CA file"), "{out:#?}");
    let out = check(&[&target, "--ca-file", "/nonexistent/ca.pem"]);
    out.code(1);
    assert_eq!(
        out.stderr.trim(),
        "error: cannot read CA file `/nonexistent/ca.pem`: no such file or directory"
    );
}
