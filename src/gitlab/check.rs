//! `check gitlab`: GitLab serves requests. `/-/readiness` says whether its own checks pass
//! (503 while it boots); a 404 there means the endpoint is hidden from this address, which
//! `/-/health` (an empty 404 outside `monitoring_whitelist`, "GitLab OK" inside) tells apart
//! (doc/administration/monitoring/health_check.md, lib/gitlab/middleware/basic_health_check.rb).

use std::time::Instant;

use serde_json::Value;

use super::client::{Answer, Client};
use crate::check::outcome::Outcome;
use crate::output::human_duration;

/// One attempt against a GitLab server.
#[derive(Debug)]
pub struct GitlabCheck {
    client: Client,
}

impl GitlabCheck {
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    #[must_use]
    pub fn target(&self) -> String {
        self.client.shown()
    }

    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let took = || human_duration(started.elapsed());
        let readiness = match self.client.probe("/-/readiness").await {
            Ok(answer) => answer,
            Err(reason) => return Outcome::Unhealthy(reason),
        };
        match readiness.status {
            200 => Outcome::Healthy(format!("`/-/readiness` ok in {}", took())),
            503 => Outcome::Unhealthy(format!(
                "not ready yet: `/-/readiness` answers 503{}",
                failed_checks(&readiness)
            )),
            404 => match self.client.probe("/-/health").await {
                Ok(health) => health_verdict(&health, &took()),
                Err(reason) => Outcome::Unhealthy(format!("`/-/health`: {reason}")),
            },
            502 => Outcome::Unhealthy(
                "HTTP 502 from GitLab's web server (Puma is not up yet; GitLab takes minutes to boot)"
                    .to_owned(),
            ),
            status => Outcome::Unhealthy(format!("`/-/readiness` answers HTTP {status}")),
        }
    }
}

/// `/-/readiness` was a 404: the allowlist, or a GitLab without the endpoint.
fn health_verdict(health: &Answer, took: &str) -> Outcome {
    match health.status {
        200 if health.body.contains("GitLab OK") => Outcome::Healthy(format!(
            "`/-/health` says GitLab OK (no `/-/readiness`) in {took}"
        )),
        404 if health.body.trim().is_empty() => Outcome::Unhealthy(
            "`/-/health` answers an empty 404: this address is not in GitLab's \
             `monitoring_whitelist` (hint: add it, or its network, to \
             `gitlab_rails['monitoring_whitelist']` in `GITLAB_OMNIBUS_CONFIG`)"
                .to_owned(),
        ),
        status => Outcome::Unhealthy(format!(
            "`/-/readiness` answers 404 and `/-/health` HTTP {status}"
        )),
    }
}

/// `: master_check failed (unexpected Master check result: false)` from the readiness JSON
/// (`{"status":"failed","master_check":[{"status":"failed","message":...}]}`).
fn failed_checks(answer: &Answer) -> String {
    let Ok(Value::Object(checks)) = serde_json::from_str::<Value>(&answer.body) else {
        return String::new();
    };
    let failed: Vec<String> = checks
        .iter()
        .filter_map(|(name, results)| {
            let results = results.as_array()?;
            let bad = results.iter().find(|r| r["status"] != "ok")?;
            Some(match bad["message"].as_str() {
                Some(m) => format!("`{name}` failed ({m})"),
                None => format!("`{name}` failed"),
            })
        })
        .collect();
    if failed.is_empty() {
        String::new()
    } else {
        format!(": {}", failed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_failures_are_named() {
        let answer = Answer {
            status: 503,
            body: r#"{"status":"failed","master_check":[{"status":"failed","message":"unexpected Master check result: false"}],"db_check":[{"status":"ok"}]}"#.to_owned(),
        };
        assert_eq!(
            failed_checks(&answer),
            ": `master_check` failed (unexpected Master check result: false)"
        );
        let empty = Answer {
            status: 404,
            body: String::new(),
        };
        assert!(
            matches!(health_verdict(&empty, "1 ms"), Outcome::Unhealthy(r) if r.contains("monitoring_whitelist"))
        );
    }
}
