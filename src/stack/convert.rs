//! The merged, interpolated document into the model: every key we support checked for the
//! shape the compose specification's schema (`schema/compose-spec.json`) gives it, every key
//! we do not support named. Problems are collected, not returned, so one run reports all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};

use super::files::clean;
use super::interpolate::{Variables, describe};
use super::locate::item;
use super::model::{
    Build, Condition, Dependency, Healthcheck, JobOptions, Mount, MountKind, Network, Port,
    Service, Volume,
};
use super::problems::Problems;
use super::syntax;

/// Converts values, reporting problems at their paths in the merged document.
pub struct Converter<'a> {
    pub vars: &'a Variables,
    /// The project directory: relative paths are resolved against it.
    pub dir: &'a Path,
    pub problems: &'a mut Problems,
}

/// The top level of the stack, converted.
pub struct Converted {
    pub name: Option<String>,
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, Network>,
    pub volumes: BTreeMap<String, Volume>,
}

pub(super) type Path_ = [String];

pub(super) fn sub(path: &Path_, key: &str) -> Vec<String> {
    let mut out = path.to_vec();
    out.push(key.to_owned());
    out
}

fn path_of(segments: &[&str]) -> Vec<String> {
    segments.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn last(path: &Path_) -> &str {
    path.last().map_or("value", String::as_str)
}

impl Converter<'_> {
    pub(super) fn problem(&mut self, path: &Path_, message: impl Into<String>, hint: Option<&str>) {
        self.problems
            .at(path, message.into(), hint.map(str::to_owned));
    }

    /// A string where the schema says `string`. Numbers and booleans are refused as compose
    /// refuses them (`user: 1000` must be quoted).
    pub(super) fn string(&mut self, path: &Path_, value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => {
                let text = scalar_text(value).unwrap_or_default();
                self.problem(
                    path,
                    format!("`{}` must be a string, not {}", last(path), describe(value)),
                    Some(&format!("quote it: `{}: \"{text}\"`", last(path))),
                );
                None
            }
            other => {
                self.problem(
                    path,
                    format!("`{}` must be a string, not {}", last(path), describe(other)),
                    None,
                );
                None
            }
        }
    }

    /// A non-empty string.
    pub(super) fn name(&mut self, path: &Path_, value: &Value) -> Option<String> {
        let text = self.string(path, value)?;
        if text.trim().is_empty() {
            self.problem(path, format!("`{}` must not be empty", last(path)), None);
            return None;
        }
        Some(text)
    }

    /// A list of strings (the schema's `list_of_strings`); with `single`, a lone string too.
    pub(super) fn strings(&mut self, path: &Path_, value: &Value, single: bool) -> Vec<String> {
        match value {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let at = sub(path, &item(i));
                    match v {
                        Value::String(s) => Some(s.clone()),
                        other => {
                            self.problem(
                                &at,
                                format!(
                                    "`{}` entries must be strings, not {}",
                                    last(path),
                                    describe(other)
                                ),
                                Some("quote the entry"),
                            );
                            None
                        }
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            Value::String(s) if single => vec![s.clone()],
            other => {
                self.problem(
                    path,
                    format!(
                        "`{}` must be a list{}, not {}",
                        last(path),
                        if single { " or a string" } else { "" },
                        describe(other)
                    ),
                    (!single && matches!(other, Value::String(_)))
                        .then_some("write it as a list, e.g. `[debug]`"),
                );
                Vec::new()
            }
        }
    }

    /// A mapping of keys to `string | number | boolean | null` (the schema's `list_or_dict`,
    /// already in mapping form after merging). `null` takes the variable's value when
    /// `from_env`, or is empty.
    pub(super) fn key_values(
        &mut self,
        path: &Path_,
        value: &Value,
        from_env: bool,
        is_key: fn(&str) -> bool,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let map = match value {
            Value::Mapping(map) => map,
            Value::Null => return out,
            other => {
                self.problem(
                    path,
                    format!(
                        "`{}` must be a mapping or a list of `KEY=VALUE`, not {}",
                        last(path),
                        describe(other)
                    ),
                    None,
                );
                return out;
            }
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            if !is_key(k) {
                self.problem(
                    &at,
                    format!("`{k}` is not a valid name in `{}`", last(path)),
                    Some("names are not empty and have no spaces or `=`; write `KEY=VALUE` without spaces around `=`"),
                );
                continue;
            }
            match v {
                Value::Null if from_env => {
                    if let Some(v) = self.vars.get(k) {
                        out.insert(k.to_owned(), v.clone());
                    }
                }
                Value::Null => {
                    out.insert(k.to_owned(), String::new());
                }
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    out.insert(k.to_owned(), scalar_text(v).unwrap_or_default());
                }
                other => self.problem(
                    &at,
                    format!(
                        "`{}.{k}` must be a string, a number or a boolean, not {}",
                        last(path),
                        describe(other)
                    ),
                    None,
                ),
            }
        }
        out
    }

    pub(super) fn mapping<'v>(&mut self, path: &Path_, value: &'v Value) -> Option<&'v Mapping> {
        if let Value::Mapping(map) = value {
            Some(map)
        } else {
            self.problem(
                path,
                format!(
                    "`{}` must be a mapping, not {}",
                    last(path),
                    describe(value)
                ),
                None,
            );
            None
        }
    }

    pub(super) fn boolean(&mut self, path: &Path_, value: &Value) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            other => {
                self.problem(
                    path,
                    format!(
                        "`{}` must be `true` or `false`, not {}",
                        last(path),
                        describe(other)
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A size in bytes: a number, or a string with a unit (`256m`).
    pub(super) fn bytes(&mut self, path: &Path_, value: &Value) -> Option<i64> {
        let text = match value {
            Value::Number(n) => n.to_string(),
            _ => self.string(path, value)?,
        };
        match syntax::bytes(&text) {
            Ok(n) => Some(n),
            Err(e) => {
                self.problem(path, format!("`{}`: {e}", last(path)), None);
                None
            }
        }
    }

    pub(super) fn duration(&mut self, path: &Path_, value: &Value) -> Option<std::time::Duration> {
        let text = self.string(path, value)?;
        match syntax::duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(path, format!("`{}`: {e}", last(path)), None);
                None
            }
        }
    }

    /// `command` / `entrypoint`: a string split like a shell does, or a list of strings.
    fn command(&mut self, path: &Path_, value: &Value) -> Option<Vec<String>> {
        match value {
            Value::Null => None,
            Value::Sequence(_) => Some(self.strings(path, value, false)),
            _ => {
                let text = self.string(path, value)?;
                let words = shlex::split(&text);
                if words.is_none() {
                    self.problem(
                        path,
                        format!("cannot split `{text}` into words (unbalanced quotes)"),
                        None,
                    );
                }
                words
            }
        }
    }

    /// The whole stack.
    pub fn convert(&mut self, top: &Mapping) -> Converted {
        let mut converted = Converted {
            name: None,
            services: BTreeMap::new(),
            networks: BTreeMap::from([("default".to_owned(), Network::default())]),
            volumes: BTreeMap::new(),
        };
        let mut services = None;
        for (key, value) in top {
            let Some(key) = key.as_str() else { continue };
            let path = path_of(&[key]);
            match key {
                "services" => services = Some(value),
                "networks" => converted.networks.extend(self.networks(value)),
                "volumes" => converted.volumes = self.volumes(value),
                "name" => converted.name = self.name(&path, value),
                "version" => {
                    if !matches!(value, Value::String(_) | Value::Null) {
                        self.problem(
                            &path,
                            format!("`version` must be a string, not {}", describe(value)),
                            Some("quote it (`version: \"3.8\"`), or remove it: compose ignores it"),
                        );
                    }
                }
                k if k.starts_with("x-") => {}
                other => self.problem(
                    &path,
                    format!("top-level key `{other}` is not supported"),
                    Some("stackctl supports `services`, `networks`, `volumes`, `name`, `version` and `x-*` extensions"),
                ),
            }
        }
        match services {
            Some(Value::Mapping(map)) => {
                for (key, value) in map {
                    let Some(name) = key.as_str() else { continue };
                    if !syntax::is_resource_name(name) {
                        self.problem(
                            &path_of(&["services", name]),
                            format!("service name `{name}` has characters compose does not allow"),
                            Some("use only letters, digits, `.`, `_` and `-`"),
                        );
                        continue;
                    }
                    if let Some(service) = self.service(name, value) {
                        converted.services.insert(name.to_owned(), service);
                    }
                }
            }
            Some(other) => self.problem(
                &path_of(&["services"]),
                format!(
                    "`services` must be a mapping of service names, not {}",
                    describe(other)
                ),
                None,
            ),
            None => self.problem(
                &[],
                "no `services:` defined",
                Some("a stack file needs at least one service"),
            ),
        }
        converted
    }

    fn service(&mut self, name: &str, value: &Value) -> Option<Service> {
        let base = path_of(&["services", name]);
        let Value::Mapping(map) = value else {
            self.problem(
                &base,
                format!(
                    "service `{name}` must be a mapping, not {}",
                    describe(value)
                ),
                None,
            );
            return None;
        };
        let mut service = Service {
            name: name.to_owned(),
            image: None,
            build: None,
            command: None,
            entrypoint: None,
            environment: BTreeMap::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            networks: BTreeMap::new(),
            depends_on: BTreeMap::new(),
            healthcheck: None,
            restart: None,
            labels: BTreeMap::new(),
            user: None,
            working_dir: None,
            hostname: None,
            container_name: None,
            extra_hosts: Vec::new(),
            shm_size: None,
            stop_signal: None,
            stop_grace_period: None,
            deploy: None,
            profiles: Vec::new(),
            ready: Vec::new(),
            job: None,
            line: None,
        };
        let mut env_files = Vec::new();
        let mut environment = BTreeMap::new();
        for (key, value) in map {
            let Some(key) = key.as_str() else { continue };
            let path = sub(&base, key);
            match key {
                "image" => service.image = self.name(&path, value),
                "build" => service.build = self.build(&path, value),
                "command" => service.command = self.command(&path, value),
                "entrypoint" => service.entrypoint = self.command(&path, value),
                "environment" => {
                    environment = self.key_values(&path, value, true, syntax::is_variable_name);
                }
                "env_file" => env_files = self.env_files(&path, value),
                "ports" => service.ports = self.ports(&path, value),
                "volumes" => service.volumes = self.mounts(&path, value),
                "networks" => service.networks = self.service_networks(&path, value),
                "depends_on" => service.depends_on = self.depends_on(&path, value),
                "healthcheck" => service.healthcheck = self.healthcheck(&path, value),
                "restart" => service.restart = self.restart(&path, value),
                "labels" => {
                    service.labels = self.key_values(&path, value, false, |k| !k.is_empty());
                }
                "user" => service.user = self.name(&path, value),
                "working_dir" => {
                    service.working_dir = self.name(&path, value).filter(|dir| {
                        let absolute = dir.starts_with('/');
                        if !absolute {
                            self.problem(
                                &path,
                                format!("`working_dir` `{dir}` is not an absolute path"),
                                Some("the Docker Engine needs an absolute path inside the container, e.g. `/app`"),
                            );
                        }
                        absolute
                    });
                }
                "hostname" => service.hostname = self.name(&path, value),
                "container_name" => {
                    service.container_name = self.name(&path, value).filter(|c| {
                        let valid = syntax::is_container_name(c);
                        if !valid {
                            self.problem(
                                &path,
                                format!("container name `{c}` is not valid"),
                                Some("start with a letter or digit, then letters, digits, `_`, `.` or `-` (two characters at least)"),
                            );
                        }
                        valid
                    });
                }
                "extra_hosts" => service.extra_hosts = self.extra_hosts(&path, value),
                "shm_size" => service.shm_size = self.bytes(&path, value),
                "stop_signal" => service.stop_signal = self.name(&path, value),
                "stop_grace_period" => service.stop_grace_period = self.duration(&path, value),
                "deploy" => service.deploy = self.deploy(&path, value),
                "profiles" => {
                    service.profiles = dedupe(self.strings(&path, value, false));
                    if service.profiles.iter().any(String::is_empty) {
                        self.problem(&path, "a profile name must not be empty", None);
                    }
                }
                "x-stackctl" => self.extension(&path, value, &mut service),
                k if k.starts_with("x-") => {}
                other => self.problem(
                    &path,
                    format!("service `{name}`: key `{other}` is not supported by stackctl"),
                    Some("remove it; compose-only settings cannot be honoured silently"),
                ),
            }
        }
        for (index, (file, required)) in env_files.into_iter().enumerate() {
            let path = clean(&self.dir.join(&file));
            match crate::limits::read_text(&path, super::document::MAX_FILE_BYTES) {
                Ok(text) => match super::dotenv::parse(&text) {
                    Ok(vars) => service.environment.extend(vars),
                    Err((line, e)) => self.problem(
                        &sub(&sub(&base, "env_file"), &item(index)),
                        format!("env_file `{file}:{line}`: {e}"),
                        None,
                    ),
                },
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.problem(
                    &sub(&sub(&base, "env_file"), &item(index)),
                    format!("env_file `{file}`: {}", crate::reason::io_reason(&e)),
                    None,
                ),
            }
        }
        service.environment.extend(environment);
        if service.image.is_none() && service.build.is_none() {
            let declared = |k: &str| map.contains_key(k);
            if !declared("image") && !declared("build") {
                self.problem(
                    &base,
                    format!("service `{name}` has neither `image` nor `build`"),
                    Some("add `image: NAME` or `build: DIR`"),
                );
            }
        }
        Some(service)
    }

    fn build(&mut self, path: &Path_, value: &Value) -> Option<Build> {
        let mut build = Build {
            context: PathBuf::from("."),
            dockerfile: None,
            args: BTreeMap::new(),
        };
        match value {
            Value::Mapping(map) => {
                for (k, v) in map {
                    let Some(k) = k.as_str() else { continue };
                    let at = sub(path, k);
                    match k {
                        "context" => build.context = PathBuf::from(self.name(&at, v)?),
                        "dockerfile" => build.dockerfile = self.name(&at, v),
                        "args" => {
                            build.args = self.key_values(&at, v, true, syntax::is_variable_name);
                        }
                        x if x.starts_with("x-") => {}
                        other => self.problem(
                            &at,
                            format!("`build.{other}` is not supported by stackctl"),
                            Some("stackctl supports `context`, `dockerfile` and `args`"),
                        ),
                    }
                }
            }
            _ => build.context = PathBuf::from(self.name(path, value)?),
        }
        build.context = clean(&self.dir.join(&build.context));
        Some(build)
    }

    /// `env_file`: paths, or `{path, required}` entries.
    fn env_files(&mut self, path: &Path_, value: &Value) -> Vec<(String, bool)> {
        let Value::Sequence(items) = value else {
            return self
                .strings(path, value, true)
                .into_iter()
                .map(|f| (f, true))
                .collect();
        };
        let mut out: Vec<(String, bool)> = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let at = sub(path, &item(i));
            let parsed = match entry {
                Value::String(file) => Some((file.clone(), true)),
                Value::Mapping(map) => {
                    let mut file = None;
                    let mut required = true;
                    for (k, v) in map {
                        let key = k.as_str().unwrap_or_default();
                        let at = sub(&at, key);
                        match key {
                            "path" => file = self.name(&at, v),
                            "required" => required = self.boolean(&at, v).unwrap_or(true),
                            "format" => self.problem(
                                &at,
                                "`env_file.format` is not supported by stackctl",
                                None,
                            ),
                            other => self.problem(
                                &at,
                                format!("`env_file.{other}` is not an env_file field"),
                                Some("use `path` and `required`"),
                            ),
                        }
                    }
                    if file.is_none() && !map.contains_key("path") {
                        self.problem(&at, "an `env_file` entry needs `path`", None);
                    }
                    file.map(|f| (f, required))
                }
                other => {
                    self.problem(
                        &at,
                        format!(
                            "`env_file` entries must be paths or mappings, not {}",
                            describe(other)
                        ),
                        None,
                    );
                    None
                }
            };
            if let Some((file, required)) = parsed {
                // Unique by path, the later entry winning (compose-go `envFileIndexer`).
                match out.iter_mut().find(|(f, _)| *f == file) {
                    Some(existing) => existing.1 = required,
                    None => out.push((file, required)),
                }
            }
        }
        out
    }

    fn ports(&mut self, path: &Path_, value: &Value) -> Vec<Port> {
        let Value::Sequence(items) = value else {
            if !value.is_null() {
                self.problem(
                    path,
                    format!("`ports` must be a list, not {}", describe(value)),
                    None,
                );
            }
            return Vec::new();
        };
        let mut out: Vec<Port> = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let at = sub(path, &item(i));
            let spec = match entry {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                Value::Mapping(map) => self.long_port(&at, map),
                other => {
                    self.problem(
                        &at,
                        format!(
                            "a port must be a number, a string or a mapping, not {}",
                            describe(other)
                        ),
                        None,
                    );
                    None
                }
            };
            let Some(spec) = spec else { continue };
            match syntax::ports(&spec) {
                // Unique on {ip, target, published, protocol} (compose-spec, "Unique resources").
                Ok(ports) => {
                    for port in ports {
                        if !out.contains(&port) {
                            out.push(port);
                        }
                    }
                }
                Err(e) => self.problem(
                    &at,
                    e,
                    Some(
                        "write ports as `CONTAINER`, `HOST:CONTAINER` or `IP:HOST:CONTAINER[/udp]`",
                    ),
                ),
            }
        }
        out
    }

    /// A long-form port as the equivalent short spec.
    fn long_port(&mut self, path: &Path_, map: &Mapping) -> Option<String> {
        let mut target = None;
        let mut published = None;
        let mut host_ip = None;
        let mut protocol = None;
        let mut ok = true;
        for (k, v) in map {
            let key = k.as_str().unwrap_or_default();
            let at = sub(path, key);
            let number_or_string = |v: &Value| match v {
                Value::Number(n) if n.as_u64().is_some() => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            };
            match key {
                "target" | "published" => {
                    let Some(text) = number_or_string(v) else {
                        self.problem(
                            &at,
                            format!("`{key}` must be a port number, not {}", describe(v)),
                            None,
                        );
                        ok = false;
                        continue;
                    };
                    if key == "target" {
                        target = Some(text);
                    } else {
                        published = Some(text);
                    }
                }
                "host_ip" => match self.string(&at, v).map(|ip| syntax::host_address(&ip)) {
                    Some(Ok(ip)) => host_ip = Some(ip),
                    Some(Err(e)) => {
                        self.problem(&at, format!("`host_ip`: {e}"), None);
                        ok = false;
                    }
                    None => ok = false,
                },
                "protocol" => protocol = self.string(&at, v),
                "mode" => {
                    if let Some(mode) = self.string(&at, v) {
                        if mode != "host" && mode != "ingress" {
                            self.problem(
                                &at,
                                format!("port mode `{mode}` is unknown"),
                                Some("use `host` or `ingress`"),
                            );
                        }
                    }
                }
                "name" | "app_protocol" => {
                    self.string(&at, v);
                }
                x if x.starts_with("x-") => {}
                other => {
                    self.problem(
                        &at,
                        format!("`{other}` is not a port field"),
                        Some("use `target`, `published`, `host_ip`, `protocol`, `mode`, `name` or `app_protocol`"),
                    );
                    ok = false;
                }
            }
        }
        let Some(target) = target else {
            if ok {
                self.problem(path, "a long-form port needs `target`", None);
            }
            return None;
        };
        if !ok {
            return None;
        }
        let mut spec = match published {
            Some(p) => format!("{p}:{target}"),
            None => target,
        };
        if let Some(ip) = host_ip {
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip
            };
            spec = format!(
                "{ip}:{}",
                if spec.contains(':') {
                    spec
                } else {
                    format!(":{spec}")
                }
            );
        }
        if let Some(protocol) = protocol {
            spec = format!("{spec}/{protocol}");
        }
        Some(spec)
    }

    fn mounts(&mut self, path: &Path_, value: &Value) -> Vec<Mount> {
        let Value::Sequence(items) = value else {
            if !value.is_null() {
                self.problem(
                    path,
                    format!("`volumes` must be a list, not {}", describe(value)),
                    None,
                );
            }
            return Vec::new();
        };
        let mut out: Vec<Mount> = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let at = sub(path, &item(i));
            let mount = match entry {
                Value::Mapping(map) => self.long_mount(&at, map),
                Value::String(spec) => self.short_mount(&at, spec),
                other => {
                    self.problem(
                        &at,
                        format!(
                            "a volume must be a string or a mapping, not {}",
                            describe(other)
                        ),
                        None,
                    );
                    None
                }
            };
            let Some(mut mount) = mount else { continue };
            if !mount.target.starts_with('/') {
                self.problem(
                    &at,
                    format!("volume target `{}` is not an absolute path", mount.target),
                    Some("mount at an absolute path inside the container, e.g. `/data`"),
                );
                continue;
            }
            if mount.kind == MountKind::Bind {
                mount.source = self.host_path(&mount.source);
            }
            // Unique on the container target, the later entry winning in place
            // (compose-spec, "Unique resources"; compose-go `volumeIndexer`).
            match out.iter_mut().find(|m| m.target == mount.target) {
                Some(existing) => *existing = mount,
                None => out.push(mount),
            }
        }
        out
    }

    /// A bind source on the host: `~` is the home directory, relative paths are relative to
    /// the project directory.
    fn host_path(&self, source: &str) -> String {
        let home = || self.vars.get("HOME").map(PathBuf::from);
        let path = if source == "~" {
            home().unwrap_or_else(|| PathBuf::from(source))
        } else if let Some(rest) = source.strip_prefix("~/") {
            home().map_or_else(|| PathBuf::from(source), |h| h.join(rest))
        } else {
            self.dir.join(source)
        };
        clean(&path).to_string_lossy().into_owned()
    }

    fn long_mount(&mut self, path: &Path_, map: &Mapping) -> Option<Mount> {
        let mut kind = None;
        let mut source = None;
        let mut target = None;
        let mut read_only = false;
        let mut ok = true;
        for (k, v) in map {
            let key = k.as_str().unwrap_or_default();
            let at = sub(path, key);
            match key {
                "type" => match self.string(&at, v).as_deref() {
                    Some("bind") => kind = Some(MountKind::Bind),
                    Some("volume") => kind = Some(MountKind::Volume),
                    Some(other) => {
                        self.problem(
                            &at,
                            format!("volume type `{other}` is not supported by stackctl"),
                            Some("use `bind` or `volume`"),
                        );
                        ok = false;
                    }
                    None => ok = false,
                },
                "source" => source = self.name(&at, v),
                "target" => target = self.name(&at, v),
                "read_only" => read_only = self.boolean(&at, v).unwrap_or(false),
                x if x.starts_with("x-") => {}
                other => {
                    self.problem(
                        &at,
                        format!("volume option `{other}` is not supported by stackctl"),
                        Some("use `type`, `source`, `target` and `read_only`"),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let Some(kind) = kind else {
            self.problem(
                path,
                "a long-form volume needs `type` (`bind` or `volume`)",
                None,
            );
            return None;
        };
        let (Some(source), Some(target)) = (source, target) else {
            self.problem(
                path,
                "a long-form volume needs `source` and `target` (anonymous volumes are not supported)",
                None,
            );
            return None;
        };
        Some(Mount {
            kind,
            source,
            target,
            read_only,
        })
    }

    fn short_mount(&mut self, path: &Path_, spec: &str) -> Option<Mount> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [source, target] => (*source, *target, ""),
            [source, target, mode] => (*source, *target, *mode),
            _ => {
                self.problem(
                    path,
                    format!("volume `{spec}`: expected `SOURCE:TARGET[:ro]` (anonymous volumes are not supported)"),
                    None,
                );
                return None;
            }
        };
        if source.is_empty() {
            self.problem(path, format!("volume `{spec}` has no source"), None);
            return None;
        }
        let read_only = match mode {
            "" | "rw" => false,
            "ro" => true,
            other => {
                self.problem(
                    path,
                    format!("volume `{spec}`: mode `{other}` is not supported by stackctl"),
                    Some("use `ro` or `rw`"),
                );
                return None;
            }
        };
        let bind = source.starts_with('.') || source.starts_with('/') || source.starts_with('~');
        if !bind && !syntax::is_resource_name(source) {
            self.problem(
                path,
                format!("volume `{spec}`: `{source}` is neither a path nor a volume name"),
                Some("start a host path with `./` or `/`; volume names use letters, digits, `.`, `_` and `-`"),
            );
            return None;
        }
        Some(Mount {
            kind: if bind {
                MountKind::Bind
            } else {
                MountKind::Volume
            },
            source: source.to_owned(),
            target: target.to_owned(),
            read_only,
        })
    }

    fn service_networks(&mut self, path: &Path_, value: &Value) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let Some(map) = self.mapping(path, value) else {
            return out;
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            if !syntax::is_resource_name(k) {
                self.problem(
                    &at,
                    format!("network name `{k}` has characters compose does not allow"),
                    Some("use only letters, digits, `.`, `_` and `-`"),
                );
                continue;
            }
            let mut aliases = Vec::new();
            match v {
                Value::Null => {}
                Value::Mapping(opts) => {
                    for (ok, ov) in opts {
                        let key = ok.as_str().unwrap_or_default();
                        match key {
                            "aliases" => {
                                aliases = dedupe(self.strings(&sub(&at, key), ov, false));
                            }
                            x if x.starts_with("x-") => {}
                            other => self.problem(
                                &sub(&at, other),
                                format!("network option `{other}` is not supported by stackctl"),
                                Some("only `aliases` is"),
                            ),
                        }
                    }
                }
                other => self.problem(
                    &at,
                    format!(
                        "network `{k}` must have a mapping or nothing, not {}",
                        describe(other)
                    ),
                    None,
                ),
            }
            out.insert(k.to_owned(), aliases);
        }
        out
    }

    fn depends_on(&mut self, path: &Path_, value: &Value) -> BTreeMap<String, Dependency> {
        let mut out = BTreeMap::new();
        let Some(map) = self.mapping(path, value) else {
            return out;
        };
        for (k, v) in map {
            let Some(dep) = k.as_str() else { continue };
            let at = sub(path, dep);
            if !syntax::is_resource_name(dep) {
                self.problem(
                    &at,
                    format!("`{dep}` is not a service name"),
                    Some("service names use letters, digits, `.`, `_` and `-`"),
                );
                continue;
            }
            let mut dependency = Dependency {
                condition: Condition::ServiceStarted,
                required: true,
                restart: false,
            };
            match v {
                Value::Null => {}
                Value::Mapping(opts) => {
                    for (ok, ov) in opts {
                        let key = ok.as_str().unwrap_or_default();
                        let at = sub(&at, key);
                        match key {
                            "condition" => match self.string(&at, ov).as_deref() {
                                Some("service_started") => {
                                    dependency.condition = Condition::ServiceStarted;
                                }
                                Some("service_healthy") => {
                                    dependency.condition = Condition::ServiceHealthy;
                                }
                                Some("service_completed_successfully") => {
                                    dependency.condition = Condition::ServiceCompletedSuccessfully;
                                }
                                Some(other) => self.problem(
                                    &at,
                                    format!("unknown condition `{other}`"),
                                    Some("use `service_started`, `service_healthy` or `service_completed_successfully`"),
                                ),
                                None => {}
                            },
                            "required" => {
                                dependency.required = self.boolean(&at, ov).unwrap_or(true);
                            }
                            "restart" => {
                                dependency.restart = self.boolean(&at, ov).unwrap_or(false);
                            }
                            x if x.starts_with("x-") => {}
                            other => self.problem(
                                &at,
                                format!("`depends_on.{dep}.{other}` is not supported"),
                                Some("use `condition`, `required` and `restart`"),
                            ),
                        }
                    }
                }
                other => self.problem(
                    &at,
                    format!(
                        "`depends_on.{dep}` must be a mapping, not {}",
                        describe(other)
                    ),
                    Some("e.g. `{condition: service_healthy}`"),
                ),
            }
            out.insert(dep.to_owned(), dependency);
        }
        out
    }

    fn healthcheck(&mut self, path: &Path_, value: &Value) -> Option<Healthcheck> {
        let map = self.mapping(path, value)?;
        let mut check = Healthcheck {
            test: Vec::new(),
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        };
        let mut disabled = false;
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            match k {
                "test" => check.test = self.health_test(&at, v),
                "interval" => check.interval = self.duration(&at, v),
                "timeout" => check.timeout = self.duration(&at, v),
                "start_period" => check.start_period = self.duration(&at, v),
                "start_interval" => check.start_interval = self.duration(&at, v),
                "retries" => {
                    let retries = match v {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.parse::<u64>().ok(),
                        _ => None,
                    };
                    match retries.and_then(|n| u32::try_from(n).ok()) {
                        Some(n) => check.retries = Some(n),
                        None => self.problem(
                            &at,
                            format!(
                                "`healthcheck.retries` must be a whole number from 0, not `{}`",
                                scalar_text(v).unwrap_or_else(|| describe(v).to_owned())
                            ),
                            None,
                        ),
                    }
                }
                "disable" => disabled = self.boolean(&at, v).unwrap_or(false),
                x if x.starts_with("x-") => {}
                other => self.problem(
                    &at,
                    format!("`healthcheck.{other}` is not a healthcheck field"),
                    None,
                ),
            }
        }
        // `disable: true` wins over a `test` (compose-go sets `test: ["NONE"]`), whatever the
        // order the keys are written in; so does `test: ["NONE"]`.
        if disabled || check.test.first().is_some_and(|t| t == "NONE") {
            return Some(Healthcheck {
                test: vec!["NONE".to_owned()],
                interval: None,
                timeout: None,
                retries: None,
                start_period: None,
                start_interval: None,
            });
        }
        Some(check)
    }

    fn health_test(&mut self, path: &Path_, value: &Value) -> Vec<String> {
        let test = match value {
            Value::Sequence(_) => self.strings(path, value, false),
            _ => match self.string(path, value) {
                Some(command) if command.trim().is_empty() => {
                    self.problem(path, "`healthcheck.test` is empty", None);
                    return Vec::new();
                }
                Some(command) => vec!["CMD-SHELL".to_owned(), command],
                None => return Vec::new(),
            },
        };
        let valid = match test.first().map(String::as_str) {
            Some("NONE") => true,
            Some("CMD" | "CMD-SHELL") => test.len() > 1,
            _ => false,
        };
        if !valid {
            self.problem(
                path,
                "`healthcheck.test` must be `[\"CMD\", program, args...]`, `[\"CMD-SHELL\", command]` or `[\"NONE\"]`",
                Some("e.g. `[\"CMD\", \"/stackctl\", \"check\", \"tcp\", \"127.0.0.1:27017\"]`"),
            );
        }
        test
    }

    fn restart(&mut self, path: &Path_, value: &Value) -> Option<String> {
        let policy = self.string(path, value)?;
        if !syntax::is_restart_policy(&policy) {
            self.problem(
                path,
                format!("unknown restart policy `{policy}`"),
                Some("use `no`, `always`, `on-failure[:N]` or `unless-stopped`"),
            );
            return None;
        }
        Some(policy)
    }

    fn extra_hosts(&mut self, path: &Path_, value: &Value) -> Vec<String> {
        let Value::Sequence(items) = value else {
            if !value.is_null() {
                self.problem(
                    path,
                    format!(
                        "`extra_hosts` must be a list or a mapping, not {}",
                        describe(value)
                    ),
                    None,
                );
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let at = sub(path, &item(i));
            let Some(text) = self.string(&at, entry) else {
                continue;
            };
            match syntax::extra_host(&text) {
                // Exact duplicates are one entry (compose-go `mergeExtraHosts`).
                Ok(host) if out.contains(&host) => {}
                Ok(host) => out.push(host),
                Err(e) => self.problem(&at, e, Some("write `HOST:IP`, e.g. `db:10.0.0.5`")),
            }
        }
        out
    }

    fn extension(&mut self, path: &Path_, value: &Value, service: &mut Service) {
        let Some(map) = self.mapping(path, value) else {
            return;
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(path, k);
            match k {
                "ready" => {
                    for (i, target) in dedupe(self.strings(&at, v, true)).into_iter().enumerate() {
                        match target.parse::<crate::target::Target>() {
                            Ok(_) => service.ready.push(target),
                            Err(e) => {
                                self.problem(
                                    &sub(&at, &item(i)),
                                    format!("ready check `{target}`: {e}"),
                                    None,
                                );
                            }
                        }
                    }
                }
                "job" => {
                    let mut job = JobOptions::default();
                    match v {
                        Value::Bool(true) | Value::Null => {}
                        Value::Bool(false) => continue,
                        Value::Mapping(opts) => {
                            for (ok, ov) in opts {
                                let key = ok.as_str().unwrap_or_default();
                                let at = sub(&at, key);
                                match key {
                                    "attempts" => match ov
                                        .as_u64()
                                        .and_then(|n| u32::try_from(n).ok())
                                        .filter(|n| *n > 0)
                                    {
                                        Some(n) => job.attempts = n,
                                        None => self.problem(
                                            &at,
                                            "`job.attempts` must be a whole number above 0",
                                            None,
                                        ),
                                    },
                                    "timeout" => job.timeout = self.duration(&at, ov),
                                    "backoff" => {
                                        if let Some(d) = self.duration(&at, ov) {
                                            job.backoff = d;
                                        }
                                    }
                                    "max_backoff" => {
                                        if let Some(d) = self.duration(&at, ov) {
                                            job.max_backoff = d;
                                        }
                                    }
                                    other => self.problem(
                                        &at,
                                        format!("`x-stackctl.job.{other}` is unknown"),
                                        Some("use `attempts`, `timeout`, `backoff` and `max_backoff`"),
                                    ),
                                }
                            }
                        }
                        _ => {
                            self.problem(&at, "`x-stackctl.job` must be `true` or a mapping", None);
                        }
                    }
                    service.job = Some(job);
                }
                other => self.problem(
                    &at,
                    format!("`x-stackctl.{other}` is unknown"),
                    Some("use `ready` and `job`"),
                ),
            }
        }
    }

    fn networks(&mut self, value: &Value) -> BTreeMap<String, Network> {
        let mut out = BTreeMap::new();
        let path = path_of(&["networks"]);
        let map = match value {
            Value::Null => return out,
            Value::Mapping(map) => map,
            other => {
                self.problem(
                    &path,
                    format!(
                        "`networks` must be a mapping of network names, not {}",
                        describe(other)
                    ),
                    Some("write `networks:` as `NAME: {}` entries, e.g. `front: {}`"),
                );
                return out;
            }
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(&path, k);
            if !syntax::is_resource_name(k) {
                self.problem(
                    &at,
                    format!("network name `{k}` has characters compose does not allow"),
                    Some("use only letters, digits, `.`, `_` and `-`"),
                );
                continue;
            }
            let mut network = Network::default();
            match v {
                Value::Null => {}
                Value::Mapping(opts) => {
                    for (ok, ov) in opts {
                        let key = ok.as_str().unwrap_or_default();
                        let at = sub(&at, key);
                        match key {
                            "external" => {
                                network.external = self.external(&at, ov, &mut network.name);
                            }
                            "name" => network.name = self.name(&at, ov),
                            "driver" => network.driver = self.name(&at, ov),
                            x if x.starts_with("x-") => {}
                            other => self.problem(
                                &at,
                                format!("network option `{other}` is not supported"),
                                Some("use `external`, `name` or `driver`"),
                            ),
                        }
                    }
                }
                other => self.problem(
                    &at,
                    format!(
                        "network `{k}` must be a mapping or empty, not {}",
                        describe(other)
                    ),
                    None,
                ),
            }
            out.insert(k.to_owned(), network);
        }
        out
    }

    /// `external: true|false`, or the deprecated `external: {name: NAME}`.
    fn external(&mut self, path: &Path_, value: &Value, name: &mut Option<String>) -> bool {
        if let Value::Mapping(map) = value {
            for (k, v) in map {
                match k.as_str() {
                    Some("name") => *name = self.name(&sub(path, "name"), v),
                    Some(x) if x.starts_with("x-") => {}
                    _ => self.problem(
                        path,
                        "`external` takes only `name`",
                        Some("write `external: true` and `name: NAME`"),
                    ),
                }
            }
            return true;
        }
        self.boolean(path, value).unwrap_or(false)
    }

    fn volumes(&mut self, value: &Value) -> BTreeMap<String, Volume> {
        let mut out = BTreeMap::new();
        let path = path_of(&["volumes"]);
        let map = match value {
            Value::Null => return out,
            Value::Mapping(map) => map,
            other => {
                self.problem(
                    &path,
                    format!(
                        "`volumes` must be a mapping of volume names, not {}",
                        describe(other)
                    ),
                    Some("write `volumes:` as `NAME: {}` entries, e.g. `data: {}`"),
                );
                return out;
            }
        };
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            let at = sub(&path, k);
            if !syntax::is_resource_name(k) {
                self.problem(
                    &at,
                    format!("volume name `{k}` has characters compose does not allow"),
                    Some("use only letters, digits, `.`, `_` and `-`"),
                );
                continue;
            }
            let mut volume = Volume::default();
            match v {
                Value::Null => {}
                Value::Mapping(opts) => {
                    for (ok, ov) in opts {
                        let key = ok.as_str().unwrap_or_default();
                        let at = sub(&at, key);
                        match key {
                            "external" => {
                                volume.external = self.external(&at, ov, &mut volume.name);
                            }
                            "name" => volume.name = self.name(&at, ov),
                            x if x.starts_with("x-") => {}
                            other => self.problem(
                                &at,
                                format!("volume option `{other}` is not supported"),
                                Some("use `external` or `name`"),
                            ),
                        }
                    }
                }
                other => self.problem(
                    &at,
                    format!(
                        "volume `{k}` must be a mapping or empty, not {}",
                        describe(other)
                    ),
                    None,
                ),
            }
            out.insert(k.to_owned(), volume);
        }
        out
    }
}

/// A scalar as text (`8080`, `true`, `hello`); `None` for anything else.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Keeps the first of equal entries.
fn dedupe(items: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}
