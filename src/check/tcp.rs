//! `check tcp`: can a TCP connection be opened?

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use super::outcome::Outcome;
use crate::output::human_duration;
use crate::reason::{io_reason, lowercase_first};
use crate::target::HostPort;

/// Connects to `HOST:PORT`, trying each resolved address in turn.
#[derive(Debug, Clone)]
pub struct TcpCheck {
    address: HostPort,
}

impl TcpCheck {
    #[must_use]
    pub fn new(address: HostPort) -> Self {
        Self { address }
    }

    #[must_use]
    pub fn target(&self) -> String {
        self.address.to_string()
    }

    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let addresses: Vec<SocketAddr> = match self.address.literal() {
            Some(addr) => vec![addr],
            None => match tokio::net::lookup_host((self.address.host.as_str(), self.address.port))
                .await
            {
                Ok(found) => found.collect(),
                Err(err) => {
                    return Outcome::Unhealthy(format!(
                        "cannot resolve `{}`: {}",
                        self.address.host,
                        lowercase_first(&err.to_string())
                    ));
                }
            },
        };
        let mut last = None;
        for addr in &addresses {
            match TcpStream::connect(addr).await {
                Ok(_) => {
                    let shown = if self.address.literal().is_some() {
                        String::new()
                    } else {
                        format!(" ({addr})")
                    };
                    return Outcome::Healthy(format!(
                        "connected{shown} in {}",
                        human_duration(started.elapsed())
                    ));
                }
                Err(err) => last = Some((addr, err)),
            }
        }
        match last {
            Some((addr, err)) if addresses.len() > 1 => {
                Outcome::Unhealthy(format!("{} (last tried {addr})", io_reason(&err)))
            }
            Some((_, err)) => Outcome::Unhealthy(io_reason(&err)),
            None => Outcome::Unhealthy(format!("`{}` has no addresses", self.address.host)),
        }
    }
}
