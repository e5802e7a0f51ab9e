//! `check mongo`: the "diver" for MongoDB — healthy when the member is what its clients need
//! (by default: the PRIMARY of its replica set), not merely when it answers `ping`.

use std::time::Instant;

use mongodb::bson::doc;

use super::client::{Member, Role};
use crate::check::outcome::Outcome;
use crate::output::human_duration;

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

/// One attempt against one member.
pub struct MongoCheck {
    member: Member,
    set: Option<String>,
    want: Want,
}

impl std::fmt::Debug for MongoCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The member holds a client (and maybe credentials): show only what is safe.
        f.debug_struct("MongoCheck")
            .field("address", &self.member.address)
            .field("set", &self.set)
            .field("want", &self.want)
            .finish_non_exhaustive()
    }
}

impl MongoCheck {
    /// Default `want`: `primary` when a set name is given, else `ping`.
    #[must_use]
    pub fn new(member: Member, set: Option<String>, want: Option<Want>) -> Self {
        let want = want.unwrap_or(if set.is_some() {
            Want::Primary
        } else {
            Want::Ping
        });
        Self { member, set, want }
    }

    #[must_use]
    pub fn target(&self) -> String {
        self.member.address.clone()
    }

    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        if let Err(reason) = self.member.reachable().await {
            return Outcome::Unhealthy(reason);
        }
        if self.want == Want::Ping {
            return match self.member.command(doc! {"ping": 1}).await {
                Ok(_) => {
                    Outcome::Healthy(format!("ping ok in {}", human_duration(started.elapsed())))
                }
                Err(e) => Outcome::Unhealthy(self.member.reason(&e)),
            };
        }
        let role = match self.member.hello().await {
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
            return Outcome::Unhealthy(format!(
                "{state} of `{set}`, not {}{why}",
                want_name(self.want)
            ));
        }
        let members = self
            .members_healthy()
            .await
            .map(|(up, all)| format!(", {up}/{all} members healthy"))
            .unwrap_or_default();
        Outcome::Healthy(format!(
            "{state} of `{set}`{members} in {}",
            human_duration(started.elapsed())
        ))
    }

    /// Healthy members per `replSetGetStatus` (skipped when the user may not run it).
    async fn members_healthy(&self) -> Option<(usize, usize)> {
        let status = self
            .member
            .command(doc! {"replSetGetStatus": 1})
            .await
            .ok()?;
        let members = status.get_array("members").ok()?;
        let healthy = members
            .iter()
            .filter_map(|m| m.as_document())
            .filter(|m| {
                m.get_f64("health")
                    .map(|h| h > 0.0)
                    .or_else(|_| m.get_i32("health").map(|h| h > 0))
                    .unwrap_or(false)
            })
            .count();
        Some((healthy, members.len()))
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
