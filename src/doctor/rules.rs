//! The rules, as data: `rules.yml` holds one entry per failure signature of
//! `../shared/brief/doctor.md` (its id, what it observes, the cause in one sentence, the fix,
//! a severity and its source). Adding a rule is adding an entry there; this file only reads
//! the table and matches one rule against one service's facts.

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::facts::{Fact, Facts};

/// The shipped table.
const RULES: &str = include_str!("rules.yml");

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The stack does not work.
    Critical,
    /// It works, but a part of it is broken or about to break.
    Warning,
    /// Worth knowing; nothing is broken.
    Info,
}

impl Severity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One condition on a fact of the service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    fact: String,
    #[serde(default)]
    matches: Option<String>,
    #[serde(default)]
    equals: Option<String>,
    #[serde(default)]
    at_least: Option<i64>,
    /// A condition that only sets the scene (a job, a running container): not quoted.
    #[serde(default)]
    quiet: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    severity: Severity,
    /// Any of these groups of conditions (each group: all of its conditions).
    when: Vec<Vec<RawCondition>>,
    #[serde(default)]
    quote: Vec<String>,
    cause: String,
    fix: String,
    source: String,
    #[serde(default)]
    generic: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    rules: Vec<RawRule>,
}

/// What a condition asks of a fact's value.
#[derive(Debug)]
enum Test {
    Matches(Regex),
    Equals(String),
    AtLeast(i64),
}

/// One condition, ready to match.
#[derive(Debug)]
pub struct Condition {
    pub fact: String,
    test: Test,
    quiet: bool,
}

impl Condition {
    /// The lines of the fact's value the condition matched, or `None` when it does not hold.
    fn matched(&self, fact: &Fact) -> Option<String> {
        match &self.test {
            Test::Equals(want) => (fact.value == *want).then(|| fact.value.clone()),
            Test::AtLeast(n) => fact
                .value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|v| v >= n)
                .map(|_| fact.value.clone()),
            Test::Matches(re) => {
                if !re.is_match(&fact.value) {
                    return None;
                }
                // A log or a health output is many lines: quote the ones that matched.
                let lines: Vec<&str> = fact.value.lines().filter(|l| re.is_match(l)).collect();
                Some(if lines.is_empty() {
                    fact.value.clone()
                } else {
                    lines
                        .iter()
                        .rev()
                        .take(MAX_QUOTED_LINES)
                        .rev()
                        .copied()
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
        }
    }
}

/// How many matching lines a piece of evidence quotes (the last ones).
const MAX_QUOTED_LINES: usize = 3;

/// One rule of the table.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    when: Vec<Vec<Condition>>,
    /// Further facts quoted as evidence when the rule matches.
    pub quote: Vec<String>,
    pub cause: String,
    pub fix: String,
    pub source: String,
    /// A catch-all (a stopped container, a restart loop): applies only when no specific rule
    /// explains the service.
    pub generic: bool,
}

/// One piece of evidence: a fact and the part of its value that matters.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub fact: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Rule {
    /// The evidence when the rule holds for `service`: the facts its first satisfied group of
    /// conditions matched, then the facts it quotes.
    #[must_use]
    pub fn matches(&self, facts: &Facts, service: &str) -> Option<Vec<Evidence>> {
        let matched = self.when.iter().find_map(|group| {
            group
                .iter()
                .map(|c| {
                    let fact = facts.get(service, &c.fact)?;
                    c.matched(fact).map(|text| {
                        (!c.quiet).then(|| Evidence {
                            fact: c.fact.clone(),
                            text,
                            from: fact.from.clone(),
                        })
                    })
                })
                .collect::<Option<Vec<_>>>()
        })?;
        let mut evidence: Vec<Evidence> = matched.into_iter().flatten().collect();
        for key in &self.quote {
            if evidence.iter().any(|e| &e.fact == key) {
                continue;
            }
            if let Some(fact) = facts.get(service, key).filter(|f| !f.value.is_empty()) {
                evidence.push(Evidence {
                    fact: key.clone(),
                    text: fact.value.clone(),
                    from: fact.from.clone(),
                });
            }
        }
        Some(evidence)
    }

    /// `text` with `{service}` and `{fact.key}` placeholders filled from the service's facts.
    #[must_use]
    pub fn fill(text: &str, facts: &Facts, service: &str, project: &str) -> String {
        let mut out = text
            .replace("{service}", service)
            .replace("{project}", project);
        for fact in facts.of(service) {
            let placeholder = format!("{{{}}}", fact.key);
            if out.contains(&placeholder) {
                out = out.replace(&placeholder, fact.value.lines().next().unwrap_or(""));
            }
        }
        out
    }
}

/// Reads a table of rules, refusing a wrong one with what is wrong and where.
///
/// # Errors
/// A rule without a condition, a condition that tests nothing or two things, a regular
/// expression that does not compile, two rules with one id.
pub fn parse(text: &str) -> Result<Vec<Rule>, String> {
    let table: RawTable = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
    let mut ids = std::collections::BTreeSet::new();
    let mut rules = Vec::new();
    for raw in table.rules {
        if !ids.insert(raw.id.clone()) {
            return Err(format!("rule `{}` is defined twice", raw.id));
        }
        if raw.when.is_empty() || raw.when.iter().any(Vec::is_empty) {
            return Err(format!("rule `{}` has an empty `when`", raw.id));
        }
        let mut when = Vec::new();
        for group in raw.when {
            let mut conditions = Vec::new();
            for c in group {
                let kind = match (c.matches, c.equals, c.at_least) {
                    (Some(re), None, None) => Test::Matches(
                        Regex::new(&re).map_err(|e| format!("rule `{}`: `{re}`: {e}", raw.id))?,
                    ),
                    (None, Some(v), None) => Test::Equals(v),
                    (None, None, Some(n)) => Test::AtLeast(n),
                    _ => {
                        return Err(format!(
                            "rule `{}`: a condition on `{}` needs exactly one of `matches`, `equals`, `at_least`",
                            raw.id, c.fact
                        ));
                    }
                };
                conditions.push(Condition {
                    fact: c.fact,
                    test: kind,
                    quiet: c.quiet,
                });
            }
            when.push(conditions);
        }
        rules.push(Rule {
            id: raw.id,
            title: raw.title,
            severity: raw.severity,
            when,
            quote: raw.quote,
            cause: raw.cause,
            fix: raw.fix,
            source: raw.source,
            generic: raw.generic,
        });
    }
    Ok(rules)
}

/// The shipped rules.
///
/// # Panics
/// Never once the unit tests pass: they load the same table.
#[must_use]
pub fn shipped() -> Vec<Rule> {
    parse(RULES).expect("the shipped rules are valid (unit-tested)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_loads_and_every_rule_cites_a_source() {
        let rules = shipped();
        assert!(rules.len() >= 20, "{}", rules.len());
        for rule in &rules {
            assert!(!rule.source.trim().is_empty(), "{}", rule.id);
            assert!(!rule.fix.trim().is_empty(), "{}", rule.id);
            assert!(!rule.cause.trim().is_empty(), "{}", rule.id);
        }
    }

    #[test]
    fn a_wrong_table_says_what_is_wrong() {
        let twice = "rules:\n- {id: a, title: t, severity: info, when: [[{fact: x, equals: y}]], cause: c, fix: f, source: s}\n- {id: a, title: t, severity: info, when: [[{fact: x, equals: y}]], cause: c, fix: f, source: s}\n";
        assert!(parse(twice).unwrap_err().contains("defined twice"));
        let both = "rules:\n- {id: a, title: t, severity: info, when: [[{fact: x, equals: y, at_least: 2}]], cause: c, fix: f, source: s}\n";
        assert!(parse(both).unwrap_err().contains("exactly one"));
        let regex = "rules:\n- {id: a, title: t, severity: info, when: [[{fact: x, matches: '('}]], cause: c, fix: f, source: s}\n";
        assert!(parse(regex).unwrap_err().contains("rule `a`"));
    }

    #[test]
    fn a_rule_quotes_the_lines_that_matched() {
        let rules = parse("rules:\n- {id: a, title: t, severity: critical, when: [[{fact: docker.log, matches: 'NoPrimary'}], [{fact: docker.restart_count, at_least: 3}]], quote: [docker.health_output], cause: c, fix: 'fix {service} on {docker.state}', source: s}\n").unwrap();
        let mut facts = Facts::default();
        facts.add(Fact::new(
            "rc",
            "docker.log",
            "booting\nReplicaSetNoPrimary here\nbye",
        ));
        facts.add(Fact::new("rc", "docker.state", "restarting"));
        let evidence = rules[0].matches(&facts, "rc").unwrap();
        assert_eq!(evidence[0].text, "ReplicaSetNoPrimary here");
        assert!(rules[0].matches(&facts, "other").is_none());
        let mut looping = Facts::default();
        looping.add(Fact::new("rc", "docker.restart_count", "4"));
        assert_eq!(rules[0].matches(&looping, "rc").unwrap()[0].text, "4");
        assert_eq!(
            Rule::fill(&rules[0].fix, &facts, "rc", "p"),
            "fix rc on restarting"
        );
    }
}
