//! Alerts into the team's room through a Rocket.Chat incoming webhook: the message bodies
//! (raw JSON with one attachment per incident, the shape Gatus and Uptime Kuma send,
//! `../shared/brief/status.md` §6 — Rocket.Chat 7.4+ refuses the old form-encoded body), and
//! the sender that drains the outbox in order, retrying with backoff until the room has it.
//!
//! The hook URL is a secret (its last segment is the token): it is never logged, and a failed
//! attempt is recorded without it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::store::{Incident, Store, locked, now_ms};
use crate::retry::RetryPolicy;

/// Red while down, green once resolved (Gatus's and Alertmanager's colours).
const RED: &str = "#dd0000";
const GREEN: &str = "#36a64f";
const AMBER: &str = "#e8a200";
/// One attempt's bound.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Between attempts: 1 s growing to 5 min, jittered.
const BACKOFF: RetryPolicy = RetryPolicy::Exponential {
    min: Duration::from_secs(1),
    max: Duration::from_secs(300),
    factor: 2.0,
};

fn since(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn with_link(mut attachment: Value, page: Option<&str>) -> Value {
    if let Some(url) = page {
        attachment["title_link"] = json!(url);
    }
    attachment
}

/// The alert for a newly opened incident: the service at the root of what failed, the checks
/// of its dependents that fail with it, and every service that needs it.
#[must_use]
pub fn opened(
    root: &Incident,
    failing: &[&Incident],
    dependents: &[String],
    page: Option<&str>,
) -> String {
    let mut fields = vec![
        json!({"title": "Check", "value": format!("`{}`: {}", root.check, root.detail), "short": false}),
    ];
    if !dependents.is_empty() {
        let lines: Vec<String> = dependents
            .iter()
            .map(|service| {
                let checks: Vec<String> = failing
                    .iter()
                    .filter(|i| &i.service == service)
                    .map(|i| format!("`{}`", i.check))
                    .collect();
                if checks.is_empty() {
                    service.clone()
                } else {
                    format!("{service} (failing: {})", checks.join(", "))
                }
            })
            .collect();
        fields.push(json!({"title": "Affected", "value": lines.join("\n"), "short": false}));
    }
    let summary = if dependents.is_empty() {
        format!(":red_circle: {} is down", root.service)
    } else {
        format!(
            ":red_circle: {} is down; affected: {}",
            root.service,
            dependents.join(", ")
        )
    };
    let attachment = json!({
        "title": format!("Incident #{}: {} is down", root.id, root.service),
        "text": format!("Down since {}.", since(root.opened_at)),
        "color": RED,
        "fields": fields,
    });
    json!({"text": summary, "attachments": [with_link(attachment, page)]}).to_string()
}

/// The reminder while an incident stays open.
#[must_use]
pub fn reminder(
    incident: &Incident,
    dependents: &[String],
    now: i64,
    page: Option<&str>,
) -> String {
    let minutes = (now - incident.opened_at) / 60_000;
    let mut text = format!(
        ":red_circle: still down: {} (for {minutes} min)",
        incident.service
    );
    if !dependents.is_empty() {
        text.push_str("; affected: ");
        text.push_str(&dependents.join(", "));
    }
    let attachment = json!({
        "title": format!("Incident #{}: {} is still down", incident.id, incident.service),
        "text": format!("Down since {}; status: {}.", since(incident.opened_at), incident.status),
        "color": AMBER,
        "fields": [{"title": "Check", "value": format!("`{}`: {}", incident.check, incident.detail), "short": false}],
    });
    json!({"text": text, "attachments": [with_link(attachment, page)]}).to_string()
}

/// The alert once an incident is resolved, naming the grouped checks still failing.
#[must_use]
pub fn resolved(incident: &Incident, still_failing: &[Incident], page: Option<&str>) -> String {
    let took = incident
        .resolved_at
        .map_or(0, |end| (end - incident.opened_at) / 1000);
    let mut fields = vec![
        json!({"title": "Check", "value": format!("`{}` passes again", incident.check), "short": false}),
    ];
    if !still_failing.is_empty() {
        let list: Vec<String> = still_failing
            .iter()
            .map(|i| format!("`{}` ({})", i.check, i.service))
            .collect();
        fields.push(json!({"title": "Still failing", "value": list.join("\n"), "short": false}));
    }
    let attachment = json!({
        "title": format!("Incident #{}: {} recovered", incident.id, incident.service),
        "text": format!("Down from {} for {}.", since(incident.opened_at), humantime::format_duration(Duration::from_secs(u64::try_from(took).unwrap_or(0)))),
        "color": GREEN,
        "fields": fields,
    });
    json!({"text": format!(":white_check_mark: {} recovered", incident.service), "attachments": [with_link(attachment, page)]})
        .to_string()
}

/// Where the hook's URL comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The URL itself (from the environment).
    Url(String),
    /// A file holding it, read at each attempt: the stack's hook job may write it after
    /// `serve` starts (alerts wait in the outbox until it is there), and may rewrite it.
    File(std::path::PathBuf),
}

/// The largest hook URL file read.
const URL_FILE_LIMIT: u64 = 64 * 1024;

/// Where alerts go.
pub struct Webhook {
    source: Source,
    http: reqwest::Client,
}

impl Webhook {
    /// # Errors
    /// No HTTP client.
    pub fn new(source: Source) -> Result<Self, crate::error::Error> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .map_err(|e| crate::error::Error::failed(format!("no HTTP client: {e}")))?;
        Ok(Self { source, http })
    }

    fn url(&self) -> Result<reqwest::Url, String> {
        let text = match &self.source {
            Source::Url(url) => url.clone(),
            Source::File(path) => crate::limits::read_text(path, URL_FILE_LIMIT).map_err(|e| {
                format!(
                    "cannot read the hook URL file `{}`: {}",
                    path.display(),
                    crate::reason::io_reason(&e)
                )
            })?,
        };
        // The parser's message never quotes the URL.
        reqwest::Url::parse(text.trim()).map_err(|e| format!("the alert webhook is not a URL: {e}"))
    }

    /// Posts one body; the error says why without the URL.
    async fn post(&self, body: &str) -> Result<(), String> {
        let url = self.url()?;
        let reply = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| crate::redact::text(&e.without_url().to_string()))?;
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        // An incoming webhook answers {"success":true}; anything else is not delivered.
        if status.is_success() && text.contains("\"success\":true") {
            Ok(())
        } else {
            let reason: String = text.chars().take(200).collect();
            Err(format!("HTTP {status}: {}", crate::redact::text(&reason)))
        }
    }
}

/// Drains the outbox forever: oldest first, each until delivered, waking on `wake`.
pub async fn send_loop(
    store: Arc<std::sync::Mutex<Store>>,
    hook: Webhook,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut delays = BACKOFF.delays();
    loop {
        let next = locked(&store).next_pending();
        let pending = match next {
            Ok(Some(p)) => p,
            Ok(None) => {
                delays = BACKOFF.delays();
                // Woken by a new alert; the minute bound also retries after a lost wake-up.
                let _ = tokio::time::timeout(Duration::from_secs(60), wake.notified()).await;
                continue;
            }
            Err(e) => {
                tracing::warn!("outbox: {}", e.message());
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let started = std::time::Instant::now();
        match hook.post(&pending.body).await {
            Ok(()) => {
                tracing::debug!(
                    alert = pending.id,
                    ms = started.elapsed().as_millis(),
                    "alert delivered"
                );
                if let Err(e) = locked(&store).sent(pending.id, now_ms()) {
                    tracing::warn!("outbox: {}", e.message());
                }
                delays = BACKOFF.delays();
            }
            Err(reason) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(60));
                tracing::warn!(alert = pending.id, attempts = pending.attempts + 1, retry_in = ?delay, "alert not delivered: {reason}");
                if let Err(e) = locked(&store).attempt_failed(pending.id, &reason) {
                    tracing::warn!("outbox: {}", e.message());
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}
