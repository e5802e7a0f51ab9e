//! The observations only the stack's own network can make truthfully: MongoDB's `hello`,
//! `replSetGetStatus` and `buildInfo` on the members a client's `MONGO_URL` names, and
//! Rocket.Chat's `/api/info` and the logins of its admin and of unhealthy bots. The host
//! resolves none of the stack's names, so these run in a throw-away container in a service's
//! network namespace (`doctor --here`, the `probe` machinery), handed their plan on stdin (URIs
//! and passwords are in it) and printing facts as NDJSON.
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
    /// GitLab's API, when the stack wires a project webhook and holds the token.
    #[serde(default)]
    pub gitlab: Option<GitlabProbe>,
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
#[derive(Clone, Serialize, Deserialize)]
pub struct RocketChatProbe {
    pub service: String,
    pub url: String,
    /// Its `MONGO_URL` (may hold credentials; never printed): where its settings are read.
    #[serde(default)]
    pub mongo_uri: Option<String>,
    /// The administrator the stack's environment names (`ADMIN_USERNAME`/`ADMIN_PASS`, else
    /// an init job's `--admin-*`): logged in as, to tell whether those credentials still work.
    #[serde(default)]
    pub admin: Option<Login>,
    /// Bots that are not healthy: logged in as with JSON and with a form body.
    #[serde(default)]
    pub bots: Vec<Login>,
}

impl std::fmt::Debug for RocketChatProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocketChatProbe")
            .field("service", &self.service)
            .field("url", &self.url)
            .field("admin", &self.admin)
            .field("bots", &self.bots)
            .finish_non_exhaustive()
    }
}

/// A user a service logs in as, and where (the password is a secret: never printed).
#[derive(Clone, Serialize, Deserialize)]
pub struct Login {
    /// The service the facts are about.
    pub service: String,
    /// Rocket.Chat's URL as that service names it.
    pub url: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("service", &self.service)
            .field("url", &self.url)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The settings read from Rocket.Chat's `rocketchat_settings` collection, each a fact
/// `rocketchat.setting.<id>` (brief doctor.md section 0: `_id: Show_Setup_Wizard`, ...).
const SETTINGS: [&str; 1] = ["Show_Setup_Wizard"];

/// The front door: its URL inside the stack and the virtual host to ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrontDoorProbe {
    pub service: String,
    pub url: String,
    pub vhost: Option<String>,
}

/// GitLab, its project and an API token (a secret: never printed).
#[derive(Clone, Serialize, Deserialize)]
pub struct GitlabProbe {
    pub service: String,
    pub url: String,
    pub project: String,
    pub token: String,
}

impl std::fmt::Debug for GitlabProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabProbe")
            .field("service", &self.service)
            .field("url", &self.url)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl Plan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.mongo.is_empty()
            && self.rocketchat.is_empty()
            && self.front_door.is_none()
            && self.gitlab.is_none()
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
    let gitlab = async {
        match &plan.gitlab {
            Some(gitlab) => tokio::time::timeout(timeout * 2, gitlab_facts(gitlab, timeout))
                .await
                .unwrap_or_else(|_| {
                    vec![Fact::new(
                        &gitlab.service,
                        "gitlab.error",
                        format!(
                            "no answer within {}",
                            crate::output::human_duration(timeout * 2)
                        ),
                    )]
                }),
            None => Vec::new(),
        }
    };
    let (mongo, rocketchat, front_door, gitlab) =
        tokio::join!(mongo, rocketchat, front_door, gitlab);
    mongo
        .into_iter()
        .chain(rocketchat)
        .flatten()
        .chain(front_door)
        .chain(gitlab)
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

/// `GET /api/info` (reachable, and its version), its readiness and clock, and — through its
/// `MONGO_URL` — the settings it keeps in MongoDB.
async fn rocketchat(probe: &RocketChatProbe, timeout: Duration) -> Vec<Fact> {
    let service = probe.service.as_str();
    let url = match url::Url::parse(&probe.url) {
        Ok(url) => url,
        Err(e) => return vec![Fact::new(service, "rocketchat.error", e.to_string())],
    };
    let client = match crate::rocketchat::client::Client::new(url.clone(), timeout) {
        Ok(client) => client,
        Err(e) => return vec![Fact::new(service, "rocketchat.error", e.one_line())],
    };
    let started = std::time::Instant::now();
    let admin = async {
        match &probe.admin {
            Some(admin) => {
                vec![login(admin, "rocketchat.admin_login", Encoding::Json, timeout).await]
            }
            None => Vec::new(),
        }
    };
    let bots = futures_util::future::join_all(probe.bots.iter().flat_map(|bot| {
        [
            login(bot, "bot.login_json", Encoding::Json, timeout),
            login(bot, "bot.login_form", Encoding::Form, timeout),
        ]
    }));
    let (answer, ready, settings, admin, bots) = tokio::join!(
        tokio::time::timeout(timeout, client.info()),
        tokio::time::timeout(timeout, readiness(service, &url, timeout)),
        tokio::time::timeout(
            timeout,
            settings(service, probe.mongo_uri.as_deref(), timeout)
        ),
        admin,
        bots,
    );
    tracing::debug!(service, elapsed = ?started.elapsed(), "rocketchat observed");
    let mut facts = match answer {
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
    };
    facts.extend(ready.unwrap_or_default());
    facts.extend(settings.unwrap_or_default());
    facts.extend(admin);
    facts.extend(bots);
    facts
}

/// How a login's body is encoded.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Json,
    Form,
}

/// `POST /api/v1/login` as `who`, the body in `encoding`; the fact `key` says `accepted`
/// (the session is logged out again at once), `refused: <the API's reason>` or
/// `not answered: <why>`. A refused attempt counts towards Rocket.Chat's failed-login block
/// like any other, which is why bots are only asked when they are not healthy.
async fn login(who: &Login, key: &str, encoding: Encoding, timeout: Duration) -> Fact {
    let outcome = async {
        let url = url::Url::parse(&who.url).map_err(|e| format!("not answered: {e}"))?;
        let client = crate::rocketchat::client::Client::new(url, timeout)
            .map_err(|e| format!("not answered: {}", e.one_line()))?;
        let session = match encoding {
            Encoding::Json => client.login(&who.user, &who.password).await,
            Encoding::Form => client.login_form(&who.user, &who.password).await,
        };
        match session {
            Ok(session) => {
                client.logout(&session).await;
                Ok(())
            }
            Err(e @ crate::rocketchat::client::RcError::Api { .. }) => {
                Err(format!("refused: {}", e.reason()))
            }
            Err(e) => Err(format!("not answered: {}", e.reason())),
        }
    };
    let value = match tokio::time::timeout(timeout, outcome).await {
        Ok(Ok(())) => "accepted".to_owned(),
        Ok(Err(why)) => why,
        Err(_) => format!(
            "not answered within {}",
            crate::output::human_duration(timeout)
        ),
    };
    tracing::debug!(service = %who.service, key, %value, ?encoding, "logged in");
    Fact::new(&who.service, key, format!("{value} (as `{}`)", who.user))
}

/// `GET /readyz` (7.11+; `/health` before it, 5.3+): a failing answer becomes
/// `rocketchat.ready`; the answer's `Date` header, against this observer's clock, becomes
/// `rocketchat.clock_skew_s` (whole seconds, either way) and `rocketchat.clock`.
async fn readiness(service: &str, base: &url::Url, timeout: Duration) -> Vec<Fact> {
    let Ok(tls) = crate::tls::client_config(&[]) else {
        return Vec::new();
    };
    let Ok(http) = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
    else {
        return Vec::new();
    };
    let mut facts = Vec::new();
    for path in ["readyz", "health"] {
        let Ok(url) = base.join(path) else { break };
        let Ok(response) = http.get(url).send().await else {
            break;
        };
        let status = response.status();
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .map(str::to_owned);
        // Before 7.11 there is no /readyz: ask /health instead.
        if status == reqwest::StatusCode::NOT_FOUND && path == "readyz" {
            continue;
        }
        if let Some(date) = date {
            facts.extend(clock(service, &date));
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(200).collect();
            facts.push(Fact::new(
                service,
                "rocketchat.ready",
                format!("GET /{path}: HTTP {} {}", status.as_u16(), body.trim()),
            ));
        }
        break;
    }
    facts
}

/// The server's `Date` against this observer's clock (both are whole seconds apart at best).
fn clock(service: &str, date: &str) -> Vec<Fact> {
    let Ok(theirs) = httpdate::parse_http_date(date) else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    let (skew, way) = match theirs.duration_since(now) {
        Ok(ahead) => (ahead.as_secs(), "ahead of"),
        Err(behind) => (behind.duration().as_secs(), "behind"),
    };
    vec![
        Fact::new(service, "rocketchat.clock_skew_s", skew.to_string()),
        Fact::new(
            service,
            "rocketchat.clock",
            format!("Date: {date} is {skew} s {way} the observer's clock"),
        ),
    ]
}

/// Rocket.Chat's settings from its database (the `MONGO_URL` database's
/// `rocketchat_settings`, `{_id, value}`), read from the URI's first member directly.
async fn settings(service: &str, uri: Option<&str>, timeout: Duration) -> Vec<Fact> {
    use futures_util::TryStreamExt as _;
    let Some(target) = uri.and_then(|u| MongoTarget::parse(u).ok()) else {
        return Vec::new();
    };
    let Some(host) = target.hosts.first() else {
        return Vec::new();
    };
    let Ok(member) = Member::connect(&target.member_uri(host), timeout).await else {
        return Vec::new();
    };
    let Some(db) = member.client.default_database() else {
        return Vec::new();
    };
    let ids: Vec<&str> = SETTINGS.to_vec();
    let found = db
        .collection::<Document>("rocketchat_settings")
        .find(doc! {"_id": {"$in": ids}})
        .await;
    let Ok(cursor) = found else {
        return Vec::new();
    };
    let documents: Vec<Document> = cursor.try_collect().await.unwrap_or_default();
    tracing::debug!(
        service,
        settings = documents.len(),
        "rocketchat settings read"
    );
    documents
        .iter()
        .filter_map(|d| {
            let id = d.get_str("_id").ok()?;
            let value = match d.get("value")? {
                mongodb::bson::Bson::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(Fact::new(
                service,
                &format!("rocketchat.setting.{id}"),
                value,
            ))
        })
        .collect()
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
            false,
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
    // Over https, the certificate as a machine client (the bot, GitLab) checks it: against
    // Mozilla's roots, for the virtual host, with the chain the server sends.
    let trusted = async {
        if base.scheme() != "https" {
            return None;
        }
        let (client, url) =
            crate::smoke::websocket::front_door_client(&base, "/", vhost, timeout, true)
                .await
                .ok()?;
        let error = client.get(url).send().await.err()?;
        crate::tls::describe(&error).map(|reason| {
            format!(
                "https://{}: {reason}",
                vhost.unwrap_or(base.host_str().unwrap_or("?"))
            )
        })
    };
    let (upgrade, upload, trusted) = tokio::join!(upgrade, upload, trusted);
    tracing::debug!(service, elapsed = ?started.elapsed(), "front door observed");
    let mut facts = Vec::new();
    if let Some(reason) = trusted {
        facts.push(Fact::new(service, "front.tls", reason));
    }
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

/// GitLab's view of the webhooks to Rocket.Chat (doc/api/settings.md,
/// doc/api/project_webhooks.md): whether local targets are allowed, then each project hook —
/// where it points (without its secret path), whether GitLab auto-disabled it (`alert_status`,
/// `disabled_until`), and its last delivery (`/events`, 17.3+).
async fn gitlab_facts(probe: &GitlabProbe, timeout: Duration) -> Vec<Fact> {
    use crate::gitlab::client::{Client, project_segment};
    use reqwest::Method;
    let service = probe.service.as_str();
    let fact = |key: &str, value: String| Fact::new(service, key, value);
    let client = match url::Url::parse(&probe.url)
        .map_err(|e| e.to_string())
        .and_then(|url| {
            Client::new(url, Some(probe.token.clone()), timeout).map_err(|e| e.one_line())
        }) {
        Ok(client) => client,
        Err(e) => return vec![fact("gitlab.error", e)],
    };
    let project = project_segment(&probe.project);
    let started = std::time::Instant::now();
    let hooks_path = format!("/projects/{project}/hooks");
    let (settings, hooks) = tokio::join!(
        client.call(Method::GET, "/application/settings", None),
        client.call(Method::GET, &hooks_path, None),
    );
    let mut facts = Vec::new();
    // Only an administrator may read the settings: without them, G1 is not judged.
    let allow_local = settings
        .ok()
        .and_then(|s| s[crate::gitlab::init::ALLOW_LOCAL].as_bool());
    if let Some(allowed) = allow_local {
        facts.push(fact("gitlab.allow_local_requests", allowed.to_string()));
    }
    let hooks = match hooks {
        Ok(serde_json::Value::Array(hooks)) => hooks,
        Ok(_) => Vec::new(),
        Err(e) => {
            facts.push(fact(
                "gitlab.error",
                format!("GET /projects/{}/hooks: {}", probe.project, e.reason()),
            ));
            return facts;
        }
    };
    let (mut local, mut alerts, mut deliveries) = (Vec::new(), Vec::new(), Vec::new());
    for hook in &hooks {
        let id = hook["id"].as_u64().unwrap_or(0);
        let Some(target) = hook["url"].as_str().and_then(|u| url::Url::parse(u).ok()) else {
            continue;
        };
        let shown = shown_hook(id, &target);
        if let Some(kind) = crate::gitlab::init::local_kind(&target).await {
            local.push(format!("{shown} resolves to {kind}"));
        }
        let status = hook["alert_status"].as_str().unwrap_or("executable");
        if status != "executable" {
            let until = hook["disabled_until"].as_str().map_or_else(
                || "no end (re-enable it)".to_owned(),
                |u| format!("until {u}"),
            );
            alerts.push(format!("{shown}: alert_status {status}, disabled {until}"));
        }
        let events = client
            .call(
                Method::GET,
                &format!("/projects/{project}/hooks/{id}/events?per_page=1"),
                None,
            )
            .await;
        if let Some(last) = events
            .ok()
            .as_ref()
            .and_then(|e| e.as_array()?.first().cloned())
        {
            let status = last["response_status"].as_str().unwrap_or("?");
            if !status.starts_with('2') {
                let said = last["internal_error_message"]
                    .as_str()
                    .or_else(|| last["response_body"].as_str())
                    .unwrap_or("");
                let said: String = said.chars().take(200).collect();
                let status = if status.chars().all(|c| c.is_ascii_digit()) {
                    format!("HTTP {status}")
                } else {
                    status.to_owned()
                };
                deliveries.push(format!("{shown}: {status} {}", said.trim()));
            }
        }
    }
    tracing::debug!(service, hooks = hooks.len(), elapsed = ?started.elapsed(), "gitlab observed");
    for (key, lines) in [
        ("gitlab.local_hooks", local),
        ("gitlab.hook_alerts", alerts),
        ("gitlab.hook_failures", deliveries),
    ] {
        if !lines.is_empty() {
            facts.push(fact(key, lines.join("\n")));
        }
    }
    facts
}

/// A hook's target without its path, which holds Rocket.Chat's integration token.
fn shown_hook(id: u64, target: &url::Url) -> String {
    let port = target.port().map(|p| format!(":{p}")).unwrap_or_default();
    let first = target
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|s| !s.is_empty())
        .map(|s| format!("/{s}/…"))
        .unwrap_or_default();
    format!(
        "hook {id} → {}://{}{port}{first}",
        target.scheme(),
        target.host_str().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_is_shown_without_its_secret_path() {
        let url = url::Url::parse("http://rocketchat:3000/hooks/abc123/s3cr3t-token").unwrap();
        let shown = shown_hook(7, &url);
        assert_eq!(shown, "hook 7 → http://rocketchat:3000/hooks/…");
        assert!(!shown.contains("s3cr3t"));
    }

    #[test]
    fn a_date_header_becomes_the_skew_either_way() {
        let ahead =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let facts = clock("rc", &ahead);
        let skew: u64 = facts[0].value.parse().unwrap();
        assert!((119..=121).contains(&skew), "{facts:?}");
        assert!(facts[1].value.contains("ahead of the observer's clock"));
        let behind =
            httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(60));
        assert!(
            clock("rc", &behind)[1]
                .value
                .contains("s behind the observer's clock")
        );
        assert!(clock("rc", "not a date").is_empty());
    }
}
