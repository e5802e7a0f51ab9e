//! Webhook delivery, as `POST /projects/:id/hooks/:hook_id/test/:trigger` makes it
//! (lib/api/hooks/trigger_test.rb → TestHooks::ProjectService → WebHookService#execute with
//! `force: true`): the recorded payload of that trigger, POSTed with GitLab's headers, the
//! outcome logged as a hook event.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::net;
use crate::state::{Hook, uuid};

/// The sample each trigger sends: GitLab builds it from the project's own data; the simulator
/// sends the recorded payloads the webhook script is tested with (tests/gitlab-script/payloads).
pub fn payload(trigger: &str) -> Option<&'static str> {
    Some(match trigger {
        "push_events" => include_str!("../../gitlab-script/payloads/push.json"),
        "tag_push_events" => include_str!("../../gitlab-script/payloads/tag-push.json"),
        "merge_requests_events" => {
            include_str!("../../gitlab-script/payloads/merge-request-open.json")
        }
        "pipeline_events" => include_str!("../../gitlab-script/payloads/pipeline-success.json"),
        "issues_events" => include_str!("../../gitlab-script/payloads/issue-open.json"),
        "confidential_issues_events" => {
            include_str!("../../gitlab-script/payloads/confidential-issue.json")
        }
        "note_events" => include_str!("../../gitlab-script/payloads/note-merge-request.json"),
        "confidential_note_events" => {
            include_str!("../../gitlab-script/payloads/confidential-note.json")
        }
        "wiki_page_events" => include_str!("../../gitlab-script/payloads/wiki-page.json"),
        _ => return None,
    })
}

/// TestHooks::ProjectService's answer for a trigger that has no sample data in an empty
/// project (its `no_data_error`); `None` when the simulator has a recorded payload.
pub fn no_data(trigger: &str) -> Option<String> {
    if payload(trigger).is_some() {
        return None;
    }
    Some(match trigger {
        "job_events" => "Ensure the project has CI jobs.".to_owned(),
        "deployment_events" => "Ensure the project has deployments.".to_owned(),
        "releases_events" => "Ensure the project has releases.".to_owned(),
        other => format!("gitlab-sim has no recorded payload for `{other}`"),
    })
}

/// What one delivery came to: `Ok(status)` when the receiver answered, else the error text
/// WebHookService#execute reports (`e.to_s`).
pub struct Outcome {
    pub result: Result<u16, String>,
    pub body: String,
    pub response_headers: Value,
    pub request_headers: Vec<(String, String)>,
    pub elapsed: Duration,
}

/// Where the hook's URL points, checked the way Gitlab::UrlBlocker does when local requests
/// are not allowed: every resolved address must be public. `Err` is the blocked message.
pub async fn check_url(url: &str, allow_local: bool) -> Result<(), String> {
    let parsed =
        url::Url::parse(url).map_err(|_| "Only allowed schemes are http, https".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("Only allowed schemes are http, https".to_owned());
    }
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| "Host cannot be resolved or invalid".to_owned())?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err("Host cannot be resolved or invalid".to_owned());
    }
    if allow_local {
        return Ok(());
    }
    for ip in addrs {
        if let Some(reason) = net::blocked_reason(ip) {
            return Err(reason.to_owned());
        }
    }
    Ok(())
}

/// WebHookService#build_headers: custom headers first, GitLab's own win.
pub fn headers(hook: &Hook, event: &str, version: &str, instance: &str) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = hook.custom_headers.clone();
    let own = [
        ("Content-Type", "application/json".to_owned()),
        ("User-Agent", format!("GitLab/{version}")),
        // Stable across retries of one execution; a test is one execution.
        ("Idempotency-Key", uuid()),
        ("X-Gitlab-Event", event.to_owned()),
        // Per request.
        ("X-Gitlab-Webhook-UUID", uuid()),
        ("X-Gitlab-Instance", instance.to_owned()),
        // Gitlab::WebHooks::RecursionDetection: the UUID of the request that caused the hook.
        ("X-Gitlab-Event-UUID", uuid()),
    ];
    for (name, value) in own {
        h.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        h.push((name.to_owned(), value));
    }
    if let Some(token) = hook.token.as_deref().filter(|t| !t.is_empty()) {
        h.retain(|(k, _)| !k.eq_ignore_ascii_case("X-Gitlab-Token"));
        // Gitlab::Utils.remove_line_breaks
        h.push(("X-Gitlab-Token".to_owned(), token.replace(['\r', '\n'], "")));
    }
    h
}

/// POSTs the payload (Gitlab::HTTP.post with the hook's timeout; redirects are not followed).
pub async fn send(
    url: &str,
    body: &str,
    headers: Vec<(String, String)>,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build();
    let mut outcome = Outcome {
        result: Err("internal error".to_owned()),
        body: String::new(),
        response_headers: json!({}),
        request_headers: headers.clone(),
        elapsed: Duration::ZERO,
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            outcome.result = Err(e.to_string());
            return outcome;
        }
    };
    let mut request = client.post(url).body(body.to_owned());
    for (k, v) in &headers {
        request = request.header(k.as_str(), v.as_str());
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            outcome.response_headers = response
                .headers()
                .iter()
                .take(50)
                .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or_default())))
                .collect::<serde_json::Map<_, _>>()
                .into();
            // RESPONSE_BODY_SIZE_LIMIT: 8 KiB kept for display.
            let bytes = response.bytes().await.unwrap_or_default();
            let cut = bytes.len().min(8 * 1024);
            outcome.body = String::from_utf8_lossy(&bytes[..cut]).into_owned();
            outcome.result = Ok(status);
        }
        Err(e) => outcome.result = Err(net_error(url, &e)),
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// The Ruby exception text GitLab shows for a failed connection.
fn net_error(url: &str, e: &reqwest::Error) -> String {
    let parsed = url::Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let port = parsed.and_then(|u| u.port_or_known_default()).unwrap_or(80);
    if e.is_timeout() {
        "Net::ReadTimeout with #<TCPSocket:(closed)>".to_owned()
    } else if e.is_connect() {
        format!(
            "Failed to open TCP connection to {host}:{port} (Connection refused - connect(2) for \"{host}\" port {port})"
        )
    } else {
        e.to_string()
    }
}

/// The hook event log entry (doc/api/project_webhooks.md, "Get a list of project webhook
/// events"); the token and custom header values are redacted.
pub fn log_entry(
    id: u64,
    hook: &Hook,
    trigger_scope: &str,
    payload: &Value,
    outcome: &Outcome,
) -> Value {
    let mut request_headers = serde_json::Map::new();
    for (k, v) in &outcome.request_headers {
        let custom = hook
            .custom_headers
            .iter()
            .any(|(c, _)| c.eq_ignore_ascii_case(k));
        let shown = if k.eq_ignore_ascii_case("X-Gitlab-Token") || custom {
            "[REDACTED]".to_owned()
        } else {
            v.clone()
        };
        request_headers.insert(k.clone(), json!(shown));
    }
    json!({
        "id": id,
        "url": hook.url,
        "trigger": trigger_scope,
        "request_headers": request_headers,
        "request_data": payload,
        "response_headers": outcome.response_headers,
        "response_body": outcome.body,
        "execution_duration": outcome.elapsed.as_secs_f64(),
        "response_status": match &outcome.result {
            Ok(status) => status.to_string(),
            Err(_) => "internal error".to_owned(),
        },
        "internal_error_message": outcome.result.as_ref().err(),
    })
}
