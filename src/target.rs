//! Addresses people type: `HOST:PORT`, and the one target grammar built on URLs (`tcp://`,
//! `http(s)://`, `dns://`, `mongodb://`, `rocketchat+http(s)://`) that `wait`, `check`,
//! `probe`, catalogs, `x-stackctl.ready` and rendered manifests all take from here. Parsing is
//! strict; a malformed target is a permanent error that fails at once instead of being retried.

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

/// Something to check, as every command, catalog and rendered manifest writes it: one grammar,
/// parsed here only (`wait`, `probe`, `check`, catalogs, `x-stackctl.ready`, `render`).
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
    /// `mongodb://[USER:PASS@]HOST[:PORT][,HOST[:PORT]...][/[DB]][?replicaSet=NAME&...]`
    Mongo(MongoTarget),
    /// `rocketchat+http(s)://HOST[:PORT][/PATH]`: the Rocket.Chat server at that base URL.
    RocketChat(url::Url),
}

/// The schemes, for messages.
pub const SCHEMES: &str =
    "`tcp://`, `http(s)://`, `dns://`, `mongodb://` or `rocketchat+http(s)://`";

impl FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            format!(
                "`{}` has no scheme; expected {SCHEMES}, e.g. `tcp://mongo:27017`",
                crate::redact::uri_text(text)
            )
        })?;
        match scheme.to_ascii_lowercase().as_str() {
            "tcp" => rest.trim_end_matches('/').parse().map(Self::Tcp),
            "http" | "https" => http_url(text).map(Self::Http),
            "dns" => parse_dns(rest),
            "mongodb" => MongoTarget::parse(text).map(Self::Mongo),
            "mongodb+srv" => Err(
                "`mongodb+srv://` needs DNS SRV lookups, which stackctl does not make; list the members, e.g. `mongodb://m1:27017,m2:27017/?replicaSet=rs0`".to_owned(),
            ),
            "rocketchat+http" | "rocketchat+https" => {
                let inner = &text[text.find('+').map_or(0, |i| i + 1)..];
                http_url(inner).map(Self::RocketChat)
            }
            other => Err(format!("unsupported scheme `{other}`; expected {SCHEMES}")),
        }
    }
}

impl Target {
    /// The kind of check it runs (`tcp`, `http`, `dns`, `mongo`, `rocketchat`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tcp(_) => "tcp",
            Self::Http(_) => "http",
            Self::Dns { .. } => "dns",
            Self::Mongo(_) => "mongo",
            Self::RocketChat(_) => "rocketchat",
        }
    }

    /// The target as it must be handed on (to a probe container): credentials included, so
    /// never print it.
    #[must_use]
    pub fn raw(&self) -> String {
        match self {
            Self::Mongo(m) => m.uri.clone(),
            Self::Http(url) => url.to_string(),
            Self::RocketChat(url) => format!("rocketchat+{url}"),
            Self::Dns {
                name,
                record,
                expect,
                server,
            } => {
                let mut query = vec![format!("type={record}")];
                if let Some(expect) = expect {
                    let value: String =
                        url::form_urlencoded::byte_serialize(expect.as_bytes()).collect();
                    query.push(format!("expect={value}"));
                }
                if let Some(server) = server {
                    query.push(format!("server={server}"));
                }
                format!("dns://{name}?{}", query.join("&"))
            }
            Self::Tcp(_) => self.to_string(),
        }
    }

    /// The host to resolve and the port the check connects to (the first member of a
    /// `mongodb://` seed list; `None` for `dns://`, which resolves by itself).
    #[must_use]
    pub fn endpoint(&self) -> Option<(String, u16)> {
        match self {
            Self::Tcp(address) => Some((address.host.clone(), address.port)),
            Self::Http(url) | Self::RocketChat(url) => {
                let host = url
                    .host_str()?
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                Some((host.to_owned(), url.port_or_known_default()?))
            }
            Self::Dns { .. } => None,
            Self::Mongo(m) => m.hosts.first().map(|h| (h.host.clone(), h.port)),
        }
    }

    /// The host names it checks (every member of a seed list; a `dns://` target's name).
    #[must_use]
    pub fn hosts(&self) -> Vec<String> {
        match self {
            Self::Mongo(m) => m.hosts.iter().map(|h| h.host.clone()).collect(),
            Self::Dns { name, .. } => vec![name.trim_end_matches('.').to_owned()],
            other => other.endpoint().map(|(h, _)| vec![h]).unwrap_or_default(),
        }
    }

    /// The name a `dns://` target resolves.
    #[must_use]
    pub fn dns_name(&self) -> Option<&str> {
        match self {
            Self::Dns { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// A `mongodb://` target: "the member answers", or with `replicaSet` "a PRIMARY of that set".
#[derive(Clone)]
pub struct MongoTarget {
    /// The URI as written (may hold credentials: never print it).
    uri: String,
    /// The seed list, default port 27017.
    pub hosts: Vec<HostPort>,
    pub replica_set: Option<String>,
    /// Where the seed list sits in `uri`, to write one member's own URI.
    hosts_span: (usize, usize),
}

impl fmt::Debug for MongoTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoTarget")
            .field("uri", &crate::redact::uri_text(&self.uri))
            .field("hosts", &self.hosts)
            .field("replica_set", &self.replica_set)
            .finish_non_exhaustive()
    }
}

impl MongoTarget {
    /// Parses a `mongodb://` URI: the seed list and `replicaSet` here, every other option by
    /// the driver's own connection-string parser (so a URI we accept is one it accepts).
    ///
    /// # Errors
    /// What is wrong, the URI shown without its password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown = crate::redact::uri_text(text);
        let start = text.find("://").map_or(0, |i| i + 3);
        let end = text[start..]
            .find(['/', '?'])
            .map_or(text.len(), |i| start + i);
        let authority = &text[start..end];
        let hosts_start = authority.rfind('@').map_or(start, |at| start + at + 1);
        let list = &text[hosts_start..end];
        if list.is_empty() {
            return Err(format!(
                "`{shown}` has no host; expected e.g. `mongodb://mongo:27017`"
            ));
        }
        let hosts = list
            .split(',')
            .map(|host| {
                let with_port = if host.ends_with(']') || !host.contains(':') {
                    format!("{host}:27017")
                } else {
                    host.to_owned()
                };
                with_port
                    .parse::<HostPort>()
                    .map_err(|e| format!("`{shown}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut replica_set = None;
        if let Some((_, query)) = text[end..].split_once('?') {
            for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
                if key.eq_ignore_ascii_case("replicaSet") {
                    if value.is_empty() {
                        return Err(format!("`{shown}`: `replicaSet` is empty"));
                    }
                    replica_set = Some(value.into_owned());
                }
            }
        }
        // Checked before the driver sees it: its own check of `%` slices by bytes and panics on
        // a multi-byte character after the `%` (found by tests/fuzz.rs).
        let bytes = text.as_bytes();
        let bad_escape = text.match_indices('%').any(|(i, _)| {
            !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        });
        if bad_escape {
            return Err(format!(
                "`{shown}`: a `%` must start an escape of two hex digits, e.g. `%40` for `@`"
            ));
        }
        mongodb::options::ConnectionString::parse(text).map_err(|e| {
            let reason = match e.kind.as_ref() {
                mongodb::error::ErrorKind::InvalidArgument { message, .. } => message.clone(),
                _ => "not a valid connection string".to_owned(),
            };
            format!(
                "`{shown}` is not a valid MongoDB URI: {}",
                crate::reason::lowercase_first(&crate::redact::text(&reason))
            )
        })?;
        Ok(Self {
            uri: text.to_owned(),
            hosts,
            replica_set,
            hosts_span: (hosts_start, end),
        })
    }

    /// The URI as written (may hold credentials: never print it).
    #[must_use]
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The URI of one member of the seed list, every option kept.
    #[must_use]
    pub fn member_uri(&self, member: &HostPort) -> String {
        let (start, end) = self.hosts_span;
        format!("{}{member}{}", &self.uri[..start], &self.uri[end..])
    }
}

fn parse_dns(rest: &str) -> Result<Target, String> {
    let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
    let name = name.trim_end_matches('/');
    if name.is_empty() {
        return Err("`dns://` needs a name, e.g. `dns://db.internal`".to_owned());
    }
    let name = dns_name(name)?;
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
        name,
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
            Self::Mongo(m) => f.write_str(&crate::redact::uri_text(&m.uri)),
            Self::RocketChat(url) => write!(f, "rocketchat+{}", crate::redact::url(url)),
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

/// A name to resolve: letters, digits, `-` and `_` in dot-separated labels of 1-63 characters,
/// 253 at most (RFC 1035 §2.3.4, with `_` for SRV names such as `_mongodb._tcp.db`); a
/// trailing dot is allowed. Checked here so that no resolver's internal error text reaches
/// people.
pub fn dns_name(text: &str) -> Result<String, String> {
    if let Some((scheme, _)) = text.split_once("://") {
        return Err(format!(
            "`{text}` is a URL, not a name; give the name alone (`{}`), or `dns://NAME` where a target is expected",
            text.strip_prefix(&format!("{scheme}://"))
                .unwrap_or(text)
                .trim_end_matches('/')
        ));
    }
    let bare = text.strip_suffix('.').unwrap_or(text);
    if bare.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if bare.len() > 253 {
        return Err(format!(
            "`{text}` is {} characters long; a DNS name has at most 253",
            bare.len()
        ));
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(format!("`{text}` has an empty label (two dots in a row)"));
        }
        if label.len() > 63 {
            return Err(format!(
                "`{text}`: the label `{label}` is longer than 63 characters"
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "`{text}` is not a DNS name: `{}` may not appear in one (letters, digits, `-`, `_` and dots)",
                bad.escape_default()
            ));
        }
    }
    Ok(text.to_owned())
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
        assert!(err("redis://x:6379").contains("unsupported scheme `redis`"));
        assert!(err("rocketchat+ftp://x").contains("unsupported scheme"));
        assert!(err("mongodb+srv://db.example").contains("list the members"));
        assert!(err("mongodb://").contains("has no host"));
        assert!(err("mongodb://m:99999").contains("out of range"));
        assert!(err("mongodb://u:s3cret@m/?replicaSet=").contains("`replicaSet` is empty"));
        let bad_option = err("mongodb://u:s3cret@m/?connectTimeoutMS=soon");
        assert!(
            bad_option.contains("not a valid MongoDB URI"),
            "{bad_option}"
        );
        assert!(!bad_option.contains("s3cret"), "{bad_option}");
        assert!(err("dns://tasks web").contains("may not appear"));
        assert!(err("mongodb://u:p%\u{e9}x@m/").contains("two hex digits"));
        assert!(err("mongodb://u:p%4@m/").contains("two hex digits"));
        assert!("mongodb://u:p%40x@m/".parse::<Target>().is_ok());
    }

    #[test]
    fn every_kind_of_the_one_grammar() {
        let mongo: Target = "mongodb://root:s3cret@mongo:27018/?replicaSet=rs0"
            .parse()
            .unwrap();
        assert_eq!(mongo.kind(), "mongo");
        assert_eq!(mongo.endpoint(), Some(("mongo".into(), 27018)));
        assert!(!mongo.to_string().contains("s3cret"), "{mongo}");
        assert!(!format!("{mongo:?}").contains("s3cret"));
        assert!(mongo.raw().contains("s3cret"));
        let Target::Mongo(m) = &mongo else { panic!() };
        assert_eq!(m.replica_set.as_deref(), Some("rs0"));
        // The form the Kubernetes render writes (no `/` before `?`) is the same target.
        let Ok(Target::Mongo(set)) = "mongodb://m1,m2:27018,[::1]/?replicaSet=rs0".parse() else {
            panic!("seed list")
        };
        assert_eq!(
            set.hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["m1:27017", "m2:27018", "[::1]:27017"]
        );
        assert_eq!(
            set.member_uri(&set.hosts[1]),
            "mongodb://m2:27018/?replicaSet=rs0"
        );
        assert!(matches!(
            "mongodb://mongo:27017?replicaSet=rs0".parse(),
            Ok(Target::Mongo(MongoTarget {
                replica_set: Some(_),
                ..
            }))
        ));
        let rc: Target = "rocketchat+http://rocketchat:3000".parse().unwrap();
        assert_eq!(rc.kind(), "rocketchat");
        assert_eq!(rc.endpoint(), Some(("rocketchat".into(), 3000)));
        assert_eq!(rc.to_string(), "rocketchat+http://rocketchat:3000/");
        let default_port: Target = "mongodb://mongo".parse().unwrap();
        assert_eq!(default_port.endpoint(), Some(("mongo".into(), 27017)));
        let dns: Target = "dns://tasks.web".parse().unwrap();
        assert_eq!((dns.endpoint(), dns.dns_name()), (None, Some("tasks.web")));
        let tcp: Target = "tcp://[::1]:80".parse().unwrap();
        assert_eq!(tcp.endpoint(), Some(("::1".into(), 80)));
        // What is shown parses back to the same target.
        for text in [
            "dns://db?type=SRV&expect=x&server=127.0.0.1%3A53",
            "tcp://db:1",
            "rocketchat+https://chat.example/",
        ] {
            let t: Target = text.parse().unwrap();
            assert_eq!(
                t.to_string().parse::<Target>().unwrap().to_string(),
                t.to_string()
            );
        }
    }

    #[test]
    fn dns_names() {
        assert_eq!(dns_name("tasks.web"), Ok("tasks.web".to_owned()));
        assert!(dns_name("_mongodb._tcp.db.").is_ok());
        assert!(
            dns_name("dns://tasks.web")
                .unwrap_err()
                .contains("give the name alone (`tasks.web`)")
        );
        assert!(dns_name("a..b").unwrap_err().contains("empty label"));
        assert!(
            dns_name(&"a".repeat(64))
                .unwrap_err()
                .contains("longer than 63")
        );
        assert!(
            dns_name("a b").unwrap_err().contains("`\\u{20}`")
                || dns_name("a b").unwrap_err().contains("may not appear")
        );
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
