//! `init gitlab-webhook`: the project hook that sends GitLab's events to Rocket.Chat, created
//! or brought up to date (doc/api/project_webhooks.md). Each attempt looks at GitLab afresh:
//! an identical hook is left alone, a different one is updated in place, never duplicated.
//!
//! GitLab never returns a hook's secret token, so the job keeps a fingerprint of it (SHA-256
//! of a fixed label, the hook URL and the token, 64 bits shown) in the hook's `description`
//! (GitLab 17.1+) and compares that. A GitLab without `description` gets the token again on
//! every run.
//!
//! GitLab refuses hook URLs on the local network unless an administrator allows it
//! (`allow_local_requests_from_web_hooks_and_services`, doc/security/webhooks.md); a stack
//! where Rocket.Chat is a neighbour on a private network needs exactly that, so when GitLab
//! answers 422 "Invalid url given" for a private or loopback target the job turns the setting
//! on (an administrator's token is needed) and says so.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Client, GlError, project_segment};
use crate::error::Error;
use crate::job::Step;

/// Every boolean trigger `--events` may name (doc/api/project_webhooks.md), without `_events`.
pub const EVENTS: &[&str] = &[
    "push",
    "tag_push",
    "merge_requests",
    "pipeline",
    "issues",
    "note",
    "confidential_issues",
    "confidential_note",
    "job",
    "wiki_page",
    "deployment",
    "releases",
    "feature_flag",
    "emoji",
    "resource_access_token",
];

/// What the GitLab → Rocket.Chat script describes (compose/chat/integrations/gitlab.js).
pub const DEFAULT_EVENTS: &str =
    "push,tag_push,merge_requests,pipeline,issues,note,confidential_issues,confidential_note";

/// The setting that lets webhooks reach private and loopback addresses.
pub const ALLOW_LOCAL: &str = "allow_local_requests_from_web_hooks_and_services";

/// After a change of ours, the next attempt reads it back at once instead of backing off.
const VERIFY_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// What changed, kept across attempts.
pub type Changes = Arc<Mutex<Vec<String>>>;

fn note(changes: &Changes, line: String) {
    changes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(line);
}

fn changed(changes: &Changes) -> bool {
    !changes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
}

/// What `init gitlab-webhook` should make.
#[derive(Clone)]
pub struct WebhookSpec {
    /// `group/project` or a numeric id.
    pub project: String,
    /// The Rocket.Chat hook URL: a secret, never shown whole.
    pub target: url::Url,
    /// The webhook's secret token (`X-Gitlab-Token`).
    pub secret: Option<String>,
    /// Trigger names from [`EVENTS`] to turn on; the others are turned off.
    pub events: Vec<String>,
    /// The hook's `name` (GitLab 17.1+).
    pub name: String,
    pub ssl_verification: bool,
}

impl WebhookSpec {
    /// `description`: says who manages the hook and carries the token's fingerprint.
    fn description(&self) -> String {
        use sha2::{Digest, Sha256};
        match &self.secret {
            None => "managed by stackctl (init gitlab-webhook); no secret token".to_owned(),
            Some(secret) => {
                let digest = Sha256::digest(
                    format!("stackctl gitlab-webhook\n{}\n{secret}", self.target).as_bytes(),
                );
                let short = digest[..8].iter().fold(String::new(), |mut s, b| {
                    use std::fmt::Write as _;
                    let _ = write!(s, "{b:02x}");
                    s
                });
                format!(
                    "managed by stackctl (init gitlab-webhook); secret token fingerprint {short}"
                )
            }
        }
    }

    /// The attributes to send (POST and PUT).
    fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("url".into(), json!(self.target.as_str()));
        body.insert("name".into(), json!(self.name));
        body.insert("description".into(), json!(self.description()));
        body.insert(
            "token".into(),
            json!(self.secret.clone().unwrap_or_default()),
        );
        body.insert(
            "enable_ssl_verification".into(),
            json!(self.ssl_verification),
        );
        for event in EVENTS {
            body.insert(
                format!("{event}_events"),
                json!(self.events.iter().any(|e| e == event)),
            );
        }
        Value::Object(body)
    }

    fn shown_target(&self) -> String {
        crate::redact::url_path(&self.target)
    }
}

/// A failed call as a job step: transient errors are retried, the API's refusals fail with
/// the likely fix.
fn step<T>(what: &str, err: &GlError, project: &str) -> Step<T> {
    if let GlError::RateLimited { wait, .. } = err {
        return Step::RetryAfter(*wait, format!("{what}: {}", err.reason()));
    }
    if err.transient() {
        return Step::Retry(format!("{what}: {}", err.reason()));
    }
    let failed = Error::failed(format!("{what}: {}", err.reason()));
    Step::Fail(match (err.status(), err) {
        (Some(401), _) => failed.with_hint(
            "give a personal access token with the `api` scope that is neither expired nor revoked (`--token-env`/`--token-file`)",
        ),
        (Some(403), GlError::Api { code: Some(c), .. }) if c == "insufficient_scope" => {
            failed.with_hint("create the personal access token with the `api` scope")
        }
        (Some(403), _) => failed.with_hint(format!(
            "the token's user needs the Maintainer role on `{project}` (or to be an administrator)"
        )),
        (Some(404), _) => failed.with_hint(format!(
            "give the project as in its URL (`group/project`) or its numeric id; `{project}` must exist and the token's user must be a member"
        )),
        _ => failed,
    })
}

/// `init gitlab-webhook`.
pub async fn webhook(client: &Client, spec: &WebhookSpec, changes: &Changes) -> Step<Vec<String>> {
    let key = project_segment(&spec.project);
    let project = match client
        .call(Method::GET, &format!("/projects/{key}"), None)
        .await
    {
        Ok(p) => p,
        Err(e) => return step(&format!("project `{}`", spec.project), &e, &spec.project),
    };
    let (Some(id), path) = (
        project["id"].as_u64(),
        project["path_with_namespace"]
            .as_str()
            .unwrap_or(&spec.project)
            .to_owned(),
    ) else {
        return Step::Fail(Error::failed(format!(
            "project `{}`: GitLab's answer has no `id`",
            spec.project
        )));
    };
    let hooks = match client
        // The first page holds 20 by default; 100 is the most one page may hold.
        .call(
            Method::GET,
            &format!("/projects/{id}/hooks?per_page=100"),
            None,
        )
        .await
    {
        Ok(Value::Array(hooks)) => hooks,
        Ok(_) => Vec::new(),
        Err(e) => return step(&format!("hooks of `{path}`"), &e, &path),
    };
    let target = spec.target.as_str();
    let found = hooks
        .iter()
        .find(|h| h["url"] == target)
        .or_else(|| hooks.iter().find(|h| h["name"] == spec.name.as_str()));
    let Some(hook) = found else {
        let body = spec.body();
        return match client
            .call(Method::POST, &format!("/projects/{id}/hooks"), Some(&body))
            .await
        {
            Ok(created) => {
                note(
                    changes,
                    format!(
                        "gitlab hook #{} on `{path}`: created → {} ({})",
                        created["id"],
                        spec.shown_target(),
                        spec.events.join(", ")
                    ),
                );
                Step::RetryAfter(VERIFY_AFTER, format!("hook on `{path}` created; verifying"))
            }
            Err(e) => refused(client, spec, &e, &path, changes).await,
        };
    };
    let hook_id = hook["id"].clone();
    let differences = differences(hook, spec);
    if differences.is_empty() {
        let mut lines = Vec::new();
        if !changed(changes) {
            lines.push(format!(
                "gitlab hook #{hook_id} on `{path}`: already up to date → {}",
                spec.shown_target()
            ));
        }
        return Step::Done(lines);
    }
    let body = spec.body();
    match client
        .call(
            Method::PUT,
            &format!("/projects/{id}/hooks/{hook_id}"),
            Some(&body),
        )
        .await
    {
        Ok(_) => {
            note(
                changes,
                format!(
                    "gitlab hook #{hook_id} on `{path}`: updated ({}) → {}",
                    differences.join(", "),
                    spec.shown_target()
                ),
            );
            Step::RetryAfter(
                VERIFY_AFTER,
                format!("hook #{hook_id} on `{path}` updated; verifying"),
            )
        }
        Err(e) => refused(client, spec, &e, &path, changes).await,
    }
}

/// What differs between the hook GitLab has and the one wanted (only attributes GitLab
/// shows are compared; a missing `description` means the token cannot be compared).
fn differences(hook: &Value, spec: &WebhookSpec) -> Vec<String> {
    let mut out = Vec::new();
    if hook["url"] != spec.target.as_str() {
        out.push("URL".to_owned());
    }
    if hook.get("name").is_some() && hook["name"] != spec.name.as_str() {
        out.push("name".to_owned());
    }
    match hook.get("description") {
        None => out.push("secret token re-sent: this GitLab shows no description".to_owned()),
        Some(d) if *d != json!(spec.description()) => out.push("secret token".to_owned()),
        Some(_) => {}
    }
    if hook.get("enable_ssl_verification").is_some()
        && hook["enable_ssl_verification"] != spec.ssl_verification
    {
        out.push("SSL verification".to_owned());
    }
    let events: Vec<&str> = EVENTS
        .iter()
        .copied()
        .filter(|e| {
            let field = format!("{e}_events");
            hook.get(&field)
                .is_some_and(|v| *v != json!(spec.events.iter().any(|x| x == e)))
        })
        .collect();
    if !events.is_empty() {
        out.push(format!("events: {}", events.join(", ")));
    }
    out
}

/// GitLab refused to save the hook. A 422 "Invalid url given" for a target on the local
/// network is GitLab's outbound-request filter: allow local requests and try again.
async fn refused(
    client: &Client,
    spec: &WebhookSpec,
    err: &GlError,
    path: &str,
    changes: &Changes,
) -> Step<Vec<String>> {
    let what = format!("saving the hook on `{path}`");
    if err.status() != Some(422) {
        return step(&what, err, path);
    }
    let host = spec.target.host_str().unwrap_or_default().to_owned();
    let Some(kind) = local_kind(&spec.target).await else {
        return Step::Fail(
            Error::failed(format!(
                "GitLab refuses the hook URL `{}`: {}",
                spec.shown_target(),
                err.reason()
            ))
            .with_hint("the URL must be `http(s)://` and its host resolvable from GitLab"),
        );
    };
    let already = client
        .call(Method::GET, "/application/settings", None)
        .await
        .ok()
        .is_some_and(|s| s[ALLOW_LOCAL] == true);
    if already {
        return Step::Fail(Error::failed(format!(
            "GitLab refuses the hook URL `{}` although `{ALLOW_LOCAL}` is on: {}",
            spec.shown_target(),
            err.reason()
        )));
    }
    match client
        .call(
            Method::PUT,
            "/application/settings",
            Some(&json!({ ALLOW_LOCAL: true })),
        )
        .await
    {
        Ok(_) => {
            note(
                changes,
                format!(
                    "gitlab: allowed webhooks to reach the local network (`{ALLOW_LOCAL}`), since the hook URL's host `{host}` is {kind}"
                ),
            );
            Step::RetryAfter(
                VERIFY_AFTER,
                "local requests allowed; saving the hook again".to_owned(),
            )
        }
        Err(e) if e.status() == Some(403) => Step::Fail(
            Error::failed(format!(
                "GitLab refuses the hook URL: `{host}` is {kind} and requests to the local network are not allowed; this token may not change that (HTTP 403 on `/application/settings`)"
            ))
            .with_hint(format!(
                "run once with an administrator's token, or tick Admin → Settings → Network → Outbound requests → \"Allow requests to the local network from webhooks and integrations\" (`{ALLOW_LOCAL}`)"
            )),
        ),
        Err(e) => step("allowing local requests", &e, path),
    }
}

/// Whether GitLab's outbound-request filter sees the URL's host as local (Gitlab::UrlBlocker:
/// loopback, RFC 1918 and unique-local, link-local), resolving names as this host does —
/// the job runs in the stack's network, as GitLab does.
pub async fn local_kind(url: &url::Url) -> Option<&'static str> {
    let host = url.host_str()?.trim_matches(['[', ']']).to_owned();
    if host.eq_ignore_ascii_case("localhost") {
        return Some("loopback");
    }
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), url.port_or_known_default()?))
            .await
            .ok()?
            .map(|a| a.ip())
            .collect(),
    };
    addrs.into_iter().find_map(classify)
}

fn classify(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    if ip.is_loopback() || ip.is_unspecified() {
        return Some("loopback");
    }
    match ip {
        IpAddr::V4(v4) if v4.is_link_local() => Some("link-local"),
        IpAddr::V4(v4) if v4.is_private() => Some("a private address"),
        IpAddr::V4(v4) if v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]) => {
            Some("a private address")
        }
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some("link-local"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xfe00 == 0xfc00 => Some("a private address"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WebhookSpec {
        WebhookSpec {
            project: "ops/chat".into(),
            target: url::Url::parse("http://rocketchat:3000/hooks/id/token").unwrap(),
            secret: Some("s3cret".into()),
            events: vec!["push".into(), "pipeline".into()],
            name: "rocketchat".into(),
            ssl_verification: true,
        }
    }

    #[test]
    fn an_identical_hook_has_no_differences() {
        let spec = spec();
        let mut hook = spec.body();
        hook["id"] = json!(3);
        hook.as_object_mut().unwrap().remove("token");
        assert!(differences(&hook, &spec).is_empty());
        hook["pipeline_events"] = json!(false);
        hook["note_events"] = json!(true);
        assert_eq!(differences(&hook, &spec), vec!["events: pipeline, note"]);
        let mut other = spec.clone();
        other.secret = Some("changed".into());
        assert_eq!(differences(&spec.body(), &other), vec!["secret token"]);
        assert!(!spec.description().contains("s3cret"));
    }

    #[test]
    fn local_addresses() {
        assert_eq!(classify("127.0.0.1".parse().unwrap()), Some("loopback"));
        assert_eq!(classify("::1".parse().unwrap()), Some("loopback"));
        assert_eq!(
            classify("172.18.0.4".parse().unwrap()),
            Some("a private address")
        );
        assert_eq!(
            classify("fd12::1".parse().unwrap()),
            Some("a private address")
        );
        assert_eq!(classify("93.184.216.34".parse().unwrap()), None);
    }
}
