//! From facts to findings: every rule against every service, specific rules before the
//! catch-alls, then the findings ordered and grouped by the dependency graph — a finding whose
//! service depends (transitively) on a service that has a finding is listed under that one, as
//! a consequence. A service that is not well and that no rule explains is still a finding.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::facts::Facts;
use super::observe::Observation;
use super::rules::{Evidence, Rule, Severity};

/// The id of the finding made when something is wrong and no rule says why.
pub const UNEXPLAINED: &str = "unexplained";

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule's id (or `unexplained`).
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub service: String,
    pub evidence: Vec<Evidence>,
    pub cause: String,
    pub fix: String,
    pub source: String,
    /// Findings on services that depend on this one: symptoms of it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consequences: Vec<Finding>,
}

/// Whether the service is not well by Docker's own account (whatever the rules say).
fn unwell(facts: &Facts, service: &str) -> bool {
    let state = facts.value(service, "docker.state");
    let job = facts.value(service, "docker.job") == "true";
    let failed_job = job && !matches!(facts.value(service, "docker.exit_code"), "" | "0");
    let stopped = !job && state != "running";
    failed_job
        || stopped
        || (state == "running" && facts.value(service, "docker.health") == "unhealthy")
        || state == "missing"
        || state == "restarting"
}

/// Every rule against every service, grouped and ordered.
#[must_use]
pub fn diagnose(observation: &Observation, rules: &[Rule], project: &str) -> Vec<Finding> {
    let facts = &observation.facts;
    let mut flat: Vec<Finding> = Vec::new();
    for service in &observation.services {
        let finding = |rule: &Rule, evidence: Vec<Evidence>| Finding {
            rule: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            service: service.clone(),
            evidence,
            cause: rule.cause.clone(),
            fix: Rule::fill(&rule.fix, facts, service, project),
            source: rule.source.clone(),
            consequences: Vec::new(),
        };
        let specific: Vec<Finding> = rules
            .iter()
            .filter(|r| !r.generic)
            .filter_map(|r| r.matches(facts, service).map(|e| finding(r, e)))
            .collect();
        let explained = specific.iter().any(|f| f.severity != Severity::Info);
        let mut found = specific;
        if !explained {
            found.extend(
                rules
                    .iter()
                    .filter(|r| r.generic)
                    .filter_map(|r| r.matches(facts, service).map(|e| finding(r, e))),
            );
        }
        if found.is_empty() && unwell(facts, service) {
            found.push(unexplained(facts, service));
        }
        tracing::debug!(service, findings = found.len(), "rules matched");
        flat.extend(found);
    }
    group(flat, &observation.depends_on)
}

/// The finding for a service that is not well and that no rule explains: Docker's last health
/// output and the end of its log are the evidence.
fn unexplained(facts: &Facts, service: &str) -> Finding {
    let evidence = [
        "docker.state",
        "docker.exit_code",
        "docker.health",
        "docker.health_output",
        "docker.log",
    ]
    .iter()
    .filter_map(|key| {
        let fact = facts.get(service, key)?;
        (!fact.value.is_empty()).then(|| Evidence {
            fact: (*key).to_owned(),
            text: fact.value.clone(),
            from: fact.from.clone(),
        })
    })
    .collect();
    Finding {
        rule: UNEXPLAINED.to_owned(),
        title: "the service is not well and no rule knows why".to_owned(),
        severity: Severity::Critical,
        service: service.to_owned(),
        evidence,
        cause: "no known failure signature matched; the evidence is what Docker shows".to_owned(),
        fix: format!("read the evidence below, and `docker logs` of `{service}`"),
        source: "Docker Engine API ContainerInspect (State, State.Health.Log), ContainerLogs"
            .to_owned(),
        consequences: Vec::new(),
    }
}

/// Each service's transitive dependencies.
fn ancestors(depends_on: &BTreeMap<String, Vec<String>>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut out = BTreeMap::new();
    for service in depends_on.keys() {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<&str> = depends_on[service].iter().map(String::as_str).collect();
        while let Some(next) = queue.pop() {
            if seen.insert(next) {
                queue.extend(
                    depends_on
                        .get(next)
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                );
            }
        }
        out.insert(service.as_str(), seen);
    }
    out
}

/// Moves the findings caused by `finding`'s service under it; a consequence's own
/// consequences move up too, so each root has one level under it.
fn adopt(finding: &mut Finding, under: &mut BTreeMap<String, Vec<Finding>>) {
    if let Some(children) = under.remove(&finding.service) {
        for mut child in children {
            adopt(&mut child, under);
            let grandchildren = std::mem::take(&mut child.consequences);
            finding.consequences.push(child);
            finding.consequences.extend(grandchildren);
        }
    }
}

/// Roots first (in the order found, which is the graph's), each with the findings of the
/// services that depend on it. A symptom goes under its deepest failing dependency (the one
/// closest to it), and informational findings never adopt others.
fn group(flat: Vec<Finding>, depends_on: &BTreeMap<String, Vec<String>>) -> Vec<Finding> {
    let ancestors = ancestors(depends_on);
    let failing: BTreeSet<String> = flat
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.service.clone())
        .collect();
    let order: Vec<String> = flat.iter().map(|f| f.service.clone()).collect();
    let cause_of = |service: &str| -> Option<String> {
        let up = ancestors.get(service)?;
        // The failing dependency found last in graph order is the closest one.
        order
            .iter()
            .rev()
            .find(|s| up.contains(s.as_str()) && failing.contains(*s) && s.as_str() != service)
            .cloned()
    };
    let mut roots: Vec<Finding> = Vec::new();
    let mut under: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for finding in flat {
        match cause_of(&finding.service) {
            Some(cause) => under.entry(cause).or_default().push(finding),
            None => roots.push(finding),
        }
    }
    let mut seen = BTreeSet::new();
    for root in &mut roots {
        if root.severity != Severity::Info && seen.insert(root.service.clone()) {
            adopt(root, &mut under);
        }
    }
    // Anything left (its cause was only informational) stands on its own.
    roots.extend(under.into_values().flatten());
    roots.sort_by_key(|f| f.severity);
    roots
}

#[cfg(test)]
mod tests {
    use super::super::facts::Fact;
    use super::super::rules;
    use super::*;

    fn observation(facts: &[(&str, &str, &str)], deps: &[(&str, &[&str])]) -> Observation {
        let mut all = Facts::default();
        for (s, k, v) in facts {
            all.add(Fact::new(s, k, *v));
        }
        Observation {
            facts: all,
            services: deps.iter().map(|(s, _)| (*s).to_owned()).collect(),
            depends_on: deps
                .iter()
                .map(|(s, d)| ((*s).to_owned(), d.iter().map(|x| (*x).to_owned()).collect()))
                .collect(),
            unobserved: Vec::new(),
        }
    }

    const GRAPH: &[(&str, &[&str])] = &[
        ("mongo", &[]),
        ("rocketchat", &["mongo"]),
        ("bot", &["rocketchat"]),
    ];

    fn running(service: &'static str) -> [(&'static str, &'static str, &'static str); 3] {
        [
            (service, "docker.state", "running"),
            (service, "docker.job", "false"),
            (service, "docker.health", "healthy"),
        ]
    }

    #[test]
    fn a_healthy_stack_has_no_finding() {
        let mut facts: Vec<_> = ["mongo", "rocketchat", "bot"]
            .into_iter()
            .flat_map(running)
            .collect();
        facts.push(("mongo", "mongo.role", "primary"));
        facts.push(("mongo", "mongo.hosts", "mongo:27017"));
        facts.push(("rocketchat", "rocketchat.version", "8.0.0"));
        let found = diagnose(&observation(&facts, GRAPH), &rules::shipped(), "p");
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn symptoms_go_under_their_root_cause() {
        let facts = [
            ("mongo", "docker.state", "running"),
            ("mongo", "docker.job", "false"),
            ("mongo", "mongo.role", "uninitialized"),
            ("rocketchat", "docker.state", "restarting"),
            ("rocketchat", "docker.job", "false"),
            (
                "rocketchat",
                "docker.log",
                "x\nMongoServerSelectionError: Server selection timed out after 30000 ms\ny",
            ),
            ("bot", "docker.state", "running"),
            ("bot", "docker.job", "false"),
            ("bot", "docker.health", "unhealthy"),
            ("bot", "docker.health_output", "something odd"),
        ];
        let found = diagnose(&observation(&facts, GRAPH), &rules::shipped(), "p");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].rule, "M1-not-initiated");
        let under: Vec<&str> = found[0]
            .consequences
            .iter()
            .map(|f| f.rule.as_str())
            .collect();
        assert_eq!(under, ["M1-client-no-primary", "D-unhealthy"]);
        assert_eq!(found[0].consequences[0].evidence[0].text.lines().count(), 1);
    }

    #[test]
    fn what_no_rule_knows_is_still_reported() {
        let facts = [
            ("mongo", "docker.state", "running"),
            ("mongo", "docker.job", "true"),
            ("mongo", "docker.exit_code", "0"),
        ];
        assert!(diagnose(&observation(&facts, &GRAPH[..1]), &[], "p").is_empty());
        let facts = [
            ("mongo", "docker.state", "exited"),
            ("mongo", "docker.job", "false"),
            ("mongo", "docker.exit_code", "137"),
            ("mongo", "docker.log", "last words"),
        ];
        let found = diagnose(&observation(&facts, &GRAPH[..1]), &[], "p");
        assert_eq!(found[0].rule, UNEXPLAINED);
        assert!(found[0].evidence.iter().any(|e| e.text == "last words"));
    }
}
