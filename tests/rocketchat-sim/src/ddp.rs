//! DDP over a raw WebSocket at `/websocket` — Rocket.Chat's Realtime API transport, used by its
//! web and mobile clients and by the Hubot adapter. Only the connection is simulated: the
//! handshake, heartbeats and the protocol's error replies, which is what a reverse proxy in
//! front of the server has to carry (an `Upgrade` that reaches the server, frames both ways).
//! Methods and subscriptions are not: each is answered as an unknown one.
//!
//! Sources: the DDP specification (meteor/meteor `packages/ddp/DDP.md`, version "1");
//! Meteor's server (`packages/ddp-server/stream_server.js`: the `{"server_id":"0"}` greeting on
//! every new socket, `/websocket` served by SockJS's raw WebSocket transport;
//! `packages/ddp-server/livedata_server.js`: `Parse error`, `Bad request`, `Already connected`,
//! `Must connect first`, version negotiation against `["1", "pre2", "pre1"]`, `ping`/`pong`,
//! `Method '<name>' not found` and `Subscription '<name>' not found` as 404 `Meteor.Error`s);
//! SockJS (`sockjs-node` `trans-websocket.js`: a request without `Upgrade: websocket` gets 400
//! `Can "Upgrade" only to "WebSocket".`); Rocket.Chat's developer docs, "Realtime API".

use axum::extract::ws::{Message, WebSocket};
use serde_json::{Value, json};

use crate::state::random_id;

/// DDPCommon.SUPPORTED_DDP_VERSIONS, most preferred first.
const SUPPORTED: [&str; 3] = ["1", "pre2", "pre1"];

/// SockJS's answer to a `/websocket` request that is not a WebSocket upgrade.
pub const NOT_AN_UPGRADE: &str = "Can \"Upgrade\" only to \"WebSocket\".";

/// What one connection has negotiated so far.
#[derive(Default)]
pub struct Connection {
    session: Option<String>,
}

/// The server's answer to one client frame: messages to send, then whether to close.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub send: Vec<Value>,
    pub close: bool,
}

impl Answer {
    fn send(v: Value) -> Self {
        Self {
            send: vec![v],
            close: false,
        }
    }
    fn nothing() -> Self {
        Self {
            send: Vec::new(),
            close: false,
        }
    }
}

/// livedata_server.js `sendError`: a top-level `error` message.
fn error(reason: &str, offending: Option<&Value>) -> Value {
    let mut v = json!({"msg": "error", "reason": reason});
    if let Some(m) = offending {
        v["offendingMessage"] = m.clone();
    }
    v
}

/// A 404 `Meteor.Error` as DDP serialises it.
fn not_found(what: &str) -> Value {
    json!({
        "isClientSafe": true,
        "error": 404,
        "reason": what,
        "message": format!("{what} [404]"),
        "errorType": "Meteor.Error",
    })
}

/// livedata_server.js `calculateVersion`: the first of the client's versions the server speaks.
fn best_version(support: &[&str]) -> &'static str {
    support
        .iter()
        .find_map(|v| SUPPORTED.iter().find(|s| *s == v).copied())
        .unwrap_or(SUPPORTED[0])
}

impl Connection {
    /// The greeting Meteor sends on every new socket, before the client says anything.
    pub fn greeting() -> Value {
        json!({"server_id": "0"})
    }

    /// Handles one text frame.
    pub fn handle(&mut self, raw: &str) -> Answer {
        let Ok(msg) = serde_json::from_str::<Value>(raw) else {
            return Answer::send(error("Parse error", None));
        };
        let Some(kind) = msg.get("msg").and_then(Value::as_str) else {
            return Answer::send(error("Bad request", Some(&msg)));
        };
        if kind == "connect" {
            if self.session.is_some() {
                return Answer::send(error("Already connected", Some(&msg)));
            }
            return self.connect(&msg);
        }
        if self.session.is_none() {
            return Answer::send(error("Must connect first", Some(&msg)));
        }
        let id = msg.get("id").cloned();
        match kind {
            "ping" => {
                let mut pong = json!({"msg": "pong"});
                if let Some(id) = id {
                    pong["id"] = id;
                }
                Answer::send(pong)
            }
            "pong" => Answer::nothing(),
            "method" => {
                let (Some(id), Some(name)) = (
                    id.as_ref().and_then(Value::as_str),
                    msg.get("method").and_then(Value::as_str),
                ) else {
                    return Answer::send(error("Malformed method invocation", Some(&msg)));
                };
                Answer::send(json!({
                    "msg": "result",
                    "id": id,
                    "error": not_found(&format!("Method '{name}' not found")),
                }))
            }
            "sub" => {
                let (Some(id), Some(name)) = (
                    id.as_ref().and_then(Value::as_str),
                    msg.get("name").and_then(Value::as_str),
                ) else {
                    return Answer::send(error("Bad request", Some(&msg)));
                };
                Answer::send(json!({
                    "msg": "nosub",
                    "id": id,
                    "error": not_found(&format!("Subscription '{name}' not found")),
                }))
            }
            "unsub" => match id {
                Some(id) => Answer::send(json!({"msg": "nosub", "id": id})),
                None => Answer::send(error("Bad request", Some(&msg))),
            },
            _ => Answer::send(error("Bad request", Some(&msg))),
        }
    }

    fn connect(&mut self, msg: &Value) -> Answer {
        let version = msg.get("version").and_then(Value::as_str);
        let support: Option<Vec<&str>> = msg
            .get("support")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_str).collect());
        let failed = |v: &str| Answer {
            send: vec![json!({"msg": "failed", "version": v})],
            close: true,
        };
        let (Some(version), Some(support)) = (version, support) else {
            return failed(SUPPORTED[0]);
        };
        if !support.contains(&version) {
            return failed(SUPPORTED[0]);
        }
        let best = best_version(&support);
        if version != best {
            return failed(best);
        }
        let session = random_id(17);
        self.session = Some(session.clone());
        Answer::send(json!({"msg": "connected", "session": session}))
    }
}

/// Serves one upgraded connection until the client closes it.
pub async fn serve(mut socket: WebSocket) {
    let mut conn = Connection::default();
    if send(&mut socket, &Connection::greeting()).await.is_err() {
        return;
    }
    while let Some(Ok(frame)) = socket.recv().await {
        let text = match frame {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let answer = conn.handle(&text);
        for v in &answer.send {
            if send(&mut socket, v).await.is_err() {
                return;
            }
        }
        if answer.close {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    }
}

async fn send(socket: &mut WebSocket, v: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(v.to_string().into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected() -> Connection {
        let mut c = Connection::default();
        let a = c.handle(r#"{"msg":"connect","version":"1","support":["1"]}"#);
        assert_eq!(a.send[0]["msg"], "connected");
        assert_eq!(a.send[0]["session"].as_str().map(str::len), Some(17));
        c
    }

    #[test]
    fn handshake_heartbeat_and_unknown_methods() {
        let mut c = connected();
        assert_eq!(
            c.handle(r#"{"msg":"ping","id":"7"}"#),
            Answer::send(json!({"msg": "pong", "id": "7"}))
        );
        assert_eq!(
            c.handle(r#"{"msg":"ping"}"#),
            Answer::send(json!({"msg": "pong"}))
        );
        let a = c.handle(r#"{"msg":"method","id":"1","method":"login","params":[]}"#);
        assert_eq!(
            a.send[0]["error"]["message"],
            "Method 'login' not found [404]"
        );
        let a = c.handle(r#"{"msg":"sub","id":"2","name":"stream-room-messages"}"#);
        assert_eq!(a.send[0]["msg"], "nosub");
        let a = c.handle(r#"{"msg":"connect","version":"1","support":["1"]}"#);
        assert_eq!(a.send[0]["reason"], "Already connected");
    }

    #[test]
    fn version_negotiation_and_protocol_errors() {
        let mut c = Connection::default();
        assert_eq!(c.handle("{not json").send[0]["reason"], "Parse error");
        assert_eq!(
            c.handle(r#"{"msg":"ping"}"#).send[0]["reason"],
            "Must connect first"
        );
        // A better version both sides speak: the server insists on it and closes.
        let a = c.handle(r#"{"msg":"connect","version":"pre1","support":["1","pre1"]}"#);
        assert_eq!(a.send[0], json!({"msg": "failed", "version": "1"}));
        assert!(a.close);
        let a = c.handle(r#"{"msg":"connect","version":"2","support":["2"]}"#);
        assert_eq!(a.send[0], json!({"msg": "failed", "version": "1"}));
        assert!(a.close);
    }
}
