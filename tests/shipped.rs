//! Every stackctl command line we ship is one stackctl accepts: the lines are collected from the
//! compose files (healthchecks, entrypoints, commands, `x-stackctl.ready`), the check catalogs,
//! the Kubernetes manifests `stackctl render kubernetes` writes for each stack, the Ansible
//! role's tasks and templates and every fenced code block of every Markdown file, and each is
//! parsed by the real parser (`stackctl::cli::parse`, value parsers included). Files are found
//! by walking the repository, so a new stack, catalog, task or document is covered as it lands.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use yaml_serde::Value;

use crate::support::stackctl;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One command line found in a shipped file: the words after the program.
#[derive(Debug, Clone)]
struct Found {
    source: &'static str,
    /// Where: `file:line` (relative to the repository), or the file and what in it.
    at: String,
    args: Vec<String>,
}

/// The sources, in report order.
const SOURCES: [&str; 5] = ["compose", "catalogs", "render", "ansible", "markdown"];

#[test]
fn every_shipped_command_line_is_accepted_by_the_parser() {
    let mut found = Vec::new();
    for file in files(&root().join("compose"), &["yml", "yaml"]) {
        let text = read(&file);
        let vars = compose_variables(&file, &text);
        let text = interpolate(&text, &vars);
        match yaml_serde::from_str::<Value>(&text) {
            Ok(doc) => {
                let place = Place {
                    text: &text,
                    offset: 0,
                    file: &relative(&file),
                    source: "compose",
                };
                compose_lines(&doc, &place, &mut found);
            }
            Err(e) => panic!("{}: not YAML: {e}", relative(&file)),
        }
    }
    for file in files(&root().join("checks"), &["yml", "yaml"]) {
        // Interpolated as stackctl does it, line by line.
        let text = read(&file);
        let text = interpolate(&text, &compose_variables(&file, &text));
        let doc: Value = yaml_serde::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", relative(&file)));
        let place = Place {
            text: &text,
            offset: 0,
            file: &relative(&file),
            source: "catalogs",
        };
        catalog_lines(&doc, &place, &mut found);
    }
    for file in stacks() {
        render_lines(&file, &mut found);
    }
    ansible_lines(&mut found);
    for file in files(root(), &["md"]) {
        markdown_lines(&file, &mut found);
    }

    // `SHIPPED_LIST=1` shows every line found, with where it was found.
    let list = std::env::var_os("SHIPPED_LIST").is_some();
    let mut refused = Vec::new();
    for line in &found {
        if list {
            println!(
                "{} | {}: stackctl {}",
                line.source,
                line.at,
                line.args.join(" ")
            );
        }
        let mut argv = vec!["stackctl".to_owned()];
        argv.extend(line.args.iter().cloned());
        let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
        match stackctl::cli::parse(&argv) {
            Ok(_) | Err(stackctl::cli::ParseError::Display(_)) => {}
            Err(stackctl::cli::ParseError::Usage(err)) => {
                refused.push(format!(
                    "{}: `stackctl {}`\n    {}",
                    line.at,
                    shlex::try_join(line.args.iter().map(String::as_str))
                        .unwrap_or_else(|_| line.args.join(" ")),
                    err.to_string().replace('\n', "\n    ")
                ));
            }
        }
    }

    let mut counts = String::new();
    for source in SOURCES {
        let n = found.iter().filter(|f| f.source == source).count();
        let _ = write!(counts, "{source} {n}, ");
    }
    println!(
        "shipped command lines parsed: {}{} in all; {} refused",
        counts,
        found.len(),
        refused.len()
    );
    for source in SOURCES {
        assert!(
            found.iter().any(|f| f.source == source),
            "no command line found in the {source}: is the collector broken?"
        );
    }
    assert!(
        refused.is_empty(),
        "{} of {} shipped stackctl command lines are refused by stackctl:\n{}",
        refused.len(),
        found.len(),
        refused.join("\n")
    );
}

// ---- files ----

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn relative(file: &Path) -> String {
    file.strip_prefix(root())
        .unwrap_or(file)
        .display()
        .to_string()
}

/// Files under `dir` with one of these extensions, sorted; build output, VCS data, hidden
/// directories and dependencies are skipped.
fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    todo.push(path);
                }
            } else if extensions
                .iter()
                .any(|ext| name.ends_with(&format!(".{ext}")))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The stacks under compose/: each directory's main file (as `stackctl up` finds it there).
fn stacks() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in files(&root().join("compose"), &["yml", "yaml"])
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect::<BTreeSet<_>>()
    {
        if let Some(file) = stackctl::stack::DEFAULT_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|f| f.exists())
        {
            out.push(file);
        }
    }
    out
}

/// The line (1-based) of the first line starting with `needles[0]` (indentation and a list's
/// `- ` aside), then of the first after it starting with `needles[1]`...
fn find_line(text: &str, needles: &[&str]) -> Option<usize> {
    let mut lines = text.lines().enumerate();
    let mut at = None;
    for needle in needles {
        let starts = |line: &str| {
            let line = line.trim_start();
            line.starts_with(needle)
                || line
                    .strip_prefix("- ")
                    .is_some_and(|l| l.starts_with(needle))
        };
        at = Some(lines.by_ref().find(|(_, l)| starts(l))?.0 + 1);
    }
    at
}

/// Where a document was found: its text (for line numbers), the line it starts after, the
/// file, and the source it counts under.
struct Place<'a> {
    text: &'a str,
    offset: usize,
    file: &'a str,
    source: &'static str,
}

impl Place<'_> {
    /// `file:line: what`, the line found by [`find_line`].
    fn at(&self, needles: &[&str], what: &str) -> String {
        match find_line(self.text, needles) {
            Some(line) => format!("{}:{}: {what}", self.file, line + self.offset),
            None => format!("{}: {what}", self.file),
        }
    }
}

// ---- values for variables ----

/// A plausible value for a variable nobody set, by its name.
fn placeholder(name: &str) -> String {
    let name = name.to_ascii_uppercase();
    if name.contains("TIMEOUT") || name.contains("INTERVAL") || name.contains("DELAY") {
        "5s".to_owned()
    } else if name.contains("PORT") {
        "8080".to_owned()
    } else if name.contains("URL") || name.contains("URI") {
        "http://placeholder:8080".to_owned()
    } else if name.contains("FILE") || name.contains("DIR") || name.contains("PATH") {
        "/placeholder".to_owned()
    } else {
        "placeholder".to_owned()
    }
}

/// The variables a compose file (or a catalog) refers to: the `.env.example` beside it where
/// it gives a value, a placeholder otherwise (compose's `${VAR:?}` wants them non-empty).
fn compose_variables(file: &Path, text: &str) -> BTreeMap<String, String> {
    let example = file.with_file_name(".env.example");
    let mut given = std::fs::read_to_string(example)
        .ok()
        .and_then(|t| stackctl::stack::parse_dotenv(&t).ok())
        .unwrap_or_default();
    given.retain(|_, v| !v.is_empty());
    let names = regex::Regex::new(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)").unwrap();
    let mut vars = BTreeMap::new();
    for name in names.captures_iter(text).map(|c| c[1].to_owned()) {
        let value = given
            .get(&name)
            .cloned()
            .unwrap_or_else(|| placeholder(&name));
        vars.insert(name, value);
    }
    vars
}

/// Compose interpolation (stackctl's own), line by line so that lines keep their numbers;
/// comments left alone.
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with('#') || !line.contains('$') {
            out.push_str(line);
        } else {
            let mut unset = BTreeSet::new();
            let done = stackctl::stack::interpolate_text(line, vars, &mut unset)
                .unwrap_or_else(|e| panic!("cannot interpolate `{line}`: {e}"));
            out.push_str(&done);
        }
        out.push('\n');
    }
    out
}

// ---- what runs stackctl ----

/// `stackctl`, `/stackctl`, `/usr/local/bin/stackctl`...
fn is_stackctl(program: &str) -> bool {
    program == "stackctl" || program.ends_with("/stackctl")
}

/// An image whose entrypoint is stackctl (`stackctl:0.1.0`, `chat/stackctl`).
fn is_stackctl_image(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or(image);
    name.split([':', '@']).next() == Some("stackctl")
}

/// The words after stackctl when `argv` runs it.
fn stackctl_args(argv: &[String]) -> Option<Vec<String>> {
    let (program, rest) = argv.split_first()?;
    is_stackctl(program).then(|| rest.to_vec())
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_sequence()?
        .iter()
        .map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
        .collect()
}

/// A compose `command`/`entrypoint`: a list, or a string split into words as compose splits
/// it (shell quoting, no shell).
fn compose_argv(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => shlex::split(s),
        other => strings(other),
    }
}

// ---- compose ----

fn compose_lines(doc: &Value, place: &Place, found: &mut Vec<Found>) {
    // A fragment (as in a README) may be the services themselves.
    let services = doc.get("services").unwrap_or(doc);
    let Some(services) = services.as_mapping() else {
        return;
    };
    for (name, service) in services {
        let (Some(name), Some(service)) = (name.as_str(), service.as_mapping()) else {
            continue;
        };
        let key = format!("{name}:");
        let get = |k: &str| service.get(k);
        let mut push = |needles: &[&str], what: String, args: Vec<String>| {
            let mut all = vec!["services:", key.as_str()];
            if doc.get("services").is_none() {
                all.remove(0);
            }
            all.extend(needles);
            found.push(Found {
                source: place.source,
                at: place.at(&all, &what),
                args,
            });
        };
        if let Some(test) = get("healthcheck").and_then(|h| h.get("test")) {
            let what = format!("service `{name}` healthcheck");
            let words = match test {
                // A string is `CMD-SHELL`.
                Value::String(s) => shell_commands(s, true),
                other => match strings(other).unwrap_or_default().split_first() {
                    Some((kind, rest)) if kind == "CMD" => vec![rest.to_vec()],
                    Some((kind, rest)) if kind == "CMD-SHELL" => {
                        shell_commands(&rest.join(" "), true)
                    }
                    _ => Vec::new(),
                },
            };
            for argv in words {
                if let Some(args) = stackctl_args(&argv) {
                    push(&["healthcheck:", "test:"], what.clone(), args);
                }
            }
        }
        let entrypoint = get("entrypoint").and_then(compose_argv);
        let command = get("command").and_then(compose_argv);
        let image_runs_stackctl = get("image")
            .and_then(Value::as_str)
            .is_some_and(is_stackctl_image);
        match (entrypoint, command) {
            (Some(entrypoint), command) => {
                if let Some(mut args) = stackctl_args(&entrypoint) {
                    args.extend(command.unwrap_or_default());
                    push(
                        &["entrypoint:"],
                        format!("service `{name}` entrypoint"),
                        args,
                    );
                }
            }
            (None, Some(command)) if image_runs_stackctl => {
                push(&["command:"], format!("service `{name}` command"), command);
            }
            (None, Some(command)) => {
                if let Some(args) = stackctl_args(&command) {
                    push(&["command:"], format!("service `{name}` command"), args);
                }
            }
            (None, None) => {}
        }
        if let Some(ready) = get("x-stackctl")
            .and_then(|x| x.get("ready"))
            .and_then(strings)
        {
            for target in ready {
                push(
                    &["x-stackctl:", "ready:"],
                    format!("service `{name}` x-stackctl.ready"),
                    vec!["wait".to_owned(), target],
                );
            }
        }
    }
}

// ---- catalogs ----

/// A catalog's entries: a command line is what follows `stackctl check`, a lone URL is what
/// `stackctl wait` takes (the catalog's own rule for telling them apart).
fn catalog_lines(doc: &Value, place: &Place, found: &mut Vec<Found>) {
    let Some(checks) = doc.get("checks").and_then(Value::as_sequence) else {
        return;
    };
    for entry in checks {
        let name = entry.get("name").and_then(Value::as_str).unwrap_or("?");
        let args = match entry.get("check") {
            Some(Value::String(line)) if line.contains("://") && !line.trim().contains(' ') => {
                vec!["wait".to_owned(), line.trim().to_owned()]
            }
            Some(Value::String(line)) => {
                let mut args = vec!["check".to_owned()];
                args.extend(shlex::split(line).unwrap_or_else(|| vec![line.clone()]));
                args
            }
            Some(list) => {
                let mut args = vec!["check".to_owned()];
                args.extend(strings(list).unwrap_or_default());
                args
            }
            None => continue,
        };
        found.push(Found {
            source: place.source,
            at: place.at(
                &["checks:", &format!("name: {name}"), "check:"],
                &format!("check `{name}`"),
            ),
            args,
        });
    }
}

// ---- rendered manifests ----

/// `stackctl render kubernetes` (the real binary) on a stack, every profile enabled, its
/// variables from `.env.example` or placeholders; containers' `command`+`args` and `exec`
/// probes.
fn render_lines(file: &Path, found: &mut Vec<Found>) {
    let text = read(file);
    let mut args: Vec<String> = ["render", "kubernetes", "-f"].map(String::from).to_vec();
    args.push(file.display().to_string());
    let example = file.with_file_name(".env.example");
    if example.exists() {
        args.extend(["--env-file".to_owned(), example.display().to_string()]);
    }
    let doc: Value = yaml_serde::from_str(&text).unwrap_or(Value::Null);
    let mut profiles = BTreeSet::new();
    if let Some(services) = doc.get("services").and_then(Value::as_mapping) {
        for service in services.values() {
            profiles.extend(
                service
                    .get("profiles")
                    .and_then(strings)
                    .unwrap_or_default(),
            );
        }
    }
    for profile in profiles {
        args.extend(["--profile".to_owned(), profile]);
    }
    let mut run = stackctl(&args);
    for (name, value) in compose_variables(file, &text) {
        if std::env::var_os(&name).is_none() {
            run = run.env(&name, value);
        }
    }
    let out = run.output();
    let name = format!("`stackctl render kubernetes` of {}", relative(file));
    out.code(0);
    for manifest in yaml_serde::Deserializer::from_str(&out.stdout) {
        let manifest = Value::deserialize(manifest).expect("the manifests are YAML");
        let kind = manifest.get("kind").and_then(Value::as_str).unwrap_or("?");
        let object = manifest
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let mut containers = Vec::new();
        collect_containers(&manifest, &mut containers);
        for (role, container) in containers {
            let cname = container.get("name").and_then(Value::as_str).unwrap_or("?");
            let image = container.get("image").and_then(Value::as_str).unwrap_or("");
            let what = format!("{name}: {kind}/{object} {role} `{cname}`");
            let command = container.get("command").and_then(strings);
            let rest = container.get("args").and_then(strings).unwrap_or_default();
            let args = match command {
                Some(command) => stackctl_args(&command).map(|mut a| {
                    a.extend(rest);
                    a
                }),
                None if is_stackctl_image(image) => Some(rest),
                None => None,
            };
            if let Some(args) = args {
                found.push(Found {
                    source: "render",
                    at: what.clone(),
                    args,
                });
            }
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                if let Some(command) = container
                    .get(probe)
                    .and_then(|p| p.get("exec"))
                    .and_then(|e| e.get("command"))
                    .and_then(strings)
                    && let Some(args) = stackctl_args(&command)
                {
                    found.push(Found {
                        source: "render",
                        at: format!("{what} {probe}"),
                        args,
                    });
                }
            }
        }
    }
}

/// Every `containers`/`initContainers` entry anywhere in a manifest.
fn collect_containers<'a>(value: &'a Value, out: &mut Vec<(&'static str, &'a Value)>) {
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                let role = match key.as_str() {
                    Some("containers") => Some("container"),
                    Some("initContainers") => Some("initContainer"),
                    _ => None,
                };
                match (role, value.as_sequence()) {
                    (Some(role), Some(list)) => out.extend(list.iter().map(|c| (role, c))),
                    _ => collect_containers(value, out),
                }
            }
        }
        Value::Sequence(list) => list.iter().for_each(|v| collect_containers(v, out)),
        _ => {}
    }
}

// ---- Ansible ----

/// The role's tasks and handlers (`command`/`shell` modules: `argv`, `cmd`, free form) and its
/// templates, with Jinja expressions evaluated against the role's defaults and vars.
fn ansible_lines(found: &mut Vec<Found>) {
    let dir = root().join("ansible");
    let yamls = files(&dir, &["yml", "yaml"]);
    let mut vars = BTreeMap::new();
    for file in &yamls {
        let in_vars = file.components().any(|c| {
            let c = c.as_os_str();
            c == "defaults" || c == "vars" || c == "group_vars" || c == "host_vars"
        });
        if in_vars && let Ok(Value::Mapping(map)) = yaml_serde::from_str::<Value>(&read(file)) {
            for (k, v) in map {
                if let Some(k) = k.as_str() {
                    vars.insert(k.to_owned(), v);
                }
            }
        }
    }
    let jinja = Jinja { vars: &vars };
    for file in &yamls {
        let text = read(file);
        let Ok(doc) = yaml_serde::from_str::<Value>(&text) else {
            continue;
        };
        let mut tasks = Vec::new();
        collect_commands(&doc, &mut tasks);
        for (module, task_name, spec) in tasks {
            let shell = module.ends_with("shell");
            let lines: Vec<Vec<String>> = match spec {
                Value::String(line) => command_text(&jinja.render(line), shell),
                Value::Mapping(_) => match (spec.get("argv"), spec.get("cmd")) {
                    (Some(Value::String(expr)), _) => vec![jinja.render_list(expr)],
                    (Some(list @ Value::Sequence(_)), _) => vec![
                        strings(list)
                            .unwrap_or_default()
                            .iter()
                            .flat_map(|w| jinja.render_list(w))
                            .collect(),
                    ],
                    (None, Some(Value::String(cmd))) => command_text(&jinja.render(cmd), shell),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            for argv in lines {
                if let Some(args) = stackctl_args(&argv) {
                    found.push(Found {
                        source: "ansible",
                        at: Place {
                            text: &text,
                            offset: 0,
                            file: &relative(file),
                            source: "ansible",
                        }
                        .at(
                            &[&format!("name: {task_name}"), module],
                            &format!("task `{task_name}`"),
                        ),
                        args,
                    });
                }
            }
        }
    }
    for file in files(&dir, &["j2"]) {
        let text = read(file.as_path());
        for (index, line) in jinja.render(&text).lines().enumerate() {
            for argv in shell_commands(line, true) {
                if let Some(args) = program_args(&argv) {
                    found.push(Found {
                        source: "ansible",
                        at: format!("{}:{}: template", relative(&file), index + 1),
                        args,
                    });
                }
            }
        }
    }
}

/// A `command` module's words (split, no shell) or a `shell` module's commands.
fn command_text(text: &str, shell: bool) -> Vec<Vec<String>> {
    if shell {
        shell_commands(text, true)
    } else {
        shlex::split(text).into_iter().collect()
    }
}

/// `(module, task name, module arguments)` of every command/shell task in a file.
fn collect_commands<'a>(value: &'a Value, out: &mut Vec<(&'a str, String, &'a Value)>) {
    const MODULES: [&str; 4] = [
        "ansible.builtin.command",
        "command",
        "ansible.builtin.shell",
        "shell",
    ];
    match value {
        Value::Mapping(map) => {
            let name = map
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            for (key, value) in map {
                match key.as_str() {
                    Some(module) if MODULES.contains(&module) => {
                        out.push((module, name.clone(), value));
                    }
                    _ => collect_commands(value, out),
                }
            }
        }
        Value::Sequence(list) => list.iter().for_each(|v| collect_commands(v, out)),
        _ => {}
    }
}

/// Enough of Jinja for command lines: `{{ expr }}` with string and list literals, variables
/// (the role's, evaluated in turn), `+`, parentheses and the filters `list`, `string`,
/// `default`, `join` and `map('regex_replace', ...)`. Anything else stands for a placeholder.
struct Jinja<'a> {
    vars: &'a BTreeMap<String, Value>,
}

#[derive(Debug, Clone)]
enum J {
    Str(String),
    List(Vec<J>),
}

impl J {
    fn text(&self) -> String {
        match self {
            J::Str(s) => s.clone(),
            J::List(items) => items.iter().map(J::text).collect::<Vec<_>>().join(","),
        }
    }

    fn words(self) -> Vec<String> {
        match self {
            J::Str(s) => vec![s],
            J::List(items) => items.into_iter().map(|i| i.text()).collect(),
        }
    }
}

impl Jinja<'_> {
    /// A template with every `{{ expr }}` replaced by its value; `{% %}` and `{# #}` dropped.
    fn render(&self, text: &str) -> String {
        let blocks = regex::Regex::new(r"(?s)\{%.*?%\}|\{#.*?#\}").unwrap();
        let text = blocks.replace_all(text, "");
        let exprs = regex::Regex::new(r"(?s)\{\{(.*?)\}\}").unwrap();
        exprs
            .replace_all(&text, |c: &regex::Captures| self.eval(&c[1], 0).text())
            .into_owned()
    }

    /// A word that may be a whole `{{ expr }}` whose value is a list: its words.
    fn render_list(&self, text: &str) -> Vec<String> {
        let trimmed = text.trim();
        if let Some(inner) = trimmed
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
            .filter(|inner| !inner.contains("{{"))
        {
            self.eval(inner, 0).words()
        } else {
            vec![self.render(text)]
        }
    }

    fn variable(&self, name: &str, depth: usize) -> J {
        let value = match self.vars.get(name) {
            Some(value) if depth < 8 => value,
            _ => return J::Str(placeholder(name)),
        };
        self.value(value, depth)
    }

    fn value(&self, value: &Value, depth: usize) -> J {
        match value {
            Value::String(s) => match s
                .trim()
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
            {
                Some(inner) if !inner.contains("{{") => self.eval(inner, depth + 1),
                _ => J::Str(self.render(s)),
            },
            Value::Sequence(list) => J::List(list.iter().map(|v| self.value(v, depth)).collect()),
            Value::Number(n) => J::Str(n.to_string()),
            Value::Bool(b) => J::Str(if *b { "True" } else { "False" }.to_owned()),
            Value::Null => J::Str(String::new()),
            _ => J::Str("placeholder".to_owned()),
        }
    }

    fn eval(&self, expr: &str, depth: usize) -> J {
        let tokens = tokens(expr);
        let mut parser = JParser {
            tokens: &tokens,
            at: 0,
            jinja: self,
            depth,
        };
        parser
            .sum()
            .filter(|_| parser.at == tokens.len())
            .unwrap_or_else(|| J::Str("placeholder".to_owned()))
    }
}

/// Jinja tokens: strings, names, numbers, punctuation.
fn tokens(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '\'' | '"' => {
                let mut s = String::from("'");
                while let Some(d) = chars.next() {
                    match d {
                        // `\'` and `\\` are the quote and the backslash; other escapes stay.
                        '\\' => match chars.next() {
                            Some(e) if e == c || e == '\\' => s.push(e),
                            Some(e) => {
                                s.push('\\');
                                s.push(e);
                            }
                            None => {}
                        },
                        d if d == c => break,
                        d => s.push(d),
                    }
                }
                out.push(s);
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut s = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '.' {
                        s.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(s);
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

struct JParser<'t, 'j> {
    tokens: &'t [String],
    at: usize,
    jinja: &'t Jinja<'j>,
    depth: usize,
}

impl JParser<'_, '_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn eat(&mut self, token: &str) -> bool {
        let yes = self.peek() == Some(token);
        if yes {
            self.at += 1;
        }
        yes
    }

    /// `a + b + ...` (lists concatenate, strings join); `~` joins as text.
    fn sum(&mut self) -> Option<J> {
        let mut value = self.piped()?;
        loop {
            if self.eat("+") {
                let right = self.piped()?;
                value = match (value, right) {
                    (J::List(mut a), J::List(b)) => {
                        a.extend(b);
                        J::List(a)
                    }
                    (a, b) => J::Str(a.text() + &b.text()),
                };
            } else if self.eat("~") {
                let right = self.piped()?;
                value = J::Str(value.text() + &right.text());
            } else {
                return Some(value);
            }
        }
    }

    fn piped(&mut self) -> Option<J> {
        let mut value = self.atom()?;
        while self.eat("|") {
            let filter = self.tokens.get(self.at)?.clone();
            self.at += 1;
            let mut arguments = Vec::new();
            if self.eat("(") {
                while !self.eat(")") {
                    arguments.push(self.sum()?.text());
                    self.eat(",");
                }
            }
            value = match (filter.as_str(), value) {
                ("list" | "default" | "trim", v) => v,
                ("string", v) => J::Str(v.text()),
                ("join", J::List(items)) => J::Str(
                    items
                        .iter()
                        .map(J::text)
                        .collect::<Vec<_>>()
                        .join(arguments.first().map_or("", String::as_str)),
                ),
                ("map", J::List(items))
                    if arguments.first().map(String::as_str) == Some("regex_replace") =>
                {
                    let pattern = regex::Regex::new(arguments.get(1)?).ok()?;
                    // Python's `\1` is the regex crate's `${1}`.
                    let with = (0..10).fold(arguments.get(2)?.clone(), |with, n| {
                        with.replace(&format!("\\{n}"), &format!("${{{n}}}"))
                    });
                    J::List(
                        items
                            .iter()
                            .map(|i| {
                                J::Str(pattern.replace_all(&i.text(), with.as_str()).into_owned())
                            })
                            .collect(),
                    )
                }
                _ => return None,
            };
        }
        Some(value)
    }

    fn atom(&mut self) -> Option<J> {
        let token = self.tokens.get(self.at)?.clone();
        self.at += 1;
        match token.as_str() {
            "(" => {
                let value = self.sum()?;
                self.eat(")").then_some(value)
            }
            "[" => {
                let mut items = Vec::new();
                while !self.eat("]") {
                    items.push(self.sum()?);
                    self.eat(",");
                }
                Some(J::List(items))
            }
            t if t.starts_with('\'') => Some(J::Str(t[1..].to_owned())),
            t if t.starts_with(|c: char| c.is_ascii_digit()) => Some(J::Str(t.to_owned())),
            t if t.starts_with(|c: char| c.is_alphabetic() || c == '_') => {
                Some(self.jinja.variable(t, self.depth))
            }
            _ => None,
        }
    }
}

// ---- Markdown ----

/// Every fenced block: shell blocks (and plain ones) line by line — `$ ` prompts, `\`
/// continuations, assignments, chains, `$(...)`; YAML blocks as compose files or catalogs;
/// Dockerfile blocks' exec-form `HEALTHCHECK`/`CMD`/`ENTRYPOINT`.
fn markdown_lines(file: &Path, found: &mut Vec<Found>) {
    let text = read(file);
    let name = relative(file);
    let mut block: Option<(String, usize, Vec<String>)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(fence) = trimmed.strip_prefix("```") {
            match block.take() {
                Some((lang, start, lines)) => {
                    markdown_block(&name, &lang, start, &lines, found);
                }
                None => block = Some((fence.trim().to_ascii_lowercase(), index + 1, Vec::new())),
            }
        } else if let Some((_, _, lines)) = &mut block {
            lines.push(line.to_owned());
        }
    }
}

fn markdown_block(file: &str, lang: &str, fence: usize, lines: &[String], found: &mut Vec<Found>) {
    let text = lines.join("\n");
    match lang {
        "yaml" | "yml" => {
            let Ok(doc) = yaml_serde::from_str::<Value>(&text) else {
                return;
            };
            let place = Place {
                text: &text,
                offset: fence,
                file,
                source: "markdown",
            };
            if doc.get("checks").is_some() {
                catalog_lines(&doc, &place, found);
            } else {
                compose_lines(&doc, &place, found);
            }
        }
        "dockerfile" | "docker" => {
            for (line, instruction) in logical_lines(lines) {
                for argv in dockerfile_commands(&instruction) {
                    if let Some(args) = stackctl_args(&argv) {
                        found.push(Found {
                            source: "markdown",
                            at: format!("{file}:{}: Dockerfile", fence + line),
                            args,
                        });
                    }
                }
            }
        }
        "" | "sh" | "bash" | "shell" | "zsh" | "console" | "shell-session" | "text" => {
            // In a session, only prompted lines are commands; elsewhere, every line.
            let session = lines.iter().any(|l| l.starts_with("$ "));
            let shell = !matches!(lang, "" | "text");
            for (line, command) in logical_lines(lines) {
                let command = match command.strip_prefix("$ ") {
                    Some(command) => command.to_owned(),
                    None if session => continue,
                    None => command,
                };
                for argv in shell_commands(&command, shell) {
                    if let Some(args) = program_args(&argv) {
                        found.push(Found {
                            source: "markdown",
                            at: format!("{file}:{}", fence + line),
                            args,
                        });
                    }
                }
            }
        }
        _ => {}
    }
}

/// Lines joined at a trailing `\`, each with its first line's number (1-based in `lines`).
fn logical_lines(lines: &[String]) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (index, line) in lines.iter().enumerate() {
        let (body, continued) = match line.trim_end().strip_suffix('\\') {
            Some(body) => (body.to_owned(), true),
            None => (line.clone(), false),
        };
        match out.last_mut() {
            Some((_, text)) if open => {
                text.push(' ');
                text.push_str(body.trim_start());
            }
            _ => out.push((index + 1, body)),
        }
        open = continued;
    }
    out
}

/// A Dockerfile instruction's command lines: exec form (JSON) as is, shell form through the
/// shell.
fn dockerfile_commands(instruction: &str) -> Vec<Vec<String>> {
    let mut words = instruction.trim_start();
    let keyword = words
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    words = words[keyword.len().min(words.len())..].trim_start();
    if keyword == "HEALTHCHECK" {
        // Options, then `CMD ...` (or `NONE`).
        match words.find("CMD") {
            Some(at) => words = words[at + 3..].trim_start(),
            None => return Vec::new(),
        }
    } else if keyword != "CMD" && keyword != "ENTRYPOINT" && keyword != "RUN" {
        return Vec::new();
    }
    if words.starts_with('[') {
        serde_json::from_str::<Vec<String>>(words)
            .map(|argv| vec![argv])
            .unwrap_or_default()
    } else {
        shell_commands(words, true)
    }
}

/// The words after stackctl of a shell command: leading assignments (`A=b`), wrappers (`sudo`,
/// `env`, `exec`, `time`, `nohup`) and `docker exec [OPTIONS] CONTAINER` /
/// `docker compose exec [OPTIONS] SERVICE` skipped.
fn program_args(argv: &[String]) -> Option<Vec<String>> {
    let assignment = regex::Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*=").unwrap();
    let mut words = argv;
    loop {
        match words.first().map(String::as_str) {
            Some(w) if assignment.is_match(w) => words = &words[1..],
            Some("sudo" | "env" | "exec" | "time" | "nohup" | "command") => words = &words[1..],
            Some("docker") => {
                let rest = match words.get(1).map(String::as_str) {
                    Some("exec") => &words[2..],
                    Some("compose") if words.get(2).map(String::as_str) == Some("exec") => {
                        &words[3..]
                    }
                    _ => return None,
                };
                // Options (those with a value take the next word), then the container.
                let mut i = 0;
                while let Some(w) = rest.get(i) {
                    if !w.starts_with('-') {
                        break;
                    }
                    let takes_value = matches!(
                        w.as_str(),
                        "-e" | "--env"
                            | "-u"
                            | "--user"
                            | "-w"
                            | "--workdir"
                            | "--env-file"
                            | "--index"
                    );
                    i += if takes_value { 2 } else { 1 };
                }
                words = rest.get(i + 1..)?;
            }
            _ => return stackctl_args(words),
        }
    }
}

/// Shell text as simple commands (their words): quotes followed, split at `&&`, `||`, `|`,
/// `;`, `&` and newlines; `$(...)`, `<(...)` (and, in `shell` text, backticks) give commands
/// of their own; redirections dropped; variables stand for placeholders; `#` comments ignored.
fn shell_commands(text: &str, shell: bool) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let mut skip_next = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;

    let end_word = |word: &mut Option<String>, words: &mut Vec<String>, skip: &mut bool| {
        if let Some(w) = word.take() {
            if *skip {
                *skip = false;
            } else {
                words.push(w);
            }
        }
    };
    let end_command = |words: &mut Vec<String>, commands: &mut Vec<Vec<String>>| {
        if !words.is_empty() {
            commands.push(std::mem::take(words));
        }
    };
    // The text between a `(` at `start` and its matching `)`, and the index after it.
    let balanced = |start: usize| -> (String, usize) {
        let mut depth = 0;
        let mut j = start;
        while j < chars.len() {
            match chars[j] {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return (chars[start + 1..j].iter().collect(), j + 1);
                    }
                }
                _ => {}
            }
            j += 1;
        }
        (chars[start + 1..].iter().collect(), chars.len())
    };

    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' => {
                end_word(&mut word, &mut words, &mut skip_next);
                i += 1;
            }
            '\n' | ';' => {
                end_word(&mut word, &mut words, &mut skip_next);
                end_command(&mut words, &mut commands);
                i += 1;
            }
            '#' if word.is_none() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\\' => {
                if let Some(n) = next
                    && n != '\n'
                {
                    word.get_or_insert_default().push(n);
                }
                i += 2;
            }
            '\'' => {
                let w = word.get_or_insert_default();
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    w.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                word.get_or_insert_default();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    match chars[i] {
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            word.as_mut().unwrap().push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => {
                            let (value, after, inner) = expansion(&chars, i, &balanced);
                            commands.extend(inner);
                            word.as_mut().unwrap().push_str(&value);
                            i = after;
                        }
                        ch => {
                            word.as_mut().unwrap().push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '$' => {
                let (value, after, inner) = expansion(&chars, i, &balanced);
                commands.extend(inner);
                word.get_or_insert_default().push_str(&value);
                i = after;
            }
            '<' | '>' if next == Some('(') => {
                let (inner, after) = balanced(i + 1);
                commands.extend(shell_commands(&inner, shell));
                word.get_or_insert_default().push_str("/dev/fd/63");
                i = after;
            }
            '`' if shell => {
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '`' {
                    j += 1;
                }
                let inner: String = chars[i + 1..j.min(chars.len())].iter().collect();
                commands.extend(shell_commands(&inner, shell));
                word.get_or_insert_default().push_str("placeholder");
                i = j + 1;
            }
            '&' | '|' => {
                end_word(&mut word, &mut words, &mut skip_next);
                end_command(&mut words, &mut commands);
                i += if next == Some(c) { 2 } else { 1 };
                if c == '&' && next == Some('>') {
                    skip_next = true;
                    i += 1;
                }
            }
            '<' | '>' => {
                // `2>`, `>&2`, `>>`, `<<<`: the descriptor and the target are not arguments.
                if word
                    .as_deref()
                    .is_some_and(|w| w.chars().all(|d| d.is_ascii_digit()))
                {
                    word = None;
                }
                end_word(&mut word, &mut words, &mut skip_next);
                i += 1;
                while i < chars.len() && matches!(chars[i], '<' | '>') {
                    i += 1;
                }
                if chars.get(i) == Some(&'&') {
                    i += 1;
                    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
                        i += 1;
                    }
                } else {
                    skip_next = true;
                }
            }
            '(' | ')' | '{' | '}' if word.is_none() => {
                end_command(&mut words, &mut commands);
                i += 1;
            }
            c => {
                word.get_or_insert_default().push(c);
                i += 1;
            }
        }
    }
    end_word(&mut word, &mut words, &mut skip_next);
    end_command(&mut words, &mut commands);
    commands
}

/// A `$` expansion at `at`: its stand-in value, the index after it, and the commands of a
/// `$(...)`.
fn expansion(
    chars: &[char],
    at: usize,
    balanced: &dyn Fn(usize) -> (String, usize),
) -> (String, usize, Vec<Vec<String>>) {
    match chars.get(at + 1) {
        Some('(') => {
            let (inner, after) = balanced(at + 1);
            (
                "placeholder".to_owned(),
                after,
                shell_commands(&inner, true),
            )
        }
        Some('{') => {
            let end = chars[at..]
                .iter()
                .position(|&c| c == '}')
                .map_or(chars.len(), |p| at + p + 1);
            let name: String = chars[at + 2..end.saturating_sub(1).max(at + 2)]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .collect();
            (placeholder(&name), end, Vec::new())
        }
        Some(c) if c.is_alphanumeric() || *c == '_' => {
            let name: String = chars[at + 1..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .collect();
            let after = at + 1 + name.chars().count();
            (placeholder(&name), after, Vec::new())
        }
        _ => ("$".to_owned(), at + 1, Vec::new()),
    }
}

#[test]
fn shell_lines_are_split_like_a_shell() {
    let commands = shell_commands(
        "A=1 stackctl up -f \"$FILE\" && stackctl smoke --junit s.xml; stackctl down -v 2>/dev/null | tee x",
        true,
    );
    let args: Vec<Option<Vec<String>>> = commands.iter().map(|c| program_args(c)).collect();
    assert_eq!(
        args,
        vec![
            Some(vec!["up".into(), "-f".into(), "/placeholder".into()]),
            Some(vec!["smoke".into(), "--junit".into(), "s.xml".into()]),
            Some(vec!["down".into(), "-v".into()]),
            None,
        ]
    );
    let commands = shell_commands("source <(stackctl completions bash)  # also zsh", true);
    assert_eq!(commands[0], vec!["stackctl", "completions", "bash"]);
    let commands = shell_commands(
        "docker exec -u 0 demo-status-1 /stackctl verify -c x.yml",
        true,
    );
    assert_eq!(
        program_args(&commands[0]),
        Some(vec!["verify".into(), "-c".into(), "x.yml".into()])
    );
}

#[test]
fn ansible_argv_expressions_are_evaluated_with_the_roles_variables() {
    let vars: BTreeMap<String, Value> = yaml_serde::from_str(
        "bin: /usr/local/bin/stackctl\nextra: [a.yml]\nfiles: \"{{ (['compose.yml'] + extra) | map('regex_replace', '^(.*)$', '--file=\\\\1') | list }}\"\n",
    )
    .unwrap();
    let jinja = Jinja { vars: &vars };
    assert_eq!(
        jinja.render_list("{{ [bin, 'up'] + files + ['-p', project] }}"),
        vec![
            "/usr/local/bin/stackctl",
            "up",
            "--file=compose.yml",
            "--file=a.yml",
            "-p",
            "placeholder"
        ]
    );
}
