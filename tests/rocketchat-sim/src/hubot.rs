//! hubot-sim: a stand-in for the `rocketchat/hubot-rocketchat` image in test stacks, so that a
//! bot container's "diver" healthcheck (`stackctl check rocketchat-room`) judges a bot that
//! really is logged in and answering. It reads the stock image's environment, logs in over REST,
//! finds its rooms and answers `<name> ping` with `PONG` (hubot-diagnostics' `PING$` responder,
//! which Hubot only runs for messages addressed to it).
//!
//! Environment (Rocket.Chat.js.SDK `settings.ts`, hubot-rocketchat README): `ROCKETCHAT_URL`
//! (`host:port` or a URL; default `localhost:3000`), `ROCKETCHAT_USE_SSL` (`true` ⇒ https),
//! `ROCKETCHAT_USER`, `ROCKETCHAT_PASSWORD`, `ROCKETCHAT_ROOM` (comma-separated names),
//! `BOT_NAME` or `HUBOT_NAME` (default `hubot`). `RESPOND_TO_DM` and the rest are accepted and
//! ignored. The real adapter speaks DDP over `/websocket` and is pushed messages; this one
//! polls `channels.history`/`groups.history` every `HUBOT_SIM_POLL_MS` (default 500) — the bot
//! role's `api-bypass-rate-limit` keeps that clear of the rate limiter.
//!
//! `HUBOT_SIM_LOGIN_BODY=form` makes it post its login as a urlencoded form, as some
//! third-party clients do (brief doctor.md B5), instead of the SDK's JSON.
//!
//! It never exits on its own: a failed login (e.g. "User not found", `totp-required`) is logged
//! and retried every 5 s, as a restarting container would.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

fn log(msg: &str) {
    eprintln!("hubot-sim: {msg}");
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// `ROCKETCHAT_URL` as the SDK reads it: a bare `host:port` is http unless `ROCKETCHAT_USE_SSL`
/// is true; a URL keeps its scheme.
fn base_url(url: &str, use_ssl: bool) -> String {
    let url = url.trim_end_matches('/');
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else if use_ssl {
        format!("https://{url}")
    } else {
        format!("http://{url}")
    }
}

/// Hubot's `robot.respond` for hubot-diagnostics' `/PING$/i`: the message must start with the
/// bot's name (optionally `@name`, followed by `:` or `,`), then `ping`, case-insensitive.
fn is_ping_for(text: &str, name: &str) -> bool {
    let text = text.trim();
    let text = text.strip_prefix('@').unwrap_or(text);
    let Some(head) = text.get(..name.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(name) {
        return false;
    }
    let rest = text[name.len()..].trim_start_matches([':', ',']);
    rest.starts_with(char::is_whitespace) && rest.trim().eq_ignore_ascii_case("ping")
}

struct Room {
    id: String,
    name: String,
    /// `channels` or `groups`: the API family of the room's history.
    family: &'static str,
}

struct Bot {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
    name: String,
    rooms: Vec<String>,
    /// Log in with an `application/x-www-form-urlencoded` body instead of JSON.
    form_login: bool,
}

struct Session {
    user_id: String,
    token: String,
}

#[derive(Debug)]
enum Failure {
    /// The token is no longer accepted: log in again.
    LoggedOut,
    Other(String),
}

impl Bot {
    async fn call(
        &self,
        session: Option<&Session>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1/{path}", self.base));
        if let Some(s) = session {
            req = req
                .header("X-User-Id", &s.user_id)
                .header("X-Auth-Token", &s.token);
        }
        match body {
            // A client that posts its login as a form (Jenkins' rocketchatnotifier,
            // rocketchat_API before jadolg/rocketchat_API#300): `HUBOT_SIM_LOGIN_BODY=form`.
            Some(body) if self.form_login && path == "login" => {
                let pairs: Vec<(String, String)> = body
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                req = req.form(&pairs);
            }
            Some(body) => req = req.json(&body),
            None => {}
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::Other(format!("{path}: {e}")))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::UNAUTHORIZED && session.is_some() {
            return Err(Failure::LoggedOut);
        }
        if !status.is_success() {
            let reason = v
                .get("message")
                .or_else(|| v.get("error"))
                .map_or_else(|| v.to_string(), Value::to_string);
            return Err(Failure::Other(format!("{path}: {status}: {reason}")));
        }
        Ok(v)
    }

    async fn login(&self) -> Result<Session, Failure> {
        let v = self
            .call(
                None,
                reqwest::Method::POST,
                "login",
                Some(json!({"user": self.user, "password": self.password})),
            )
            .await?;
        let field = |k: &str| v["data"][k].as_str().map(str::to_owned);
        match (field("userId"), field("authToken")) {
            (Some(user_id), Some(token)) => Ok(Session { user_id, token }),
            _ => Err(Failure::Other(format!("login: unexpected answer {v}"))),
        }
    }

    async fn find_room(&self, s: &Session, name: &str) -> Result<Room, Failure> {
        let query = format!("roomName={}", name.trim_start_matches('#'));
        for (family, key) in [("channels", "channel"), ("groups", "group")] {
            let path = format!("{family}.info?{query}");
            match self.call(Some(s), reqwest::Method::GET, &path, None).await {
                Ok(v) => {
                    if let Some(id) = v[key]["_id"].as_str() {
                        return Ok(Room {
                            id: id.to_owned(),
                            name: name.to_owned(),
                            family,
                        });
                    }
                }
                Err(Failure::LoggedOut) => return Err(Failure::LoggedOut),
                Err(Failure::Other(_)) => {}
            }
        }
        Err(Failure::Other(format!(
            "room `{name}` not found (or the bot is not a member)"
        )))
    }

    async fn history(&self, s: &Session, room: &Room) -> Result<Vec<Value>, Failure> {
        let path = format!("{}.history?roomId={}&count=50", room.family, room.id);
        let v = self
            .call(Some(s), reqwest::Method::GET, &path, None)
            .await?;
        Ok(v["messages"].as_array().cloned().unwrap_or_default())
    }

    /// One logged-in session: find the rooms, then answer until the token stops working.
    async fn session(&self, s: &Session, poll: Duration) -> Failure {
        let mut rooms = Vec::new();
        for name in &self.rooms {
            match self.find_room(s, name).await {
                Ok(room) => {
                    log(&format!("listening in #{}", room.name));
                    rooms.push(room);
                }
                Err(e) => return e,
            }
        }
        // Messages already there when the bot arrives are not answered.
        let mut seen = HashSet::new();
        for room in &rooms {
            match self.history(s, room).await {
                Ok(msgs) => seen.extend(
                    msgs.iter()
                        .filter_map(|m| m["_id"].as_str().map(str::to_owned)),
                ),
                Err(e) => return e,
            }
        }
        loop {
            tokio::time::sleep(poll).await;
            for room in &rooms {
                let msgs = match self.history(s, room).await {
                    Ok(m) => m,
                    Err(e) => return e,
                };
                // Oldest first, as they were said.
                for m in msgs.iter().rev() {
                    let Some(id) = m["_id"].as_str() else {
                        continue;
                    };
                    if !seen.insert(id.to_owned()) || m.get("t").is_some() {
                        continue;
                    }
                    let from = m["u"]["username"].as_str().unwrap_or_default();
                    let text = m["msg"].as_str().unwrap_or_default();
                    if from == self.user || !is_ping_for(text, &self.name) {
                        continue;
                    }
                    let body = json!({"roomId": room.id, "text": "PONG"});
                    match self
                        .call(
                            Some(s),
                            reqwest::Method::POST,
                            "chat.postMessage",
                            Some(body),
                        )
                        .await
                    {
                        Ok(_) => log(&format!("answered PONG to @{from} in #{}", room.name)),
                        Err(e) => return e,
                    }
                }
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(user) = env("ROCKETCHAT_USER") else {
        log("ROCKETCHAT_USER is not set");
        std::process::exit(1);
    };
    let password = env("ROCKETCHAT_PASSWORD").unwrap_or_default();
    let use_ssl = env("ROCKETCHAT_USE_SSL").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let base = base_url(
        &env("ROCKETCHAT_URL").unwrap_or_else(|| "localhost:3000".to_owned()),
        use_ssl,
    );
    let name = env("BOT_NAME")
        .or_else(|| env("HUBOT_NAME"))
        .unwrap_or_else(|| "hubot".to_owned());
    let rooms = env("ROCKETCHAT_ROOM")
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let poll = Duration::from_millis(
        env("HUBOT_SIM_POLL_MS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let bot = Bot {
        http,
        base,
        user,
        password,
        name,
        rooms,
        form_login: env("HUBOT_SIM_LOGIN_BODY").is_some_and(|v| v == "form"),
    };
    log(&format!(
        "{} connecting to {} as {}",
        bot.name, bot.base, bot.user
    ));
    loop {
        match bot.login().await {
            Ok(session) => {
                log(&format!("logged in as {}", bot.user));
                match bot.session(&session, poll).await {
                    Failure::LoggedOut => log("the session ended; logging in again"),
                    Failure::Other(e) => {
                        log(&e);
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            }
            Err(e) => {
                log(&format!("Unable to Login: {e:?}"));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{base_url, is_ping_for};

    #[test]
    fn addressed_pings_only() {
        for text in [
            "bot ping",
            "@bot ping",
            "bot: ping",
            "Bot, PING",
            "  @bot   ping ",
        ] {
            assert!(is_ping_for(text, "bot"), "{text}");
        }
        for text in [
            "ping",
            "robot ping",
            "bot pingpong",
            "botping",
            "bot ping me",
            "b",
        ] {
            assert!(!is_ping_for(text, "bot"), "{text}");
        }
    }

    #[test]
    fn urls_as_the_sdk_reads_them() {
        assert_eq!(base_url("rocketchat:3000", false), "http://rocketchat:3000");
        assert_eq!(
            base_url("chat.example.org", true),
            "https://chat.example.org"
        );
        assert_eq!(
            base_url("https://chat.example.org/", false),
            "https://chat.example.org"
        );
    }
}
