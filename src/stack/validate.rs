//! Checks that need the whole stack: profiles, dependencies, cycles, names. All of them run
//! before anything touches Docker, so a broken file changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Condition, JobOptions, MountKind, Stack};

/// Reports one problem at a key path.
pub type Report<'a> = dyn FnMut(&[&str], String, Option<String>) + 'a;

/// Unknown names that get a "did you mean": only the first problems are listed anyway.
const MAX_SUGGESTIONS: usize = super::problems::MAX_LISTED;

/// Name comparisons "did you mean" may make in one validation, so a stack with thousands of
/// services and thousands of unknown names stays fast; past it, no more suggestions.
const MAX_COMPARISONS: usize = 250_000;

/// Applies profiles, marks jobs, and checks references. Problems go to `report`.
pub fn validate(stack: &mut Stack, profiles: &BTreeSet<String>, report: &mut Report<'_>) {
    let mut suggestions: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut suggester: Option<Suggester> = None;
    let disabled: BTreeSet<String> = stack
        .services
        .iter()
        .filter(|(_, s)| !s.profiles.is_empty() && !s.profiles.iter().any(|p| profiles.contains(p)))
        .map(|(name, _)| name.clone())
        .collect();

    for (name, service) in &stack.services {
        if disabled.contains(name) {
            continue;
        }
        for dep in service.depends_on.keys() {
            let path = ["services", name.as_str(), "depends_on", dep.as_str()];
            if disabled.contains(dep) {
                let profiles = stack.services[dep].profiles.join("`, `");
                report(
                    &path,
                    format!(
                        "service `{name}` depends on `{dep}`, which is disabled by its profiles (`{profiles}`)"
                    ),
                    Some(
                        "enable the profile with `COMPOSE_PROFILES`, or drop the dependency"
                            .to_owned(),
                    ),
                );
            } else if let Some(target) = stack.services.get(dep) {
                let has_health = target
                    .healthcheck
                    .as_ref()
                    .is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"));
                let condition = service.depends_on[dep].condition;
                if condition == Condition::ServiceHealthy && !has_health && target.ready.is_empty()
                {
                    report(
                        &path,
                        format!(
                            "service `{name}` waits for `{dep}` to be healthy, but `{dep}` has no healthcheck"
                        ),
                        Some(format!(
                            "give `{dep}` a `healthcheck:` (or `x-stackctl: {{ready: [...]}}`), or use `condition: service_started`"
                        )),
                    );
                }
            } else {
                let hint = if suggestions.len() < MAX_SUGGESTIONS || suggestions.contains_key(dep) {
                    suggestions
                        .entry(dep.clone())
                        .or_insert_with(|| {
                            suggester
                                .get_or_insert_with(|| Suggester::new(stack.services.keys()))
                                .closest(dep)
                                .cloned()
                        })
                        .clone()
                } else {
                    None
                };
                report(
                    &path,
                    format!("service `{name}` depends on `{dep}`, which is not defined"),
                    hint.map(|c| format!("did you mean `{c}`?")),
                );
            }
        }
        for network in service.networks.keys() {
            if !stack.networks.contains_key(network) {
                report(
                    &["services", name, "networks"],
                    format!("service `{name}` uses network `{network}`, which is not declared"),
                    Some(format!(
                        "declare it under the top-level `networks:` as `{network}: {{}}`"
                    )),
                );
            }
        }
        for mount in &service.volumes {
            if mount.kind == MountKind::Volume && !stack.volumes.contains_key(&mount.source) {
                report(
                    &["services", name, "volumes"],
                    format!(
                        "service `{name}` uses volume `{}`, which is not declared",
                        mount.source
                    ),
                    Some(format!(
                        "declare it under the top-level `volumes:`, or write `./{}` for a bind mount",
                        mount.source
                    )),
                );
            }
        }
    }
    stack.services.retain(|name, _| !disabled.contains(name));

    // A service others wait on with `service_completed_successfully` is a job.
    let completed: BTreeSet<String> = stack
        .services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, d)| d.condition == Condition::ServiceCompletedSuccessfully)
        .map(|(dep, _)| dep.clone())
        .collect();
    for name in completed {
        if let Some(service) = stack.services.get_mut(&name) {
            service.job.get_or_insert_with(JobOptions::default);
        }
    }

    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, service) in &stack.services {
        if let Some(container) = &service.container_name {
            if let Some(other) = names.insert(container, name) {
                report(
                    &["services", name, "container_name"],
                    format!(
                        "services `{other}` and `{name}` both use container name `{container}`"
                    ),
                    Some(
                        "container names are global to the Docker host; give each its own"
                            .to_owned(),
                    ),
                );
            }
        }
    }

    if let Some(cycle) = find_cycle(stack) {
        let first = cycle[0].clone();
        report(
            &["services", first.as_str(), "depends_on"],
            format!("dependency cycle: {}", show_cycle(&cycle)),
            Some("a service cannot wait, even indirectly, for itself; remove one of these dependencies".to_owned()),
        );
    }
}

/// The first cycle found, as a path that ends where it starts. Iterative: a dependency chain
/// thousands of services long must not exhaust the stack.
fn find_cycle(stack: &Stack) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for start in stack.services.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        marks.insert(start, Mark::Visiting);
        let mut frames = vec![(start.as_str(), stack.services[start].depends_on.keys())];
        while let Some((name, deps)) = frames.last_mut() {
            let name = *name;
            let Some(dep) = deps.next() else {
                marks.insert(name, Mark::Done);
                frames.pop();
                continue;
            };
            let Some((dep, target)) = stack.services.get_key_value(dep) else {
                continue;
            };
            match marks.get(dep.as_str()) {
                Some(Mark::Done) => {}
                Some(Mark::Visiting) => {
                    let from = frames.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                    let mut cycle: Vec<String> = frames[from..]
                        .iter()
                        .map(|(n, _)| (*n).to_owned())
                        .collect();
                    cycle.push(dep.clone());
                    return Some(cycle);
                }
                None => {
                    marks.insert(dep, Mark::Visiting);
                    frames.push((dep.as_str(), target.depends_on.keys()));
                }
            }
        }
    }
    None
}

/// A cycle as `a → b → a`; a long one with its middle elided, so the message stays a line.
fn show_cycle(cycle: &[String]) -> String {
    const HEAD: usize = 6;
    const TAIL: usize = 3;
    if cycle.len() <= HEAD + TAIL + 1 {
        return cycle.join(" → ");
    }
    format!(
        "{} → ... ({} more) → {}",
        cycle[..HEAD].join(" → "),
        cycle.len() - HEAD - TAIL,
        cycle[cycle.len() - TAIL..].join(" → ")
    )
}

/// Names longer than this get no "did you mean": nobody misspells a 100-character name by
/// two letters, and comparing long names is what made huge files slow.
const MAX_SUGGESTED_LEN: usize = 64;

/// The defined name closest to a misspelt one (edit distance ≤ 2), if any.
pub(crate) fn closest(wanted: &str, names: &[String]) -> Option<String> {
    Suggester::new(names.iter()).closest(wanted).cloned()
}

/// Finds "did you mean" candidates among the defined names, each prepared once.
struct Suggester<'a> {
    names: Vec<(Vec<char>, &'a String)>,
    rows: (Vec<usize>, Vec<usize>),
    comparisons: usize,
}

impl<'a> Suggester<'a> {
    fn new(names: impl Iterator<Item = &'a String>) -> Self {
        Self {
            names: names
                .filter(|n| n.len() <= MAX_SUGGESTED_LEN * 4)
                .map(|n| (n.chars().collect::<Vec<char>>(), n))
                .filter(|(chars, _)| chars.len() <= MAX_SUGGESTED_LEN)
                .collect(),
            rows: (Vec::new(), Vec::new()),
            comparisons: 0,
        }
    }

    /// The defined name closest to a misspelt one (edit distance ≤ 2; the first of equals).
    fn closest(&mut self, wanted: &str) -> Option<&'a String> {
        const MAX: usize = 2;
        if wanted.len() > MAX_SUGGESTED_LEN * 4 || self.comparisons >= MAX_COMPARISONS {
            return None;
        }
        self.comparisons += self.names.len();
        let wanted: Vec<char> = wanted.chars().collect();
        if wanted.len() > MAX_SUGGESTED_LEN {
            return None;
        }
        let mut best: Option<(usize, &'a String)> = None;
        for (chars, name) in &self.names {
            let limit = best.map_or(MAX, |(d, _)| d.saturating_sub(1));
            if chars.len().abs_diff(wanted.len()) > limit {
                continue;
            }
            if let Some(d) = bounded_distance(&wanted, chars, limit, &mut self.rows) {
                best = Some((d, name));
                if d == 0 {
                    break;
                }
            }
        }
        best.map(|(_, name)| name)
    }
}

/// The edit distance between `a` and `b` if it is at most `max`: only the diagonal band of
/// width `2 × max + 1` is computed, so the cost is `O(max × len)`, not `O(len²)`.
fn bounded_distance(
    a: &[char],
    b: &[char],
    max: usize,
    rows: &mut (Vec<usize>, Vec<usize>),
) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let far = max + 1;
    let (prev, cur) = rows;
    prev.clear();
    prev.extend((0..=b.len()).map(|j| j.min(far)));
    cur.clear();
    cur.resize(b.len() + 1, far);
    for i in 1..=a.len() {
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(b.len());
        cur[0] = i.min(far);
        cur[lo - 1] = if lo == 1 { cur[0] } else { far };
        let mut row_min = cur[lo - 1];
        for j in lo..=hi {
            let substitute = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let value = substitute.min(prev[j] + 1).min(cur[j - 1] + 1).min(far);
            cur[j] = value;
            row_min = row_min.min(value);
        }
        if hi < b.len() {
            cur[hi + 1] = far;
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(prev, cur);
    }
    Some(prev[b.len()]).filter(|d| *d <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    fn bounded_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
        super::bounded_distance(a, b, max, &mut (Vec::new(), Vec::new()))
    }

    fn closest<'a>(wanted: &str, names: impl Iterator<Item = &'a String>) -> Option<&'a String> {
        Suggester::new(names).closest(wanted)
    }

    #[test]
    fn edit_distance() {
        assert_eq!(
            bounded_distance(&chars("mongoo"), &chars("mongo"), 2),
            Some(1)
        );
        assert_eq!(
            bounded_distance(&chars("mnogo"), &chars("mongo"), 2),
            Some(2)
        );
        assert_eq!(
            bounded_distance(&chars("kitten"), &chars("sitting"), 2),
            None
        );
        assert_eq!(
            bounded_distance(&chars("kitten"), &chars("sitting"), 3),
            Some(3)
        );
        assert_eq!(bounded_distance(&chars(""), &chars("ab"), 2), Some(2));
        assert_eq!(
            bounded_distance(&chars("bot"), &chars("rocketchat"), 2),
            None
        );
        assert_eq!(
            bounded_distance(&chars("abcdef"), &chars("abcdef"), 0),
            Some(0)
        );
    }

    #[test]
    fn suggestions_prefer_the_closest_and_skip_long_names() {
        let names: Vec<String> = ["mongo", "mango", "rocketchat"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            closest("mongoo", names.iter()).map(String::as_str),
            Some("mongo")
        );
        assert_eq!(closest("bot", names.iter()), None);
        let long = "x".repeat(100_000);
        let started = std::time::Instant::now();
        assert_eq!(closest(&long, std::iter::once(&long)), None);
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }
}
