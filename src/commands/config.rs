//! `stackctl config`: the resolved stack — files merged, interpolated, profiles applied,
//! defaults shown — printed in compose's shape, the way `docker compose config` does, so an
//! operator sees what a `.env` change does. Values of secret-looking variables are masked.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value, json};

use super::common::{AllowUnsupported, StackArgs, open_supported_stack};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::settings::Settings;
use crate::stack::{MountKind, Service, Stack};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub allow: AllowUnsupported,
    /// Output format
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: ConfigFormat,
    /// Show the values of secret-looking variables (`*PASS*`, `*SECRET*`, `*TOKEN*`, `*KEY*`,
    /// credentials in URLs) instead of `***`
    #[arg(long)]
    pub show_secrets: bool,
}

/// How `config` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

/// Prints the resolved stack.
pub fn run(args: &ConfigArgs, settings: &Settings) -> Result<ExitStatus> {
    let stack = open_supported_stack(&args.stack, args.allow, settings)?;
    let document = render(&stack, args.show_secrets);
    let text = match args.format {
        ConfigFormat::Json => serde_json::to_string_pretty(&document).unwrap_or_default() + "\n",
        ConfigFormat::Yaml => yaml_serde::to_string(&document)
            .map_err(|e| Error::failed(format!("cannot write YAML: {e}")))?,
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(ExitStatus::Success)
}

/// The stack in compose's shape (long forms, every default written out).
#[must_use]
pub fn render(stack: &Stack, show_secrets: bool) -> Value {
    let services: Map<String, Value> = stack
        .services
        .iter()
        .map(|(name, s)| (name.clone(), service(s, show_secrets)))
        .collect();
    let networks: Map<String, Value> = stack
        .networks
        .iter()
        .map(|(key, n)| {
            let mut v = Map::new();
            v.insert(
                "name".into(),
                json!(crate::engine::labels::network_name(stack, key)),
            );
            if let Some(driver) = &n.driver {
                v.insert("driver".into(), json!(driver));
            }
            if n.external {
                v.insert("external".into(), json!(true));
            }
            (key.clone(), Value::Object(v))
        })
        .collect();
    let volumes: Map<String, Value> = stack
        .volumes
        .iter()
        .map(|(key, vol)| {
            let mut v = Map::new();
            v.insert(
                "name".into(),
                json!(crate::engine::labels::volume_name(stack, key)),
            );
            if vol.external {
                v.insert("external".into(), json!(true));
            }
            (key.clone(), Value::Object(v))
        })
        .collect();
    let mut top = Map::new();
    top.insert("name".into(), json!(stack.project));
    top.insert("services".into(), Value::Object(services));
    top.insert("networks".into(), Value::Object(networks));
    if !volumes.is_empty() {
        top.insert("volumes".into(), Value::Object(volumes));
    }
    Value::Object(top)
}

fn service(s: &Service, show_secrets: bool) -> Value {
    let mut v = Map::new();
    let mut put = |key: &str, value: Value| {
        if !(value.is_null()
            || value.as_array().is_some_and(Vec::is_empty)
            || value.as_object().is_some_and(Map::is_empty))
        {
            v.insert(key.to_owned(), value);
        }
    };
    put("image", json!(s.image));
    if let Some(b) = &s.build {
        put(
            "build",
            json!({"context": b.context, "dockerfile": b.dockerfile, "args": b.args}),
        );
    }
    put("command", json!(s.command));
    put("entrypoint", json!(s.entrypoint));
    let environment: Map<String, Value> = s
        .environment
        .iter()
        .map(|(k, val)| (k.clone(), json!(shown(k, val, show_secrets))))
        .collect();
    put("environment", Value::Object(environment));
    let ports: Vec<Value> = s
        .ports
        .iter()
        .map(|p| {
            json!({"target": p.container_port, "published": p.host_port.map(|h| h.to_string()),
                   "host_ip": p.host_ip, "protocol": p.protocol})
        })
        .collect();
    put("ports", json!(ports));
    let volumes: Vec<Value> = s
        .volumes
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MountKind::Bind => "bind",
                MountKind::Volume => "volume",
            };
            json!({"type": kind, "source": m.source, "target": m.target, "read_only": m.read_only})
        })
        .collect();
    put("volumes", json!(volumes));
    let networks: Map<String, Value> = s
        .networks
        .iter()
        .map(|(k, aliases)| {
            let value = if aliases.is_empty() {
                Value::Null
            } else {
                json!({"aliases": aliases})
            };
            (k.clone(), value)
        })
        .collect();
    put("networks", Value::Object(networks));
    let depends: Map<String, Value> = s
        .depends_on
        .iter()
        .map(|(k, d)| {
            (
                k.clone(),
                json!({"condition": d.condition.as_str(), "required": d.required, "restart": d.restart}),
            )
        })
        .collect();
    put("depends_on", Value::Object(depends));
    if let Some(h) = &s.healthcheck {
        put(
            "healthcheck",
            json!({"test": h.test, "interval": h.interval.map(text), "timeout": h.timeout.map(text),
                   "retries": h.retries, "start_period": h.start_period.map(text),
                   "start_interval": h.start_interval.map(text)}),
        );
    }
    put("restart", json!(s.restart));
    let labels: Map<String, Value> = s
        .labels
        .iter()
        .map(|(k, val)| (k.clone(), json!(shown(k, val, show_secrets))))
        .collect();
    put("labels", Value::Object(labels));
    put("user", json!(s.user));
    put("working_dir", json!(s.working_dir));
    put("hostname", json!(s.hostname));
    put("container_name", json!(s.container_name));
    put("extra_hosts", json!(s.extra_hosts));
    // compose prints `shm_size` in bytes, as a string.
    put("shm_size", json!(s.shm_size.map(|n| n.to_string())));
    put("stop_signal", json!(s.stop_signal));
    put("stop_grace_period", json!(s.stop_grace_period.map(text)));
    put("profiles", json!(s.profiles));
    let mut ours = Map::new();
    if !s.ready.is_empty() {
        ours.insert("ready".into(), json!(s.ready));
    }
    if let Some(job) = &s.job {
        ours.insert(
            "job".into(),
            json!({"attempts": job.attempts, "timeout": job.timeout.map(text),
                   "backoff": text(job.backoff), "max_backoff": text(job.max_backoff)}),
        );
    }
    put("x-stackctl", Value::Object(ours));
    let strip_nulls = |value: Value| match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| match v {
                    Value::Object(inner) => (
                        k,
                        Value::Object(inner.into_iter().filter(|(_, x)| !x.is_null()).collect()),
                    ),
                    other => (k, other),
                })
                .collect(),
        ),
        other => other,
    };
    strip_nulls(Value::Object(v))
}

/// `1m30s`, as compose writes durations.
fn text(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

/// A value as shown: masked when its name or its content says it is a secret.
fn shown(name: &str, value: &str, show_secrets: bool) -> String {
    if show_secrets {
        return value.to_owned();
    }
    if crate::redact::is_secret_variable(name) && !value.is_empty() {
        "***".to_owned()
    } else {
        crate::redact::text(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_by_name_and_in_urls() {
        assert_eq!(shown("ADMIN_PASS", "hunter2", false), "***");
        assert_eq!(shown("ADMIN_PASS", "hunter2", true), "hunter2");
        assert_eq!(shown("GITLAB_TOKEN", "glpat-x", false), "***");
        assert_eq!(
            shown("MONGO_URL", "mongodb://u:pw@mongo:27017/rc", false),
            "mongodb://u:***@mongo:27017/rc"
        );
        assert_eq!(
            shown("ROOT_URL", "https://chat.example.org", false),
            "https://chat.example.org"
        );
    }

    #[test]
    fn durations_read_as_compose_writes_them() {
        assert_eq!(text(Duration::from_secs(90)), "1m30s");
        assert_eq!(text(Duration::from_millis(250)), "250ms");
    }
}
