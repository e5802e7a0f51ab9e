//! A stack service as a Swarm service spec, the way `docker stack deploy` shapes one (docker/cli
//! `cli/compose/convert/service.go`), plus what stack deploy cannot express: one-shot services
//! as replicated jobs. Pure: unit-tested without a daemon.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount, MountVolumeOptions,
    NetworkAttachmentConfig, ResourceObject, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecModeReplicatedJob, TaskSpec, TaskSpecContainerSpec,
    TaskSpecPlacement, TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};

use crate::engine::container::{mount, networks};
use crate::engine::labels;
use crate::stack::{MountKind, Resources, Service, Stack};

/// `docker stack deploy`'s label: `docker stack ps/services/rm` find a stack's objects by it.
pub const NAMESPACE: &str = "com.docker.stack.namespace";
/// `docker stack deploy` records the image as written in the file.
pub const STACK_IMAGE: &str = "com.docker.stack.image";

/// `<project>_<service>`, as `docker stack deploy` names services.
#[must_use]
pub fn service_name(stack: &Stack, service: &str) -> String {
    format!("{}_{service}", stack.project)
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The labels on the service object (not its containers).
#[must_use]
pub fn service_labels(stack: &Stack, service: &Service, hash: &str) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = service
        .deploy
        .as_ref()
        .map(|d| d.labels.clone().into_iter().collect())
        .unwrap_or_default();
    out.insert(NAMESPACE.to_owned(), stack.project.clone());
    out.insert(labels::CONFIG_HASH.to_owned(), hash.to_owned());
    out.insert(labels::SERVICE.to_owned(), service.name.clone());
    out.insert(
        labels::CREATED_BY.to_owned(),
        concat!("stackctl ", env!("CARGO_PKG_VERSION")).to_owned(),
    );
    if let Some(image) = &service.image {
        out.insert(STACK_IMAGE.to_owned(), image.clone());
    }
    if service.is_job() {
        out.insert(labels::JOB.to_owned(), "true".to_owned());
    }
    out
}

/// Labels of the stack's networks and volumes.
#[must_use]
pub fn resource_labels(stack: &Stack, kind: &str, key: &str) -> HashMap<String, String> {
    let mut out = labels::resource_labels(stack, kind, key);
    out.insert(NAMESPACE.to_owned(), stack.project.clone());
    out
}

/// `extra_hosts` (`HOST:IP`) in the task spec's `/etc/hosts` form (`IP HOST`).
fn hosts(service: &Service, extra: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = service
        .extra_hosts
        .iter()
        .filter_map(|entry| entry.split_once(':'))
        .map(|(host, ip)| format!("{ip} {host}"))
        .collect();
    out.extend(extra.iter().cloned());
    (!out.is_empty()).then_some(out)
}

fn resources(r: &Resources) -> (Option<i64>, Option<i64>, Option<i64>) {
    (r.nano_cpus, r.memory_bytes, r.pids)
}

/// The service spec. `image` is what the tasks run (see `resolve_image`); `extra_hosts` are
/// `/etc/hosts` lines stackctl adds (a dependency reached by its task address, see `up`).
#[must_use]
pub fn service_spec(
    stack: &Stack,
    service: &Service,
    image: &str,
    hash: &str,
    extra_hosts: &[String],
) -> ServiceSpec {
    let deploy = service.deploy.clone().unwrap_or_default();
    let mut container_labels: HashMap<String, String> =
        service.labels.clone().into_iter().collect();
    container_labels.insert(NAMESPACE.to_owned(), stack.project.clone());
    let mounts: Vec<Mount> = service
        .volumes
        .iter()
        .map(|m| Mount {
            volume_options: (m.kind == MountKind::Volume).then(|| MountVolumeOptions {
                labels: Some(resource_labels(stack, labels::VOLUME, &m.source)),
                ..Default::default()
            }),
            ..mount(stack, m)
        })
        .collect();
    let health_check = service.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: h.interval.map(nanos),
        timeout: h.timeout.map(nanos),
        retries: h.retries.map(i64::from),
        start_period: h.start_period.map(nanos),
        start_interval: None,
    });
    let container = TaskSpecContainerSpec {
        image: Some(image.to_owned()),
        labels: Some(container_labels),
        // Swarm's `Command` is the entrypoint and `Args` the command, as in the CLI.
        command: service.entrypoint.clone(),
        args: service.command.clone(),
        hostname: service.hostname.clone(),
        env: Some(
            service
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        dir: service.working_dir.clone(),
        user: service.user.clone(),
        mounts: (!mounts.is_empty()).then_some(mounts),
        stop_signal: service.stop_signal.clone(),
        stop_grace_period: service.stop_grace_period.map(nanos),
        health_check,
        hosts: hosts(service, extra_hosts),
        ..Default::default()
    };
    let (limit_cpus, limit_memory, limit_pids) = resources(&deploy.limits);
    let (reserve_cpus, reserve_memory, _) = resources(&deploy.reservations);
    let task_resources = TaskSpecResources {
        limits: (limit_cpus.is_some() || limit_memory.is_some() || limit_pids.is_some()).then_some(
            Limit {
                nano_cpus: limit_cpus,
                memory_bytes: limit_memory,
                pids: limit_pids,
            },
        ),
        reservations: (reserve_cpus.is_some() || reserve_memory.is_some()).then_some(
            ResourceObject {
                nano_cpus: reserve_cpus,
                memory_bytes: reserve_memory,
                generic_resources: None,
            },
        ),
        ..Default::default()
    };
    let placement = TaskSpecPlacement {
        constraints: (!deploy.constraints.is_empty()).then(|| deploy.constraints.clone()),
        preferences: (!deploy.spread.is_empty()).then(|| {
            deploy
                .spread
                .iter()
                .map(|label| TaskSpecPlacementPreferences {
                    spread: Some(TaskSpecPlacementSpread {
                        spread_descriptor: Some(label.clone()),
                    }),
                })
                .collect()
        }),
        max_replicas: deploy.max_replicas_per_node.map(count),
        ..Default::default()
    };
    let (mode, restart_policy) = if let Some(job) = &service.job {
        // A job is a replicated job: one completion, its attempts counted by Swarm's restart
        // policy (`max_attempts` counts restarts after the first try). Swarm's delay is fixed,
        // so the job's first back-off is used throughout.
        (
            ServiceSpecMode {
                replicated_job: Some(ServiceSpecModeReplicatedJob {
                    max_concurrent: Some(1),
                    total_completions: Some(1),
                }),
                ..Default::default()
            },
            TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
                delay: Some(nanos(job.backoff)),
                max_attempts: Some(i64::from(job.attempts.saturating_sub(1))),
                window: None,
            },
        )
    } else {
        let mode = if deploy.global {
            ServiceSpecMode {
                // The API's `Global: {}`: an empty object, which bollard models as a map.
                #[allow(clippy::zero_sized_map_values)]
                global: Some(HashMap::new()),
                ..Default::default()
            }
        } else {
            ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(count(deploy.replicas.unwrap_or(1))),
                }),
                ..Default::default()
            }
        };
        (mode, restart_policy(service))
    };
    let networks: Vec<NetworkAttachmentConfig> = networks(service)
        .into_iter()
        .map(|(key, mut aliases)| {
            aliases.push(service.name.clone());
            NetworkAttachmentConfig {
                target: Some(labels::network_name(stack, &key)),
                aliases: Some(aliases),
                driver_opts: None,
            }
        })
        .collect();
    // DNS round robin unless the file asks for a virtual IP: a VIP needs the kernel's IPVS,
    // which not every host has (on ours a VIP accepted connections nowhere while
    // `tasks.<name>` answered), and with one task per service it buys nothing. Ports then go
    // on the task's node (`host` mode), as plain `up` publishes them; Swarm refuses the
    // routing mesh (`ingress`) with `dnsrr`.
    let vip = deploy.endpoint_mode.as_deref() == Some("vip");
    let ports: Vec<EndpointPortConfig> = service
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(match p.protocol.as_str() {
                "udp" => EndpointPortConfigProtocolEnum::UDP,
                "sctp" => EndpointPortConfigProtocolEnum::SCTP,
                _ => EndpointPortConfigProtocolEnum::TCP,
            }),
            target_port: Some(i64::from(p.container_port)),
            published_port: p.host_port.map(i64::from),
            publish_mode: Some(if vip {
                EndpointPortConfigPublishModeEnum::INGRESS
            } else {
                EndpointPortConfigPublishModeEnum::HOST
            }),
            name: None,
        })
        .collect();
    ServiceSpec {
        name: Some(service_name(stack, &service.name)),
        labels: Some(service_labels(stack, service, hash)),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(task_resources),
            restart_policy: Some(restart_policy),
            placement: Some(placement),
            networks: Some(networks),
            ..Default::default()
        }),
        mode: Some(mode),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(if vip {
                EndpointSpecModeEnum::VIP
            } else {
                EndpointSpecModeEnum::DNSRR
            }),
            ports: (!ports.is_empty()).then_some(ports),
        }),
        ..Default::default()
    }
}

/// A long-running service's restart policy: `deploy.restart_policy`, else `restart:` (which
/// stack deploy applies too when there is no `deploy.restart_policy`), else Swarm's `any`.
fn restart_policy(service: &Service) -> TaskSpecRestartPolicy {
    let condition = |c: &str| match c {
        "none" => TaskSpecRestartPolicyConditionEnum::NONE,
        "on-failure" => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
        _ => TaskSpecRestartPolicyConditionEnum::ANY,
    };
    if let Some(policy) = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        return TaskSpecRestartPolicy {
            condition: Some(condition(&policy.condition)),
            delay: policy.delay.map(nanos),
            max_attempts: policy.max_attempts.map(count),
            window: policy.window.map(nanos),
        };
    }
    match service.restart.as_deref() {
        Some("no") => TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
            ..Default::default()
        },
        Some(policy) if policy.starts_with("on-failure") => TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
            max_attempts: policy
                .split_once(':')
                .and_then(|(_, n)| n.parse::<i64>().ok()),
            ..Default::default()
        },
        _ => TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Deploy, JobOptions};

    fn stack_with(service: Service) -> Stack {
        Stack {
            project: "demo".to_owned(),
            files: Vec::new(),
            dir: std::path::PathBuf::from("/srv"),
            services: [(service.name.clone(), service)].into_iter().collect(),
            networks: std::collections::BTreeMap::new(),
            volumes: std::collections::BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    fn service(name: &str) -> Service {
        let yaml = format!("services:\n  {name}:\n    image: img\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yml"), yaml).unwrap();
        let options = crate::stack::LoadOptions {
            files: vec![dir.path().join("compose.yml")],
            project: Some("demo".into()),
            env_file: None,
            environment: std::collections::BTreeMap::new(),
            cwd: dir.path().to_path_buf(),
        };
        let mut stack = crate::stack::open(&options, &std::collections::BTreeSet::new()).unwrap();
        stack.services.remove(name).unwrap()
    }

    #[test]
    fn a_job_is_a_replicated_job_counting_its_attempts() {
        let mut job = service("init");
        job.job = Some(JobOptions {
            attempts: 4,
            ..Default::default()
        });
        let stack = stack_with(job.clone());
        let spec = service_spec(&stack, &job, "sha256:abc", "h", &[]);
        let mode = spec.mode.unwrap();
        assert_eq!(mode.replicated_job.unwrap().total_completions, Some(1));
        let task = spec.task_template.unwrap();
        let restart = task.restart_policy.unwrap();
        assert_eq!(restart.max_attempts, Some(3));
        assert_eq!(
            restart.condition,
            Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE)
        );
        assert_eq!(restart.delay, Some(2_000_000_000));
        assert_eq!(spec.labels.unwrap()[labels::JOB], "true");
    }

    #[test]
    fn deploy_keys_reach_the_spec_and_labels_name_the_stack() {
        let mut svc = service("web");
        svc.deploy = Some(Deploy {
            replicas: Some(3),
            constraints: vec!["node.role == manager".to_owned()],
            limits: Resources {
                nano_cpus: Some(500_000_000),
                memory_bytes: Some(64 << 20),
                pids: None,
            },
            labels: [("team".to_owned(), "chat".to_owned())].into(),
            ..Default::default()
        });
        svc.extra_hosts = vec!["db:10.0.0.5".to_owned()];
        svc.entrypoint = Some(vec!["/bin/web".to_owned()]);
        svc.command = Some(vec!["--port".to_owned(), "80".to_owned()]);
        let stack = stack_with(svc.clone());
        let spec = service_spec(&stack, &svc, "img", "h", &["10.0.1.7 mongo".to_owned()]);
        assert_eq!(spec.name.as_deref(), Some("demo_web"));
        let labels = spec.labels.unwrap();
        assert_eq!(labels[NAMESPACE], "demo");
        assert_eq!(labels["team"], "chat");
        assert_eq!(
            spec.mode.unwrap().replicated.unwrap().replicas,
            Some(3),
            "replicas"
        );
        let task = spec.task_template.unwrap();
        let container = task.container_spec.unwrap();
        assert_eq!(container.command, Some(vec!["/bin/web".to_owned()]));
        assert_eq!(container.args.unwrap()[0], "--port");
        assert_eq!(
            container.hosts.unwrap(),
            vec!["10.0.0.5 db".to_owned(), "10.0.1.7 mongo".to_owned()]
        );
        assert_eq!(container.labels.unwrap()[NAMESPACE], "demo");
        let limits = task.resources.unwrap().limits.unwrap();
        assert_eq!(limits.nano_cpus, Some(500_000_000));
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        assert_eq!(
            task.placement.unwrap().constraints.unwrap(),
            vec!["node.role == manager".to_owned()]
        );
        let network = &task.networks.unwrap()[0];
        assert_eq!(network.target.as_deref(), Some("demo_default"));
        assert_eq!(network.aliases.as_deref(), Some(&["web".to_owned()][..]));
    }

    #[test]
    fn restart_falls_back_to_the_restart_key() {
        let mut svc = service("web");
        svc.restart = Some("on-failure:3".to_owned());
        let policy = restart_policy(&svc);
        assert_eq!(
            policy.condition,
            Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE)
        );
        assert_eq!(policy.max_attempts, Some(3));
        svc.restart = None;
        assert_eq!(
            restart_policy(&svc).condition,
            Some(TaskSpecRestartPolicyConditionEnum::ANY)
        );
    }
}
