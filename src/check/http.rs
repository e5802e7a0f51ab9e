//! `check http`: does an HTTP(S) request get the expected answer?
//!
//! Redirects are judged, not followed, unless asked (a 302 to a login page is not health).
//! The body is read only when a body assertion needs it, and never more than 1 MiB of it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use super::outcome::Outcome;
use crate::error::Error;
use crate::output::human_duration;
use crate::reason::{io_reason, lowercase_first, request_error};

/// The most body an assertion reads.
const BODY_LIMIT: usize = 1024 * 1024;

/// The largest CA file read (a full system bundle is about 200 KiB).
const CA_FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// Accepted status codes, e.g. `200-299,304` or `2xx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpec {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl StatusSpec {
    #[must_use]
    pub fn accepts(&self, status: StatusCode) -> bool {
        let code = status.as_u16();
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl Default for StatusSpec {
    fn default() -> Self {
        Self {
            ranges: vec![(200, 399)],
            text: "200-399".to_owned(),
        }
    }
}

impl FromStr for StatusSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let code = |s: &str| -> Result<u16, String> {
            match s.trim().parse::<u16>() {
                Ok(n @ 100..=599) => Ok(n),
                _ => Err(format!(
                    "`{s}` is not a status code; expected codes 100-599, ranges like `200-299` or classes like `2xx`"
                )),
            }
        };
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let lower = part.to_ascii_lowercase();
            let range = if let Some(class) = lower.strip_suffix("xx") {
                let digit = code(&format!("{class}00"))?;
                (digit, digit + 99)
            } else if let Some((lo, hi)) = part.split_once('-') {
                let (lo, hi) = (code(lo)?, code(hi)?);
                if lo > hi {
                    return Err(format!(
                        "range `{part}` is empty; write the lower code first"
                    ));
                }
                (lo, hi)
            } else {
                let c = code(part)?;
                (c, c)
            };
            ranges.push(range);
        }
        Ok(Self {
            ranges,
            text: text.to_owned(),
        })
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `PATH=VALUE`: the JSON body holds VALUE at PATH (`a.b.0.c`; `a.b[0].c` also works).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonAssertion {
    path: Vec<String>,
    expected: String,
    text: String,
}

impl FromStr for JsonAssertion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (path, expected) = text
            .split_once('=')
            .ok_or_else(|| format!("expected `PATH=VALUE`, e.g. `status=ok`, got `{text}`"))?;
        let path: Vec<String> = path
            .replace('[', ".")
            .replace(']', "")
            .split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if path.is_empty() {
            return Err(format!("`{text}` has an empty path"));
        }
        Ok(Self {
            path,
            expected: expected.to_owned(),
            text: text.to_owned(),
        })
    }
}

impl JsonAssertion {
    /// `Ok(())` when the body holds the value; otherwise why not.
    ///
    /// # Errors
    /// Why the body does not hold it.
    pub fn verify(&self, body: &serde_json::Value) -> Result<(), String> {
        let mut node = body;
        for key in &self.path {
            let next = match node {
                serde_json::Value::Object(map) => map.get(key),
                serde_json::Value::Array(items) => {
                    key.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                _ => None,
            };
            node = next.ok_or_else(|| format!("JSON body has no `{}`", self.path.join(".")))?;
        }
        // Strings compare as text (`status=ok`); anything else by its JSON spelling (`count=3`,
        // `success=true`, `value=null`).
        let found = match node {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if found == self.expected {
            Ok(())
        } else {
            Err(format!(
                "JSON `{}` is `{found}`, expected `{}`",
                self.path.join("."),
                self.expected
            ))
        }
    }
}

/// A request header, `NAME:VALUE`.
#[derive(Debug, Clone)]
pub struct Header {
    name: HeaderName,
    value: HeaderValue,
}

impl FromStr for Header {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        // Never echo the text: a header's value is often a token.
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| "expected `NAME:VALUE`, e.g. `X-Token: ...`; found no `:`".to_owned())?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("`{}` is not a header name", name.trim()))?;
        let mut value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("the value of `{name}` is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(Self { name, value })
    }
}

/// Everything `check http` was asked to verify.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: url::Url,
    pub method: Method,
    pub status: StatusSpec,
    pub body_contains: Option<String>,
    pub body_regex: Option<regex::Regex>,
    pub json: Vec<JsonAssertion>,
    pub headers: Vec<Header>,
    pub host: Option<String>,
    pub insecure: bool,
    pub ca_file: Option<PathBuf>,
    pub follow_redirects: bool,
}

impl HttpSpec {
    /// A plain GET accepting 200-399.
    #[must_use]
    pub fn get(url: url::Url) -> Self {
        Self {
            url,
            method: Method::GET,
            status: StatusSpec::default(),
            body_contains: None,
            body_regex: None,
            json: Vec::new(),
            headers: Vec::new(),
            host: None,
            insecure: false,
            ca_file: None,
            follow_redirects: false,
        }
    }
}

/// A validated HTTP check; TLS settings were proven usable when it was built.
#[derive(Debug)]
pub struct HttpCheck {
    spec: HttpSpec,
    /// What the server's certificate is verified against (none with `--insecure`).
    tls: Option<rustls::ClientConfig>,
    client: reqwest::Client,
}

impl HttpCheck {
    /// Validates the TLS settings and builds the client.
    ///
    /// # Errors
    /// A usage error when the CA file cannot be read or holds no certificate.
    pub fn new(spec: HttpSpec) -> Result<Self, Error> {
        let certificates = match &spec.ca_file {
            Some(path) => read_certificates(path)?,
            None => Vec::new(),
        };
        let tls = if spec.insecure {
            None
        } else {
            let shown = spec.ca_file.as_deref().unwrap_or(std::path::Path::new(""));
            Some(crate::tls::client_config(&certificates).map_err(|e| {
                Error::usage(format!("CA file `{}`: {e}", shown.display()))
                    .with_hint("pass PEM certificates (`-----BEGIN CERTIFICATE-----`)")
            })?)
        };
        let client = client_builder(&spec, tls.as_ref())
            .build()
            .map_err(|e| Error::usage(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { spec, tls, client })
    }

    #[must_use]
    pub fn target(&self) -> String {
        let url = crate::redact::url(&self.spec.url);
        match &self.spec.host {
            Some(host) => format!("{url} (host {host})"),
            None => url,
        }
    }

    /// One request; the caller bounds it with the check's hard timeout.
    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let (client, url) = match &self.spec.host {
            Some(vhost) => match self.virtual_host_client(vhost).await {
                Ok(pair) => pair,
                Err(reason) => return Outcome::Unhealthy(reason),
            },
            None => (self.client.clone(), self.spec.url.clone()),
        };
        let mut request = client.request(self.spec.method.clone(), url);
        for header in &self.spec.headers {
            request = request.header(header.name.clone(), header.value.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                let reason = request_error(&err);
                tracing::debug!(url = %crate::redact::url(&self.spec.url), %reason, elapsed = ?started.elapsed(), "http request failed");
                return Outcome::Unhealthy(reason);
            }
        };
        let status = response.status();
        tracing::debug!(
            method = %self.spec.method,
            url = %crate::redact::url(&self.spec.url),
            status = status.as_u16(),
            elapsed = ?started.elapsed(),
            "http request"
        );
        let status_text = match status.canonical_reason() {
            Some(reason) => format!("{} {reason}", status.as_u16()),
            None => status.as_u16().to_string(),
        };
        if !self.spec.status.accepts(status) {
            return Outcome::Unhealthy(format!(
                "status {status_text}, expected {}",
                self.spec.status
            ));
        }
        if self.needs_body() {
            let body = match read_body(response).await {
                Ok(body) => body,
                Err(reason) => return Outcome::Unhealthy(reason),
            };
            if let Err(reason) = self.verify_body(&body) {
                return Outcome::Unhealthy(format!("status {status_text}, but {reason}"));
            }
        }
        Outcome::Healthy(format!(
            "{status_text} in {}",
            human_duration(started.elapsed())
        ))
    }

    fn needs_body(&self) -> bool {
        self.spec.body_contains.is_some()
            || self.spec.body_regex.is_some()
            || !self.spec.json.is_empty()
    }

    fn verify_body(&self, body: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(body);
        if let Some(needle) = &self.spec.body_contains {
            if !text.contains(needle.as_str()) {
                return Err(format!("the body does not contain `{needle}`"));
            }
        }
        if let Some(re) = &self.spec.body_regex {
            if !re.is_match(&text) {
                return Err(format!("the body does not match `{re}`"));
            }
        }
        if !self.spec.json.is_empty() {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
            for assertion in &self.spec.json {
                assertion.verify(&value)?;
            }
        }
        Ok(())
    }

    /// Asks for `vhost` while connecting to the URL's own address, as `curl --connect-to` does,
    /// so that both the `Host` header and the TLS server name are the virtual host's.
    async fn virtual_host_client(
        &self,
        vhost: &str,
    ) -> Result<(reqwest::Client, url::Url), String> {
        let host = self.spec.url.host_str().unwrap_or_default();
        let port = self.spec.url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| {
                format!(
                    "cannot resolve `{host}`: {}",
                    lowercase_first(&e.to_string())
                )
            })?
            .collect();
        let mut url = self.spec.url.clone();
        url.set_host(Some(vhost))
            .map_err(|e| format!("`{vhost}` cannot be used as a host: {e}"))?;
        let client = client_builder(&self.spec, self.tls.as_ref())
            .resolve_to_addrs(vhost, &addrs)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok((client, url))
    }
}

fn client_builder(spec: &HttpSpec, tls: Option<&rustls::ClientConfig>) -> reqwest::ClientBuilder {
    let redirects = if spec.follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    let builder = reqwest::Client::builder()
        .redirect(redirects)
        .danger_accept_invalid_certs(spec.insecure)
        .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .pool_max_idle_per_host(0);
    match tls {
        Some(config) => builder.use_preconfigured_tls(config.clone()),
        None => builder,
    }
}

fn read_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, Error> {
    let shown = path.display();
    let pem = crate::limits::read_file(path, CA_FILE_LIMIT)
        .map_err(|e| Error::usage(format!("cannot read CA file `{shown}`: {}", io_reason(&e))))?;
    let certificates = crate::tls::pem_certificates(&pem).map_err(|_| {
        Error::usage(format!("CA file `{shown}` is not PEM"))
            .with_hint("pass PEM certificates (`-----BEGIN CERTIFICATE-----`)")
    })?;
    if certificates.is_empty() {
        return Err(
            Error::usage(format!("CA file `{shown}` holds no certificate"))
                .with_hint("pass PEM certificates (`-----BEGIN CERTIFICATE-----`)"),
        );
    }
    Ok(certificates)
}

/// The first [`BODY_LIMIT`] bytes of the body: assertions judge that much, and an endless body
/// costs no more.
async fn read_body(response: reqwest::Response) -> Result<Vec<u8>, String> {
    crate::limits::read_body(response, BODY_LIMIT)
        .await
        .map(|body| body.bytes)
        .map_err(|e| request_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_specs() {
        let spec: StatusSpec = "200-299,304".parse().unwrap();
        assert!(spec.accepts(StatusCode::NO_CONTENT));
        assert!(spec.accepts(StatusCode::NOT_MODIFIED));
        assert!(!spec.accepts(StatusCode::FOUND));
        let class: StatusSpec = "4xx".parse().unwrap();
        assert!(class.accepts(StatusCode::NOT_FOUND));
        assert!(!class.accepts(StatusCode::OK));
        assert!(StatusSpec::default().accepts(StatusCode::MOVED_PERMANENTLY));
        assert!(
            "299-200"
                .parse::<StatusSpec>()
                .unwrap_err()
                .contains("is empty")
        );
        assert!(
            "abc"
                .parse::<StatusSpec>()
                .unwrap_err()
                .contains("`abc` is not a status code")
        );
        assert!("700".parse::<StatusSpec>().is_err());
    }

    #[test]
    fn json_assertions() {
        let body =
            serde_json::json!({"status": "ok", "checks": {"mongo": {"up": true}}, "list": [1, 2]});
        let ok = |s: &str| s.parse::<JsonAssertion>().unwrap().verify(&body);
        assert_eq!(ok("status=ok"), Ok(()));
        assert_eq!(ok("checks.mongo.up=true"), Ok(()));
        assert_eq!(ok("list[1]=2"), Ok(()));
        assert_eq!(
            ok("status=down"),
            Err("JSON `status` is `ok`, expected `down`".to_owned())
        );
        assert_eq!(
            ok("checks.redis=x"),
            Err("JSON body has no `checks.redis`".to_owned())
        );
        assert!("status".parse::<JsonAssertion>().is_err());
    }

    #[test]
    fn headers() {
        let h: Header = "X-Token: abc".parse().unwrap();
        assert_eq!(h.name.as_str(), "x-token");
        assert!("no-colon".parse::<Header>().is_err());
        assert!("bad name:x".parse::<Header>().is_err());
    }
}
