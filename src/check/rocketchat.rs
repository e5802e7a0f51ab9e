//! Rocket.Chat checks: the server serves its API (`rocketchat`); a user can log in
//! (`rocketchat-login`); the "diver" — that user can log in, the room exists, the user is a
//! member and, with `--write`, may post there (`rocketchat-room`), all without posting.

use std::time::Instant;

use reqwest::Method;
use serde_json::Value;

use super::Outcome;
use crate::output::human_duration;
use crate::rocketchat::{Client, RcError, Session};

/// What to verify.
#[derive(Debug, Clone)]
pub enum Probe {
    Server,
    Login {
        user: String,
    },
    Room {
        user: String,
        room: String,
        write: bool,
    },
}

/// One attempt against a Rocket.Chat server.
pub struct RocketChatCheck {
    client: Client,
    probe: Probe,
    password: Option<String>,
}

impl std::fmt::Debug for RocketChatCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("RocketChatCheck")
            .field("url", &self.client.shown())
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

impl RocketChatCheck {
    #[must_use]
    pub fn new(client: Client, probe: Probe, password: Option<String>) -> Self {
        Self {
            client,
            probe,
            password,
        }
    }

    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self.probe {
            Probe::Server => "rocketchat",
            Probe::Login { .. } => "rocketchat-login",
            Probe::Room { .. } => "rocketchat-room",
        }
    }

    #[must_use]
    pub fn target(&self) -> String {
        match &self.probe {
            Probe::Server => self.client.shown(),
            Probe::Login { user } => format!("{} as {user}", self.client.shown()),
            Probe::Room { user, room, .. } => format!("{} #{room} as {user}", self.client.shown()),
        }
    }

    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let result = match &self.probe {
            Probe::Server => self.server().await,
            Probe::Login { user } => match self.login(user).await {
                Ok((session, detail)) => {
                    self.client.logout(&session).await;
                    Ok(detail)
                }
                Err(reason) => Err(reason),
            },
            Probe::Room { user, room, write } => self.room(user, room, *write).await,
        };
        match result {
            Ok(detail) => {
                Outcome::Healthy(format!("{detail} in {}", human_duration(started.elapsed())))
            }
            Err(reason) => Outcome::Unhealthy(reason),
        }
    }

    async fn server(&self) -> Result<String, String> {
        let version = self.client.info().await.map_err(|e| e.reason())?;
        match self
            .client
            .call(Method::GET, "/readyz", None, None, &[])
            .await
        {
            Ok(_) => Ok(format!("Rocket.Chat {version}, ready")),
            // Before 7.11 there is no /readyz: /api/info is all there is.
            Err(RcError::Api { status: 404, .. }) => Ok(format!("Rocket.Chat {version}")),
            Err(RcError::Booting(_)) => Err(format!(
                "Rocket.Chat {version} answers, but `/readyz` says unavailable"
            )),
            Err(e) => Err(format!("`/readyz`: {}", e.reason())),
        }
    }

    async fn login(&self, user: &str) -> Result<(Session, String), String> {
        let password = self.password.as_deref().unwrap_or_default();
        match self.client.login(user, password).await {
            Ok(session) => Ok((session, format!("`{user}` logged in"))),
            Err(e) => Err(login_failure(user, &e)),
        }
    }

    async fn room(&self, user: &str, room: &str, write: bool) -> Result<String, String> {
        let (session, _) = self.login(user).await?;
        let result = self.room_as(&session, room, write).await;
        self.client.logout(&session).await;
        result
    }

    async fn room_as(&self, session: &Session, room: &str, write: bool) -> Result<String, String> {
        let (info, private) =
            find_room(&self.client, session, room)
                .await
                .map_err(|e| match e {
                    Some(e) => e.reason(),
                    None => format!(
                        "room `{room}` does not exist (or `{}` may not see it)",
                        session.username
                    ),
                })?;
        let id = info["_id"].as_str().unwrap_or_default().to_owned();
        let sub = self
            .client
            .call(
                Method::GET,
                &format!("/api/v1/subscriptions.getOne?roomId={id}"),
                Some(session),
                None,
                &[],
            )
            .await
            .map_err(|e| e.reason())?;
        if sub["subscription"].is_null() {
            return Err(format!(
                "`{}` is not a member of `{room}`",
                session.username
            ));
        }
        let kind = if private { "private group" } else { "channel" };
        if !write {
            return Ok(format!("member of {kind} `{room}`"));
        }
        if info["ro"].as_bool() == Some(true) {
            let perms = self
                .client
                .call(
                    Method::GET,
                    "/api/v1/permissions.listAll",
                    Some(session),
                    None,
                    &[],
                )
                .await
                .map_err(|e| e.reason())?;
            let allowed = perms["update"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["_id"] == "post-readonly")
                .and_then(|p| p["roles"].as_array())
                .is_some_and(|roles| {
                    roles
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|r| session.roles.iter().any(|mine| mine == r))
                });
            if !allowed {
                return Err(format!(
                    "`{room}` is read-only and `{}` lacks `post-readonly` (roles: {})",
                    session.username,
                    session.roles.join(", ")
                ));
            }
            return Ok(format!(
                "member of read-only {kind} `{room}`, may post (`post-readonly`)"
            ));
        }
        Ok(format!("member of {kind} `{room}`, may post"))
    }
}

/// A room by name: public channel first, then private group. `Err(None)` when neither exists.
pub async fn find_room(
    client: &Client,
    session: &Session,
    room: &str,
) -> Result<(Value, bool), Option<RcError>> {
    let name = url::form_urlencoded::byte_serialize(room.as_bytes()).collect::<String>();
    for (path, key, private) in [
        ("channels.info", "channel", false),
        ("groups.info", "group", true),
    ] {
        match client
            .call(
                Method::GET,
                &format!("/api/v1/{path}?roomName={name}"),
                Some(session),
                None,
                &[],
            )
            .await
        {
            Ok(reply) => return Ok((reply[key].clone(), private)),
            Err(e) if e.code() == Some("error-room-not-found") => {}
            Err(e) => return Err(Some(e)),
        }
    }
    Err(None)
}

/// The known login failures, each with its own reason and hint (one line).
#[must_use]
pub fn login_failure(user: &str, err: &RcError) -> String {
    match err.code() {
        Some("totp-required") => format!(
            "`{user}` needs a second factor (email 2FA; hint: create bots with `verified: false`, or set `OVERWRITE_SETTING_Accounts_TwoFactorAuthentication_By_Email_Auto_Opt_In=false`)"
        ),
        Some("Unauthorized") => format!(
            "`{user}` cannot log in: unknown user or wrong password (hint: `stackctl init rocketchat-user` creates it or verifies its password)"
        ),
        Some("403") => format!(
            "`{user}` has no password set (hint: give it one with `stackctl init rocketchat-user --reset-password`)"
        ),
        Some("error-user-is-not-activated") => {
            format!("`{user}` is deactivated (hint: reactivate it in the admin panel)")
        }
        _ => match err {
            RcError::RateLimited { .. } => format!(
                "{} (hint: give `{user}` the `bot` role, which bypasses the rate limiter, or probe less often)",
                err.reason()
            ),
            other => other.reason(),
        },
    }
}
