//! `check mongo`: the "diver" for MongoDB — healthy when the member is what its clients need
//! (by default: the PRIMARY of its replica set), not merely when it answers `ping`. Given a
//! seed list (`mongodb://m1,m2,m3/?replicaSet=rs0`), healthy when one of them is (every member
//! asked at once, each directly: an election in progress shows as each member's state).

use std::time::{Duration, Instant};

use mongodb::bson::doc;

use super::client::{Member, Role};
use crate::check::outcome::Outcome;
use crate::output::human_duration;
use crate::target::MongoTarget;

/// What the member must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Want {
    /// The replica set's PRIMARY.
    Primary,
    /// A SECONDARY.
    Secondary,
    /// Any member of the (initiated) replica set.
    Member,
    /// Answers `ping`, whatever its role.
    Ping,
}

/// One attempt against one member, or against each member of a seed list.
pub struct MongoCheck {
    /// The members, connected on the first attempt (a target) or given (`check mongo`).
    members: tokio::sync::OnceCell<Vec<Member>>,
    target: Option<MongoTarget>,
    /// `host:port[,host:port...]`, for messages.
    shown: String,
    set: Option<String>,
    want: Want,
}

impl std::fmt::Debug for MongoCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The members hold clients (and maybe credentials): show only what is safe.
        f.debug_struct("MongoCheck")
            .field("address", &self.shown)
            .field("set", &self.set)
            .field("want", &self.want)
            .finish_non_exhaustive()
    }
}

fn default_want(set: Option<&String>, want: Option<Want>) -> Want {
    want.unwrap_or(if set.is_some() {
        Want::Primary
    } else {
        Want::Ping
    })
}

impl MongoCheck {
    /// Default `want`: `primary` when a set name is given, else `ping`.
    #[must_use]
    pub fn new(member: Member, set: Option<String>, want: Option<Want>) -> Self {
        let want = default_want(set.as_ref(), want);
        let shown = member.address.clone();
        Self {
            members: tokio::sync::OnceCell::new_with(Some(vec![member])),
            target: None,
            shown,
            set,
            want,
        }
    }

    /// A check of a `mongodb://` target: its members are connected on the first attempt,
    /// within that attempt's budget.
    #[must_use]
    pub fn lazy(target: MongoTarget, set: Option<String>, want: Option<Want>) -> Self {
        let want = default_want(set.as_ref(), want);
        let shown = target
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        Self {
            members: tokio::sync::OnceCell::new(),
            target: Some(target),
            shown,
            set,
            want,
        }
    }

    #[must_use]
    pub fn target(&self) -> String {
        self.shown.clone()
    }

    /// One attempt; `budget` bounds the driver's own timeouts on the first one.
    pub async fn run(&self, budget: Duration) -> Outcome {
        let members = self
            .members
            .get_or_try_init(|| async {
                let Some(target) = &self.target else {
                    return Ok(Vec::new());
                };
                let mut members = Vec::new();
                for host in &target.hosts {
                    members.push(Member::connect(&target.member_uri(host), budget).await?);
                }
                Ok::<_, crate::error::Error>(members)
            })
            .await;
        let members = match members {
            Ok(members) => members,
            Err(e) => return Outcome::Unhealthy(e.one_line()),
        };
        match &members[..] {
            [] => Outcome::Unhealthy("no member to ask".to_owned()),
            [member] => self.run_one(member).await,
            several => {
                // The first member that fits ends the attempt: a member that hangs (its node
                // lost) must not hold the answer until the budget runs out.
                use futures_util::stream::{FuturesUnordered, StreamExt};
                let mut pending: FuturesUnordered<_> = several
                    .iter()
                    .enumerate()
                    .map(|(i, m)| async move { (i, self.run_one(m).await) })
                    .collect();
                let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
                while let Some((i, outcome)) = pending.next().await {
                    if let Outcome::Healthy(text) = &outcome {
                        return Outcome::Healthy(format!("{}: {text}", several[i].address));
                    }
                    outcomes.push((i, outcome));
                }
                outcomes.sort_by_key(|(i, _)| *i);
                let states: Vec<String> = outcomes
                    .iter()
                    .map(|(i, o)| format!("{}: {}", several[*i].address, o.text()))
                    .collect();
                Outcome::Unhealthy(format!(
                    "none of {} members is {}: {}",
                    several.len(),
                    want_name(self.want),
                    states.join("; ")
                ))
            }
        }
    }

    async fn run_one(&self, member: &Member) -> Outcome {
        let started = Instant::now();
        if let Err(reason) = member.reachable().await {
            return Outcome::Unhealthy(reason);
        }
        if self.want == Want::Ping {
            return match member.command(doc! {"ping": 1}).await {
                Ok(_) => {
                    Outcome::Healthy(format!("ping ok in {}", human_duration(started.elapsed())))
                }
                Err(e) => Outcome::Unhealthy(member.reason(&e)),
            };
        }
        let role = match member.hello().await {
            Ok((role, _)) => role,
            Err(reason) => return Outcome::Unhealthy(reason),
        };
        let (set, state) = match &role {
            Role::Standalone => {
                let wanted = self.set.as_deref().unwrap_or("rs0");
                return Outcome::Unhealthy(format!(
                    "a standalone server, not a replica-set member (start mongod with `--replSet {wanted}`)"
                ));
            }
            Role::Uninitialized => {
                return Outcome::Unhealthy(
                    "replica set not initiated (run `stackctl init replica-set`)".to_owned(),
                );
            }
            Role::Primary { set } => (set, "PRIMARY"),
            Role::Secondary { set } => (set, "SECONDARY"),
            Role::OtherMember { set } => (set, "neither PRIMARY nor SECONDARY"),
        };
        if let Some(wanted) = &self.set {
            if wanted != set {
                return Outcome::Unhealthy(format!(
                    "member of replica set `{set}`, expected `{wanted}`"
                ));
            }
        }
        let fits = match self.want {
            Want::Primary => matches!(role, Role::Primary { .. }),
            Want::Secondary => matches!(role, Role::Secondary { .. }),
            Want::Member | Want::Ping => true,
        };
        if !fits {
            let why = if state == "SECONDARY" {
                " (an election may be in progress)"
            } else {
                ""
            };
            let members = members_states(member)
                .await
                .map(|m| format!("; members: {}", m.states.join(", ")))
                .unwrap_or_default();
            return Outcome::Unhealthy(format!(
                "{state} of `{set}`, not {}{why}{members}",
                want_name(self.want)
            ));
        }
        let members = members_states(member)
            .await
            .map(|m| {
                format!(
                    ", {}/{} members healthy ({})",
                    m.healthy,
                    m.states.len(),
                    m.states.join(", ")
                )
            })
            .unwrap_or_default();
        Outcome::Healthy(format!(
            "{state} of `{set}`{members} in {}",
            human_duration(started.elapsed())
        ))
    }
}

/// The members as `replSetGetStatus` shows them.
struct MembersSeen {
    healthy: usize,
    /// `name STATE` of each member, e.g. `m2:27017 SECONDARY`, `m3:27017 (not reachable/healthy)`.
    states: Vec<String>,
}

/// Each member's state per `replSetGetStatus` (skipped when the user may not run it).
async fn members_states(member: &Member) -> Option<MembersSeen> {
    let status = member.command(doc! {"replSetGetStatus": 1}).await.ok()?;
    Some(members_seen(&status))
}

fn members_seen(status: &mongodb::bson::Document) -> MembersSeen {
    let members: Vec<&mongodb::bson::Document> = status
        .get_array("members")
        .map(|a| a.iter().filter_map(|m| m.as_document()).collect())
        .unwrap_or_default();
    let healthy = members
        .iter()
        .filter(|m| {
            m.get_f64("health")
                .map(|h| h > 0.0)
                .or_else(|_| m.get_i32("health").map(|h| h > 0))
                .unwrap_or(false)
        })
        .count();
    let shown = members
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m.get_str("name").unwrap_or("?"),
                m.get_str("stateStr").unwrap_or("?")
            )
        })
        .collect();
    tracing::debug!(healthy, total = members.len(), "replica-set members seen");
    MembersSeen {
        healthy,
        states: shown,
    }
}

fn want_name(want: Want) -> &'static str {
    match want {
        Want::Primary => "PRIMARY",
        Want::Secondary => "SECONDARY",
        Want::Member => "a member",
        Want::Ping => "reachable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_reported_with_their_states() {
        let status = doc! {"members": [
            {"name": "m1:27017", "health": 1.0, "stateStr": "PRIMARY"},
            {"name": "m2:27017", "health": 1.0, "stateStr": "SECONDARY"},
            {"name": "m3:27017", "health": 0.0, "stateStr": "(not reachable/healthy)"},
        ]};
        let seen = members_seen(&status);
        assert_eq!(seen.healthy, 2);
        assert_eq!(
            seen.states,
            [
                "m1:27017 PRIMARY",
                "m2:27017 SECONDARY",
                "m3:27017 (not reachable/healthy)"
            ]
        );
    }
}
