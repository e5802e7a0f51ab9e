//! Persistent state of the simulated server: users, roles, rooms, subscriptions,
//! messages, integrations and settings. Everything here is plain data; the
//! Rocket.Chat rules that act on it live in `api.rs` and `boot.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Dates are serialised by Rocket.Chat (EJSON over REST) as ISO-8601 strings with milliseconds.
pub fn iso(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// `Random.id()` of @rocket.chat/random: 17 characters from an alphabet without look-alikes.
pub fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `Random.secret()`: 43 characters of base64url alphabet (login tokens).
pub fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..43)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Stored password. Rocket.Chat stores bcrypt(sha256_hex(password)); we store an iterated,
/// salted SHA-256 of the same client digest, so the plaintext is never kept and the
/// 2FA "password fallback" (x-2fa-code = sha256 hex of the password) can be verified.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasswordHash {
    pub salt: String,
    pub hash: String,
}

impl PasswordHash {
    fn derive(salt: &str, digest: &str) -> String {
        let mut h = Sha256::digest(format!("{salt}:{digest}").as_bytes()).to_vec();
        for _ in 0..2000 {
            let mut hasher = Sha256::new();
            hasher.update(salt.as_bytes());
            hasher.update(&h);
            h = hasher.finalize().to_vec();
        }
        hex::encode(h)
    }
    pub fn from_plain(password: &str) -> Self {
        Self::from_digest(&sha256_hex(password))
    }
    pub fn from_digest(digest: &str) -> Self {
        let salt = random_id(22);
        let hash = Self::derive(&salt, &digest.to_lowercase());
        Self { salt, hash }
    }
    pub fn verify_digest(&self, digest: &str) -> bool {
        Self::derive(&self.salt, &digest.to_lowercase()) == self.hash
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Email {
    pub address: String,
    pub verified: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginToken {
    pub hashed: String,
    pub when: i64,
    /// apps/meteor/app/2fa/server/code/index.ts rememberAuthorization: a token that passed a
    /// second factor is trusted for Accounts_TwoFactorAuthentication_RememberFor seconds from
    /// the same fingerprint (user-agent + client address).
    #[serde(default)]
    pub two_factor_until: Option<i64>,
    #[serde(default)]
    pub two_factor_hash: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailCode {
    pub hash: String,
    pub expire: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub emails: Vec<Email>,
    pub roles: Vec<String>,
    pub active: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub password: Option<PasswordHash>,
    #[serde(default)]
    pub tokens: Vec<LoginToken>,
    #[serde(default)]
    pub email2fa: bool,
    #[serde(default)]
    pub email_code: Option<EmailCode>,
    #[serde(default)]
    pub invalid_email_code_attempts: u32,
    #[serde(default)]
    pub require_password_change: bool,
    #[serde(default)]
    pub last_login: Option<i64>,
    #[serde(default)]
    pub custom_fields: Option<Value>,
}

impl User {
    pub fn verified_emails(&self) -> Vec<String> {
        self.emails
            .iter()
            .filter(|e| e.verified)
            .map(|e| e.address.clone())
            .collect()
    }

    /// Users.findOneById(..., getDefaultUserFields()) as returned by /me and login's `me`.
    pub fn me_json(&self) -> Value {
        let mut v = json!({
            "_id": self.id,
            "username": self.username,
            "emails": self.emails.iter().map(|e| json!({"address": e.address, "verified": e.verified})).collect::<Vec<_>>(),
            "status": "offline",
            "statusConnection": "offline",
            "utcOffset": 0,
            "active": self.active,
            "roles": self.roles,
            "type": self.kind,
            "requirePasswordChange": self.require_password_change,
            "settings": {"preferences": {}},
        });
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if let Some(e) = self.emails.first() {
            v["email"] = json!(e.address);
        }
        v
    }

    /// Public view used by users.info / users.create responses.
    pub fn public_json(&self, full: bool) -> Value {
        let mut v = json!({
            "_id": self.id,
            "username": self.username,
            "type": self.kind,
            "status": "offline",
            "active": self.active,
            "utcOffset": 0,
        });
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if full {
            v["emails"] = json!(
                self.emails
                    .iter()
                    .map(|e| json!({"address": e.address, "verified": e.verified}))
                    .collect::<Vec<_>>()
            );
            v["roles"] = json!(self.roles);
            v["createdAt"] = json!(iso(self.created_at));
            v["_updatedAt"] = json!(iso(self.updated_at));
            v["requirePasswordChange"] = json!(self.require_password_change);
            if let Some(l) = self.last_login {
                v["lastLogin"] = json!(iso(l));
            }
            if let Some(c) = &self.custom_fields {
                v["customFields"] = c.clone();
            }
        }
        v
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoomOwner {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Room {
    pub id: String,
    /// c = public channel, p = private group, d = direct message
    pub t: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fname: Option<String>,
    #[serde(default)]
    pub owner: Option<RoomOwner>,
    pub ts: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub ro: bool,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub msgs: u64,
    #[serde(default)]
    pub users_count: u64,
    #[serde(default)]
    pub usernames: Vec<String>,
    #[serde(default)]
    pub lm: Option<i64>,
    /// Usernames muted in the room (`muteUsernameByRoomId`; packages/models Rooms.ts).
    #[serde(default)]
    pub muted: Vec<String>,
    /// Usernames that may post in the read-only room anyway (`unmuteReadOnlyUsernameByRoomId`).
    #[serde(default)]
    pub unmuted: Vec<String>,
}

impl Room {
    pub fn json(&self) -> Value {
        let mut v = json!({
            "_id": self.id,
            "t": self.t,
            "msgs": self.msgs,
            "usersCount": self.users_count,
            "ts": iso(self.ts),
            "ro": self.ro,
            "_updatedAt": iso(self.updated_at),
        });
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if let Some(f) = &self.fname {
            v["fname"] = json!(f);
        }
        if let Some(o) = &self.owner {
            let mut u = json!({"_id": o.id, "username": o.username});
            if let Some(n) = &o.name {
                u["name"] = json!(n);
            }
            v["u"] = u;
        }
        if self.default {
            v["default"] = json!(true);
        }
        if self.archived {
            v["archived"] = json!(true);
        }
        if self.t == "d" {
            v["usernames"] = json!(self.usernames);
        }
        if let Some(lm) = self.lm {
            v["lm"] = json!(iso(lm));
        }
        // The room document's own arrays, as channels.info / groups.info return them.
        if !self.muted.is_empty() {
            v["muted"] = json!(self.muted);
        }
        if !self.unmuted.is_empty() {
            v["unmuted"] = json!(self.unmuted);
        }
        v
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub rid: String,
    pub uid: String,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    pub t: String,
    pub ts: i64,
    #[serde(default)]
    pub ls: Option<i64>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub open: bool,
    pub updated_at: i64,
}

impl Subscription {
    pub fn json(&self, user_name: Option<&str>) -> Value {
        let mut u = json!({"_id": self.uid, "username": self.username});
        if let Some(n) = user_name {
            u["name"] = json!(n);
        }
        let mut v = json!({
            "_id": self.id,
            "rid": self.rid,
            "u": u,
            "t": self.t,
            "ts": iso(self.ts),
            "open": self.open,
            "alert": false,
            "unread": 0,
            "userMentions": 0,
            "groupMentions": 0,
            "_updatedAt": iso(self.updated_at),
        });
        if let Some(n) = &self.name {
            v["name"] = json!(n);
            v["fname"] = json!(n);
        }
        if let Some(ls) = self.ls {
            v["ls"] = json!(iso(ls));
        }
        if !self.roles.is_empty() {
            v["roles"] = json!(self.roles);
        }
        v
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub rid: String,
    pub msg: String,
    pub ts: i64,
    pub uid: String,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    /// system message type (uj = user joined, au = added user); None for chat messages
    #[serde(default)]
    pub t: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub emoji: Option<String>,
    #[serde(default)]
    pub attachments: Option<Value>,
    /// `bot: {i: integrationId}` for webhook messages
    #[serde(default)]
    pub bot: Option<Value>,
}

impl Message {
    pub fn json(&self) -> Value {
        let mut u = json!({"_id": self.uid, "username": self.username});
        if let Some(n) = &self.name {
            u["name"] = json!(n);
        }
        let mut v = json!({
            "_id": self.id,
            "rid": self.rid,
            "msg": self.msg,
            "ts": iso(self.ts),
            "u": u,
            "_updatedAt": iso(self.ts),
            "urls": [],
            "mentions": [],
            "channels": [],
        });
        if let Some(t) = &self.t {
            v["t"] = json!(t);
            v["groupable"] = json!(false);
        } else {
            v["groupable"] = json!(false);
        }
        if let Some(a) = &self.alias {
            v["alias"] = json!(a);
        }
        if let Some(a) = &self.avatar {
            v["avatar"] = json!(a);
        }
        if let Some(e) = &self.emoji {
            v["emoji"] = json!(e);
        }
        if let Some(a) = &self.attachments {
            v["attachments"] = a.clone();
        }
        if let Some(b) = &self.bot {
            v["bot"] = b.clone();
        }
        v
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Integration {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub username: String,
    pub user_id: String,
    pub channel: Vec<String>,
    pub token: String,
    pub script_enabled: bool,
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub emoji: Option<String>,
    #[serde(default)]
    pub override_destination_channel_enabled: bool,
    /// `scriptCompiled` is set when the script passed compileIntegrationScript at save; only
    /// then does a hook run it (ScriptEngine.integrationHasValidScript).
    #[serde(default)]
    pub script_compiled: bool,
    /// `scriptError` ({name, message, stack}) when it did not.
    #[serde(default)]
    pub script_error: Option<Value>,
    pub created_at: i64,
    pub created_by: Value,
    /// `_updatedAt`/`_updatedBy` of integrations.update (0/None until then).
    #[serde(default)]
    pub updated_at: i64,
    #[serde(default)]
    pub updated_by: Option<Value>,
}

impl Integration {
    pub fn json(&self) -> Value {
        let mut v = json!({
            "_id": self.id,
            "type": self.kind,
            "name": self.name,
            "enabled": self.enabled,
            "username": self.username,
            "userId": self.user_id,
            "channel": self.channel,
            "token": self.token,
            "scriptEnabled": self.script_enabled,
            "scriptEngine": "isolated-vm",
            "overrideDestinationChannelEnabled": self.override_destination_channel_enabled,
            "_createdAt": iso(self.created_at),
            "_createdBy": self.created_by,
            "_updatedAt": iso(if self.updated_at > 0 { self.updated_at } else { self.created_at }),
        });
        if let Some(by) = &self.updated_by {
            v["_updatedBy"] = by.clone();
        }
        if let Some(e) = &self.script_error {
            v["scriptError"] = e.clone();
        }
        if let Some(s) = &self.script {
            v["script"] = json!(s);
        }
        if let Some(a) = &self.alias {
            v["alias"] = json!(a);
        }
        if let Some(a) = &self.avatar {
            v["avatar"] = json!(a);
        }
        if let Some(e) = &self.emoji {
            v["emoji"] = json!(e);
        }
        v
    }
}

/// Default roles of the permissions Rocket.Chat ships
/// (apps/meteor/app/authorization/server/constant/permissions.ts; omnichannel ones left out).
pub const DEFAULT_PERMISSIONS: &[(&str, &[&str])] = &[
    ("access-permissions", &["admin"]),
    ("add-user-to-joined-room", &["admin", "owner", "moderator"]),
    ("add-user-to-any-c-room", &["admin"]),
    ("add-user-to-any-p-room", &[]),
    ("kick-user-from-any-c-room", &["admin"]),
    ("kick-user-from-any-p-room", &[]),
    ("api-bypass-rate-limit", &["admin", "bot", "app"]),
    ("archive-room", &["admin", "owner"]),
    ("assign-admin-role", &["admin"]),
    ("assign-roles", &["admin"]),
    (
        "create-c",
        &["admin", "user", "federated-external", "bot", "app"],
    ),
    (
        "create-d",
        &["admin", "user", "federated-external", "bot", "app"],
    ),
    (
        "create-p",
        &["admin", "user", "federated-external", "bot", "app"],
    ),
    ("create-personal-access-tokens", &["admin", "user"]),
    ("create-user", &["admin"]),
    ("delete-c", &["admin", "owner"]),
    ("delete-message", &["admin", "owner", "moderator"]),
    ("delete-own-message", &["admin", "user"]),
    ("delete-p", &["admin", "owner"]),
    ("force-delete-message", &["admin", "owner"]),
    ("delete-user", &["admin"]),
    ("edit-other-user-active-status", &["admin"]),
    ("edit-other-user-info", &["admin"]),
    ("edit-other-user-password", &["admin"]),
    ("edit-room", &["admin", "owner", "moderator"]),
    ("join-without-join-code", &["admin", "bot", "app"]),
    (
        "leave-c",
        &[
            "admin",
            "user",
            "federated-external",
            "bot",
            "anonymous",
            "app",
        ],
    ),
    (
        "leave-p",
        &[
            "admin",
            "user",
            "federated-external",
            "bot",
            "anonymous",
            "app",
        ],
    ),
    ("logout-other-user", &["admin"]),
    ("manage-outgoing-integrations", &["admin"]),
    ("manage-incoming-integrations", &["admin"]),
    ("manage-own-outgoing-integrations", &["admin"]),
    ("manage-own-incoming-integrations", &["admin"]),
    (
        "mention-all",
        &["admin", "owner", "moderator", "user", "federated-external"],
    ),
    (
        "mention-here",
        &["admin", "owner", "moderator", "user", "federated-external"],
    ),
    ("mute-user", &["admin", "owner", "moderator"]),
    ("remove-user", &["admin", "owner", "moderator"]),
    ("set-moderator", &["admin", "owner"]),
    ("set-owner", &["admin", "owner"]),
    ("send-many-messages", &["admin", "bot", "app"]),
    (
        "view-c-room",
        &[
            "admin",
            "user",
            "federated-external",
            "bot",
            "app",
            "anonymous",
        ],
    ),
    (
        "view-d-room",
        &["admin", "user", "federated-external", "bot", "app", "guest"],
    ),
    ("view-full-other-user-info", &["admin"]),
    ("view-joined-room", &["guest", "bot", "app", "anonymous"]),
    ("view-other-user-channels", &["admin"]),
    (
        "view-p-room",
        &["admin", "user", "federated-external", "anonymous", "guest"],
    ),
    ("view-room-administration", &["admin"]),
    ("view-user-administration", &["admin"]),
    (
        "view-outside-room",
        &["admin", "owner", "moderator", "user", "federated-external"],
    ),
    (
        "view-broadcast-member-list",
        &["admin", "owner", "moderator"],
    ),
    ("create-team", &["admin", "user"]),
    ("message-impersonate", &["bot", "app"]),
    ("post-readonly", &["admin", "owner", "moderator"]),
    ("set-readonly", &["admin", "owner"]),
    ("set-react-when-readonly", &["admin", "owner"]),
    ("pin-message", &["owner", "moderator", "admin"]),
    ("get-server-info", &["admin"]),
    ("bypass-time-limit-edit-and-delete", &["bot", "app"]),
];

/// Default roles (apps/meteor/app/authorization/server/functions/upsertPermissions / createOrUpdateProtectedRole).
pub const DEFAULT_ROLES: &[(&str, &str, &str)] = &[
    ("admin", "Users", "Admin"),
    ("moderator", "Subscriptions", "Moderator"),
    ("leader", "Subscriptions", "Leader"),
    ("owner", "Subscriptions", "Owner"),
    ("user", "Users", ""),
    ("bot", "Users", ""),
    ("app", "Users", ""),
    ("guest", "Users", ""),
    ("anonymous", "Users", ""),
    ("livechat-agent", "Users", "Livechat Agent"),
    ("livechat-manager", "Users", "Livechat Manager"),
];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SettingValue {
    Bool(bool),
    Int(i64),
    Str(String),
}

impl SettingValue {
    pub fn to_json(&self) -> Value {
        match self {
            SettingValue::Bool(b) => json!(b),
            SettingValue::Int(i) => json!(i),
            SettingValue::Str(s) => json!(s),
        }
    }
    /// Parse an environment string the way the settings registry does for the setting's type.
    pub fn parse_like(&self, raw: &str) -> Option<SettingValue> {
        match self {
            SettingValue::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" => Some(SettingValue::Bool(true)),
                "false" => Some(SettingValue::Bool(false)),
                _ => None,
            },
            SettingValue::Int(_) => raw.trim().parse().ok().map(SettingValue::Int),
            SettingValue::Str(_) => Some(SettingValue::Str(raw.to_string())),
        }
    }
}

/// The settings this simulator knows (and their Rocket.Chat defaults). Sources:
/// apps/meteor/app/2fa/server/startup/settings.ts (2FA),
/// apps/meteor/app/api/server/settings.ts (rate limiter: 10 calls / 60000 ms),
/// apps/meteor/server/settings/*.ts (wizard, name validation, registration defaults).
pub fn default_settings() -> Vec<(&'static str, SettingValue)> {
    use SettingValue::*;
    vec![
        ("Accounts_TwoFactorAuthentication_Enabled", Bool(true)),
        ("Accounts_TwoFactorAuthentication_MaxDelta", Int(1)),
        (
            "Accounts_TwoFactorAuthentication_By_TOTP_Enabled",
            Bool(true),
        ),
        (
            "Accounts_TwoFactorAuthentication_By_Email_Enabled",
            Bool(true),
        ),
        (
            "Accounts_TwoFactorAuthentication_By_Email_Auto_Opt_In",
            Bool(true),
        ),
        (
            "Accounts_TwoFactorAuthentication_By_Email_Code_Expiration",
            Int(3600),
        ),
        ("Accounts_TwoFactorAuthentication_RememberFor", Int(1800)),
        (
            "Accounts_TwoFactorAuthentication_Enforce_Password_Fallback",
            Bool(true),
        ),
        (
            "Accounts_TwoFactorAuthentication_Max_Invalid_Email_Code_Attempts",
            Int(5),
        ),
        ("API_Enable_Rate_Limiter", Bool(true)),
        ("API_Enable_Rate_Limiter_Dev", Bool(true)),
        ("API_Enable_Rate_Limiter_Limit_Calls_Default", Int(10)),
        ("API_Enable_Rate_Limiter_Limit_Time_Default", Int(60000)),
        ("Show_Setup_Wizard", Str("pending".into())),
        ("Accounts_RequireNameForSignUp", Bool(true)),
        (
            "Accounts_Registration_Users_Default_Roles",
            Str("user".into()),
        ),
        ("Accounts_ManuallyApproveNewUsers", Bool(false)),
        ("UTF8_User_Names_Validation", Str("[0-9a-zA-Z-_.]+".into())),
        (
            "UTF8_Channel_Names_Validation",
            Str("[0-9a-zA-Z-_.]+".into()),
        ),
        ("Initial_Channel_Created", Bool(false)),
        // apps/meteor/server/settings/message.ts
        ("Message_AllowDeleting", Bool(true)),
        ("Message_AllowDeleting_BlockDeleteInMinutes", Int(0)),
        ("Site_Url", Str("http://localhost:3000".into())),
        ("Site_Name", Str("Rocket.Chat".into())),
    ]
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Db {
    pub users: Vec<User>,
    pub rooms: Vec<Room>,
    pub subscriptions: Vec<Subscription>,
    pub messages: Vec<Message>,
    pub integrations: Vec<Integration>,
    pub settings: BTreeMap<String, SettingValue>,
    /// permission id -> roles
    pub permissions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub permissions_updated_at: i64,
}

impl Db {
    pub fn load(path: &Path) -> std::io::Result<Option<Db>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    pub fn setting_bool(&self, id: &str) -> bool {
        matches!(self.settings.get(id), Some(SettingValue::Bool(true)))
    }
    pub fn setting_int(&self, id: &str) -> i64 {
        match self.settings.get(id) {
            Some(SettingValue::Int(i)) => *i,
            Some(SettingValue::Str(s)) => s.parse().unwrap_or(0),
            _ => 0,
        }
    }
    pub fn setting_str(&self, id: &str) -> String {
        match self.settings.get(id) {
            Some(SettingValue::Str(s)) => s.clone(),
            Some(v) => v.to_json().to_string(),
            None => String::new(),
        }
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.id == id)
    }
    pub fn user_by_username(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == name)
    }
    /// Users.findOneByUsernameIgnoringCase
    pub fn user_by_username_ci(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(name))
    }
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.emails
                .iter()
                .any(|e| e.address.eq_ignore_ascii_case(email))
        })
    }
    pub fn room(&self, id: &str) -> Option<&Room> {
        self.rooms.iter().find(|r| r.id == id)
    }
    pub fn room_mut(&mut self, id: &str) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| r.id == id)
    }
    pub fn room_by_name(&self, name: &str) -> Option<&Room> {
        self.rooms.iter().find(|r| r.name.as_deref() == Some(name))
    }
    pub fn subscription(&self, rid: &str, uid: &str) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.rid == rid && s.uid == uid)
    }

    /// Roles.countUsersInRole('admin')
    pub fn count_users_in_role(&self, role: &str) -> usize {
        self.users
            .iter()
            .filter(|u| u.roles.iter().any(|r| r == role))
            .count()
    }

    /// hasPermissionAsync(uid, permission[, rid]): global roles of the user, plus the
    /// subscription roles (owner/moderator/leader) when a room scope is given.
    pub fn has_permission(&self, uid: &str, permission: &str, rid: Option<&str>) -> bool {
        let Some(user) = self.user(uid) else {
            return false;
        };
        let Some(allowed) = self.permissions.get(permission) else {
            return false;
        };
        let mut roles: Vec<&str> = user.roles.iter().map(String::as_str).collect();
        if let Some(rid) = rid
            && let Some(sub) = self.subscription(rid, uid)
        {
            roles.extend(sub.roles.iter().map(String::as_str));
        }
        roles.iter().any(|r| allowed.iter().any(|a| a == r))
    }

    pub fn add_user_roles(&mut self, uid: &str, roles: &[&str]) {
        if let Some(u) = self.user_mut(uid) {
            for r in roles {
                if !u.roles.iter().any(|x| x == r) {
                    u.roles.push(r.to_string());
                }
            }
            u.updated_at = now_ms();
        }
    }
}
