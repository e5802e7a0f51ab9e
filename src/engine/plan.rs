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

/// Each service's depth: 0 when it needs nothing in the stack, else one more than the deepest
/// thing it needs. Kahn's algorithm, iterative and linear in services plus dependencies, so a
/// 20,000-service chain neither overflows the stack nor takes quadratic time. The loader rejects
/// cycles; should one get here anyway, its services go one level below everything else.
fn depths(stack: &Stack) -> BTreeMap<&str, usize> {
    let mut waiting: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, service) in &stack.services {
        let deps: BTreeSet<&str> = service
            .depends_on
            .keys()
            .map(String::as_str)
            .filter(|dep| stack.services.contains_key(*dep))
            .collect();
        waiting.insert(name, deps.len());
        for dep in deps {
            dependants.entry(dep).or_default().push(name);
        }
    }
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ready: Vec<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    for name in &ready {
        depth.insert(name, 0);
    }
    while let Some(name) = ready.pop() {
        let next = depth[name] + 1;
        for &dependant in dependants.get(name).map_or(&[][..], Vec::as_slice) {
            let d = depth.entry(dependant).or_insert(0);
            *d = (*d).max(next);
            let left = waiting
                .get_mut(dependant)
                .expect("every service is counted");
            *left -= 1;
            if *left == 0 {
                ready.push(dependant);
            }
        }
    }
    let below = depth.values().copied().max().map_or(0, |d| d + 1);
    for (name, left) in waiting {
        if left > 0 {
            depth.insert(name, below);
        }
    }
    depth
}

/// Services grouped by depth: level 0 needs nothing, level n needs something at level n-1.
/// Names are sorted within a level.
#[must_use]
pub fn levels(stack: &Stack) -> Vec<Vec<String>> {
    let depth = depths(stack);
    let mut levels: Vec<Vec<String>> = Vec::new();
    for (name, d) in depth {
        if levels.len() <= d {
            levels.resize_with(d + 1, Vec::new);
        }
        levels[d].push(name.to_owned());
    }
    levels.retain(|level| !level.is_empty());
    levels
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
