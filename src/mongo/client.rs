//! Talking to one MongoDB member with the official driver: a direct connection with short,
//! bounded timeouts, the server's `hello` classified the way drivers classify it (SDAM spec),
//! and driver errors turned into short reasons with credentials scrubbed.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, ServerAddress};
use mongodb::{Client, error::ErrorKind};

use crate::error::Error;

/// A member's role as `hello` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// No `setName`, no `isreplicaset`: not started with `--replSet`.
    Standalone,
    /// Started with `--replSet` but no config yet ("RSGhost").
    Uninitialized,
    Primary {
        set: String,
    },
    Secondary {
        set: String,
    },
    /// Arbiter, recovering, startup...: a member that is neither.
    OtherMember {
        set: String,
    },
}

impl Role {
    /// From a `hello` / `isMaster` reply (SDAM: server type from hello).
    #[must_use]
    pub fn from_hello(reply: &Document) -> Self {
        let flag = |k: &str| reply.get_bool(k).unwrap_or(false);
        match reply.get_str("setName").ok().map(str::to_owned) {
            Some(set) if flag("isWritablePrimary") || flag("ismaster") => Role::Primary { set },
            Some(set) if flag("secondary") => Role::Secondary { set },
            Some(set) => Role::OtherMember { set },
            None if flag("isreplicaset") => Role::Uninitialized,
            None => Role::Standalone,
        }
    }
}

/// One member, connected directly.
pub struct Member {
    pub client: Client,
    /// `host:port`, for messages (never the URI: it may hold credentials).
    pub address: String,
    secret: Option<String>,
}

impl Member {
    /// Parses the URI and prepares a direct connection to its single host.
    ///
    /// # Errors
    /// A usage error for a malformed URI or one naming several hosts.
    pub async fn connect(uri: &str, timeout: Duration) -> Result<Self, Error> {
        let shown = crate::redact::uri_text(uri);
        let mut options = ClientOptions::parse(uri).await.map_err(|e| {
            Error::usage(format!("invalid MongoDB URI `{shown}`: {}", reason_of(&e, None)))
                .with_hint("expected e.g. `mongodb://mongo:27017` or `mongodb://user:pass@mongo:27017/?authSource=admin`")
        })?;
        if options.hosts.len() != 1 {
            return Err(Error::usage(format!(
                "`{shown}` names {} hosts; this talks to one member",
                options.hosts.len()
            ))
            .with_hint("give the member's own URI, e.g. `mongodb://mongo:27017`"));
        }
        let address = match &options.hosts[0] {
            ServerAddress::Tcp { host, port } => format!("{host}:{}", port.unwrap_or(27017)),
            other => other.to_string(),
        };
        let secret = options.credential.as_ref().and_then(|c| c.password.clone());
        // Direct: an uninitialized member is selectable only this way (server selection
        // spec); short timeouts so one attempt never outlives its budget.
        options.direct_connection = Some(true);
        options.repl_set_name = None;
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        options.app_name = Some("stackctl".to_owned());
        options.max_pool_size = Some(1);
        let client = Client::with_options(options).map_err(|e| {
            Error::usage(format!(
                "cannot use MongoDB URI `{shown}`: {}",
                reason_of(&e, None)
            ))
        })?;
        Ok(Self {
            client,
            address,
            secret,
        })
    }

    /// Runs an admin command.
    pub async fn command(&self, command: Document) -> Result<Document, mongodb::error::Error> {
        self.client.database("admin").run_command(command).await
    }

    /// `hello` and the role it shows.
    pub async fn hello(&self) -> Result<(Role, Document), String> {
        let reply = self
            .command(doc! {"hello": 1})
            .await
            .map_err(|e| self.reason(&e))?;
        Ok((Role::from_hello(&reply), reply))
    }

    /// A short reason for a driver error, credentials scrubbed.
    #[must_use]
    pub fn reason(&self, err: &mongodb::error::Error) -> String {
        reason_of(err, self.secret.as_deref())
    }

    /// A quick TCP connection first: a refused port answers at once, where server selection
    /// would wait for its whole timeout.
    pub async fn reachable(&self) -> Result<(), String> {
        let (host, port) = self
            .address
            .rsplit_once(':')
            .unwrap_or((&self.address, "27017"));
        let port: u16 = port.parse().unwrap_or(27017);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        tokio::net::TcpStream::connect((host, port))
            .await
            .map(drop)
            .map_err(|e| crate::reason::io_reason(&e))
    }
}

/// The code and name of a command error, if the error is one.
#[must_use]
pub fn command_error(err: &mongodb::error::Error) -> Option<(i32, String, String)> {
    match err.kind.as_ref() {
        ErrorKind::Command(c) => Some((c.code, c.code_name.clone(), c.message.clone())),
        _ => None,
    }
}

fn reason_of(err: &mongodb::error::Error, secret: Option<&str>) -> String {
    let text = match err.kind.as_ref() {
        ErrorKind::Command(c) => format!("{} ({} {})", c.message, c.code, c.code_name),
        ErrorKind::ServerSelection { message, .. } => selection_reason(message),
        ErrorKind::Io(io) => crate::reason::io_reason(io),
        ErrorKind::Authentication { message, .. } => format!("authentication failed: {message}"),
        ErrorKind::InvalidArgument { message, .. } | ErrorKind::DnsResolve { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    };
    // The driver's texts may quote the connection string: mask URIs, then the password itself.
    let text = crate::reason::lowercase_first(&crate::redact::text(&text));
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
        _ => text,
    }
}

/// Server selection errors carry the topology; the server's own error is what people need.
fn selection_reason(message: &str) -> String {
    if let Some(start) = message.find("Error: ") {
        let rest = &message[start + 7..];
        let rest = rest.strip_prefix("Kind: ").unwrap_or(rest);
        let end = rest
            .find(", labels")
            .or_else(|| rest.find(" }"))
            .unwrap_or(rest.len());
        let cause = rest[..end].trim();
        let cause = cause.strip_prefix("I/O error: ").unwrap_or(cause);
        return format!(
            "no reachable server: {}",
            crate::reason::strip_os_error(cause).to_lowercase()
        );
    }
    "no reachable server (server selection timed out)".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_hello() {
        assert_eq!(
            Role::from_hello(&doc! {"isWritablePrimary": true}),
            Role::Standalone
        );
        assert_eq!(
            Role::from_hello(&doc! {"isWritablePrimary": false, "isreplicaset": true}),
            Role::Uninitialized
        );
        assert_eq!(
            Role::from_hello(
                &doc! {"setName": "rs0", "secondary": true, "isWritablePrimary": false}
            ),
            Role::Secondary { set: "rs0".into() }
        );
        assert_eq!(
            Role::from_hello(&doc! {"setName": "rs0", "ismaster": true}),
            Role::Primary { set: "rs0".into() }
        );
    }

    #[test]
    fn selection_errors_name_the_cause() {
        let message = "Server selection timeout: No available servers. Topology: { Type: Single, Servers: [ { Address: 127.0.0.1:1, Type: Unknown, Error: Kind: I/O error: Connection refused (os error 111), labels: {} } ] }";
        assert_eq!(
            selection_reason(message),
            "no reachable server: connection refused"
        );
    }
}
