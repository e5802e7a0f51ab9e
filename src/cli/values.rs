//! Value parsers for the command line (clap's `value_parser`s). Each returns a message in our style (lowercase, literals
//! in backticks) that clap prefixes with the flag it belongs to.

use std::str::FromStr;
use std::time::Duration;

use crate::check::dns::RecordKind;
use crate::check::http::{Header, JsonAssertion, StatusSpec};
use crate::limits::MAX_DURATION;
use crate::target::{HostPort, MongoTarget, Target};
pub use crate::target::{dns_server, http_url};

/// `5s`, `250ms`, `1m30s`, `2h` (humantime's syntax), at most [`MAX_DURATION`] (24 h). A bare
/// number is refused: is it seconds? A longer duration is refused too: it is surely a typo, and
/// every deadline computed from it must stay representable.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` has no unit; write e.g. `{text}s` or `{text}ms`"
        ));
    }
    let parsed = humantime::parse_duration(text);
    match parsed {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        // humantime reports an overflow for numbers past u64 nanoseconds: too long, too.
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => {
            Err(format!("`{text}` is too long; durations go up to `24h`"))
        }
        Err(_) => Err(format!(
            "`{text}` is not a duration; expected e.g. `5s`, `250ms`, `1m30s`"
        )),
    }
}

/// `HOST:PORT` with the port in 1-65535; IPv6 addresses in brackets.
pub fn host_port(text: &str) -> Result<HostPort, String> {
    HostPort::from_str(text)
}

/// A target such as `tcp://db:5432` or `mongodb://mongo:27017/?replicaSet=rs0`.
pub fn target(text: &str) -> Result<Target, String> {
    Target::from_str(text)
}

/// The one grammar's target, when a command takes only one kind of it: `want` names the kind
/// (`tcp`, `dns`...) and `bare` parses the form without a scheme, if the command has one.
fn one_kind<T>(
    text: &str,
    want: &str,
    bare: impl FnOnce(&str) -> Result<T, String>,
    pick: impl FnOnce(Target) -> Option<T>,
) -> Result<T, String> {
    if !text.contains("://") {
        return bare(text);
    }
    let target = Target::from_str(text)?;
    let kind = target.kind();
    pick(target).ok_or_else(|| {
        format!("a `{kind}` target where `{want}` is checked; use `stackctl check {kind}`")
    })
}

/// `check tcp`: `HOST:PORT` or `tcp://HOST:PORT`.
pub fn tcp_address(text: &str) -> Result<HostPort, String> {
    one_kind(text, "tcp", HostPort::from_str, |t| match t {
        Target::Tcp(address) => Some(address),
        _ => None,
    })
}

/// What `check dns` resolves: `NAME` or `dns://NAME[?type=..&expect=..&server=..]`.
#[derive(Debug, Clone)]
pub struct DnsQuery {
    pub name: String,
    pub record: Option<RecordKind>,
    pub expect: Option<String>,
    pub server: Option<std::net::SocketAddr>,
}

/// `check dns`'s name, bare or as a `dns://` target.
pub fn dns_query(text: &str) -> Result<DnsQuery, String> {
    one_kind(
        text,
        "dns",
        |name| {
            crate::target::dns_name(name).map(|name| DnsQuery {
                name,
                record: None,
                expect: None,
                server: None,
            })
        },
        |t| match t {
            Target::Dns {
                name,
                record,
                expect,
                server,
            } => Some(DnsQuery {
                name,
                record: Some(record),
                expect,
                server,
            }),
            _ => None,
        },
    )
}

/// `check mongo`'s member or seed list: a `mongodb://` URI.
pub fn mongo_target(text: &str) -> Result<MongoTarget, String> {
    one_kind(
        text,
        "mongo",
        |_| {
            Err(format!(
                "`{}` is not a `mongodb://` URI; expected e.g. `mongodb://mongo:27017/?replicaSet=rs0`",
                crate::redact::uri_text(text)
            ))
        },
        |t| match t {
            Target::Mongo(m) => Some(m),
            _ => None,
        },
    )
}

/// A Rocket.Chat server: `http(s)://HOST[:PORT]`, or the target form `rocketchat+http(s)://`.
pub fn rocketchat_url(text: &str) -> Result<url::Url, String> {
    if text
        .get(..11)
        .is_some_and(|s| s.eq_ignore_ascii_case("rocketchat+"))
    {
        return match Target::from_str(text)? {
            Target::RocketChat(url) => Ok(url),
            _ => Err(format!("`{text}` is not a Rocket.Chat URL")),
        };
    }
    http_url(text)
}

/// Status codes and ranges: `200`, `200-299,304`, `2xx`.
pub fn status_spec(text: &str) -> Result<StatusSpec, String> {
    StatusSpec::from_str(text)
}

/// A regular expression.
pub fn regex(text: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(text).map_err(|e| {
        let reason = e.to_string();
        let last = reason.lines().last().unwrap_or("invalid").trim();
        let last = last.strip_prefix("error: ").unwrap_or(last);
        format!("`{text}` is not a valid regular expression: {last}")
    })
}

/// `PATH=VALUE`.
pub fn json_assertion(text: &str) -> Result<JsonAssertion, String> {
    JsonAssertion::from_str(text)
}

/// `NAME:VALUE`.
pub fn header(text: &str) -> Result<Header, String> {
    Header::from_str(text)
}

/// An HTTP method token.
pub fn method(text: &str) -> Result<reqwest::Method, String> {
    reqwest::Method::from_bytes(text.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{text}` is not an HTTP method"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            duration("5"),
            Err("`5` has no unit; write e.g. `5s` or `5ms`".to_owned())
        );
        assert!(duration("5x").unwrap_err().contains("is not a duration"));
        assert_eq!(duration("24h"), Ok(MAX_DURATION));
        for long in [
            "25h",
            "18446744073709551615s",
            "99999999999999999999999ms",
            "1000000d",
        ] {
            assert!(
                duration(long).unwrap_err().contains("is too long"),
                "{long}"
            );
        }
    }
}
