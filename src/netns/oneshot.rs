//! A probe on another node of a swarm: a one-shot Swarm job pinned to the node of the task it
//! probes for, on that service's networks, running stackctl; its logs carry the results.
//!
//! Why a job on the task's node, not a container on the manager attached to the same overlay:
//! a probe must see what the service sees, and across nodes what differs is precisely the
//! node — its overlay endpoint (VXLAN to each peer, UDP 4789), its embedded DNS server, its
//! load-balancer sandbox for service VIPs, its firewall. A container on the manager would test
//! the manager's path and call a broken worker healthy. A job on the same node, attached to the
//! same networks, resolves and routes through that node's own sandbox, as the task does. It is
//! not the task's own network namespace (Swarm cannot join one, `network_mode: container:` is
//! not a service option): its `/etc/hosts` and its `localhost` are its own — on this node
//! stackctl joins the task's container instead ([`super::runner`]).
//!
//! The plan goes in a Swarm secret (encrypted in the raft log, delivered only to the node that
//! runs the job, mounted on a tmpfs) — never in the spec, which `docker service inspect` shows.
//! The job and the secret are removed whatever happens, Ctrl-C included; both carry the stack's
//! namespace so `down` removes a job left by a killed stackctl.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, NetworkAttachmentConfig, SecretSpec, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicatedJob, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets, TaskSpecPlacement,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{ListTasksOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt;

use super::runner::{Finished, Output};
use crate::engine::docker::{DockerApi, daemon_error, is_not_found};
use crate::engine::labels;
use crate::engine::swarm::tasks::{RunningTask, namespace_label};
use crate::error::Error;

/// Where the plan is mounted in the job's container.
pub const PLAN_PATH: &str = "/run/secrets/stackctl-plan";

/// Where the one-shot job goes.
pub struct OnNode<'a> {
    pub docker: &'a DockerApi,
    /// The probe image as every node pulls it (`registry/stackctl-probe@sha256:…`).
    pub image: String,
    pub project: &'a str,
    /// The task probed for: its service, its node, its service's networks.
    pub task: &'a RunningTask,
}

/// Runs `/stackctl ARGS` as a one-shot job on `on.task.node` with `plan` readable at [`PLAN_PATH`]
/// (`STACKCTL_PLAN_FILE` tells stackctl to read it there instead of stdin), hands each stdout
/// line to `on_line`, and removes the job and the secret whatever happens. `limit` bounds the
/// whole run.
///
/// # Errors
/// When the manager refuses, the job's task fails to start (its image cannot be pulled on the
/// node, …), Ctrl-C, or (a timeout error) when the run outlives `limit`.
pub async fn run(
    on: &OnNode<'_>,
    args: Vec<String>,
    plan: &[u8],
    limit: Duration,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<Finished, Error> {
    let name = format!(
        "{}-{}-probe-{}",
        on.project,
        on.task.service,
        super::runner::suffix()
    );
    let started = Instant::now();
    let mut made = Made::default();
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(limit, create_and_wait(on, &name, args, plan, &mut made)) => {
            outcome.unwrap_or_else(|_| Err(Error::timeout(format!(
                "the probe job for `{}` on node `{}` did not finish within {}",
                on.task.service,
                on.task.node,
                crate::output::human_duration(limit)
            ))))
        }
        _ = tokio::signal::ctrl_c() => Err(Error::failed(format!(
            "interrupted while probing for `{}` on node `{}`", on.task.service, on.task.node
        ))),
    };
    // Read the logs before the job goes: they live with its task's container.
    let outcome = match outcome {
        Ok(exit_code) => read_logs(on.docker, &name, on_line)
            .await
            .map(|stderr| Finished { exit_code, stderr }),
        Err(e) => Err(e),
    };
    made.remove(on.docker, &name).await;
    tracing::debug!(job = %name, node = on.task.node, elapsed = ?started.elapsed(), "probe job done");
    outcome
}

/// What [`create_and_wait`] made, for [`Made::remove`].
#[derive(Default)]
struct Made {
    secret_id: Option<String>,
    service: bool,
}

impl Made {
    /// Removes the job, then its secret (Swarm refuses to remove a secret a service uses).
    async fn remove(&self, docker: &DockerApi, name: &str) {
        let client = docker.client();
        if self.service {
            match client.delete_service(name).await {
                Ok(()) => tracing::debug!(job = %name, "probe job removed"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => tracing::warn!(job = %name, "cannot remove the probe job: {e}"),
            }
        }
        if let Some(id) = &self.secret_id {
            match client.delete_secret(id).await {
                Ok(()) => tracing::debug!(job = %name, "probe plan secret removed"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => tracing::warn!(job = %name, "cannot remove the probe plan secret: {e}"),
            }
        }
    }
}

async fn create_and_wait(
    on: &OnNode<'_>,
    name: &str,
    args: Vec<String>,
    plan: &[u8],
    made: &mut Made,
) -> Result<i64, Error> {
    let client = on.docker.client();
    let (namespace, project) = namespace_label(on.project);
    let object_labels = HashMap::from([
        (namespace, project),
        (labels::PROBE.to_owned(), on.task.service.clone()),
    ]);
    let secret = client
        .create_secret(SecretSpec {
            name: Some(name.to_owned()),
            labels: Some(object_labels.clone()),
            data: Some(base64::engine::general_purpose::STANDARD.encode(plan)),
            ..Default::default()
        })
        .await
        .map_err(|e| daemon_error("cannot create the probe plan's secret", &e))?;
    made.secret_id = Some(secret.id.clone());
    let spec = job_spec(&on.image, on.task, name, args, &secret.id, object_labels);
    client
        .create_service(spec, None)
        .await
        .map_err(|e| daemon_error("cannot create the probe job", &e))?;
    made.service = true;
    tracing::debug!(job = %name, node = on.task.node, service = on.task.service, "probe job created");
    wait_done(on, name).await
}

fn job_spec(
    image: &str,
    task: &RunningTask,
    name: &str,
    args: Vec<String>,
    secret_id: &str,
    object_labels: HashMap<String, String>,
) -> ServiceSpec {
    let container = TaskSpecContainerSpec {
        image: Some(image.to_owned()),
        args: Some(args),
        env: Some(vec![format!(
            "{}={PLAN_PATH}",
            crate::env_vars::STACKCTL_PLAN_FILE
        )]),
        labels: Some(object_labels.clone()),
        secrets: Some(vec![TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(PLAN_PATH.trim_start_matches("/run/secrets/").to_owned()),
                uid: Some("0".to_owned()),
                gid: Some("0".to_owned()),
                mode: Some(0o400),
            }),
            secret_id: Some(secret_id.to_owned()),
            secret_name: Some(name.to_owned()),
        }]),
        ..Default::default()
    };
    ServiceSpec {
        name: Some(name.to_owned()),
        labels: Some(object_labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={}", task.node_id)]),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                max_attempts: Some(0),
                ..Default::default()
            }),
            networks: Some(
                task.network_ids
                    .iter()
                    .map(|id| NetworkAttachmentConfig {
                        target: Some(id.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        // No virtual IP: nothing calls the probe, and a VIP needs IPVS in the node's sandbox.
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        // A job: one task, run once to its end, never restarted.
        mode: Some(ServiceSpecMode {
            replicated_job: Some(ServiceSpecModeReplicatedJob {
                max_concurrent: Some(1),
                total_completions: Some(1),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Polls the job's task (backing off, with jitter) until it ended; its exit code.
async fn wait_done(on: &OnNode<'_>, name: &str) -> Result<i64, Error> {
    let mut delays = crate::retry::RetryPolicy::Exponential {
        min: Duration::from_millis(50),
        max: Duration::from_millis(500),
        factor: 2.0,
    }
    .delays();
    let filters = HashMap::from([("service", vec![name])]);
    let mut last = None;
    loop {
        let tasks = on
            .docker
            .client()
            .list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| daemon_error("cannot list the probe job's task", &e))?;
        if let Some(status) = tasks.into_iter().find_map(|t| t.status) {
            let state = status.state;
            if last != state {
                tracing::debug!(job = %name, state = ?state, "probe job's task");
                last = state;
            }
            let exit = status
                .container_status
                .as_ref()
                .and_then(|c| c.exit_code)
                .unwrap_or(-1);
            match state {
                Some(TaskState::COMPLETE) => return Ok(exit),
                // The probe itself ran and judged: its results are in the logs.
                Some(TaskState::FAILED) if exit >= 0 && status.container_status.is_some() => {
                    return Ok(exit);
                }
                Some(
                    TaskState::FAILED
                    | TaskState::REJECTED
                    | TaskState::SHUTDOWN
                    | TaskState::ORPHANED,
                ) => {
                    let state = state.map(|s| s.to_string()).unwrap_or_default();
                    let err = status.err.unwrap_or_default();
                    return Err(Error::failed(format!(
                        "the probe job for `{}` could not run on node `{}` ({state}: {err})",
                        on.task.service, on.task.node
                    ))
                    .with_hint(format!(
                        "the node pulls the probe image `{}`: is that registry reachable from it, and trusted (`insecure-registries`)?",
                        on.image
                    )));
                }
                _ => {}
            }
        }
        tokio::time::sleep(delays.next().unwrap_or(Duration::from_millis(500))).await;
    }
}

/// The job's logs: stdout line by line to `on_line`, stderr returned. Swarm's log broker
/// fetches them from the node that ran the task.
async fn read_logs(
    docker: &DockerApi,
    name: &str,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<String, Error> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .follow(false)
        .build();
    let mut stream = docker.client().service_logs(name, Some(options));
    let mut output = Output::default();
    let read = async {
        while let Some(frame) = stream.next().await {
            let frame = frame.map_err(|e| daemon_error("cannot read the probe job's logs", &e))?;
            output.take(frame, on_line);
        }
        Ok::<(), Error>(())
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .map_err(|_| Error::timeout("the probe job's logs did not arrive within 20s"))??;
    Ok(output.finish(on_line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_is_one_task_pinned_to_the_node_on_the_services_networks() {
        let task = RunningTask {
            service: "mongo".into(),
            node_id: "wbuld9agpolk".into(),
            node: "stkn2".into(),
            network_ids: vec!["n1".into(), "n2".into()],
            ..RunningTask::default()
        };
        let labels = HashMap::from([(labels::PROBE.to_owned(), "mongo".to_owned())]);
        let image = "192.168.213.1:5000/stackctl-probe@sha256:ab";
        let spec = job_spec(
            image,
            &task,
            "demo-mongo-probe-1",
            vec!["probe".into()],
            "sec1",
            labels,
        );
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json.pointer("/TaskTemplate/Placement/Constraints/0"),
            Some(&serde_json::json!("node.id==wbuld9agpolk"))
        );
        assert_eq!(
            json.pointer("/Mode/ReplicatedJob/TotalCompletions"),
            Some(&serde_json::json!(1))
        );
        assert_eq!(
            json.pointer("/TaskTemplate/RestartPolicy/Condition"),
            Some(&serde_json::json!("none"))
        );
        assert_eq!(
            json.pointer("/TaskTemplate/Networks/1/Target"),
            Some(&serde_json::json!("n2"))
        );
        assert_eq!(
            json.pointer("/TaskTemplate/ContainerSpec/Secrets/0/File/Name"),
            Some(&serde_json::json!("stackctl-plan"))
        );
        assert_eq!(
            json.pointer("/TaskTemplate/ContainerSpec/Env/0"),
            Some(&serde_json::json!(
                "STACKCTL_PLAN_FILE=/run/secrets/stackctl-plan"
            ))
        );
    }
}
