//! Checks: one attempt against one target, returning an [`Outcome`].
//!
//! An unhealthy target is a *result*, not an error: errors are reserved for checks that cannot
//! even be attempted (bad input, unusable TLS settings), which are permanent and never retried.
//! The generic network checks live here; MongoDB's, Rocket.Chat's and GitLab's live in their domain
//! folders, and [`Check`] gathers every kind so probes and the engine can run any of them.

pub mod dns;
pub mod http;
pub mod outcome;
pub mod tcp;

use std::time::{Duration, Instant};

pub use outcome::{Outcome, Report};

use crate::error::Error;
use crate::gitlab::check::GitlabCheck;
use crate::mongo::check::MongoCheck;
use crate::output::human_duration;
use crate::rocketchat::check::RocketChatCheck;
use crate::target::Target;

/// A check, ready to run as often as needed.
#[derive(Debug)]
pub enum Check {
    Tcp(tcp::TcpCheck),
    Http(Box<http::HttpCheck>),
    Dns(dns::DnsCheck),
    Mongo(Box<MongoCheck>),
    RocketChat(Box<RocketChatCheck>),
    Gitlab(Box<GitlabCheck>),
}

impl Check {
    /// The kind of check, e.g. `tcp`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tcp(_) => "tcp",
            Self::Http(_) => "http",
            Self::Dns(_) => "dns",
            Self::Mongo(_) => "mongo",
            Self::RocketChat(c) => c.kind(),
            Self::Gitlab(_) => "gitlab",
        }
    }

    /// What is being checked, safe to print (credentials masked).
    #[must_use]
    pub fn target(&self) -> String {
        match self {
            Self::Tcp(c) => c.target(),
            Self::Http(c) => c.target(),
            Self::Dns(c) => c.target(),
            Self::Mongo(c) => c.target(),
            Self::RocketChat(c) => c.target(),
            Self::Gitlab(c) => c.target(),
        }
    }

    async fn attempt(&self, budget: Duration) -> Outcome {
        match self {
            Self::Tcp(c) => c.run().await,
            Self::Http(c) => c.run().await,
            Self::Dns(c) => c.run(budget).await,
            Self::Mongo(c) => c.run(budget).await,
            Self::RocketChat(c) => c.run().await,
            Self::Gitlab(c) => c.run().await,
        }
    }

    /// One attempt under a hard timeout.
    pub async fn run(&self, timeout: Duration) -> Report {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(timeout, self.attempt(timeout)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Unhealthy(format!("timed out after {}", human_duration(timeout))),
        };
        Report {
            kind: self.kind(),
            target: self.target(),
            outcome,
            elapsed: started.elapsed(),
        }
    }
}

/// A `wait` target (or a service's `x-stackctl.ready` entry) becomes a check; invalid TLS
/// settings fail here, once, not on every retry.
///
/// # Errors
/// A usage error when the check cannot be built (e.g. an unreadable `--ca-file`).
pub fn for_target(target: Target) -> Result<Check, Error> {
    Ok(match target {
        Target::Tcp(address) => Check::Tcp(tcp::TcpCheck::new(address)),
        Target::Http(url) => Check::Http(Box::new(http::HttpCheck::new(http::HttpSpec::get(url))?)),
        Target::Dns {
            name,
            record,
            expect,
            server,
        } => Check::Dns(dns::DnsCheck::new(name, record, expect, server)),
        Target::Mongo(target) => {
            let set = target.replica_set.clone();
            Check::Mongo(Box::new(MongoCheck::lazy(target, set, None)))
        }
        Target::RocketChat(url) => {
            // The attempt's hard timeout bounds every request; this is only the client's cap.
            let client = crate::rocketchat::client::Client::new(url, crate::limits::MAX_DURATION)?;
            Check::RocketChat(Box::new(RocketChatCheck::new(
                client,
                crate::rocketchat::check::Probe::Server,
                None,
                None,
            )))
        }
    })
}
