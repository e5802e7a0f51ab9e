//! The fuzz targets: one function per parser, each asserting what must hold for any input.
//!
//! Shared by the stable fuzzer of the test suite (`tests/fuzz.rs`) and the coverage-guided
//! libFuzzer build (`fuzz/`), which includes this file by path: keep it free of anything but
//! `stackctl` and the crates both depend on.

#![allow(dead_code)]

use std::str::FromStr;
use std::time::Duration;

use stackctl::check::http::{Header, JsonAssertion, StatusSpec};
use stackctl::check::{Outcome, Report};
use stackctl::cli::values;
use stackctl::target::{HostPort, Target};

pub type Run = fn(&[u8]) -> Signature;

/// What an input led to, for the stable fuzzer's novelty feedback: the words of an error
/// message that do not come from the input, or `ok`.
pub type Signature = String;

pub const TARGETS: &[(&str, Run)] = &[
    ("duration", duration),
    ("host-port", host_port),
    ("target", target),
    ("http-url", http_url),
    ("header", header),
    ("status-spec", status_spec),
    ("json-path", json_path),
    ("dns-server", dns_server),
    ("method", method),
    ("redact", redact),
    ("check-line", check_line),
    ("fit", fit),
    ("cert-names", cert_names),
    ("stack-file", stack_file),
    ("catalog", catalog),
];

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

fn shape(input: &str, result: Result<(), String>) -> Signature {
    match result {
        Ok(()) => "ok".to_owned(),
        // The message's own words, not the parts of the input it quotes: a new kind of
        // refusal counts as new, a new spelling of the same one does not.
        Err(message) => {
            // As parsers see it: URL parsing drops tabs and newlines, some messages lowercase.
            let input: String = input.chars().filter(|c| !c.is_control()).collect();
            let input = input.to_lowercase();
            message
                .split_whitespace()
                .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphabetic()))
                .filter(|w| {
                    w.len() >= 3 && w.chars().all(|c| c.is_ascii_lowercase()) && !input.contains(*w)
                })
                .take(8)
                .collect::<Vec<_>>()
                .join(" ")
        }
    }
}

fn duration(input: &[u8]) -> Signature {
    let text = text(input);
    let result = values::duration(&text);
    if let Ok(d) = result {
        assert!(d <= stackctl::limits::MAX_DURATION, "{d:?} accepted");
    }
    shape(&text, result.map(drop))
}

fn host_port(input: &[u8]) -> Signature {
    let text = text(input);
    let result = HostPort::from_str(&text);
    if let Ok(hp) = &result {
        assert_ne!(hp.port, 0);
        let again: HostPort = hp.to_string().parse().expect("its own spelling parses");
        assert_eq!(&again, hp, "round trip");
    }
    shape(&text, result.map(drop))
}

fn target(input: &[u8]) -> Signature {
    let text = text(input);
    let result = Target::from_str(&text);
    if let Ok(t) = &result {
        let shown = t.to_string();
        let again = Target::from_str(&shown);
        assert!(again.is_ok(), "`{shown}` (shown) does not parse: {again:?}");
    }
    shape(&text, result.map(drop))
}

fn http_url(input: &[u8]) -> Signature {
    let text = text(input);
    let result = values::http_url(&text);
    if let Err(message) = &result {
        // A password in a value that did not parse is masked before it is shown.
        assert!(!message.contains('\n') || text.contains('\n'));
    }
    shape(&text, result.map(drop))
}

/// A header's value is never echoed: whatever the value, a refusal reads the same as it does
/// for a harmless value of the same length.
fn header(input: &[u8]) -> Signature {
    let text = text(input);
    let result = Header::from_str(&text);
    if let (Err(message), Some((name, value))) = (&result, text.split_once(':')) {
        let harmless = format!("{name}:{}", "x".repeat(value.len()));
        if let Err(other) = Header::from_str(&harmless) {
            assert_eq!(message, &other, "the message depends on the value");
        }
    }
    shape(&text, result.map(drop))
}

fn status_spec(input: &[u8]) -> Signature {
    let text = text(input);
    let result = StatusSpec::from_str(&text);
    if let Ok(spec) = &result {
        assert_eq!(spec.to_string(), text);
        for code in [100, 200, 204, 302, 404, 503, 599] {
            let _ = spec.accepts(reqwest::StatusCode::from_u16(code).unwrap());
        }
    }
    shape(&text, result.map(drop))
}

fn json_path(input: &[u8]) -> Signature {
    let text = text(input);
    let result = JsonAssertion::from_str(&text);
    if let Ok(assertion) = &result {
        let bodies = [
            serde_json::json!({"status": "ok", "checks": {"mongo": {"status": "ok"}}, "list": [1, 2, [3]]}),
            serde_json::json!([[[[]]]]),
            serde_json::json!(null),
        ];
        for body in &bodies {
            let _ = assertion.verify(body);
        }
    }
    shape(&text, result.map(drop))
}

fn dns_server(input: &[u8]) -> Signature {
    let text = text(input);
    shape(&text, values::dns_server(&text).map(drop))
}

fn method(input: &[u8]) -> Signature {
    let text = text(input);
    shape(&text, values::method(&text).map(drop))
}

/// Whatever surrounds it, a URL's password never survives redaction.
fn redact(input: &[u8]) -> Signature {
    const PASSWORD: &str = "Zq9pw8SECRETx";
    let text = text(input);
    let middle = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(text.len(), |(i, _)| i);
    let (before, after) = text.split_at(middle);
    let host: String = after
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '`' | '\'' | '"' | '<' | '>' | '@'))
        .collect();
    let line = format!("{before} http://bot:{PASSWORD}@{host} {after}");
    let masked = stackctl::redact::text(&line);
    let outside = [before, host.as_str(), after]
        .iter()
        .map(|part| part.matches(PASSWORD).count())
        .sum::<usize>();
    assert!(
        masked.matches(PASSWORD).count() <= outside,
        "the password survived: {masked}"
    );
    assert_eq!(
        stackctl::redact::text(&masked),
        masked,
        "redaction is stable"
    );
    if let Ok(url) = url::Url::parse(&text) {
        if let Some(pw) = url.password().filter(|p| p.len() >= 4 && *p != "***") {
            let shown = stackctl::redact::url(&url);
            let before = url.as_str().matches(pw).count();
            assert!(shown.matches(pw).count() < before, "{shown}");
        }
    }
    "ok".to_owned()
}

/// Whatever the target and the reason, a check prints one line of at most 4,096 bytes.
fn check_line(input: &[u8]) -> Signature {
    let text = text(input);
    let cut = text
        .char_indices()
        .nth(text.chars().count() / 3)
        .map_or(0, |(i, _)| i);
    let (target, reason) = text.split_at(cut);
    // Up to about 16 KiB of target and reason: far past the 4 KiB line.
    let repeat = 1 + input
        .first()
        .map_or(0, |b| (usize::from(*b) * 40).min(16_384 / (text.len() + 1)));
    for outcome in [
        Outcome::Healthy(reason.repeat(repeat)),
        Outcome::Unhealthy(reason.repeat(repeat)),
    ] {
        let report = Report {
            kind: "rocketchat-room",
            target: target.repeat(repeat),
            outcome,
            elapsed: Duration::from_millis(u64::from(input.len() as u32)),
        };
        let line = report.line();
        assert!(
            line.len() < stackctl::limits::LINE_LIMIT && !line.contains('\n'),
            "{}",
            line.len()
        );
        let json = report.json();
        assert!(
            json.len() < stackctl::limits::LINE_LIMIT && !json.contains('\n'),
            "{}",
            json.len()
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(parsed["check"], "rocketchat-room");
    }
    "ok".to_owned()
}

fn fit(input: &[u8]) -> Signature {
    let text = text(input);
    let max = input.first().map_or(0, |b| usize::from(*b));
    let cut = stackctl::limits::fit(&text, max);
    assert!(cut.len() <= max, "{} > {max}", cut.len());
    if cut.len() < text.len() && max >= 3 {
        let kept = cut.strip_suffix('…').expect("a cut ends in `…`");
        assert!(text.starts_with(kept));
    }
    let printable = stackctl::limits::printable(&text);
    assert!(!printable.chars().any(char::is_control));
    "ok".to_owned()
}

fn cert_names(input: &[u8]) -> Signature {
    let names = stackctl::tls::common_names(input);
    format!("{}", names.len().min(3))
}

/// The stack loader on any file: it never panics or hangs (anchors, nesting and sizes are
/// bounded), a refusal is a message that names the file, and a stack it accepts is one whose
/// dependencies all exist and whose levels hold every service once.
fn stack_file(input: &[u8]) -> Signature {
    use std::collections::{BTreeMap, BTreeSet};
    // One directory per thread: the loader reads files, and tests run in parallel.
    thread_local! {
        static DIR: std::path::PathBuf = {
            let dir = std::env::temp_dir().join(format!(
                "stackctl-fuzz-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).expect("a scratch directory");
            dir
        };
    }
    let dir = DIR.with(Clone::clone);
    let file = dir.join("compose.yml");
    std::fs::write(&file, input).expect("the input is written");
    let options = stackctl::stack::LoadOptions {
        files: vec![file],
        project: Some("fuzz".to_owned()),
        env_file: None,
        environment: BTreeMap::new(),
        cwd: dir,
    };
    match stackctl::stack::open(&options, &BTreeSet::new()) {
        Ok(stack) => {
            for service in stack.services.values() {
                for dep in service.depends_on.keys() {
                    assert!(
                        stack.services.contains_key(dep),
                        "`{}` depends on `{dep}`, which is not in the stack",
                        service.name
                    );
                }
            }
            let levels = stackctl::engine::plan::levels(&stack);
            let placed: usize = levels.iter().map(Vec::len).sum();
            assert_eq!(placed, stack.services.len(), "every service has one level");
            format!("ok {}", stack.services.len().min(3))
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("compose.yml"),
                "a refusal names the file: {message}"
            );
            shape(&text(input), Err(message))
        }
    }
}

/// A check catalog: no panic or hang; a refusal is a usage error naming `checks.yml:LINE`; an
/// accepted catalog has unique names and bounded, non-zero timings.
fn catalog(input: &[u8]) -> Signature {
    thread_local! {
        static DIR: std::path::PathBuf = {
            let dir = std::env::temp_dir().join(format!(
                "stackctl-fuzz-{}-catalog-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).expect("a scratch directory");
            dir
        };
    }
    let file = DIR.with(|dir| dir.join("checks.yml"));
    std::fs::write(&file, input).expect("the input is written");
    let vars = std::collections::BTreeMap::from([("HOST".to_owned(), "mongo".to_owned())]);
    match stackctl::catalog::load(&file, &vars) {
        Ok(catalog) => {
            let names: std::collections::BTreeSet<_> =
                catalog.checks.iter().map(|c| &c.name).collect();
            assert_eq!(names.len(), catalog.checks.len(), "names are unique");
            for check in &catalog.checks {
                assert!(!check.timeout.is_zero() && !check.interval.is_zero());
                assert!(check.retries >= 1);
            }
            format!("ok {}", catalog.checks.len().min(3))
        }
        Err(e) => {
            let message = e.message().to_owned();
            assert_eq!(
                e.exit_status(),
                stackctl::exit::ExitStatus::Usage,
                "{message}"
            );
            assert!(
                message.starts_with("checks.yml:") || message.starts_with("cannot read"),
                "a refusal names the file and line: {message}"
            );
            shape(&text(input), Err(message))
        }
    }
}
