//! Addresses: the monitoring allowlist (CIDR ranges, as `gitlab_rails['monitoring_whitelist']`)
//! and the outbound-request rules of Gitlab::UrlBlocker that decide whether a webhook URL
//! points at the local network (doc/security/webhooks.md).

use std::net::IpAddr;

/// One CIDR range, e.g. `127.0.0.0/8` or `::1/128`; a bare address is a single host.
#[derive(Clone, Debug)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, bits) = text
            .trim()
            .split_once('/')
            .map_or((text.trim(), None), |(a, b)| (a, Some(b)));
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an address or CIDR range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("`{text}` has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { net, bits })
    }
}

impl Cidr {
    /// IPAddr#include?; an IPv4 range also matches its IPv4-mapped IPv6 form, as
    /// RequiresAllowlistedMonitoringClient#compat_ip_allowlist adds.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

/// `::ffff:127.0.0.1` → `127.0.0.1`.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Why Gitlab::UrlBlocker refuses an address when local requests are not allowed, or `None`.
/// Loopback and the unspecified address are "localhost"; RFC 1918, unique-local and shared
/// addresses are "the local network"; 169.254/16 and fe80::/10 "the link local network".
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    let ip = unmap(ip);
    let v6_segments = match ip {
        IpAddr::V6(v6) => Some(v6.segments()),
        IpAddr::V4(_) => None,
    };
    if ip.is_loopback() || ip.is_unspecified() {
        return Some("Requests to localhost are not allowed");
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_link_local() {
                Some("Requests to the link local network are not allowed")
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                Some("Requests to the local network are not allowed")
            } else {
                None
            }
        }
        IpAddr::V6(_) => {
            let first = v6_segments.map_or(0, |s| s[0]);
            if first & 0xffc0 == 0xfe80 {
                Some("Requests to the link local network are not allowed")
            } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
                Some("Requests to the local network are not allowed")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_local_addresses() {
        let list: Vec<Cidr> = ["127.0.0.0/8", " ::1/128", "10.1.2.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let hit = |s: &str| list.iter().any(|c| c.contains(s.parse().unwrap()));
        assert!(hit("127.4.5.6") && hit("::1") && hit("::ffff:127.0.0.1") && hit("10.1.2.3"));
        assert!(!hit("10.1.2.4") && !hit("192.168.0.1"));
        assert!("1.2.3.4/33".parse::<Cidr>().is_err());
        let why = |s: &str| blocked_reason(s.parse().unwrap());
        assert_eq!(
            why("127.0.0.1"),
            Some("Requests to localhost are not allowed")
        );
        assert_eq!(
            why("172.20.0.5"),
            Some("Requests to the local network are not allowed")
        );
        assert_eq!(
            why("fd00::1"),
            Some("Requests to the local network are not allowed")
        );
        assert_eq!(
            why("169.254.1.1"),
            Some("Requests to the link local network are not allowed")
        );
        assert_eq!(why("93.184.216.34"), None);
    }
}
