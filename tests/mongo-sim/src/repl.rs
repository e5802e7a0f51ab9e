//! The simulated member's replication state: initiate, reconfig, elections, status.
//!
//! The other members are real: crate::net heartbeats them and runs elections, crate::members
//! holds the protocol rules built on what the heartbeats tell. Sources are cited where each
//! rule is implemented.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, Timestamp, doc};

use crate::config::{self, HostPort, RsConfig, bson_to_string, version_and_term, vt_less};

/// mongo: src/mongo/db/repl/member_state.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Startup = 0,
    Primary = 1,
    Secondary = 2,
    Startup2 = 5,
    Removed = 10,
}

impl MemberState {
    pub fn code(self) -> i32 {
        self as i32
    }
    /// mongo: member_state.h MemberState::toString.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Startup => "STARTUP",
            MemberState::Primary => "PRIMARY",
            MemberState::Secondary => "SECONDARY",
            MemberState::Startup2 => "STARTUP2",
            MemberState::Removed => "REMOVED",
        }
    }
}

/// A command failure: code, codeName, errmsg (mongo: src/mongo/base/error_codes.yml).
#[derive(Debug, Clone, PartialEq)]
pub struct CmdError {
    pub code: i32,
    pub code_name: &'static str,
    pub errmsg: String,
}

impl CmdError {
    pub fn new(code: i32, code_name: &'static str, errmsg: impl Into<String>) -> Self {
        CmdError {
            code,
            code_name,
            errmsg: errmsg.into(),
        }
    }
}

pub fn no_replication_enabled(msg: &str) -> CmdError {
    CmdError::new(76, "NoReplicationEnabled", msg)
}
pub fn invalid_config(msg: impl Into<String>) -> CmdError {
    CmdError::new(93, "InvalidReplicaSetConfig", msg)
}
pub fn incompatible(msg: impl Into<String>) -> CmdError {
    CmdError::new(103, "NewReplicaSetConfigurationIncompatible", msg)
}
pub fn node_not_found(msg: impl Into<String>) -> CmdError {
    CmdError::new(74, "NodeNotFound", msg)
}

/// What a peer "failed with" in quorum checks.
/// mongo: src/mongo/db/repl/check_quorum_for_config_change.cpp ("{host} failed with {status}").
fn peer_failure(h: &HostPort, why: &str) -> String {
    format!("{h} failed with {why}")
}

/// How each proposed member answered the quorum check's heartbeat (crate::net::reach).
pub type Reach = std::collections::HashMap<String, Result<(), String>>;

fn reached(reach: &Reach, h: &HostPort) -> Result<(), String> {
    reach
        .get(&h.to_string())
        .cloned()
        .unwrap_or_else(|| Err(format!("Error connecting to {h} :: caused by :: not asked")))
}

/// A PRIMARY's `electionTime` / `electionDate` in its `replSetGetStatus` entry.
fn election_fields(d: &mut Document, at: Option<Timestamp>) {
    if let Some(ets) = at {
        d.insert("electionTime", ets);
        d.insert(
            "electionDate",
            DateTime::from_millis(ets.time as i64 * 1000),
        );
    }
}

pub struct Repl {
    pub set_name: Option<String>,
    /// Host names that map to this node (lower-case).
    pub names: Vec<String>,
    pub port: u16,
    /// mongo: repl_set_commands.cpp someHostAndPortForMe (default-config member 0).
    pub me_default: String,
    pub election_delay: Duration,
    pub state_file: Option<PathBuf>,
    pub started: Instant,

    pub config: Option<RsConfig>,
    pub self_index: Option<usize>,
    pub state: MemberState,
    pub term: i64,
    pub election_at: Option<Instant>,
    pub stepdown_at: Option<Instant>,
    pub election_id: Option<ObjectId>,
    pub election_ts: Option<Timestamp>,
    pub last_applied: (Timestamp, i64),
    pub last_applied_wall: DateTime,

    /// The other members as heartbeats show them (index = config member index).
    pub peers: Vec<crate::members::Peer>,
    /// mongo: local.replset.election LastVote {term, candidateIndex}.
    pub last_vote: (i64, i64),
    pub election_deadline: Option<Instant>,
    pub takeover_at: Option<Instant>,
    pub commit_point: crate::oplog::OpTime,
    pub electing: bool,
    pub sync_source: Option<usize>,
    /// A member whose heartbeat carried a newer config than ours: ask it for the config.
    pub config_from: Option<String>,
    /// A no-op oplog entry to write (crate::sim::Sim::ticked writes it).
    pub pending_noop: Option<&'static str>,
}

fn now_ts() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Timestamp {
        time: secs as u32,
        increment: 1,
    }
}

/// mongo: src/mongo/bson/oid.cpp OID::fromTerm: 0x7fffffff then the term, big-endian.
pub fn election_id_for_term(term: i64) -> ObjectId {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    b[4..12].copy_from_slice(&term.to_be_bytes());
    ObjectId::from_bytes(b)
}

impl Repl {
    pub fn new(
        set_name: Option<String>,
        names: Vec<String>,
        port: u16,
        me_default: String,
        election_delay: Duration,
        state_file: Option<PathBuf>,
    ) -> Repl {
        Repl {
            set_name,
            names: names.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
            port,
            me_default,
            election_delay,
            state_file,
            started: Instant::now(),
            config: None,
            self_index: None,
            state: MemberState::Startup,
            term: 0,
            election_at: None,
            stepdown_at: None,
            election_id: None,
            election_ts: None,
            last_applied: (
                Timestamp {
                    time: 0,
                    increment: 0,
                },
                -1,
            ),
            last_applied_wall: DateTime::from_millis(0),
            peers: Vec::new(),
            last_vote: (-1, -1),
            election_deadline: None,
            takeover_at: None,
            commit_point: crate::oplog::OpTime::NULL,
            electing: false,
            sync_source: None,
            config_from: None,
            pending_noop: None,
        }
    }

    pub fn is_repl_set(&self) -> bool {
        self.set_name.is_some()
    }

    /// Does `h` map to this node? Its host is one of our names and its port our port.
    pub fn is_self(&self, h: &HostPort) -> bool {
        h.port == self.port && self.names.iter().any(|n| *n == h.host.to_ascii_lowercase())
    }

    pub fn has_valid_config(&self) -> bool {
        self.config.is_some() && self.self_index.is_some() && self.state != MemberState::Removed
    }

    pub fn self_member(&self) -> Option<&config::Member> {
        Some(&self.config.as_ref()?.members[self.self_index?])
    }

    /// Whether this node, hearing from nobody else, could win an election: it must be
    /// electable and its own vote must be a majority of the voting members.
    /// mongo: src/mongo/db/repl/topology_coordinator.cpp (_getMyUnelectableReason) and
    /// repl_set_config.cpp _calculateMajorities (majority = voters / 2 + 1).
    fn can_win_alone(&self) -> bool {
        let (Some(cfg), Some(me)) = (self.config.as_ref(), self.self_member()) else {
            return false;
        };
        me.is_electable() && me.is_voter() && cfg.majority_vote_count() <= 1
    }

    /// Advances time-driven transitions: election after the delay, step-down when this node
    /// alone is no longer a majority (after electionTimeoutMillis, the primary's liveness
    /// timeout; mongo: replication_coordinator_impl.cpp _handleLivenessTimeout / stepdown).
    pub fn tick(&mut self, now: Instant) {
        if !self.has_valid_config() {
            return;
        }
        if self.needs_votes() {
            self.tick_with_votes(now);
            return;
        }
        match self.state {
            MemberState::Secondary => {
                if self.can_win_alone() {
                    let at = *self.election_at.get_or_insert(now + self.election_delay);
                    if now >= at {
                        self.win_election();
                    }
                } else {
                    self.election_at = None;
                }
            }
            MemberState::Primary => {
                if self.can_win_alone() {
                    self.stepdown_at = None;
                } else {
                    let timeout = self
                        .config
                        .as_ref()
                        .map(|c| c.settings.election_timeout_millis.max(0) as u64)
                        .unwrap_or(10_000);
                    let at = *self
                        .stepdown_at
                        .get_or_insert(now + Duration::from_millis(timeout));
                    if now >= at {
                        eprintln!("mongo-sim: stepping down: cannot see a majority");
                        self.state = MemberState::Secondary;
                        self.stepdown_at = None;
                        self.election_at = None;
                        self.election_id = None;
                    }
                }
            }
            _ => {}
        }
    }

    /// Several voters: the primary steps down when it cannot see a majority within the
    /// election timeout (mongo: topology_coordinator.cpp checkMemberTimeouts,
    /// replication_coordinator_impl.cpp _handleLivenessTimeout: "Can't see a majority of the
    /// set, relinquishing primary"); a secondary's election is driven by crate::net.
    fn tick_with_votes(&mut self, now: Instant) {
        if self.state == MemberState::Primary {
            let need = self.config.as_ref().map_or(1, |c| c.majority_vote_count());
            if self.visible_voters(now) < need {
                eprintln!("mongo-sim: Can't see a majority of the set, relinquishing primary");
                self.step_down(now);
            }
        } else if self.state == MemberState::Secondary && self.election_deadline.is_none() {
            self.reschedule_election(now);
        }
    }

    /// Won by votes (crate::net): PRIMARY in `term`.
    pub fn won_election(&mut self, term: i64, now: Instant) -> bool {
        if self.term != term || self.state != MemberState::Secondary {
            return false;
        }
        self.become_primary();
        for p in &mut self.peers {
            p.last_update = now;
        }
        true
    }

    /// mongo: replication_coordinator_impl.cpp _postWonElectionUpdateMemberState:
    /// term + 1, electionId = OID::fromTerm(term); on step-up the config term is bumped to the
    /// new term (doOptimizedReconfig) and the new primary writes a no-op oplog entry.
    fn win_election(&mut self) {
        self.term += 1;
        self.become_primary();
    }

    fn become_primary(&mut self) {
        self.state = MemberState::Primary;
        self.election_at = None;
        self.election_id = Some(election_id_for_term(self.term));
        self.election_ts = Some(now_ts());
        self.takeover_at = None;
        self.election_deadline = None;
        self.pending_noop = Some("new primary");
        if let Some(c) = self.config.as_mut() {
            c.term = self.term;
        }
        eprintln!("mongo-sim: won election, term {}, now PRIMARY", self.term);
        self.persist();
    }

    /// Starts the election clock of a node that came up with a stored config.
    pub fn start_clock(&mut self, now: Instant) {
        self.started = now;
        self.tick(now);
    }

    fn enter_secondary(&mut self, now: Instant) {
        self.state = MemberState::Secondary;
        self.election_at = None;
        self.tick(now);
    }

    /// mongo: src/mongo/db/repl/repl_set_commands.cpp CmdReplSetInitiate::run and
    /// replication_coordinator_impl.cpp processReplSetInitiate, checks in the server's order.
    pub fn initiate(
        &mut self,
        arg: Option<&Document>,
        reach: &Reach,
    ) -> Result<Document, CmdError> {
        let mut extra = Document::new();
        // 1. mongo: repl_set_commands.cpp: !settings.isReplSet() → NoReplicationEnabled (76).
        let Some(set_name) = self.set_name.clone() else {
            return Err(no_replication_enabled(
                "This node was not started with replication enabled.",
            ));
        };
        // 2. Empty / non-object argument → a default config (info2 + me in the reply).
        let mut cfg_doc = match arg {
            Some(d) if !d.is_empty() => d.clone(),
            _ => {
                extra.insert(
                    "info2",
                    "no configuration specified. Using a default configuration for the set",
                );
                extra.insert("me", self.me_default.clone());
                doc! {"_id": set_name.clone(), "version": 1,
                "members": [{"_id": 0, "host": self.me_default.clone()}]}
            }
        };
        // 3. Missing version defaults to 1.
        if !cfg_doc.contains_key("version") {
            cfg_doc.insert("version", 1);
        }
        // 4. mongo: processReplSetInitiate: a config exists → AlreadyInitialized (23).
        if self.config.is_some() {
            return Err(CmdError::new(
                23,
                "AlreadyInitialized",
                "already initialized",
            ));
        }
        // 5. Parse (term forced to 0, new replicaSetId) → InvalidReplicaSetConfig (93).
        if let Some(Bson::Document(s)) = cfg_doc.get("settings")
            && s.contains_key("replicaSetId")
        {
            // mongo: repl_set_config.cpp ReplSetConfig::parseForInitiate.
            return Err(invalid_config(format!(
                "replica set configuration cannot contain 'replicaSetId' field when called from replSetInitiate: {}",
                bson_to_string(&cfg_doc)
            )));
        }
        let cfg =
            config::parse(&cfg_doc, Some(0), Some(ObjectId::new())).map_err(invalid_config)?;
        // 6. Set name must match --replSet.
        if cfg.id != set_name {
            return Err(invalid_config(format!(
                "Rejecting initiate with a set name that differs from command line set name, initiate set name: {}, command line set name: {}",
                cfg.id, set_name
            )));
        }
        // 7. mongo: repl_set_config_checks.cpp validateConfigForInitiate; every failure is
        //    wrapped as InvalidReplicaSetConfig with the reason.
        cfg.validate().map_err(invalid_config)?;
        cfg.validate_arbiter_priorities().map_err(invalid_config)?;
        for m in &cfg.members {
            if m.newly_added {
                return Err(invalid_config(format!(
                    "Member {}, with _id {}, has a newlyAdded field, which is not valid for initial configuration of a replica set.",
                    m.host, m.id
                )));
            }
        }
        if cfg.version != 1 {
            // The double space is in the server's text.
            return Err(invalid_config(format!(
                "Configuration used to initiate a replica set must  have version 1, but found {}",
                cfg.version
            )));
        }
        let my_index = self.find_self(&cfg).map_err(|e| invalid_config(e.errmsg))?;
        self.check_electable(&cfg, my_index)
            .map_err(|e| invalid_config(e.errmsg))?;
        // 8. mongo: check_quorum_for_config_change.cpp checkQuorumForInitiate: every proposed
        //    member must answer the heartbeat → else NodeNotFound.
        let failed: Vec<String> = cfg
            .members
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != my_index)
            .filter_map(|(_, m)| {
                reached(reach, &m.host)
                    .err()
                    .map(|e| peer_failure(&m.host, &e))
            })
            .collect();
        if !failed.is_empty() {
            return Err(node_not_found(format!(
                "replSetInitiate quorum check failed because not all proposed set members responded affirmatively: {}",
                failed.join(", ")
            )));
        }
        self.config = Some(cfg);
        self.self_index = Some(my_index);
        self.reset_peers(Instant::now());
        // The "initiating set" oplog entry (term -1 before the first election).
        self.pending_noop = Some("initiating set");
        self.persist();
        eprintln!(
            "mongo-sim: replSetInitiate ok; SECONDARY, election in {:?}",
            self.election_delay
        );
        self.enter_secondary(Instant::now());
        Ok(extra)
    }

    pub fn find_self_public(&self, cfg: &RsConfig) -> Option<usize> {
        self.find_self(cfg).ok()
    }

    /// mongo: repl_set_config_checks.cpp findSelfInConfig.
    fn find_self(&self, cfg: &RsConfig) -> Result<usize, CmdError> {
        let mine: Vec<usize> = cfg
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| self.is_self(&m.host))
            .map(|(i, _)| i)
            .collect();
        match mine.len() {
            0 => Err(node_not_found(format!(
                "No host described in new configuration with {} for replica set {} maps to this node",
                cfg.vt_string(),
                cfg.id
            ))),
            1 => Ok(mine[0]),
            _ => {
                let hosts: Vec<String> = mine
                    .iter()
                    .map(|&i| cfg.members[i].host.to_string())
                    .collect();
                let (last, first) = hosts.split_last().unwrap();
                Err(invalid_config(format!(
                    "The hosts {} and {last} all map to this node in new configuration with {} for replica set {}",
                    first.join(", "),
                    cfg.vt_string(),
                    cfg.id
                )))
            }
        }
    }

    /// mongo: repl_set_config_checks.cpp checkElectable → NodeNotElectable (104).
    fn check_electable(&self, cfg: &RsConfig, i: usize) -> Result<(), CmdError> {
        let m = &cfg.members[i];
        if m.is_electable() {
            Ok(())
        } else {
            Err(CmdError::new(
                104,
                "NodeNotElectable",
                format!(
                    "This node, {}, with _id {} is not electable under the new configuration with {} for replica set {}",
                    m.host,
                    m.id,
                    cfg.vt_string(),
                    cfg.id
                ),
            ))
        }
    }

    /// mongo: replication_coordinator_impl.cpp checkReplEnabledForCommand.
    pub fn check_repl_enabled(&self) -> Result<(), CmdError> {
        if !self.is_repl_set() {
            return Err(no_replication_enabled("not running with --replSet"));
        }
        if self.config.is_none() {
            return Err(CmdError::new(
                94,
                "NotYetInitialized",
                "no replset config has been received",
            ));
        }
        Ok(())
    }

    /// mongo: repl_set_commands.cpp CmdReplSetReconfig::run, replication_coordinator_impl.cpp
    /// processReplSetReconfig / _doReplSetReconfig, repl_set_config_checks.cpp
    /// validateConfigForReconfig — in that order.
    pub fn reconfig(
        &mut self,
        new_doc: &Document,
        force: bool,
        reach: &Reach,
    ) -> Result<(), CmdError> {
        let now = Instant::now();
        self.tick(now);
        // Safe reconfig only on a writable primary: awaitConfigCommitment returns
        // PrimarySteppedDown, which the command turns into NotWritablePrimary (10107) with the
        // context "New config is rejected".
        if !force && self.state != MemberState::Primary {
            return Err(CmdError::new(
                10107,
                "NotWritablePrimary",
                format!(
                    "New config is rejected :: caused by :: replSetReconfig should only be run on a writable PRIMARY. Current state {};",
                    self.state.as_str()
                ),
            ));
        }
        let old = self.config.clone().expect("checked by check_repl_enabled");
        // Non-force: the config term is this node's term; force: -1.
        let term = if force { -1 } else { self.term };
        let mut new = config::parse(new_doc, Some(term), old.settings.replica_set_id)
            .map_err(invalid_config)?;
        if new.id != old.id {
            return Err(invalid_config(format!(
                "Rejecting reconfig where new config set name differs from command line set name, new config set name: {}, old config set name: {}",
                new.id, old.id
            )));
        }
        if force {
            // mongo: processReplSetReconfig: force bumps the version by 10'000 + random(100'000).
            let bump = 10_000 + (ObjectId::new().bytes()[11] as i64 * 389) % 100_000;
            new.version = old.version.max(new.version) + bump;
        }
        for m in new.members.iter_mut() {
            if m.newly_added {
                return Err(invalid_config(
                    "Cannot provide newlyAdded field to member config during reconfig.",
                ));
            }
            if m.arbiter_only || force {
                continue;
            }
            // New voting members get 'newlyAdded' (votes/priority count as 0 until they reach
            // SECONDARY, which an unreachable member never does); existing flags are kept.
            match old.members.iter().find(|o| o.id == m.id) {
                None if m.votes > 0 => m.newly_added = true,
                Some(o) if o.newly_added => m.newly_added = true,
                _ => {}
            }
        }
        // validateConfigForReconfig; any failure is returned as 103 with the reason.
        new.validate().map_err(incompatible)?;
        self.validate_compatible(&old, &new).map_err(incompatible)?;
        if !force {
            let old_v: Vec<i64> = old
                .members
                .iter()
                .filter(|m| m.is_voter())
                .map(|m| m.id)
                .collect();
            let new_v: Vec<i64> = new
                .members
                .iter()
                .filter(|m| m.is_voter())
                .map(|m| m.id)
                .collect();
            let diff = old_v.iter().filter(|i| !new_v.contains(i)).count()
                + new_v.iter().filter(|i| !old_v.contains(i)).count();
            if diff > 1 {
                return Err(incompatible(
                    "Non force replica set reconfig can only add or remove at most 1 voting member.",
                ));
            }
        }
        new.validate_arbiter_priorities().map_err(incompatible)?;
        // Find self: quick path by our current host string, else the full search.
        let my_host = self.self_member().map(|m| m.host.clone());
        let quick = my_host.and_then(|h| new.members.iter().position(|m| m.host == h));
        let my_index = match quick {
            Some(i) => i,
            None => self.find_self(&new)?,
        };
        if !force {
            self.check_electable(&new, my_index)?;
            // mongo: check_quorum_for_config_change.cpp checkQuorumForReconfig: a majority of
            // the new config's voters must respond.
            let voters = new.voters();
            let responded = new
                .members
                .iter()
                .enumerate()
                .filter(|(i, m)| {
                    m.is_voter() && (*i == my_index || reached(reach, &m.host).is_ok())
                })
                .count();
            let needed = voters / 2 + 1;
            if responded < needed {
                let failed: Vec<String> = new
                    .members
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != my_index)
                    .filter_map(|(_, m)| {
                        reached(reach, &m.host)
                            .err()
                            .map(|e| peer_failure(&m.host, &e))
                    })
                    .collect();
                return Err(node_not_found(format!(
                    "Quorum check failed because not enough voting nodes responded; required {needed} but only the following {responded} voting nodes responded: {}; the following nodes did not respond affirmatively: {}",
                    new.members[my_index].host,
                    failed.join(", ")
                )));
            }
        }
        eprintln!("mongo-sim: replSetReconfig ok: {}", new.vt_string());
        let same_members = self.config.as_ref().is_some_and(|o| {
            o.members.len() == new.members.len()
                && o.members
                    .iter()
                    .zip(&new.members)
                    .all(|(a, b)| a.host == b.host)
        });
        self.config = Some(new);
        self.self_index = Some(my_index);
        if !same_members {
            self.reset_peers(now);
        }
        self.persist();
        if self.state == MemberState::Primary && !self.check_electable_now() {
            // mongo: _finishReplSetReconfig: a primary that is not electable under the new
            // config steps down.
            self.state = MemberState::Secondary;
            self.election_id = None;
        }
        if self.state == MemberState::Secondary {
            self.election_at = None;
        }
        self.tick(now);
        Ok(())
    }

    fn check_electable_now(&self) -> bool {
        self.self_member().is_some_and(|m| m.is_electable())
    }

    /// mongo: repl_set_config_checks.cpp validateOldAndNewConfigsCompatible.
    fn validate_compatible(&self, old: &RsConfig, new: &RsConfig) -> Result<(), String> {
        if !vt_less(old.vt(), new.vt()) {
            return Err(format!(
                "New replica set configuration version and term must be greater than old, but {} is not greater than {} for replica set {}",
                new.vt_string(),
                old.vt_string(),
                new.id
            ));
        }
        if old.id != new.id {
            return Err(format!(
                "New and old configurations differ in replica set name; old was {}, and new is {}",
                old.id, new.id
            ));
        }
        if old.settings.replica_set_id != new.settings.replica_set_id {
            let show = |o: Option<ObjectId>| o.map(|o| o.to_hex()).unwrap_or_default();
            return Err(format!(
                "New and old configurations differ in replica set ID; old was {}, and new is {}",
                show(old.settings.replica_set_id),
                show(new.settings.replica_set_id)
            ));
        }
        for mn in &new.members {
            for mo in &old.members {
                let ids = mo.id == mn.id;
                let hosts = mo.host == mn.host;
                if !ids && !hosts {
                    continue;
                }
                if hosts && !ids {
                    return Err(format!(
                        "New and old configurations both have members with host of {} but in the new configuration the _id field is {} and in the old configuration it is {} for replica set {}",
                        mo.host, mn.id, mo.id, new.id
                    ));
                }
                if mo.build_indexes != mn.build_indexes {
                    return Err(format!(
                        "New and old configurations differ in the setting of the buildIndexes field for member {}; to make this change, remove then re-add the member",
                        mo.host
                    ));
                }
                if mo.arbiter_only != mn.arbiter_only {
                    return Err(format!(
                        "New and old configurations differ in the setting of the arbiterOnly field for member {}; to make this change, remove then re-add the member",
                        mo.host
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `replSetGetStatus` body (without ok).
    /// mongo: src/mongo/db/repl/topology_coordinator.cpp prepareStatusResponse.
    pub fn status(&self) -> Result<Document, CmdError> {
        let cfg = self.config.as_ref().expect("checked");
        let Some(me_idx) = self
            .self_index
            .filter(|_| self.state != MemberState::Removed)
        else {
            // mongo: topology_coordinator.cpp prepareStatusResponse for a removed node.
            return Err(invalid_config(
                "Our replica set config is invalid or we are not a member of it",
            ));
        };
        let uptime = self.started.elapsed().as_secs() as i32;
        let (ts, t) = self.last_applied;
        let optime = doc! {"ts": ts, "t": t};
        let mut members = Vec::new();
        for (i, m) in cfg.members.iter().enumerate() {
            if i == me_idx {
                let mut d = doc! {
                    "_id": m.id as i32,
                    "name": m.host.to_string(),
                    "health": 1.0,
                    "state": self.state.code(),
                    "stateStr": self.state.as_str(),
                    "uptime": uptime,
                    "optime": optime.clone(),
                    "optimeDate": DateTime::from_millis(ts.time as i64 * 1000),
                    "lastAppliedWallTime": self.last_applied_wall,
                    "lastDurableWallTime": self.last_applied_wall,
                    "syncSourceHost": self.sync_source_host(),
                    "syncSourceId": self.sync_source.and_then(|i| cfg.members.get(i)).map_or(-1, |m| m.id),
                    "infoMessage": "",
                };
                if self.state == MemberState::Primary {
                    election_fields(&mut d, self.election_ts);
                }
                d.insert("configVersion", cfg.version as i32);
                d.insert("configTerm", cfg.term);
                d.insert("self", true);
                d.insert("lastHeartbeatMessage", "");
                members.push(Bson::Document(d));
            } else {
                members.push(Bson::Document(self.peer_status(i, m)));
            }
        }
        let voters = cfg.voters() as i32;
        let majority = cfg.majority_vote_count() as i32;
        let writable_voters = cfg
            .members
            .iter()
            .filter(|m| m.is_voter() && !m.arbiter_only)
            .count() as i32;
        Ok(doc! {
            "set": cfg.id.clone(),
            "date": DateTime::now(),
            "myState": self.state.code(),
            "term": self.term,
            "syncSourceHost": self.sync_source_host(),
            "syncSourceId": self.sync_source.and_then(|i| cfg.members.get(i)).map_or(-1, |m| m.id),
            "heartbeatIntervalMillis": cfg.settings.heartbeat_interval_millis,
            "majorityVoteCount": majority,
            "writeMajorityCount": majority.min(writable_voters),
            "votingMembersCount": voters,
            "writableVotingMembersCount": writable_voters,
            "optimes": {
                "lastCommittedOpTime": self.commit_point().to_doc(),
                "lastCommittedWallTime": self.last_applied_wall,
                "appliedOpTime": optime.clone(),
                "durableOpTime": optime,
                "lastAppliedWallTime": self.last_applied_wall,
                "lastDurableWallTime": self.last_applied_wall,
            },
            "members": members,
        })
    }

    /// The majority commit point (a single voter commits what it applies).
    pub fn commit_point(&self) -> crate::oplog::OpTime {
        if self.needs_votes() {
            self.commit_point
        } else {
            self.applied()
        }
    }

    /// One other member's entry in `replSetGetStatus` (mongo: topology_coordinator.cpp
    /// prepareStatusResponse: health, state, optimes, heartbeat times, last message).
    fn peer_status(&self, i: usize, m: &config::Member) -> Document {
        let now = Instant::now();
        let p = self
            .peers
            .get(i)
            .cloned()
            .unwrap_or_else(|| crate::members::Peer::new(now));
        let (health, state, state_str) = match p.health {
            Some(true) => (1.0, p.state, p.state_str.clone()),
            Some(false) => (0.0, 8, "(not reachable/healthy)".to_string()),
            // mongo: MemberData before the first heartbeat settles: health -1, UNKNOWN (6).
            None => (-1.0, 6, "UNKNOWN".to_string()),
        };
        let zero = DateTime::from_millis(0);
        let mut d = doc! {
            "_id": m.id as i32,
            "name": m.host.to_string(),
            "health": health,
            "state": state,
            "stateStr": state_str,
            "uptime": p.up_since.map_or(0, |u| now.duration_since(u).as_secs() as i32),
            "optime": p.applied.to_doc(),
            "optimeDurable": p.applied.to_doc(),
            "optimeDate": p.applied.date(),
            "optimeDurableDate": p.applied.date(),
            "lastAppliedWallTime": p.applied_wall,
            "lastDurableWallTime": p.applied_wall,
            "lastHeartbeat": p.last_hb_sent.unwrap_or(zero),
            "lastHeartbeatRecv": p.last_hb_recv.unwrap_or(zero),
            "pingMs": p.ping_ms,
            "lastHeartbeatMessage": p.msg.clone(),
            "syncSourceHost": p.sync_source.clone(),
            "syncSourceId": -1,
            "infoMessage": "",
        };
        if p.state == MemberState::Primary.code() {
            election_fields(&mut d, p.election_time);
        }
        d.insert("configVersion", p.config_version as i32);
        d.insert("configTerm", p.config_term);
        d
    }

    /// Replication part of hello / isMaster.
    /// mongo: src/mongo/db/repl/topology_coordinator.cpp fillHelloForReplSet and
    /// src/mongo/db/repl/hello/hello_response.cpp HelloResponse::addToBSON (field order).
    pub fn hello_fields(&self, out: &mut Document, legacy: bool) {
        let primary_key = if legacy {
            "ismaster"
        } else {
            "isWritablePrimary"
        };
        if !self.is_repl_set() {
            out.insert(primary_key, true);
            return;
        }
        let (Some(cfg), Some(me)) = (self.config.as_ref(), self.self_member()) else {
            // markAsNoConfig (RSGhost).
            out.insert(primary_key, false);
            out.insert("secondary", false);
            out.insert("info", "Does not have a valid replica set config");
            out.insert("isreplicaset", true);
            return;
        };
        if !self.has_valid_config() {
            out.insert(primary_key, false);
            out.insert("secondary", false);
            out.insert("info", "Does not have a valid replica set config");
            out.insert("isreplicaset", true);
            return;
        }
        let mut hosts = Vec::new();
        let mut passives = Vec::new();
        let mut arbiters = Vec::new();
        for m in &cfg.members {
            if m.hidden {
                continue;
            }
            if m.arbiter_only {
                arbiters.push(Bson::String(m.host.to_string()));
            } else if m.priority == 0.0 {
                passives.push(Bson::String(m.host.to_string()));
            } else {
                hosts.push(Bson::String(m.host.to_string()));
            }
        }
        if !hosts.is_empty() {
            out.insert("hosts", hosts);
        }
        if !passives.is_empty() {
            out.insert("passives", passives);
        }
        if !arbiters.is_empty() {
            out.insert("arbiters", arbiters);
        }
        out.insert("setName", cfg.id.clone());
        out.insert("setVersion", cfg.version as i32);
        let primary = self.state == MemberState::Primary;
        out.insert(primary_key, primary);
        out.insert("secondary", self.state == MemberState::Secondary);
        if let Some(p) = self.primary_index() {
            out.insert("primary", cfg.members[p].host.to_string());
        }
        if me.arbiter_only {
            out.insert("arbiterOnly", true);
        }
        if me.priority == 0.0 && !me.arbiter_only {
            out.insert("passive", true);
        }
        if me.hidden {
            out.insert("hidden", true);
        }
        if !me.build_indexes {
            out.insert("buildIndexes", false);
        }
        if me.secondary_delay_secs > 0 {
            let key = if legacy {
                "slaveDelay"
            } else {
                "secondaryDelaySecs"
            };
            out.insert(key, me.secondary_delay_secs);
        }
        if !me.tags.is_empty() {
            out.insert("tags", me.tags.clone());
        }
        out.insert("me", me.host.to_string());
        if primary && let Some(id) = self.election_id {
            out.insert("electionId", id);
        }
        let (ts, t) = self.last_applied;
        let date = DateTime::from_millis(ts.time as i64 * 1000);
        out.insert(
            "lastWrite",
            doc! {
                "opTime": {"ts": ts, "t": t},
                "lastWriteDate": date,
                "majorityOpTime": self.commit_point().to_doc(),
                "majorityWriteDate": self.commit_point().date(),
            },
        );
    }

    /// Saves config and term (`--state-file`), as local.system.replset would survive a restart.
    pub fn persist(&self) {
        let (Some(path), Some(cfg)) = (self.state_file.as_ref(), self.config.as_ref()) else {
            return;
        };
        let d = doc! {"config": cfg.to_bson(true), "term": self.term,
        "lastVote": {"term": self.last_vote.0, "candidateIndex": self.last_vote.1}};
        let json = Bson::Document(d).into_relaxed_extjson();
        let text = serde_json::to_string_pretty(&json).expect("json");
        let tmp = path.with_extension("tmp");
        // A durable write, as local.system.replset is one: a refusal (a full disk) ends the
        // process as WiredTiger's panic ends mongod.
        if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path)) {
            crate::startup::storage_write_failed(&tmp, &e);
        }
    }

    /// Loads a saved config at start-up. A node with a stored config comes up SECONDARY and
    /// runs for election (mongo: replication_coordinator_impl.cpp _finishLoadLocalConfig).
    pub fn load(&mut self) -> Result<(), String> {
        let Some(path) = self.state_file.clone() else {
            return Ok(());
        };
        if !self.is_repl_set() || !path.exists() {
            return Ok(());
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let Bson::Document(d) = Bson::try_from(json).map_err(|e| format!("{e}"))? else {
            return Err("state file is not a document".into());
        };
        let cfg_doc = d.get_document("config").map_err(|e| e.to_string())?;
        let term = match d.get("term") {
            Some(Bson::Int64(t)) => *t,
            Some(Bson::Int32(t)) => *t as i64,
            _ => 0,
        };
        let cfg = config::parse(cfg_doc, None, None)?;
        self.term = term.max(cfg.term);
        if let Ok(v) = d.get_document("lastVote") {
            let get = |k: &str| match v.get(k) {
                Some(Bson::Int64(x)) => *x,
                Some(Bson::Int32(x)) => *x as i64,
                _ => -1,
            };
            self.last_vote = (get("term"), get("candidateIndex"));
        }
        let set = self.set_name.clone().unwrap_or_default();
        if cfg.id != set {
            // mongo: _finishLoadLocalConfig: a stored set name differing from --replSet leaves
            // the node without a usable config (it waits for a reconfig).
            eprintln!(
                "mongo-sim: stored set name {} differs from --replSet {set}; REMOVED",
                cfg.id
            );
            self.config = Some(cfg);
            self.state = MemberState::Removed;
            return Ok(());
        }
        match self.find_self(&cfg) {
            Ok(i) => {
                eprintln!(
                    "mongo-sim: loaded config {} from {}; SECONDARY",
                    version_and_term(cfg.version, cfg.term),
                    path.display()
                );
                self.config = Some(cfg);
                self.self_index = Some(i);
                self.state = MemberState::Secondary;
                self.reset_peers(Instant::now());
            }
            Err(e) => {
                eprintln!("mongo-sim: stored config: {}; REMOVED", e.errmsg);
                self.config = Some(cfg);
                self.state = MemberState::Removed;
            }
        }
        Ok(())
    }
}
