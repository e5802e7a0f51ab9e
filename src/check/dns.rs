//! `check dns`: does a name resolve (to the expected value)?
//!
//! Uses hickory's resolver rather than the C library so that the record type, the server and
//! the timeout are ours to choose, and so that it works the same in a static binary.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::outcome::Outcome;
use crate::output::human_duration;
use crate::reason::lowercase_first;

/// The record types `check dns` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordKind {
    A,
    Aaaa,
    Cname,
    Srv,
    Txt,
}

impl RecordKind {
    fn record_type(self) -> RecordType {
        match self {
            Self::A => RecordType::A,
            Self::Aaaa => RecordType::AAAA,
            Self::Cname => RecordType::CNAME,
            Self::Srv => RecordType::SRV,
            Self::Txt => RecordType::TXT,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.record_type(), f)
    }
}

/// Resolves one name for one record type.
#[derive(Debug, Clone)]
pub struct DnsCheck {
    name: String,
    record: RecordKind,
    expect: Option<String>,
    server: Option<SocketAddr>,
}

impl DnsCheck {
    #[must_use]
    pub fn new(
        name: String,
        record: RecordKind,
        expect: Option<String>,
        server: Option<SocketAddr>,
    ) -> Self {
        Self {
            name,
            record,
            expect,
            server,
        }
    }

    #[must_use]
    pub fn target(&self) -> String {
        let mut target = format!("{} {}", self.record, self.name);
        if let Some(server) = self.server {
            let _ = write!(target, " @{server}");
        }
        target
    }

    pub async fn run(&self, budget: Duration) -> Outcome {
        let started = Instant::now();
        let resolver = match self.resolver(budget) {
            Ok(resolver) => resolver,
            Err(reason) => return Outcome::Unhealthy(reason),
        };
        let lookup = match resolver
            .lookup(self.name.as_str(), self.record.record_type())
            .await
        {
            Ok(lookup) => lookup,
            Err(err) if err.is_nx_domain() => {
                return Outcome::Unhealthy("no such name (NXDOMAIN)".to_owned());
            }
            Err(err) if err.is_no_records_found() => {
                return Outcome::Unhealthy(format!("no {} record", self.record));
            }
            Err(err) => return Outcome::Unhealthy(lookup_error(&err.to_string())),
        };
        let wanted = self.record.record_type();
        let values: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == wanted)
            .map(|r| show(&r.data))
            .collect();
        if values.is_empty() {
            return Outcome::Unhealthy(format!("no {} record", self.record));
        }
        let list = values.join(", ");
        if let Some(expected) = &self.expect {
            if !values.iter().any(|v| same_value(v, expected)) {
                return Outcome::Unhealthy(format!("expected `{expected}`, got {list}"));
            }
        }
        Outcome::Healthy(format!("{list} in {}", human_duration(started.elapsed())))
    }

    fn resolver(&self, budget: Duration) -> Result<TokioResolver, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match self.server {
            Some(server) => {
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut ns.connections {
                    connection.port = server.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                )
            }
            None => TokioResolver::builder(provider).map_err(|e| {
                format!(
                    "cannot read the system resolver configuration: {}",
                    lowercase_first(&e.to_string())
                )
            })?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // A little under the check's hard timeout, so the resolver's own (clearer) reason wins.
        opts.timeout = budget.mul_f32(0.9);
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.try_tcp_on_error = true;
        if self.server.is_some() {
            // Asking a named server is a question about that server, not about `/etc/hosts`.
            opts.use_hosts_file = ResolveHosts::Never;
        }
        builder.build().map_err(|e| {
            format!(
                "cannot set up the resolver: {}",
                lowercase_first(&e.to_string())
            )
        })
    }
}

/// A record's value as people write it: `10.0.0.2`, `db.internal.`, `0 5 5432 db.internal.`.
fn show(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect::<String>(),
        other => other.to_string(),
    }
}

/// Names compare without the trailing dot and without case.
fn same_value(found: &str, expected: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    found == expected || norm(found) == norm(expected)
}

fn lookup_error(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("timeout") {
        "the DNS server did not answer in time".to_owned()
    } else if lower.contains("label contains invalid characters")
        || lower.contains("label too long")
    {
        // hickory's name errors end in the IDNA crate's debug text (`Err(Errors)`): the names
        // we pass are checked before (`target::dns_name`), so this is a name from elsewhere.
        "not a valid DNS name".to_owned()
    } else {
        // Never the debug text of an inner error.
        let text = text.split(": Err(").next().unwrap_or(text);
        lowercase_first(text.trim_start_matches("protocol error: "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_loosely() {
        assert!(same_value("db.internal.", "DB.internal"));
        assert!(!same_value("10.0.0.1", "10.0.0.2"));
    }

    #[test]
    fn resolver_errors_carry_no_debug_text() {
        assert_eq!(
            lookup_error("protocol error: Label contains invalid characters: Err(Errors)"),
            "not a valid DNS name"
        );
        assert_eq!(
            lookup_error("Request timed out"),
            "the DNS server did not answer in time"
        );
        assert_eq!(
            lookup_error("protocol error: bad thing: Err(X)"),
            "bad thing"
        );
    }
}
