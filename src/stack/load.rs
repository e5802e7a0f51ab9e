//! Reading a stack file: locate it, read `.env`, parse YAML, interpolate, and convert every
//! key we support into the model — reporting, by name and line, every key we do not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_serde::{Mapping, Value};

use super::interpolate::{Variables, interpolate};
use super::locate::Source;
use super::model::{
    Build, Condition, Dependency, Healthcheck, JobOptions, Mount, MountKind, Network, Port,
    Service, Stack, Volume,
};
use crate::error::Error;

/// File names tried, in order, when `-f` is not given (compose's order).
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Where and how to load a stack from.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f FILE`.
    pub file: Option<PathBuf>,
    /// `-p NAME`.
    pub project: Option<String>,
    /// `--env-file FILE` (replaces `.env`).
    pub env_file: Option<PathBuf>,
    /// The process environment (wins over `.env`).
    pub environment: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

/// A problem found in the stack file.
#[derive(Debug, Clone)]
struct Problem {
    line: Option<usize>,
    message: String,
    hint: Option<String>,
}

/// Collects problems while converting, so one run reports all of them.
struct Loader {
    file_name: String,
    source: Source,
    vars: Variables,
    dir: PathBuf,
    unset: Vec<String>,
    problems: Vec<Problem>,
}

impl Loader {
    fn problem(&mut self, path: &[&str], message: impl Into<String>, hint: Option<&str>) {
        let line = (1..=path.len())
            .rev()
            .find_map(|n| self.source.line_of(&path[..n]));
        self.problems.push(Problem {
            line,
            message: message.into(),
            hint: hint.map(str::to_owned),
        });
    }

    fn into_error(self) -> Option<Error> {
        let first = self.problems.first()?;
        let at = |p: &Problem| match p.line {
            Some(line) => format!("{}:{line}", self.file_name),
            None => self.file_name.clone(),
        };
        if self.problems.len() == 1 {
            let mut error = Error::usage(format!("{}: {}", at(first), first.message));
            if let Some(hint) = &first.hint {
                error = error.with_hint(hint.clone());
            }
            return Some(error);
        }
        let mut message = format!("{} problems in {}:", self.problems.len(), self.file_name);
        for p in &self.problems {
            let _ = write!(message, "\n  {}: {}", at(p), p.message);
            if let Some(hint) = &p.hint {
                let _ = write!(message, " (hint: {hint})");
            }
        }
        Some(Error::usage(message))
    }
}

/// Finds, reads, converts and validates the stack file.
///
/// # Errors
/// A usage error (exit 2) naming the file, the line and what was expected.
pub fn load_validated(options: &LoadOptions, profiles: &BTreeSet<String>) -> Result<Stack, Error> {
    let file = find_file(options)?;
    let dir = file
        .parent()
        .map_or_else(|| options.cwd.clone(), Path::to_path_buf);
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::usage(format!(
            "cannot read `{}`: {}",
            file.display(),
            crate::reason::io_reason(&e)
        ))
    })?;

    let mut vars = read_env_file(options, &dir)?;
    vars.extend(options.environment.clone());

    let document: Value = yaml_serde::from_str(&text).map_err(|e| {
        let at = e.location().map_or_else(
            || file_name.clone(),
            |l| format!("{file_name}:{}", l.line()),
        );
        Error::usage(format!("{at}: not valid YAML: {e}"))
            .with_hint("check the indentation and quoting around that line")
    })?;
    let Value::Mapping(top) = document else {
        return Err(Error::usage(format!(
            "{file_name}: expected a mapping with `services:` at the top"
        )));
    };

    let mut loader = Loader {
        file_name,
        source: Source::new(&text),
        vars,
        dir: dir.clone(),
        unset: Vec::new(),
        problems: Vec::new(),
    };
    let mut stack = convert(&mut loader, &top, options, &file, &dir);
    if loader.problems.is_empty() {
        let mut profiles = profiles.clone();
        if let Some(active) = loader.vars.get("COMPOSE_PROFILES") {
            profiles.extend(
                active
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
        super::validate::validate(&mut stack, &profiles, &mut |path, message, hint| {
            loader.problem(path, message, hint.as_deref());
        });
    }
    if let Some(error) = loader.into_error() {
        return Err(error);
    }
    Ok(stack)
}

fn find_file(options: &LoadOptions) -> Result<PathBuf, Error> {
    if let Some(file) = &options.file {
        let path = options.cwd.join(file);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::usage(format!(
                "stack file `{}` does not exist",
                file.display()
            )))
        };
    }
    DEFAULT_FILES
        .iter()
        .map(|name| options.cwd.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::usage(format!("no stack file in `{}`", options.cwd.display()))
                .with_hint("name one with `-f FILE`, or create `compose.yml`")
        })
}

fn read_env_file(options: &LoadOptions, dir: &Path) -> Result<Variables, Error> {
    let (path, required) = match &options.env_file {
        Some(file) => (options.cwd.join(file), true),
        None => (dir.join(".env"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => super::dotenv::parse(&text)
            .map_err(|e| Error::usage(format!("`{}` {e}", path.display()))),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Variables::new()),
        Err(e) => Err(Error::usage(format!(
            "cannot read `{}`: {}",
            path.display(),
            crate::reason::io_reason(&e)
        ))),
    }
}

fn convert(
    loader: &mut Loader,
    top: &Mapping,
    options: &LoadOptions,
    file: &Path,
    dir: &Path,
) -> Stack {
    let mut services_value = None;
    let mut networks = BTreeMap::from([("default".to_owned(), Network::default())]);
    let mut volumes = BTreeMap::new();
    let mut name = None;
    for (key, value) in top {
        let Some(key) = key.as_str() else { continue };
        match key {
            "services" => services_value = Some(value),
            "networks" => networks.extend(convert_networks(loader, value)),
            "volumes" => volumes = convert_volumes(loader, value),
            "name" => name = scalar(loader, &["name"], value),
            "version" => {}
            k if k.starts_with("x-") => {}
            other => loader.problem(
                &[other],
                format!("top-level key `{other}` is not supported"),
                Some("stackctl supports `services`, `networks`, `volumes`, `name`, `version` and `x-*` extensions"),
            ),
        }
    }
    let project = project_name(options, name, dir, &loader.vars);
    let mut services = BTreeMap::new();
    match services_value {
        Some(Value::Mapping(map)) => {
            for (key, value) in map {
                let Some(service) = key.as_str() else {
                    continue;
                };
                if let Some(s) = convert_service(loader, service, value) {
                    services.insert(service.to_owned(), s);
                }
            }
        }
        Some(_) => loader.problem(
            &["services"],
            "`services` must be a mapping of service names",
            None,
        ),
        None => loader.problem(
            &[],
            "no `services:` defined",
            Some("a stack file needs at least one service"),
        ),
    }
    let warnings = loader
        .unset
        .iter()
        .map(|v| format!("variable `{v}` is not set; using an empty string"))
        .collect();
    Stack {
        project,
        file: file.to_path_buf(),
        dir: dir.to_path_buf(),
        services,
        networks,
        volumes,
        warnings,
    }
}

/// `-p` > `name:` > `COMPOSE_PROJECT_NAME` > the directory's name; normalised as compose does.
fn project_name(
    options: &LoadOptions,
    name: Option<String>,
    dir: &Path,
    vars: &Variables,
) -> String {
    let raw = options
        .project
        .clone()
        .or(name)
        .or_else(|| vars.get("COMPOSE_PROJECT_NAME").cloned())
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    normalize_project(&raw)
}

/// Lowercase, only `[a-z0-9_-]`, leading `_`/`-` trimmed.
#[must_use]
pub fn normalize_project(raw: &str) -> String {
    let cleaned: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    let trimmed = cleaned.trim_start_matches(['_', '-']);
    if trimmed.is_empty() {
        "default".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn scalar(loader: &mut Loader, path: &[&str], value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => {
            loader.problem(
                path,
                format!("`{}` must be a string", path.last().unwrap_or(&"value")),
                None,
            );
            return None;
        }
    };
    match interpolate(&text, &loader.vars, &mut loader.unset) {
        Ok(v) => Some(v),
        Err(e) => {
            loader.problem(
                path,
                e,
                Some("set the variable in the environment or in `.env`"),
            );
            None
        }
    }
}

fn string_list(loader: &mut Loader, path: &[&str], value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .filter_map(|v| scalar(loader, path, v))
            .collect(),
        Value::Null => Vec::new(),
        other => scalar(loader, path, other).into_iter().collect(),
    }
}

/// A mapping, or a list of `KEY=VALUE` / `KEY` strings (environment, labels, args).
fn key_values(
    loader: &mut Loader,
    path: &[&str],
    value: &Value,
    take_from_env: bool,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let Some(k) = k.as_str() else { continue };
                if v.is_null() {
                    if let Some(v) = take_from_env.then(|| loader.vars.get(k).cloned()).flatten() {
                        out.insert(k.to_owned(), v);
                    }
                } else if let Some(v) = scalar(loader, path, v) {
                    out.insert(k.to_owned(), v);
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                let Some(entry) = scalar(loader, path, item) else {
                    continue;
                };
                match entry.split_once('=') {
                    Some((k, v)) => {
                        out.insert(k.to_owned(), v.to_owned());
                    }
                    None if take_from_env => {
                        if let Some(v) = loader.vars.get(&entry).cloned() {
                            out.insert(entry, v);
                        }
                    }
                    None => {
                        out.insert(entry, String::new());
                    }
                }
            }
        }
        Value::Null => {}
        _ => loader.problem(
            path,
            format!(
                "`{}` must be a mapping or a list of `KEY=VALUE`",
                path.last().unwrap_or(&"")
            ),
            None,
        ),
    }
    out
}

fn duration(loader: &mut Loader, path: &[&str], value: &Value) -> Option<Duration> {
    let text = scalar(loader, path, value)?;
    match crate::cli::values::duration(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            loader.problem(path, format!("`{}`: {e}", path.last().unwrap_or(&"")), None);
            None
        }
    }
}

fn command(loader: &mut Loader, path: &[&str], value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Null => None,
        Value::Sequence(_) => Some(string_list(loader, path, value)),
        _ => {
            let text = scalar(loader, path, value)?;
            let words = shlex::split(&text);
            if words.is_none() {
                loader.problem(
                    path,
                    format!("cannot split `{text}` into words (unbalanced quotes)"),
                    None,
                );
            }
            words
        }
    }
}

#[allow(clippy::too_many_lines)] // one arm per compose key reads best as one table
fn convert_service(loader: &mut Loader, name: &str, value: &Value) -> Option<Service> {
    let Value::Mapping(map) = value else {
        loader.problem(
            &["services", name],
            format!("service `{name}` must be a mapping"),
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
        profiles: Vec::new(),
        ready: Vec::new(),
        job: None,
        line: loader.source.line_of(&["services", name]),
    };
    let mut env_files = Vec::new();
    let mut environment = BTreeMap::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        let path = ["services", name, key];
        match key {
            "image" => service.image = scalar(loader, &path, value),
            "build" => service.build = build(loader, &path, value),
            "command" => service.command = command(loader, &path, value),
            "entrypoint" => service.entrypoint = command(loader, &path, value),
            "environment" => environment = key_values(loader, &path, value, true),
            "env_file" => env_files = string_list(loader, &path, value),
            "ports" => service.ports = ports(loader, &path, value),
            "volumes" => service.volumes = mounts(loader, &path, value),
            "networks" => service.networks = service_networks(loader, &path, value),
            "depends_on" => service.depends_on = depends_on(loader, &path, value),
            "healthcheck" => service.healthcheck = healthcheck(loader, &path, value),
            "restart" => service.restart = restart(loader, &path, value),
            "labels" => service.labels = key_values(loader, &path, value, false),
            "user" => service.user = scalar(loader, &path, value),
            "working_dir" => service.working_dir = scalar(loader, &path, value),
            "hostname" => service.hostname = scalar(loader, &path, value),
            "container_name" => service.container_name = scalar(loader, &path, value),
            "extra_hosts" => service.extra_hosts = extra_hosts(loader, &path, value),
            "profiles" => service.profiles = string_list(loader, &path, value),
            "x-stackctl" => extension(loader, &path, value, &mut service),
            k if k.starts_with("x-") => {}
            other => loader.problem(
                &path,
                format!("service `{name}`: key `{other}` is not supported by stackctl"),
                Some("remove it; compose-only settings cannot be honoured silently"),
            ),
        }
    }
    for file in env_files {
        let path = loader.dir.join(&file);
        match std::fs::read_to_string(&path)
            .map_err(|e| crate::reason::io_reason(&e))
            .and_then(|t| super::dotenv::parse(&t))
        {
            Ok(vars) => service.environment.extend(vars),
            Err(e) => loader.problem(
                &["services", name, "env_file"],
                format!("env_file `{file}`: {e}"),
                None,
            ),
        }
    }
    service.environment.extend(environment);
    let declared = |k: &str| map.contains_key(Value::String(k.to_owned()));
    if service.image.is_none()
        && service.build.is_none()
        && !declared("image")
        && !declared("build")
    {
        loader.problem(
            &["services", name],
            format!("service `{name}` has neither `image` nor `build`"),
            Some("add `image: NAME` or `build: DIR`"),
        );
    }
    Some(service)
}

fn build(loader: &mut Loader, path: &[&str], value: &Value) -> Option<Build> {
    let mut build = Build {
        context: PathBuf::from("."),
        dockerfile: None,
        args: BTreeMap::new(),
    };
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let Some(k) = k.as_str() else { continue };
                let mut sub = path.to_vec();
                sub.push(k);
                match k {
                    "context" => build.context = PathBuf::from(scalar(loader, &sub, v)?),
                    "dockerfile" => build.dockerfile = scalar(loader, &sub, v),
                    "args" => build.args = key_values(loader, &sub, v, true),
                    other => loader.problem(
                        &sub,
                        format!("`build.{other}` is not supported by stackctl"),
                        None,
                    ),
                }
            }
        }
        _ => build.context = PathBuf::from(scalar(loader, path, value)?),
    }
    build.context = loader.dir.join(&build.context);
    Some(build)
}

fn ports(loader: &mut Loader, path: &[&str], value: &Value) -> Vec<Port> {
    let Value::Sequence(items) = value else {
        loader.problem(path, "`ports` must be a list", None);
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        if let Value::Mapping(map) = item {
            let get = |k: &str| {
                map.get(k).and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_u64().map(|n| n.to_string()))
                })
            };
            let spec = match (get("published"), get("target")) {
                (Some(p), Some(t)) => format!("{p}:{t}"),
                (None, Some(t)) => t,
                _ => {
                    loader.problem(path, "a long-form port needs `target`", None);
                    continue;
                }
            };
            let spec = match get("host_ip") {
                Some(ip) => format!("{ip}:{spec}"),
                None => spec,
            };
            let spec = match get("protocol") {
                Some(proto) => format!("{spec}/{proto}"),
                None => spec,
            };
            push_port(loader, path, &spec, &mut out);
        } else if let Some(spec) = scalar(loader, path, item) {
            push_port(loader, path, &spec, &mut out);
        }
    }
    out
}

fn push_port(loader: &mut Loader, path: &[&str], spec: &str, out: &mut Vec<Port>) {
    match parse_port(spec) {
        Ok(port) => out.push(port),
        Err(e) => loader.problem(
            path,
            e,
            Some("write ports as `CONTAINER`, `HOST:CONTAINER` or `IP:HOST:CONTAINER[/udp]`"),
        ),
    }
}

/// `80`, `8080:80`, `127.0.0.1:8080:80`, `8080:80/udp`, `[::1]:8080:80`.
fn parse_port(spec: &str) -> Result<Port, String> {
    let (body, protocol) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if protocol != "tcp" && protocol != "udp" {
        return Err(format!("port `{spec}`: protocol must be `tcp` or `udp`"));
    }
    let number = |s: &str| -> Result<u16, String> {
        match s.parse::<u32>() {
            Ok(n @ 1..=65535) => Ok(u16::try_from(n).unwrap_or_default()),
            _ => Err(format!(
                "port `{spec}`: `{s}` is not a port number (1-65535)"
            )),
        }
    };
    let (host_ip, rest) = if let Some(v6) = body.strip_prefix('[') {
        let (ip, rest) = v6
            .split_once("]:")
            .ok_or_else(|| format!("port `{spec}`: unclosed `[`"))?;
        (Some(ip.to_owned()), rest)
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        if parts.len() == 3 {
            (Some(parts[0].to_owned()), &body[parts[0].len() + 1..])
        } else {
            (None, body)
        }
    };
    let (host_port, container_port) = match rest.split_once(':') {
        Some(("", c)) => (None, number(c)?),
        Some((h, c)) => (Some(number(h)?), number(c)?),
        None => (None, number(rest)?),
    };
    Ok(Port {
        host_ip,
        host_port,
        container_port,
        protocol: protocol.to_owned(),
    })
}

fn mounts(loader: &mut Loader, path: &[&str], value: &Value) -> Vec<Mount> {
    let Value::Sequence(items) = value else {
        loader.problem(path, "`volumes` must be a list", None);
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let mount = match item {
            Value::Mapping(map) => {
                let get = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
                let kind = match get("type").as_deref() {
                    Some("bind") => MountKind::Bind,
                    Some("volume") | None => MountKind::Volume,
                    Some(other) => {
                        loader.problem(
                            path,
                            format!("volume type `{other}` is not supported"),
                            Some("use `bind` or `volume`"),
                        );
                        continue;
                    }
                };
                let (Some(source), Some(target)) = (get("source"), get("target")) else {
                    loader.problem(path, "a long-form volume needs `source` and `target`", None);
                    continue;
                };
                let read_only = map
                    .get("read_only")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Some(Mount {
                    kind,
                    source,
                    target,
                    read_only,
                })
            }
            other => scalar(loader, path, other).and_then(|spec| short_mount(loader, path, &spec)),
        };
        if let Some(mut mount) = mount {
            if mount.kind == MountKind::Bind {
                mount.source = loader
                    .dir
                    .join(&mount.source)
                    .to_string_lossy()
                    .into_owned();
            }
            out.push(mount);
        }
    }
    out
}

fn short_mount(loader: &mut Loader, path: &[&str], spec: &str) -> Option<Mount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => {
            loader.problem(
                path,
                format!("volume `{spec}`: expected `SOURCE:TARGET[:ro]` (anonymous volumes are not supported)"),
                None,
            );
            return None;
        }
    };
    let read_only = match mode {
        "" | "rw" => false,
        "ro" => true,
        other => {
            loader.problem(
                path,
                format!("volume `{spec}`: unknown mode `{other}`"),
                Some("use `ro` or `rw`"),
            );
            return None;
        }
    };
    let bind = source.starts_with('.') || source.starts_with('/') || source.starts_with('~');
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

fn service_networks(
    loader: &mut Loader,
    path: &[&str],
    value: &Value,
) -> BTreeMap<String, Vec<String>> {
    match value {
        Value::Sequence(_) => string_list(loader, path, value)
            .into_iter()
            .map(|n| (n, Vec::new()))
            .collect(),
        Value::Mapping(map) => {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                let Some(k) = k.as_str() else { continue };
                let mut aliases = Vec::new();
                if let Value::Mapping(opts) = v {
                    for (ok, ov) in opts {
                        match ok.as_str() {
                            Some("aliases") => aliases = string_list(loader, path, ov),
                            Some(other) => loader.problem(
                                path,
                                format!("network option `{other}` is not supported"),
                                Some("only `aliases` is"),
                            ),
                            None => {}
                        }
                    }
                }
                out.insert(k.to_owned(), aliases);
            }
            out
        }
        _ => {
            loader.problem(path, "`networks` must be a list or a mapping", None);
            BTreeMap::new()
        }
    }
}

fn depends_on(loader: &mut Loader, path: &[&str], value: &Value) -> BTreeMap<String, Dependency> {
    let started = Dependency {
        condition: Condition::ServiceStarted,
        required: true,
        restart: false,
    };
    match value {
        Value::Sequence(_) => string_list(loader, path, value)
            .into_iter()
            .map(|n| (n, started.clone()))
            .collect(),
        Value::Mapping(map) => {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                let Some(dep) = k.as_str() else { continue };
                let mut sub = path.to_vec();
                sub.push(dep);
                let mut dependency = started.clone();
                if let Value::Mapping(opts) = v {
                    for (ok, ov) in opts {
                        match (ok.as_str(), ov) {
                            (Some("condition"), Value::String(c)) => match c.as_str() {
                                "service_started" => dependency.condition = Condition::ServiceStarted,
                                "service_healthy" => dependency.condition = Condition::ServiceHealthy,
                                "service_completed_successfully" => dependency.condition = Condition::ServiceCompletedSuccessfully,
                                other => loader.problem(
                                    &sub,
                                    format!("unknown condition `{other}`"),
                                    Some("use `service_started`, `service_healthy` or `service_completed_successfully`"),
                                ),
                            },
                            (Some("required"), Value::Bool(b)) => dependency.required = *b,
                            (Some("restart"), Value::Bool(b)) => dependency.restart = *b,
                            (Some(other), _) => loader.problem(&sub, format!("`depends_on.{dep}.{other}` is not supported or has the wrong type"), None),
                            (None, _) => {}
                        }
                    }
                }
                out.insert(dep.to_owned(), dependency);
            }
            out
        }
        _ => {
            loader.problem(path, "`depends_on` must be a list or a mapping", None);
            BTreeMap::new()
        }
    }
}

fn healthcheck(loader: &mut Loader, path: &[&str], value: &Value) -> Option<Healthcheck> {
    let Value::Mapping(map) = value else {
        loader.problem(path, "`healthcheck` must be a mapping", None);
        return None;
    };
    let mut check = Healthcheck {
        test: Vec::new(),
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
        start_interval: None,
    };
    for (k, v) in map {
        let Some(k) = k.as_str() else { continue };
        let mut sub = path.to_vec();
        sub.push(k);
        match k {
            "test" => {
                check.test = match v {
                    Value::Sequence(_) => string_list(loader, &sub, v),
                    _ => scalar(loader, &sub, v)
                        .map(|s| vec!["CMD-SHELL".to_owned(), s])
                        .unwrap_or_default(),
                };
                if !matches!(
                    check.test.first().map(String::as_str),
                    Some("CMD" | "CMD-SHELL" | "NONE")
                ) {
                    loader.problem(&sub, "`healthcheck.test` must start with `CMD`, `CMD-SHELL` or `NONE`", Some("e.g. `[\"CMD\", \"/stackctl\", \"check\", \"tcp\", \"127.0.0.1:27017\"]`"));
                }
            }
            "interval" => check.interval = duration(loader, &sub, v),
            "timeout" => check.timeout = duration(loader, &sub, v),
            "start_period" => check.start_period = duration(loader, &sub, v),
            "start_interval" => check.start_interval = duration(loader, &sub, v),
            "retries" => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => check.retries = Some(n),
                None => loader.problem(&sub, "`healthcheck.retries` must be a whole number", None),
            },
            "disable" => {
                if v.as_bool() == Some(true) {
                    check.test = vec!["NONE".to_owned()];
                }
            }
            other => loader.problem(
                &sub,
                format!("`healthcheck.{other}` is not a healthcheck field"),
                None,
            ),
        }
    }
    Some(check)
}

fn restart(loader: &mut Loader, path: &[&str], value: &Value) -> Option<String> {
    let policy = scalar(loader, path, value)?;
    let valid = matches!(
        policy.as_str(),
        "no" | "always" | "unless-stopped" | "on-failure"
    ) || policy
        .strip_prefix("on-failure:")
        .is_some_and(|n| n.parse::<u32>().is_ok());
    if !valid {
        loader.problem(
            path,
            format!("unknown restart policy `{policy}`"),
            Some("use `no`, `always`, `on-failure[:N]` or `unless-stopped`"),
        );
        return None;
    }
    Some(policy)
}

fn extra_hosts(loader: &mut Loader, path: &[&str], value: &Value) -> Vec<String> {
    match value {
        Value::Mapping(_) => key_values(loader, path, value, false)
            .into_iter()
            .map(|(h, ip)| format!("{h}:{ip}"))
            .collect(),
        _ => string_list(loader, path, value)
            .into_iter()
            .map(|entry| entry.replacen('=', ":", 1))
            .collect(),
    }
}

fn extension(loader: &mut Loader, path: &[&str], value: &Value, service: &mut Service) {
    let Value::Mapping(map) = value else {
        loader.problem(path, "`x-stackctl` must be a mapping", None);
        return;
    };
    for (k, v) in map {
        let Some(k) = k.as_str() else { continue };
        let mut sub = path.to_vec();
        sub.push(k);
        match k {
            "ready" => {
                for target in string_list(loader, &sub, v) {
                    match target.parse::<crate::target::Target>() {
                        Ok(_) => service.ready.push(target),
                        Err(e) => {
                            loader.problem(&sub, format!("ready check `{target}`: {e}"), None);
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
                            match ok.as_str() {
                                Some("attempts") => match ov
                                    .as_u64()
                                    .and_then(|n| u32::try_from(n).ok())
                                    .filter(|n| *n > 0)
                                {
                                    Some(n) => job.attempts = n,
                                    None => loader.problem(
                                        &sub,
                                        "`job.attempts` must be a whole number above 0",
                                        None,
                                    ),
                                },
                                Some("timeout") => job.timeout = duration(loader, &sub, ov),
                                Some("backoff") => {
                                    if let Some(d) = duration(loader, &sub, ov) {
                                        job.backoff = d;
                                    }
                                }
                                Some("max_backoff") => {
                                    if let Some(d) = duration(loader, &sub, ov) {
                                        job.max_backoff = d;
                                    }
                                }
                                Some(other) => loader.problem(
                                    &sub,
                                    format!("`x-stackctl.job.{other}` is unknown"),
                                    Some("use `attempts`, `timeout`, `backoff` and `max_backoff`"),
                                ),
                                None => {}
                            }
                        }
                    }
                    _ => loader.problem(&sub, "`x-stackctl.job` must be `true` or a mapping", None),
                }
                service.job = Some(job);
            }
            other => loader.problem(
                &sub,
                format!("`x-stackctl.{other}` is unknown"),
                Some("use `ready` and `job`"),
            ),
        }
    }
}

fn convert_networks(loader: &mut Loader, value: &Value) -> BTreeMap<String, Network> {
    let mut out = BTreeMap::new();
    let Value::Mapping(map) = value else {
        return out;
    };
    for (k, v) in map {
        let Some(k) = k.as_str() else { continue };
        let mut network = Network::default();
        if let Value::Mapping(opts) = v {
            for (ok, ov) in opts {
                let path = ["networks", k];
                match ok.as_str() {
                    Some("external") => network.external = ov.as_bool().unwrap_or(false),
                    Some("name") => network.name = scalar(loader, &path, ov),
                    Some("driver") => network.driver = scalar(loader, &path, ov),
                    Some(o) if o.starts_with("x-") => {}
                    Some(other) => loader.problem(
                        &path,
                        format!("network option `{other}` is not supported"),
                        Some("use `external`, `name` or `driver`"),
                    ),
                    None => {}
                }
            }
        }
        out.insert(k.to_owned(), network);
    }
    out
}

fn convert_volumes(loader: &mut Loader, value: &Value) -> BTreeMap<String, Volume> {
    let mut out = BTreeMap::new();
    let Value::Mapping(map) = value else {
        return out;
    };
    for (k, v) in map {
        let Some(k) = k.as_str() else { continue };
        let mut volume = Volume::default();
        if let Value::Mapping(opts) = v {
            for (ok, ov) in opts {
                let path = ["volumes", k];
                match ok.as_str() {
                    Some("external") => volume.external = ov.as_bool().unwrap_or(false),
                    Some("name") => volume.name = scalar(loader, &path, ov),
                    Some(o) if o.starts_with("x-") => {}
                    Some(other) => loader.problem(
                        &path,
                        format!("volume option `{other}` is not supported"),
                        Some("use `external` or `name`"),
                    ),
                    None => {}
                }
            }
        }
        out.insert(k.to_owned(), volume);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let p = parse_port("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (
                p.host_ip.as_deref(),
                p.host_port,
                p.container_port,
                p.protocol.as_str()
            ),
            (Some("127.0.0.1"), Some(8080), 80, "udp")
        );
        assert_eq!(parse_port("3000").unwrap().host_port, None);
        assert_eq!(parse_port("8080:80").unwrap().host_port, Some(8080));
        assert!(
            parse_port("99999:80")
                .unwrap_err()
                .contains("not a port number")
        );
    }

    #[test]
    fn project_names() {
        assert_eq!(normalize_project("My Stack!"), "mystack");
        assert_eq!(normalize_project("_-chat_ops"), "chat_ops");
    }
}
