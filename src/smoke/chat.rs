//! The smoke test's network steps: Rocket.Chat's API, the bot's login, room, post and the
//! admin's read-back, the GitLab hook, the front door, and the cleanup. They run wherever the
//! plan is executed — usually inside a service's network namespace (the probe container), so
//! the stack needs no published port and its names resolve as they do for its services.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::step::{Actor, Failure, Planned, Status, Step, StepResult};
use crate::check::Check;
use crate::check::http::{HttpCheck, HttpSpec};
use crate::rocketchat::check::{find_room, login_failure};
use crate::rocketchat::client::{Client, RcError, Session};

/// A recorded GitLab `Pipeline Hook` event (GitLab's documented payload shape).
const PIPELINE_EVENT: &str = include_str!("pipeline-event.json");

/// The longest a single request may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);

/// How long a hook's message may take to show up in its room.
const HOOK_DELIVERY: Duration = Duration::from_secs(10);

/// What the chat steps need: the steps, where, who — and the secrets, which is why the probe
/// container gets this on stdin.
#[derive(Clone, Serialize, Deserialize)]
pub struct ChatPlan {
    pub steps: Vec<Planned>,
    /// Rocket.Chat's base URL, as seen from where the steps run.
    pub url: String,
    pub bot_user: String,
    pub admin_user: String,
    #[serde(default)]
    pub bot_password: Option<String>,
    #[serde(default)]
    pub admin_password: Option<String>,
    /// The incoming webhook's URL (`/hooks/<id>/<token>`): a secret.
    #[serde(default)]
    pub hook_url: Option<String>,
    /// Sent as `X-Gitlab-Token` with the GitLab event, when the hook's script checks one.
    #[serde(default)]
    pub gitlab_token: Option<String>,
    /// What is left of the global `--timeout`.
    pub budget_ms: u64,
    /// Leave what was posted in place.
    #[serde(default)]
    pub keep: bool,
}

impl std::fmt::Debug for ChatPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatPlan")
            .field("steps", &self.steps)
            .field("url", &self.url)
            .field("bot_user", &self.bot_user)
            .field("admin_user", &self.admin_user)
            .field("budget_ms", &self.budget_ms)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// How a step did not pass.
enum Not {
    Failed(Failure),
    Skipped(String),
}

impl From<Failure> for Not {
    fn from(failure: Failure) -> Self {
        Self::Failed(failure)
    }
}

type StepOutcome = Result<String, Not>;

struct RoomRef {
    id: String,
    name: String,
    private: bool,
}

struct Posted {
    id: String,
    rid: String,
    text: String,
}

struct Runner<'a> {
    plan: &'a ChatPlan,
    client: Client,
    deadline: Instant,
    /// Unique to this run: in the message we post and in the GitLab event we send.
    token: String,
    sessions: HashMap<&'static str, Session>,
    room: Option<RoomRef>,
    posted: Option<Posted>,
    /// Messages to delete at the end: (room id, message id).
    to_delete: Vec<(String, String)>,
}

/// Runs the plan's steps in order, handing each result to `emit` as it is known.
pub async fn run(plan: &ChatPlan, emit: &mut (dyn FnMut(StepResult) + Send)) {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(plan.budget_ms);
    let client = match url::Url::parse(&plan.url)
        .map_err(|e| e.to_string())
        .and_then(|url| {
            Client::new(
                url,
                REQUEST_LIMIT.min(Duration::from_millis(plan.budget_ms)),
            )
            .map_err(|e| e.message().to_owned())
        }) {
        Ok(client) => client,
        Err(reason) => {
            for planned in &plan.steps {
                emit(StepResult::new(
                    &planned.step,
                    Status::Failed,
                    format!("cannot use `{}`: {reason}", plan.url),
                ));
            }
            return;
        }
    };
    let mut runner = Runner {
        plan,
        client,
        deadline,
        token: random_id(10).to_lowercase(),
        sessions: HashMap::new(),
        room: None,
        posted: None,
        to_delete: Vec::new(),
    };
    for planned in &plan.steps {
        let step = &planned.step;
        if let Some(why) = &planned.skip {
            emit(StepResult::new(step, Status::Skipped, why.clone()));
            continue;
        }
        let began = Instant::now();
        let Some(remaining) = deadline
            .checked_duration_since(began)
            .filter(|d| !d.is_zero())
        else {
            emit(StepResult::new(
                step,
                Status::TimedOut,
                "not run: the smoke test's `--timeout` ran out",
            ));
            continue;
        };
        tracing::debug!(step = %step.name(), "smoke step");
        let outcome = tokio::time::timeout(remaining, runner.step(step)).await;
        let result = match outcome {
            Ok(Ok(detail)) => StepResult::new(step, Status::Passed, detail),
            Ok(Err(Not::Skipped(why))) => StepResult::new(step, Status::Skipped, why),
            Ok(Err(Not::Failed(failure))) => {
                StepResult::new(step, Status::Failed, failure.reason).with_hint(failure.hint)
            }
            Err(_) => StepResult::new(
                step,
                Status::TimedOut,
                "cut short: the smoke test's `--timeout` ran out",
            )
            .with_hint(Some("raise `--timeout`".to_owned())),
        };
        tracing::debug!(step = %step.name(), status = result.status.as_str(), "smoke step done");
        emit(result.took(began.elapsed()));
    }
    for session in runner.sessions.values() {
        runner.client.logout(session).await;
    }
}

impl Runner<'_> {
    async fn step(&mut self, step: &Step) -> StepOutcome {
        match step {
            Step::Server => self.server().await,
            Step::Login { who } => self.login(*who).await,
            Step::Room { room } => self.find_room(room).await,
            Step::Post { room } => self.post(room).await,
            Step::ReadBack => self.read_back().await,
            Step::Hook { event, room } => self.hook(event, room).await,
            Step::FrontDoor { url, vhost } => {
                front_door(url, vhost.as_deref(), self.remaining()).await
            }
            Step::Websocket { url, vhost } => {
                let base = url::Url::parse(url)
                    .map_err(|e| Failure::new(format!("`{url}` is not a URL: {e}")))?;
                Ok(super::websocket::upgrade(
                    &base,
                    vhost.as_deref(),
                    self.remaining().min(REQUEST_LIMIT),
                )
                .await?)
            }
            Step::Cleanup => self.cleanup().await,
            Step::Service { .. } | Step::Job { .. } => Err(Not::Skipped(
                "answered by Docker, not over the network".to_owned(),
            )),
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn user(&self, who: Actor) -> &str {
        match who {
            Actor::Bot => &self.plan.bot_user,
            Actor::Admin => &self.plan.admin_user,
        }
    }

    fn session(&self, who: Actor) -> Result<&Session, Not> {
        self.sessions
            .get(who.as_str())
            .ok_or_else(|| Not::Skipped(format!("needs `{} login`", who.as_str())))
    }

    async fn server(&self) -> StepOutcome {
        match self.client.info().await {
            Ok(version) => Ok(format!("Rocket.Chat {version} at {}", self.client.shown())),
            Err(e) => Err(Failure::new(format!("`{}/api/info`: {}", self.client.shown().trim_end_matches('/'), e.reason()))
                .hint("is Rocket.Chat up (`stackctl status`)? The URL must resolve and answer from where the steps run (`--from`, `--here`, `--url`)")
                .into()),
        }
    }

    async fn login(&mut self, who: Actor) -> StepOutcome {
        let user = self.user(who).to_owned();
        let (password, hint) = match who {
            Actor::Bot => (
                self.plan.bot_password.clone(),
                "check the bot's password: the stack file's (its `--password-env` / `ROCKETCHAT_PASSWORD`), or give `--bot-password-env VAR`; `stackctl init rocketchat-user` verifies it",
            ),
            Actor::Admin => (
                self.plan.admin_password.clone(),
                "check the admin's password: `ADMIN_PASS` of the Rocket.Chat service, or give `--admin-password-env VAR`",
            ),
        };
        if user.is_empty() {
            return Err(
                Failure::new(format!("no {} user found in the stack file", who.as_str()))
                    .hint(format!("give `--{}-user NAME`", who.as_str()))
                    .into(),
            );
        }
        let Some(password) = password else {
            return Err(Failure::new(format!("no password for `{user}`"))
                .hint(hint)
                .into());
        };
        loop {
            match self.client.login(&user, &password).await {
                Ok(session) => {
                    let roles = session.roles.join(", ");
                    self.sessions.insert(who.as_str(), session);
                    return Ok(format!("`{user}` logged in (roles: {roles})"));
                }
                // The login is rate-limited per address; wait for the window when there is time.
                Err(RcError::RateLimited { wait, .. })
                    if wait + Duration::from_millis(500) < self.remaining() =>
                {
                    tracing::debug!(?wait, "login rate-limited; waiting for the reset");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    return Err(Failure::new(login_failure(&user, &e)).hint(hint).into());
                }
            }
        }
    }

    async fn find_room(&mut self, room: &str) -> StepOutcome {
        let bot = self.session(Actor::Bot)?.clone();
        if room.is_empty() {
            return Err(Failure::new("no room found in the stack file")
                .hint("give `--room NAME` (the bot's room, or a dedicated smoke room)")
                .into());
        }
        let (info, private) = find_room(&self.client, &bot, room)
            .await
            .map_err(|e| match e {
                Some(e) => Failure::new(format!("looking up `{room}`: {}", e.reason())),
                None => Failure::new(format!(
                    "room `{room}` does not exist (or `{}` may not see it)",
                    bot.username
                ))
                .hint(format!(
                    "create it and invite the bot: `stackctl init rocketchat-room --name {room} --member {}` (the stack's room job), or point `--room` at the bot's room",
                    bot.username
                )),
            })?;
        let id = info["_id"].as_str().unwrap_or_default().to_owned();
        let sub = self
            .client
            .call(
                Method::GET,
                &format!("/api/v1/subscriptions.getOne?roomId={id}"),
                Some(&bot),
                None,
                &[],
            )
            .await
            .map_err(|e| Failure::new(e.reason()))?;
        if sub["subscription"].is_null() {
            return Err(
                Failure::new(format!("`{}` is not a member of `{room}`", bot.username))
                    .hint(format!(
                        "invite it: `stackctl init rocketchat-room --name {room} --member {}`",
                        bot.username
                    ))
                    .into(),
            );
        }
        let kind = if private { "private group" } else { "channel" };
        self.room = Some(RoomRef {
            id,
            name: room.to_owned(),
            private,
        });
        Ok(format!(
            "{kind} `{room}` exists; `{}` is a member",
            bot.username
        ))
    }

    async fn post(&mut self, room: &str) -> StepOutcome {
        let bot = self.session(Actor::Bot)?.clone();
        let Some(rid) = self.room.as_ref().map(|r| r.id.clone()) else {
            return Err(Not::Skipped(format!("needs `bot room {room}`")));
        };
        let id = random_id(17);
        let text = format!(
            "stackctl smoke {}: `{}` posts with its own message id (removed again at the end)",
            self.token, bot.username
        );
        let body = json!({"message": {"_id": id, "rid": rid, "msg": text}});
        let reply = self
            .client
            .call(Method::POST, "/api/v1/chat.sendMessage", Some(&bot), Some(body), &[])
            .await
            .map_err(|e| {
                Failure::new(format!("`chat.sendMessage`: {}", e.reason())).hint(format!(
                    "`stackctl check rocketchat-room --room {room} --write` tells what `{}` may do there",
                    bot.username
                ))
            })?;
        let stored = reply["message"]["_id"].as_str().unwrap_or_default();
        if stored != id {
            return Err(Failure::new(format!(
                "`chat.sendMessage` answered without our message (`_id` `{id}`, got `{stored}`)"
            ))
            .hint("a message with that id may already exist; run the smoke test again")
            .into());
        }
        self.to_delete.push((rid.clone(), id.clone()));
        self.posted = Some(Posted {
            id: id.clone(),
            rid,
            text,
        });
        Ok(format!("message `{id}` posted to `{room}`"))
    }

    async fn read_back(&mut self) -> StepOutcome {
        let admin = self.session(Actor::Admin)?.clone();
        let Some(posted) = &self.posted else {
            return Err(Not::Skipped("needs `bot posts`".to_owned()));
        };
        let reply = self
            .client
            .call(
                Method::GET,
                &format!("/api/v1/chat.getMessage?msgId={}", posted.id),
                Some(&admin),
                None,
                &[],
            )
            .await
            .map_err(|e| {
                let failure = Failure::new(format!("`chat.getMessage`: {}", e.reason()));
                if e.code() == Some("error-not-allowed") {
                    failure.hint(format!(
                        "`{}` may not read the room (a private group it is not in?): smoke in a public room, or invite the admin",
                        admin.username
                    ))
                } else {
                    failure
                }
            })?;
        let message = &reply["message"];
        let mut wrong = Vec::new();
        if message["msg"].as_str() != Some(posted.text.as_str()) {
            wrong.push("text");
        }
        if message["rid"].as_str() != Some(posted.rid.as_str()) {
            wrong.push("room");
        }
        if message["u"]["username"].as_str() != Some(self.plan.bot_user.as_str()) {
            wrong.push("author");
        }
        if message.is_null() {
            return Err(Failure::new(format!(
                "message `{}` was not found when read back",
                posted.id
            ))
            .into());
        }
        if !wrong.is_empty() {
            return Err(Failure::new(format!(
                "message `{}` read back with a different {}",
                posted.id,
                wrong.join(", ")
            ))
            .into());
        }
        Ok(format!(
            "`{}` read message `{}` back: same text, room and author",
            admin.username, posted.id
        ))
    }

    async fn hook(&mut self, event: &str, room: &str) -> StepOutcome {
        let Some(hook) = self.plan.hook_url.as_deref() else {
            return Err(Not::Skipped("no hook URL".to_owned()));
        };
        let hook_url =
            url::Url::parse(hook).map_err(|_| Failure::new("the hook file does not hold a URL"))?;
        let mut origin = hook_url.clone();
        origin.set_path("/");
        origin.set_query(None);
        let client = Client::new(origin, REQUEST_LIMIT.min(self.remaining()))
            .map_err(|e| Failure::new(e.message().to_owned()))?;
        let mut headers = vec![
            ("X-Gitlab-Event", event.to_owned()),
            ("X-Gitlab-Instance", "http://gitlab.example.com".to_owned()),
            ("X-Gitlab-Event-UUID", random_id(17)),
        ];
        if let Some(token) = &self.plan.gitlab_token {
            headers.push(("X-Gitlab-Token", token.clone()));
        }
        let payload = self.pipeline_event();
        client
            .call(Method::POST, hook_url.path(), None, Some(payload), &headers)
            .await
            .map_err(|e| {
                let failure = Failure::new(format!("the hook refused the event: {}", e.reason()));
                match e {
                    RcError::Api { status: 404, .. } => failure.hint(
                        "the hook URL names no integration any more (deleted, or its token regenerated): run the webhook job again (`stackctl init rocketchat-webhook ... --output FILE`)",
                    ),
                    RcError::Booting(_) => failure.hint(
                        "a 503 from `/hooks` means the integration is disabled: enable it in Administration > Integrations",
                    ),
                    RcError::Api { ref message, .. } if message.contains("X-Gitlab-Token") => failure.hint(
                        "the hook's script checks GitLab's secret token: pass it with `--gitlab-token-env VAR` (by default, the webhook job's `--gitlab-token-env` is read)",
                    ),
                    _ => failure.hint(format!(
                        "the integration's room `{room}` and script must still exist: `stackctl smoke --log-level debug` shows more"
                    )),
                }
            })?;
        let reader = if self.sessions.contains_key("bot") {
            Actor::Bot
        } else {
            Actor::Admin
        };
        let session = self
            .session(reader)
            .map_err(|_| {
                Not::Skipped("needs `bot login` or `admin login` to read the room".to_owned())
            })?
            .clone();
        let (rid, private) = match &self.room {
            Some(known) if known.name == room => (known.id.clone(), known.private),
            _ => {
                let (info, private) =
                    find_room(&self.client, &session, room).await.map_err(|e| {
                        Failure::new(match e {
                            Some(e) => format!("looking up `{room}`: {}", e.reason()),
                            None => format!(
                                "the hook's room `{room}` does not exist (or `{}` may not see it)",
                                session.username
                            ),
                        })
                    })?;
                (info["_id"].as_str().unwrap_or_default().to_owned(), private)
            }
        };
        let history = if private {
            "groups.history"
        } else {
            "channels.history"
        };
        let waited = Instant::now();
        let limit = HOOK_DELIVERY.min(self.remaining());
        loop {
            let reply = self
                .client
                .call(
                    Method::GET,
                    &format!("/api/v1/{history}?roomId={rid}&count=50"),
                    Some(&session),
                    None,
                    &[],
                )
                .await
                .map_err(|e| Failure::new(format!("reading `{room}`: {}", e.reason())))?;
            let found = reply["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m.to_string().contains(&self.token) && m["_id"].as_str().is_some());
            if let Some(message) = found {
                let id = message["_id"].as_str().unwrap_or_default().to_owned();
                let text: String = message["msg"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(100)
                    .collect();
                self.to_delete.push((rid.clone(), id));
                return Ok(format!("`{event}` became \"{text}\" in `{room}`"));
            }
            if waited.elapsed() >= limit {
                return Err(Failure::new(format!(
                    "the hook accepted the event, but no message carrying `{}` reached `{room}` within {}",
                    self.token,
                    crate::output::human_duration(limit)
                ))
                .hint("the integration's script renders the event: check that it handles `X-Gitlab-Event` and posts to this room")
                .into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The recorded pipeline event, marked with this run's token (its ref and commit title).
    fn pipeline_event(&self) -> Value {
        let mut event: Value = serde_json::from_str(PIPELINE_EVENT).unwrap_or_default();
        let marker = format!("smoke-{}", self.token);
        event["object_attributes"]["ref"] = json!(marker);
        let number = self
            .token
            .bytes()
            .fold(0u64, |n, b| (n * 31 + u64::from(b)) % 1_000_000);
        event["object_attributes"]["id"] = json!(number);
        event["commit"]["title"] = json!(format!("{marker}: check the chat"));
        event["commit"]["message"] = json!(format!("{marker}: check the chat\n"));
        event
    }

    async fn cleanup(&mut self) -> StepOutcome {
        if self.plan.keep {
            return Err(Not::Skipped(format!(
                "kept (`--keep`): {} message(s)",
                self.to_delete.len()
            )));
        }
        if self.to_delete.is_empty() {
            return Err(Not::Skipped("nothing was posted".to_owned()));
        }
        let who = if self.sessions.contains_key("admin") {
            Actor::Admin
        } else {
            Actor::Bot
        };
        let session = self
            .session(who)
            .map_err(|_| Not::Skipped("needs `admin login` or `bot login`".to_owned()))?
            .clone();
        let mut failed = Vec::new();
        let total = self.to_delete.len();
        for (rid, id) in std::mem::take(&mut self.to_delete) {
            let body = json!({"roomId": rid, "msgId": id});
            if let Err(e) = self
                .client
                .call(
                    Method::POST,
                    "/api/v1/chat.delete",
                    Some(&session),
                    Some(body),
                    &[],
                )
                .await
            {
                failed.push(format!("`{id}`: {}", e.reason()));
            }
        }
        if failed.is_empty() {
            Ok(format!(
                "deleted {total} message{} as `{}`",
                if total == 1 { "" } else { "s" },
                session.username
            ))
        } else {
            Err(Failure::new(format!("could not delete {}", failed.join("; ")))
                .hint("delete them by hand; the admin needs `delete-message` (or `force-delete-message`)")
                .into())
        }
    }
}

async fn front_door(url: &str, vhost: Option<&str>, remaining: Duration) -> StepOutcome {
    let api = url::Url::parse(url)
        .and_then(|u| u.join("/api/info"))
        .map_err(|e| Failure::new(format!("`{url}` is not a URL: {e}")))?;
    let mut spec = HttpSpec::get(api);
    spec.host = vhost.map(str::to_owned);
    spec.insecure = true;
    spec.status = "200".parse().unwrap_or_default();
    spec.json = vec!["success=true".parse().map_err(Failure::new)?];
    let check = HttpCheck::new(spec).map_err(|e| Failure::new(e.message().to_owned()))?;
    let report = Check::Http(Box::new(check))
        .run(remaining.min(REQUEST_LIMIT))
        .await;
    if report.outcome.is_healthy() {
        Ok(format!("{}: {}", report.target, report.outcome.text()))
    } else {
        Err(Failure::new(format!("{}: {}", report.target, report.outcome.text()))
            .hint(format!(
                "the front door should proxy `/api/info` to Rocket.Chat{}: check nginx's `server_name` and `proxy_pass`",
                vhost.map(|v| format!(" for `{v}`")).unwrap_or_default()
            ))
            .into())
    }
}

/// A Rocket.Chat-style id: `len` characters of Meteor's `Random.id` alphabet.
#[must_use]
pub fn random_id(len: usize) -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{:?}{}{}",
        std::time::SystemTime::now(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let digest = Sha256::digest(seed.as_bytes());
    digest
        .iter()
        .cycle()
        .take(len)
        .enumerate()
        .map(|(i, b)| ALPHABET[(usize::from(*b) + i * 7) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_rocketchats_and_differ() {
        let a = random_id(17);
        let b = random_id(17);
        assert_eq!(a.len(), 17);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() && c != '0' && c != '1')
        );
    }

    #[test]
    fn the_plan_never_shows_its_secrets() {
        let plan = ChatPlan {
            steps: vec![],
            url: "http://rocketchat:3000".into(),
            bot_user: "bot".into(),
            admin_user: "admin".into(),
            bot_password: Some("b-secret".into()),
            admin_password: Some("a-secret".into()),
            hook_url: Some("http://rocketchat:3000/hooks/x/h-secret".into()),
            gitlab_token: None,
            budget_ms: 1000,
            keep: false,
        };
        let shown = format!("{plan:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn the_recorded_event_is_a_pipeline_event() {
        let event: Value = serde_json::from_str(PIPELINE_EVENT).unwrap();
        assert_eq!(event["object_kind"], "pipeline");
        assert_eq!(event["object_attributes"]["status"], "success");
    }
}
