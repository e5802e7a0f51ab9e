//! The dependency graph: which services an `up` touches, in what order they can start, and how
//! the graph is drawn. Pure functions over the stack.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::error::Error;
use crate::stack::{Condition, Stack};

/// The services to bring up: those named (all when none) and, transitively, what they need.
pub fn selection(stack: &Stack, requested: &[String]) -> Result<BTreeSet<String>, Error> {
    let mut selected = BTreeSet::new();
    let mut queue: Vec<String> = if requested.is_empty() {
        stack.services.keys().cloned().collect()
    } else {
        for name in requested {
            if !stack.services.contains_key(name) {
                let known: Vec<&str> = stack.services.keys().map(String::as_str).collect();
                return Err(Error::usage(format!("no service `{name}` in the stack"))
                    .with_hint(format!("services: `{}`", known.join("`, `"))));
            }
        }
        requested.to_vec()
    };
    while let Some(name) = queue.pop() {
        if selected.insert(name.clone()) {
            if let Some(service) = stack.services.get(&name) {
                queue.extend(
                    service
                        .depends_on
                        .keys()
                        .filter(|d| stack.services.contains_key(*d))
                        .cloned(),
                );
            }
        }
    }
    Ok(selected)
}

fn depth_of<'a>(
    name: &'a str,
    stack: &'a Stack,
    depth: &mut BTreeMap<&'a str, usize>,
    guard: usize,
) -> usize {
    if let Some(d) = depth.get(name) {
        return *d;
    }
    let d = stack.services.get(name).map_or(0, |s| {
        s.depends_on
            .keys()
            .filter(|dep| stack.services.contains_key(*dep) && guard < stack.services.len())
            .map(|dep| depth_of(dep, stack, depth, guard + 1) + 1)
            .max()
            .unwrap_or(0)
    });
    depth.insert(name, d);
    d
}

/// Services grouped by depth: level 0 needs nothing, level n needs something at level n-1.
#[must_use]
pub fn levels(stack: &Stack) -> Vec<Vec<String>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    for name in stack.services.keys() {
        depth_of(name, stack, &mut depth, 0);
    }
    let max = depth.values().copied().max().unwrap_or(0);
    (0..=max)
        .map(|level| {
            depth
                .iter()
                .filter(|(_, d)| **d == level)
                .map(|(n, _)| (*n).to_owned())
                .collect()
        })
        .filter(|l: &Vec<String>| !l.is_empty())
        .collect()
}

fn condition_label(condition: Condition) -> &'static str {
    match condition {
        Condition::ServiceStarted => "started",
        Condition::ServiceHealthy => "healthy",
        Condition::ServiceCompletedSuccessfully => "completed",
    }
}

/// The graph as text: one line per service with what it waits for.
#[must_use]
pub fn render_text(stack: &Stack) -> String {
    let mut out = String::new();
    for (level, names) in levels(stack).iter().enumerate() {
        for name in names {
            let service = &stack.services[name];
            let kind = if service.is_job() { " (job)" } else { "" };
            let deps: Vec<String> = service
                .depends_on
                .iter()
                .map(|(dep, d)| format!("{dep} ({})", condition_label(d.condition)))
                .collect();
            if deps.is_empty() {
                let _ = writeln!(out, "{level}  {name}{kind}");
            } else {
                let _ = writeln!(out, "{level}  {name}{kind} ← {}", deps.join(", "));
            }
        }
    }
    out
}

/// Graphviz.
#[must_use]
pub fn render_dot(stack: &Stack) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n", stack.project);
    for (name, service) in &stack.services {
        let shape = if service.is_job() { "box" } else { "ellipse" };
        let _ = writeln!(out, "  \"{name}\" [shape={shape}];");
    }
    for (name, service) in &stack.services {
        for (dep, d) in &service.depends_on {
            let _ = writeln!(
                out,
                "  \"{dep}\" -> \"{name}\" [label=\"{}\"];",
                condition_label(d.condition)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// Mermaid (renders in GitHub and GitLab markdown).
#[must_use]
pub fn render_mermaid(stack: &Stack) -> String {
    let id = |name: &str| name.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let mut out = String::from("flowchart LR\n");
    for (name, service) in &stack.services {
        if service.is_job() {
            let _ = writeln!(out, "  {}[[{name}]]", id(name));
        } else {
            let _ = writeln!(out, "  {}([{name}])", id(name));
        }
    }
    for (name, service) in &stack.services {
        for (dep, d) in &service.depends_on {
            let _ = writeln!(
                out,
                "  {} -->|{}| {}",
                id(dep),
                condition_label(d.condition),
                id(name)
            );
        }
    }
    out
}
