//! The small languages inside compose values: names, durations, port specs, extra hosts,
//! restart policies. Each follows the compose specification's JSON schema
//! (`schema/compose-spec.json`), compose-go where the schema says only "string", and the
//! Docker Engine where compose passes a value through unchecked (so the engine would refuse it
//! later, after containers were already created).

use std::net::IpAddr;
use std::time::Duration;

use super::model::Port;

/// Service, network and volume keys: the schema's `^[a-zA-Z0-9._-]+$`.
#[must_use]
pub fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `container_name`: the Engine's `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$` (the schema's pattern,
/// anchored as the Engine anchors it).
#[must_use]
pub fn is_container_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A variable name in `environment`: not empty, no `=`, no spaces or control characters.
#[must_use]
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '=' || c.is_whitespace() || c.is_control())
}

/// A byte value as compose writes one (`shm_size`, `mem_limit`): an integer, optionally with
/// a unit `b`, `k`/`kb`, `m`/`mb`, `g`/`gb` (powers of 1024, case-insensitive; compose-go
/// `types.UnitBytes` via docker/go-units `RAMInBytes`).
///
/// # Errors
/// What is wrong, quoting the text.
pub fn bytes(text: &str) -> Result<i64, String> {
    let invalid = || format!("`{text}` is not a size; expected e.g. `256m`, `1gb`, `65536`");
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if digits == 0 {
        return Err(invalid());
    }
    let number: i64 = trimmed[..digits].parse().map_err(|_| invalid())?;
    let shift = match trimmed[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        _ => return Err(invalid()),
    };
    number
        .checked_mul(1_i64 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// `deploy.resources.*.cpus`: a decimal number of CPUs, as nano-CPUs (`0.5` → 500 000 000),
/// the unit of the Engine API's `NanoCPUs`. At most nine decimals, like the CLI's `--cpus`.
///
/// # Errors
/// What is wrong, quoting the text.
pub fn nano_cpus(text: &str) -> Result<i64, String> {
    let invalid = || format!("`{text}` is not a number of CPUs; expected e.g. `0.5`, `2`");
    let trimmed = text.trim();
    let (whole, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty())
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 9
    {
        return Err(invalid());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = format!("{fraction:0<9}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction))
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// A duration as compose reads it (Go's `time.ParseDuration` plus compose-go's `d` and `w`):
/// decimal numbers with units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`, `d`, `w`, e.g. `1m30s`,
/// `1.5s`; `0` alone needs no unit.
///
/// # Errors
/// What is wrong, quoting the text.
pub fn duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration; expected e.g. `5s`, `250ms`, `1m30s`");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` has no unit; write e.g. `{text}s` or `{text}ms`"
        ));
    }
    if text.starts_with('-') {
        return Err(format!("`{text}` is negative"));
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 604_800_000_000_000,
            _ => return Err(invalid()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        // Digits beyond nanoseconds change nothing; bounding them keeps the sums in range.
        let whole: u128 = if whole.is_empty() {
            0
        } else if whole.len() > 20 {
            return Err(format!("`{text}` is too long a duration"));
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let fraction = &fraction[..fraction.len().min(18)];
        let scale = 10u128.pow(u32::try_from(fraction.len()).unwrap_or(0));
        let fraction: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| invalid())?
        };
        total = total
            .saturating_add(whole.saturating_mul(nanos_per))
            .saturating_add(fraction * nanos_per / scale);
    }
    let nanos = u64::try_from(total).map_err(|_| format!("`{text}` is too long a duration"))?;
    Ok(Duration::from_nanos(nanos))
}

/// Ports of a short-form spec: `80`, `8080:80`, `127.0.0.1:8080:80`, `[::1]:8080:80`,
/// `8000-8002:9000-9002`, `3000-3002`, `53:53/udp` (protocols `tcp`, `udp`, `sctp`).
/// Ranges expand to one port each.
///
/// # Errors
/// What is wrong, quoting the spec.
pub fn ports(spec: &str) -> Result<Vec<Port>, String> {
    let (body, protocol) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(format!(
            "port `{spec}`: protocol must be `tcp`, `udp` or `sctp`"
        ));
    }
    let (host_ip, rest) = if let Some(v6) = body.strip_prefix('[') {
        let (ip, rest) = v6
            .split_once("]:")
            .ok_or_else(|| format!("port `{spec}`: unclosed `[`"))?;
        (Some(ip), rest)
    } else {
        match body.matches(':').count() {
            0 | 1 => (None, body),
            2 => body
                .split_once(':')
                .map_or((None, body), |(ip, rest)| (Some(ip), rest)),
            _ => {
                return Err(format!(
                    "port `{spec}`: write an IPv6 host address in brackets, e.g. `[::1]:8080:80`"
                ));
            }
        }
    };
    let host_ip = host_ip
        .map(|ip| host_address(ip).map_err(|e| format!("port `{spec}`: {e}")))
        .transpose()?;
    let (published, target) = match rest.split_once(':') {
        Some((published, target)) => (Some(published).filter(|p| !p.is_empty()), target),
        None => (None, rest),
    };
    let targets = range(spec, target, 1)?;
    let published = published.map(|p| range(spec, p, 0)).transpose()?;
    let hosts: Vec<Option<u16>> = match published {
        None => vec![None; targets.len()],
        Some(hosts) if hosts.len() == targets.len() => hosts
            .into_iter()
            .map(|h| Some(h).filter(|h| *h != 0))
            .collect(),
        Some(hosts) if targets.len() == 1 => {
            return Err(format!(
                "port `{spec}`: a range of {} host ports for one container port is not supported by stackctl; publish one port",
                hosts.len()
            ));
        }
        Some(hosts) => {
            return Err(format!(
                "port `{spec}`: the host range has {} ports but the container range has {}",
                hosts.len(),
                targets.len()
            ));
        }
    };
    Ok(targets
        .into_iter()
        .zip(hosts)
        .map(|(container_port, host_port)| Port {
            host_ip: host_ip.clone(),
            host_port,
            container_port,
            protocol: protocol.to_owned(),
        })
        .collect())
}

/// Most ports one range may expand to; a whole-range typo should not make 65535 entries.
const MAX_RANGE: usize = 1024;

/// `N` or `N-M`, each in `min..=65535`.
fn range(spec: &str, text: &str, min: u16) -> Result<Vec<u16>, String> {
    let number = |s: &str| -> Result<u16, String> {
        match s.parse::<u32>() {
            Ok(n) if n >= u32::from(min) && n <= 65535 => Ok(u16::try_from(n).unwrap_or_default()),
            _ => Err(format!(
                "port `{spec}`: `{s}` is not a port number ({min}-65535)"
            )),
        }
    };
    match text.split_once('-') {
        None => Ok(vec![number(text)?]),
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            if start > end {
                return Err(format!(
                    "port `{spec}`: the range `{text}` ends before it starts"
                ));
            }
            if usize::from(end - start) >= MAX_RANGE {
                return Err(format!(
                    "port `{spec}`: the range `{text}` has more than {MAX_RANGE} ports"
                ));
            }
            Ok((start..=end).collect())
        }
    }
}

/// A host IP to publish on, with or without brackets.
///
/// # Errors
/// The text is not an IP address.
pub fn host_address(text: &str) -> Result<String, String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("`{text}` is not an IP address"))
}

/// `HOST:IP` or `HOST=IP` (IP may be bracketed IPv6, or `host-gateway`), as `HOST:IP`.
///
/// # Errors
/// What is wrong, quoting the entry.
pub fn extra_host(entry: &str) -> Result<String, String> {
    let (host, ip) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .ok_or_else(|| format!("extra host `{entry}`: expected `HOST:IP`"))?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("extra host `{entry}`: `{host}` is not a host name"));
    }
    if ip == "host-gateway" {
        return Ok(format!("{host}:{ip}"));
    }
    let ip = host_address(ip).map_err(|e| format!("extra host `{entry}`: {e}"))?;
    Ok(format!("{host}:{ip}"))
}

/// `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`.
#[must_use]
pub fn is_restart_policy(policy: &str) -> bool {
    matches!(policy, "no" | "always" | "unless-stopped" | "on-failure")
        || policy
            .strip_prefix("on-failure:")
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_compose() {
        assert_eq!(bytes("256m").unwrap(), 256 << 20);
        assert_eq!(bytes("1GB").unwrap(), 1 << 30);
        assert_eq!(bytes("64k").unwrap(), 64 << 10);
        assert_eq!(bytes("65536").unwrap(), 65536);
        assert_eq!(bytes("12b").unwrap(), 12);
        for bad in ["", "m", "256x", "-1m", "1.5g", "99999999999g"] {
            assert!(bytes(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn cpus_are_counted_in_billionths() {
        assert_eq!(nano_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(nano_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(nano_cpus(".25").unwrap(), 250_000_000);
        assert_eq!(nano_cpus("1.000000001").unwrap(), 1_000_000_001);
        for bad in ["", ".", "-1", "1.5x", "0.0000000001", "1e3", "99999999999"] {
            assert!(nano_cpus(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn durations_follow_go() {
        assert_eq!(duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("0").unwrap(), Duration::ZERO);
        assert_eq!(duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(duration("10us").unwrap(), Duration::from_micros(10));
        for bad in ["soon", "5 s", "5sec", "1day", "", "s", "1..5s", "-1s", "5"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(duration(&"9".repeat(40)).is_err());
    }

    #[test]
    fn port_specs() {
        let p = &ports("127.0.0.1:8080:80/udp").unwrap()[0];
        assert_eq!(
            (
                p.host_ip.as_deref(),
                p.host_port,
                p.container_port,
                p.protocol.as_str()
            ),
            (Some("127.0.0.1"), Some(8080), 80, "udp")
        );
        assert_eq!(ports("3000").unwrap()[0].host_port, None);
        assert_eq!(ports("8080:80").unwrap()[0].host_port, Some(8080));
        assert_eq!(
            ports("[::1]:8080:80").unwrap()[0].host_ip.as_deref(),
            Some("::1")
        );
        assert_eq!(ports("8000-8002:9000-9002").unwrap().len(), 3);
        assert_eq!(
            ports("8000-8002:9000-9002").unwrap()[2].host_port,
            Some(8002)
        );
        assert_eq!(ports("3000-3001").unwrap().len(), 2);
        assert!(ports("99999:80").unwrap_err().contains("not a port number"));
        assert!(
            ports("not-an-ip:8080:80")
                .unwrap_err()
                .contains("not an IP address")
        );
        assert!(ports("8080:0").is_err());
        assert!(ports("80/icmp").is_err());
        assert!(ports("8000-8001:80").unwrap_err().contains("not supported"));
        assert!(
            ports("8000-8001:80-82")
                .unwrap_err()
                .contains("has 2 ports")
        );
        assert!(ports("1-65535").unwrap_err().contains("more than"));
    }

    #[test]
    fn names() {
        assert!(is_resource_name("mongo-init_2.a"));
        assert!(!is_resource_name("web app"));
        assert!(!is_resource_name(""));
        assert!(is_container_name("chat-1"));
        assert!(!is_container_name("-chat"));
        assert!(!is_container_name("c"));
        assert!(is_variable_name("ADMIN_PASS"));
        assert!(!is_variable_name("A "));
        assert!(!is_variable_name(""));
    }

    #[test]
    fn extra_hosts() {
        assert_eq!(extra_host("db:10.0.0.5").unwrap(), "db:10.0.0.5");
        assert_eq!(extra_host("db=::1").unwrap(), "db:::1");
        assert_eq!(extra_host("db:[::1]").unwrap(), "db:::1");
        assert_eq!(extra_host("gw:host-gateway").unwrap(), "gw:host-gateway");
        assert!(extra_host("db:nowhere").is_err());
    }
}
