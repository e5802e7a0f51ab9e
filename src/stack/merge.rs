//! Several compose files (`-f a.yml -f b.yml`, `COMPOSE_FILE`) merged into one document by
//! compose's rules, remembering which file set each key so problems name the right file and
//! line.
//!
//! The rules, from the compose specification's "Merge and override" section (`13-merge.md`)
//! and compose-go's implementation (`override/merge.go`, `override/uncity.go`):
//! - mappings merge recursively; a scalar in a later file replaces the earlier one; a `null`
//!   in a later file keeps the earlier value;
//! - sequences are appended (`ports`, `volumes`, `dns`, `expose`, `profiles`, `env_file`,
//!   `extra_hosts`, `networks.*.aliases`...);
//! - `command`, `entrypoint` and `healthcheck.test` are replaced, not appended ("Shell
//!   commands");
//! - `environment`, `labels` and `build.args` merge by key whichever form (list of
//!   `KEY=VALUE` or mapping) each file uses; `depends_on` and service `networks` merge by
//!   name (a list entry is the long form with defaults, so a later short entry resets the
//!   condition to `service_started`, as compose-go's `mergeDependsOn` does); `build: DIR` is
//!   `build: {context: DIR}`;
//! - "unique resources": `ports` entries equal on `{ip, target, published, protocol}` and
//!   `volumes` entries on the same container `target` are one entry, the later one winning.
//!   That needs the parsed values, so the conversion applies it (`convert::dedupe_*`);
//! - `!reset` removes what earlier files set; `!override` replaces it without merging.
//!
//! docker-compose 1.29.2 differs in details we do not follow: it merges `extra_hosts` by host
//! name (v2 keeps both entries), sorts merged `ports` by target, and rejects `!reset`.

use std::collections::BTreeMap;

use yaml_serde::{Mapping, Value};

use super::interpolate::describe;
use super::locate::{item, join};

/// Where a key of the merged document was written: a file and its path in that file.
#[derive(Debug, Clone)]
struct Origin {
    file: usize,
    path: Vec<String>,
}

/// For each merged path where the file or the path changes, where it came from. Paths below
/// an entry inherit it (same file, same relative path), so a single file needs only a few.
#[derive(Debug, Default)]
pub struct Origins {
    map: BTreeMap<String, Origin>,
}

impl Origins {
    /// The file and the path in that file of a merged path, if any file set it.
    #[must_use]
    pub fn resolve<S: AsRef<str>>(&self, path: &[S]) -> Option<(usize, Vec<String>)> {
        (0..=path.len()).rev().find_map(|n| {
            self.map.get(&join(&path[..n])).map(|origin| {
                let mut full = origin.path.clone();
                full.extend(path[n..].iter().map(|s| s.as_ref().to_owned()));
                (origin.file, full)
            })
        })
    }

    fn set(&mut self, merged: &[String], file: usize, path: &[String]) {
        self.map.insert(
            join(merged),
            Origin {
                file,
                path: path.to_vec(),
            },
        );
    }

    /// Forgets entries at and below a path whose value is replaced.
    fn clear(&mut self, merged: &[String]) {
        let at = join(merged);
        let below = format!("{at}\u{1f}");
        let end = format!("{at}\u{20}");
        let doomed: Vec<String> = self.map.range(below..end).map(|(k, _)| k.clone()).collect();
        for key in doomed {
            self.map.remove(&key);
        }
        self.map.remove(&at);
    }

    /// Pins each child of `merged` to where it resolves now, before `merged` is claimed by a
    /// later file: children the later file does not touch still come from the earlier one.
    fn pin_children(&mut self, merged: &mut Vec<String>, children: impl Iterator<Item = String>) {
        for child in children {
            merged.push(child);
            let key = join(merged);
            if !self.map.contains_key(&key) {
                if let Some((file, path)) = self.resolve(merged) {
                    self.map.insert(key, Origin { file, path });
                }
            }
            merged.pop();
        }
    }
}

/// A problem found while merging: a file, a path in it, a message and a hint.
pub type MergeProblem = (usize, Vec<String>, String, Option<String>);

/// The documents merged so far.
#[derive(Debug, Default)]
pub struct Merger {
    pub document: Mapping,
    pub origins: Origins,
    pub problems: Vec<MergeProblem>,
}

/// How a path merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Generic,
    /// Replaced whole (`command`, `entrypoint`, `healthcheck.test`).
    Replace,
    /// A mapping, or a list of `KEY=VALUE`; a bare `KEY` in a list means `null`
    /// (`environment`, `build.args`: taken from the environment) or `""` (`labels`).
    KeyValue {
        bare_is_null: bool,
    },
    /// A list of names or a mapping of name to options (`depends_on`).
    DependsOn,
    /// A list of names or a mapping of name to options or null (service `networks`).
    Names,
    /// A list of `HOST:IP`, or a mapping of host to IP(s).
    ExtraHosts,
    /// `build: DIR` or `build: {context: DIR, ...}`.
    Build,
    /// A string or a list of strings.
    StringOrList,
}

fn rule(path: &[String]) -> Rule {
    if path.len() < 3 || path[0] != "services" {
        return Rule::Generic;
    }
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["services", _, "command" | "entrypoint"] | ["services", _, "healthcheck", "test"] => {
            Rule::Replace
        }
        ["services", _, "environment"] | ["services", _, "build", "args"] => {
            Rule::KeyValue { bare_is_null: true }
        }
        ["services", _, "labels"] | ["services", _, "deploy", "labels"] => Rule::KeyValue {
            bare_is_null: false,
        },
        ["services", _, "depends_on"] => Rule::DependsOn,
        ["services", _, "networks"] => Rule::Names,
        ["services", _, "extra_hosts"] => Rule::ExtraHosts,
        ["services", _, "build"] => Rule::Build,
        ["services", _, "env_file" | "dns"] | ["services", _, "x-stackctl", "ready"] => {
            Rule::StringOrList
        }
        _ => Rule::Generic,
    }
}

/// A value in its expanded form, each child with its path relative to the value in the file
/// when that is not simply its key or its index (`None`).
enum Canon {
    Map(Vec<(Value, Option<Vec<String>>, Value)>),
    Seq(Vec<(Option<Vec<String>>, Value)>),
    Other(Value),
}

/// A key as a path segment.
fn segment(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}

impl Merger {
    /// Merges one file's document over what came before.
    pub fn add(&mut self, file: usize, document: Mapping) {
        let base = std::mem::take(&mut self.document);
        let merged = self.merge(
            Some(Value::Mapping(base)),
            Value::Mapping(document),
            &mut Vec::new(),
            &mut Vec::new(),
            file,
        );
        self.document = match merged {
            Some(Value::Mapping(map)) => map,
            _ => Mapping::new(),
        };
    }

    fn problem(&mut self, file: usize, path: &[String], message: String, hint: Option<&str>) {
        self.problems
            .push((file, path.to_vec(), message, hint.map(str::to_owned)));
    }

    /// `!reset` (None), `!override` (the value, replacing), or an unknown tag (reported).
    fn untag(&mut self, value: Value, file: usize, path: &[String]) -> Tagged {
        let Value::Tagged(tagged) = value else {
            return Tagged::Plain(value);
        };
        if tagged.tag == "reset" {
            Tagged::Reset
        } else if tagged.tag == "override" {
            Tagged::Override(tagged.value)
        } else {
            self.problem(
                file,
                path,
                format!("unknown tag `{}`", tagged.tag),
                Some("compose files know only `!reset` and `!override`"),
            );
            Tagged::Plain(tagged.value)
        }
    }

    /// Merges `over` (from `file`, at `path` there) over `base` (at `merged`). `None` removes.
    fn merge(
        &mut self,
        base: Option<Value>,
        over: Value,
        merged: &mut Vec<String>,
        path: &mut Vec<String>,
        file: usize,
    ) -> Option<Value> {
        let over = match self.untag(over, file, path) {
            Tagged::Reset => {
                self.origins.clear(merged);
                return None;
            }
            Tagged::Override(value) => {
                self.origins.clear(merged);
                return Some(self.graft(value, merged, path, file));
            }
            Tagged::Plain(value) => value,
        };
        let base = match base {
            None | Some(Value::Null) => return Some(self.graft(over, merged, path, file)),
            Some(base) => base,
        };
        // A null in a later file keeps the earlier value (compose-go `MergeYaml`).
        if over.is_null() {
            return Some(base);
        }
        let rule = rule(merged);
        if rule == Rule::Replace {
            self.origins.clear(merged);
            return Some(self.graft(over, merged, path, file));
        }
        let over_kind = describe(&over);
        match (base, self.canonical(rule, over, file, path)) {
            (Value::Mapping(mut map), Canon::Map(children)) => {
                self.origins.pin_children(
                    merged,
                    map.keys().map(segment).collect::<Vec<_>>().into_iter(),
                );
                if !merged.is_empty() {
                    self.origins.set(merged, file, path);
                }
                for (key, relative, value) in children {
                    let name = segment(&key);
                    let depth = path.len();
                    path.extend(relative.unwrap_or_else(|| vec![name.clone()]));
                    merged.push(name);
                    let existing = map.get_mut(&key).map(std::mem::take);
                    let had = existing.is_some();
                    match self.merge(existing, value, merged, path, file) {
                        Some(value) => {
                            map.insert(key, value);
                        }
                        None if had => {
                            map.shift_remove(&key);
                        }
                        None => {}
                    }
                    path.truncate(depth);
                    merged.pop();
                }
                Some(Value::Mapping(map))
            }
            (Value::Sequence(mut items), Canon::Seq(more)) => {
                self.origins.pin_children(
                    merged,
                    (0..items.len()).map(item).collect::<Vec<_>>().into_iter(),
                );
                self.origins.set(merged, file, path);
                for (index, (relative, value)) in more.into_iter().enumerate() {
                    merged.push(item(items.len()));
                    let depth = path.len();
                    path.extend(relative.unwrap_or_else(|| vec![item(index)]));
                    if let Some(value) = self.graft_item(value, merged, path, file) {
                        items.push(value);
                    }
                    path.truncate(depth);
                    merged.pop();
                }
                Some(Value::Sequence(items))
            }
            (base @ (Value::Mapping(_) | Value::Sequence(_)), _) => {
                let key = merged.last().map_or("value", String::as_str);
                self.problem(
                    file,
                    path,
                    format!(
                        "cannot merge `{key}`: it is {over_kind} here and {} in an earlier file",
                        describe(&base)
                    ),
                    Some("write it the same way in every file, or replace it with `!override`"),
                );
                Some(base)
            }
            (_, canon) => {
                self.origins.clear(merged);
                self.origins.set(merged, file, path);
                Some(self.expand_canon(canon, merged, path, file))
            }
        }
    }

    fn graft_item(
        &mut self,
        value: Value,
        merged: &mut Vec<String>,
        path: &mut Vec<String>,
        file: usize,
    ) -> Option<Value> {
        match self.untag(value, file, path) {
            Tagged::Reset => None,
            Tagged::Override(value) | Tagged::Plain(value) => {
                Some(self.graft(value, merged, path, file))
            }
        }
    }

    /// A value below a grafted one: tags applied, expanded (its origin follows its parent's).
    fn expand_item(
        &mut self,
        value: Value,
        merged: &mut Vec<String>,
        path: &mut Vec<String>,
        file: usize,
    ) -> Option<Value> {
        match self.untag(value, file, path) {
            Tagged::Reset => None,
            Tagged::Override(value) | Tagged::Plain(value) => {
                Some(self.expand(value, merged, path, file))
            }
        }
    }

    /// Takes a value from `file` where nothing was before, in its expanded form.
    fn graft(
        &mut self,
        value: Value,
        merged: &mut Vec<String>,
        path: &mut Vec<String>,
        file: usize,
    ) -> Value {
        self.origins.set(merged, file, path);
        self.expand(value, merged, path, file)
    }

    /// Expands a value and everything below it; records origins where paths diverge.
    fn expand(
        &mut self,
        value: Value,
        merged: &mut Vec<String>,
        path: &mut Vec<String>,
        file: usize,
    ) -> Value {
        let canon = self.canonical(rule(merged), value, file, path);
        self.expand_canon(canon, merged, path, file)
    }

    fn expand_canon(
        &mut self,
        canon: Canon,
        merged: &mut Vec<String>,
        path: &mut Vec<String>,
        file: usize,
    ) -> Value {
        match canon {
            Canon::Map(children) => {
                let mut map = Mapping::new();
                for (key, relative, value) in children {
                    let name = segment(&key);
                    let depth = path.len();
                    let diverges = relative.is_some();
                    path.extend(relative.unwrap_or_else(|| vec![name.clone()]));
                    merged.push(name);
                    if diverges {
                        self.origins.set(merged, file, path);
                    }
                    if let Some(value) = self.expand_item(value, merged, path, file) {
                        map.insert(key, value);
                    }
                    path.truncate(depth);
                    merged.pop();
                }
                Value::Mapping(map)
            }
            Canon::Seq(items) => {
                let mut out = Vec::new();
                for (index, (relative, value)) in items.into_iter().enumerate() {
                    let name = item(out.len());
                    let depth = path.len();
                    // A `!reset` item shifts the ones after it.
                    let diverges = relative.is_some() || out.len() != index;
                    path.extend(relative.unwrap_or_else(|| vec![item(index)]));
                    merged.push(name);
                    if diverges {
                        self.origins.set(merged, file, path);
                    }
                    if let Some(value) = self.expand_item(value, merged, path, file) {
                        out.push(value);
                    }
                    path.truncate(depth);
                    merged.pop();
                }
                Value::Sequence(out)
            }
            Canon::Other(value) => value,
        }
    }

    /// The expanded form of a value under a rule. Shapes the rule does not expect are kept
    /// as they are, for the conversion to report with the rest.
    fn canonical(&mut self, rule: Rule, value: Value, file: usize, path: &[String]) -> Canon {
        match (rule, value) {
            (Rule::KeyValue { bare_is_null }, Value::Sequence(items)) => {
                let mut children = Vec::new();
                for (index, entry) in items.into_iter().enumerate() {
                    let Value::String(text) = entry else {
                        let mut at = path.to_vec();
                        at.push(item(index));
                        self.problem(
                            file,
                            &at,
                            format!(
                                "`{}` entries must be strings `KEY=VALUE`, not {}",
                                path.last().map_or("", String::as_str),
                                describe(&entry)
                            ),
                            Some("quote the entry, or write the list as a mapping `KEY: VALUE`"),
                        );
                        continue;
                    };
                    let (key, value) = match text.split_once('=') {
                        Some((key, value)) => (key.to_owned(), Value::String(value.to_owned())),
                        None if bare_is_null => (text, Value::Null),
                        None => (text, Value::String(String::new())),
                    };
                    children.push((Value::String(key), Some(vec![item(index)]), value));
                }
                Canon::Map(children)
            }
            (Rule::DependsOn | Rule::Names, Value::Sequence(items)) => {
                let mut children = Vec::new();
                for (index, entry) in items.into_iter().enumerate() {
                    let Value::String(name) = entry else {
                        let mut at = path.to_vec();
                        at.push(item(index));
                        self.problem(
                            file,
                            &at,
                            format!(
                                "`{}` lists names, not {}",
                                path.last().map_or("", String::as_str),
                                describe(&entry)
                            ),
                            None,
                        );
                        continue;
                    };
                    let value = if rule == Rule::DependsOn {
                        let mut long = Mapping::new();
                        long.insert(
                            Value::String("condition".to_owned()),
                            Value::String("service_started".to_owned()),
                        );
                        Value::Mapping(long)
                    } else {
                        Value::Null
                    };
                    children.push((Value::String(name), Some(vec![item(index)]), value));
                }
                Canon::Map(children)
            }
            (Rule::ExtraHosts, Value::Mapping(map)) => {
                let mut items = Vec::new();
                for (host, ips) in map {
                    let name = segment(&host);
                    let ips = match ips {
                        Value::Sequence(ips) => ips,
                        other => vec![other],
                    };
                    for ip in ips {
                        let ip = match ip {
                            Value::String(s) => s,
                            other => segment(&other),
                        };
                        items.push((
                            Some(vec![name.clone()]),
                            Value::String(format!("{name}:{ip}")),
                        ));
                    }
                }
                Canon::Seq(items)
            }
            (Rule::Build, Value::String(context)) => Canon::Map(vec![(
                Value::String("context".to_owned()),
                Some(Vec::new()),
                Value::String(context),
            )]),
            (Rule::StringOrList, value @ Value::String(_)) => {
                Canon::Seq(vec![(Some(Vec::new()), value)])
            }
            (_, Value::Mapping(map)) => {
                Canon::Map(map.into_iter().map(|(k, v)| (k, None, v)).collect())
            }
            (_, Value::Sequence(items)) => {
                Canon::Seq(items.into_iter().map(|v| (None, v)).collect())
            }
            (_, other) => Canon::Other(other),
        }
    }
}

enum Tagged {
    Reset,
    Override(Value),
    Plain(Value),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Mapping {
        match super::super::document::parse(text).unwrap() {
            Value::Mapping(map) => map,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    fn merged(files: &[&str]) -> Merger {
        let mut merger = Merger::default();
        for (i, text) in files.iter().enumerate() {
            merger.add(i, yaml(text));
        }
        assert!(merger.problems.is_empty(), "{:?}", merger.problems);
        merger
    }

    fn get<'a>(merger: &'a Merger, path: &str) -> &'a Value {
        let mut value = &merger.document[path.split('.').next().unwrap()];
        for key in path.split('.').skip(1) {
            value = match key.parse::<usize>() {
                Ok(i) => &value[i],
                Err(_) => &value[key],
            };
        }
        value
    }

    fn strings(value: &Value) -> Vec<&str> {
        value
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect()
    }

    const BASE: &str = "\
services:
  web:
    image: web:1
    command: [serve, --port, '80']
    ports: ['8080:80']
    environment: [A=1, B=2]
    labels: {team: chat}
    depends_on: [db]
    healthcheck:
      test: [CMD, /check, a]
      interval: 5s
    build: ./web
  db:
    image: mongo
";

    #[test]
    fn scalars_replace_sequences_append_commands_replace() {
        let m = merged(&[
            BASE,
            "services:\n  web:\n    image: web:2\n    command: [serve]\n    ports: ['9090:90']\n    healthcheck:\n      test: [CMD, /check, b]\n",
        ]);
        assert_eq!(get(&m, "services.web.image").as_str(), Some("web:2"));
        assert_eq!(strings(get(&m, "services.web.command")), ["serve"]);
        assert_eq!(
            strings(get(&m, "services.web.ports")),
            ["8080:80", "9090:90"]
        );
        assert_eq!(
            strings(get(&m, "services.web.healthcheck.test")),
            ["CMD", "/check", "b"]
        );
        assert_eq!(
            get(&m, "services.web.healthcheck.interval").as_str(),
            Some("5s")
        );
    }

    #[test]
    fn key_value_lists_and_mappings_merge_by_key() {
        let m = merged(&[
            BASE,
            "services:\n  web:\n    environment: {B: '3', C: '4'}\n    labels: [tier=front, team=ops]\n    build: {args: [X=1]}\n",
        ]);
        let env = get(&m, "services.web.environment");
        assert_eq!(env["A"].as_str(), Some("1"));
        assert_eq!(env["B"].as_str(), Some("3"));
        assert_eq!(env["C"].as_str(), Some("4"));
        let labels = get(&m, "services.web.labels");
        assert_eq!(labels["team"].as_str(), Some("ops"));
        assert_eq!(labels["tier"].as_str(), Some("front"));
        assert_eq!(
            get(&m, "services.web.build.context").as_str(),
            Some("./web")
        );
        assert_eq!(get(&m, "services.web.build.args.X").as_str(), Some("1"));
    }

    #[test]
    fn depends_on_merges_by_name_and_a_short_entry_resets_the_condition() {
        let m = merged(&[
            "services:\n  a:\n    depends_on:\n      db: {condition: service_healthy}\n      cache: {condition: service_healthy}\n",
            "services:\n  a:\n    depends_on: [db, queue]\n",
        ]);
        let deps = get(&m, "services.a.depends_on");
        assert_eq!(deps["db"]["condition"].as_str(), Some("service_started"));
        assert_eq!(deps["cache"]["condition"].as_str(), Some("service_healthy"));
        assert_eq!(deps["queue"]["condition"].as_str(), Some("service_started"));
    }

    #[test]
    fn reset_and_override_tags() {
        let m = merged(&[
            BASE,
            "services:\n  web:\n    ports: !override ['7070:70']\n    environment:\n      A: !reset null\n    labels: !reset {}\n",
        ]);
        assert_eq!(strings(get(&m, "services.web.ports")), ["7070:70"]);
        assert!(get(&m, "services.web.environment").get("A").is_none());
        assert!(get(&m, "services.web").get("labels").is_none());
    }

    #[test]
    fn null_keeps_and_mismatches_are_reported() {
        let m = merged(&[BASE, "services:\n  web:\n    image: null\n"]);
        assert_eq!(get(&m, "services.web.image").as_str(), Some("web:1"));
        let mut merger = Merger::default();
        merger.add(0, yaml(BASE));
        merger.add(1, yaml("services:\n  web:\n    ports: {a: b}\n"));
        assert_eq!(merger.problems.len(), 1);
        assert_eq!(merger.problems[0].0, 1);
        assert!(merger.problems[0].2.contains("cannot merge `ports`"));
    }

    #[test]
    fn origins_name_the_file_and_path_that_set_a_key() {
        let m = merged(&[
            BASE,
            "services:\n  web:\n    image: web:2\n    ports: ['9090:90']\n    environment: [C=3]\n",
        ]);
        let at = |path: &str| {
            let path: Vec<&str> = path.split('.').collect();
            m.origins
                .resolve(&path)
                .map(|(file, p)| (file, p.join(".")))
        };
        assert_eq!(
            at("services.web.image"),
            Some((1, "services.web.image".into()))
        );
        assert_eq!(
            at("services.web.command"),
            Some((0, "services.web.command".into()))
        );
        assert_eq!(
            at("services.web.ports.[0]"),
            Some((0, "services.web.ports.[0]".into()))
        );
        assert_eq!(
            at("services.web.ports.[1]"),
            Some((1, "services.web.ports.[0]".into()))
        );
        assert_eq!(
            at("services.web.environment.B"),
            Some((0, "services.web.environment.[1]".into()))
        );
        assert_eq!(
            at("services.web.environment.C"),
            Some((1, "services.web.environment.[0]".into()))
        );
        assert_eq!(
            at("services.db.image"),
            Some((0, "services.db.image".into()))
        );
        assert_eq!(
            at("services.web.build.context"),
            Some((0, "services.web.build".into()))
        );
    }
}
