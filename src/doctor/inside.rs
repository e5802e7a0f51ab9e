//! The observations only the stack's own network can make truthfully: MongoDB's `hello`,
//! `replSetGetStatus` and `buildInfo` on the members a client's `MONGO_URL` names, and
//! Rocket.Chat's `/api/info`. The host resolves none of the stack's names, so these run in a
//! throw-away container in a service's network namespace (`doctor --here`, the `probe`
//! machinery), handed their plan on stdin (URIs may hold passwords) and printing facts as NDJSON.
//! Every observation runs at once, each within its own timeout.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use serde::{Deserialize, Serialize};

use super::facts::Fact;
use crate::mongo::client::{Member, Role, command_error};
use crate::target::MongoTarget;

/// What to observe from inside.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    /// MongoDB members: (service, the client's URI naming it).
    pub mongo: Vec<MongoProbe>,
    /// Rocket.Chat servers: (service, base URL).
    pub rocketchat: Vec<RocketChatProbe>,
    /// The reverse proxy in front of Rocket.Chat.
    #[serde(default)]
    pub front_door: Option<FrontDoorProbe>,
    /// Each observation's bound.
    pub timeout_ms: u64,
}

/// One MongoDB member, as a client's URI names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MongoProbe {
    /// The service the member is.
    pub service: String,
    /// `host:port` of the member in the URI.
    pub member: String,
    /// The client's whole URI (may hold credentials; never printed).
    pub uri: String,
}

/// One Rocket.Chat server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RocketChatProbe {
    pub service: String,
    pub url: String,
}

/// The front door: its URL inside the stack and the virtual host to ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrontDoorProbe {
    pub service: String,
    pub url: String,
    pub vhost: Option<String>,
}

impl Plan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.mongo.is_empty() && self.rocketchat.is_empty() && self.front_door.is_none()
    }
}

/// The body larger than nginx's default `client_max_body_size` (1 MiB) that an upload through
/// the front door must get past (brief doctor.md N2: "POST ~2 MB through the vhost").
const LARGE_BODY: usize = 2 << 20;

/// Runs the plan here, every observation at once; the facts they produced.
pub async fn observe(plan: &Plan) -> Vec<Fact> {
    let timeout = Duration::from_millis(plan.timeout_ms.max(100));
    let mongo = futures_util::future::join_all(plan.mongo.iter().map(|p| mongo(p, timeout)));
    let rocketchat =
        futures_util::future::join_all(plan.rocketchat.iter().map(|p| rocketchat(p, timeout)));
    let front_door = async {
        match &plan.front_door {
            Some(door) => front_door(door, timeout).await,
            None => Vec::new(),
        }
    };
    let (mongo, rocketchat, front_door) = tokio::join!(mongo, rocketchat, front_door);
    mongo
        .into_iter()
        .chain(rocketchat)
        .flatten()
        .chain(front_door)
        .collect()
}

/// `hello`, then `replSetGetStatus` and `buildInfo`, on one member.
async fn mongo(probe: &MongoProbe, timeout: Duration) -> Vec<Fact> {
    let service = probe.service.as_str();
    let started = std::time::Instant::now();
    let bounded = tokio::time::timeout(timeout, mongo_facts(probe, timeout)).await;
    let facts = bounded.unwrap_or_else(|_| {
        vec![Fact::new(
            service,
            "mongo.error",
            format!(
                "{}: no answer within {}",
                probe.member,
                crate::output::human_duration(timeout)
            ),
        )]
    });
    tracing::debug!(service, member = %probe.member, elapsed = ?started.elapsed(), "mongo observed");
    facts
}

async fn mongo_facts(probe: &MongoProbe, timeout: Duration) -> Vec<Fact> {
    let service = probe.service.as_str();
    let fact = |key: &str, value: String| Fact::new(service, key, value);
    let target = match MongoTarget::parse(&probe.uri) {
        Ok(target) => target,
        Err(e) => return vec![fact("mongo.error", e)],
    };
    let Some(host) = target.hosts.iter().find(|h| h.to_string() == probe.member) else {
        return vec![fact(
            "mongo.error",
            format!("{} is not in the URI", probe.member),
        )];
    };
    let seed: Vec<String> = target.hosts.iter().map(ToString::to_string).collect();
    let mut facts = vec![fact("mongo.seed", seed.join(","))];
    let member = match Member::connect(&target.member_uri(host), timeout).await {
        Ok(member) => member,
        Err(e) => {
            facts.push(fact("mongo.error", e.one_line()));
            return facts;
        }
    };
    if let Err(reason) = member.reachable().await {
        facts.push(fact("mongo.error", format!("{}: {reason}", probe.member)));
        return facts;
    }
    let (role, hello) = match member.hello().await {
        Ok(answer) => answer,
        Err(reason) => {
            facts.push(fact("mongo.error", format!("{}: {reason}", probe.member)));
            return facts;
        }
    };
    let role_name = match &role {
        Role::Primary { .. } => "primary",
        Role::Secondary { .. } => "secondary",
        Role::OtherMember { .. } => "other",
        Role::Uninitialized => "uninitialized",
        Role::Standalone => "standalone",
    };
    facts.push(fact("mongo.role", role_name.to_owned()));
    if let Ok(set) = hello.get_str("setName") {
        facts.push(fact("mongo.set_name", set.to_owned()));
    }
    if let Ok(me) = hello.get_str("me") {
        facts.push(fact("mongo.me", me.to_owned()));
    }
    let advertised = strings(&hello, "hosts");
    if !advertised.is_empty() {
        let unlisted: Vec<&String> = advertised.iter().filter(|h| !seed.contains(h)).collect();
        facts.push(fact("mongo.hosts", advertised.join(",")));
        if !unlisted.is_empty() {
            facts.push(fact(
                "mongo.unlisted_hosts",
                unlisted
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ));
        }
    }
    let (set_status, build_info) = tokio::join!(
        member.command(doc! {"replSetGetStatus": 1}),
        member.command(doc! {"buildInfo": 1})
    );
    match set_status {
        Ok(reply) => {
            let members: Vec<String> = reply
                .get_array("members")
                .map(|members| {
                    members
                        .iter()
                        .filter_map(|m| m.as_document())
                        .map(|m| {
                            format!(
                                "{} {}",
                                m.get_str("name").unwrap_or("?"),
                                m.get_str("stateStr").unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            facts.push(fact("mongo.status", members.join(", ")));
        }
        Err(e) => {
            let text = command_error(&e).map_or_else(
                || member.reason(&e),
                |(code, name, message)| format!("{code} {name}: {message}"),
            );
            facts.push(fact("mongo.status", text));
        }
    }
    if let Ok(info) = build_info {
        if let Ok(version) = info.get_str("version") {
            facts.push(fact("mongo.version", version.to_owned()));
        }
    }
    facts
}

fn strings(document: &Document, key: &str) -> Vec<String> {
    document
        .get_array(key)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /api/info`: reachable, and its version.
async fn rocketchat(probe: &RocketChatProbe, timeout: Duration) -> Vec<Fact> {
    let service = probe.service.as_str();
    let url = match url::Url::parse(&probe.url) {
        Ok(url) => url,
        Err(e) => return vec![Fact::new(service, "rocketchat.error", e.to_string())],
    };
    let client = match crate::rocketchat::client::Client::new(url, timeout) {
        Ok(client) => client,
        Err(e) => return vec![Fact::new(service, "rocketchat.error", e.one_line())],
    };
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(timeout, client.info()).await;
    tracing::debug!(service, elapsed = ?started.elapsed(), "rocketchat observed");
    match answer {
        Ok(Ok(version)) => vec![Fact::new(service, "rocketchat.version", version)],
        Ok(Err(e)) => vec![Fact::new(service, "rocketchat.error", e.reason())],
        Err(_) => vec![Fact::new(
            service,
            "rocketchat.error",
            format!(
                "/api/info: no answer within {}",
                crate::output::human_duration(timeout)
            ),
        )],
    }
}

/// Through the front door, for its virtual host: the WebSocket upgrade on `/websocket`, and a
/// body over 1 MiB posted to Rocket.Chat's upload endpoint.
async fn front_door(door: &FrontDoorProbe, timeout: Duration) -> Vec<Fact> {
    let service = door.service.as_str();
    let started = std::time::Instant::now();
    let base = match url::Url::parse(&door.url) {
        Ok(url) => url,
        Err(e) => return vec![Fact::new(service, "front.error", e.to_string())],
    };
    let vhost = door.vhost.as_deref();
    let upgrade = crate::smoke::websocket::upgrade(&base, vhost, timeout);
    let upload = async {
        let (client, url) = crate::smoke::websocket::front_door_client(
            &base,
            "/api/v1/rooms.media/doctor",
            vhost,
            timeout,
        )
        .await
        .map_err(|f| f.reason)?;
        client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(vec![0u8; LARGE_BODY])
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| crate::reason::request_error(&e))
    };
    let (upgrade, upload) = tokio::join!(upgrade, upload);
    tracing::debug!(service, elapsed = ?started.elapsed(), "front door observed");
    let mut facts = Vec::new();
    facts.push(Fact::new(
        service,
        "front.websocket",
        match upgrade {
            Ok(_) => "101 Switching Protocols".to_owned(),
            Err(failure) => failure.reason,
        },
    ));
    match upload {
        Ok(status) => facts.push(Fact::new(
            service,
            "front.large_body",
            format!("HTTP {status} for a {} MiB body", LARGE_BODY >> 20),
        )),
        Err(reason) => facts.push(Fact::new(service, "front.error", reason)),
    }
    facts
}
