//! Value parsers for the command line (clap's `value_parser`s). Each returns a message in our style (lowercase, literals
//! in backticks) that clap prefixes with the flag it belongs to.

use std::str::FromStr;
use std::time::Duration;

use crate::check::http::{Header, JsonAssertion, StatusSpec};
use crate::limits::MAX_DURATION;
use crate::target::{HostPort, Target};
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

/// A wait target such as `tcp://db:5432`.
pub fn target(text: &str) -> Result<Target, String> {
    Target::from_str(text)
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
