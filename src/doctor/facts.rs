//! What doctor saw, normalized: one fact is a service, a key (`docker.state`, `mongo.role`,
//! `stack.env.ROOT_URL`...) and a text value. Rules only ever read facts, so an observation
//! can change how it looks without touching a rule, and a rule never needs the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One observed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// The service it is about.
    pub service: String,
    /// What was observed, e.g. `docker.state`.
    pub key: String,
    /// What it was (secrets masked before it is stored).
    pub value: String,
    /// Where it was seen from, when not from the host (`from rocketchat's network`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Fact {
    #[must_use]
    pub fn new(service: &str, key: &str, value: impl Into<String>) -> Self {
        Self {
            service: service.to_owned(),
            key: key.to_owned(),
            value: crate::redact::text(&value.into()),
            from: None,
        }
    }
}

/// Every fact, by service then key (a key holds one value per service).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    by_service: BTreeMap<String, BTreeMap<String, Fact>>,
}

impl Facts {
    /// Adds a fact; a later value of the same key replaces an earlier one.
    pub fn add(&mut self, fact: Fact) {
        self.by_service
            .entry(fact.service.clone())
            .or_default()
            .insert(fact.key.clone(), fact);
    }

    /// One service's fact.
    #[must_use]
    pub fn get(&self, service: &str, key: &str) -> Option<&Fact> {
        self.by_service.get(service).and_then(|f| f.get(key))
    }

    /// One service's value, or "" when it was not observed.
    #[must_use]
    pub fn value(&self, service: &str, key: &str) -> &str {
        self.get(service, key).map_or("", |f| f.value.as_str())
    }

    /// The services facts were observed about.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.by_service.keys().map(String::as_str)
    }

    /// One service's facts.
    pub fn of(&self, service: &str) -> impl Iterator<Item = &Fact> {
        self.by_service
            .get(service)
            .into_iter()
            .flatten()
            .map(|(_, f)| f)
    }

    /// How many facts there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_service.values().map(BTreeMap::len).sum()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_masked_and_replaced_by_key() {
        let mut facts = Facts::default();
        facts.add(Fact::new(
            "rc",
            "stack.env.MONGO_URL",
            "mongodb://u:hunter2@mongo:27017/rc",
        ));
        facts.add(Fact::new("rc", "docker.state", "restarting"));
        facts.add(Fact::new("rc", "docker.state", "running"));
        assert!(!facts.value("rc", "stack.env.MONGO_URL").contains("hunter2"));
        assert_eq!(facts.value("rc", "docker.state"), "running");
        assert_eq!(facts.value("rc", "nothing"), "");
        assert_eq!(facts.len(), 2);
    }
}
