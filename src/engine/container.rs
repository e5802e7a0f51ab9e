//! A service's container, as the Engine API wants it. Pure: unit-tested without a daemon.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountType,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};

use super::labels;
use crate::stack::{MountKind, Service, Stack};

/// The network a container is created on (the first of its networks; API 1.41 accepts one
/// endpoint at creation), and the others to connect before it starts.
#[must_use]
pub fn networks(service: &Service) -> Vec<(String, Vec<String>)> {
    if service.networks.is_empty() {
        return vec![("default".to_owned(), Vec::new())];
    }
    service
        .networks
        .iter()
        .map(|(k, a)| (k.clone(), a.clone()))
        .collect()
}

/// The container's address on its first network that gives it one (what stackctl, outside the
/// project network, connects to).
#[must_use]
pub fn container_ip(inspect: &bollard::models::ContainerInspectResponse) -> Option<String> {
    inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .and_then(|nets| {
            nets.values()
                .find_map(|e| e.ip_address.clone().filter(|ip| !ip.is_empty()))
        })
}

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A bind mount or named volume as the Engine API's `Mount` (containers and Swarm tasks alike).
#[must_use]
pub fn mount(stack: &Stack, m: &crate::stack::Mount) -> Mount {
    Mount {
        target: Some(m.target.clone()),
        source: Some(match m.kind {
            MountKind::Bind => m.source.clone(),
            MountKind::Volume => labels::volume_name(stack, &m.source),
        }),
        typ: Some(match m.kind {
            MountKind::Bind => MountType::BIND,
            MountKind::Volume => MountType::VOLUME,
        }),
        read_only: Some(m.read_only),
        ..Default::default()
    }
}

/// The create request. `start_interval` is sent only when the API has it (1.44+).
#[must_use]
pub fn create_body(
    stack: &Stack,
    service: &Service,
    image: &str,
    hash: &str,
    start_interval_supported: bool,
) -> ContainerCreateBody {
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut exposed = Vec::new();
    for port in &service.ports {
        let key = format!("{}/{}", port.container_port, port.protocol);
        exposed.push(key.clone());
        let binding = PortBinding {
            host_ip: port.host_ip.clone(),
            host_port: Some(port.host_port.map(|p| p.to_string()).unwrap_or_default()),
        };
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    let mounts: Vec<Mount> = service.volumes.iter().map(|m| mount(stack, m)).collect();
    let restart = service.restart.as_deref().map(|policy| {
        let (name, count) = policy.split_once(':').unwrap_or((policy, "0"));
        RestartPolicy {
            name: Some(match name {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::NO,
            }),
            maximum_retry_count: count.parse().ok(),
        }
    });
    let restart = restart.or_else(|| {
        let policy = service.deploy.as_ref()?.restart_policy.as_ref()?;
        Some(RestartPolicy {
            name: Some(match policy.condition.as_str() {
                "none" => RestartPolicyNameEnum::NO,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::ALWAYS,
            }),
            maximum_retry_count: policy
                .max_attempts
                .filter(|_| policy.condition == "on-failure")
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        })
    });
    let deploy = service.deploy.clone().unwrap_or_default();
    let (limits, reservations) = (deploy.limits, deploy.reservations);
    let healthcheck = service.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        retries: h.retries.map(i64::from),
        start_period: nanos(h.start_period),
        start_interval: if start_interval_supported {
            nanos(h.start_interval)
        } else {
            None
        },
    });
    let (first, aliases) = networks(service).into_iter().next().unwrap_or_default();
    let mut endpoint_aliases = aliases;
    endpoint_aliases.push(service.name.clone());
    let network = labels::network_name(stack, &first);
    ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: Some(
            service
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(labels::container_labels(stack, service, hash)),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        hostname: service.hostname.clone(),
        stop_signal: service.stop_signal.clone(),
        // Docker counts whole seconds; compose truncates a fraction the same way.
        stop_timeout: service
            .stop_grace_period
            .map(|grace| i64::try_from(grace.as_secs()).unwrap_or(i64::MAX)),
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        host_config: Some(HostConfig {
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            restart_policy: restart,
            extra_hosts: (!service.extra_hosts.is_empty()).then(|| service.extra_hosts.clone()),
            shm_size: service.shm_size,
            // `deploy.resources` and `deploy.restart_policy` apply to plain containers too, as
            // `docker compose` applies them.
            memory: limits.memory_bytes,
            memory_reservation: reservations.memory_bytes,
            nano_cpus: limits.nano_cpus,
            pids_limit: limits.pids,
            network_mode: Some(network.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network,
                EndpointSettings {
                    aliases: Some(endpoint_aliases),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}
