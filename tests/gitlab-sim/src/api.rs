//! `/api/v4`: personal-access-token authentication, projects, project hooks (CRUD, test,
//! events), application settings and feature flags. Every rule names its source in GitLab
//! (gitlabhq/gitlabhq): the API documentation under doc/api/ and the Grape code under lib/api/.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::deliver;
use crate::net::Cidr;
use crate::state::{Hook, MAINTAINER, State, TRIGGERS, now_ms};

pub struct Config {
    pub version: String,
    /// `external_url`: `X-Gitlab-Instance` and the projects' `web_url`.
    pub external_url: String,
    pub monitoring_whitelist: Vec<Cidr>,
    /// `web_hook_test` rate limit: calls per window for each project and user (17.1+: 5/min).
    pub test_rate_limit: usize,
    pub test_rate_window: Duration,
    /// `gitlab_rails['webhook_timeout']` (10 s by default).
    pub webhook_timeout: Duration,
}

pub struct App {
    pub state: Mutex<State>,
    pub cfg: Config,
}

/// A request to the API, parsed once: path segments after `/api/v4/` (URL-decoded, so
/// `ops%2Fchat` is one segment), and query and body parameters merged as Grape does.
pub struct Req {
    pub method: String,
    pub segments: Vec<String>,
    pub params: Map<String, Value>,
    pub headers: HashMap<String, String>,
    pub body_error: Option<String>,
}

pub enum Body {
    Json(Value),
    Html(String),
    Text(String),
}

pub struct Resp {
    pub status: u16,
    pub body: Body,
}

fn reply(status: u16, v: Value) -> Resp {
    Resp {
        status,
        body: Body::Json(v),
    }
}

/// lib/api/helpers.rs: `render_api_error!(message, status)` → `{"message": message}`.
fn message(status: u16, text: &str) -> Resp {
    reply(status, json!({"message": text}))
}

fn unauthorized() -> Resp {
    message(401, "401 Unauthorized")
}

fn forbidden() -> Resp {
    message(403, "403 Forbidden")
}

/// Grape parameter errors: 400 `{"error": "url is missing"}`.
fn bad_request(text: &str) -> Resp {
    reply(400, json!({"error": text}))
}

/// Who is calling.
struct Caller {
    user_id: u64,
    admin: bool,
    access: u8,
}

impl App {
    pub async fn handle(&self, req: Req) -> Resp {
        if let Some(e) = &req.body_error {
            return bad_request(e);
        }
        let caller = match self.authenticate(&req) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let m = req.method.as_str();
        match (m, seg.as_slice()) {
            ("GET", ["version"]) => self.with_user(caller, |_| {
                Ok(reply(200, json!({"version": self.cfg.version, "revision": "0000000000", "kas": {"enabled": false, "externalUrl": null, "version": null}, "enterprise": false})))
            }),
            ("GET", ["user"]) => self.with_user(caller, |c| {
                let st = self.state.lock().expect("lock");
                let u = st.user(c.user_id).expect("caller exists");
                Ok(reply(200, json!({"id": u.id, "username": u.username, "name": u.username, "state": "active", "is_admin": u.admin})))
            }),
            ("GET", ["projects", id]) => self.project_get(caller.as_ref(), id),
            ("GET", ["projects", id, "hooks"]) => self.hooks_list(caller, id),
            ("POST", ["projects", id, "hooks"]) => self.hook_create(caller, id, &req).await,
            ("GET", ["projects", id, "hooks", hook]) => self.hook_get(caller, id, hook),
            ("PUT", ["projects", id, "hooks", hook]) => self.hook_update(caller, id, hook, &req).await,
            ("DELETE", ["projects", id, "hooks", hook]) => self.hook_delete(caller, id, hook),
            ("POST", ["projects", id, "hooks", hook, "test", trigger]) => {
                self.hook_test(caller, id, hook, trigger).await
            }
            ("GET", ["projects", id, "hooks", hook, "events"]) => self.hook_events(caller, id, hook),
            ("GET", ["application", "settings"]) => self.settings(caller, None),
            ("PUT", ["application", "settings"]) => self.settings(caller, Some(&req.params)),
            ("POST", ["features", name]) => self.feature(caller, name, &req.params),
            // lib/api/api.rb: `route :any, '*path'` → 404 {"error": "404 Not Found"}
            _ => reply(404, json!({"error": "404 Not Found"})),
        }
    }

    /// lib/api/helpers.rb `find_user_from_sources` (PRIVATE-TOKEN header, `private_token`
    /// parameter, `Authorization: Bearer`): an unknown token is 401 at once; no token is
    /// anonymous. A token without the `api` scope may only read (`read_api`); otherwise 403
    /// `insufficient_scope` (lib/gitlab/auth/auth_finders.rb, doc/api/rest/authentication.md).
    fn authenticate(&self, req: &Req) -> Result<Option<Caller>, Resp> {
        let token = req
            .headers
            .get("private-token")
            .cloned()
            .or_else(|| {
                req.headers
                    .get("authorization")
                    .and_then(|a| a.strip_prefix("Bearer "))
                    .map(str::to_owned)
            })
            .or_else(|| {
                req.params
                    .get("private_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let Some(token) = token else {
            return Ok(None);
        };
        let st = self.state.lock().expect("lock");
        let Some(t) = st.tokens.iter().find(|t| t.secret == token) else {
            return Err(unauthorized());
        };
        let writes = req.method != "GET";
        let has = |s: &str| t.scopes.iter().any(|x| x == s);
        if !(has("api") || (!writes && has("read_api"))) {
            return Err(reply(
                403,
                json!({"error": "insufficient_scope", "error_description": "The request requires higher privileges than provided by the access token.", "scope": "api"}),
            ));
        }
        let u = st.user(t.user_id).expect("token owner exists");
        Ok(Some(Caller {
            user_id: u.id,
            admin: u.admin,
            access: u.access,
        }))
    }

    fn with_user(
        &self,
        caller: Option<Caller>,
        f: impl FnOnce(&Caller) -> Result<Resp, Resp>,
    ) -> Resp {
        match caller {
            None => unauthorized(),
            Some(c) => f(&c).unwrap_or_else(|r| r),
        }
    }

    /// `find_project!`: private projects are invisible to non-members (404 "Project Not
    /// Found", never 403); `authorize! :admin_project` needs Maintainer for hooks (403).
    fn project_id(
        &self,
        caller: Option<&Caller>,
        key: &str,
        maintainer: bool,
    ) -> Result<u64, Resp> {
        let st = self.state.lock().expect("lock");
        let visible = caller.is_some_and(|c| c.admin || c.access > 0);
        let Some(p) = st.project(key).filter(|_| visible) else {
            return Err(message(404, "404 Project Not Found"));
        };
        if maintainer && !caller.is_some_and(|c| c.admin || c.access >= MAINTAINER) {
            return Err(forbidden());
        }
        Ok(p.id)
    }

    fn project_get(&self, caller: Option<&Caller>, key: &str) -> Resp {
        let id = match self.project_id(caller, key, false) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let st = self.state.lock().expect("lock");
        let access = caller.map_or(0, |c| {
            if c.admin {
                crate::state::OWNER
            } else {
                c.access
            }
        });
        let p = st.project(&id.to_string()).expect("found above");
        reply(200, p.json(&self.cfg.external_url, access))
    }

    /// lib/api/project_hooks.rb: `before { authenticate! }` then `authorize! :admin_project`.
    fn hooks_guard(&self, caller: Option<&Caller>, key: &str) -> Result<u64, Resp> {
        if caller.is_none() {
            return Err(unauthorized());
        }
        self.project_id(caller, key, true)
    }

    fn hooks_list(&self, caller: Option<Caller>, key: &str) -> Resp {
        let pid = match self.hooks_guard(caller.as_ref(), key) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let st = self.state.lock().expect("lock");
        let hooks: Vec<Value> = st
            .hooks
            .iter()
            .filter(|h| h.project_id == pid)
            .map(Hook::json)
            .collect();
        reply(200, json!(hooks))
    }

    /// `find_hook`: `user_project.hooks.find(params[:hook_id])` → RecordNotFound → 404.
    fn find_hook(&self, pid: u64, hook: &str) -> Result<Hook, Resp> {
        let st = self.state.lock().expect("lock");
        hook.parse::<u64>()
            .ok()
            .and_then(|id| st.hooks.iter().find(|h| h.project_id == pid && h.id == id))
            .cloned()
            .ok_or_else(|| message(404, "404 Not found"))
    }

    fn hook_get(&self, caller: Option<Caller>, key: &str, hook: &str) -> Resp {
        match self
            .hooks_guard(caller.as_ref(), key)
            .and_then(|pid| self.find_hook(pid, hook))
        {
            Ok(h) => reply(200, h.json()),
            Err(r) => r,
        }
    }

    /// `POST /projects/:id/hooks` (doc/api/project_webhooks.md "Add a webhook to a project";
    /// lib/api/helpers/web_hooks_helpers.rb `save_hook`): a URL that fails validation —
    /// including Gitlab::UrlBlocker's local-network rule, lifted by the application setting
    /// `allow_local_requests_from_web_hooks_and_services` (doc/security/webhooks.md) — is 422
    /// `{"message": "Invalid url given"}`.
    async fn hook_create(&self, caller: Option<Caller>, key: &str, req: &Req) -> Resp {
        let pid = match self.hooks_guard(caller.as_ref(), key) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let Some(url) = req
            .params
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return bad_request("url is missing");
        };
        let mut hook = Hook {
            id: 0,
            project_id: pid,
            url: url.clone(),
            name: None,
            description: None,
            token: None,
            // Column defaults: push_events true, everything else false.
            triggers: TRIGGERS
                .iter()
                .map(|(field, _, _)| (*field, *field == "push_events"))
                .collect(),
            enable_ssl_verification: true,
            push_events_branch_filter: String::new(),
            branch_filter_strategy: "wildcard".to_owned(),
            custom_webhook_template: None,
            custom_headers: Vec::new(),
            created_at: now_ms(),
            recent_failures: 0,
            disabled_until: None,
        };
        if let Err(r) = apply_params(&mut hook, &req.params) {
            return r;
        }
        let allow_local = self
            .state
            .lock()
            .expect("lock")
            .setting_bool("allow_local_requests_from_web_hooks_and_services");
        if deliver::check_url(&url, allow_local).await.is_err() {
            return message(422, "Invalid url given");
        }
        let mut st = self.state.lock().expect("lock");
        st.next_hook += 1;
        hook.id = st.next_hook;
        let out = hook.json();
        st.hooks.push(hook);
        reply(201, out)
    }

    /// `PUT /projects/:id/hooks/:hook_id`: `url` is required; attributes not given are kept,
    /// except that a new URL without a new token drops the old token ("When you change the
    /// webhook URL, the secret token is reset and not retained").
    async fn hook_update(
        &self,
        caller: Option<Caller>,
        key: &str,
        hook_id: &str,
        req: &Req,
    ) -> Resp {
        let mut hook = match self
            .hooks_guard(caller.as_ref(), key)
            .and_then(|pid| self.find_hook(pid, hook_id))
        {
            Ok(h) => h,
            Err(r) => return r,
        };
        let Some(url) = req
            .params
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return bad_request("url is missing");
        };
        if url != hook.url && !req.params.contains_key("token") {
            hook.token = None;
        }
        hook.url.clone_from(&url);
        if let Err(r) = apply_params(&mut hook, &req.params) {
            return r;
        }
        let allow_local = self
            .state
            .lock()
            .expect("lock")
            .setting_bool("allow_local_requests_from_web_hooks_and_services");
        if deliver::check_url(&url, allow_local).await.is_err() {
            return message(422, "Invalid url given");
        }
        let mut st = self.state.lock().expect("lock");
        let out = hook.json();
        if let Some(h) = st.hooks.iter_mut().find(|h| h.id == hook.id) {
            *h = hook;
        }
        reply(200, out)
    }

    fn hook_delete(&self, caller: Option<Caller>, key: &str, hook_id: &str) -> Resp {
        let hook = match self
            .hooks_guard(caller.as_ref(), key)
            .and_then(|pid| self.find_hook(pid, hook_id))
        {
            Ok(h) => h,
            Err(r) => return r,
        };
        let mut st = self.state.lock().expect("lock");
        st.hooks.retain(|h| h.id != hook.id);
        reply(200, hook.json())
    }

    /// `POST /projects/:id/hooks/:hook_id/test/:trigger` (16.11+; lib/api/hooks/trigger_test.rb):
    /// the trigger must be one of the hook triggers (400 otherwise); the `web_hook_test` rate
    /// limit (5 a minute per project and user since 17.1, behind the feature flag
    /// `web_hook_test_api_endpoint_rate_limit`) answers 429; the delivery runs at once and a
    /// 2xx answer from the receiver is 201 `{"message":"201 Created"}`, anything else 422 with
    /// the receiver's body or the error as the message.
    async fn hook_test(
        &self,
        caller: Option<Caller>,
        key: &str,
        hook_id: &str,
        trigger: &str,
    ) -> Resp {
        let hook = match self
            .hooks_guard(caller.as_ref(), key)
            .and_then(|pid| self.find_hook(pid, hook_id))
        {
            Ok(h) => h,
            Err(r) => return r,
        };
        let Some((_, scope, event)) = TRIGGERS.iter().find(|(t, _, _)| *t == trigger) else {
            return bad_request("trigger does not have a valid value");
        };
        let user_id = caller.as_ref().map_or(0, |c| c.user_id);
        let allow_local = {
            let mut st = self.state.lock().expect("lock");
            let limited = st
                .features
                .get("web_hook_test_api_endpoint_rate_limit")
                .copied()
                .unwrap_or(true);
            if limited && self.cfg.test_rate_limit > 0 {
                let now = now_ms();
                let window =
                    i64::try_from(self.cfg.test_rate_window.as_millis()).unwrap_or(i64::MAX);
                let calls = st.test_calls.entry((hook.project_id, user_id)).or_default();
                calls.retain(|t| now - t < window);
                if calls.len() >= self.cfg.test_rate_limit {
                    return reply(
                        429,
                        json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}}),
                    );
                }
                calls.push(now);
            }
            st.setting_bool("allow_local_requests_from_web_hooks_and_services")
        };
        if let Some(error) = deliver::no_data(trigger) {
            return message(422, &error);
        }
        let text = deliver::payload(trigger).expect("no_data covers the rest");
        let payload: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let body = payload.to_string();
        let headers = deliver::headers(&hook, event, &self.cfg.version, &self.cfg.external_url);
        // WebHookService: `allow_local_requests: hook.allow_local_requests?` — the same setting
        // again at delivery; a blocked URL raises "URL is blocked: …".
        let outcome = match deliver::check_url(&hook.url, allow_local).await {
            Err(reason) => deliver::Outcome {
                result: Err(format!("URL is blocked: {reason}")),
                body: String::new(),
                response_headers: json!({}),
                request_headers: headers,
                elapsed: Duration::ZERO,
            },
            Ok(()) => deliver::send(&hook.url, &body, headers, self.cfg.webhook_timeout).await,
        };
        let mut st = self.state.lock().expect("lock");
        // WebHooks::LogExecutionService#update_hook_failure_state: a 2xx answer is `:ok`
        // (`hook.enable!`), anything else — another status or no answer — `:error`/`:failed`
        // (`hook.backoff!`); test deliveries too (WebHookService#execute logs every execution).
        if let Some(stored) = st.hooks.iter_mut().find(|h| h.id == hook.id) {
            match &outcome.result {
                Ok(status) if (200..300).contains(status) => stored.enable(),
                _ => stored.backoff(now_ms()),
            }
        }
        let id = st.deliveries.len() as u64 + 1;
        let entry = deliver::log_entry(id, &hook, scope, &payload, &outcome);
        st.deliveries.push(crate::state::Delivery {
            hook_id: hook.id,
            json: entry,
        });
        match outcome.result {
            Ok(status) if (200..300).contains(&status) => message(201, "201 Created"),
            // ServiceResponse.success(message: response.body) → render_api_error!(message, 422)
            Ok(_) => message(422, &outcome.body),
            Err(error) => message(422, &error),
        }
    }

    /// `GET /projects/:id/hooks/:hook_id/events` (17.3+): newest first.
    fn hook_events(&self, caller: Option<Caller>, key: &str, hook_id: &str) -> Resp {
        let hook = match self
            .hooks_guard(caller.as_ref(), key)
            .and_then(|pid| self.find_hook(pid, hook_id))
        {
            Ok(h) => h,
            Err(r) => return r,
        };
        let st = self.state.lock().expect("lock");
        let events: Vec<Value> = st
            .deliveries
            .iter()
            .rev()
            .filter(|d| d.hook_id == hook.id)
            .map(|d| d.json.clone())
            .collect();
        reply(200, json!(events))
    }

    /// `GET`/`PUT /application/settings` (doc/api/settings.md): administrators only (403);
    /// parameters the simulator does not know are ignored, as undeclared Grape parameters are.
    fn settings(&self, caller: Option<Caller>, update: Option<&Map<String, Value>>) -> Resp {
        let Some(c) = caller else {
            return unauthorized();
        };
        if !c.admin {
            return forbidden();
        }
        let mut st = self.state.lock().expect("lock");
        if let Some(params) = update {
            for (k, v) in params {
                let Some(current) = st.settings.get(k) else {
                    continue;
                };
                let new = if current.is_boolean() {
                    match boolean(v) {
                        Some(b) => json!(b),
                        None => return bad_request(&format!("{k} is invalid")),
                    }
                } else {
                    v.clone()
                };
                st.settings.insert(k.clone(), new);
            }
        }
        reply(200, Value::Object(st.settings.clone()))
    }

    /// `POST /features/:name` with `value` (doc/api/features.md): administrators only.
    fn feature(&self, caller: Option<Caller>, name: &str, params: &Map<String, Value>) -> Resp {
        let Some(c) = caller else {
            return unauthorized();
        };
        if !c.admin {
            return forbidden();
        }
        let Some(on) = params.get("value").and_then(boolean) else {
            return bad_request("value is missing");
        };
        self.state
            .lock()
            .expect("lock")
            .features
            .insert(name.to_owned(), on);
        reply(
            201,
            json!({"name": name, "state": if on { "on" } else { "off" }, "gates": [{"key": "boolean", "value": on}], "definition": null}),
        )
    }
}

/// Grape's Boolean coercion.
fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().and_then(|n| match n {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" | "yes" | "y" => Some(true),
            "false" | "0" | "f" | "no" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The optional hook attributes of `POST`/`PUT` (doc/api/project_webhooks.md).
fn apply_params(hook: &mut Hook, params: &Map<String, Value>) -> Result<(), Resp> {
    for (field, _, _) in TRIGGERS {
        if let Some(v) = params.get(*field) {
            let on = boolean(v).ok_or_else(|| bad_request(&format!("{field} is invalid")))?;
            hook.triggers.insert(field, on);
        }
    }
    if let Some(v) = params.get("enable_ssl_verification") {
        hook.enable_ssl_verification =
            boolean(v).ok_or_else(|| bad_request("enable_ssl_verification is invalid"))?;
    }
    let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_owned);
    if params.contains_key("name") {
        hook.name = text("name");
    }
    if params.contains_key("description") {
        hook.description = text("description");
    }
    if params.contains_key("token") {
        hook.token = text("token").filter(|t| !t.is_empty());
    }
    if let Some(f) = text("push_events_branch_filter") {
        hook.push_events_branch_filter = f;
    }
    if let Some(s) = text("branch_filter_strategy") {
        if !matches!(s.as_str(), "wildcard" | "regex" | "all_branches") {
            return Err(bad_request(
                "branch_filter_strategy does not have a valid value",
            ));
        }
        hook.branch_filter_strategy = s;
    }
    if params.contains_key("custom_webhook_template") {
        hook.custom_webhook_template = text("custom_webhook_template");
    }
    if let Some(Value::Array(list)) = params.get("custom_headers") {
        for h in list {
            if let (Some(k), Some(v)) = (h["key"].as_str(), h["value"].as_str()) {
                hook.custom_headers.retain(|(x, _)| x != k);
                hook.custom_headers.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    Ok(())
}
