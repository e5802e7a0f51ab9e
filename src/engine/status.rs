//! `status`: each service's container as Docker reports it — state, health, a job's result,
//! uptime and published ports.

use std::fmt::Write as _;

use serde::Serialize;

use super::docker::DockerApi;
use super::labels;
use crate::error::Error;
use crate::stack::Stack;

/// One service's status.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub container: Option<String>,
    /// `running`, `exited`, `created`, ... or `missing`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    pub job: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Human uptime, e.g. `Up 2 minutes` as Docker words it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub ports: Vec<String>,
}

/// Collects the status of every service in the stack file.
pub async fn status(stack: &Stack, docker: &DockerApi) -> Result<Vec<ServiceStatus>, Error> {
    let containers = docker.project_containers(&stack.project).await?;
    let mut out = Vec::new();
    for (name, service) in &stack.services {
        let found = containers.iter().find(|c| {
            let l = c.labels.clone().unwrap_or_default();
            l.get(labels::SERVICE) == Some(name)
                && l.get(labels::ONEOFF).map(String::as_str) != Some("True")
        });
        let Some(container) = found else {
            out.push(ServiceStatus {
                service: name.clone(),
                container: None,
                state: "missing".to_owned(),
                health: None,
                job: service.is_job(),
                exit_code: None,
                started_at: None,
                status: None,
                ports: Vec::new(),
            });
            continue;
        };
        let id = container.id.clone().unwrap_or_default();
        let inspect = docker.inspect(&id).await?;
        let state = inspect.state.clone().unwrap_or_default();
        let ports = container
            .ports
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                p.public_port.map(|public| {
                    format!(
                        "{}:{public}->{}/{}",
                        p.ip.clone().unwrap_or_default(),
                        p.private_port,
                        p.typ.map(|t| t.to_string()).unwrap_or_default()
                    )
                })
            })
            .collect();
        let exited = state.status.map(|s| s.to_string()).unwrap_or_default();
        out.push(ServiceStatus {
            service: name.clone(),
            container: container
                .names
                .clone()
                .and_then(|n| n.first().cloned())
                .map(|n| n.trim_start_matches('/').to_owned()),
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            job: service.is_job(),
            exit_code: (exited == "exited").then_some(state.exit_code).flatten(),
            started_at: state.started_at.filter(|s| !s.starts_with("0001")),
            status: container.status.clone(),
            state: exited,
            ports,
        });
    }
    Ok(out)
}

/// The status table for people.
#[must_use]
pub fn render(statuses: &[ServiceStatus]) -> String {
    let width = statuses
        .iter()
        .map(|s| s.service.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!(
        "{:width$}  {:10} {:10} {:22} PORTS\n",
        "SERVICE", "STATE", "HEALTH", "STATUS"
    );
    for s in statuses {
        let state = match (s.job, s.exit_code) {
            (true, Some(0)) => "completed".to_owned(),
            (true, Some(code)) => format!("failed({code})"),
            _ => s.state.clone(),
        };
        let _ = writeln!(
            out,
            "{:width$}  {:10} {:10} {:22} {}",
            s.service,
            state,
            s.health.as_deref().unwrap_or("-"),
            s.status.as_deref().unwrap_or("-"),
            s.ports.join(", ")
        );
    }
    out
}
