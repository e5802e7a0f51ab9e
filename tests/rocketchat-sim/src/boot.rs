//! What the real server does while starting: wait for a replica-set primary, register
//! settings (honouring OVERWRITE_SETTING_<Id> and <Id> environment variables), insert the
//! initial data (#general, rocket.cat) and the admin from ADMIN_* variables.

use std::time::Duration;

use crate::state::{Db, PasswordHash, Room, SettingValue, User, now_ms, random_id};

/// Settings registry (apps/meteor/app/settings/server/SettingsRegistry.ts +
/// apps/meteor/server/lib/settings/...): `OVERWRITE_SETTING_<Id>` always wins; a plain `<Id>`
/// variable only provides the value when the setting is not stored yet.
/// `forced` holds command-line overrides of the simulator (applied like OVERWRITE_SETTING_).
pub fn apply_settings(
    db: &mut Db,
    env: &[(String, String)],
    forced: &[(&str, SettingValue)],
) -> Vec<String> {
    let mut log = Vec::new();
    for (id, default) in crate::state::default_settings() {
        let stored = db.settings.contains_key(id);
        let overwrite = env
            .iter()
            .find(|(k, _)| k.strip_prefix("OVERWRITE_SETTING_") == Some(id));
        let plain = env.iter().find(|(k, _)| k == id);
        if let Some((_, raw)) = overwrite {
            match default.parse_like(raw) {
                Some(v) => {
                    db.settings.insert(id.to_string(), v);
                    log.push(format!("Setting {id} overwritten from environment"));
                }
                None => log.push(format!("Ignoring invalid value for OVERWRITE_SETTING_{id}")),
            }
        } else if !stored {
            let value = plain
                .and_then(|(_, raw)| default.parse_like(raw))
                .unwrap_or(default);
            db.settings.insert(id.to_string(), value);
        }
    }
    for (id, v) in forced {
        db.settings.insert(id.to_string(), v.clone());
    }
    log
}

/// apps/meteor/app/authorization/server/startup.ts: permissions are created with their default
/// roles when missing; existing ones (possibly edited by an admin) are left alone.
pub fn ensure_permissions(db: &mut Db) {
    let mut changed = false;
    for (id, roles) in crate::state::DEFAULT_PERMISSIONS {
        if !db.permissions.contains_key(*id) {
            db.permissions.insert(
                id.to_string(),
                roles.iter().map(|r| r.to_string()).collect(),
            );
            changed = true;
        }
    }
    if changed {
        db.permissions_updated_at = now_ms();
    }
}

/// @rocket.chat/tools validateEmail (simplified: local@domain.tld, no spaces/brackets).
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let bad = |c: char| c.is_whitespace() || "<>()[]\\,;:@\"".contains(c);
    if local.is_empty() || local.chars().any(bad) || local.starts_with('.') || local.ends_with('.')
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Default UTF8_User_Names_Validation / UTF8_Channel_Names_Validation: `[0-9a-zA-Z-_.]+`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// apps/meteor/server/startup/initialData.ts (Meteor.startup part).
pub fn initial_data(db: &mut Db, env: &[(String, String)]) -> Vec<String> {
    let mut log = Vec::new();
    let now = now_ms();
    if !db.setting_bool("Initial_Channel_Created") {
        if db.room("GENERAL").is_none() {
            db.rooms.push(Room {
                id: "GENERAL".into(),
                t: "c".into(),
                name: Some("general".into()),
                fname: Some("general".into()),
                owner: None,
                ts: now,
                updated_at: now,
                ro: false,
                archived: false,
                default: true,
                msgs: 0,
                users_count: 0,
                usernames: vec![],
                lm: None,
                muted: vec![],
                unmuted: vec![],
            });
        }
        db.settings
            .insert("Initial_Channel_Created".into(), SettingValue::Bool(true));
    }
    if db.user("rocket.cat").is_none() {
        db.users.push(User {
            id: "rocket.cat".into(),
            username: "rocket.cat".into(),
            name: Some("Rocket.Cat".into()),
            emails: vec![],
            roles: vec!["bot".into()],
            active: true,
            kind: "bot".into(),
            created_at: now,
            updated_at: now,
            password: None,
            tokens: vec![],
            email2fa: false,
            email_code: None,
            invalid_email_code_attempts: 0,
            require_password_change: false,
            last_login: None,
            custom_fields: None,
        });
    }

    log.extend(insert_admin_user_from_env(db, env));

    // "No admins are found. Set <user> as admin for being the oldest user"
    if db.count_users_in_role("admin") == 0
        && let Some(oldest) = db
            .users
            .iter()
            .filter(|u| u.id != "rocket.cat")
            .min_by_key(|u| u.created_at)
            .map(|u| (u.id.clone(), u.username.clone()))
    {
        db.add_user_roles(&oldest.0, &["admin"]);
        log.push(format!(
            "No admins are found. Set {} as admin for being the oldest user",
            oldest.1
        ));
    }
    if db.count_users_in_role("admin") != 0 && db.setting_str("Show_Setup_Wizard") == "pending" {
        log.push(
            "Setting Setup Wizard to \"in_progress\" because, at least, one admin was found".into(),
        );
        db.settings.insert(
            "Show_Setup_Wizard".into(),
            SettingValue::Str("in_progress".into()),
        );
    }
    log
}

/// insertAdminUserFromEnv (apps/meteor/server/startup/initialData.ts): only when ADMIN_PASS is
/// set AND no user has the admin role; the admin is inserted directly (Users.create), so it gets
/// no email 2FA, is not joined to default channels and has only the `admin` role.
fn insert_admin_user_from_env(db: &mut Db, env: &[(String, String)]) -> Vec<String> {
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let mut log = Vec::new();
    let Some(pass) = get("ADMIN_PASS") else {
        return log;
    };
    if db.count_users_in_role("admin") != 0 {
        log.push(
            "Users with admin role already exist; Ignoring environment variables ADMIN_PASS".into(),
        );
        return log;
    }
    let name = get("ADMIN_NAME").unwrap_or_else(|| "Administrator".into());
    log.push(format!("Name: {name}"));
    let mut emails = vec![];
    if let Some(email) = get("ADMIN_EMAIL") {
        if valid_email(&email) {
            if db.user_by_email(&email).is_none() {
                emails.push(crate::state::Email {
                    address: email.clone(),
                    verified: get("ADMIN_EMAIL_VERIFIED").as_deref() == Some("true"),
                });
                log.push(format!("Email: {email}"));
            } else {
                log.push(
                    "Email provided already exists; Ignoring environment variables ADMIN_EMAIL"
                        .into(),
                );
            }
        } else {
            log.push(
                "Email provided is invalid; Ignoring environment variables ADMIN_EMAIL".into(),
            );
        }
    }
    let mut username = "admin".to_string();
    if let Some(u) = get("ADMIN_USERNAME") {
        if valid_name(&u) {
            if db.user_by_username_ci(&u).is_none() {
                username = u;
            } else {
                log.push("Username provided already exists or is blocked from usage; Ignoring environment variables ADMIN_USERNAME".into());
            }
        } else {
            log.push(
                "Username provided is invalid; Ignoring environment variables ADMIN_USERNAME"
                    .into(),
            );
        }
    }
    log.push(format!("Username: {username}"));
    let now = now_ms();
    db.users.push(User {
        id: random_id(17),
        username,
        name: Some(name),
        emails,
        roles: vec!["admin".into()],
        active: true,
        kind: "user".into(),
        created_at: now,
        updated_at: now,
        password: Some(PasswordHash::from_plain(&pass)),
        tokens: vec![],
        email2fa: false,
        email_code: None,
        invalid_email_code_attempts: 0,
        require_password_change: false,
        last_login: None,
        custom_fields: None,
    });
    log
}

/// getaddrinfo's code as Node names it, when the driver's error is a name that did not resolve
/// (glibc's texts for EAI_NONAME and EAI_AGAIN, as Rust's resolver passes them on).
fn unresolved(detail: &str) -> Option<&'static str> {
    if detail.contains("Temporary failure in name resolution") {
        Some("EAI_AGAIN")
    } else if detail.contains("failed to lookup address information") {
        Some("ENOTFOUND")
    } else {
        None
    }
}

/// The first host of a `mongodb://` URL (what the driver resolves first).
fn first_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hosts = rest.split(['/', '?']).next().unwrap_or(rest);
    let first = hosts.split(',').next().unwrap_or(hosts);
    first.rsplit_once(':').map_or(first, |(h, _)| h)
}

/// Meteor connects to MONGO_URL before the HTTP server listens; Rocket.Chat 5.4+ needs a
/// replica set (change streams). With no primary the Node driver fails server selection
/// after serverSelectionTimeoutMS (default 30000) and the process dies with
/// `MongoServerSelectionError: Server selection timed out after N ms` whose reason is a
/// TopologyDescription of type 'ReplicaSetNoPrimary' (brief: "no primary found in replicaset").
pub async fn wait_for_mongo_primary(url: &str, timeout: Duration) -> Result<(), String> {
    use mongodb::bson::doc;
    use mongodb::options::{ClientOptions, ReadPreference, SelectionCriteria};

    let has_replset = url.contains("replicaSet=");
    let fail = |topology: &str, detail: &str| {
        // A seed whose name does not resolve: the Node driver's selection error carries the
        // server's own error, getaddrinfo's code and the name (ENOTFOUND for EAI_NONAME,
        // EAI_AGAIN for a resolver's temporary failure; nodejs/node#15780), as Rocket.Chat's
        // logs show it: `MongoServerSelectionError: getaddrinfo EAI_AGAIN mongo`
        // (RocketChat/Rocket.Chat#23600, #26348).
        let headline = match unresolved(detail) {
            Some(code) => format!("getaddrinfo {code} {}", first_host(url)),
            None => format!(
                "Server selection timed out after {} ms",
                timeout.as_millis()
            ),
        };
        let tail = if unresolved(detail).is_some() {
            ""
        } else {
            "\n(no primary found in replicaset or invalid replica set name)"
        };
        format!(
            "MongoServerSelectionError: {headline}\n    at Topology.selectServer (/app/bundle/programs/server/npm/node_modules/mongodb/lib/sdam/topology.js:303:38)\n  reason: TopologyDescription {{\n    type: '{topology}',\n    setName: {},\n    compatible: true,\n    heartbeatFrequencyMS: 10000,\n    localThresholdMS: 15,\n    commonWireVersion: null,\n    logicalSessionTimeoutMS: null\n  }},\n  code: undefined,\n  [Symbol(errorLabels)]: Set(0) {{}}\n  cause: {detail}{tail}",
            url.split("replicaSet=")
                .nth(1)
                .map(|s| format!("'{}'", s.split('&').next().unwrap_or("")))
                .unwrap_or_else(|| "null".into()),
        )
    };
    let mut opts = ClientOptions::parse(url)
        .await
        .map_err(|e| format!("MongoParseError: {e}"))?;
    opts.server_selection_timeout = Some(timeout);
    opts.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
    opts.app_name = Some("rocketchat-sim".into());
    let client = mongodb::Client::with_options(opts).map_err(|e| format!("MongoError: {e}"))?;
    let db = client.database("admin");
    let reply = db
        .run_command(doc! {"hello": 1})
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .await
        .map_err(|e| {
            fail(
                if has_replset {
                    "ReplicaSetNoPrimary"
                } else {
                    "Unknown"
                },
                &e.to_string(),
            )
        })?;
    let primary = reply.get_bool("isWritablePrimary").unwrap_or(false)
        || reply.get_bool("ismaster").unwrap_or(false);
    if !primary {
        return Err(fail(
            "ReplicaSetNoPrimary",
            "selected server is not a primary",
        ));
    }
    if reply.get_str("setName").is_err() {
        // apps/meteor/server/database/watchCollections / DatabaseWatcher: change streams.
        return Err(
            "MongoServerError: The $changeStream stage is only supported on replica sets".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{first_host, unresolved};

    #[test]
    fn a_name_that_does_not_resolve_reads_as_node_prints_it() {
        assert_eq!(
            unresolved(
                "Kind: I/O error: failed to lookup address information: Name or service not known"
            ),
            Some("ENOTFOUND")
        );
        assert_eq!(
            unresolved(
                "I/O error: failed to lookup address information: Temporary failure in name resolution"
            ),
            Some("EAI_AGAIN")
        );
        assert_eq!(unresolved("Connection refused (os error 111)"), None);
        assert_eq!(
            first_host("mongodb://u:p@mongo-a:27017,mongo-b:27017/rc?replicaSet=rs0"),
            "mongo-a"
        );
        assert_eq!(first_host("mongodb://mongo/rc"), "mongo");
    }
}
