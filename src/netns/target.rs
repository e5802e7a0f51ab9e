//! What `probe` can check: the `wait` targets (`tcp://`, `http(s)://`, `dns://`) plus the two
//! domain checks, written as URLs too:
//!
//! - `mongodb://HOST[:PORT][/?replicaSet=NAME]` — `check mongo`: answers `ping`, or with
//!   `replicaSet` is that set's PRIMARY (credentials allowed, never printed);
//! - `rocketchat+http://HOST[:PORT]` (or `rocketchat+https://`) — `check rocketchat`: the
//!   server serves its API (`/api/info`, and `/readyz` where it exists).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::check::Check;
use crate::error::Error;
use crate::target::Target;

/// One thing to check, as written (kept: the container is handed the text) and parsed.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    raw: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Net(Target),
    Mongo { host: String, port: u16 },
    RocketChat(url::Url),
}

const EXPECTED: &str =
    "expected `tcp://`, `http(s)://`, `dns://`, `mongodb://` or `rocketchat+http(s)://`";

impl FromStr for ProbeTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let scheme = text
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .ok_or_else(|| format!("`{text}` has no scheme; {EXPECTED}"))?;
        let kind = match scheme.as_str() {
            "mongodb" => {
                let url = url::Url::parse(text).map_err(|e| {
                    format!(
                        "`{}` is not a valid URI: {e}",
                        crate::redact::uri_text(text)
                    )
                })?;
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| format!("`{}` has no host", crate::redact::uri_text(text)))?;
                Kind::Mongo {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port: url.port().unwrap_or(27017),
                }
            }
            "rocketchat+http" | "rocketchat+https" => {
                let inner = text.split_once('+').map_or(text, |(_, rest)| rest);
                Kind::RocketChat(crate::target::http_url(inner)?)
            }
            "tcp" | "http" | "https" | "dns" => Kind::Net(text.parse()?),
            other => return Err(format!("unsupported scheme `{other}`; {EXPECTED}")),
        };
        Ok(Self {
            raw: text.to_owned(),
            kind,
        })
    }
}

impl fmt::Display for ProbeTarget {
    /// The target, credentials masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Net(target) => write!(f, "{target}"),
            Kind::Mongo { .. } => f.write_str(&crate::redact::uri_text(&self.raw)),
            Kind::RocketChat(url) => write!(f, "rocketchat+{}", crate::redact::url(url)),
        }
    }
}

impl ProbeTarget {
    /// The text as written (may hold credentials: never print it).
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The host name to resolve and the port the check connects to (`None` for `dns://`,
    /// which resolves by itself).
    #[must_use]
    pub fn endpoint(&self) -> Option<(String, u16)> {
        let from_url = |url: &url::Url| {
            let host = url
                .host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']');
            Some((host.to_owned(), url.port_or_known_default()?))
        };
        match &self.kind {
            Kind::Net(Target::Tcp(address)) => Some((address.host.clone(), address.port)),
            Kind::Net(Target::Http(url)) | Kind::RocketChat(url) => from_url(url),
            Kind::Net(Target::Dns { .. }) => None,
            Kind::Mongo { host, port } => Some((host.clone(), *port)),
        }
    }

    /// The name a `dns://` target resolves.
    #[must_use]
    pub fn dns_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Net(Target::Dns { name, .. }) => Some(name),
            _ => None,
        }
    }

    /// The check that runs it.
    ///
    /// # Errors
    /// A usage error when it cannot be built (bad TLS settings, a malformed MongoDB URI).
    pub async fn check(&self, timeout: Duration) -> Result<Check, Error> {
        Ok(match &self.kind {
            Kind::Net(target) => crate::check::for_target(target.clone())?,
            Kind::Mongo { .. } => {
                let set = url::Url::parse(&self.raw).ok().and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "replicaSet")
                        .map(|(_, v)| v.into_owned())
                });
                let member = crate::mongo::client::Member::connect(&self.raw, timeout).await?;
                Check::Mongo(Box::new(crate::mongo::check::MongoCheck::new(
                    member, set, None,
                )))
            }
            Kind::RocketChat(url) => {
                let client = crate::rocketchat::client::Client::new(url.clone(), timeout)?;
                Check::RocketChat(Box::new(crate::rocketchat::check::RocketChatCheck::new(
                    client,
                    crate::rocketchat::check::Probe::Server,
                    None,
                    None,
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_and_shows_without_secrets() {
        let t: ProbeTarget = "mongodb://root:s3cret@mongo:27018/?replicaSet=rs0"
            .parse()
            .unwrap();
        assert_eq!(t.endpoint(), Some(("mongo".into(), 27018)));
        assert!(!t.to_string().contains("s3cret"), "{t}");
        let rc: ProbeTarget = "rocketchat+http://rocketchat:3000".parse().unwrap();
        assert_eq!(rc.endpoint(), Some(("rocketchat".into(), 3000)));
        assert_eq!(rc.to_string(), "rocketchat+http://rocketchat:3000/");
        let default_port: ProbeTarget = "mongodb://mongo".parse().unwrap();
        assert_eq!(default_port.endpoint(), Some(("mongo".into(), 27017)));
        let dns: ProbeTarget = "dns://mongo".parse().unwrap();
        assert_eq!((dns.endpoint(), dns.dns_name()), (None, Some("mongo")));
        let tcp: ProbeTarget = "tcp://[::1]:80".parse().unwrap();
        assert_eq!(tcp.endpoint(), Some(("::1".into(), 80)));
    }

    #[test]
    fn bad_targets_say_what_is_expected() {
        let err = |s: &str| ProbeTarget::from_str(s).unwrap_err();
        assert!(err("mongo:27017").contains("has no scheme"));
        assert!(err("redis://x:6379").contains("unsupported scheme `redis`"));
        assert!(err("rocketchat+ftp://x").contains("unsupported scheme"));
        assert!(err("tcp://x").contains("HOST:PORT"));
    }
}
