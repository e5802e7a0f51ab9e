//! Rocket.Chat init jobs — the "welders" for the chat: the admin can log in, the bot user
//! exists with a working password (not caught by email 2FA), the room exists with its members,
//! and an incoming webhook exists. Each attempt looks at the server afresh, so every job is
//! idempotent; booting servers (refused, 5xx, the HTML page) and rate limits are retried, the
//! API's refusals are not.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use reqwest::Method;
use serde_json::{Value, json};

use super::check::{find_room, login_failure, undisclosed};
use super::client::{Client, RcError, Session, password_digest};
use crate::error::Error;
use crate::job::Step;

/// Credentials of a user, the password already read from its file or variable.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// What changed, kept across attempts (a retry must not report "already there" for something
/// an earlier attempt made).
pub type Changes = Arc<Mutex<Vec<String>>>;

fn note(changes: &Changes, line: String) {
    changes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(line);
}

/// A failed call as a job step: transient errors are retried (429 until its reset), the
/// API's refusals fail the job.
fn step<T>(what: &str, err: &RcError) -> Step<T> {
    match err {
        RcError::RateLimited { wait, .. } => {
            Step::RetryAfter(*wait, format!("{what}: {}", err.reason()))
        }
        e if e.transient() => Step::Retry(format!("{what}: {}", e.reason())),
        e => Step::Fail(Error::failed(format!("{what}: {}", e.reason()))),
    }
}

/// The 2FA headers Rocket.Chat accepts from an admin for protected calls: the password
/// fallback, whose code is the SHA-256 of the caller's password.
fn second_factor(admin: &Credentials) -> [(&'static str, String); 2] {
    [
        ("x-2fa-code", password_digest(&admin.password)),
        ("x-2fa-method", "password".to_owned()),
    ]
}

async fn admin_session(client: &Client, admin: &Credentials) -> Result<Session, Step<Vec<String>>> {
    if let Err(e) = client.info().await {
        return Err(step("server", &e));
    }
    match client.login(&admin.user, &admin.password).await {
        Ok(session) => Ok(session),
        Err(e) if e.transient() => Err(step("admin login", &e)),
        Err(e) => Err(Step::Fail(Error::failed(login_failure(&admin.user, &e)).with_hint(
            "`ADMIN_USERNAME`/`ADMIN_PASS` create an admin only on a start where no user has the `admin` role; an existing admin keeps its password",
        ))),
    }
}

/// `init rocketchat-admin`: the admin logs in and holds the `admin` role.
pub async fn admin(client: &Client, admin: &Credentials) -> Step<Vec<String>> {
    let session = match admin_session(client, admin).await {
        Ok(s) => s,
        Err(step) => return step,
    };
    client.logout(&session).await;
    if !session.roles.iter().any(|r| r == "admin") {
        return Step::Fail(
            Error::failed(format!(
                "`{}` logs in but lacks the `admin` role (roles: {})",
                admin.user,
                session.roles.join(", ")
            ))
            .with_hint("name the server's admin with `--user`"),
        );
    }
    Step::Done(vec![format!(
        "admin `{}`: logs in with the `admin` role",
        admin.user
    )])
}

/// What `init rocketchat-user` should make.
#[derive(Clone)]
pub struct UserSpec {
    pub user: Credentials,
    pub roles: Vec<String>,
    pub email: Option<String>,
    pub reset_password: bool,
}

/// `init rocketchat-user`: created if absent (no default channels, no forced password change,
/// `verified: false` so email 2FA does not catch it); if present, its login is verified.
pub async fn user(
    client: &Client,
    admin: &Credentials,
    spec: &UserSpec,
    changes: &Changes,
) -> Step<Vec<String>> {
    let name = &spec.user.user;
    // The admin resetting its own password (brief doctor.md R6, the fix for ADMIN_PASS changed
    // after the first boot): once reset, the admin logs in with the new one.
    let admin = if name == &admin.user && reset_already(changes, name) {
        &spec.user
    } else {
        admin
    };
    let session = match admin_session(client, admin).await {
        Ok(s) => s,
        Err(step) => return step,
    };
    let found = client
        .call(
            Method::GET,
            &format!("/api/v1/users.info?username={}", encode(name)),
            Some(&session),
            None,
            &[],
        )
        .await;
    let user_id = match found {
        Ok(reply) => reply["user"]["_id"].as_str().unwrap_or_default().to_owned(),
        Err(RcError::Api { ref message, .. }) if message.contains("not found") => {
            let body = json!({
                "username": name,
                "name": name,
                "email": spec.email.clone().unwrap_or_else(|| format!("{name}@users.noreply.invalid")),
                "password": spec.user.password,
                "roles": spec.roles,
                "joinDefaultChannels": false,
                "requirePasswordChange": false,
                "sendWelcomeEmail": false,
                "verified": false,
            });
            if let Err(e) = client
                .call(
                    Method::POST,
                    "/api/v1/users.create",
                    Some(&session),
                    Some(body),
                    &second_factor(admin),
                )
                .await
            {
                return step(&format!("creating `{name}`"), &e);
            }
            note(
                changes,
                format!(
                    "user `{name}`: created with roles {}",
                    spec.roles.join(", ")
                ),
            );
            return Step::Retry(format!("created `{name}`; verifying its login"));
        }
        Err(e) => return step(&format!("looking up `{name}`"), &e),
    };
    match client.login(name, &spec.user.password).await {
        Ok(user_session) => {
            client.logout(&user_session).await;
            let missing: Vec<&str> = spec
                .roles
                .iter()
                .filter(|r| !user_session.roles.contains(r))
                .map(String::as_str)
                .collect();
            let mut lines = Vec::new();
            if changes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                lines.push(format!("user `{name}`: already exists, login verified"));
            } else {
                lines.push(format!("user `{name}`: login verified"));
            }
            if !missing.is_empty() {
                lines.push(format!(
                    "user `{name}`: lacks roles {} (left as they are)",
                    missing.join(", ")
                ));
            }
            client.logout(&session).await;
            Step::Done(lines)
        }
        Err(e) if e.transient() => step(&format!("`{name}` login"), &e),
        // A reset did not help: the refusal is not about the password (an 8.0+ server does
        // not say what it is about).
        Err(e) if undisclosed(&e) && reset_already(changes, name) => Step::Fail(
            Error::failed(format!(
                "user `{name}`: its password was reset, yet it still cannot log in, and the server does not say why"
            ))
            .with_hint("the likely causes: email 2FA on a verified address (create bots with `verified: false`), or a deactivated user"),
        ),
        Err(e)
            if (e.code() == Some("Unauthorized") || undisclosed(&e)) && spec.reset_password =>
        {
            let body = json!({"userId": user_id, "data": {"password": spec.user.password}});
            if let Err(e) = client
                .call(
                    Method::POST,
                    "/api/v1/users.update",
                    Some(&session),
                    Some(body),
                    &second_factor(admin),
                )
                .await
            {
                return match e.code() {
                    Some("totp-required" | "totp-invalid") => Step::Fail(
                        Error::failed(format!("resetting `{name}`'s password needs a second factor the admin cannot give: {}", e.reason()))
                            .with_hint("Rocket.Chat asks for the admin's email code here; reset the password in the admin panel once"),
                    ),
                    _ => step(&format!("resetting `{name}`'s password"), &e),
                };
            }
            note(changes, format!("user `{name}`: password reset"));
            Step::Retry(format!("reset `{name}`'s password; verifying its login"))
        }
        Err(e) if e.code() == Some("Unauthorized") => Step::Fail(
            Error::failed(format!(
                "user `{name}` exists but this password does not log it in"
            ))
            .with_hint("pass `--reset-password` to set it, or give the password it has"),
        ),
        Err(e) if undisclosed(&e) => Step::Fail(
            Error::failed(format!(
                "user `{name}` exists but cannot log in with this password, and the server does not say why"
            ))
            .with_hint("a wrong password is likeliest: pass `--reset-password` to set it; else email 2FA on a verified address, or a deactivated user"),
        ),
        Err(e) => Step::Fail(Error::failed(login_failure(name, &e))),
    }
}

/// True when this job already reset `name`'s password (an earlier attempt noted it).
fn reset_already(changes: &Changes, name: &str) -> bool {
    let line = format!("user `{name}`: password reset");
    changes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&line)
}

/// What `init rocketchat-room` should make.
#[derive(Clone)]
pub struct RoomSpec {
    pub name: String,
    pub private: bool,
    pub read_only: bool,
    pub members: Vec<String>,
}

/// `init rocketchat-room`: created if absent; its members invited.
pub async fn room(
    client: &Client,
    admin: &Credentials,
    spec: &RoomSpec,
    changes: &Changes,
) -> Step<Vec<String>> {
    let session = match admin_session(client, admin).await {
        Ok(s) => s,
        Err(step) => return step,
    };
    let kind = if spec.private {
        "private group"
    } else {
        "channel"
    };
    let (info, private) = match find_room(client, &session, &spec.name).await {
        Ok(found) => found,
        Err(Some(e)) => return step(&format!("looking up `{}`", spec.name), &e),
        Err(None) => {
            let path = if spec.private {
                "/api/v1/groups.create"
            } else {
                "/api/v1/channels.create"
            };
            let body =
                json!({"name": spec.name, "members": spec.members, "readOnly": spec.read_only});
            match client
                .call(Method::POST, path, Some(&session), Some(body), &[])
                .await
            {
                Ok(_) => note(
                    changes,
                    format!(
                        "room `{}`: created as a {kind}{}",
                        spec.name,
                        if spec.read_only { " (read-only)" } else { "" }
                    ),
                ),
                // Created concurrently by someone else: look again.
                Err(e) if e.code() == Some("error-duplicate-channel-name") => {}
                Err(e) => return step(&format!("creating `{}`", spec.name), &e),
            }
            return Step::Retry(format!("room `{}` created; verifying", spec.name));
        }
    };
    if private != spec.private {
        let found = if private {
            "private group"
        } else {
            "public channel"
        };
        return Step::Fail(
            Error::failed(format!(
                "room `{}` exists as a {found}, not a {kind}",
                spec.name
            ))
            .with_hint(if spec.private {
                "drop `--private`, or rename the room"
            } else {
                "add `--private`, or rename the room"
            }),
        );
    }
    let id = info["_id"].as_str().unwrap_or_default().to_owned();
    let invite = if private {
        "/api/v1/groups.invite"
    } else {
        "/api/v1/channels.invite"
    };
    let mut lines = Vec::new();
    if changes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
    {
        lines.push(format!("room `{}`: already exists as a {kind}", spec.name));
    }
    if info["ro"].as_bool().unwrap_or(false) != spec.read_only {
        lines.push(format!(
            "room `{}`: is {}read-only; left as it is",
            spec.name,
            if spec.read_only { "not " } else { "" }
        ));
    }
    for member in &spec.members {
        let body = json!({"roomId": id, "username": member});
        if let Err(e) = client
            .call(Method::POST, invite, Some(&session), Some(body), &[])
            .await
        {
            return step(&format!("inviting `{member}` to `{}`", spec.name), &e);
        }
        lines.push(format!("room `{}`: `{member}` is a member", spec.name));
    }
    client.logout(&session).await;
    Step::Done(lines)
}

/// What `init rocketchat-webhook` should make.
#[derive(Clone)]
pub struct WebhookSpec {
    pub name: String,
    pub room: String,
    pub user: String,
    /// The script, its settings already written in (a secret may be inside: never printed).
    pub script: Option<String>,
    /// The script's file name, for messages.
    pub script_name: String,
    pub output: PathBuf,
}

/// `init rocketchat-webhook`: an incoming integration, looked up by name (the server does not
/// de-duplicate): created if absent; with `--script`, its script kept equal to the file's
/// (`integrations.update` when it differs, nothing sent when it does not), as are its room and
/// user. Its hook URL is written to `--output` (mode 0600), never printed.
pub async fn webhook(
    client: &Client,
    admin: &Credentials,
    spec: &WebhookSpec,
    changes: &Changes,
) -> Step<Vec<String>> {
    let session = match admin_session(client, admin).await {
        Ok(s) => s,
        Err(step) => return step,
    };
    let list = match client
        .call(
            Method::GET,
            "/api/v1/integrations.list?count=500",
            Some(&session),
            None,
            &[],
        )
        .await
    {
        Ok(list) => list,
        Err(e) => return step("listing integrations", &e),
    };
    let existing = list["integrations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["type"] == "webhook-incoming" && i["name"] == spec.name.as_str())
        .and_then(|i| i["_id"].as_str())
        .map(str::to_owned);
    let Some(id) = existing else {
        let body = json!({
            "type": "webhook-incoming",
            "name": spec.name,
            "enabled": true,
            "username": spec.user,
            "channel": format!("#{}", spec.room),
            "scriptEnabled": spec.script.is_some(),
            "script": spec.script.clone().unwrap_or_default(),
        });
        return match client
            .call(
                Method::POST,
                "/api/v1/integrations.create",
                Some(&session),
                Some(body),
                &[],
            )
            .await
        {
            Ok(_) => {
                let with = if spec.script.is_some() {
                    format!(" with script `{}`", spec.script_name)
                } else {
                    String::new()
                };
                note(
                    changes,
                    format!(
                        "webhook `{}`: created, posting to #{} as `{}`{with}",
                        spec.name, spec.room, spec.user
                    ),
                );
                Step::Retry(format!("webhook `{}` created; reading it back", spec.name))
            }
            Err(e) => step(&format!("creating webhook `{}`", spec.name), &e),
        };
    };
    // integrations.get: the whole record, script included, whatever `list` projects.
    let integration = match client
        .call(
            Method::GET,
            &format!("/api/v1/integrations.get?integrationId={}", encode(&id)),
            Some(&session),
            None,
            &[],
        )
        .await
    {
        Ok(reply) => reply["integration"].clone(),
        Err(e) => return step(&format!("reading webhook `{}`", spec.name), &e),
    };
    let Some(token) = integration["token"].as_str() else {
        return Step::Fail(Error::failed(format!(
            "webhook `{}` has no token in `integrations.get`",
            spec.name
        )));
    };
    let differences = webhook_differences(&integration, spec);
    if !differences.is_empty() {
        let mut body = json!({
            "type": "webhook-incoming",
            "integrationId": id,
            "name": spec.name,
            // An integration someone disabled stays disabled.
            "enabled": integration["enabled"].as_bool().unwrap_or(true),
            "username": spec.user,
            "channel": format!("#{}", spec.room),
            "scriptEnabled": integration["scriptEnabled"].as_bool().unwrap_or(false),
        });
        if let Some(script) = &spec.script {
            body["scriptEnabled"] = json!(true);
            body["script"] = json!(script);
        }
        return match client
            .call(
                Method::PUT,
                "/api/v1/integrations.update",
                Some(&session),
                Some(body),
                &[],
            )
            .await
        {
            Ok(_) => {
                note(
                    changes,
                    format!(
                        "webhook `{}`: updated ({})",
                        spec.name,
                        differences.join(", ")
                    ),
                );
                Step::Retry(format!("webhook `{}` updated; reading it back", spec.name))
            }
            Err(e) => step(&format!("updating webhook `{}`", spec.name), &e),
        };
    }
    if spec.script.is_some()
        && let Some(error) = integration.get("scriptError").filter(|e| !e.is_null())
    {
        return Step::Fail(
            Error::failed(format!(
                "webhook `{}`: Rocket.Chat cannot compile `{}`: {}: {}",
                spec.name,
                spec.script_name,
                error["name"].as_str().unwrap_or("Error"),
                error["message"].as_str().unwrap_or("unknown error")
            ))
            .with_hint("the script runs in Rocket.Chat's sandbox; `node --test tests/gitlab-script/gitlab.test.js` checks it offline"),
        );
    }
    let mut url = client.base().clone();
    url.set_path(&format!(
        "{}/hooks/{id}/{token}",
        url.path().trim_end_matches('/')
    ));
    if let Err(e) = crate::secret::write(&spec.output, url.as_str()) {
        return Step::Fail(e);
    }
    client.logout(&session).await;
    let mut lines = Vec::new();
    if changes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
    {
        lines.push(if spec.script.is_some() {
            format!(
                "webhook `{}`: already exists; script `{}` unchanged",
                spec.name, spec.script_name
            )
        } else {
            format!("webhook `{}`: already exists", spec.name)
        });
    }
    if integration["enabled"] == Value::Bool(false) {
        lines.push(format!(
            "webhook `{}`: is disabled; left as it is",
            spec.name
        ));
    }
    lines.push(format!(
        "webhook `{}`: hook URL written to `{}` (mode 0600)",
        spec.name,
        spec.output.display()
    ));
    Step::Done(lines)
}

/// What differs between the integration and the spec: the script (only with `--script`),
/// the room, the user.
fn webhook_differences(integration: &Value, spec: &WebhookSpec) -> Vec<&'static str> {
    let mut out = Vec::new();
    if let Some(script) = &spec.script
        && (integration["script"].as_str() != Some(script.as_str())
            || integration["scriptEnabled"] != Value::Bool(true))
    {
        out.push("script");
    }
    let channel = match &integration["channel"] {
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    if channel != format!("#{}", spec.room) {
        out.push("room");
    }
    if integration["username"].as_str() != Some(spec.user.as_str()) {
        out.push("user");
    }
    out
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
