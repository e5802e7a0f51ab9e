//! Rocket.Chat checks: the server serves its API (`rocketchat`); a user can log in
//! (`rocketchat-login`); the "diver" — that user can log in, the room exists, the user is a
//! member and, with `--write`, may post there (`rocketchat-room`), all without posting.

use std::time::Instant;

use reqwest::Method;
use serde_json::Value;

use super::client::{Client, RcError, Session};
use crate::check::outcome::Outcome;
use crate::output::human_duration;

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
    /// Where to keep and reuse the login token (`--session-file`).
    session_file: Option<std::path::PathBuf>,
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
    pub fn new(
        client: Client,
        probe: Probe,
        password: Option<String>,
        session_file: Option<std::path::PathBuf>,
    ) -> Self {
        Self {
            client,
            probe,
            password,
            session_file,
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
            Probe::Login { user } => match self.session(user).await {
                Ok((session, kept)) => {
                    if !kept {
                        self.client.logout(&session).await;
                    }
                    Ok(format!("`{user}` logged in"))
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

    /// A session for `user`: the one kept in `--session-file` while the server still accepts
    /// it, else a fresh login (kept there when the file is given). `true` when it is kept.
    async fn session(&self, user: &str) -> Result<(Session, bool), String> {
        if let Some(kept) = self.kept_session(user).await {
            return Ok((kept, true));
        }
        let password = self.password.as_deref().unwrap_or_default();
        let session = self
            .client
            .login(user, password)
            .await
            .map_err(|e| login_failure(user, &e))?;
        if let Some(path) = &self.session_file {
            let text = format!("{}\n{}", session.user_id, session.token);
            // A place the token cannot be kept (a check run elsewhere than its catalog was
            // written for) costs a login per attempt, not the check: it logs out again.
            match crate::secret::write(path, &text) {
                Ok(()) => return Ok((session, true)),
                Err(e) => tracing::warn!("not keeping the session: {}", e.message()),
            }
        }
        Ok((session, false))
    }

    async fn kept_session(&self, user: &str) -> Option<Session> {
        // A user id and a token: a few dozen bytes, never a whole device.
        let text = crate::limits::read_text(self.session_file.as_ref()?, 4096).ok()?;
        let mut lines = text.lines();
        let (user_id, token) = (lines.next()?.to_owned(), lines.next()?.to_owned());
        let probe = Session {
            user_id,
            token,
            username: user.to_owned(),
            roles: Vec::new(),
        };
        let me = self
            .client
            .call(Method::GET, "/api/v1/me", Some(&probe), None, &[])
            .await
            .ok()?;
        if me["username"].as_str() != Some(user) {
            return None;
        }
        let roles = super::client::strings(&me["roles"]);
        Some(Session { roles, ..probe })
    }

    async fn room(&self, user: &str, room: &str, write: bool) -> Result<String, String> {
        let (session, kept) = self.session(user).await?;
        let result = self.room_as(&session, room, write).await;
        if !kept {
            self.client.logout(&session).await;
        }
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
        let room_roles = super::client::strings(&sub["subscription"]["roles"]);
        let may = self.may_post(session, &info, &room_roles).await?;
        match may {
            Posting::Open => Ok(format!("member of {kind} `{room}`, may post")),
            Posting::ReadOnly(why) => Ok(format!(
                "member of read-only {kind} `{room}`, may post ({why})"
            )),
            Posting::Refused(why) => Err(format!("`{room}`: {why}")),
        }
    }

    /// Whether the user may post in the room, as the server decides it
    /// (apps/meteor/app/authorization/server/functions/canSendMessage.ts,
    /// `validateRoomMessagePermissionsAsync`): a read-only room needs `post-readonly` — through
    /// a global role, or a room role such as owner or moderator (the permission is checked with
    /// the room as scope) — unless the user was unmuted in it; then a muted user may post
    /// nowhere.
    async fn may_post(
        &self,
        session: &Session,
        info: &Value,
        room_roles: &[String],
    ) -> Result<Posting, String> {
        let user = &session.username;
        let listed = |key: &str| super::client::strings(&info[key]).contains(user);
        let mut granted = None;
        if info["ro"].as_bool() == Some(true) {
            let allowed = self.post_readonly_roles(session).await?;
            let global = session.roles.iter().find(|r| allowed.contains(r));
            let in_room = room_roles.iter().find(|r| allowed.contains(r));
            granted = Some(match (global, in_room) {
                (Some(role), _) => format!("`post-readonly` through role `{role}`"),
                (None, Some(role)) => {
                    format!("`post-readonly` through its room role `{role}`")
                }
                (None, None) if listed("unmuted") => "unmuted in the room".to_owned(),
                (None, None) => {
                    let shown = |roles: &[String]| {
                        if roles.is_empty() {
                            "none".to_owned()
                        } else {
                            roles.join(", ")
                        }
                    };
                    return Ok(Posting::Refused(format!(
                        "read-only, and `{user}` lacks `post-readonly` (roles: {}; in the room: {}) and was not unmuted there (hint: make it a moderator of the room, or unmute it there)",
                        shown(&session.roles),
                        shown(room_roles)
                    )));
                }
            });
        }
        if listed("muted") {
            return Ok(Posting::Refused(format!(
                "`{user}` is muted there (hint: unmute it: the room's members list, or `rooms.unmuteUser`)"
            )));
        }
        Ok(granted.map_or(Posting::Open, Posting::ReadOnly))
    }

    /// The roles that hold `post-readonly` (`permissions.listAll`).
    async fn post_readonly_roles(&self, session: &Session) -> Result<Vec<String>, String> {
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
        Ok(perms["update"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["_id"] == "post-readonly")
            .map(|p| super::client::strings(&p["roles"]))
            .unwrap_or_default())
    }
}

/// Whether a user may post in a room, and why.
enum Posting {
    /// Not read-only and not muted.
    Open,
    /// Read-only, and the user may post anyway: why.
    ReadOnly(String),
    /// May not post: why (with a hint).
    Refused(String),
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

/// A refused login the server gives no reason for: once Rocket.Chat's API breaking changes
/// apply (`applyBreakingChanges` in ApiClass.ts — from 8.0 on servers built with
/// `shouldBreakInVersion('8.0.0')`), every login failure is 401 `{"success":false,
/// "error":"unauthorized"}`: wrong password, unknown user, `totp-required`, deactivated alike.
#[must_use]
pub fn undisclosed(err: &RcError) -> bool {
    matches!(err, RcError::Api { status: 401, code, .. } if code == "unauthorized")
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
        _ if undisclosed(err) => format!(
            "`{user}` cannot log in, and the server does not say why: it answers every refused login with a bare `unauthorized` (hint: the likely causes are a wrong password or an unknown user, email 2FA on a verified address, no password set, or a deactivated user; `stackctl init rocketchat-user` creates the user or verifies its password)"
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
