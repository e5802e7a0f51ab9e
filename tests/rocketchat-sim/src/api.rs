//! REST behaviour. Every rule carries a comment naming where in Rocket.Chat's source
//! (apps/meteor/...) or in ../shared/brief/rocketchat.md it comes from.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::boot::{valid_email, valid_name};
use crate::script;
use crate::state::{
    Db, Email, EmailCode, Integration, LoginToken, Message, PasswordHash, Room, RoomOwner,
    Subscription, User, iso, now_ms, random_id, random_secret, sha256_hex,
};

#[derive(Clone, Debug, Default)]
pub struct Fault {
    pub fail_every: u64,
    pub fail_status: u16,
    pub delay_ms: u64,
    pub mongo_down: bool,
    pub counter: u64,
}

pub struct Config {
    /// full version, e.g. "8.0.0"
    pub version: String,
    /// users.create also demands a second factor (brief: "on recent versions"; not found in the
    /// users.ts read for this simulator, so off by default)
    pub users_create_2fa: bool,
    /// Rocket.Chat before loginErrorMessageOverride masked every login-handler error: only
    /// 'Incorrect password' became 'User not found', so "User has no password set" leaked.
    pub legacy_login_errors: bool,
    /// The version from which the API's planned breaking changes apply: ApiClass.ts'
    /// `applyBreakingChanges = shouldBreakInVersion(X)`, true once the server's version is at
    /// least X. The source has said both '8.0.0' (apps/meteor/app/api/server/ApiClass.ts at
    /// RocketChat/Rocket.Chat 019378e3291e412b233a6389a26071f1bec34817) and, later, '9.0.0'
    /// (apps/meteor/server/api/ApiClass.ts; issue #41589 still speaks of "the 9.0.0
    /// breaking-change flag"). Which one the 8.0.0 release shipped with was NOT confirmed
    /// here: `--break-in-version 8.0.0 --version 8.0.0` simulates an 8.0 server built with the
    /// first, whose login failures all read `{"success":false,"error":"unauthorized"}`.
    pub break_in_version: String,
}

/// `1.2.3` as numbers, for `>=` (missing parts are 0, non-numbers 0).
fn version_parts(version: &str) -> Vec<u32> {
    let mut parts: Vec<u32> = version
        .split('.')
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .collect();
    parts.resize(3, 0);
    parts
}

pub struct Sim {
    pub db: Db,
    pub cfg: Config,
    pub fault: Fault,
    /// route name -> (last reset ms, ip -> count): one Meteor RateLimiter rule per route
    pub rate: HashMap<String, (i64, HashMap<String, u64>)>,
    pub started_at: i64,
    /// plain email 2FA codes "sent" by mail, readable through /_sim/email-code
    pub mailbox: HashMap<String, String>,
    pub dirty: bool,
}

pub struct RawReq {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    /// The query string as sent (without `?`).
    pub raw_query: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    pub body_error: Option<String>,
    /// The body as text (`content_raw` of a hook script's request).
    pub raw: String,
    pub ip: String,
}

impl RawReq {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

pub enum Body {
    Json(Value),
    Html(String),
    Text(String),
}

pub struct Reply {
    pub status: u16,
    pub body: Body,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Self {
        Reply {
            status,
            body: Body::Json(v),
            headers: vec![],
        }
    }
}

/// Error kinds of apps/meteor/app/api/server/ApiClass.ts.
#[derive(Debug)]
pub enum ApiErr {
    /// `throw new Meteor.Error(code, reason, details)` caught by the route wrapper ->
    /// API.v1.failure(e.message, e.error, ..., e) -> 400 {success:false, error:"reason [code]", errorType, details}
    Meteor {
        code: String,
        reason: String,
        details: Option<Value>,
    },
    /// API.v1.failure('text') or a plain `throw new Error('text')` -> 400 {success:false, error:'text'}
    Plain(String),
    /// API.v1.failure(result, errorType) with two strings
    PlainTyped(String, String),
    /// API.v1.forbidden(msg) -> 403
    Forbidden(Option<String>),
    /// typed-route validation (packages/http-router): 400 {success:false, errorType:'error-invalid-params', error}
    InvalidParams(String),
    /// API.v1.failure() without arguments -> 400 {success:false}
    Failure,
}

fn meteor(code: &str, reason: &str) -> ApiErr {
    ApiErr::Meteor {
        code: code.into(),
        reason: reason.into(),
        details: None,
    }
}
fn meteor_d(code: &str, reason: &str, details: Value) -> ApiErr {
    ApiErr::Meteor {
        code: code.into(),
        reason: reason.into(),
        details: Some(details),
    }
}

/// Meteor.Error#message: "reason [error]" or "[error]" when there is no reason.
fn meteor_message(code: &str, reason: &str) -> String {
    if reason.is_empty() {
        format!("[{code}]")
    } else {
        format!("{reason} [{code}]")
    }
}

type Handler = fn(&mut Sim, &Ctx) -> Result<Value, ApiErr>;

pub struct Ctx<'a> {
    pub req: &'a RawReq,
    pub uid: String,
    pub token: Option<String>,
}

impl Ctx<'_> {
    fn q(&self, k: &str) -> Option<&str> {
        self.req.query.get(k).map(String::as_str)
    }
    fn bs(&self, k: &str) -> Option<&str> {
        self.req.body.get(k).and_then(Value::as_str)
    }
}

impl Sim {
    pub fn new(db: Db, cfg: Config) -> Self {
        Sim {
            db,
            cfg,
            fault: Fault {
                fail_status: 500,
                ..Default::default()
            },
            rate: HashMap::new(),
            started_at: now_ms(),
            mailbox: HashMap::new(),
            dirty: false,
        }
    }

    /// shouldBreakInVersion(X) (X = `--break-in-version`, 9.0.0 by default): before X the
    /// server still answers in the compatibility format.
    fn breaking(&self) -> bool {
        version_parts(&self.cfg.version) >= version_parts(&self.cfg.break_in_version)
    }

    fn short_version(&self) -> String {
        // /api/info without auth reports major.minor only (tests/end-to-end/api/miscellaneous.ts)
        let parts: Vec<&str> = self.cfg.version.split('.').collect();
        if parts.len() >= 2 {
            format!("{}.{}", parts[0], parts[1])
        } else {
            self.cfg.version.clone()
        }
    }

    fn error_reply(&self, e: ApiErr) -> Reply {
        match e {
            ApiErr::Meteor {
                code,
                reason,
                details,
            } => {
                let msg = meteor_message(&code, &reason);
                // ApiClass.ts catch: 'unauthorized'/'error-unauthorized' -> forbidden(e.message)
                // (401 unauthorized once applyBreakingChanges); 'error-too-many-requests' -> 429.
                if code == "unauthorized" || code == "error-unauthorized" {
                    let status = if self.breaking() { 401 } else { 403 };
                    return Reply::json(status, json!({"success": false, "error": msg}));
                }
                let mut body = json!({"success": false, "error": msg, "errorType": code});
                if let Some(d) = details {
                    body["details"] = d;
                }
                Reply::json(400, body)
            }
            ApiErr::Plain(m) => Reply::json(400, json!({"success": false, "error": m})),
            ApiErr::PlainTyped(m, t) => {
                Reply::json(400, json!({"success": false, "error": m, "errorType": t}))
            }
            ApiErr::Forbidden(m) => {
                // API.v1.forbidden(): default text 'unauthorized' before 9.0 ('forbidden' after)
                let def = if self.breaking() {
                    "forbidden"
                } else {
                    "unauthorized"
                };
                Reply::json(
                    403,
                    json!({"success": false, "error": m.unwrap_or_else(|| def.into())}),
                )
            }
            ApiErr::InvalidParams(m) => Reply::json(
                400,
                json!({"success": false, "errorType": "error-invalid-params", "error": m}),
            ),
            ApiErr::Failure => Reply::json(400, json!({"success": false})),
        }
    }

    /// ApiClass.ts: `api.unauthorized('You must be logged in to do this.')`, plus the
    /// compatibility fields `status`/`message` while applyBreakingChanges is false.
    fn not_logged_in(&self) -> Reply {
        let mut body = json!({"success": false, "error": "You must be logged in to do this."});
        if !self.breaking() {
            body["status"] = json!("error");
            body["message"] = json!("You must be logged in to do this.");
        }
        Reply::json(401, body)
    }

    /// ApiClass.ts authenticatedRoute: X-User-Id + X-Auth-Token (hashed login token lookup).
    fn authenticate(&self, req: &RawReq) -> Option<(String, String)> {
        let uid = req.header("x-user-id")?;
        let token = req.header("x-auth-token")?;
        let hashed = sha256_hex(token);
        let user = self.db.user(uid)?;
        user.tokens
            .iter()
            .any(|t| t.hashed == hashed)
            .then(|| (user.id.clone(), hashed))
    }

    pub fn reset_rate_limits(&mut self) {
        self.rate.clear();
    }

    /// ApiClass.ts enforceRateLimit + meteor/rate-limit: one rule per route (key IP+route), the
    /// window starts when the rule was (re)set and resets when a call comes after the interval;
    /// increment then check; headers X-RateLimit-Limit/-Remaining/-Reset (epoch ms = now +
    /// timeToReset). Users with api-bypass-rate-limit skip it unless `always` (/hooks).
    fn rate_limit(
        &mut self,
        route: &str,
        ip: &str,
        uid: Option<&str>,
        always: bool,
        rule_created_at: i64,
    ) -> Result<Vec<(String, String)>, Reply> {
        if !self.db.setting_bool("API_Enable_Rate_Limiter") {
            return Ok(vec![]);
        }
        let allowed = self
            .db
            .setting_int("API_Enable_Rate_Limiter_Limit_Calls_Default");
        let interval = self
            .db
            .setting_int("API_Enable_Rate_Limiter_Limit_Time_Default");
        if allowed <= 0 || interval <= 0 {
            return Ok(vec![]);
        }
        if !always
            && let Some(uid) = uid
            && self.db.has_permission(uid, "api-bypass-rate-limit", None)
        {
            return Ok(vec![]);
        }
        let now = now_ms();
        let entry = self
            .rate
            .entry(route.to_string())
            .or_insert_with(|| (rule_created_at, HashMap::new()));
        if now - entry.0 > interval {
            entry.0 = now;
            entry.1.clear();
        }
        let count = entry.1.entry(ip.to_string()).or_insert(0);
        *count += 1;
        let count = *count;
        let time_to_reset = (interval - (now - entry.0)).max(0);
        let left = (allowed - count as i64).max(0);
        let headers = vec![
            ("X-RateLimit-Limit".to_string(), allowed.to_string()),
            ("X-RateLimit-Remaining".to_string(), left.to_string()),
            (
                "X-RateLimit-Reset".to_string(),
                (now + time_to_reset).to_string(),
            ),
        ];
        if count as i64 > allowed {
            let secs = (time_to_reset as f64 / 1000.0).ceil() as i64;
            let mut r = Reply::json(
                429,
                json!({"success": false, "error": format!("Error, too many requests. Please slow down. You must wait {secs} seconds before trying this endpoint again. [error-too-many-requests]")}),
            );
            r.headers = headers;
            return Err(r);
        }
        Ok(headers)
    }

    pub fn dispatch(&mut self, req: &RawReq) -> Reply {
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("GET", "/api/info") => self.info(req),
            ("GET", "/livez") => Reply::json(200, json!({"status": "ok"})),
            ("GET", "/readyz") => self.readyz(),
            ("GET", "/health") => self.health(),
            (_, p) if p.starts_with("/hooks/") => match self.hook_begin(req) {
                HookStep::Done(reply) => reply,
                // The server (main.rs) runs scripts outside the lock; a direct dispatch cannot.
                HookStep::Script { .. } => Reply::json(
                    500,
                    json!({"success": false, "error": "rocketchat-sim: script not run"}),
                ),
            },
            (m, p) if p.starts_with("/api/v1/") => self.v1(m, &p["/api/v1/".len()..], req),
            (_, p) if p.starts_with("/api/") => not_found_api(),
            _ => Reply {
                // Meteor serves the web client (HTML, 200) for any other path.
                status: 200,
                body: Body::Html(client_html()),
                headers: vec![],
            },
        }
    }

    fn info(&mut self, req: &RawReq) -> Reply {
        // apps/meteor/app/api/server/default/info.ts + lib/getServerInfo.ts
        let mut body = json!({"version": self.short_version(), "success": true});
        if self.authenticate(req).is_some() {
            body = json!({
                "version": self.short_version(),
                "info": {
                    "version": self.cfg.version,
                    "build": {"date": iso(self.started_at), "nodeVersion": "v22.16.0", "arch": "x64", "platform": "linux", "osRelease": "6.1.0", "totalMemory": 25769803776u64, "freeMemory": 12884901888u64, "cpus": 2},
                    "marketplaceApiVersion": "1.54.0",
                    "commit": {"hash": "0000000000000000000000000000000000000000", "date": iso(self.started_at), "author": "rocketchat-sim", "subject": "simulated", "tag": self.cfg.version, "branch": "simulated"},
                },
                "minimumClientVersions": {"desktop": "4.4.0", "mobile": "4.60.0"},
                "success": true,
            });
        }
        Reply::json(200, body)
    }

    /// brief: since 7.11 /livez and /readyz answer 200/503 {"status":"ok"|"unavailable","checks":{...,"mongo":{...}}}
    fn readyz(&self) -> Reply {
        let mongo_ok = !self.fault.mongo_down;
        let status = if mongo_ok { "ok" } else { "unavailable" };
        Reply::json(
            if mongo_ok { 200 } else { 503 },
            json!({"status": status, "checks": {"mongo": {"status": status}}}),
        )
    }

    /// brief: /health is deprecated; 200 {"status":"ok"} (before 7.11 it returned the text `ok`).
    fn health(&self) -> Reply {
        let mut parts = self
            .cfg
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (maj, min) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (maj, min) >= (7, 11) {
            Reply::json(200, json!({"status": "ok"}))
        } else {
            Reply {
                status: 200,
                body: Body::Text("ok".into()),
                headers: vec![],
            }
        }
    }

    fn v1(&mut self, method: &str, name: &str, req: &RawReq) -> Reply {
        // (method, route, authRequired, handler)
        let routes: &[(&str, &str, bool, Handler)] = &[
            ("POST", "logout", true, logout),
            ("GET", "logout", true, logout),
            ("GET", "me", true, me),
            ("POST", "users.create", true, users_create),
            ("GET", "users.info", true, users_info),
            ("POST", "users.update", true, users_update),
            ("POST", "channels.create", true, channels_create),
            ("POST", "groups.create", true, groups_create),
            ("GET", "channels.info", true, channels_info),
            ("GET", "groups.info", true, groups_info),
            ("POST", "channels.invite", true, channels_invite),
            ("POST", "groups.invite", true, groups_invite),
            ("GET", "subscriptions.getOne", true, subscriptions_get_one),
            ("POST", "rooms.muteUser", true, rooms_mute_user),
            ("POST", "rooms.unmuteUser", true, rooms_unmute_user),
            (
                "POST",
                "channels.addModerator",
                true,
                channels_add_moderator,
            ),
            ("POST", "groups.addModerator", true, groups_add_moderator),
            ("POST", "channels.addOwner", true, channels_add_owner),
            ("POST", "groups.addOwner", true, groups_add_owner),
            ("POST", "chat.postMessage", true, chat_post_message),
            ("POST", "chat.sendMessage", true, chat_send_message),
            ("GET", "chat.getMessage", true, chat_get_message),
            ("POST", "chat.delete", true, chat_delete),
            ("POST", "channels.delete", true, channels_delete),
            ("POST", "groups.delete", true, groups_delete),
            ("GET", "channels.history", true, channels_history),
            ("GET", "groups.history", true, groups_history),
            ("GET", "permissions.listAll", true, permissions_list_all),
            ("GET", "roles.list", true, roles_list),
            ("POST", "integrations.create", true, integrations_create),
            ("GET", "integrations.list", true, integrations_list),
            ("GET", "integrations.get", true, integrations_get),
            ("PUT", "integrations.update", true, integrations_update),
            ("POST", "integrations.remove", true, integrations_remove),
        ];
        if name == "login" && method == "POST" {
            // login is registered with addRoute and the default rate limiter, no auth
            let route = format!("/api/v1/{name}post");
            let created = self.started_at;
            let headers = match self.rate_limit(&route, &req.ip, None, false, created) {
                Ok(h) => h,
                Err(r) => return r,
            };
            let mut r = self.login(req);
            r.headers.extend(headers);
            return r;
        }
        let Some((_, _, auth, handler)) = routes
            .iter()
            .find(|(m, n, _, _)| *m == method && *n == name)
            .copied()
        else {
            return not_found_api();
        };
        if let Some(e) = &req.body_error {
            return Reply::json(400, json!({"success": false, "error": e}));
        }
        let (uid, token) = if auth {
            match self.authenticate(req) {
                Some(x) => x,
                None => return self.not_logged_in(),
            }
        } else {
            (String::new(), String::new())
        };
        let route = format!("/api/v1/{name}{}", method.to_lowercase());
        let created = self.started_at;
        let headers = match self.rate_limit(&route, &req.ip, Some(&uid), false, created) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let ctx = Ctx {
            req,
            uid,
            token: Some(token),
        };
        let mut reply = match handler(self, &ctx) {
            Ok(mut v) => {
                if let Some(o) = v.as_object_mut()
                    && !o.contains_key("success")
                    && name != "logout"
                {
                    o.insert("success".into(), json!(true));
                }
                Reply::json(200, v)
            }
            Err(e) => self.error_reply(e),
        };
        if method != "GET" {
            self.dirty = true;
        }
        reply.headers.extend(headers);
        reply
    }

    // ------------------------------------------------------------------ login

    fn login(&mut self, req: &RawReq) -> Reply {
        let body = req.body.as_object().cloned().unwrap_or_default();
        // ApiClass.ts _initAuth loginCompatibility
        let allowed = ["user", "username", "email", "password", "code"];
        let password = body.get("password");
        let code = body
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| req.header("x-2fa-code").map(str::to_string));
        let parseable = password.is_some() && body.keys().all(|k| allowed.contains(&k.as_str()));
        let who: Option<(bool, String)> =
            match (body.get("user"), body.get("username"), body.get("email")) {
                (Some(Value::String(u)), _, _) => Some((u.contains('@'), u.clone())),
                (Some(Value::Object(o)), _, _) => o
                    .get("username")
                    .and_then(Value::as_str)
                    .map(|u| (false, u.to_string()))
                    .or_else(|| {
                        o.get("email")
                            .and_then(Value::as_str)
                            .map(|e| (true, e.to_string()))
                    }),
                (_, Some(Value::String(u)), _) => Some((false, u.clone())),
                (_, _, Some(Value::String(e))) => Some((true, e.clone())),
                _ => None,
            };
        let digest = match password {
            Some(Value::String(p)) => Some(sha256_hex(p)),
            Some(Value::Object(o)) => o
                .get("digest")
                .and_then(Value::as_str)
                .map(str::to_lowercase),
            _ => None,
        };
        // Every Meteor.Error thrown by a login handler is replaced by
        // Meteor.Error(401, 'User not found') (apps/meteor/server/lib/loginErrorMessageOverride.ts),
        // which the REST wrapper turns into error/message 'Unauthorized'.
        let masked = |sim: &Sim| sim.login_failure(json!("Unauthorized"), "Unauthorized", None);
        // From 7.6.0 a login posted as application/x-www-form-urlencoded is refused as an
        // unreadable one (401 Unauthorized) while the same credentials as JSON succeed; 7.5.1
        // accepted both (RocketChat/Rocket.Chat#36073, curl transcripts against 7.5.1 and
        // 7.6.0 in jadolg/rocketchat_API#299).
        let form = req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form && version_parts(&self.cfg.version) >= version_parts("7.6.0") {
            return masked(self);
        }
        let user_object = matches!(body.get("user"), Some(Value::Object(_)));
        if !(parseable || (password.is_some() && user_object)) {
            return masked(self);
        }
        let (Some((by_email, ident)), Some(digest)) = (who, digest) else {
            return masked(self);
        };
        let user = if by_email {
            self.db.user_by_email(&ident)
        } else {
            self.db
                .user_by_username(&ident)
                .or_else(|| self.db.user_by_username_ci(&ident))
        }
        .cloned();
        let Some(user) = user else {
            return masked(self);
        };
        let Some(pw) = &user.password else {
            if self.cfg.legacy_login_errors {
                // accounts-password handleError("User has no password set") (403)
                return self.login_failure(json!(403), "User has no password set", None);
            }
            return masked(self);
        };
        if !pw.verify_digest(&digest) {
            return masked(self);
        }
        // apps/meteor/app/authentication/server/startup/index.js validateLoginAttempt
        if !user.active {
            return self.login_failure(
                json!("error-user-is-not-activated"),
                "User is not activated",
                Some(json!({"function": "Accounts.validateLoginAttempt"})),
            );
        }
        // apps/meteor/app/2fa/server/loginHandler.ts onValidateLogin: checkCodeForUser with
        // disablePasswordFallback: true, requireSecondFactor: false, no connection (no remember).
        let opts = TwoFactorOpts {
            disable_password_fallback: true,
            require_second_factor: false,
            disable_remember_me: false,
        };
        if let Err(ApiErr::Meteor {
            code,
            reason,
            details,
        }) = self.check_code_for_user(&user.id, code, None, &opts, None)
        {
            return self.login_failure(json!(code), &reason, details);
        }
        let token = random_secret();
        let now = now_ms();
        if let Some(u) = self.db.user_mut(&user.id) {
            u.tokens.push(LoginToken {
                hashed: sha256_hex(&token),
                when: now,
                two_factor_until: None,
                two_factor_hash: None,
            });
            u.last_login = Some(now);
        }
        self.dirty = true;
        let me = self
            .db
            .user(&user.id)
            .map(User::me_json)
            .unwrap_or(Value::Null);
        Reply::json(
            200,
            json!({"status": "success", "data": {"userId": user.id, "authToken": token, "me": me}, "success": true}),
        )
    }

    /// ApiClass.ts login catch: 401 unauthorized() plus, before 9.0,
    /// {status:'error', error: e.error, details: e.details, message: e.reason}.
    fn login_failure(&self, error: Value, message: &str, details: Option<Value>) -> Reply {
        let mut body = json!({"success": false, "error": "unauthorized"});
        if !self.breaking() {
            body["status"] = json!("error");
            body["error"] = error;
            body["message"] = json!(message);
            if let Some(d) = details {
                body["details"] = d;
            }
        }
        Reply::json(401, body)
    }

    // ------------------------------------------------------------------ 2FA

    /// apps/meteor/app/2fa/server/code/index.ts checkCodeForUser.
    fn check_code_for_user(
        &mut self,
        uid: &str,
        code: Option<String>,
        method: Option<String>,
        opts: &TwoFactorOpts,
        connection: Option<(&str, String)>, // (hashed login token, fingerprint)
    ) -> Result<(), ApiErr> {
        if !self
            .db
            .setting_bool("Accounts_TwoFactorAuthentication_Enabled")
        {
            return Ok(());
        }
        let Some(user) = self.db.user(uid).cloned() else {
            return Err(meteor("totp-user-not-found", "TOTP User not found"));
        };
        let now = now_ms();
        let remember_for = self
            .db
            .setting_int("Accounts_TwoFactorAuthentication_RememberFor");
        if let Some((hashed, fingerprint)) = &connection
            && let Some(tok) = user.tokens.iter().find(|t| &t.hashed == hashed)
            && !opts.require_second_factor
            && !opts.disable_remember_me
        {
            // "remember user right after their registration": createdAt + RememberFor >= now
            if remember_for > 0 && user.created_at + remember_for * 1000 >= now {
                return Ok(());
            }
            if let (Some(until), Some(h)) = (tok.two_factor_until, &tok.two_factor_hash)
                && until >= now
                && h == fingerprint
            {
                return Ok(());
            }
        }
        let email_enabled = self
            .db
            .setting_bool("Accounts_TwoFactorAuthentication_By_Email_Enabled")
            && user.email2fa
            && !user.verified_emails().is_empty();
        let has_password = user.password.is_some();
        let enforce_fallback = self
            .db
            .setting_bool("Accounts_TwoFactorAuthentication_Enforce_Password_Fallback");
        // getMethodByNameOrFirstActiveForUser: only 'totp' and 'email' are registered methods
        let selected: Option<&str> = match method.as_deref() {
            Some("totp") => Some("totp"),
            Some("email") => Some("email"),
            _ if email_enabled => Some("email"),
            _ if opts.require_second_factor => Some("password"),
            _ if !opts.disable_password_fallback && enforce_fallback && has_password => {
                Some("password")
            }
            _ => None,
        };
        let Some(selected) = selected else {
            return Ok(());
        };
        let mut data = Map::new();
        match selected {
            "email" => {
                // EmailCheck.processInvalidCode: reuse a code unless none expires later than now-5min
                let email_or_username = user.username.clone();
                let max_attempts = self.db.setting_int(
                    "Accounts_TwoFactorAuthentication_Max_Invalid_Email_Code_Attempts",
                );
                let valid = user
                    .email_code
                    .as_ref()
                    .is_some_and(|c| c.expire > now - 5 * 60 * 1000)
                    && (user.invalid_email_code_attempts as i64) < max_attempts;
                data.insert("emailOrUsername".into(), json!(email_or_username));
                if valid {
                    data.insert("codeGenerated".into(), json!(false));
                    data.insert(
                        "codeExpires".into(),
                        json!(iso(user
                            .email_code
                            .as_ref()
                            .map(|c| c.expire)
                            .unwrap_or(now))),
                    );
                } else {
                    let plain: String = {
                        use rand::Rng;
                        let mut rng = rand::rng();
                        (0..6)
                            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                            .collect()
                    };
                    let expire = now
                        + 1000
                            * self.db.setting_int(
                                "Accounts_TwoFactorAuthentication_By_Email_Code_Expiration",
                            );
                    if let Some(u) = self.db.user_mut(uid) {
                        u.email_code = Some(EmailCode {
                            hash: sha256_hex(&plain),
                            expire,
                        });
                        u.invalid_email_code_attempts = 0;
                    }
                    eprintln!(
                        "rocketchat-sim: email 2FA code for {} sent to {:?}",
                        user.username,
                        user.verified_emails()
                    );
                    self.mailbox.insert(user.username.clone(), plain);
                    self.dirty = true;
                    data.insert("codeGenerated".into(), json!(true));
                }
            }
            _ => {
                data.insert("codeGenerated".into(), json!(false));
            }
        }
        data.insert("method".into(), json!(selected));
        let available: Vec<&str> = if email_enabled { vec!["email"] } else { vec![] };
        data.insert("availableMethods".into(), json!(available));
        let details = {
            // key order as in the source: {method, ...data, availableMethods}
            let mut m = Map::new();
            m.insert("method".into(), json!(selected));
            for (k, v) in &data {
                if k != "method" && k != "availableMethods" {
                    m.insert(k.clone(), v.clone());
                }
            }
            m.insert("availableMethods".into(), json!(available));
            Value::Object(m)
        };
        let Some(code) = code else {
            return Err(meteor_d("totp-required", "TOTP Required", details));
        };
        let valid = match selected {
            "email" => {
                let digits: String = code.chars().filter(char::is_ascii_digit).collect();
                let u = self.db.user(uid).cloned();
                match u.and_then(|u| u.email_code) {
                    Some(c)
                        if email_enabled && c.expire >= now && c.hash == sha256_hex(&digits) =>
                    {
                        if let Some(u) = self.db.user_mut(uid) {
                            u.email_code = None;
                        }
                        self.mailbox.remove(&user.username);
                        true
                    }
                    _ => {
                        if let Some(u) = self.db.user_mut(uid) {
                            u.invalid_email_code_attempts += 1;
                        }
                        false
                    }
                }
            }
            // PasswordCheckFallback.verify: code is the sha-256 digest of the password
            "password" => {
                (opts.require_second_factor || (enforce_fallback && has_password))
                    && user
                        .password
                        .as_ref()
                        .is_some_and(|p| p.verify_digest(&code.to_lowercase()))
            }
            _ => false, // TOTP is never enabled for simulated users
        };
        self.dirty = true;
        if !valid {
            let max_attempts = self
                .db
                .setting_int("Accounts_TwoFactorAuthentication_Max_Invalid_Email_Code_Attempts");
            let too_many = selected == "email"
                && self
                    .db
                    .user(uid)
                    .is_some_and(|u| u.invalid_email_code_attempts as i64 >= max_attempts);
            if too_many {
                return Err(meteor_d(
                    "totp-max-attempts",
                    "TOTP Maximun Failed Attempts Reached",
                    details,
                ));
            }
            return Err(meteor_d("totp-invalid", "TOTP Invalid", details));
        }
        if !opts.disable_remember_me
            && let Some((hashed, fingerprint)) = connection
            && remember_for > 0
            && let Some(u) = self.db.user_mut(uid)
            && let Some(t) = u.tokens.iter_mut().find(|t| t.hashed == hashed)
        {
            t.two_factor_until = Some(now + remember_for * 1000);
            t.two_factor_hash = Some(fingerprint);
        }
        Ok(())
    }

    /// ApiClass.ts processTwoFactor for routes with twoFactorRequired: code/method from the
    /// x-2fa-code / x-2fa-method headers, connection = the caller's login token.
    fn process_two_factor(&mut self, ctx: &Ctx) -> Result<(), ApiErr> {
        let code = ctx.req.header("x-2fa-code").map(str::to_string);
        let method = ctx.req.header("x-2fa-method").map(str::to_string);
        let fingerprint = sha256_hex(&format!(
            "{}|{}",
            ctx.req.header("user-agent").unwrap_or(""),
            ctx.req.ip
        ));
        let token = ctx.token.clone().unwrap_or_default();
        self.check_code_for_user(
            &ctx.uid,
            code,
            method,
            &TwoFactorOpts::default(),
            Some((&token, fingerprint)),
        )
    }

    // ------------------------------------------------------------------ rooms helpers

    /// apps/meteor/app/lib/server/functions/addUserToRoom.ts (+ system message 'uj' / 'au').
    fn add_user_to_room(&mut self, rid: &str, uid: &str, inviter: Option<&str>) {
        if self.db.subscription(rid, uid).is_some() {
            return;
        }
        let (Some(room), Some(user)) = (self.db.room(rid).cloned(), self.db.user(uid).cloned())
        else {
            return;
        };
        let now = now_ms();
        self.db.subscriptions.push(Subscription {
            id: random_id(17),
            rid: rid.into(),
            uid: uid.into(),
            username: user.username.clone(),
            name: room.name.clone(),
            t: room.t.clone(),
            ts: now,
            ls: None,
            roles: vec![],
            open: true,
            updated_at: now,
        });
        if let Some(r) = self.db.room_mut(rid) {
            r.users_count += 1;
            r.updated_at = now;
        }
        let (t, actor) = match inviter.and_then(|i| self.db.user(i).cloned()) {
            Some(inv) if inv.id != uid => ("au", inv),
            _ => ("uj", user.clone()),
        };
        self.insert_message(Message {
            id: random_id(17),
            rid: rid.into(),
            msg: user.username.clone(),
            ts: now,
            uid: actor.id.clone(),
            username: actor.username.clone(),
            name: actor.name.clone(),
            t: Some(t.into()),
            alias: None,
            avatar: None,
            emoji: None,
            attachments: None,
            bot: None,
        });
    }

    fn insert_message(&mut self, m: Message) {
        let ts = m.ts;
        let rid = m.rid.clone();
        let counts = m.t.is_none();
        self.db.messages.push(m);
        if let Some(r) = self.db.room_mut(&rid) {
            if counts {
                r.msgs += 1;
            }
            r.lm = Some(ts);
            r.updated_at = ts;
        }
        self.dirty = true;
    }

    /// apps/meteor/app/lib/server/functions/createRoom.ts + utils/server/lib/getValidRoomName.ts
    fn create_room(
        &mut self,
        t: &str,
        name: &str,
        owner_uid: &str,
        members: &[String],
        read_only: bool,
    ) -> Result<String, ApiErr> {
        if name.trim().is_empty() {
            return Err(meteor_d(
                "error-invalid-name",
                "Invalid name",
                json!({"function": "RocketChat.createRoom"}),
            ));
        }
        let owner = self.db.user(owner_uid).cloned().ok_or_else(|| {
            meteor_d(
                "error-invalid-user",
                "Invalid user",
                json!({"function": "RocketChat.createRoom"}),
            )
        })?;
        let name = name.trim().to_string();
        if !valid_name(&name) {
            return Err(meteor_d(
                "error-invalid-room-name",
                &format!("{} is not a valid room name.", html_escape(&name)),
                json!({"function": "RocketChat.getValidRoomName", "channel_name": html_escape(&name)}),
            ));
        }
        if let Some(existing) = self.db.room_by_name(&name) {
            if existing.archived {
                return Err(meteor_d(
                    "error-archived-duplicate-name",
                    &format!(
                        "There's an archived channel with name {}",
                        html_escape(&name)
                    ),
                    json!({"function": "RocketChat.getValidRoomName", "channel_name": html_escape(&name)}),
                ));
            }
            return Err(meteor_d(
                "error-duplicate-channel-name",
                &format!("A channel with name '{}' exists", html_escape(&name)),
                json!({"function": "RocketChat.getValidRoomName", "channel_name": html_escape(&name)}),
            ));
        }
        let now = now_ms();
        let rid = random_id(17);
        self.db.rooms.push(Room {
            id: rid.clone(),
            t: t.into(),
            name: Some(name.clone()),
            fname: Some(name.clone()),
            owner: Some(RoomOwner {
                id: owner.id.clone(),
                username: owner.username.clone(),
                name: owner.name.clone(),
            }),
            ts: now,
            updated_at: now,
            ro: read_only,
            archived: false,
            default: false,
            msgs: 0,
            users_count: 0,
            usernames: vec![],
            lm: None,
            muted: vec![],
            unmuted: vec![],
        });
        let mut all: Vec<String> = members.to_vec();
        if !all.contains(&owner.username) {
            all.push(owner.username.clone());
        }
        // Users.findUsersByUsernames: unknown usernames are skipped silently
        for username in all {
            let Some(member) = self.db.user_by_username(&username).cloned() else {
                continue;
            };
            if self.db.subscription(&rid, &member.id).is_some() {
                continue;
            }
            let roles = if member.id == owner.id {
                vec!["owner".to_string()]
            } else {
                vec![]
            };
            self.db.subscriptions.push(Subscription {
                id: random_id(17),
                rid: rid.clone(),
                uid: member.id.clone(),
                username: member.username.clone(),
                name: Some(name.clone()),
                t: t.into(),
                ts: now,
                ls: (member.id == owner.id).then_some(now),
                roles,
                open: true,
                updated_at: now,
            });
            if let Some(r) = self.db.room_mut(&rid) {
                r.users_count += 1;
            }
        }
        self.dirty = true;
        Ok(rid)
    }

    /// canAccessRoom: public rooms need view-c-room; private ones a subscription.
    fn can_access_room(&self, room: &Room, uid: &str) -> bool {
        match room.t.as_str() {
            "c" => self.db.has_permission(uid, "view-c-room", None),
            _ => self.db.subscription(&room.id, uid).is_some(),
        }
    }

    /// channels.ts findChannelByIdOrName
    fn find_channel(
        &self,
        roomid: Option<&str>,
        roomname: Option<&str>,
        checked_archived: bool,
    ) -> Result<Room, ApiErr> {
        let room = match (roomid, roomname) {
            (Some(id), _) => self.db.room(id),
            (None, Some(n)) => self.db.room_by_name(n),
            _ => None,
        };
        let Some(room) = room.filter(|r| r.t == "c" || r.t == "l").cloned() else {
            return Err(meteor(
                "error-room-not-found",
                "The required \"roomId\" or \"roomName\" param provided does not match any channel",
            ));
        };
        if checked_archived && room.archived {
            return Err(meteor(
                "error-room-archived",
                &format!(
                    "The channel, {}, is archived",
                    room.name.clone().unwrap_or_default()
                ),
            ));
        }
        Ok(room)
    }

    /// groups.ts findPrivateGroupByIdOrName: not found, not 'p' or not accessible -> same error.
    fn find_group(
        &self,
        ctx: &Ctx,
        roomid: Option<&str>,
        roomname: Option<&str>,
        checked_archived: bool,
    ) -> Result<Room, ApiErr> {
        if roomid.is_none_or(str::is_empty) && roomname.is_none_or(str::is_empty) {
            return Err(meteor(
                "error-room-param-not-provided",
                "The parameter \"roomId\" or \"roomName\" is required",
            ));
        }
        let room = match (roomid, roomname) {
            (Some(id), _) if !id.is_empty() => self.db.room(id),
            (_, Some(n)) => self.db.room_by_name(n),
            _ => None,
        };
        let not_found = || {
            meteor(
                "error-room-not-found",
                "The required \"roomId\" or \"roomName\" param provided does not match any group",
            )
        };
        let Some(room) = room.filter(|r| r.t == "p").cloned() else {
            return Err(not_found());
        };
        if !self.can_access_room(&room, &ctx.uid) {
            return Err(not_found());
        }
        if checked_archived && room.archived {
            return Err(meteor(
                "error-room-archived",
                &format!(
                    "The private group, {}, is archived",
                    room.name.clone().unwrap_or_default()
                ),
            ));
        }
        Ok(room)
    }

    /// apps/meteor/server/methods/addUsersToRoom.ts
    fn add_users_to_room(&mut self, ctx: &Ctx, room: &Room, users: &[User]) -> Result<(), ApiErr> {
        if room.t == "d" {
            return Err(meteor_d(
                "error-cant-invite-for-direct-room",
                "Can't invite user to direct rooms",
                json!({"method": "addUsersToRoom"}),
            ));
        }
        let in_room = self.db.subscription(&room.id, &ctx.uid).is_some();
        let can = (in_room
            && self
                .db
                .has_permission(&ctx.uid, "add-user-to-joined-room", Some(&room.id)))
            || (room.t == "c"
                && self
                    .db
                    .has_permission(&ctx.uid, "add-user-to-any-c-room", None))
            || (room.t == "p"
                && self
                    .db
                    .has_permission(&ctx.uid, "add-user-to-any-p-room", None));
        if !can {
            return Err(meteor_d(
                "error-not-allowed",
                "Not allowed",
                json!({"method": "addUsersToRoom"}),
            ));
        }
        let inviter = ctx.uid.clone();
        for u in users {
            self.add_user_to_room(&room.id, &u.id, Some(&inviter));
        }
        Ok(())
    }

    /// getUserListFromParams (apps/meteor/app/api/server/helpers/getUserFromParams.ts)
    fn users_from_params(&self, body: &Value) -> Result<Vec<User>, ApiErr> {
        let mut out = vec![];
        let id = body.get("userId").and_then(Value::as_str);
        let name = body
            .get("username")
            .or_else(|| body.get("user"))
            .and_then(Value::as_str);
        if id.is_none() && name.is_none() {
            return Ok(out);
        }
        let found = match (id, name) {
            (Some(id), _) => self.db.user(id),
            (None, Some(n)) => self.db.user_by_username(n),
            _ => None,
        };
        match found {
            Some(u) => out.push(u.clone()),
            None => {
                return Err(meteor(
                    "error-invalid-user",
                    "The required \"userId\" or \"username\" param provided does not match any users",
                ));
            }
        }
        Ok(out)
    }

    /// apps/meteor/app/lib/server/functions/processWebhookMessage.ts (one destination at a time)
    fn process_webhook_message(
        &mut self,
        payload: &Value,
        uid: &str,
        defaults: &WebhookDefaults,
    ) -> Result<Vec<(String, Value)>, ApiErr> {
        let user = self
            .db
            .user(uid)
            .cloned()
            .ok_or_else(|| meteor("error-invalid-user", "Invalid user"))?;
        let mut channels: Vec<String> = vec![];
        let source = payload
            .get("channel")
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
            .or_else(|| {
                payload
                    .get("roomId")
                    .filter(|v| !v.is_null() && v.as_str() != Some(""))
            });
        match source {
            Some(Value::String(s)) => channels.push(s.clone()),
            Some(Value::Array(a)) => {
                channels.extend(a.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => channels.extend(defaults.channel.iter().cloned()),
        }
        channels.dedup();
        let mut sent = vec![];
        for channel in channels {
            let room = self.resolve_destination(&channel, &user)?;
            // validateRoomMessagePermissionsAsync (authorization/server/functions/canSendMessage.ts)
            if !self.can_access_room(&room, &user.id) && room.t != "d" {
                return Err(ApiErr::Plain("error-not-allowed".into()));
            }
            let room = self.db.room(&room.id).cloned().unwrap_or(room);
            // A read-only room needs `post-readonly` (global roles, or room roles such as
            // owner/moderator: hasPermissionAsync with the room as scope) unless the user was
            // unmuted in it; a muted user may post nowhere.
            if room.ro
                && !self
                    .db
                    .has_permission(&user.id, "post-readonly", Some(&room.id))
                && !room.unmuted.contains(&user.username)
            {
                return Err(ApiErr::Plain(
                    "You can't send messages because the room is readonly.".into(),
                ));
            }
            if room.muted.contains(&user.username) {
                return Err(ApiErr::Plain("You_have_been_muted".into()));
            }
            let text = payload
                .get("text")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| payload.get("msg").and_then(Value::as_str))
                .unwrap_or("")
                .trim()
                .to_string();
            let alias = payload
                .get("username")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| payload.get("alias").and_then(Value::as_str))
                .map(str::to_string)
                .or_else(|| Some(defaults.alias.clone()).filter(|s| !s.is_empty()));
            let mut attachments = payload.get("attachments").cloned().filter(Value::is_array);
            if let Some(Value::Array(list)) = attachments.as_mut() {
                for a in list.iter_mut() {
                    if let Some(o) = a.as_object_mut()
                        && let Some(m) = o.remove("msg")
                    {
                        o.insert("text".into(), json!(m.as_str().unwrap_or("").trim()));
                    }
                }
            }
            let pick = |a: &str, b: &str| {
                payload
                    .get(a)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .or_else(|| {
                        payload
                            .get(b)
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                    })
                    .map(str::to_string)
            };
            let mut avatar = pick("icon_url", "avatar");
            let mut emoji = None;
            if avatar.is_none() {
                emoji = pick("icon_emoji", "emoji");
                if emoji.is_none() {
                    if !defaults.avatar.is_empty() {
                        avatar = Some(defaults.avatar.clone());
                    } else if !defaults.emoji.is_empty() {
                        emoji = Some(defaults.emoji.clone());
                    }
                }
            }
            let m = Message {
                id: random_id(17),
                rid: room.id.clone(),
                msg: text,
                ts: now_ms(),
                uid: user.id.clone(),
                username: user.username.clone(),
                name: user.name.clone(),
                t: None,
                alias,
                avatar,
                emoji,
                attachments: Some(attachments.unwrap_or_else(|| json!([]))),
                bot: payload.get("bot").cloned(),
            };
            let j = m.json();
            self.insert_message(m);
            sent.push((channel, j));
        }
        Ok(sent)
    }

    /// getRoomByNameOrIdWithOptionToJoin: '#name' joins public channels, '@user' opens a DM,
    /// anything else is tried as room id/name, then as a user id for a DM.
    fn resolve_destination(&mut self, channel: &str, user: &User) -> Result<Room, ApiErr> {
        let invalid = || meteor("invalid-channel", "");
        let (kind, value) = match channel.chars().next() {
            Some('#') => ('#', &channel[1..]),
            Some('@') => ('@', &channel[1..]),
            _ => (' ', channel),
        };
        let by_id_or_name = |db: &Db| db.room(value).or_else(|| db.room_by_name(value)).cloned();
        let room = match kind {
            '#' => Some(by_id_or_name(&self.db).ok_or_else(invalid)?),
            '@' => Some(self.direct_room(user, value).ok_or_else(invalid)?),
            _ => match by_id_or_name(&self.db) {
                Some(r) => Some(r),
                None => self
                    .db
                    .user(value)
                    .cloned()
                    .and_then(|u| self.direct_room(user, &u.username)),
            },
        };
        let room = room.ok_or_else(invalid)?;
        if kind != '@' && room.t == "c" && self.db.subscription(&room.id, &user.id).is_none() {
            // joinChannel: true
            self.add_user_to_room(&room.id, &user.id, None);
        }
        if room.t == "p" && self.db.subscription(&room.id, &user.id).is_none() {
            return Err(ApiErr::Plain("error-not-allowed".into()));
        }
        Ok(room)
    }

    fn direct_room(&mut self, me: &User, other: &str) -> Option<Room> {
        let other = self
            .db
            .users
            .iter()
            .find(|u| u.username == other || u.id == other)
            .cloned()?;
        let mut names = vec![me.username.clone(), other.username.clone()];
        names.sort();
        names.dedup();
        if let Some(r) = self
            .db
            .rooms
            .iter()
            .find(|r| r.t == "d" && r.usernames == names)
        {
            return Some(r.clone());
        }
        let now = now_ms();
        let mut ids = [me.id.clone(), other.id.clone()];
        ids.sort();
        let rid = ids.concat();
        let room = Room {
            id: rid.clone(),
            t: "d".into(),
            name: None,
            fname: None,
            owner: None,
            ts: now,
            updated_at: now,
            ro: false,
            archived: false,
            default: false,
            msgs: 0,
            users_count: names.len() as u64,
            usernames: names,
            lm: None,
            muted: vec![],
            unmuted: vec![],
        };
        self.db.rooms.push(room.clone());
        for u in [me.clone(), other.clone()] {
            if self.db.subscription(&rid, &u.id).is_none() {
                self.db.subscriptions.push(Subscription {
                    id: random_id(17),
                    rid: rid.clone(),
                    uid: u.id.clone(),
                    username: u.username.clone(),
                    name: Some(if u.id == me.id {
                        other.username.clone()
                    } else {
                        me.username.clone()
                    }),
                    t: "d".into(),
                    ts: now,
                    ls: None,
                    roles: vec![],
                    open: true,
                    updated_at: now,
                });
            }
        }
        Some(room)
    }

    // ------------------------------------------------------------------ /hooks

    /// apps/meteor/app/integrations/server/api/api.ts, up to the point where the script runs:
    /// WebHookAPI.authenticatedRoute (id + token), enforceRateLimit, then executeIntegrationRest.
    /// The script itself runs outside the simulator's lock ([`HookStep::Script`]); its outcome
    /// comes back through [`Sim::hook_finish`].
    pub fn hook_begin(&mut self, req: &RawReq) -> HookStep {
        let parts: Vec<&str> = req.path["/hooks/".len()..]
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let (id, user_param, token) = match parts.as_slice() {
            [id, token] => (*id, None, *token),
            [id, user, token] => (*id, Some(*user), *token),
            _ => return HookStep::Done(not_found_api()),
        };
        if req.method != "POST" && req.method != "GET" {
            return HookStep::Done(not_found_api());
        }
        let token = percent_decode(token);
        let Some(integration) = self
            .db
            .integrations
            .iter()
            .find(|i| i.id == id && i.token == token)
            .cloned()
        else {
            // Restivus-era behaviour (still what clients observe):
            // 404 {"success":false,"error":"Invalid integration id or token provided."}
            return HookStep::Done(Reply::json(
                404,
                json!({"success": false, "error": "Invalid integration id or token provided."}),
            ));
        };
        if let Some(e) = &req.body_error {
            return HookStep::Done(Reply::json(400, json!({"success": false, "error": e})));
        }
        // WebHookAPI.enforceRateLimit: rule per request URL, created on first use, no bypass
        let route = format!(
            "/hooks{}{}",
            &req.path["/hooks".len()..],
            req.method.to_lowercase()
        );
        let headers =
            match self.rate_limit(&route, &req.ip, Some(&integration.user_id), true, now_ms()) {
                Ok(h) => h,
                Err(r) => return HookStep::Done(r),
            };
        self.dirty = true;
        if integration.enabled {
            // integrationHasValidScript (lib/ScriptEngine.ts: scriptEnabled and a compiled
            // script) `&& this.request.body` (a request without a body never runs the script)
            let valid_script = integration.script_enabled
                && integration.script_compiled
                && integration
                    .script
                    .as_deref()
                    .is_some_and(|s| !s.trim().is_empty());
            if valid_script && !req.raw.is_empty() {
                let request = self.script_request(&integration, req, id, user_param, &token);
                return HookStep::Script {
                    integration: Box::new(integration),
                    request,
                    headers,
                };
            }
        }
        let mut reply = self.execute_integration(&integration, req, None);
        reply.headers.extend(headers);
        HookStep::Done(reply)
    }

    /// The rest of executeIntegrationRest once the script has run.
    pub fn hook_finish(
        &mut self,
        integration: &Integration,
        req: &RawReq,
        outcome: script::Outcome,
        headers: Vec<(String, String)>,
    ) -> Reply {
        let mut reply = self.execute_integration(integration, req, Some(outcome));
        reply.headers.extend(headers);
        self.dirty = true;
        reply
    }

    /// The `request` object api.ts hands to `process_incoming_request`.
    fn script_request(
        &self,
        integration: &Integration,
        req: &RawReq,
        id: &str,
        user_param: Option<&str>,
        token: &str,
    ) -> Value {
        let query: Map<String, Value> = req
            .query
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let search = if req.raw_query.is_empty() {
            String::new()
        } else {
            format!("?{}", req.raw_query)
        };
        let path = format!("{}{search}", req.path);
        let mut url_params = json!({"integrationId": id, "token": token});
        if let Some(u) = user_param {
            url_params["userId"] = json!(u);
        }
        // isPlainObject(this.bodyParams) ? this.bodyParams : {}
        let body = if req.body.is_object() {
            req.body.clone()
        } else {
            json!({})
        };
        let user = self.db.user(&integration.user_id);
        json!({
            "url": {"query": query, "hash": "", "search": search, "pathname": req.path, "path": path},
            "url_raw": path,
            "url_params": url_params,
            "content": body,
            "content_raw": req.raw,
            // Object.fromEntries(this.request.headers.entries()): Fetch headers, lower-case
            "headers": req.headers,
            "body": body,
            "user": {
                "_id": integration.user_id,
                "name": user.and_then(|u| u.name.clone()).unwrap_or_default(),
                "username": user.map_or_else(|| integration.username.clone(), |u| u.username.clone()),
            },
        })
    }

    /// executeIntegrationRest after authentication (api.ts); `outcome` is the script's when one ran.
    fn execute_integration(
        &mut self,
        integration: &Integration,
        req: &RawReq,
        outcome: Option<script::Outcome>,
    ) -> Reply {
        if !integration.enabled {
            // API.v1.unavailable('Service Unavailable')
            return Reply::json(
                503,
                json!({"success": false, "error": "Service Unavailable"}),
            );
        }
        let defaults = WebhookDefaults {
            channel: integration.channel.clone(),
            alias: integration.alias.clone().unwrap_or_default(),
            avatar: integration.avatar.clone().unwrap_or_default(),
            emoji: integration.emoji.clone().unwrap_or_default(),
        };
        let mut body = if req.body.is_object() {
            req.body.clone()
        } else {
            json!({})
        };
        let mut script_response = None;
        if let Some(outcome) = outcome {
            let result = match outcome {
                script::Outcome::Returned(result) => result,
                script::Outcome::MissingMethod => None,
                // getIntegrationScript's error is rethrown; ApiClass's catch answers
                // API.v1.failure(e.message)
                script::Outcome::LoadFailed(message) => {
                    log_script_error(&integration.name, &message);
                    return Reply::json(400, json!({"success": false, "error": message}));
                }
                // executeIncomingScript: throw new Error('error-running-script'), uncaught in
                // executeIntegrationRest -> failure('error-running-script')
                script::Outcome::CallFailed(message) => {
                    log_script_error(&integration.name, &message);
                    return Reply::json(
                        400,
                        json!({"success": false, "error": "error-running-script"}),
                    );
                }
            };
            // if (!result) return API.v1.success()
            let Some(result) = result.filter(truthy) else {
                return Reply::json(200, json!({"success": true}));
            };
            // if (result?.error) return API.v1.failure(result.error)
            if let Some(error) = result.get("error").filter(|e| truthy(e)) {
                let body = match error {
                    Value::Object(o) => {
                        let mut o = o.clone();
                        o.insert("success".into(), json!(false));
                        Value::Object(o)
                    }
                    other => json!({"success": false, "error": other}),
                };
                return Reply::json(400, body);
            }
            // bodyParams = result.content; `'separateResponse' in bodyParams` throws for a
            // missing or non-object content -> catch -> failure('error-running-script')
            match result.get("content") {
                Some(c @ (Value::Object(_) | Value::Array(_))) => body = c.clone(),
                _ => {
                    return Reply::json(
                        400,
                        json!({"success": false, "error": "error-running-script"}),
                    );
                }
            }
            script_response = result.get("response").filter(|r| truthy(r)).cloned();
        }
        let empty = body.as_object().is_none_or(Map::is_empty);
        if empty && !integration.script_enabled {
            return Reply::json(200, json!({"success": true}));
        }
        if (body.get("channel").is_some_and(truthy) || body.get("roomId").is_some_and(truthy))
            && !integration.override_destination_channel_enabled
        {
            return Reply::json(
                400,
                json!({"success": false, "error": "overriding destination channel is disabled for this integration"}),
            );
        }
        if let Some(o) = body.as_object_mut() {
            o.insert("bot".into(), json!({"i": integration.id}));
        }
        match self.process_webhook_message(&body, &integration.user_id, &defaults) {
            Ok(sent) if sent.is_empty() => {
                Reply::json(400, json!({"success": false, "error": "unknown-error"}))
            }
            Ok(_) => match script_response {
                // API.v1.success(scriptResponse)
                Some(Value::Object(mut o)) => {
                    o.insert("success".into(), json!(true));
                    Reply::json(200, Value::Object(o))
                }
                Some(other) => Reply::json(200, other),
                None => Reply::json(200, json!({"success": true})),
            },
            // catch ({ error, message }) => API.v1.failure(error || message)
            Err(ApiErr::Meteor { code, .. }) => {
                Reply::json(400, json!({"success": false, "error": code}))
            }
            Err(ApiErr::Plain(m)) => Reply::json(400, json!({"success": false, "error": m})),
            Err(e) => self.error_reply(e),
        }
    }
}

/// What happens at a hook: answered at once, or the integration's script must run first.
pub enum HookStep {
    Done(Reply),
    Script {
        integration: Box<Integration>,
        request: Value,
        headers: Vec<(String, String)>,
    },
}

/// JavaScript truthiness of a copied-out value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// incomingLogger.error({msg: 'Error running Script in Trigger', ...}) on the server's log.
fn log_script_error(integration: &str, message: &str) {
    eprintln!("rocketchat-sim: Error running Script in Trigger {integration}: {message}");
}

#[derive(Default)]
struct TwoFactorOpts {
    disable_password_fallback: bool,
    require_second_factor: bool,
    disable_remember_me: bool,
}

struct WebhookDefaults {
    channel: Vec<String>,
    alias: String,
    avatar: String,
    emoji: String,
}

fn not_found_api() -> Reply {
    // Unknown API endpoints: 404 (ApiClass.notFound default text). Exact body of the 8.x
    // Hono router for unknown routes not confirmed; see README.
    Reply::json(
        404,
        json!({"success": false, "error": "Resource not found"}),
    )
}

pub fn client_html() -> String {
    "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\" />\n<title>Rocket.Chat</title>\n<meta name=\"application-name\" content=\"Rocket.Chat\">\n</head>\n<body>\n<noscript>You need to enable JavaScript to run this app.</noscript>\n<div id=\"react-root\"></div>\n</body>\n</html>\n".to_string()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

// ---------------------------------------------------------------------- validation (ajv-like)

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Arr,
    Obj,
}

/// Minimal ajv emulation (allErrors: false): required, additionalProperties:false, types.
/// Messages are ajv's: "must have required property 'x'", "must NOT have additional properties",
/// "must be string" ...
fn ajv(
    body: &Value,
    required: &[&str],
    props: &[(&str, Ty)],
    additional: bool,
) -> Result<(), String> {
    let Some(o) = body.as_object() else {
        return Err("must be object".into());
    };
    for r in required {
        if !o.contains_key(*r) {
            return Err(format!("must have required property '{r}'"));
        }
    }
    if !additional && o.keys().any(|k| !props.iter().any(|(p, _)| p == k)) {
        return Err("must NOT have additional properties".into());
    }
    for (p, ty) in props {
        let Some(v) = o.get(*p) else { continue };
        let ok = match ty {
            Ty::Str => v.is_string() || v.is_number(),
            Ty::Bool => {
                v.is_boolean()
                    || v.is_null()
                    || v.as_str().is_some_and(|s| s == "true" || s == "false")
            }
            Ty::Arr => v.is_array() || v.is_null(),
            Ty::Obj => v.is_object(),
        };
        if !ok {
            let t = match ty {
                Ty::Str => "string",
                Ty::Bool => "boolean",
                Ty::Arr => "array",
                Ty::Obj => "object",
            };
            return Err(format!("must be {t}"));
        }
    }
    Ok(())
}

/// Legacy `validateParams` routes: Meteor.Error('invalid-params', ajv messages joined by "\n ").
fn invalid_params(msg: String) -> ApiErr {
    meteor("invalid-params", &msg)
}

fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" => Some(true),
        Some(Value::String(s)) if s == "false" => Some(false),
        _ => None,
    }
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// typed GET routes with anyOf roomId/roomName (channels.ts roomTargetQuery)
fn room_target_query(ctx: &Ctx) -> Result<(), ApiErr> {
    if ctx.q("roomId").is_none() && ctx.q("roomName").is_none() {
        return Err(ApiErr::InvalidParams(
            "must have required property 'roomId'\n must have required property 'roomName'\n must match a schema in anyOf".into(),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------- handlers

fn logout(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    // ApiClass.ts _initAuth logout: pulls the hashed token; body without `success`
    let token = ctx.token.clone().unwrap_or_default();
    if let Some(u) = sim.db.user_mut(&ctx.uid) {
        u.tokens.retain(|t| t.hashed != token);
    }
    Ok(json!({"status": "success", "data": {"message": "You've been logged out!"}}))
}

fn me(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let u = sim
        .db
        .user(&ctx.uid)
        .ok_or_else(|| ApiErr::Plain("User not found".into()))?;
    Ok(u.me_json())
}

const USER_CREATE_PROPS: &[(&str, Ty)] = &[
    ("email", Ty::Str),
    ("name", Ty::Str),
    ("password", Ty::Str),
    ("username", Ty::Str),
    ("active", Ty::Bool),
    ("bio", Ty::Str),
    ("nickname", Ty::Str),
    ("statusText", Ty::Str),
    ("roles", Ty::Arr),
    ("joinDefaultChannels", Ty::Bool),
    ("requirePasswordChange", Ty::Bool),
    ("setRandomPassword", Ty::Bool),
    ("sendWelcomeEmail", Ty::Bool),
    ("verified", Ty::Bool),
    ("customFields", Ty::Obj),
    ("fields", Ty::Str),
    ("freeSwitchExtension", Ty::Str),
    ("phones", Ty::Arr),
    ("settings", Ty::Obj),
];

/// apps/meteor/app/api/server/v1/users.ts 'users.create' (validateParams isUserCreateParamsPOST:
/// required email,name,password,username; additionalProperties false) -> saveUser ->
/// validateUserData -> saveNewUser -> Accounts.insertUserDoc.
fn users_create(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    ajv(
        b,
        &["email", "name", "password", "username"],
        USER_CREATE_PROPS,
        false,
    )
    .map_err(invalid_params)?;
    if sim.cfg.users_create_2fa {
        sim.process_two_factor(ctx)?;
    }
    let username = str_of(b.get("username")).unwrap_or_default();
    let email = str_of(b.get("email")).unwrap_or_default();
    let name = str_of(b.get("name")).unwrap_or_default();
    let mut password = str_of(b.get("password")).unwrap_or_default();
    let set_random = as_bool(b.get("setRandomPassword")).unwrap_or(false);
    // validateUserData.ts
    let details = |action: &str| json!({"method": "insertOrUpdateUser", "action": action});
    if !sim.db.has_permission(&ctx.uid, "create-user", None) {
        return Err(meteor_d(
            "error-action-not-allowed",
            "Adding user is not allowed",
            details("Adding_user"),
        ));
    }
    let roles: Vec<String> = b
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let known: Vec<&str> = crate::state::DEFAULT_ROLES.iter().map(|r| r.0).collect();
    if roles.iter().any(|r| !known.contains(&r.as_str())) {
        return Err(meteor_d(
            "error-action-not-allowed",
            "The field Roles consist invalid role id",
            details("Assign_role"),
        ));
    }
    if roles.iter().any(|r| r == "admin")
        && !sim.db.has_permission(&ctx.uid, "assign-admin-role", None)
    {
        return Err(meteor_d(
            "error-action-not-allowed",
            "Assigning admin is not allowed",
            details("Assign_admin"),
        ));
    }
    if sim.db.setting_bool("Accounts_RequireNameForSignUp") && name.trim().is_empty() {
        return Err(meteor_d(
            "error-the-field-is-required",
            "The field Name is required",
            json!({"method": "insertOrUpdateUser", "field": "Name"}),
        ));
    }
    if username.trim().is_empty() {
        return Err(meteor_d(
            "error-the-field-is-required",
            "The field Username is required",
            json!({"method": "insertOrUpdateUser", "field": "Username"}),
        ));
    }
    if !valid_name(&username) {
        return Err(meteor_d(
            "error-input-is-not-a-valid-field",
            &format!("{} is not a valid username", html_escape(&username)),
            json!({"method": "insertOrUpdateUser", "input": username, "field": "Username"}),
        ));
    }
    if password.is_empty() && !set_random {
        return Err(meteor_d(
            "error-the-field-is-required",
            "The field Password is required",
            json!({"method": "insertOrUpdateUser", "field": "Password"}),
        ));
    }
    if sim.db.user_by_username_ci(&username).is_some() {
        return Err(meteor_d(
            "error-field-unavailable",
            &format!("{} is already in use :(", html_escape(&username)),
            json!({"method": "insertOrUpdateUser", "field": username}),
        ));
    }
    if !email.is_empty() && sim.db.user_by_email(&email).is_some() {
        return Err(meteor_d(
            "error-field-unavailable",
            &format!("{} is already in use :(", html_escape(&email)),
            json!({"method": "insertOrUpdateUser", "field": email}),
        ));
    }
    // saveUser.ts: email format
    if !email.is_empty() && !valid_email(&email) {
        return Err(meteor_d(
            "error-invalid-email",
            &format!("Invalid email {}", html_escape(&email)),
            json!({"method": "insertOrUpdateUser", "email": email}),
        ));
    }
    if set_random {
        password = random_secret();
    }
    let now = now_ms();
    let mut roles = if roles.is_empty() {
        sim.db
            .setting_str("Accounts_Registration_Users_Default_Roles")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        roles
    };
    // insertUserDoc: first non-admin-less server promotes the new user to admin
    let has_admin = sim
        .db
        .users
        .iter()
        .any(|u| u.kind == "user" && u.roles.iter().any(|r| r == "admin"));
    if !has_admin && !roles.iter().any(|r| r == "admin") {
        roles.push("admin".into());
    }
    // insertUserDoc: email2fa auto opt-in when 2FA, email 2FA and auto opt-in are all enabled
    let email2fa = sim
        .db
        .setting_bool("Accounts_TwoFactorAuthentication_Enabled")
        && sim
            .db
            .setting_bool("Accounts_TwoFactorAuthentication_By_Email_Enabled")
        && sim
            .db
            .setting_bool("Accounts_TwoFactorAuthentication_By_Email_Auto_Opt_In");
    let uid = random_id(17);
    let verified = as_bool(b.get("verified")).unwrap_or(false);
    let active = as_bool(b.get("active"))
        .unwrap_or(!sim.db.setting_bool("Accounts_ManuallyApproveNewUsers"));
    sim.db.users.push(User {
        id: uid.clone(),
        username: username.clone(),
        name: Some(name),
        emails: if email.is_empty() {
            vec![]
        } else {
            vec![Email {
                address: email,
                verified,
            }]
        },
        roles,
        active,
        kind: "user".into(),
        created_at: now,
        updated_at: now,
        password: Some(PasswordHash::from_plain(&password)),
        tokens: vec![],
        email2fa,
        email_code: None,
        invalid_email_code_attempts: 0,
        require_password_change: as_bool(b.get("requirePasswordChange")).unwrap_or(false),
        last_login: None,
        custom_fields: b.get("customFields").cloned(),
    });
    // users.create: joinDefaultChannels defaults to true (PR #5152); joins rooms with default:true
    if as_bool(b.get("joinDefaultChannels")).unwrap_or(true) {
        let defaults: Vec<String> = sim
            .db
            .rooms
            .iter()
            .filter(|r| r.default)
            .map(|r| r.id.clone())
            .collect();
        for rid in defaults {
            sim.add_user_to_room(&rid, &uid, None);
        }
    }
    sim.dirty = true;
    let u = sim.db.user(&uid).expect("just inserted");
    Ok(json!({"user": u.public_json(true)}))
}

/// users.ts 'users.info'
fn users_info(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let user = if let Some(id) = ctx.q("userId").filter(|s| !s.is_empty()) {
        sim.db.user(id)
    } else if let Some(n) = ctx.q("username").filter(|s| !s.is_empty()) {
        sim.db.user_by_username(n)
    } else if ctx.q("importId").is_some_and(|s| !s.is_empty()) {
        None
    } else {
        return Err(ApiErr::Plain("Invalid search query.".into()));
    };
    let Some(user) = user else {
        return Err(ApiErr::Plain("User not found.".into()));
    };
    // getFullUserDataByIdOrUsernameOrImportId: full fields for self or view-full-other-user-info
    let full = user.id == ctx.uid
        || sim
            .db
            .has_permission(&ctx.uid, "view-full-other-user-info", None);
    Ok(json!({"user": user.public_json(full)}))
}

/// users.ts 'users.update' { authRequired, twoFactorRequired, validateParams isUsersUpdateParamsPOST }
fn users_update(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    ajv(
        b,
        &["userId", "data"],
        &[
            ("userId", Ty::Str),
            ("data", Ty::Obj),
            ("confirmRelinquish", Ty::Bool),
        ],
        false,
    )
    .map_err(invalid_params)?;
    let data = b.get("data").cloned().unwrap_or(json!({}));
    ajv(
        &data,
        &[],
        &[
            ("email", Ty::Str),
            ("name", Ty::Str),
            ("password", Ty::Str),
            ("username", Ty::Str),
            ("bio", Ty::Str),
            ("nickname", Ty::Str),
            ("statusText", Ty::Str),
            ("active", Ty::Bool),
            ("roles", Ty::Arr),
            ("joinDefaultChannels", Ty::Bool),
            ("requirePasswordChange", Ty::Bool),
            ("sendWelcomeEmail", Ty::Bool),
            ("verified", Ty::Bool),
            ("customFields", Ty::Obj),
            ("status", Ty::Str),
            ("freeSwitchExtension", Ty::Str),
            ("setRandomPassword", Ty::Bool),
            ("settings", Ty::Obj),
            ("phones", Ty::Arr),
        ],
        false,
    )
    .map_err(invalid_params)?;
    sim.process_two_factor(ctx)?;
    let target = str_of(b.get("userId")).unwrap_or_default();
    let details = json!({"method": "insertOrUpdateUser", "action": "Editing_user"});
    // validateUserData.ts
    if as_bool(data.get("verified")).unwrap_or(false) && target == ctx.uid {
        return Err(meteor_d(
            "error-action-not-allowed",
            "Editing email verification is not allowed",
            details,
        ));
    }
    if target != ctx.uid
        && !sim
            .db
            .has_permission(&ctx.uid, "edit-other-user-info", None)
    {
        return Err(meteor_d(
            "error-action-not-allowed",
            "Editing user is not allowed",
            details,
        ));
    }
    let roles: Option<Vec<String>> = data.get("roles").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    });
    if let Some(r) = &roles {
        let known: Vec<&str> = crate::state::DEFAULT_ROLES.iter().map(|r| r.0).collect();
        if r.iter().any(|x| !known.contains(&x.as_str())) {
            return Err(meteor_d(
                "error-action-not-allowed",
                "The field Roles consist invalid role id",
                json!({"method": "insertOrUpdateUser", "action": "Assign_role"}),
            ));
        }
        if r.iter().any(|x| x == "admin")
            && !sim.db.has_permission(&ctx.uid, "assign-admin-role", None)
        {
            return Err(meteor_d(
                "error-action-not-allowed",
                "Assigning admin is not allowed",
                json!({"method": "insertOrUpdateUser", "action": "Assign_admin"}),
            ));
        }
    }
    // validateUserEditing.ts
    if data.get("password").is_some()
        && target != ctx.uid
        && !sim
            .db
            .has_permission(&ctx.uid, "edit-other-user-password", None)
    {
        return Err(meteor_d(
            "error-action-not-allowed",
            "Editing user password is not allowed",
            json!({"method": "insertOrUpdateUser", "action": "Editing_user"}),
        ));
    }
    if sim.db.user(&target).is_none() {
        return Err(ApiErr::Plain("User not found".into()));
    }
    if let Some(un) = str_of(data.get("username"))
        && sim
            .db
            .users
            .iter()
            .any(|u| u.id != target && u.username.eq_ignore_ascii_case(&un))
    {
        return Err(meteor_d(
            "error-field-unavailable",
            &format!("{} is already in use :(", html_escape(&un)),
            json!({"method": "insertOrUpdateUser", "field": un}),
        ));
    }
    if let Some(em) = str_of(data.get("email"))
        && sim
            .db
            .users
            .iter()
            .any(|u| u.id != target && u.emails.iter().any(|e| e.address.eq_ignore_ascii_case(&em)))
    {
        return Err(meteor_d(
            "error-field-unavailable",
            &format!("{} is already in use :(", html_escape(&em)),
            json!({"method": "insertOrUpdateUser", "field": em}),
        ));
    }
    let now = now_ms();
    let u = sim.db.user_mut(&target).expect("checked");
    if let Some(n) = str_of(data.get("name")) {
        u.name = Some(n);
    }
    if let Some(un) = str_of(data.get("username")) {
        u.username = un;
    }
    if let Some(em) = str_of(data.get("email")) {
        let verified = as_bool(data.get("verified")).unwrap_or(false);
        u.emails = vec![Email {
            address: em,
            verified,
        }];
    } else if let Some(v) = as_bool(data.get("verified"))
        && let Some(e) = u.emails.first_mut()
    {
        e.verified = v;
    }
    if let Some(p) = str_of(data.get("password")).filter(|p| !p.is_empty()) {
        u.password = Some(PasswordHash::from_plain(&p));
    }
    if let Some(a) = as_bool(data.get("active")) {
        u.active = a;
    }
    if let Some(r) = roles {
        u.roles = r;
    }
    if let Some(r) = as_bool(data.get("requirePasswordChange")) {
        u.require_password_change = r;
    }
    if let Some(c) = data.get("customFields") {
        u.custom_fields = Some(c.clone());
    }
    u.updated_at = now;
    let out = u.public_json(true);
    sim.dirty = true;
    Ok(json!({"user": out}))
}

fn create_common(sim: &mut Sim, ctx: &Ctx, t: &str) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    let perm = if t == "c" { "create-c" } else { "create-p" };
    // channels.ts createChannelValidator: permission first -> API.v1.forbidden()
    if !sim.db.has_permission(&ctx.uid, perm, None) {
        return Err(ApiErr::Forbidden(None));
    }
    let Some(name) = b
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        // isChannelsCreateProps / isGroupsCreateProps require `name` (typed-route validation)
        return Err(ApiErr::InvalidParams(
            "must have required property 'name'".into(),
        ));
    };
    let members: Vec<String> = match b.get("members") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => {
            if !a.iter().all(Value::is_string) {
                // createRoom.ts onlyUsernames
                return Err(meteor(
                    "error-invalid-members",
                    "members should be an array of usernames if provided for rooms other than direct messages",
                ));
            }
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        }
        Some(_) => {
            return Err(ApiErr::Plain(
                "Param \"members\" must be an array if provided".into(),
            ));
        }
    };
    let ro = as_bool(b.get("readOnly")).unwrap_or(false);
    let rid = sim.create_room(t, name, &ctx.uid.clone(), &members, ro)?;
    let room = sim.db.room(&rid).expect("created").json();
    Ok(if t == "c" {
        json!({"channel": room})
    } else {
        json!({"group": room})
    })
}

fn channels_create(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    create_common(sim, ctx, "c")
}
fn groups_create(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    create_common(sim, ctx, "p")
}

/// channels.ts 'channels.info'
fn channels_info(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    room_target_query(ctx)?;
    let room = sim.find_channel(ctx.q("roomId"), ctx.q("roomName"), false)?;
    if !sim.can_access_room(&room, &ctx.uid) {
        return Err(ApiErr::Forbidden(None));
    }
    Ok(json!({"channel": room.json()}))
}

/// groups.ts 'groups.info'
fn groups_info(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let room = sim.find_group(ctx, ctx.q("roomId"), ctx.q("roomName"), false)?;
    Ok(json!({"group": room.json()}))
}

/// channels.ts 'channels.invite'
fn channels_invite(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    if b.get("roomId").is_none() && b.get("roomName").is_none() {
        return Err(ApiErr::InvalidParams(
            "must have required property 'roomId'\n must have required property 'roomName'\n must match a schema in anyOf".into(),
        ));
    }
    ajv(
        b,
        &[],
        &[
            ("roomId", Ty::Str),
            ("roomName", Ty::Str),
            ("userId", Ty::Str),
            ("username", Ty::Str),
            ("user", Ty::Str),
        ],
        false,
    )
    .map_err(ApiErr::InvalidParams)?;
    let room = sim.find_channel(ctx.bs("roomId"), ctx.bs("roomName"), true)?;
    let users = sim.users_from_params(b)?;
    if users.is_empty() {
        // API.v1.failure('invalid-user-invite-list', 'Cannot invite if no users are provided')
        return Err(ApiErr::PlainTyped(
            "invalid-user-invite-list".into(),
            "Cannot invite if no users are provided".into(),
        ));
    }
    sim.add_users_to_room(ctx, &room, &users)?;
    let room = sim.db.room(&room.id).cloned().expect("exists");
    Ok(json!({"channel": room.json()}))
}

/// groups.ts 'groups.invite'
fn groups_invite(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    let room = sim.find_group(ctx, ctx.bs("roomId"), ctx.bs("roomName"), true)?;
    let users = sim.users_from_params(b)?;
    if users.is_empty() {
        return Err(meteor(
            "error-user-param-not-provided",
            "The required \"userId\" or \"username\" param was not provided",
        ));
    }
    sim.add_users_to_room(ctx, &room, &users)?;
    let room = sim.db.room(&room.id).cloned().expect("exists");
    Ok(json!({"group": room.json()}))
}

/// subscriptions.ts 'subscriptions.getOne' -> {subscription: null | {...}}
fn subscriptions_get_one(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let Some(rid) = ctx.q("roomId").filter(|s| !s.is_empty()) else {
        return Err(invalid_params(
            "must have required property 'roomId'".into(),
        ));
    };
    let name = sim.db.user(&ctx.uid).and_then(|u| u.name.clone());
    let sub = sim
        .db
        .subscription(rid, &ctx.uid)
        .map(|s| s.json(name.as_deref()));
    Ok(json!({"subscription": sub}))
}

/// chat.ts 'chat.postMessage' -> processWebhookMessage(bodyParams, user)[0]
fn chat_post_message(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    if b.get("roomId").is_none() && b.get("channel").is_none() {
        return Err(ApiErr::InvalidParams(
            "must have required property 'roomId'\n must have required property 'channel'\n must match a schema in anyOf".into(),
        ));
    }
    let defaults = WebhookDefaults {
        channel: vec![],
        alias: String::new(),
        avatar: String::new(),
        emoji: String::new(),
    };
    let uid = ctx.uid.clone();
    let sent = sim.process_webhook_message(b, &uid, &defaults)?;
    let Some((channel, message)) = sent.into_iter().next() else {
        return Err(ApiErr::Plain("unknown-error".into()));
    };
    Ok(json!({"ts": now_ms(), "channel": channel, "message": message}))
}

fn history(sim: &mut Sim, ctx: &Ctx, room: &Room) -> Result<Value, ApiErr> {
    let count: usize = ctx.q("count").and_then(|c| c.parse().ok()).unwrap_or(20);
    let offset: usize = ctx.q("offset").and_then(|c| c.parse().ok()).unwrap_or(0);
    let latest = ctx
        .q("latest")
        .and_then(|l| humantime::parse_rfc3339_weak(l).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(i64::MAX);
    let oldest = ctx
        .q("oldest")
        .and_then(|l| humantime::parse_rfc3339_weak(l).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(i64::MIN);
    let inclusive = ctx.q("inclusive") == Some("true");
    let mut msgs: Vec<&Message> = sim
        .db
        .messages
        .iter()
        .filter(|m| m.rid == room.id)
        .filter(|m| {
            if inclusive {
                m.ts <= latest && m.ts >= oldest
            } else {
                m.ts < latest && m.ts > oldest
            }
        })
        .collect();
    // newest first (getChannelHistory sorts {ts: -1}); stable on insertion order for equal ts
    msgs.reverse();
    msgs.sort_by_key(|m| std::cmp::Reverse(m.ts));
    let page: Vec<Value> = msgs
        .into_iter()
        .skip(offset)
        .take(count)
        .map(Message::json)
        .collect();
    Ok(json!({"messages": page}))
}

/// channels.ts 'channels.history'
fn channels_history(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    room_target_query(ctx)?;
    let room = sim.find_channel(ctx.q("roomId"), ctx.q("roomName"), false)?;
    if !sim.can_access_room(&room, &ctx.uid) {
        return Err(ApiErr::Forbidden(None));
    }
    history(sim, ctx, &room)
}

/// groups.ts 'groups.history'
fn groups_history(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let room = sim.find_group(ctx, ctx.q("roomId"), ctx.q("roomName"), false)?;
    history(sim, ctx, &room)
}

/// permissions.ts 'permissions.listAll' -> {update:[{_id, roles, _updatedAt}], remove:[]}
fn permissions_list_all(sim: &mut Sim, _ctx: &Ctx) -> Result<Value, ApiErr> {
    let at = iso(sim.db.permissions_updated_at);
    let update: Vec<Value> = sim
        .db
        .permissions
        .iter()
        .map(|(id, roles)| json!({"_id": id, "roles": roles, "_updatedAt": at}))
        .collect();
    Ok(json!({"update": update, "remove": []}))
}

/// roles.ts 'roles.list'
fn roles_list(_sim: &mut Sim, _ctx: &Ctx) -> Result<Value, ApiErr> {
    let roles: Vec<Value> = crate::state::DEFAULT_ROLES
        .iter()
        .map(|(id, scope, desc)| {
            json!({"_id": id, "name": id, "scope": scope, "description": desc, "protected": true, "mandatory2fa": false})
        })
        .collect();
    Ok(json!({"roles": roles}))
}

/// integrations.ts 'integrations.create' -> addIncomingIntegration
/// (apps/meteor/app/integrations/server/methods/incoming/addIncomingIntegration.ts)
fn integrations_create(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    match b.get("type").and_then(Value::as_str) {
        Some("webhook-incoming") => {}
        Some("webhook-outgoing") => {
            return Err(ApiErr::Plain(
                "rocketchat-sim: outgoing webhooks are not simulated".into(),
            ));
        }
        _ => return Err(invalid_params("must have required property 'type'".into())),
    }
    // Match.ObjectIncluding({type, name, enabled, username, channel, scriptEnabled, ...})
    for (k, boolean) in [
        ("name", false),
        ("enabled", true),
        ("username", false),
        ("channel", false),
        ("scriptEnabled", true),
    ] {
        match b.get(k) {
            None => return Err(ApiErr::Plain(format!("Match error: Missing key '{k}'"))),
            Some(v) if boolean && !v.is_boolean() => {
                return Err(ApiErr::Plain(format!(
                    "Match error: Expected boolean, got {} in field {k}",
                    js_type(v)
                )));
            }
            Some(v) if !boolean && !v.is_string() => {
                return Err(ApiErr::Plain(format!(
                    "Match error: Expected string, got {} in field {k}",
                    js_type(v)
                )));
            }
            _ => {}
        }
    }
    let uid = ctx.uid.clone();
    let can_all = sim
        .db
        .has_permission(&uid, "manage-incoming-integrations", None);
    let can_own = sim
        .db
        .has_permission(&uid, "manage-own-incoming-integrations", None);
    if !can_all && !can_own {
        return Err(meteor_d(
            "not_authorized",
            "Unauthorized",
            json!({"method": "addIncomingIntegration"}),
        ));
    }
    let channel = b.get("channel").and_then(Value::as_str).unwrap_or("");
    if channel.trim().is_empty() {
        return Err(meteor_d(
            "error-invalid-channel",
            "Invalid channel",
            json!({"method": "addIncomingIntegration"}),
        ));
    }
    let channels: Vec<String> = channel.split(',').map(|c| c.trim().to_string()).collect();
    if channels
        .iter()
        .any(|c| !c.starts_with('#') && !c.starts_with('@'))
    {
        return Err(meteor_d(
            "error-invalid-channel-start-with-chars",
            "Invalid channel. Start with @ or #",
            json!({"method": "updateIncomingIntegration"}),
        ));
    }
    let username = b.get("username").and_then(Value::as_str).unwrap_or("");
    if username.trim().is_empty() {
        return Err(meteor_d(
            "error-invalid-username",
            "Invalid username",
            json!({"method": "addIncomingIntegration"}),
        ));
    }
    let Some(user) = sim.db.user_by_username(username).cloned() else {
        return Err(meteor_d(
            "error-invalid-user",
            "Invalid user",
            json!({"method": "addIncomingIntegration"}),
        ));
    };
    for c in &channels {
        let v = &c[1..];
        let record = if c.starts_with('#') {
            sim.db
                .room(v)
                .or_else(|| sim.db.room_by_name(v))
                .map(|r| r.id.clone())
        } else {
            sim.db
                .users
                .iter()
                .find(|u| u.id == v || u.username == v)
                .map(|u| u.id.clone())
        };
        let Some(record) = record else {
            return Err(meteor_d(
                "error-invalid-room",
                "Invalid room",
                json!({"method": "addIncomingIntegration"}),
            ));
        };
        if !(can_all && can_own) && sim.db.subscription(&record, &uid).is_none() {
            return Err(meteor_d(
                "error-invalid-channel",
                "Invalid Channel",
                json!({"method": "addIncomingIntegration"}),
            ));
        }
    }
    sim.db.add_user_roles(&user.id, &["bot"]);
    let creator = sim
        .db
        .user(&uid)
        .map(|u| json!({"_id": u.id, "username": u.username}))
        .unwrap_or(Value::Null);
    let script_enabled = as_bool(b.get("scriptEnabled")).unwrap_or(false);
    let script = b.get("script").and_then(Value::as_str).map(str::to_string);
    let (script_compiled, script_error) = compile_script(script_enabled, script.as_deref());
    let integ = Integration {
        id: random_id(17),
        kind: "webhook-incoming".into(),
        name: b
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        enabled: as_bool(b.get("enabled")).unwrap_or(false),
        username: username.to_string(),
        user_id: user.id.clone(),
        channel: channels,
        token: random_id(48),
        script_enabled,
        script,
        alias: b.get("alias").and_then(Value::as_str).map(str::to_string),
        avatar: b.get("avatar").and_then(Value::as_str).map(str::to_string),
        emoji: b.get("emoji").and_then(Value::as_str).map(str::to_string),
        override_destination_channel_enabled: as_bool(b.get("overrideDestinationChannelEnabled"))
            .unwrap_or(false),
        script_compiled,
        script_error,
        created_at: now_ms(),
        created_by: creator,
        updated_at: 0,
        updated_by: None,
    };
    let out = integ.json();
    // no de-duplication by name (brief)
    sim.db.integrations.push(integ);
    sim.dirty = true;
    Ok(json!({"integration": out}))
}

/// integrations.ts 'integrations.list' -> {integrations, offset, items, total}
fn integrations_list(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let perms = [
        "manage-outgoing-integrations",
        "manage-own-outgoing-integrations",
        "manage-incoming-integrations",
        "manage-own-incoming-integrations",
    ];
    if !perms
        .iter()
        .any(|p| sim.db.has_permission(&ctx.uid, p, None))
    {
        return Err(meteor_d(
            "error-unauthorized",
            "User does not have the permissions required for this action",
            json!({"permissions": perms}),
        ));
    }
    let count: usize = ctx.q("count").and_then(|c| c.parse().ok()).unwrap_or(50);
    let offset: usize = ctx.q("offset").and_then(|c| c.parse().ok()).unwrap_or(0);
    let all: Vec<Value> = sim.db.integrations.iter().map(Integration::json).collect();
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(offset).take(count).collect();
    Ok(json!({"integrations": page, "offset": offset, "items": page.len(), "total": total}))
}

/// rooms.ts 'rooms.muteUser' / 'rooms.unmuteUser' (6.8+) -> server/methods/muteUserInRoom.ts,
/// unmuteUserInRoom.ts; the room arrays change as packages/models Rooms.ts does it: in a
/// read-only room, muting only takes the user off `unmuted` and unmuting puts them on it;
/// elsewhere `muted` gains or loses them.
fn mute(sim: &mut Sim, ctx: &Ctx, muting: bool) -> Result<Value, ApiErr> {
    let method = if muting {
        "muteUserInRoom"
    } else {
        "unmuteUserInRoom"
    };
    let b = &ctx.req.body;
    let Some(rid) = b.get("roomId").and_then(Value::as_str) else {
        return Err(invalid_params(
            "must have required property 'roomId'".into(),
        ));
    };
    let users = sim.users_from_params(b)?;
    let Some(target) = users.first().cloned() else {
        return Err(invalid_params(
            "must have required property 'userId'\n must have required property 'username'\n must match exactly one schema in oneOf".into(),
        ));
    };
    if !sim.db.has_permission(&ctx.uid, "mute-user", Some(rid)) {
        return Err(meteor_d(
            "error-not-allowed",
            "Not allowed",
            json!({"method": method}),
        ));
    }
    let Some(room) = sim.db.room(rid).cloned() else {
        return Err(meteor_d(
            "error-invalid-room",
            "Invalid room",
            json!({"method": method}),
        ));
    };
    if sim.db.subscription(rid, &target.id).is_none() {
        return Err(meteor_d(
            "error-user-not-in-room",
            "User is not in this room",
            json!({"method": method}),
        ));
    }
    let name = target.username.clone();
    if let Some(r) = sim.db.room_mut(rid) {
        match (muting, room.ro) {
            (true, true) => r.unmuted.retain(|u| *u != name),
            (true, false) => {
                if !r.muted.contains(&name) {
                    r.muted.push(name.clone());
                }
                r.unmuted.retain(|u| *u != name);
            }
            (false, true) => {
                r.muted.retain(|u| *u != name);
                if !r.unmuted.contains(&name) {
                    r.unmuted.push(name.clone());
                }
            }
            (false, false) => r.muted.retain(|u| *u != name),
        }
        r.updated_at = now_ms();
    }
    sim.dirty = true;
    Ok(json!({}))
}

fn rooms_mute_user(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    mute(sim, ctx, true)
}
fn rooms_unmute_user(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    mute(sim, ctx, false)
}

/// channels.ts / groups.ts 'addModerator' and 'addOwner' -> server/methods/addRoomModerator.ts,
/// addRoomOwner.ts: `set-moderator` / `set-owner` (room scope), the user must be in the room,
/// and the role is added to their subscription's `roles`.
fn add_room_role(sim: &mut Sim, ctx: &Ctx, private: bool, role: &str) -> Result<Value, ApiErr> {
    let (method, permission, already) = if role == "owner" {
        (
            "addRoomOwner",
            "set-owner",
            ("error-user-already-owner", "User is already an owner"),
        )
    } else {
        (
            "addRoomModerator",
            "set-moderator",
            (
                "error-user-already-moderator",
                "User is already a moderator",
            ),
        )
    };
    let b = &ctx.req.body;
    let room = if private {
        sim.find_group(ctx, b.get("roomId").and_then(Value::as_str), None, false)?
    } else {
        sim.find_channel(b.get("roomId").and_then(Value::as_str), None, false)?
    };
    let users = sim.users_from_params(b)?;
    let Some(user) = users.first().cloned() else {
        return Err(meteor_d(
            "error-invalid-user",
            "Invalid user",
            json!({"method": method}),
        ));
    };
    if !sim.db.has_permission(&ctx.uid, permission, Some(&room.id)) {
        return Err(meteor_d(
            "error-not-allowed",
            "Not allowed",
            json!({"method": method}),
        ));
    }
    let Some(sub) = sim
        .db
        .subscriptions
        .iter_mut()
        .find(|s| s.rid == room.id && s.uid == user.id)
    else {
        return Err(meteor_d(
            "error-user-not-in-room",
            "User is not in this room",
            json!({"method": method}),
        ));
    };
    if sub.roles.iter().any(|r| r == role) {
        return Err(meteor_d(already.0, already.1, json!({"method": method})));
    }
    sub.roles.push(role.to_string());
    sub.updated_at = now_ms();
    sim.dirty = true;
    Ok(json!({}))
}

fn channels_add_moderator(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    add_room_role(sim, ctx, false, "moderator")
}
fn groups_add_moderator(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    add_room_role(sim, ctx, true, "moderator")
}
fn channels_add_owner(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    add_room_role(sim, ctx, false, "owner")
}
fn groups_add_owner(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    add_room_role(sim, ctx, true, "owner")
}

/// compileIntegrationScript at save (addIncomingIntegration.ts, updateIncomingIntegration.ts):
/// only for an enabled, non-blank script; `(scriptCompiled, scriptError)`.
fn compile_script(enabled: bool, script: Option<&str>) -> (bool, Option<Value>) {
    match script {
        Some(code) if enabled && !code.trim().is_empty() => match script::compile(code) {
            Ok(()) => (true, None),
            Err(e) => (false, Some(e)),
        },
        _ => (false, None),
    }
}

/// integrations.ts 'integrations.get' (validateParams isIntegrationsGetProps) ->
/// lib/integrations.ts findOneIntegration: Integrations.findOneByIdAndCreatedByIfExists, then
/// manage-{incoming,outgoing}-integrations, or manage-own-… for the creator.
fn integrations_get(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let Some(id) = ctx.q("integrationId") else {
        return Err(invalid_params(
            "must have required property 'integrationId'".into(),
        ));
    };
    let created_by = ctx.q("createdBy");
    let Some(integration) =
        sim.db.integrations.iter().find(|i| {
            i.id == id && created_by.is_none_or(|c| i.created_by["_id"].as_str() == Some(c))
        })
    else {
        return Err(ApiErr::Plain("The integration does not exists.".into()));
    };
    let kind = if integration.kind == "webhook-incoming" {
        "incoming"
    } else {
        "outgoing"
    };
    let allowed = sim
        .db
        .has_permission(&ctx.uid, &format!("manage-{kind}-integrations"), None)
        || (integration.created_by["_id"].as_str() == Some(ctx.uid.as_str())
            && sim
                .db
                .has_permission(&ctx.uid, &format!("manage-own-{kind}-integrations"), None));
    if !allowed {
        return Err(ApiErr::Plain("not-authorized".into()));
    }
    Ok(json!({"integration": integration.json()}))
}

/// integrations.ts 'integrations.update' (PUT; validateParams isIntegrationsUpdateProps: the
/// incoming branch requires integrationId, type, channel, scriptEnabled, name, enabled and
/// allows more) -> updateIncomingIntegration
/// (apps/meteor/app/integrations/server/methods/incoming/updateIncomingIntegration.ts).
fn integrations_update(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    ajv(
        b,
        &[
            "integrationId",
            "type",
            "channel",
            "scriptEnabled",
            "name",
            "enabled",
        ],
        &[
            ("type", Ty::Str),
            ("integrationId", Ty::Str),
            ("channel", Ty::Str),
            ("scriptEnabled", Ty::Bool),
            ("script", Ty::Str),
            ("name", Ty::Str),
            ("enabled", Ty::Bool),
            ("alias", Ty::Str),
            ("avatar", Ty::Str),
            ("emoji", Ty::Str),
        ],
        true,
    )
    .map_err(invalid_params)?;
    match b.get("type").and_then(Value::as_str) {
        Some("webhook-incoming") => {}
        Some("webhook-outgoing") => {
            return Err(ApiErr::Plain(
                "rocketchat-sim: outgoing webhooks are not simulated".into(),
            ));
        }
        _ => return Err(ApiErr::Plain("Invalid integration type.".into())),
    }
    let id = b
        .get("integrationId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !sim.db.integrations.iter().any(|i| i.id == id) {
        return Err(ApiErr::Plain("No integration found.".into()));
    }
    let uid = ctx.uid.clone();
    let method = json!({"method": "updateIncomingIntegration"});
    // validateChannels
    let channel = b.get("channel").and_then(Value::as_str).unwrap_or("");
    if channel.trim().is_empty() {
        return Err(meteor_d("error-invalid-channel", "Invalid channel", method));
    }
    let channels: Vec<String> = channel.split(',').map(|c| c.trim().to_string()).collect();
    if channels
        .iter()
        .any(|c| !c.starts_with('#') && !c.starts_with('@'))
    {
        return Err(meteor_d(
            "error-invalid-channel-start-with-chars",
            "Invalid channel. Start with @ or #",
            method,
        ));
    }
    let can_all = sim
        .db
        .has_permission(&uid, "manage-incoming-integrations", None);
    let can_own = sim
        .db
        .has_permission(&uid, "manage-own-incoming-integrations", None);
    let current = if can_all {
        sim.db.integrations.iter().find(|i| i.id == id)
    } else if can_own {
        sim.db
            .integrations
            .iter()
            .find(|i| i.id == id && i.created_by["_id"].as_str() == Some(uid.as_str()))
    } else {
        return Err(meteor_d("not_authorized", "Unauthorized", method));
    };
    let Some(current) = current.cloned() else {
        return Err(meteor_d(
            "error-invalid-integration",
            "Invalid integration",
            method,
        ));
    };
    let script_enabled = as_bool(b.get("scriptEnabled")).unwrap_or(false);
    let script = b.get("script").and_then(Value::as_str).map(str::to_string);
    // The script is compiled (or its error recorded) before the channels are checked, as the
    // method does: a later failure leaves scriptCompiled/scriptError updated.
    let compiled = (script_enabled && script.as_deref().is_some_and(|s| !s.trim().is_empty()))
        .then(|| compile_script(true, script.as_deref()));
    if let Some((ok, error)) = &compiled
        && let Some(i) = sim.db.integrations.iter_mut().find(|i| i.id == id)
    {
        i.script_compiled = *ok;
        i.script_error.clone_from(error);
        sim.dirty = true;
    }
    for c in &channels {
        let v = &c[1..];
        let record = if c.starts_with('#') {
            sim.db
                .room(v)
                .or_else(|| sim.db.room_by_name(v))
                .map(|r| r.id.clone())
        } else {
            sim.db
                .users
                .iter()
                .find(|u| u.id == v || u.username == v)
                .map(|u| u.id.clone())
        };
        let Some(record) = record else {
            return Err(meteor_d("error-invalid-room", "Invalid room", method));
        };
        if !(can_all && can_own) && sim.db.subscription(&record, &uid).is_none() {
            return Err(meteor_d("error-invalid-channel", "Invalid Channel", method));
        }
    }
    // 'username' in integration ? integration.username : currentIntegration.username
    let has_username = b.get("username").is_some();
    let username = b
        .get("username")
        .and_then(Value::as_str)
        .map_or_else(|| current.username.clone(), str::to_owned);
    let Some(user) = sim.db.user_by_username(&username).cloned() else {
        return Err(meteor_d(
            "error-invalid-post-as-user",
            "Invalid Post As User",
            method,
        ));
    };
    sim.db.add_user_roles(&user.id, &["bot"]);
    let updater = sim
        .db
        .user(&uid)
        .map(|u| json!({"_id": u.id, "username": u.username}));
    let Some(i) = sim.db.integrations.iter_mut().find(|i| i.id == id) else {
        return Err(ApiErr::Plain("No integration found.".into()));
    };
    i.enabled = as_bool(b.get("enabled")).unwrap_or(false);
    i.name = b
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    for (key, field) in [
        ("avatar", &mut i.avatar),
        ("emoji", &mut i.emoji),
        ("alias", &mut i.alias),
    ] {
        if let Some(v) = b.get(key).and_then(Value::as_str) {
            *field = Some(v.to_owned());
        }
    }
    i.channel = channels;
    if has_username {
        i.username.clone_from(&user.username);
        i.user_id.clone_from(&user.id);
    }
    if script.is_some() {
        i.script = script;
    }
    i.script_enabled = script_enabled;
    if let Some(v) = as_bool(b.get("overrideDestinationChannelEnabled")) {
        i.override_destination_channel_enabled = v;
    }
    i.updated_at = now_ms();
    i.updated_by = updater;
    let out = i.json();
    sim.dirty = true;
    Ok(json!({"integration": out}))
}

fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "object",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------- messages by id, deletions

/// chat.ts 'chat.sendMessage' (validateParams isChatSendMessageProps: `message` with `rid`,
/// optional `_id`) -> lib/server/methods/sendMessage.ts executeSendMessage ->
/// authorization/server/functions/canSendMessage.ts -> lib/server/functions/sendMessage.ts.
/// Unlike chat.postMessage the caller chooses the message's `_id`.
fn chat_send_message(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let Some(message) = ctx.req.body.get("message").filter(|m| m.is_object()) else {
        return Err(ApiErr::InvalidParams(
            "must have required property 'message'".into(),
        ));
    };
    let Some(rid) = message.get("rid").and_then(Value::as_str) else {
        return Err(ApiErr::InvalidParams(
            "must have required property 'rid'".into(),
        ));
    };
    // MessageTypes.isSystemMessage -> plain Error
    if message.get("t").and_then(Value::as_str).is_some() {
        return Err(ApiErr::Plain(
            "Cannot send system messages using 'chat.sendMessage'".into(),
        ));
    }
    let user = sim
        .db
        .user(&ctx.uid)
        .cloned()
        .ok_or_else(|| meteor("error-invalid-user", "Invalid user"))?;
    // canSendMessageAsync: throw new Error('error-invalid-room' | 'error-not-allowed' | readonly)
    let room = sim
        .db
        .room(rid)
        .cloned()
        .ok_or_else(|| ApiErr::Plain("error-invalid-room".into()))?;
    if !sim.can_access_room(&room, &ctx.uid) {
        return Err(ApiErr::Plain("error-not-allowed".into()));
    }
    // validateRoomMessagePermissionsAsync, as for chat.postMessage: read-only unless
    // `post-readonly` or unmuted there; a muted user may post nowhere.
    if room.ro
        && !sim
            .db
            .has_permission(&ctx.uid, "post-readonly", Some(&room.id))
        && !room.unmuted.contains(&user.username)
    {
        return Err(ApiErr::Plain(
            "You can't send messages because the room is readonly.".into(),
        ));
    }
    if room.muted.contains(&user.username) {
        return Err(ApiErr::Plain("You_have_been_muted".into()));
    }
    let id = message
        .get("_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or_else(|| random_id(17), str::to_string);
    // sendMessage: `messageAlreadyExists` -> returns undefined, nothing is inserted. What the
    // REST route then answers (normalizeMessagesForUser([undefined])) was not confirmed; we
    // answer success without a message.
    if sim.db.messages.iter().any(|m| m.id == id) {
        return Ok(json!({}));
    }
    let m = Message {
        id,
        rid: room.id.clone(),
        msg: message
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        ts: now_ms(),
        uid: user.id.clone(),
        username: user.username.clone(),
        name: user.name.clone(),
        t: None,
        alias: None,
        avatar: None,
        emoji: None,
        attachments: None,
        bot: None,
    };
    let out = m.json();
    sim.insert_message(m);
    Ok(json!({"message": out}))
}

/// chat.ts 'chat.getMessage' -> lib/server/methods/getSingleMessage.ts: unknown id ->
/// `API.v1.failure()` (no error text); a room the caller may not access -> Meteor.Error
/// 'error-not-allowed' 'Not allowed'.
fn chat_get_message(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let Some(id) = ctx.q("msgId").filter(|s| !s.is_empty()) else {
        return Err(ApiErr::Plain(
            "The \"msgId\" query parameter must be provided.".into(),
        ));
    };
    let Some(message) = sim.db.messages.iter().find(|m| m.id == id).cloned() else {
        return Err(ApiErr::Failure);
    };
    let accessible = sim
        .db
        .room(&message.rid)
        .cloned()
        .is_some_and(|room| sim.can_access_room(&room, &ctx.uid));
    if !accessible {
        return Err(meteor_d(
            "error-not-allowed",
            "Not allowed",
            json!({"method": "getSingleMessage"}),
        ));
    }
    Ok(json!({"message": message.json()}))
}

/// chat.ts 'chat.delete' (isChatDeleteProps: msgId, roomId, asUser?) ->
/// lib/server/functions/deleteMessage.ts deleteMessageValidatingPermission ->
/// authorization/server/functions/canDeleteMessage.ts. With the default settings
/// (Message_KeepHistory and Message_ShowDeletedStatus off) the message is removed.
fn chat_delete(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    let (Some(msg_id), Some(room_id)) = (
        b.get("msgId").and_then(Value::as_str),
        b.get("roomId").and_then(Value::as_str),
    ) else {
        let missing = if b.get("msgId").is_none() {
            "msgId"
        } else {
            "roomId"
        };
        return Err(ApiErr::InvalidParams(format!(
            "must have required property '{missing}'"
        )));
    };
    let Some(message) = sim.db.messages.iter().find(|m| m.id == msg_id).cloned() else {
        return Err(ApiErr::Plain(format!(
            "No message found with the id of \"{msg_id}\"."
        )));
    };
    if message.rid != room_id {
        return Err(ApiErr::Plain(
            "The room id provided does not match where the message is from.".into(),
        ));
    }
    let as_user = as_bool(b.get("asUser")).unwrap_or(false);
    if as_user
        && message.uid != ctx.uid
        && !sim
            .db
            .has_permission(&ctx.uid, "force-delete-message", Some(&message.rid))
    {
        return Err(ApiErr::Plain(
            "Unauthorized. You must have the permission \"force-delete-message\" to delete other's message as them.".into(),
        ));
    }
    let actor = if as_user {
        message.uid.clone()
    } else {
        ctx.uid.clone()
    };
    if !sim.can_delete_message(&actor, &message) {
        return Err(meteor("error-action-not-allowed", "Not allowed"));
    }
    sim.db.messages.retain(|m| m.id != message.id);
    if message.t.is_none()
        && let Some(room) = sim.db.room_mut(&message.rid)
    {
        room.msgs = room.msgs.saturating_sub(1);
    }
    sim.dirty = true;
    Ok(json!({"_id": message.id, "ts": now_ms().to_string(), "message": message.json()}))
}

/// channels.ts 'channels.delete' -> server/lib/eraseRoom.ts: the room directive's
/// canBeDeleted needs `delete-c` (`delete-p` for groups), else Meteor.Error 'error-not-allowed';
/// app/lib/server/functions/deleteRoom.ts removes the room, its messages and subscriptions.
fn channels_delete(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let b = &ctx.req.body;
    if b.get("roomId").is_none() && b.get("roomName").is_none() {
        return Err(ApiErr::InvalidParams(
            "must have required property 'roomId'\n must have required property 'roomName'\n must match a schema in anyOf".into(),
        ));
    }
    let room = sim.find_channel(ctx.bs("roomId"), ctx.bs("roomName"), false)?;
    sim.erase_room(&ctx.uid, &room, "delete-c")?;
    Ok(json!({}))
}

/// groups.ts 'groups.delete' -> eraseRoom with `delete-p`.
fn groups_delete(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let room = sim.find_group(ctx, ctx.bs("roomId"), ctx.bs("roomName"), false)?;
    sim.erase_room(&ctx.uid, &room, "delete-p")?;
    Ok(json!({}))
}

/// integrations.ts 'integrations.remove' (`type` + `integrationId` for incoming webhooks):
/// needs one of the manage-*-integrations permissions (else API.v1.unauthorized()),
/// unknown id -> 'No integration found.'; answers the removed integration.
fn integrations_remove(sim: &mut Sim, ctx: &Ctx) -> Result<Value, ApiErr> {
    let perms = [
        "manage-outgoing-integrations",
        "manage-own-outgoing-integrations",
        "manage-incoming-integrations",
        "manage-own-incoming-integrations",
    ];
    if !perms
        .iter()
        .any(|p| sim.db.has_permission(&ctx.uid, p, None))
    {
        return Err(ApiErr::Forbidden(None));
    }
    match ctx.bs("type") {
        Some("webhook-incoming") => {}
        Some("webhook-outgoing") => {
            return Err(ApiErr::Plain(
                "rocketchat-sim: outgoing webhooks are not simulated".into(),
            ));
        }
        _ => return Err(ApiErr::Plain("Invalid integration type.".into())),
    }
    let Some(id) = ctx.bs("integrationId") else {
        return Err(ApiErr::Plain(
            "Match error: Missing key 'integrationId'".into(),
        ));
    };
    let Some(integration) = sim.db.integrations.iter().find(|i| i.id == id).cloned() else {
        return Err(ApiErr::Plain("No integration found.".into()));
    };
    sim.db.integrations.retain(|i| i.id != id);
    sim.dirty = true;
    Ok(json!({"integration": integration.json()}))
}

impl Sim {
    /// authorization/server/functions/canDeleteMessage.ts
    fn can_delete_message(&self, uid: &str, message: &Message) -> bool {
        let rid = Some(message.rid.as_str());
        if self.db.has_permission(uid, "force-delete-message", rid) {
            return true;
        }
        if !self.db.setting_bool("Message_AllowDeleting") {
            return false;
        }
        let any = self.db.has_permission(uid, "delete-message", rid);
        let own = uid == message.uid && self.db.has_permission(uid, "delete-own-message", rid);
        if !(any || own) {
            return false;
        }
        if !self
            .db
            .has_permission(uid, "bypass-time-limit-edit-and-delete", None)
        {
            let block = self
                .db
                .setting_int("Message_AllowDeleting_BlockDeleteInMinutes");
            if block > 0 && (now_ms() - message.ts) / 60_000 > block {
                return false;
            }
        }
        true
    }

    /// server/lib/eraseRoom.ts + app/lib/server/functions/deleteRoom.ts
    fn erase_room(&mut self, uid: &str, room: &Room, permission: &str) -> Result<(), ApiErr> {
        if !self.db.has_permission(uid, permission, Some(&room.id)) {
            return Err(meteor_d(
                "error-not-allowed",
                "Not allowed",
                json!({"method": "eraseRoom"}),
            ));
        }
        self.db.messages.retain(|m| m.rid != room.id);
        self.db.subscriptions.retain(|s| s.rid != room.id);
        self.db.rooms.retain(|r| r.id != room.id);
        self.dirty = true;
        Ok(())
    }
}
