//! The other members as this one sees them through heartbeats, and the protocol-version-1
//! rules built on that view: who votes for whom, when a secondary stands for election, when a
//! higher-priority member takes over, when a primary steps down, and the majority commit
//! point `w: "majority"` writes wait for. The network side lives in crate::net.
//!
//! Sources (MongoDB server, src/mongo/db/repl/):
//! - topology_coordinator.cpp prepareHeartbeatResponseV1 (the heartbeat reply; the config is
//!   sent when the requester's is older), processHeartbeatResponse (a member is DOWN when its
//!   heartbeat failed after the retries or the heartbeat timeout elapsed),
//!   processReplSetRequestVotes (the vote rules, in order), checkMemberTimeouts (a primary
//!   that cannot see a majority within the election timeout steps down),
//!   updateLastCommittedOpTimeAndWallTime (commit point = the majority's optime, current term)
//! - repl_set_heartbeat_args_v1.cpp / repl_set_heartbeat_response.cpp (field names)
//! - repl_set_request_votes_args.cpp (replSetRequestVotes fields and reply)
//! - replication_coordinator_impl.cpp _cancelAndRescheduleElectionTimeout_inlock (election
//!   timeout + a random offset up to electionTimeoutMillis × electionTimeoutOffsetLimitFraction,
//!   0.15), _postWonElectionUpdateMemberState (resetMemberTimeouts on step-up)
//! - replication_coordinator_impl_heartbeat.cpp (priority takeover when the primary has a
//!   lower priority and this member is fresh; delay = (priority rank + 1) × election timeout,
//!   repl_set_config.cpp getPriorityTakeoverDelay; freshness window 2 s,
//!   priorityTakeoverFreshnessWindowSeconds)
//! - docs: https://www.mongodb.com/docs/manual/core/replica-set-elections/

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use bson::{Bson, DateTime, Document, doc};

use crate::config::{self, HostPort};
use crate::oplog::OpTime;
use crate::repl::{CmdError, MemberState, Repl};

/// mongo: repl_settings / server parameter electionTimeoutOffsetLimitFraction (default 0.15).
const OFFSET_LIMIT_FRACTION: f64 = 0.15;
/// mongo: topology_coordinator.cpp kMaxHeartbeatRetries.
const MAX_HEARTBEAT_RETRIES: u32 = 2;
/// mongo: server parameter priorityTakeoverFreshnessWindowSeconds (default 2).
const FRESHNESS_WINDOW_SECS: u32 = 2;

/// What this member knows of another (mongo: member_data.h MemberData).
#[derive(Debug, Clone)]
pub struct Peer {
    /// `None` until the first heartbeat settles (mongo: health -1).
    pub health: Option<bool>,
    pub state: i32,
    pub state_str: String,
    pub term: i64,
    pub applied: OpTime,
    pub applied_wall: DateTime,
    pub config_version: i64,
    pub config_term: i64,
    pub sync_source: String,
    pub election_time: Option<bson::Timestamp>,
    pub last_hb_sent: Option<DateTime>,
    pub last_hb_recv: Option<DateTime>,
    /// mongo: MemberData lastUpdate: the last sign of life (reset on step-up).
    pub last_update: Instant,
    pub up_since: Option<Instant>,
    pub first_failure: Option<Instant>,
    pub failures: u32,
    pub next_hb: Instant,
    pub in_flight: bool,
    pub ping_ms: i64,
    pub msg: String,
}

impl Peer {
    pub fn new(now: Instant) -> Peer {
        Peer {
            health: None,
            state: 0,
            state_str: "STARTUP".into(),
            term: -1,
            applied: OpTime::NULL,
            applied_wall: DateTime::from_millis(0),
            config_version: -1,
            config_term: -1,
            sync_source: String::new(),
            election_time: None,
            last_hb_sent: None,
            last_hb_recv: None,
            last_update: now,
            up_since: None,
            first_failure: None,
            failures: 0,
            next_hb: now,
            in_flight: false,
            ping_ms: 0,
            msg: String::new(),
        }
    }
}

/// A random fraction in [0, 1).
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn i64_of(d: &Document, k: &str) -> Option<i64> {
    match d.get(k)? {
        Bson::Int32(v) => Some(*v as i64),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) => Some(*v as i64),
        _ => None,
    }
}

/// A voting member's vote request, as sent (mongo: repl_set_request_votes_args.cpp).
#[derive(Debug, Clone)]
pub struct VoteRequest {
    pub body: Document,
    pub term: i64,
    pub targets: Vec<(usize, HostPort)>,
    pub needed: usize,
}

impl Repl {
    pub fn election_timeout(&self) -> Duration {
        let ms = self
            .config
            .as_ref()
            .map_or(10_000, |c| c.settings.election_timeout_millis.max(1));
        Duration::from_millis(ms as u64)
    }

    pub fn heartbeat_interval(&self) -> Duration {
        let ms = self
            .config
            .as_ref()
            .map_or(2_000, |c| c.settings.heartbeat_interval_millis.max(1));
        Duration::from_millis(ms as u64)
    }

    pub fn heartbeat_timeout(&self) -> Duration {
        let s = self
            .config
            .as_ref()
            .map_or(10, |c| c.settings.heartbeat_timeout_secs.max(1));
        Duration::from_secs(s as u64)
    }

    /// Several voters: elections go through votes (one voter keeps the simple delay path).
    pub fn needs_votes(&self) -> bool {
        self.config
            .as_ref()
            .is_some_and(|c| c.majority_vote_count() > 1)
    }

    /// mongo: _cancelAndRescheduleElectionTimeout_inlock: now + timeout + random offset.
    pub fn reschedule_election(&mut self, now: Instant) {
        let t = self.election_timeout();
        let offset = t.mul_f64(OFFSET_LIMIT_FRACTION * random_unit());
        self.election_deadline = Some(now + t + offset);
    }

    /// A fresh view of every member (a config installed or changed).
    pub fn reset_peers(&mut self, now: Instant) {
        let n = self.config.as_ref().map_or(0, |c| c.members.len());
        self.peers = vec![Peer::new(now); n];
    }

    fn my_id(&self) -> i64 {
        self.self_member().map_or(-1, |m| m.id)
    }

    /// The heartbeat request body (mongo: repl_set_heartbeat_args_v1.cpp).
    pub fn heartbeat_args(&self) -> Document {
        let (version, term) = self
            .config
            .as_ref()
            .filter(|_| self.self_index.is_some())
            .map_or((-2, -1), |c| (c.version, c.term));
        let mut d = doc! {
            "replSetHeartbeat": self.set_name.clone().unwrap_or_default(),
            "configVersion": version,
            "configTerm": term,
            "hbv": 1,
            "from": self.self_member().map(|m| m.host.to_string()).unwrap_or_default(),
            "fromId": self.my_id(),
            "term": self.term,
        };
        d.insert("$db", "admin");
        d
    }

    /// The members whose heartbeat is due now; each is marked in flight.
    pub fn due_heartbeats(&mut self, now: Instant) -> Vec<(usize, HostPort)> {
        let (Some(cfg), Some(me)) = (self.config.as_ref(), self.self_index) else {
            return Vec::new();
        };
        if self.state == MemberState::Removed {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, p) in self.peers.iter_mut().enumerate() {
            if i != me && !p.in_flight && p.next_hb <= now {
                p.in_flight = true;
                p.last_hb_sent = Some(DateTime::now());
                out.push((i, cfg.members[i].host.clone()));
            }
        }
        out
    }

    /// mongo: TopologyCoordinator::prepareHeartbeatResponseV1.
    pub fn process_heartbeat(&mut self, args: &Document) -> Result<Document, CmdError> {
        self.check_repl_enabled_for_heartbeat()?;
        let set = args.get_str("replSetHeartbeat").unwrap_or("");
        let ours = self.set_name.clone().unwrap_or_default();
        if set != ours {
            // mongo: InconsistentReplicaSetNames (185).
            return Err(CmdError::new(
                185,
                "InconsistentReplicaSetNames",
                format!("Our set name of {ours} does not match name of sender: {set}"),
            ));
        }
        let their_version = i64_of(args, "configVersion").unwrap_or(-2);
        let their_cfg_term = i64_of(args, "configTerm").unwrap_or(-1);
        let from = args.get_str("from").unwrap_or("").to_string();
        if let Some(i) = self.config.as_ref().and_then(|c| {
            c.members
                .iter()
                .position(|m| m.host.to_string() == from && !from.is_empty())
        }) && let Some(p) = self.peers.get_mut(i)
        {
            p.last_hb_recv = Some(DateTime::now());
        }
        let mut out = Document::new();
        let applied = self.applied();
        out.insert("durableOpTime", applied.to_doc());
        out.insert("durableWallTime", self.last_applied_wall);
        out.insert("opTime", applied.to_doc());
        out.insert("wallTime", self.last_applied_wall);
        if self.state == MemberState::Primary
            && let Some(ets) = self.election_ts
        {
            out.insert("electionTime", ets);
        }
        out.insert("set", ours);
        out.insert("syncingTo", self.sync_source_host());
        out.insert("term", self.term);
        out.insert("primaryId", self.primary_id());
        match (self.config.as_ref(), self.self_index) {
            (Some(cfg), Some(_)) => {
                out.insert("configVersion", cfg.version);
                out.insert("configTerm", cfg.term);
                out.insert("state", self.state.code());
                out.insert(
                    "electable",
                    self.self_member().is_some_and(|m| m.is_electable()),
                );
                if config::vt_less((their_version, their_cfg_term), cfg.vt()) {
                    out.insert("config", cfg.to_bson(true));
                }
            }
            _ => {
                // No config: version -2, state STARTUP; a sender with a newer config is
                // asked for it by a heartbeat back (replication_coordinator_impl_heartbeat.cpp).
                out.insert("configVersion", -2i64);
                out.insert("configTerm", -1i64);
                out.insert("state", MemberState::Startup.code());
                if their_version > 0 && !from.is_empty() {
                    self.config_from = Some(from);
                }
            }
        }
        Ok(out)
    }

    fn check_repl_enabled_for_heartbeat(&self) -> Result<(), CmdError> {
        if !self.is_repl_set() {
            return Err(crate::repl::no_replication_enabled(
                "not running with --replSet",
            ));
        }
        Ok(())
    }

    pub fn applied(&self) -> OpTime {
        OpTime {
            ts: self.last_applied.0,
            t: self.last_applied.1,
        }
    }

    /// The current primary's index as this member sees it.
    pub fn primary_index(&self) -> Option<usize> {
        if self.state == MemberState::Primary {
            return self.self_index;
        }
        let me = self.self_index?;
        self.peers
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                *i != me && p.health == Some(true) && p.state == MemberState::Primary.code()
            })
            .max_by_key(|(_, p)| p.term)
            .map(|(i, _)| i)
    }

    fn primary_id(&self) -> i64 {
        let cfg = self.config.as_ref();
        self.primary_index()
            .and_then(|i| cfg.map(|c| c.members[i].id))
            .unwrap_or(-1)
    }

    pub fn sync_source_host(&self) -> String {
        let cfg = self.config.as_ref();
        self.sync_source
            .and_then(|i| cfg.map(|c| c.members[i].host.to_string()))
            .unwrap_or_default()
    }

    /// A higher term seen anywhere: adopt it; a primary steps down
    /// (mongo: replication_coordinator_impl.cpp _updateTerm_inlock).
    pub fn update_term(&mut self, term: i64) -> bool {
        if term <= self.term {
            return false;
        }
        self.term = term;
        if self.state == MemberState::Primary {
            eprintln!("mongo-sim: stepping down: saw a higher term {term}");
            self.step_down(Instant::now());
        }
        self.persist();
        true
    }

    pub fn step_down(&mut self, now: Instant) {
        self.state = MemberState::Secondary;
        self.election_id = None;
        self.stepdown_at = None;
        self.election_at = None;
        self.reschedule_election(now);
    }

    /// A heartbeat's outcome (mongo: TopologyCoordinator::processHeartbeatResponse and
    /// ReplicationCoordinatorImpl::_handleHeartbeatResponse).
    pub fn on_heartbeat(
        &mut self,
        i: usize,
        result: Result<Document, String>,
        rtt: Duration,
        now: Instant,
    ) {
        let interval = self.heartbeat_interval();
        let timeout = self.heartbeat_timeout();
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        p.in_flight = false;
        match result {
            Ok(r) => {
                p.health = Some(true);
                p.up_since.get_or_insert(now);
                p.first_failure = None;
                p.failures = 0;
                p.last_update = now;
                p.next_hb = now + interval;
                p.ping_ms = rtt.as_millis() as i64;
                p.msg.clear();
                let state = i64_of(&r, "state").unwrap_or(0) as i32;
                p.state = state;
                p.state_str = state_name(state).into();
                p.term = i64_of(&r, "term").unwrap_or(-1);
                if let Some(op) = OpTime::from_bson(r.get("opTime")) {
                    p.applied = op;
                }
                if let Ok(w) = r.get_datetime("wallTime") {
                    p.applied_wall = *w;
                }
                p.config_version = i64_of(&r, "configVersion").unwrap_or(-1);
                p.config_term = i64_of(&r, "configTerm").unwrap_or(-1);
                p.sync_source = r.get_str("syncingTo").unwrap_or("").to_string();
                p.election_time = r.get_timestamp("electionTime").ok();
                let their_term = p.term;
                let is_primary = state == MemberState::Primary.code();
                self.update_term(their_term);
                if let Ok(cfg) = r.get_document("config") {
                    self.install_config(cfg, now);
                }
                if is_primary && their_term == self.term && self.state != MemberState::Primary {
                    // The primary is alive: push the election back.
                    self.reschedule_election(now);
                    self.consider_priority_takeover(i, now);
                }
                self.advance_commit_point();
            }
            Err(msg) => {
                let first = *p.first_failure.get_or_insert(now);
                p.failures += 1;
                p.msg = msg;
                if p.failures > MAX_HEARTBEAT_RETRIES || now.duration_since(first) >= timeout {
                    if p.health != Some(false) {
                        eprintln!(
                            "mongo-sim: member {i} is now DOWN: {} (no response after {} tries)",
                            p.msg, p.failures
                        );
                    }
                    p.health = Some(false);
                    p.state = 8;
                    p.state_str = "(not reachable/healthy)".into();
                    p.up_since = None;
                    p.next_hb = now + interval;
                } else {
                    // mongo: a failed heartbeat is retried at once, within the timeout.
                    p.next_hb = now + Duration::from_millis(50);
                }
            }
        }
    }

    /// A config learnt from a heartbeat reply, newer than ours (or the first one).
    pub fn install_config(&mut self, doc: &Document, now: Instant) {
        let Ok(cfg) = config::parse(doc, None, None) else {
            return;
        };
        if Some(cfg.id.as_str()) != self.set_name.as_deref() {
            return;
        }
        let newer = match (&self.config, self.self_index) {
            (Some(old), Some(_)) => config::vt_less(old.vt(), cfg.vt()),
            _ => true,
        };
        if !newer {
            return;
        }
        let had_config = self.self_index.is_some();
        let me = self.find_self_public(&cfg);
        eprintln!(
            "mongo-sim: installing config {} from a heartbeat",
            cfg.vt_string()
        );
        self.config = Some(cfg);
        self.self_index = me;
        self.reset_peers(now);
        match me {
            None => self.state = MemberState::Removed,
            Some(_) if !had_config => {
                // mongo: a member that joins runs initial sync in STARTUP2 first.
                self.state = MemberState::Startup2;
                self.reschedule_election(now);
            }
            Some(_) => {
                if self.state == MemberState::Removed {
                    self.state = MemberState::Secondary;
                }
            }
        }
        self.persist();
    }

    /// Schedules a priority takeover when the primary's priority is lower than ours and we
    /// are within the freshness window of its optime.
    fn consider_priority_takeover(&mut self, primary: usize, now: Instant) {
        let (Some(cfg), Some(me)) = (self.config.as_ref(), self.self_index) else {
            return;
        };
        let mine = cfg.members[me].priority;
        if self.state != MemberState::Secondary
            || cfg.members[primary].priority >= mine
            || !cfg.members[me].is_electable()
        {
            self.takeover_at = None;
            return;
        }
        let theirs = self.peers[primary].applied;
        let fresh = self.applied().ts.time + FRESHNESS_WINDOW_SECS >= theirs.ts.time;
        if !fresh {
            self.takeover_at = None;
            return;
        }
        if self.takeover_at.is_none() {
            let rank = cfg.members.iter().filter(|m| m.priority > mine).count() as u32;
            let t = self.election_timeout();
            let delay = t * (rank + 1) + t.mul_f64(OFFSET_LIMIT_FRACTION * random_unit());
            eprintln!("mongo-sim: priority takeover scheduled in {delay:?}");
            self.takeover_at = Some(now + delay);
        }
    }

    /// Whether this member should stand now (election timeout or priority takeover).
    pub fn election_due(&mut self, now: Instant) -> bool {
        if self.electing || self.state != MemberState::Secondary || !self.needs_votes() {
            return false;
        }
        let Some(me) = self.self_member() else {
            return false;
        };
        if !me.is_electable() || !me.is_voter() {
            return false;
        }
        let timeout = match self.election_deadline {
            Some(at) => now >= at,
            None => {
                self.reschedule_election(now);
                false
            }
        };
        let takeover = self.takeover_at.is_some_and(|at| now >= at);
        timeout || takeover
    }

    /// The vote request for the next election (term + 1), dry run or real
    /// (mongo: vote_requester.cpp, repl_set_request_votes_args.cpp).
    pub fn vote_request(&self, dry_run: bool) -> Option<VoteRequest> {
        let cfg = self.config.as_ref()?;
        let me = self.self_index?;
        let term = if dry_run { self.term + 1 } else { self.term };
        let mut body = doc! {
            "replSetRequestVotes": 1,
            "setName": cfg.id.clone(),
            "dryRun": dry_run,
            "term": term,
            "candidateIndex": me as i64,
            "configVersion": cfg.version,
            "configTerm": cfg.term,
            "lastAppliedOpTime": self.applied().to_doc(),
        };
        body.insert("$db", "admin");
        let targets = cfg
            .members
            .iter()
            .enumerate()
            .filter(|(i, m)| *i != me && m.is_voter())
            .map(|(i, m)| (i, m.host.clone()))
            .collect();
        Some(VoteRequest {
            body,
            term,
            targets,
            needed: cfg.majority_vote_count(),
        })
    }

    /// The real election's start: term + 1 and our own vote, persisted
    /// (mongo: replication_coordinator_impl_elect_v1.cpp _startRealElection).
    pub fn start_real_election(&mut self) -> i64 {
        self.term += 1;
        self.last_vote = (self.term, self.self_index.map_or(-1, |i| i as i64));
        self.persist();
        self.term
    }

    /// mongo: TopologyCoordinator::processReplSetRequestVotes (the rules in the server's
    /// order; the term is first updated by the command for a real election).
    pub fn process_request_votes(&mut self, args: &Document) -> Result<Document, CmdError> {
        self.check_repl_enabled()?;
        let term = i64_of(args, "term").unwrap_or(-1);
        let dry_run = args.get_bool("dryRun").unwrap_or(false);
        if !dry_run {
            self.update_term(term);
        }
        let cfg = self.config.as_ref().expect("checked").clone();
        let cand_version = i64_of(args, "configVersion").unwrap_or(-1);
        let cand_cfg_term = i64_of(args, "configTerm").unwrap_or(-1);
        let candidate = i64_of(args, "candidateIndex").unwrap_or(-1);
        let set = args.get_str("setName").unwrap_or("");
        let their_op = OpTime::from_bson(
            args.get("lastAppliedOpTime")
                .or_else(|| args.get("lastWrittenOpTime")),
        )
        .unwrap_or(OpTime::NULL);
        let mine = self.applied();
        let refuse = if term < self.term {
            Some(format!(
                "candidate's term ({term}) is lower than mine ({})",
                self.term
            ))
        } else if config::vt_less((cand_version, cand_cfg_term), cfg.vt()) {
            Some(format!(
                "candidate's config with {} is older than mine with {}",
                config::version_and_term(cand_version, cand_cfg_term),
                cfg.vt_string()
            ))
        } else if set != cfg.id {
            Some(format!(
                "candidate's set name ({set}) differs from mine ({})",
                cfg.id
            ))
        } else if their_op < mine {
            Some(format!(
                "candidate's data is staler than mine. candidate's last applied OpTime: {their_op}, my last applied OpTime: {mine}"
            ))
        } else if !dry_run && self.last_vote.0 >= term {
            let who = usize::try_from(self.last_vote.1)
                .ok()
                .and_then(|i| cfg.members.get(i))
                .map(|m| m.host.to_string())
                .unwrap_or_default();
            Some(format!(
                "already voted for another candidate ({who}) this term ({})",
                self.last_vote.0
            ))
        } else {
            None
        };
        let granted = refuse.is_none();
        if granted && !dry_run {
            self.last_vote = (term, candidate);
            self.persist();
            // mongo: a granted vote pushes our own election back.
            self.reschedule_election(Instant::now());
        }
        eprintln!(
            "mongo-sim: vote request term {term} from member {candidate} (dry run {dry_run}): {}",
            refuse.as_deref().unwrap_or("granted")
        );
        let mut out = doc! {"term": self.term, "voteGranted": granted};
        out.insert("reason", refuse.unwrap_or_default());
        Ok(out)
    }

    /// mongo: replSetUpdatePosition: a secondary reports what it has applied.
    pub fn update_position(&mut self, args: &Document) -> Result<Document, CmdError> {
        self.check_repl_enabled()?;
        let now = Instant::now();
        if let Ok(list) = args.get_array("optimes") {
            for d in list.iter().filter_map(|b| b.as_document()) {
                let id = i64_of(d, "memberId").unwrap_or(-1);
                let Some(i) = self
                    .config
                    .as_ref()
                    .and_then(|c| c.members.iter().position(|m| m.id == id))
                else {
                    continue;
                };
                if let (Some(p), Some(op)) = (
                    self.peers.get_mut(i),
                    OpTime::from_bson(d.get("appliedOpTime")),
                ) {
                    if op > p.applied {
                        p.applied = op;
                    }
                    p.last_update = now;
                }
            }
        }
        self.advance_commit_point();
        Ok(Document::new())
    }

    /// The majority commit point: the newest optime a majority of voting data-bearing
    /// members hold, only ever in the current term.
    pub fn advance_commit_point(&mut self) {
        let (Some(cfg), Some(me)) = (self.config.as_ref(), self.self_index) else {
            return;
        };
        if self.state != MemberState::Primary {
            return;
        }
        let mut ops: Vec<OpTime> = cfg
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_voter() && !m.arbiter_only)
            .map(|(i, _)| {
                if i == me {
                    self.applied()
                } else {
                    self.peers.get(i).map_or(OpTime::NULL, |p| p.applied)
                }
            })
            .collect();
        let need = cfg.majority_vote_count().min(ops.len()).max(1);
        ops.sort_by(|a, b| b.cmp(a));
        let candidate = ops[need - 1];
        if candidate.t == self.term && candidate > self.commit_point {
            self.commit_point = candidate;
        }
    }

    /// Data-bearing members (this one included) known to hold `target`.
    pub fn replicated_to(&self, target: OpTime) -> usize {
        let me = self.self_index;
        let mut n = usize::from(self.applied() >= target);
        for (i, p) in self.peers.iter().enumerate() {
            if Some(i) != me && p.applied >= target {
                n += 1;
            }
        }
        n
    }

    /// Voters this primary has heard from within the election timeout (itself included).
    pub fn visible_voters(&self, now: Instant) -> usize {
        let (Some(cfg), Some(me)) = (self.config.as_ref(), self.self_index) else {
            return 0;
        };
        let t = self.election_timeout();
        cfg.members
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.is_voter()
                    && (*i == me
                        || self
                            .peers
                            .get(*i)
                            .is_some_and(|p| now.duration_since(p.last_update) < t))
            })
            .count()
    }

    /// The member to pull the oplog from: the primary, when healthy (a simplification of
    /// mongo's sync source selection, topology_coordinator.cpp chooseNewSyncSource).
    pub fn choose_sync_source(&mut self) -> Option<(usize, HostPort)> {
        let i = match self.state {
            MemberState::Secondary | MemberState::Startup2 => self.primary_index(),
            _ => None,
        };
        self.sync_source = i;
        let cfg = self.config.as_ref()?;
        i.map(|i| (i, cfg.members[i].host.clone()))
    }
}

/// mongo: member_state.h toString.
pub fn state_name(code: i32) -> &'static str {
    match code {
        0 => "STARTUP",
        1 => "PRIMARY",
        2 => "SECONDARY",
        3 => "RECOVERING",
        5 => "STARTUP2",
        6 => "UNKNOWN",
        7 => "ARBITER",
        8 => "(not reachable/healthy)",
        9 => "ROLLBACK",
        10 => "REMOVED",
        _ => "UNKNOWN",
    }
}

/// Whether a reply of a config parse reaches the members list (used by quorum checks).
pub fn hosts_of(doc: Option<&Document>) -> Vec<HostPort> {
    let Some(Ok(members)) = doc.map(|d| d.get_array("members")) else {
        return Vec::new();
    };
    members
        .iter()
        .filter_map(|m| m.as_document()?.get_str("host").ok())
        .filter_map(|h| HostPort::parse(h).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Timestamp;

    /// Member 0 of a three-member set, initiated (the others "answered" the quorum check).
    fn member0() -> Repl {
        let mut r = Repl::new(
            Some("rs0".into()),
            vec!["a".into()],
            27017,
            "a:27017".into(),
            Duration::from_secs(1),
            None,
        );
        let reach: crate::repl::Reach = [("b:27017", Ok(())), ("c:27017", Ok(()))]
            .into_iter()
            .map(|(h, r)| (h.to_string(), r))
            .collect();
        let cfg = doc! {"_id": "rs0", "members": [
        {"_id": 0, "host": "a:27017"}, {"_id": 1, "host": "b:27017"},
        {"_id": 2, "host": "c:27017", "priority": 0}]};
        r.initiate(Some(&cfg), &reach).unwrap();
        r.last_applied = (
            Timestamp {
                time: 100,
                increment: 1,
            },
            1,
        );
        r.term = 1;
        r
    }

    fn ask(r: &mut Repl, term: i64, dry: bool, op: (u32, i64)) -> (bool, String) {
        let d = r
            .process_request_votes(&doc! {
                "replSetRequestVotes": 1, "setName": "rs0", "dryRun": dry, "term": term,
                "candidateIndex": 1i64, "configVersion": 1i64, "configTerm": 0i64,
                "lastAppliedOpTime": {"ts": Timestamp{time: op.0, increment: 1}, "t": op.1},
            })
            .unwrap();
        (
            d.get_bool("voteGranted").unwrap(),
            d.get_str("reason").unwrap().to_owned(),
        )
    }

    #[test]
    fn votes_follow_the_servers_rules_in_order() {
        let mut r = member0();
        let (yes, why) = ask(&mut r, 0, false, (200, 1));
        assert!(!yes && why.starts_with("candidate's term (0) is lower than mine (1)"));
        let (yes, why) = ask(&mut r, 2, true, (50, 1));
        assert!(
            !yes && why.starts_with("candidate's data is staler than mine"),
            "{why}"
        );
        // A dry run grants without recording the vote, nor moving the term.
        assert!(ask(&mut r, 2, true, (100, 1)).0);
        assert_eq!(r.term, 1);
        assert!(ask(&mut r, 2, false, (100, 1)).0);
        assert_eq!((r.term, r.last_vote), (2, (2, 1)));
        let (yes, why) = ask(&mut r, 2, false, (100, 1));
        assert!(
            !yes && why.starts_with("already voted for another candidate (b:27017) this term (2)")
        );
    }

    #[test]
    fn a_primary_that_sees_a_higher_term_steps_down() {
        let mut r = member0();
        r.state = MemberState::Primary;
        assert!(r.update_term(5));
        assert_eq!(r.state, MemberState::Secondary);
        assert_eq!(r.term, 5);
    }

    #[test]
    fn the_commit_point_is_the_majoritys_optime_in_the_current_term() {
        let mut r = member0();
        r.state = MemberState::Primary;
        let at = |time| OpTime {
            ts: Timestamp { time, increment: 1 },
            t: 1,
        };
        r.last_applied = (at(300).ts, 1);
        r.peers[1].applied = at(200);
        r.peers[2].applied = at(100);
        r.advance_commit_point();
        assert_eq!(r.commit_point, at(200));
        // An optime of an older term never becomes the commit point.
        r.term = 2;
        r.peers[2].applied = at(300);
        r.advance_commit_point();
        assert_eq!(r.commit_point, at(200));
        assert_eq!(r.replicated_to(at(300)), 2);
    }

    #[test]
    fn priority_zero_never_stands_and_a_lone_primary_steps_down() {
        let mut r = member0();
        let now = Instant::now();
        if let Some(c) = r.config.as_mut() {
            c.members[0].priority = 0.0;
        }
        r.state = MemberState::Secondary;
        r.election_deadline = Some(now);
        assert!(!r.election_due(now));
        if let Some(c) = r.config.as_mut() {
            c.members[0].priority = 1.0;
        }
        assert!(r.election_due(now));
        r.state = MemberState::Primary;
        let later = now + r.election_timeout() + Duration::from_millis(1);
        r.tick(later);
        assert_eq!(r.state, MemberState::Secondary);
    }

    #[test]
    fn a_heartbeat_from_an_older_config_gets_ours() {
        let mut r = member0();
        let reply = r
            .process_heartbeat(&doc! {"replSetHeartbeat": "rs0", "configVersion": -2i64,
            "from": "b:27017", "term": 0i64})
            .unwrap();
        assert_eq!(reply.get_i64("configVersion"), Ok(1));
        assert!(reply.get_document("config").is_ok());
        let err = r
            .process_heartbeat(&doc! {"replSetHeartbeat": "other", "configVersion": 1i64})
            .unwrap_err();
        assert_eq!(err.code, 185);
    }
}
