//! Command dispatch and replies.
//!
//! Sources:
//! - mongo: src/mongo/db/commands/hello_cmd.cpp (mongod hello / isMaster; helloOk; field set)
//! - mongo: src/mongo/db/repl/repl_set_commands.cpp (replSet* commands)
//! - mongo: src/mongo/db/commands.cpp CommandHelpers (error reply {ok: 0, errmsg, code,
//!   codeName}; "no such command: 'x'" CommandNotFound 59; admin-only commands →
//!   Unauthorized 13 "x may only be run against the admin database.")
//! - mongo: src/mongo/rpc/op_msg.cpp OpMsgRequest::getDatabase (40571 without $db)
//! - the data commands live in crate::crud

use std::time::{Duration, Instant};

use bson::{Bson, DateTime, Document, doc};

use crate::repl::CmdError;
use crate::sim::Sim;
use crate::wire::{MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE};

/// mongo: src/mongo/db/ops/write_ops.h kMaxWriteBatchSize.
pub const MAX_WRITE_BATCH_SIZE: i32 = 100_000;

/// Per-connection state.
pub struct Conn {
    pub id: i64,
    /// The first hello/isMaster has been answered (client metadata is then final).
    pub handshake_done: bool,
    /// The quorum check's answers for the command being run (replSetInitiate/Reconfig).
    pub reach: crate::repl::Reach,
}

pub fn error_reply(e: &CmdError) -> Document {
    doc! {"ok": 0.0, "errmsg": e.errmsg.clone(), "code": e.code, "codeName": e.code_name}
}

fn ok(mut d: Document) -> Document {
    d.insert("ok", 1.0);
    d
}

fn true_value(b: Option<&Bson>) -> bool {
    match b {
        None | Some(Bson::Null) | Some(Bson::Undefined) => false,
        Some(Bson::Boolean(v)) => *v,
        Some(Bson::Int32(v)) => *v != 0,
        Some(Bson::Int64(v)) => *v != 0,
        Some(Bson::Double(v)) => *v != 0.0,
        Some(_) => true,
    }
}

const ADMIN_ONLY: &[&str] = &[
    "listDatabases",
    "setFeatureCompatibilityVersion",
    "getParameter",
    "replSetInitiate",
    "replSetGetStatus",
    "replSetGetConfig",
    "replSetReconfig",
    "replSetHeartbeat",
    "replSetRequestVotes",
    "replSetUpdatePosition",
];

/// Runs one command. `db` is `$db` (OP_MSG) or the OP_QUERY namespace's database.
pub fn run(sim: &Sim, conn: &mut Conn, body: &Document, db: Option<&str>) -> Document {
    let Some(name) = body.keys().next().cloned() else {
        return error_reply(&CmdError::new(59, "CommandNotFound", "no such command: ''"));
    };
    let Some(db) = db else {
        return error_reply(&CmdError::new(
            40571,
            "Location40571",
            "OP_MSG requests require a $db argument",
        ));
    };
    let known = matches!(
        name.as_str(),
        "hello"
            | "isMaster"
            | "ismaster"
            | "ping"
            | "buildInfo"
            | "buildinfo"
            | "endSessions"
            | "simFault"
    ) || ADMIN_ONLY.contains(&name.as_str())
        || crate::crud::COMMANDS.contains(&name.as_str());
    if !known {
        return error_reply(&CmdError::new(
            59,
            "CommandNotFound",
            format!("no such command: '{name}'"),
        ));
    }
    if ADMIN_ONLY.contains(&name.as_str()) && db != "admin" {
        return error_reply(&CmdError::new(
            13,
            "Unauthorized",
            format!("{name} may only be run against the admin database."),
        ));
    }
    let result = match name.as_str() {
        "hello" => hello(sim, conn, body, false),
        "isMaster" | "ismaster" => hello(sim, conn, body, true),
        "ping" => Ok(Document::new()),
        "buildInfo" | "buildinfo" => Ok(build_info(&sim.release)),
        // mongo: src/mongo/db/commands/end_sessions_command.cpp: always ok.
        "endSessions" => Ok(Document::new()),
        "simFault" => sim_fault(sim, body),
        "replSetInitiate" => {
            let arg = match body.get("replSetInitiate") {
                Some(Bson::Document(d)) => Some(d),
                _ => None,
            };
            let res = sim.repl().initiate(arg, &conn.reach);
            drop(sim.ticked());
            res
        }
        // mongo: repl_set_commands.cpp CmdReplSetHeartbeat / CmdReplSetRequestVotes /
        // CmdReplSetUpdatePosition (the member-to-member commands, crate::members).
        "replSetHeartbeat" => sim.ticked().process_heartbeat(body),
        "replSetRequestVotes" => sim.ticked().process_request_votes(body),
        "replSetUpdatePosition" => sim.ticked().update_position(body),
        "replSetGetStatus" => {
            let r = sim.ticked();
            r.check_repl_enabled().and_then(|_| r.status())
        }
        "replSetGetConfig" => {
            let r = sim.ticked();
            r.check_repl_enabled().and_then(|_| {
                let cfg = r.config.as_ref().expect("checked");
                let mut d = doc! {"config": cfg.to_bson(false)};
                if true_value(body.get("commitmentStatus")) {
                    // mongo: processReplSetGetConfig: commitmentStatus only on the primary.
                    if r.state != crate::repl::MemberState::Primary {
                        return Err(CmdError::new(
                            10107,
                            "NotWritablePrimary",
                            "commitmentStatus is only supported on primary.",
                        ));
                    }
                    d.insert("commitmentStatus", true);
                }
                Ok(d)
            })
        }
        "replSetReconfig" => {
            let mut r = sim.repl();
            match r.check_repl_enabled() {
                Err(e) => Err(e),
                Ok(()) => match body.get("replSetReconfig") {
                    // mongo: CmdReplSetReconfig::run: errmsg without a code.
                    Some(Bson::Document(cfg)) => {
                        let force = true_value(body.get("force"));
                        r.reconfig(cfg, force, &conn.reach).map(|_| Document::new())
                    }
                    _ => return doc! {"ok": 0.0, "errmsg": "no configuration specified"},
                },
            }
        }
        _ => {
            let (primary, term) = {
                let r = sim.ticked();
                let primary = r.state == crate::repl::MemberState::Primary;
                (!r.is_repl_set() || primary, primary.then_some(r.term))
            };
            let mut data = sim.data();
            data.oplog_term = term;
            crate::crud::run(&mut data, &sim.release, &name, body, db, primary)
        }
    };
    match result {
        Ok(d) => ok(d),
        Err(e) => error_reply(&e),
    }
}

/// mongo: src/mongo/db/commands/hello_cmd.cpp CmdHello::run (mongod).
fn hello(sim: &Sim, conn: &mut Conn, body: &Document, legacy: bool) -> Result<Document, CmdError> {
    if body.contains_key("client") && conn.handshake_done {
        return Err(CmdError::new(
            186,
            "ClientMetadataCannotBeMutated",
            "The client metadata document may only be sent in the first hello",
        ));
    }
    conn.handshake_done = true;
    let mut out = Document::new();
    if true_value(body.get("helloOk")) {
        out.insert("helloOk", true);
    }
    sim.ticked().hello_fields(&mut out, legacy);
    // No `topologyVersion`: with it, drivers' monitors switch to the streaming protocol
    // (awaitable hello with maxAwaitTimeMS and exhaust replies, see the SDAM spec
    // "Streaming Protocol"); without it they poll, which this simulator supports fully.
    out.insert("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE);
    out.insert("maxMessageSizeBytes", MAX_MESSAGE_SIZE);
    out.insert("maxWriteBatchSize", MAX_WRITE_BATCH_SIZE);
    out.insert("localTime", DateTime::now());
    out.insert("logicalSessionTimeoutMinutes", 30);
    out.insert("connectionId", conn.id as i32);
    out.insert("minWireVersion", 0);
    out.insert("maxWireVersion", sim.release.max_wire_version());
    out.insert("readOnly", false);
    Ok(out)
}

/// mongo: src/mongo/db/commands/generic_servers.cpp CmdBuildInfo (fields of a 7.0 build;
/// gitVersion is a placeholder, see README). The version is the simulated release's.
fn build_info(release: &crate::version::Release) -> Document {
    let [major, minor, patch] = release.parts;
    doc! {
        "version": release.version.clone(),
        "gitVersion": "0000000000000000000000000000000000000000",
        "modules": [],
        "allocator": "tcmalloc",
        "javascriptEngine": "mozjs",
        "sysInfo": "deprecated",
        "versionArray": [major, minor, patch, 0],
        "bits": 64,
        "debug": false,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["devnull", "wiredTiger"],
    }
}

fn parse_duration(b: Option<&Bson>) -> Result<Option<Duration>, CmdError> {
    let bad = || {
        CmdError::new(
            2,
            "BadValue",
            "simFault: 'for' must be milliseconds or a duration string like \"2s\"",
        )
    };
    match b {
        None => Ok(None),
        Some(Bson::String(s)) => humantime::parse_duration(s).map(Some).map_err(|_| bad()),
        Some(Bson::Int32(v)) if *v >= 0 => Ok(Some(Duration::from_millis(*v as u64))),
        Some(Bson::Int64(v)) if *v >= 0 => Ok(Some(Duration::from_millis(*v as u64))),
        Some(Bson::Double(v)) if *v >= 0.0 => Ok(Some(Duration::from_millis(*v as u64))),
        Some(_) => Err(bad()),
    }
}

/// Simulator-only fault control; a real server answers this with CommandNotFound.
/// `{simFault: "dropConnections" | "stall" | "stallAfterHandshake" | "clear", for: DUR}`;
/// without `for` a fault stays on until `clear`.
fn sim_fault(sim: &Sim, body: &Document) -> Result<Document, CmdError> {
    let what = body.get_str("simFault").unwrap_or("");
    let dur = parse_duration(body.get("for"))?;
    let until =
        |d: Option<Duration>| Some(d.map_or(Instant::now() + FOREVER, |d| Instant::now() + d));
    let mut f = sim.faults();
    match what {
        "dropConnections" => f.drop_until = until(dur),
        "stall" => f.stall_until = until(dur),
        "stallAfterHandshake" => f.stall_after_handshake_until = until(dur),
        "clear" => *f = Default::default(),
        _ => {
            return Err(CmdError::new(
                2,
                "BadValue",
                "simFault must be one of dropConnections, stall, stallAfterHandshake, clear",
            ));
        }
    }
    eprintln!("mongo-sim: simFault {what} for {dur:?}");
    Ok(doc! {"simFault": what})
}

/// "Until further notice".
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
