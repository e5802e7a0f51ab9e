//! `init replica-set`: the "welder" for MongoDB. Initiates the set if it has no config,
//! verifies it if it has one (repairing member hosts only when asked), and is done only when a
//! PRIMARY is elected — not when `replSetInitiate` returns, which is too early by about 2 s.
//! Safe when several run at once: `AlreadyInitialized` (23) leads to verification, not failure.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mongodb::bson::{Bson, Document, doc};

use super::client::{Member, Role, command_error};
use crate::error::Error;
use crate::job::{Progress, Step};
use crate::output::human_duration;

/// What the job was asked for.
#[derive(Debug, Clone)]
pub struct ReplicaSetSpec {
    pub name: String,
    /// `host:port` of every member, in order (`_id` 0, 1, ...).
    pub members: Vec<String>,
    /// Rewrite member hosts that differ (replSetReconfig) instead of failing.
    pub reconfigure: bool,
}

/// What the job did, for its report.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub initiated: bool,
    pub reconfigured: bool,
    /// When the config became ours (initiate or reconfig), to time the election.
    pub since: Option<Instant>,
}

impl Report {
    /// Lines for stdout.
    #[must_use]
    pub fn lines(&self, spec: &ReplicaSetSpec, primary: &str, started: Instant) -> Vec<String> {
        let members = spec.members.join(", ");
        let mut lines = Vec::new();
        if self.initiated {
            lines.push(format!(
                "replica set `{}`: initiated with {members}",
                spec.name
            ));
        } else if self.reconfigured {
            lines.push(format!(
                "replica set `{}`: member hosts rewritten to {members}",
                spec.name
            ));
        } else {
            lines.push(format!(
                "replica set `{}`: already initiated with {members}",
                spec.name
            ));
        }
        let since = self.since.unwrap_or(started);
        lines.push(format!(
            "replica set `{}`: PRIMARY is {primary} ({} after {})",
            spec.name,
            if self.since.is_some() {
                "elected"
            } else {
                "found"
            },
            human_duration(since.elapsed())
        ));
        lines
    }
}

/// One attempt: look at the member and move it one step towards "initiated, verified, PRIMARY".
pub async fn attempt(
    member: &Member,
    spec: &ReplicaSetSpec,
    report: &Arc<Mutex<Report>>,
    progress: &Progress,
) -> Step<String> {
    if let Err(reason) = member.reachable().await {
        return Step::Retry(reason);
    }
    let (role, hello) = match member.hello().await {
        Ok(found) => found,
        Err(reason) => return Step::Retry(reason),
    };
    let config = match member.command(doc! {"replSetGetConfig": 1}).await {
        Ok(reply) => reply.get_document("config").cloned().ok(),
        Err(e) => match command_error(&e) {
            // NotYetInitialized: no config yet.
            Some((94, ..)) => None,
            Some((76, ..)) => return Step::Fail(standalone(spec)),
            Some(_) => {
                return Step::Fail(Error::failed(format!(
                    "`replSetGetConfig` failed: {}",
                    member.reason(&e)
                )));
            }
            None => return Step::Retry(member.reason(&e)),
        },
    };
    let Some(config) = config else {
        return initiate(member, spec, report, progress).await;
    };
    if let Some(step) = verify(member, spec, &config, &role, report, progress).await {
        return step;
    }
    match role {
        Role::Primary { .. } => {
            let me = hello.get_str("me").unwrap_or(&member.address).to_owned();
            Step::Done(me)
        }
        // A set of several members may elect another one: a PRIMARY this SECONDARY follows
        // (hello's `primary`) is the end of the job too.
        Role::Secondary { .. } => match hello.get_str("primary") {
            Ok(primary) if !primary.is_empty() => {
                tracing::debug!(primary, "another member is PRIMARY");
                Step::Done(primary.to_owned())
            }
            _ => Step::Retry("SECONDARY, waiting for the election".to_owned()),
        },
        _ => Step::Retry("member is starting up, waiting for the election".to_owned()),
    }
}

fn standalone(spec: &ReplicaSetSpec) -> Error {
    Error::failed(
        "the server is not running as a replica-set member (`NoReplicationEnabled`, code 76)",
    )
    .with_hint(format!(
        "start mongod with `--replSet {}` (and `--bind_ip_all` in a container)",
        spec.name
    ))
}

async fn initiate(
    member: &Member,
    spec: &ReplicaSetSpec,
    report: &Arc<Mutex<Report>>,
    progress: &Progress,
) -> Step<String> {
    let members: Vec<Bson> = spec
        .members
        .iter()
        .enumerate()
        .map(|(i, host)| {
            Bson::Document(doc! {"_id": i32::try_from(i).unwrap_or(i32::MAX), "host": host})
        })
        .collect();
    let command = doc! {"replSetInitiate": {"_id": &spec.name, "members": members}};
    match member.command(command).await {
        Ok(_) => {
            let mut report = report.lock().unwrap_or_else(PoisonError::into_inner);
            report.initiated = true;
            report.since = Some(Instant::now());
            progress.note(format!("initiated `{}`; waiting for a PRIMARY", spec.name));
            Step::Retry("initiated, waiting for the election".to_owned())
        }
        Err(e) => match command_error(&e) {
            // Someone else initiated first: verify their config on the next attempt.
            Some((23, ..)) => {
                Step::Retry("initiated concurrently by another client; verifying".to_owned())
            }
            Some((76, ..)) => Step::Fail(standalone(spec)),
            Some((93, _, message)) => Step::Fail(invalid_config(spec, &message)),
            Some(_) => Step::Fail(Error::failed(format!(
                "`replSetInitiate` failed: {}",
                member.reason(&e)
            ))),
            None => Step::Retry(member.reason(&e)),
        },
    }
}

fn invalid_config(spec: &ReplicaSetSpec, message: &str) -> Error {
    let error = Error::failed(format!("the server rejected the configuration: {message}"));
    if message.contains("set name that differs") {
        error.with_hint(format!(
            "`--name {}` must equal mongod's `--replSet`",
            spec.name
        ))
    } else if message.contains("maps to this node") {
        error.with_hint("one `--member` must be this server as it knows itself: a host name it answers to (e.g. its compose service name) and its port")
    } else if message.contains("localhost") {
        error.with_hint("use host names the other members and clients can resolve, not `localhost`, for every member")
    } else {
        error
    }
}

fn config_hosts(config: &Document) -> Vec<(i32, String)> {
    config
        .get_array("members")
        .map(|members| {
            members
                .iter()
                .filter_map(Bson::as_document)
                .map(|m| {
                    let id = m
                        .get_i32("_id")
                        .or_else(|_| m.get_i64("_id").map(|v| i32::try_from(v).unwrap_or(-1)))
                        .unwrap_or(-1);
                    (id, m.get_str("host").unwrap_or_default().to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Normalised `host:port` (port 27017 when absent, host lowercase).
fn normal(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host
    } else {
        format!("{host}:27017")
    }
}

/// `None` when the existing config is the wanted one; otherwise the step to take.
async fn verify(
    member: &Member,
    spec: &ReplicaSetSpec,
    config: &Document,
    role: &Role,
    report: &Arc<Mutex<Report>>,
    progress: &Progress,
) -> Option<Step<String>> {
    let set = config.get_str("_id").unwrap_or_default();
    if set != spec.name {
        return Some(Step::Fail(
            Error::failed(format!(
                "this member belongs to replica set `{set}`, not `{}`",
                spec.name
            ))
            .with_hint(format!(
                "use `--name {set}`, or start the member from an empty data directory"
            )),
        ));
    }
    let found = config_hosts(config);
    let mut have: Vec<String> = found.iter().map(|(_, h)| normal(h)).collect();
    let mut want: Vec<String> = spec.members.iter().map(|h| normal(h)).collect();
    have.sort();
    want.sort();
    if have == want {
        return None;
    }
    let listed = found
        .iter()
        .map(|(_, h)| h.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !spec.reconfigure {
        return Some(Step::Fail(
            Error::failed(format!(
                "replica set `{}` has members {listed}, expected {}",
                spec.name,
                spec.members.join(", ")
            ))
            .with_hint(
                "rerun with `--reconfigure` to rewrite the member hosts (`replSetReconfig`)",
            ),
        ));
    }
    if !matches!(role, Role::Primary { .. }) {
        return Some(Step::Retry(
            "waiting for a PRIMARY before reconfiguring".to_owned(),
        ));
    }
    Some(reconfigure(member, spec, config, &found, report, progress).await)
}

async fn reconfigure(
    member: &Member,
    spec: &ReplicaSetSpec,
    config: &Document,
    found: &[(i32, String)],
    report: &Arc<Mutex<Report>>,
    progress: &Progress,
) -> Step<String> {
    // A host present in both configs keeps its `_id`; new hosts take the ids of removed ones,
    // then fresh ids (replSetReconfig rules).
    let wanted: Vec<String> = spec.members.iter().map(|h| normal(h)).collect();
    let mut free: Vec<i32> = found
        .iter()
        .filter(|(_, h)| !wanted.contains(&normal(h)))
        .map(|(id, _)| *id)
        .collect();
    let mut next = found.iter().map(|(id, _)| *id).max().unwrap_or(-1) + 1;
    let old_members: Vec<Document> = config
        .get_array("members")
        .map(|m| m.iter().filter_map(Bson::as_document).cloned().collect())
        .unwrap_or_default();
    let mut members = Vec::new();
    for host in &spec.members {
        let existing = old_members
            .iter()
            .find(|m| normal(m.get_str("host").unwrap_or_default()) == normal(host));
        let doc = if let Some(m) = existing {
            m.clone()
        } else {
            let id = if free.is_empty() {
                next += 1;
                next - 1
            } else {
                free.remove(0)
            };
            let mut base = old_members
                .iter()
                .find(|m| m.get_i32("_id").ok() == Some(id))
                .cloned()
                .unwrap_or_default();
            base.insert("_id", id);
            base.insert("host", host.clone());
            base
        };
        members.push(Bson::Document(doc));
    }
    let mut new_config = config.clone();
    let version = config
        .get_i32("version")
        .map(i64::from)
        .or_else(|_| config.get_i64("version"))
        .unwrap_or(1);
    new_config.insert("version", i32::try_from(version + 1).unwrap_or(i32::MAX));
    new_config.insert("members", members);
    new_config.remove("term");
    match member.command(doc! {"replSetReconfig": new_config}).await {
        Ok(_) => {
            let mut report = report.lock().unwrap_or_else(PoisonError::into_inner);
            report.reconfigured = true;
            report.since = Some(Instant::now());
            progress.note(format!("rewrote the member hosts of `{}`", spec.name));
            Step::Retry("reconfigured, verifying".to_owned())
        }
        Err(e) => match command_error(&e) {
            // NewReplicaSetConfigurationIncompatible: someone reconfigured first; re-read.
            Some((103, ..)) => Step::Retry("the config changed meanwhile; re-reading".to_owned()),
            Some(_) => Step::Fail(
                Error::failed(format!("`replSetReconfig` failed: {}", member.reason(&e)))
                    .with_hint("repair it by hand with `rs.reconfig()`, or start from an empty data directory"),
            ),
            None => Step::Retry(member.reason(&e)),
        },
    }
}

/// The delays for this job: elections take about 2 s, so poll fast but not furiously.
#[must_use]
pub fn policy() -> crate::retry::RetryPolicy {
    crate::retry::RetryPolicy::Exponential {
        min: Duration::from_millis(50),
        max: Duration::from_millis(500),
        factor: 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_with_default_port() {
        assert_eq!(normal("Mongo"), "mongo:27017");
        assert_eq!(normal("mongo:27018"), "mongo:27018");
        let config = doc! {"_id": "rs0", "members": [{"_id": 0, "host": "localhost:27017"}]};
        assert_eq!(
            config_hosts(&config),
            vec![(0, "localhost:27017".to_owned())]
        );
    }
}
