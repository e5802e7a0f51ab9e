//! The replica set over the network: heartbeats to the other members, elections by
//! `replSetRequestVotes`, a secondary's oplog fetcher and initial sync, the quorum check of
//! `replSetInitiate` / `replSetReconfig`, and a primary's wait for `w: "majority"`. The rules
//! these act on live in crate::members; this module only moves messages and time.
//!
//! Sources (MongoDB server, src/mongo/db/repl/):
//! - replication_coordinator_impl_heartbeat.cpp (a heartbeat per member every
//!   heartbeatIntervalMillis, each bounded by heartbeatTimeoutSecs)
//! - replication_coordinator_impl_elect_v1.cpp, vote_requester.cpp (dry run at term + 1, then
//!   term + 1 with our own vote; a majority of voters wins; a reply with a higher term ends
//!   the election)
//! - oplog_fetcher.cpp (a `find` on `local.oplog.rs` from the last fetched `ts`, awaitData; the
//!   first entry must be ours, else OplogStartMissing), reporter.cpp (replSetUpdatePosition)
//! - initial_syncer.cpp, all_database_cloner.cpp, collection_cloner.cpp (clone every database
//!   but `local` after noting the source's newest oplog entry, then apply from there)
//! - check_quorum_for_config_change.cpp (initiate: every member answers a heartbeat)
//! - write_concern.cpp / replication_coordinator_impl.cpp _awaitReplication_inlock
//!   (`writeConcernError` WriteConcernFailed 64 `{wtimeout: true}` on timeout,
//!   PrimarySteppedDown 189 when the primary steps down while waiting)
//!
//! Simplification (README "Replica set across containers"): a secondary syncs from the
//! primary only (no chaining), and a member whose last entry is not on the primary (mongod
//! would roll back) resyncs from scratch; with `w: "majority"` writes the outcome is the same:
//! only writes never acknowledged to a majority are discarded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::config::HostPort;
use crate::oplog::{self, OpTime};
use crate::repl::{MemberState, Reach};
use crate::sim::Sim;
use crate::wire;

/// How often the replication loop looks at its clocks.
const LOOP_TICK: Duration = Duration::from_millis(50);
/// How long an oplog `find` with awaitData may wait for a new entry.
const AWAIT_DATA_MAX: Duration = Duration::from_secs(2);
/// The longest a `w: "majority"` write waits without a `wtimeout` (drivers time out first).
const WRITE_CONCERN_MAX: Duration = Duration::from_secs(60);

/// Sends one command to `host` on a fresh connection and returns its reply; a failed
/// command (`ok: 0`) is an error with its errmsg.
pub async fn call(host: &HostPort, body: &Document, timeout: Duration) -> Result<Document, String> {
    let addr = host.to_string();
    let work = async {
        let mut s = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("Error connecting to {addr} :: caused by :: {}", io_text(&e)))?;
        let _ = s.set_nodelay(true);
        let msg = wire::build_op_msg(1, 0, body, false);
        s.write_all(&msg)
            .await
            .map_err(|e| format!("Error sending to {addr} :: caused by :: {}", io_text(&e)))?;
        let reply = wire::read_message(&mut s)
            .await
            .map_err(|e| format!("{addr}: {}", e.0))?
            .ok_or_else(|| format!("{addr}: connection closed"))?;
        let req = wire::parse_op_msg(&reply).map_err(|e| format!("{addr}: {}", e.0))?;
        Ok::<Document, String>(req.body)
    };
    let reply = tokio::time::timeout(timeout, work).await.map_err(|_| {
        format!(
            "Couldn't get a connection within the time limit of {}ms",
            timeout.as_millis()
        )
    })??;
    let ok = match reply.get("ok") {
        Some(Bson::Double(v)) => *v == 1.0,
        Some(Bson::Int32(v)) => *v == 1,
        Some(Bson::Int64(v)) => *v == 1,
        Some(Bson::Boolean(v)) => *v,
        _ => false,
    };
    if ok {
        Ok(reply)
    } else {
        Err(reply
            .get_str("errmsg")
            .unwrap_or("command failed")
            .to_string())
    }
}

/// The OS error without Rust's "(os error N)" suffix: `Connection refused`.
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Starts the replication loops of a replica-set member.
pub fn spawn(sim: Arc<Sim>) {
    if !sim.repl().is_repl_set() {
        return;
    }
    tokio::spawn(heartbeat_loop(sim.clone()));
    tokio::spawn(fetch_loop(sim));
}

async fn heartbeat_loop(sim: Arc<Sim>) {
    loop {
        tokio::time::sleep(LOOP_TICK).await;
        let now = Instant::now();
        let (due, args, elect, config_from, timeout) = {
            let mut r = sim.ticked();
            let due = r.due_heartbeats(now);
            let elect = r.election_due(now);
            if elect {
                r.electing = true;
            }
            (
                due,
                r.heartbeat_args(),
                elect,
                r.config_from.take(),
                r.heartbeat_timeout(),
            )
        };
        for (i, host) in due {
            let (sim, args) = (sim.clone(), args.clone());
            tokio::spawn(async move {
                let t0 = Instant::now();
                let res = call(&host, &args, timeout).await;
                sim.repl()
                    .on_heartbeat(i, res, t0.elapsed(), Instant::now());
            });
        }
        if let Some(from) = config_from.and_then(|f| HostPort::parse(&f).ok()) {
            let sim = sim.clone();
            tokio::spawn(async move {
                if let Ok(reply) = call(&from, &args, timeout).await
                    && let Ok(cfg) = reply.get_document("config")
                {
                    sim.repl().install_config(cfg, Instant::now());
                }
            });
        }
        if elect {
            let sim = sim.clone();
            tokio::spawn(async move {
                let won = run_election(&sim).await;
                let mut r = sim.ticked();
                r.electing = false;
                if !won {
                    r.takeover_at = None;
                    r.reschedule_election(Instant::now());
                }
            });
        }
    }
}

/// Dry run, then the real election (mongo: replication_coordinator_impl_elect_v1.cpp).
async fn run_election(sim: &Arc<Sim>) -> bool {
    let (dry, timeout) = {
        let r = sim.repl();
        (r.vote_request(true), r.election_timeout())
    };
    let Some(dry) = dry else {
        return false;
    };
    eprintln!(
        "mongo-sim: conducting a dry run election to see if we could be elected. current term: {}",
        dry.term - 1
    );
    if !collect_votes(sim, &dry, timeout).await {
        return false;
    }
    let real = {
        let mut r = sim.repl();
        if r.state != MemberState::Secondary || r.term + 1 != dry.term {
            return false;
        }
        r.start_real_election();
        r.vote_request(false)
    };
    let Some(real) = real else {
        return false;
    };
    eprintln!("mongo-sim: running for election in term {}", real.term);
    if !collect_votes(sim, &real, timeout).await {
        return false;
    }
    let won = sim.repl().won_election(real.term, Instant::now());
    drop(sim.ticked());
    won
}

/// Sends the vote request to every other voter; true once a majority (our own vote
/// included) said yes (mongo: vote_requester.cpp VoteRequester::Algorithm).
async fn collect_votes(
    sim: &Arc<Sim>,
    req: &crate::members::VoteRequest,
    timeout: Duration,
) -> bool {
    let mut yes = 1usize;
    if yes >= req.needed {
        return true;
    }
    let mut set = JoinSet::new();
    for (i, host) in req.targets.clone() {
        let body = req.body.clone();
        set.spawn(async move { (i, call(&host, &body, timeout).await) });
    }
    while let Some(joined) = set.join_next().await {
        let Ok((i, res)) = joined else {
            continue;
        };
        let Ok(reply) = res else {
            continue;
        };
        let term = match reply.get("term") {
            Some(Bson::Int64(t)) => *t,
            Some(Bson::Int32(t)) => *t as i64,
            _ => -1,
        };
        let mut r = sim.repl();
        if let Some(p) = r.peers.get_mut(i) {
            p.last_update = Instant::now();
        }
        if term > req.term {
            r.update_term(term);
            return false;
        }
        if reply.get_bool("voteGranted").unwrap_or(false) {
            yes += 1;
            if yes >= req.needed {
                return true;
            }
        } else {
            eprintln!(
                "mongo-sim: no vote from member {i}: {}",
                reply.get_str("reason").unwrap_or("")
            );
        }
    }
    false
}

async fn fetch_loop(sim: Arc<Sim>) {
    loop {
        let source = sim.ticked().choose_sync_source();
        let Some((_, host)) = source else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let initial =
            sim.repl().state == MemberState::Startup2 || sim.data().last_op == OpTime::NULL;
        let res = if initial {
            initial_sync(&sim, &host).await
        } else {
            fetch_once(&sim, &host).await
        };
        if let Err(e) = res {
            eprintln!("mongo-sim: oplog fetcher from {host}: {e}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// One oplog batch from the sync source, applied, and our position reported.
async fn fetch_once(sim: &Arc<Sim>, host: &HostPort) -> Result<(), String> {
    let last = sim.data().last_op;
    let mut body = doc! {
        "find": oplog::COLL,
        "filter": {"ts": {"$gte": last.ts}},
        "sort": {"ts": 1},
        "batchSize": 5000,
        "singleBatch": true,
        "awaitData": true,
        "maxTimeMS": AWAIT_DATA_MAX.as_millis() as i64,
    };
    body.insert("$db", oplog::DB);
    let reply = call(host, &body, AWAIT_DATA_MAX + Duration::from_secs(5)).await?;
    let batch: Vec<Document> = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect())
        .unwrap_or_default();
    if batch.first().and_then(OpTime::from_doc) != Some(last) {
        eprintln!(
            "mongo-sim: OplogStartMissing: our last entry {last} is not on {host}; resyncing"
        );
        return initial_sync(sim, host).await;
    }
    if batch.len() < 2 {
        return Ok(());
    }
    {
        let mut d = sim.data();
        for e in &batch[1..] {
            d.apply_entry(e)?;
        }
        d.commit().map_err(|e| e.errmsg)?;
    }
    report_position(sim, host).await
}

/// mongo: reporter.cpp: replSetUpdatePosition to the sync source.
async fn report_position(sim: &Arc<Sim>, host: &HostPort) -> Result<(), String> {
    let body = {
        let r = sim.ticked();
        let Some(me) = r.self_member() else {
            return Ok(());
        };
        let op = r.applied().to_doc();
        let mut b = doc! {
            "replSetUpdatePosition": 1,
            "optimes": [{
                "appliedOpTime": op.clone(),
                "durableOpTime": op,
                "memberId": me.id,
                "cfgver": r.config.as_ref().map_or(-1, |c| c.version),
                "appliedWallTime": r.last_applied_wall,
                "durableWallTime": r.last_applied_wall,
            }],
        };
        b.insert("$db", "admin");
        b
    };
    call(host, &body, Duration::from_secs(5)).await.map(|_| ())
}

/// Every document of one collection (find, then getMore until the cursor is exhausted).
async fn clone_collection(host: &HostPort, db: &str, coll: &str) -> Result<Vec<Document>, String> {
    let t = Duration::from_secs(30);
    let mut body = doc! {"find": coll, "batchSize": i32::MAX};
    body.insert("$db", db);
    let mut reply = call(host, &body, t).await?;
    let mut out = Vec::new();
    let mut key = "firstBatch";
    loop {
        let cursor = reply.get_document("cursor").map_err(|e| e.to_string())?;
        if let Ok(b) = cursor.get_array(key) {
            out.extend(b.iter().filter_map(|d| d.as_document().cloned()));
        }
        let id = cursor.get_i64("id").unwrap_or(0);
        if id == 0 {
            return Ok(out);
        }
        let mut more = doc! {"getMore": id, "collection": coll};
        more.insert("$db", db);
        reply = call(host, &more, t).await?;
        key = "nextBatch";
    }
}

fn batch_of(reply: &Document) -> Vec<Document> {
    reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect())
        .unwrap_or_default()
}

/// Initial sync: note the source's newest oplog entry, clone every database but `local`,
/// then the oplog fetcher applies from that entry on (idempotently).
async fn initial_sync(sim: &Arc<Sim>, host: &HostPort) -> Result<(), String> {
    let t = Duration::from_secs(30);
    eprintln!("mongo-sim: initial sync from {host}");
    let started = Instant::now();
    let mut q = doc! {"find": oplog::COLL, "sort": {"ts": -1}, "limit": 1, "singleBatch": true};
    q.insert("$db", oplog::DB);
    let newest = batch_of(&call(host, &q, t).await?)
        .into_iter()
        .next()
        .ok_or("the sync source's oplog is empty")?;
    let at = OpTime::from_doc(&newest).ok_or("oplog entry without ts")?;
    let mut l = doc! {"listDatabases": 1, "nameOnly": true};
    l.insert("$db", "admin");
    let dbs: Vec<String> = call(host, &l, t)
        .await?
        .get_array("databases")
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_document()?.get_str("name").ok().map(String::from))
                .filter(|n| n != oplog::DB)
                .collect()
        })
        .unwrap_or_default();
    let mut cloned: Vec<(String, String, Vec<Document>, Vec<Document>)> = Vec::new();
    for db in &dbs {
        let mut lc = doc! {"listCollections": 1, "nameOnly": true};
        lc.insert("$db", db.as_str());
        for c in batch_of(&call(host, &lc, t).await?) {
            let Ok(coll) = c.get_str("name") else {
                continue;
            };
            let mut li = doc! {"listIndexes": coll};
            li.insert("$db", db.as_str());
            let indexes = batch_of(&call(host, &li, t).await?);
            let docs = clone_collection(host, db, coll).await?;
            cloned.push((db.clone(), coll.to_string(), indexes, docs));
        }
    }
    let n: usize = cloned.iter().map(|c| c.3.len()).sum();
    {
        let mut d = sim.data();
        d.store.drop_replicated();
        for (db, coll, indexes, docs) in cloned {
            let ns = format!("{db}.{coll}");
            d.store
                .replicate(doc! {"o": "c", "ns": ns.clone(), "indexes": indexes});
            for doc in docs {
                d.store
                    .replicate(doc! {"o": "i", "ns": ns.clone(), "d": doc});
            }
        }
        d.start_oplog_at(newest, at);
        d.commit().map_err(|e| e.errmsg)?;
    }
    {
        let mut r = sim.ticked();
        if r.state == MemberState::Startup2 {
            r.state = MemberState::Secondary;
            r.reschedule_election(Instant::now());
        }
    }
    eprintln!(
        "mongo-sim: initial sync done: {n} documents in {} databases in {:?}, oplog from {at}",
        dbs.len(),
        started.elapsed()
    );
    report_position(sim, host).await
}

/// The quorum check's heartbeats: how each proposed member (but this one) answered.
pub async fn reach(sim: &Arc<Sim>, body: &Document) -> Reach {
    let name = body.keys().next().cloned().unwrap_or_default();
    let proposed = match body.get(&name) {
        Some(Bson::Document(d)) => Some(d),
        _ => None,
    };
    let hosts = crate::members::hosts_of(proposed);
    let version = proposed
        .and_then(|d| d.get("version"))
        .and_then(|v| v.as_i32().map(i64::from).or_else(|| v.as_i64()))
        .unwrap_or(1);
    let (args, timeout) = {
        let r = sim.repl();
        let mut a = r.heartbeat_args();
        a.insert("configVersion", version);
        a.insert("from", "");
        a.insert("fromId", -1i64);
        (a, r.heartbeat_timeout())
    };
    let mut set = JoinSet::new();
    for h in hosts {
        if sim.repl().is_self(&h) {
            continue;
        }
        let a = args.clone();
        set.spawn(async move {
            let r = call(&h, &a, timeout).await.map(|_| ());
            (h.to_string(), r)
        });
    }
    let mut out = Reach::new();
    while let Some(Ok((h, r))) = set.join_next().await {
        out.insert(h, r);
    }
    out
}

/// An oplog `find` with awaitData waits (bounded by maxTimeMS) for an entry newer than the
/// one asked from (mongo: the tailable awaitData cursor the oplog fetcher holds).
pub async fn await_oplog(sim: &Sim, body: &Document, db: Option<&str>) {
    if db != Some(oplog::DB)
        || body.get_str("find") != Ok(oplog::COLL)
        || !body.get_bool("awaitData").unwrap_or(false)
    {
        return;
    }
    let from = body
        .get_document("filter")
        .and_then(|f| f.get_document("ts"))
        .and_then(|t| t.get_timestamp("$gte"));
    let Ok(from) = from else {
        return;
    };
    let max = body
        .get_i64("maxTimeMS")
        .map(|m| Duration::from_millis(m.max(0) as u64))
        .unwrap_or(AWAIT_DATA_MAX)
        .min(AWAIT_DATA_MAX);
    let until = Instant::now() + max;
    while Instant::now() < until {
        let newest = sim.data().last_op.ts;
        if (newest.time, newest.increment) > (from.time, from.increment) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// After a write on a primary of several voters: waits for its write concern
/// (default `w: "majority"`, the implicit default since 5.0) and returns the
/// `writeConcernError` to add to the reply, if any.
pub async fn await_write_concern(sim: &Sim, body: &Document, target: OpTime) -> Option<Document> {
    let wc = body.get_document("writeConcern").ok();
    let w = wc.and_then(|d| d.get("w"));
    let need: Option<usize> = match w {
        None => None,
        Some(Bson::String(s)) if s == "majority" => None,
        Some(Bson::Int32(n)) => Some((*n).max(0) as usize),
        Some(Bson::Int64(n)) => Some((*n).max(0) as usize),
        Some(Bson::Double(n)) => Some(n.max(0.0) as usize),
        Some(_) => None,
    };
    if matches!(need, Some(0 | 1)) || !sim.repl().needs_votes() {
        return None;
    }
    let wtimeout = wc
        .and_then(|d| d.get("wtimeout"))
        .and_then(|v| v.as_i32().map(i64::from).or_else(|| v.as_i64()))
        .filter(|ms| *ms > 0)
        .map(|ms| Duration::from_millis(ms as u64));
    let until = Instant::now() + wtimeout.unwrap_or(WRITE_CONCERN_MAX);
    loop {
        {
            let r = sim.ticked();
            if r.state != MemberState::Primary {
                return Some(doc! {
                    "code": 189, "codeName": "PrimarySteppedDown",
                    "errmsg": "Primary stepped down while waiting for replication",
                });
            }
            let done = match need {
                None => r.commit_point() >= target,
                Some(n) => r.replicated_to(target) >= n,
            };
            if done {
                return None;
            }
        }
        if Instant::now() >= until {
            return Some(doc! {
                "code": 64, "codeName": "WriteConcernFailed",
                "errmsg": "waiting for replication timed out",
                "errInfo": {"wtimeout": true},
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
