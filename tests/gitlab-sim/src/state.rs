//! What the simulated instance holds: users with personal access tokens, projects, project
//! hooks, application settings, feature flags, and the log of hook deliveries.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{Map, Value, json};

/// Project access levels (doc/api/members.md, "Roles").
pub const DEVELOPER: u8 = 30;
pub const MAINTAINER: u8 = 40;
pub const OWNER: u8 = 50;

/// Every boolean trigger of a project hook (doc/api/project_webhooks.md, "Add a webhook to a
/// project"), with the webhook scope it belongs to and the `X-Gitlab-Event` it sends
/// (app/services/web_hook_service.rb `hook_to_event`: the scope singularised and titleised).
pub const TRIGGERS: &[(&str, &str, &str)] = &[
    ("push_events", "push_hooks", "Push Hook"),
    ("tag_push_events", "tag_push_hooks", "Tag Push Hook"),
    ("issues_events", "issue_hooks", "Issue Hook"),
    (
        "confidential_issues_events",
        "confidential_issue_hooks",
        "Confidential Issue Hook",
    ),
    ("note_events", "note_hooks", "Note Hook"),
    (
        "confidential_note_events",
        "confidential_note_hooks",
        "Confidential Note Hook",
    ),
    (
        "merge_requests_events",
        "merge_request_hooks",
        "Merge Request Hook",
    ),
    ("job_events", "job_hooks", "Job Hook"),
    ("pipeline_events", "pipeline_hooks", "Pipeline Hook"),
    ("wiki_page_events", "wiki_page_hooks", "Wiki Page Hook"),
    ("deployment_events", "deployment_hooks", "Deployment Hook"),
    (
        "feature_flag_events",
        "feature_flag_hooks",
        "Feature Flag Hook",
    ),
    ("releases_events", "release_hooks", "Release Hook"),
    ("emoji_events", "emoji_hooks", "Emoji Hook"),
    (
        "resource_access_token_events",
        "resource_access_token_hooks",
        "Resource Access Token Hook",
    ),
];

pub struct User {
    pub id: u64,
    pub username: String,
    pub admin: bool,
    /// Access level on every project (admins are owners).
    pub access: u8,
}

pub struct Token {
    pub secret: String,
    pub user_id: u64,
    pub scopes: Vec<String>,
}

pub struct Project {
    pub id: u64,
    pub path_with_namespace: String,
    pub created_at: i64,
}

impl Project {
    pub fn name(&self) -> &str {
        self.path_with_namespace
            .rsplit('/')
            .next()
            .unwrap_or(&self.path_with_namespace)
    }

    /// API::Entities::Project, the fields a client of the hooks API looks at.
    pub fn json(&self, external_url: &str, access: u8) -> Value {
        let namespace = self
            .path_with_namespace
            .rsplit_once('/')
            .map_or("", |(n, _)| n);
        let web_url = format!(
            "{}/{}",
            external_url.trim_end_matches('/'),
            self.path_with_namespace
        );
        json!({
            "id": self.id,
            "description": null,
            "name": self.name(),
            "name_with_namespace": self.path_with_namespace.replace('/', " / "),
            "path": self.name(),
            "path_with_namespace": self.path_with_namespace,
            "created_at": iso(self.created_at),
            "default_branch": "main",
            "visibility": "private",
            "web_url": web_url,
            "http_url_to_repo": format!("{web_url}.git"),
            "namespace": {"name": namespace, "path": namespace, "full_path": namespace, "kind": "group"},
            "archived": false,
            "permissions": {"project_access": {"access_level": access, "notification_level": 3}, "group_access": null},
        })
    }
}

#[derive(Clone)]
pub struct Hook {
    pub id: u64,
    pub project_id: u64,
    pub url: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub token: Option<String>,
    pub triggers: BTreeMap<&'static str, bool>,
    pub enable_ssl_verification: bool,
    pub push_events_branch_filter: String,
    pub branch_filter_strategy: String,
    pub custom_webhook_template: Option<String>,
    pub custom_headers: Vec<(String, String)>,
    pub created_at: i64,
    /// Failed deliveries in a row (app/models/concerns/web_hooks/auto_disabling.rb).
    pub recent_failures: u32,
    /// The end of a temporary disabling, in ms.
    pub disabled_until: Option<i64>,
}

/// WebHooks::AutoDisabling (app/models/concerns/web_hooks/auto_disabling.rb, the
/// `auto_disabling_web_hooks` ops flag on, as for project hooks): after more than
/// `TEMPORARILY_DISABLED_FAILURE_THRESHOLD` failures in a row a hook is off until
/// `disabled_until`, its back-off starting at `INITIAL_BACKOFF` and doubling up to
/// `MAX_BACKOFF`; after more than `PERMANENTLY_DISABLED_FAILURE_THRESHOLD` it is off for good.
const TEMPORARILY_DISABLED_FAILURE_THRESHOLD: u32 = 3;
const PERMANENTLY_DISABLED_FAILURE_THRESHOLD: u32 = 39;
const INITIAL_BACKOFF_MS: i64 = 60_000;
const MAX_BACKOFF_MS: i64 = 86_400_000;

impl Hook {
    /// `temporarily_disabled?`: a back-off not over yet, between the two thresholds.
    fn temporarily_disabled(&self, now: i64) -> bool {
        self.disabled_until.is_some_and(|until| until >= now)
            && (TEMPORARILY_DISABLED_FAILURE_THRESHOLD + 1..=PERMANENTLY_DISABLED_FAILURE_THRESHOLD)
                .contains(&self.recent_failures)
    }

    /// `permanently_disabled?` (with the old definition the source keeps until a migration:
    /// over the first threshold and no `disabled_until`).
    fn permanently_disabled(&self) -> bool {
        self.recent_failures > PERMANENTLY_DISABLED_FAILURE_THRESHOLD
            || (self.recent_failures > TEMPORARILY_DISABLED_FAILURE_THRESHOLD
                && self.disabled_until.is_none())
    }

    /// `alert_status`: `temporarily_disabled`, `disabled` or `executable`.
    pub fn alert_status(&self, now: i64) -> &'static str {
        if self.temporarily_disabled(now) {
            "temporarily_disabled"
        } else if self.permanently_disabled() {
            "disabled"
        } else {
            "executable"
        }
    }

    /// `enable!`: a delivery succeeded.
    pub fn enable(&mut self) {
        self.recent_failures = 0;
        self.disabled_until = None;
    }

    /// `backoff!`: a delivery failed; nothing changes while the hook is not executable.
    pub fn backoff(&mut self, now: i64) {
        if self.alert_status(now) != "executable" {
            return;
        }
        let next = (self.recent_failures + 1).clamp(1, PERMANENTLY_DISABLED_FAILURE_THRESHOLD + 1);
        if next > TEMPORARILY_DISABLED_FAILURE_THRESHOLD {
            // `next_backoff`: from the count before this failure.
            let steps = self
                .recent_failures
                .saturating_sub(TEMPORARILY_DISABLED_FAILURE_THRESHOLD)
                .min(30);
            let backoff = INITIAL_BACKOFF_MS
                .saturating_mul(1_i64 << steps)
                .clamp(INITIAL_BACKOFF_MS, MAX_BACKOFF_MS);
            self.disabled_until = Some(now + backoff);
        }
        self.recent_failures = next;
    }

    /// API::Entities::ProjectHook (doc/api/project_webhooks.md "Get a project webhook"): the
    /// token is never shown, custom headers only by key.
    pub fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "url": self.url,
            "name": self.name,
            "description": self.description,
            "project_id": self.project_id,
            "push_events_branch_filter": self.push_events_branch_filter,
            "branch_filter_strategy": self.branch_filter_strategy,
            "enable_ssl_verification": self.enable_ssl_verification,
            "repository_update_events": false,
            "alert_status": self.alert_status(now_ms()),
            "disabled_until": self.disabled_until.map(iso),
            "url_variables": [],
            "created_at": iso(self.created_at),
            "custom_webhook_template": self.custom_webhook_template,
            "custom_headers": self.custom_headers.iter().map(|(k, _)| json!({"key": k})).collect::<Vec<_>>(),
        });
        for (field, on) in &self.triggers {
            v[*field] = json!(on);
        }
        v
    }
}

/// One delivery, as `GET /projects/:id/hooks/:hook_id/events` shows it (GitLab 17.3+).
pub struct Delivery {
    pub hook_id: u64,
    pub json: Value,
}

pub struct State {
    pub users: Vec<User>,
    pub tokens: Vec<Token>,
    pub projects: Vec<Project>,
    pub hooks: Vec<Hook>,
    pub next_hook: u64,
    pub settings: Map<String, Value>,
    pub features: HashMap<String, bool>,
    pub deliveries: Vec<Delivery>,
    /// `web_hook_test` rate limit: (project, user) → times of the calls in the window.
    pub test_calls: HashMap<(u64, u64), Vec<i64>>,
}

impl State {
    pub fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// A project by numeric id or by its (URL-decoded) full path, case-insensitively.
    pub fn project(&self, key: &str) -> Option<&Project> {
        match key.parse::<u64>() {
            Ok(id) => self.projects.iter().find(|p| p.id == id),
            Err(_) => self
                .projects
                .iter()
                .find(|p| p.path_with_namespace.eq_ignore_ascii_case(key)),
        }
    }

    pub fn setting_bool(&self, key: &str) -> bool {
        self.settings
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// ApplicationSetting defaults for the keys the simulator knows (doc/api/settings.md); the
/// outbound-request ones are what webhooks depend on.
pub fn default_settings() -> Map<String, Value> {
    let v = json!({
        "id": 1,
        "allow_local_requests_from_web_hooks_and_services": false,
        "allow_local_requests_from_system_hooks": true,
        "dns_rebinding_protection_enabled": true,
        "outbound_local_requests_whitelist": [],
        "deny_all_requests_except_allowed": false,
        "signup_enabled": true,
        "require_admin_approval_after_user_signup": true,
        "default_project_visibility": "private",
        "max_attachment_size": 100,
        "health_check_access_token": null,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// GitLab's API dates: ISO 8601 UTC with milliseconds, e.g. `2026-01-10T15:23:28.123Z`.
pub fn iso(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// A random (version 4) UUID, as SecureRandom.uuid.
pub fn uuid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook() -> Hook {
        Hook {
            id: 1,
            project_id: 1,
            url: "http://rocketchat:3000/hooks/a/b".to_owned(),
            name: None,
            description: None,
            token: None,
            triggers: BTreeMap::new(),
            enable_ssl_verification: true,
            push_events_branch_filter: String::new(),
            branch_filter_strategy: "wildcard".to_owned(),
            custom_webhook_template: None,
            custom_headers: Vec::new(),
            created_at: 0,
            recent_failures: 0,
            disabled_until: None,
        }
    }

    /// auto_disabling.rb: three failures are tolerated; the fourth disables the hook for
    /// INITIAL_BACKOFF (1 minute), the fifth (once executable again) for 2, and so on up to a
    /// day; past 39 it is disabled for good; a success resets it.
    #[test]
    fn failing_hooks_back_off_then_are_disabled_and_a_success_resets_them() {
        let mut h = hook();
        let now = 1_000_000;
        for _ in 0..3 {
            h.backoff(now);
        }
        assert_eq!((h.recent_failures, h.disabled_until), (3, None));
        assert_eq!(h.alert_status(now), "executable");
        h.backoff(now);
        assert_eq!(h.disabled_until, Some(now + 60_000));
        assert_eq!(h.alert_status(now), "temporarily_disabled");
        // Failures while disabled change nothing (`backoff!` returns unless executable).
        h.backoff(now + 1);
        assert_eq!(h.recent_failures, 4);
        let later = now + 60_001;
        assert_eq!(h.alert_status(later), "executable");
        h.backoff(later);
        assert_eq!(h.disabled_until, Some(later + 120_000));
        let mut t = later;
        while h.recent_failures <= PERMANENTLY_DISABLED_FAILURE_THRESHOLD {
            t = h.disabled_until.unwrap_or(t) + 1;
            h.backoff(t);
            assert!(h.disabled_until.unwrap() - t <= MAX_BACKOFF_MS);
        }
        assert_eq!(h.recent_failures, 40);
        assert_eq!(h.alert_status(t + MAX_BACKOFF_MS + 1), "disabled");
        h.enable();
        assert_eq!((h.recent_failures, h.disabled_until), (0, None));
        assert_eq!(h.json()["alert_status"], "executable");
        assert_eq!(h.json()["disabled_until"], Value::Null);
    }
}
