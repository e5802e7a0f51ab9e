//! `deploy`: the keys of the compose specification's `deploy.md` that a cluster engine honours
//! (`--engine swarm`). Keys compose defines but stackctl does not map are named, not dropped.

use yaml_serde::Value;

use super::convert::{Converter, Path_, last, sub};
use super::interpolate::describe;
use super::locate::item;
use super::model::{Deploy, DeployRestart, Resources};
use super::syntax;

impl Converter<'_> {
    pub(super) fn deploy(&mut self, path: &Path_, value: &Value) -> Option<Deploy> {
        if value.is_null() {
            return None;
        }
        let map = self.mapping(path, value)?;
        let mut deploy = Deploy::default();
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            match k {
                "mode" => match self.string(&at, v).as_deref() {
                    Some("replicated") | None => {}
                    Some("global") => deploy.global = true,
                    Some(other) => self.problem(
                        &at,
                        format!("`deploy.mode` `{other}` is not a mode stackctl deploys"),
                        Some("use `replicated` or `global`; a one-shot service is a job: `x-stackctl: {job: true}`"),
                    ),
                },
                "replicas" => deploy.replicas = self.count(&at, v),
                "endpoint_mode" => match self.string(&at, v) {
                    Some(mode) if mode == "vip" || mode == "dnsrr" => {
                        deploy.endpoint_mode = Some(mode);
                    }
                    Some(other) => self.problem(
                        &at,
                        format!("unknown endpoint mode `{other}`"),
                        Some("use `vip` or `dnsrr`"),
                    ),
                    None => {}
                },
                "labels" => {
                    deploy.labels = self
                        .key_values(&at, v, false, |k| !k.is_empty())
                        .into_iter()
                        .collect();
                }
                "placement" => self.placement(&at, v, &mut deploy),
                "resources" => {
                    let Some(resources) = self.mapping(&at, v) else {
                        continue;
                    };
                    for (rk, rv) in resources {
                        let Some(rk) = rk.as_str() else { continue };
                        let at = sub(&at, rk);
                        match rk {
                            "limits" => deploy.limits = self.resources(&at, rv, true),
                            "reservations" => deploy.reservations = self.resources(&at, rv, false),
                            x if x.starts_with("x-") => {}
                            other => self.unmapped(&at, &format!("resources.{other}")),
                        }
                    }
                }
                "restart_policy" => deploy.restart_policy = self.deploy_restart(&at, v),
                x if x.starts_with("x-") => {}
                other => self.unmapped(&at, other),
            }
        }
        Some(deploy)
    }

    fn unmapped(&mut self, path: &Path_, key: &str) {
        self.problem(
            path,
            format!("`deploy.{key}` is not supported by stackctl"),
            Some("stackctl maps `mode`, `replicas`, `endpoint_mode`, `labels`, `placement` (constraints, preferences, max_replicas_per_node), `resources` (limits, reservations) and `restart_policy`"),
        );
    }

    /// A whole number, 0 or more.
    fn count(&mut self, path: &Path_, value: &Value) -> Option<u64> {
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.problem(
                path,
                format!(
                    "`{}` must be a whole number, 0 or more, not {}",
                    last(path),
                    describe(value)
                ),
                None,
            );
        }
        parsed
    }

    fn placement(&mut self, path: &Path_, value: &Value, deploy: &mut Deploy) {
        let Some(map) = self.mapping(path, value) else {
            return;
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            match k {
                "constraints" => deploy.constraints = self.strings(&at, v, false),
                "max_replicas_per_node" => deploy.max_replicas_per_node = self.count(&at, v),
                "preferences" => {
                    let Value::Sequence(items) = v else {
                        self.problem(
                            &at,
                            "`placement.preferences` must be a list of `{spread: LABEL}`",
                            None,
                        );
                        continue;
                    };
                    for (i, entry) in items.iter().enumerate() {
                        let at = sub(&at, &item(i));
                        match entry
                            .as_mapping()
                            .and_then(|m| m.get("spread"))
                            .filter(|_| entry.as_mapping().is_some_and(|m| m.len() == 1))
                        {
                            Some(spread) => {
                                if let Some(label) = self.name(&sub(&at, "spread"), spread) {
                                    deploy.spread.push(label);
                                }
                            }
                            None => self.problem(
                                &at,
                                "a placement preference must be `{spread: LABEL}`",
                                Some("e.g. `- spread: node.labels.zone`"),
                            ),
                        }
                    }
                }
                x if x.starts_with("x-") => {}
                other => self.unmapped(&at, &format!("placement.{other}")),
            }
        }
    }

    fn resources(&mut self, path: &Path_, value: &Value, limits: bool) -> Resources {
        let mut out = Resources::default();
        let Some(map) = self.mapping(path, value) else {
            return out;
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            match k {
                "cpus" => {
                    let text = match v {
                        Value::Number(n) => n.to_string(),
                        _ => self.string(&at, v).unwrap_or_default(),
                    };
                    match syntax::nano_cpus(&text) {
                        Ok(n) => out.nano_cpus = Some(n),
                        Err(e) => self.problem(&at, e, Some("e.g. `cpus: \"0.5\"`")),
                    }
                }
                "memory" => out.memory_bytes = self.bytes(&at, v),
                "pids" if limits => {
                    out.pids = self
                        .count(&at, v)
                        .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
                }
                x if x.starts_with("x-") => {}
                other => self.unmapped(
                    &at,
                    &format!(
                        "resources.{}.{other}",
                        if limits { "limits" } else { "reservations" }
                    ),
                ),
            }
        }
        out
    }

    fn deploy_restart(&mut self, path: &Path_, value: &Value) -> Option<DeployRestart> {
        let map = self.mapping(path, value)?;
        let mut policy = DeployRestart {
            condition: "any".to_owned(),
            delay: None,
            max_attempts: None,
            window: None,
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            match k {
                "condition" => match self.string(&at, v) {
                    Some(c) if matches!(c.as_str(), "none" | "on-failure" | "any") => {
                        policy.condition = c;
                    }
                    Some(c) => self.problem(
                        &at,
                        format!("unknown restart condition `{c}`"),
                        Some("use `none`, `on-failure` or `any`"),
                    ),
                    None => {}
                },
                "delay" => policy.delay = self.duration(&at, v),
                "max_attempts" => policy.max_attempts = self.count(&at, v),
                "window" => policy.window = self.duration(&at, v),
                x if x.starts_with("x-") => {}
                other => self.unmapped(&at, &format!("restart_policy.{other}")),
            }
        }
        Some(policy)
    }
}
