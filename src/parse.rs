//! Value parsers for the command line. Each returns a message in our style (lowercase, literals
//! in backticks) that clap prefixes with the flag it belongs to.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::check::http::{Header, JsonAssertion, StatusSpec};
use crate::target::{HostPort, Target};

/// `5s`, `250ms`, `1m30s`, `2h` (humantime's syntax). A bare number is refused: is it seconds?
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` has no unit; write e.g. `{text}s` or `{text}ms`"
        ));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("`{text}` is not a duration; expected e.g. `5s`, `250ms`, `1m30s`"))
}

/// `HOST:PORT` with the port in 1-65535; IPv6 addresses in brackets.
pub fn host_port(text: &str) -> Result<HostPort, String> {
    HostPort::from_str(text)
}

/// An `http://` or `https://` URL.
pub fn http_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" | "https" => Err(format!("`{text}` has no host")),
        other => Err(format!(
            "unsupported scheme `{other}`; expected `http://` or `https://`"
        )),
    }
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

/// A DNS server: `IP:PORT` or a bare IP (port 53).
pub fn dns_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("`{text}` is not an address; expected `IP:PORT`, e.g. `127.0.0.1:53`"))
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
    }

    #[test]
    fn urls() {
        assert!(http_url("http://127.0.0.1:8080/health").is_ok());
        assert!(
            http_url("ftp://x")
                .unwrap_err()
                .contains("unsupported scheme `ftp`")
        );
        assert!(http_url("http//x").unwrap_err().contains("not a valid URL"));
    }

    #[test]
    fn dns_servers() {
        assert_eq!(
            dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(dns_server("10.0.0.1"), Ok("10.0.0.1:53".parse().unwrap()));
        assert_eq!(dns_server("[::1]:53"), Ok("[::1]:53".parse().unwrap()));
        assert!(dns_server("resolver").is_err());
    }
}
