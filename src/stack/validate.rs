//! Checks that need the whole stack: profiles, dependencies, cycles, names. All of them run
//! before anything touches Docker, so a broken file changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Condition, JobOptions, MountKind, Stack};

/// Reports one problem at a key path.
pub type Report<'a> = dyn FnMut(&[&str], String, Option<String>) + 'a;

/// Applies profiles, marks jobs, and checks references. Problems go to `report`.
pub fn validate(stack: &mut Stack, profiles: &BTreeSet<String>, report: &mut Report<'_>) {
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
                report(
                    &path,
                    format!("service `{name}` depends on `{dep}`, which is not defined"),
                    closest(dep, stack.services.keys()).map(|c| format!("did you mean `{c}`?")),
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
            format!("dependency cycle: {}", cycle.join(" → ")),
            Some("a service cannot wait, even indirectly, for itself; remove one of these dependencies".to_owned()),
        );
    }
}

/// The first cycle found, as a path that ends where it starts.
fn find_cycle(stack: &Stack) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        stack: &Stack,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|n| n == name).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(name.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name.to_owned(), Mark::Visiting);
        path.push(name.to_owned());
        if let Some(service) = stack.services.get(name) {
            for dep in service.depends_on.keys() {
                if stack.services.contains_key(dep) {
                    if let Some(cycle) = visit(dep, stack, marks, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        marks.insert(name.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    stack
        .services
        .keys()
        .find_map(|name| visit(name, stack, &mut marks, &mut Vec::new()))
}

/// The defined name closest to a misspelt one (edit distance ≤ 2).
fn closest<'a>(wanted: &str, names: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    names
        .map(|n| (distance(wanted, n), n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn edit_distance() {
        assert_eq!(super::distance("mongoo", "mongo"), 1);
        assert!(super::distance("bot", "rocketchat") > 2);
    }
}
