//! How a running stack drifts from its file, decided without a daemon: a completed job is valid
//! only for the dependencies it ran against, and a container must be on the networks it declares.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::SystemTime;

use bollard::models::{ContainerInspectResponse, EndpointSettings};

/// A Docker timestamp (`2026-12-06T11:02:55.123456789Z`); `None` for Docker's zero time
/// (`0001-01-01T00:00:00Z`: never started, never finished) and anything unparsable.
#[must_use]
pub fn docker_time(text: Option<&str>) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text?).ok()
}

/// When a dependency's current container was created and last started.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub service: String,
    /// A one-shot service: starting again means it ran again.
    pub job: bool,
    pub created: Option<SystemTime>,
    pub started: Option<SystemTime>,
}

impl Dependency {
    #[must_use]
    pub fn from_inspect(service: &str, job: bool, inspect: &ContainerInspectResponse) -> Self {
        Self {
            service: service.to_owned(),
            job,
            created: docker_time(inspect.created.as_deref()),
            started: docker_time(inspect.state.as_ref().and_then(|s| s.started_at.as_deref())),
        }
    }
}

/// Why a job that completed must run again, or `None` while it is still valid: its effect
/// lived in dependencies, and one started (or was recreated, or ran again) after the job
/// `finished`. Without a finish time there is nothing to compare, and the job stands.
#[must_use]
pub fn rerun_reason(finished: Option<SystemTime>, dependencies: &[Dependency]) -> Option<String> {
    let finished = finished?;
    dependencies.iter().find_map(|dep| {
        let after = |t: Option<SystemTime>| t.is_some_and(|t| t > finished);
        if after(dep.created) {
            Some(format!("`{}` was recreated after it finished", dep.service))
        } else if after(dep.started) {
            Some(if dep.job {
                format!("`{}` ran again after it finished", dep.service)
            } else {
                format!("`{}` restarted after it finished", dep.service)
            })
        } else {
            None
        }
    })
}

/// A difference between the networks a container declares and those it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Not on the network (`docker network disconnect`): connect it again.
    Missing { network: String },
    /// On the network without some of its aliases: disconnect and connect it again.
    Aliases {
        network: String,
        missing: Vec<String>,
    },
    /// On a network of that name that no longer exists (it was removed and created again):
    /// only a new container can join the new one.
    Stale { network: String },
}

impl Drift {
    #[must_use]
    pub fn network(&self) -> &str {
        match self {
            Self::Missing { network } | Self::Aliases { network, .. } | Self::Stale { network } => {
                network
            }
        }
    }

    /// What `up` says about it (`reconnected`/`recreating` detail).
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Missing { network } => format!("it was off network `{network}`"),
            Self::Aliases { network, missing } => format!(
                "it was on network `{network}` without its aliases {}",
                missing
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Stale { network } => {
                format!("its network `{network}` was removed and created again")
            }
        }
    }
}

/// The drift of a container from its `declared` networks (Docker name → every alias it must
/// answer to there). `attached` is its inspected `NetworkSettings.Networks`; `ids` the current
/// id of each network (absent: unknown, so not compared). Networks it is on but does not
/// declare are left alone: someone attached it on purpose.
#[must_use]
pub fn network_drift<A: BuildHasher, I: BuildHasher>(
    declared: &[(String, Vec<String>)],
    attached: &HashMap<String, EndpointSettings, A>,
    ids: &HashMap<String, String, I>,
) -> Vec<Drift> {
    declared
        .iter()
        .filter_map(|(network, aliases)| {
            let network = network.clone();
            let Some(endpoint) = attached.get(&network) else {
                return Some(Drift::Missing { network });
            };
            let current = ids.get(&network);
            let joined = endpoint.network_id.as_ref().filter(|id| !id.is_empty());
            if let (Some(current), Some(joined)) = (current, joined)
                && current != joined
            {
                return Some(Drift::Stale { network });
            }
            // API 1.44+ lists the names it answers to in `DNSNames`, older ones in `Aliases`.
            let known: Vec<&String> = endpoint
                .aliases
                .iter()
                .chain(endpoint.dns_names.iter())
                .flatten()
                .collect();
            let missing: Vec<String> = aliases
                .iter()
                .filter(|a| !known.contains(a))
                .cloned()
                .collect();
            (!missing.is_empty()).then_some(Drift::Aliases { network, missing })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn dep(service: &str, job: bool, created: u64, started: u64) -> Dependency {
        Dependency {
            service: service.to_owned(),
            job,
            created: Some(at(created)),
            started: Some(at(started)),
        }
    }

    #[test]
    fn docker_times() {
        assert!(docker_time(Some("0001-01-01T00:00:00Z")).is_none());
        assert!(docker_time(None).is_none());
        assert!(docker_time(Some("soon")).is_none());
        let a = docker_time(Some("2026-12-06T11:02:55.123456789Z")).unwrap();
        let b = docker_time(Some("2026-12-06T11:02:55.123456790Z")).unwrap();
        assert!(b > a, "nanoseconds count");
    }

    #[test]
    fn a_job_stands_while_its_dependencies_ran_before_it_finished() {
        // mongo created at 0, started at 1; the job finished at 5.
        assert_eq!(
            rerun_reason(Some(at(5)), &[dep("mongo", false, 0, 1)]),
            None
        );
        // Nothing to compare with: it stands.
        assert_eq!(rerun_reason(None, &[dep("mongo", false, 0, 9)]), None);
        assert_eq!(rerun_reason(Some(at(5)), &[]), None);
        // A dependency without times (never started) does not invalidate it.
        let unknown = Dependency {
            service: "mongo".to_owned(),
            job: false,
            created: None,
            started: None,
        };
        assert_eq!(rerun_reason(Some(at(5)), &[unknown]), None);
    }

    #[test]
    fn a_dependency_started_after_the_job_finished_makes_it_run_again() {
        assert_eq!(
            rerun_reason(Some(at(5)), &[dep("mongo", false, 0, 6)]).as_deref(),
            Some("`mongo` restarted after it finished")
        );
        assert_eq!(
            rerun_reason(Some(at(5)), &[dep("mongo", false, 7, 8)]).as_deref(),
            Some("`mongo` was recreated after it finished")
        );
        assert_eq!(
            rerun_reason(Some(at(5)), &[dep("rc-user", true, 0, 9)]).as_deref(),
            Some("`rc-user` ran again after it finished")
        );
        // The first dependency that moved is named.
        assert_eq!(
            rerun_reason(
                Some(at(5)),
                &[
                    dep("a", false, 0, 1),
                    dep("b", false, 0, 6),
                    dep("c", false, 7, 7)
                ]
            )
            .as_deref(),
            Some("`b` restarted after it finished")
        );
        // The same instant is not after.
        assert_eq!(
            rerun_reason(Some(at(5)), &[dep("mongo", false, 0, 5)]),
            None
        );
    }

    fn endpoint(id: &str, aliases: &[&str], dns: &[&str]) -> EndpointSettings {
        EndpointSettings {
            network_id: Some(id.to_owned()),
            aliases: Some(aliases.iter().map(|a| (*a).to_owned()).collect()),
            dns_names: (!dns.is_empty()).then(|| dns.iter().map(|a| (*a).to_owned()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn network_drift_is_found_and_named() {
        let declared = vec![
            ("p_default".to_owned(), vec!["rocketchat".to_owned()]),
            (
                "p_back".to_owned(),
                vec!["chat".to_owned(), "rocketchat".to_owned()],
            ),
        ];
        let ids = HashMap::from([
            ("p_default".to_owned(), "n1".to_owned()),
            ("p_back".to_owned(), "n2".to_owned()),
        ]);
        // On both, with every alias (1.41 lists them in `Aliases` with the short id; 1.44+ in
        // `DNSNames`): nothing to do. Extra networks are not drift.
        let fine = HashMap::from([
            (
                "p_default".to_owned(),
                endpoint("n1", &["rocketchat", "0123abcd"], &[]),
            ),
            (
                "p_back".to_owned(),
                endpoint("n2", &[], &["chat", "rocketchat"]),
            ),
            ("monitoring".to_owned(), endpoint("n9", &[], &[])),
        ]);
        assert!(network_drift(&declared, &fine, &ids).is_empty());

        // Disconnected from one, an alias missing on the other.
        let drifted = HashMap::from([("p_back".to_owned(), endpoint("n2", &["rocketchat"], &[]))]);
        let drift = network_drift(&declared, &drifted, &ids);
        assert_eq!(
            drift,
            vec![
                Drift::Missing {
                    network: "p_default".to_owned()
                },
                Drift::Aliases {
                    network: "p_back".to_owned(),
                    missing: vec!["chat".to_owned()]
                },
            ]
        );
        assert_eq!(drift[0].describe(), "it was off network `p_default`");
        assert_eq!(
            drift[1].describe(),
            "it was on network `p_back` without its aliases `chat`"
        );

        // The network was removed and created again under the same name.
        let stale = HashMap::from([
            (
                "p_default".to_owned(),
                endpoint("old", &["rocketchat"], &[]),
            ),
            (
                "p_back".to_owned(),
                endpoint("n2", &["chat", "rocketchat"], &[]),
            ),
        ]);
        let drift = network_drift(&declared, &stale, &ids);
        assert_eq!(
            drift,
            vec![Drift::Stale {
                network: "p_default".to_owned()
            }]
        );
        assert_eq!(drift[0].network(), "p_default");
        // An unknown current id is not compared.
        assert!(network_drift(&declared[..1], &stale, &HashMap::new()).is_empty());
    }
}
