//! Addresses people type: `HOST:PORT`, and the `wait` targets built on URLs
//! (`tcp://`, `http(s)://`, `dns://`). Parsing is strict; a malformed target is a permanent
//! error that fails at once instead of being retried.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::check::dns::RecordKind;

/// A host name or IP literal with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// Port, 1-65535.
    pub port: u16,
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || format!("expected `HOST:PORT`, got `{text}`");
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(expected)?;
            host.parse::<Ipv6Addr>()
                .map_err(|_| format!("`{host}` is not an IPv6 address"))?;
            (host, after.strip_prefix(':').ok_or_else(expected)?)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
            if host.contains(':') {
                return Err(format!(
                    "IPv6 addresses go in brackets, e.g. `[{host}]:{port}`"
                ));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(format!("`{text}` has no host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(format!("`{host}` is not a host name"));
        }
        let port = parse_port(port)?;
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{port}` is not a port number"));
    }
    match port.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(u16::try_from(n).unwrap_or(u16::MAX)),
        _ => Err(format!("port `{port}` is out of range (1-65535)")),
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostPort {
    /// The socket address when the host is an IP literal (no resolution needed).
    #[must_use]
    pub fn literal(&self) -> Option<SocketAddr> {
        self.host
            .parse()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Something `wait` can wait for.
#[derive(Debug, Clone)]
pub enum Target {
    /// `tcp://HOST:PORT`
    Tcp(HostPort),
    /// `http://...` or `https://...`
    Http(url::Url),
    /// `dns://NAME[?type=A&expect=VALUE&server=IP:PORT]`
    Dns {
        name: String,
        record: RecordKind,
        expect: Option<String>,
        server: Option<SocketAddr>,
    },
}

impl FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            format!("`{text}` has no scheme; expected `tcp://`, `http://`, `https://` or `dns://`")
        })?;
        match scheme.to_ascii_lowercase().as_str() {
            "tcp" => rest.trim_end_matches('/').parse().map(Self::Tcp),
            "http" | "https" => http_url(text).map(Self::Http),
            "dns" => parse_dns(rest),
            other => Err(format!(
                "unsupported scheme `{other}`; expected `tcp://`, `http://`, `https://` or `dns://`"
            )),
        }
    }
}

fn parse_dns(rest: &str) -> Result<Target, String> {
    let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
    let name = name.trim_end_matches('/');
    if name.is_empty() {
        return Err("`dns://` needs a name, e.g. `dns://db.internal`".to_owned());
    }
    let mut record = RecordKind::A;
    let mut expect = None;
    let mut server = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "type" => {
                record = <RecordKind as clap::ValueEnum>::from_str(&value, true).map_err(|_| {
                    format!("unknown record type `{value}`; expected A, AAAA, CNAME, SRV or TXT")
                })?;
            }
            "expect" => expect = Some(value.into_owned()),
            "server" => server = Some(dns_server(&value)?),
            other => {
                return Err(format!(
                    "unknown `dns://` option `{other}`; expected `type`, `expect` or `server`"
                ));
            }
        }
    }
    Ok(Target::Dns {
        name: name.to_owned(),
        record,
        expect,
        server,
    })
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "tcp://{address}"),
            Self::Http(url) => f.write_str(&crate::redact::url(url)),
            Self::Dns { name, record, .. } => match record {
                RecordKind::A => write!(f, "dns://{name}"),
                other => write!(f, "dns://{name}?type={other}"),
            },
        }
    }
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
    fn host_port_forms() {
        let hp: HostPort = "db:5432".parse().unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("db", 5432));
        let v6: HostPort = "[::1]:80".parse().unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 80));
        assert_eq!(v6.to_string(), "[::1]:80");
        assert_eq!(v6.literal(), Some("[::1]:80".parse().unwrap()));
    }

    #[test]
    fn host_port_errors() {
        let err = |s: &str| HostPort::from_str(s).unwrap_err();
        assert_eq!(err("db"), "expected `HOST:PORT`, got `db`");
        assert_eq!(err("db:70000"), "port `70000` is out of range (1-65535)");
        assert_eq!(err("db:0"), "port `0` is out of range (1-65535)");
        assert_eq!(err("db:http"), "`http` is not a port number");
        assert_eq!(err(":80"), "`:80` has no host");
        assert_eq!(
            err("::1:80"),
            "IPv6 addresses go in brackets, e.g. `[::1]:80`"
        );
        assert_eq!(err("[db]:80"), "`db` is not an IPv6 address");
    }

    #[test]
    fn targets() {
        assert!(matches!("tcp://db:5432".parse(), Ok(Target::Tcp(_))));
        assert!(matches!("https://x/health".parse(), Ok(Target::Http(_))));
        let Ok(Target::Dns {
            name,
            record,
            expect,
            server,
        }) = "dns://db.internal?type=aaaa&expect=::1&server=127.0.0.1:5353".parse()
        else {
            panic!("dns target did not parse");
        };
        assert_eq!(name, "db.internal");
        assert_eq!(record, RecordKind::Aaaa);
        assert_eq!(expect.as_deref(), Some("::1"));
        assert_eq!(server, Some("127.0.0.1:5353".parse().unwrap()));
    }

    #[test]
    fn target_errors() {
        let err = |s: &str| Target::from_str(s).unwrap_err();
        assert!(err("db:5432").contains("has no scheme"));
        assert!(err("udp://db:53").contains("unsupported scheme `udp`"));
        assert!(err("tcp://db:99999").contains("out of range"));
        assert!(err("dns://").contains("needs a name"));
        assert!(err("dns://x?type=MX").contains("unknown record type `MX`"));
        assert!(err("dns://x?ttl=1").contains("unknown `dns://` option `ttl`"));
    }

    #[test]
    fn credentials_never_show_in_a_target() {
        let t: Target = "http://user:s3cret@db:8080/x".parse().unwrap();
        assert!(!t.to_string().contains("s3cret"));
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
