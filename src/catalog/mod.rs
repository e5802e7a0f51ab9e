//! Check catalogs (`checks/*.yml`): what "healthy" means for a whole stack, one entry per
//! check, each a `stackctl check` command line or a target URL, optionally run from inside a
//! service's network namespace (`from:`). Read by `verify` (once) and `serve` (on intervals).
//! The format is documented in `checks/README.md`; `checks/catalog.schema.json` is its JSON
//! Schema for editors.

pub mod report;
pub mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::commands::check::CheckCommand;
use crate::error::Error;
use crate::stack::position::{Position, check_text, locate};
use crate::stack::syntax_duration;

/// The largest catalog read: far above any real one, small enough to refuse `/dev/zero`.
const MAX_BYTES: u64 = 1 << 20;

/// A catalog, read and checked.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub file: PathBuf,
    /// The compose project whose services `from:` names (`project:`, else `-p`).
    pub project: Option<String>,
    pub checks: Vec<Entry>,
    /// `depends:`: each service and the services it needs (`rocketchat: [mongo]`). `serve`
    /// groups alerts by it: one alert for the service at the root, its dependents listed as
    /// affected.
    pub depends: BTreeMap<String, Vec<String>>,
    /// `maintenance:`: planned windows (alerts muted, checks still run and recorded).
    pub maintenance: Vec<Maintenance>,
    /// The text as read, variables substituted (what a check run elsewhere is handed, `$`
    /// written `$$` so that it reads back the same).
    pub text: String,
}

/// A planned maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    /// The services it covers; empty: all of them.
    pub services: Vec<String>,
    /// Unix milliseconds.
    pub starts_at: i64,
    pub ends_at: i64,
    pub message: String,
}

/// How bad a failing check is: a critical one fails `verify` and `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
}

/// What to run.
#[derive(Debug, Clone)]
pub enum What {
    /// `stackctl check` arguments, e.g. `["mongo", "--uri", "mongodb://mongo:27017"]`.
    Command(Vec<String>),
    /// A target URL as `wait` and `probe` take them (`tcp://`, `http(s)://`, `dns://`,
    /// `mongodb://`, `rocketchat+http(s)://`).
    Target(String),
}

/// One check of the catalog.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// The line of the entry in the file.
    pub line: usize,
    pub what: What,
    /// The service whose network namespace it runs from (a target URL only).
    pub from: Option<String>,
    /// The line of its `from:` (the entry's line when it has none).
    pub from_line: usize,
    /// The service it is about (`service:`, else the host it checks).
    pub service: String,
    pub timeout: Duration,
    /// `serve`: how often it runs.
    pub interval: Duration,
    /// `serve`: failures in a row before it counts as down (flapping is not an outage).
    pub retries: u32,
    pub severity: Severity,
    /// Condition on the result: it must pass within this long.
    pub max_latency: Option<Duration>,
    pub tags: Vec<String>,
}

impl Entry {
    /// The kind of check (`tcp`, `http`, `mongo`, `rocketchat-room`...).
    #[must_use]
    pub fn kind(&self) -> String {
        match &self.what {
            What::Command(args) => args.first().cloned().unwrap_or_default(),
            What::Target(url) => {
                let scheme = url.split_once("://").map_or("", |(s, _)| s);
                match scheme {
                    "https" => "http",
                    "mongodb" => "mongo",
                    s if s.starts_with("rocketchat") => "rocketchat",
                    s => s,
                }
                .to_owned()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    project: Option<String>,
    #[serde(default)]
    defaults: RawDefaults,
    checks: Vec<RawEntry>,
    #[serde(default)]
    depends: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    maintenance: Vec<RawMaintenance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    #[serde(default)]
    services: Vec<String>,
    start: String,
    /// An end time, or `duration`.
    end: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    timeout: Option<String>,
    interval: Option<String>,
    retries: Option<u32>,
    severity: Option<Severity>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCheck {
    Line(String),
    Args(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    check: RawCheck,
    from: Option<String>,
    service: Option<String>,
    timeout: Option<String>,
    interval: Option<String>,
    retries: Option<u32>,
    severity: Option<Severity>,
    max_latency: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// `stackctl check ...` as clap parses it: the same options, the same errors.
#[derive(Parser)]
#[command(name = "check", no_binary_name = true)]
struct CheckLine {
    #[command(subcommand)]
    kind: CheckCommand,
}

/// Parses a catalog entry's command as `stackctl check` would.
///
/// # Errors
/// clap's message, first line.
pub fn parse_command(args: &[String]) -> Result<CheckCommand, String> {
    CheckLine::try_parse_from(args)
        .map(|line| line.kind)
        .map_err(|e| {
            let text = e.to_string();
            text.lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        })
}

/// `at` is a line, or a [`Position`] (`line:column`).
pub(crate) fn problem(
    file: &Path,
    at: impl std::fmt::Display,
    message: impl std::fmt::Display,
    hint: &str,
) -> Error {
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let error = Error::usage(format!("{name}:{at}: {message}"));
    if hint.is_empty() {
        error
    } else {
        error.with_hint(hint.to_owned())
    }
}

/// Substitutes `${VAR}`s line by line (so that errors keep their line), comments left alone.
fn interpolate(file: &Path, text: &str, vars: &BTreeMap<String, String>) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut unset = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') || !line.contains('$') {
            out.push_str(line);
        } else {
            let done = crate::stack::interpolate_text(line, vars, &mut unset).map_err(|e| {
                problem(
                    file,
                    index + 1,
                    e,
                    "set the variable in the environment or in `.env` beside the catalog; `$$` is a literal `$`",
                )
            })?;
            if done.contains('\n') {
                return Err(problem(
                    file,
                    index + 1,
                    "a variable's value spans lines",
                    "a catalog takes one-line values",
                ));
            }
            out.push_str(&done);
        }
        out.push('\n');
    }
    for name in unset {
        tracing::warn!(file = %file.display(), "variable `{name}` is not set; it stands for an empty string");
    }
    Ok(out)
}

/// Reads, interpolates and checks a catalog. `vars` are the environment over the `.env`
/// beside the file.
///
/// # Errors
/// A usage error (exit 2) naming `file:line`, what was expected, and a hint.
pub fn load(file: &Path, vars: &BTreeMap<String, String>) -> Result<Catalog, Error> {
    let bytes = crate::limits::read_file(file, MAX_BYTES).map_err(|e| {
        Error::usage(format!(
            "cannot read the catalog `{}`: {}",
            file.display(),
            crate::reason::io_reason(&e)
        ))
        .with_hint("pass the catalog with `-c FILE` (e.g. `checks/chat.yml`)")
    })?;
    let text =
        check_text(bytes).map_err(|(at, message, hint)| problem(file, at, message, &hint))?;
    parse(file, &text, vars)
}

/// Interpolates and checks a catalog's text; `file` names it in messages.
///
/// # Errors
/// A usage error (exit 2) naming `file:line[:column]`, what was expected, and a hint.
pub fn parse(file: &Path, text: &str, vars: &BTreeMap<String, String>) -> Result<Catalog, Error> {
    let text = interpolate(file, text, vars)?;
    let raw: RawCatalog = yaml_serde::from_str(&text).map_err(|e| {
        // yaml_serde places a value's error (a wrong type, an unknown field) at that value.
        let at = Position::of_error(&e).map_or_else(|| "1".to_owned(), |p| p.to_string());
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        let hint = if message.contains("unknown field") {
            "an entry takes `name`, `check`, `from`, `service`, `timeout`, `interval`, `retries`, `severity`, `max_latency` and `tags` (see checks/README.md)"
        } else if message.contains("did not match any variant") {
            "`check` is a target URL (`tcp://mongo:27017`), a command line (`mongo --uri mongodb://mongo:27017`) or a list of its words"
        } else {
            "see checks/README.md for the format"
        };
        problem(file, at, message, hint)
    })?;
    // The position of the value at a key path, for checks made after parsing: the parser
    // finds it again (one parse per problem, and loading stops at the first).
    let at = |path: &[&str]| locate(&text, path).map_or_else(|| "1".to_owned(), |p| p.to_string());
    let item = |index: usize| format!("[{index}]");
    let duration = |path: &[&str], text: Option<&String>, default: Duration| match text {
        None => Ok(default),
        Some(t) => {
            let key = path.last().copied().unwrap_or_default();
            syntax_duration(t)
                .map_err(|e| problem(file, at(path), format!("`{key}`: {e}"), ""))
                .and_then(|d| {
                    if d.is_zero() {
                        Err(problem(
                            file,
                            at(path),
                            format!("`{key}` must be above 0"),
                            "",
                        ))
                    } else {
                        Ok(d)
                    }
                })
        }
    };
    let default_timeout = duration(
        &["defaults", "timeout"],
        raw.defaults.timeout.as_ref(),
        Duration::from_secs(5),
    )?;
    let default_interval = duration(
        &["defaults", "interval"],
        raw.defaults.interval.as_ref(),
        Duration::from_secs(30),
    )?;
    let mut checks = Vec::new();
    let mut names = BTreeSet::new();
    // Where each entry starts, for `Entry::line`: an index of the text built once, since
    // finding every entry with the parser would cost one parse per entry.
    let lines = crate::stack::LineIndex::new(&text);
    for (index, entry) in raw.checks.into_iter().enumerate() {
        let item = item(index);
        let at = |key: &str| at(&["checks", &item, key]);
        let line = lines
            .line_of(&["checks", item.as_str()])
            .or_else(|| lines.line_of(&["checks"]))
            .unwrap_or(1);
        if entry.name.trim().is_empty() {
            return Err(problem(file, at("name"), "a check needs a `name`", ""));
        }
        if !names.insert(entry.name.clone()) {
            return Err(problem(
                file,
                at("name"),
                format!("two checks are named `{}`", entry.name),
                "names identify checks in reports and metrics; make them unique",
            ));
        }
        let what = match entry.check {
            RawCheck::Line(text) if text.contains("://") && !text.trim().contains(' ') => {
                What::Target(text.trim().to_owned())
            }
            RawCheck::Line(text) => What::Command(shlex::split(&text).ok_or_else(|| {
                problem(file, at("check"), "`check` has an unterminated quote", "")
            })?),
            RawCheck::Args(args) => What::Command(args),
        };
        match &what {
            What::Target(url) => {
                url.parse::<crate::target::Target>().map_err(|e| {
                    problem(
                        file,
                        at("check"),
                        format!("check `{}`: {e}", entry.name),
                        "",
                    )
                })?;
            }
            What::Command(args) => {
                if entry.from.is_some() {
                    return Err(problem(
                        file,
                        at("from"),
                        format!(
                            "check `{}`: `from` runs a target URL, not a command",
                            entry.name
                        ),
                        "write the check as a URL (`tcp://mongo:27017`, `mongodb://mongo:27017/?replicaSet=rs0`, `rocketchat+http://rocketchat:3000`...), or drop `from`",
                    ));
                }
                parse_command(args).map_err(|e| {
                    problem(
                        file,
                        at("check"),
                        format!("check `{}`: {e}", entry.name),
                        "the command is what follows `stackctl check`, e.g. `tcp mongo:27017`; `stackctl check --help` lists the kinds",
                    )
                })?;
            }
        }
        let path = |key| ["checks", item.as_str(), key];
        let timeout = duration(&path("timeout"), entry.timeout.as_ref(), default_timeout)?;
        let interval = duration(&path("interval"), entry.interval.as_ref(), default_interval)?;
        let max_latency = entry
            .max_latency
            .as_ref()
            .map(|t| duration(&path("max_latency"), Some(t), Duration::ZERO))
            .transpose()?;
        let service = entry.service.unwrap_or_else(|| checked_host(&what));
        let from_line = lines
            .line_of(&["checks", item.as_str(), "from"])
            .unwrap_or(line);
        checks.push(Entry {
            name: entry.name,
            line,
            what,
            from: entry.from,
            from_line,
            service,
            timeout: timeout.min(crate::limits::MAX_DURATION),
            interval,
            retries: entry.retries.or(raw.defaults.retries).unwrap_or(1).max(1),
            severity: entry
                .severity
                .or(raw.defaults.severity)
                .unwrap_or(Severity::Critical),
            max_latency,
            tags: entry.tags,
        });
    }
    if checks.is_empty() {
        return Err(problem(
            file,
            at(&["checks"]),
            "the catalog has no checks",
            "add entries under `checks:`",
        ));
    }
    let mut maintenance = Vec::new();
    for (index, window) in raw.maintenance.into_iter().enumerate() {
        let item = item(index);
        let at = |key: &str| at(&["maintenance", &item, key]);
        let time = |key: &str, text: &str| {
            humantime::parse_rfc3339_weak(text)
                .map(unix_ms)
                .map_err(|e| {
                    problem(
                        file,
                        at(key),
                        format!("`{key}`: `{text}` is not a time: {e}"),
                        "write an RFC 3339 time in UTC, e.g. `2026-12-24T22:00:00Z`",
                    )
                })
        };
        let starts_at = time("start", &window.start)?;
        let ends_at = match (&window.end, &window.duration) {
            (Some(end), None) => time("end", end)?,
            (None, Some(d)) => {
                let path = ["maintenance", item.as_str(), "duration"];
                starts_at
                    + i64::try_from(duration(&path, Some(d), Duration::ZERO)?.as_millis())
                        .unwrap_or(i64::MAX / 2)
            }
            _ => {
                return Err(problem(
                    file,
                    at("start"),
                    "a maintenance window needs one of `end` and `duration`",
                    "e.g. `duration: 2h`",
                ));
            }
        };
        if ends_at <= starts_at {
            return Err(problem(
                file,
                at("end"),
                "a maintenance window must end after it starts",
                "",
            ));
        }
        maintenance.push(Maintenance {
            services: window.services,
            starts_at,
            ends_at,
            message: window.message,
        });
    }
    for (service, needs) in &raw.depends {
        if needs.iter().any(|n| n == service) {
            return Err(problem(
                file,
                at(&["depends", service]),
                format!("`{service}` depends on itself"),
                "`depends:` maps a service to the services it needs",
            ));
        }
    }
    Ok(Catalog {
        file: file.to_path_buf(),
        project: raw.project,
        checks,
        depends: raw.depends,
        maintenance,
        text: text.replace('$', "$$"),
    })
}

/// Unix milliseconds of a system time (0 before 1970).
#[must_use]
pub fn unix_ms(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Every host a check names: its target's hosts, or those of a command's URL, `HOST:PORT` and
/// `dns NAME` words.
#[must_use]
pub fn hosts(entry: &Entry) -> Vec<String> {
    hosts_of(&entry.what)
}

fn hosts_of(what: &What) -> Vec<String> {
    let (words, dns): (Vec<&str>, bool) = match what {
        What::Target(url) => (vec![url.as_str()], false),
        What::Command(args) => (
            args.iter().skip(1).map(String::as_str).collect(),
            args.first().is_some_and(|kind| kind == "dns"),
        ),
    };
    let mut out = Vec::new();
    for (index, word) in words.iter().enumerate() {
        if word.contains("://") {
            if let Ok(target) = word.parse::<crate::target::Target>() {
                out.extend(target.hosts());
            }
        } else if let Ok(address) = word.parse::<crate::target::HostPort>() {
            out.push(address.host);
        } else if index == 0 && dns && !word.starts_with('-') {
            out.push(word.trim_end_matches('.').to_owned());
        }
    }
    out
}

/// The host a check is about: the first it names.
fn checked_host(what: &What) -> String {
    hosts_of(what).into_iter().next().unwrap_or_default()
}

/// The variables a catalog sees: the `.env` beside it, overridden by the environment.
#[must_use]
pub fn variables(file: &Path) -> BTreeMap<String, String> {
    let mut vars = file
        .parent()
        .map(|dir| dir.join(".env"))
        .and_then(|env| crate::limits::read_text(&env, MAX_BYTES).ok())
        .and_then(|text| crate::stack::parse_dotenv(&text).ok())
        .unwrap_or_default();
    // `std::env::vars` panics on a variable that is not UTF-8: such a one cannot be
    // interpolated into a catalog anyway, so it is skipped.
    vars.extend(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Catalog, Error> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("checks.yml");
        std::fs::write(&file, text).unwrap();
        let vars = BTreeMap::from([("HOST".to_owned(), "mongo".to_owned())]);
        load(&file, &vars)
    }

    #[test]
    fn entries_take_urls_command_lines_and_lists() {
        let catalog = load_text(
            "project: demo\ndefaults:\n  timeout: 2s\nchecks:\n  - name: tcp\n    check: tcp://${HOST}:27017\n    from: bot\n  - name: mongo\n    check: mongo --uri mongodb://${HOST}:27017 --replica-set rs0\n    severity: warning\n    max_latency: 200ms\n  - name: http\n    check: [http, \"http://web:80/\", --status, 2xx]\n    timeout: 1s\n",
        )
        .unwrap();
        assert_eq!(catalog.project.as_deref(), Some("demo"));
        let [tcp, mongo, http] = &catalog.checks[..] else {
            panic!("{catalog:?}")
        };
        assert!(matches!(&tcp.what, What::Target(u) if u == "tcp://mongo:27017"));
        assert_eq!(tcp.kind(), "tcp");
        assert_eq!(tcp.timeout, Duration::from_secs(2));
        assert_eq!(tcp.line, 5);
        assert_eq!(tcp.service, "mongo");
        assert_eq!(mongo.kind(), "mongo");
        assert_eq!(mongo.severity, Severity::Warning);
        assert_eq!(mongo.max_latency, Some(Duration::from_millis(200)));
        assert_eq!(mongo.line, 8);
        assert_eq!(http.timeout, Duration::from_secs(1));
        assert_eq!(http.line, 12);
        assert_eq!(http.service, "web");
        let flat =
            load_text("checks:\n- name: a\n  check: tcp://a:1\n\n- name: b\n  check: tcp://b:1\n")
                .unwrap();
        assert_eq!(
            flat.checks.iter().map(|c| c.line).collect::<Vec<_>>(),
            [2, 5]
        );
        assert_eq!(
            checked_host(&What::Command(vec!["tcp".into(), "db:5432".into()])),
            "db"
        );
        assert_eq!(
            checked_host(&What::Target(
                "mongodb://u:p@m1:27017,m2/?replicaSet=rs0".into()
            )),
            "m1"
        );
    }

    #[test]
    fn depends_and_maintenance_windows_are_read() {
        let catalog = load_text(
            "depends:\n  rocketchat: [mongo]\nmaintenance:\n  - services: [mongo]\n    start: 2026-12-24T22:00:00Z\n    duration: 2h\n    message: upgrade\n  - start: 2026-12-25T00:00:00Z\n    end: 2026-12-25T01:00:00Z\nchecks:\n  - name: a\n    check: tcp://mongo:1\n",
        )
        .unwrap();
        assert_eq!(catalog.depends["rocketchat"], ["mongo"]);
        let [upgrade, all] = &catalog.maintenance[..] else {
            panic!("{:?}", catalog.maintenance)
        };
        assert_eq!(upgrade.ends_at - upgrade.starts_at, 2 * 3_600_000);
        assert_eq!(upgrade.services, ["mongo"]);
        assert!(all.services.is_empty());
        assert_eq!(all.starts_at, 1_798_156_800_000);
        for (text, at, what) in [
            (
                "maintenance:\n  - start: soon\n    duration: 1h\nchecks:\n  - name: a\n    check: tcp://a:1\n",
                "checks.yml:2:12: ",
                "`start`: `soon` is not a time",
            ),
            (
                "maintenance:\n  - start: 2026-12-25T00:00:00Z\nchecks:\n  - name: a\n    check: tcp://a:1\n",
                "checks.yml:2:12: ",
                "needs one of `end` and `duration`",
            ),
            (
                "depends:\n  a: [a]\nchecks:\n  - name: a\n    check: tcp://a:1\n",
                "checks.yml:2:3: ",
                "`a` depends on itself",
            ),
        ] {
            let e = load_text(text).unwrap_err();
            assert!(e.message().starts_with(at), "{text}: {}", e.message());
            assert!(e.message().contains(what), "{text}: {}", e.message());
        }
    }

    #[test]
    fn mistakes_name_the_line_and_the_fix() {
        let cases = [
            (
                "checks:\n  - name: a\n    check: tcp://a:1\n    tiemout: 1s\n",
                "checks.yml:4:5: ",
                "unknown field `tiemout`",
            ),
            (
                "checks:\n  - name: a\n    check: tcp a:1\n  - name: b\n    check: mongo --urii x\n",
                "checks.yml:5:12: ",
                "unexpected argument '--urii'",
            ),
            (
                "checks:\n  - name: a\n    check: ftp://a:1\n",
                "checks.yml:3:12: ",
                "check `a`",
            ),
            (
                "checks:\n  - name: a\n    check: tcp a:1\n    from: bot\n",
                "checks.yml:4:11: ",
                "`from` runs a target URL",
            ),
            (
                "checks:\n  - name: a\n    check: tcp://a:1\n    timeout: soon\n",
                "checks.yml:4:14: ",
                "not a duration",
            ),
            (
                "checks:\n  - name: a\n    check: tcp://a:1\n  - name: a\n    check: tcp://b:1\n",
                "checks.yml:4:11: ",
                "two checks are named `a`",
            ),
            (
                "defaults:\n  timeout: 1s\n  interval: never\nchecks:\n  - name: a\n    check: tcp://a:1\n",
                "checks.yml:3:13: ",
                "`interval`: `never` is not a duration",
            ),
            (
                "checks:\n- {name: a, check: tcp://a:1}\n- {name: b,\n   check: tcp://b:1, max_latency: 0s}\n",
                "checks.yml:4:35: ",
                "`max_latency` must be above 0",
            ),
            (
                "checks:\n  - name: a\n    check: tcp://${NOPE:?set NOPE}:1\n",
                "checks.yml:3: ",
                "set NOPE",
            ),
            (
                "checks:\n  - name: a\n    check: tcp://a:1\n    severity: fatal\n",
                "checks.yml:4:15: ",
                "unknown variant `fatal`",
            ),
        ];
        for (text, at, what) in cases {
            let e = load_text(text).unwrap_err();
            assert_eq!(e.exit_status(), crate::exit::ExitStatus::Usage, "{e:?}");
            assert!(e.message().starts_with(at), "{text}: {}", e.message());
            assert!(e.message().contains(what), "{text}: {}", e.message());
        }
    }
}
