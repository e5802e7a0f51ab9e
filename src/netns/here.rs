//! Checks run from *this* network namespace: each target's name resolved the way applications
//! resolve it (the C library's rules: `/etc/hosts`, then the resolver), then its check run once,
//! all targets in parallel. Inside the probe container "here" is the joined service's namespace.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::result::{ProbeResult, Verdict};
use crate::output::millis;
use crate::target::Target;

/// What the probe container is asked to do (written to its stdin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The targets as written (they may hold credentials, hence stdin).
    pub targets: Vec<String>,
    /// The bound of each target.
    pub timeout_ms: u64,
}

/// Checks every target once, in parallel; results in the targets' order.
pub async fn probe_all(targets: &[Target], timeout: Duration) -> Vec<ProbeResult> {
    futures_util::future::join_all(targets.iter().map(|t| probe_one(t, timeout))).await
}

async fn probe_one(target: &Target, timeout: Duration) -> ProbeResult {
    let started = Instant::now();
    let shown = target.to_string();
    tracing::debug!(target = %shown, "probing");
    let mut addresses = Vec::new();
    let lookup = target
        .endpoint()
        .or_else(|| target.dns_name().map(|name| (name.to_owned(), 0)));
    if let Some((host, port)) = lookup {
        match resolve(&host, port, timeout).await {
            Ok(found) => addresses = found,
            // A `dns://` target's own check says why the name does not resolve.
            Err(reason) if target.endpoint().is_some() => {
                let result = ProbeResult {
                    target: shown,
                    check: target.kind().to_owned(),
                    result: if reason.starts_with("timed out") {
                        Verdict::Timeout
                    } else {
                        Verdict::Unresolvable
                    },
                    detail: reason,
                    addresses,
                    latency_ms: millis(started.elapsed()),
                };
                tracing::debug!(target = %result.target, result = result.result.as_str(), "probed");
                return result;
            }
            Err(_) => {}
        }
    }
    let remaining = timeout.saturating_sub(started.elapsed());
    let result = match crate::check::for_target(target.clone()) {
        Ok(check) => {
            let report = check.run(remaining).await;
            ProbeResult::of(
                shown,
                report.kind,
                &report.outcome,
                target.dns_name().is_some(),
                addresses,
                millis(started.elapsed()),
            )
        }
        Err(e) => ProbeResult {
            target: shown,
            check: target.kind().to_owned(),
            result: Verdict::Unhealthy,
            detail: e.one_line(),
            addresses,
            latency_ms: millis(started.elapsed()),
        },
    };
    tracing::debug!(target = %result.target, result = result.result.as_str(), "probed");
    result
}

/// The addresses `host` resolves to (deduplicated, in the resolver's order).
async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<String>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip.to_string()]);
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(found)) => {
            let mut out: Vec<String> = Vec::new();
            for addr in found {
                let ip = addr.ip().to_string();
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
            if out.is_empty() {
                Err(format!("cannot resolve `{host}`: no addresses"))
            } else {
                Ok(out)
            }
        }
        Ok(Err(e)) => Err(format!(
            "cannot resolve `{host}`: {}",
            crate::reason::lowercase_first(&crate::reason::strip_os_error(&e.to_string()))
        )),
        Err(_) => Err(format!(
            "timed out resolving `{host}` after {}",
            crate::output::human_duration(timeout)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_unresolvable_and_reachable_are_told_apart() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let targets: Vec<Target> = [
            format!("tcp://127.0.0.1:{open}"),
            format!("tcp://localhost:{closed}"),
            "tcp://no-such-host.invalid:80".to_owned(),
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        let results = probe_all(&targets, Duration::from_secs(3)).await;
        let verdicts: Vec<Verdict> = results.iter().map(|r| r.result).collect();
        assert_eq!(
            verdicts,
            [Verdict::Reachable, Verdict::Refused, Verdict::Unresolvable],
            "{results:#?}"
        );
        assert_eq!(results[0].addresses, ["127.0.0.1"]);
        assert!(results[1].addresses.iter().any(|a| a == "127.0.0.1"));
    }
}
