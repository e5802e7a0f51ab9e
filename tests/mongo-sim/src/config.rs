//! Replica-set configuration documents: parsing (with the server's IDL error texts), validation
//! and serialisation as `replSetGetConfig` shows them.
//!
//! Sources:
//! - mongo: src/mongo/db/repl/repl_set_config.idl / member_config.idl (field names, defaults;
//!   IDL errors "BSON field 'X.y' is missing but a required field" and
//!   "BSON field 'X.y' is the wrong type 'T', expected type 'U'")
//! - mongo: src/mongo/db/repl/repl_set_config.cpp ReplSetConfig::_validate (member counts,
//!   duplicate _id / host, localhost mixing, voters, electable members, arbiters)
//! - mongo: src/mongo/db/repl/member_config.cpp (votes/priority/hidden rules; texts from memory
//!   of that file, see README "not confirmed")
//! - mongo: src/mongo/util/net/hostandport.cpp (default port 27017, isLocalHost)

use bson::oid::ObjectId;
use bson::{Bson, Document, doc};

pub const DEFAULT_PORT: u16 = 27017;
/// mongo: src/mongo/db/repl/repl_set_config.h kMaxMembers = 50, kMaxVotingMembers = 7.
const MAX_MEMBERS: usize = 50;
const MAX_VOTING_MEMBERS: usize = 7;

/// `host[:port]`, `[v6]:port`. Equality is on the host string and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn parse(s: &str) -> Result<HostPort, String> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let close = rest
                .find(']')
                .ok_or_else(|| format!("couldn't parse host and port from {s}"))?;
            let host = &rest[..close];
            let after = &rest[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("couldn't parse host and port from {s}")),
            };
            (host.to_string(), port)
        } else if s.matches(':').count() > 1 {
            // Bare IPv6 address without a port.
            (s.to_string(), None)
        } else if let Some((h, p)) = s.rsplit_once(':') {
            (h.to_string(), Some(p))
        } else {
            (s.to_string(), None)
        };
        if host.is_empty() {
            // mongo: hostandport.cpp "Empty host component parsing HostAndPort from ..."
            return Err(format!(
                "Empty host component parsing HostAndPort from \"{s}\""
            ));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u32>() {
                Ok(n) if n > 0 && n <= 65535 => n as u16,
                Ok(n) => {
                    return Err(format!(
                        "Port number {n} out of range parsing HostAndPort from \"{s}\""
                    ));
                }
                Err(_) => return Err(format!("Port must be a number, not \"{p}\"")),
            },
        };
        Ok(HostPort { host, port })
    }

    /// mongo: hostandport.cpp HostAndPort::isLocalHost.
    pub fn is_local_host(&self) -> bool {
        self.host == "localhost" || self.host.starts_with("127.") || self.host == "::1"
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: i64,
    pub host: HostPort,
    pub arbiter_only: bool,
    pub build_indexes: bool,
    pub hidden: bool,
    pub priority: f64,
    pub tags: Document,
    pub secondary_delay_secs: i64,
    pub votes: i64,
    /// mongo: member_config.h: a newly added voting member counts as votes:0 / priority:0 until
    /// it reaches SECONDARY; replSetGetConfig hides the field.
    pub newly_added: bool,
}

impl Member {
    pub fn effective_votes(&self) -> i64 {
        if self.newly_added { 0 } else { self.votes }
    }
    pub fn effective_priority(&self) -> f64 {
        if self.newly_added { 0.0 } else { self.priority }
    }
    pub fn is_voter(&self) -> bool {
        self.effective_votes() > 0
    }
    pub fn is_electable(&self) -> bool {
        !self.arbiter_only && self.effective_priority() > 0.0
    }

    fn to_bson(&self, include_newly_added: bool) -> Document {
        // Field order of rs.conf() members (mongo: member_config.idl serialisation).
        let mut d = doc! {
            "_id": self.id as i32,
            "host": self.host.to_string(),
            "arbiterOnly": self.arbiter_only,
            "buildIndexes": self.build_indexes,
            "hidden": self.hidden,
            "priority": bson_number(self.priority),
            "tags": self.tags.clone(),
            "secondaryDelaySecs": self.secondary_delay_secs,
            "votes": self.votes as i32,
        };
        if include_newly_added && self.newly_added {
            d.insert("newlyAdded", true);
        }
        d
    }
}

/// Whole numbers print as such in the shell; keep doubles as doubles (priority is a double).
fn bson_number(v: f64) -> Bson {
    Bson::Double(v)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub chaining_allowed: bool,
    pub heartbeat_interval_millis: i64,
    pub heartbeat_timeout_secs: i64,
    pub election_timeout_millis: i64,
    pub catch_up_timeout_millis: i64,
    pub catch_up_takeover_delay_millis: i64,
    pub get_last_error_modes: Document,
    pub replica_set_id: Option<ObjectId>,
}

impl Default for Settings {
    // mongo: repl_set_config.cpp kDefaultHeartbeatInterval 2000, kDefaultHeartbeatTimeoutPeriod
    // 10 s, kDefaultElectionTimeoutPeriod 10000, kDefaultCatchUpTimeoutPeriod -1 (infinite),
    // kDefaultCatchUpTakeoverDelay 30000, kDefaultChainingAllowed true.
    fn default() -> Self {
        Settings {
            chaining_allowed: true,
            heartbeat_interval_millis: 2000,
            heartbeat_timeout_secs: 10,
            election_timeout_millis: 10000,
            catch_up_timeout_millis: -1,
            catch_up_takeover_delay_millis: 30000,
            get_last_error_modes: Document::new(),
            replica_set_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RsConfig {
    pub id: String,
    pub version: i64,
    pub term: i64,
    pub write_concern_majority_journal_default: bool,
    pub members: Vec<Member>,
    pub settings: Settings,
}

/// `{version: V, term: T}` as the server prints ConfigVersionAndTerm.
/// mongo: src/mongo/db/repl/repl_set_config.h ConfigVersionAndTerm::toString.
pub fn version_and_term(version: i64, term: i64) -> String {
    format!("{{version: {version}, term: {term}}}")
}

/// mongo: repl_set_config.h ConfigVersionAndTerm::operator<: when both terms are set (not -1)
/// compare (term, version), else compare versions only.
pub fn vt_less(a: (i64, i64), b: (i64, i64)) -> bool {
    let (av, at) = a;
    let (bv, bt) = b;
    if at != -1 && bt != -1 {
        (at, av) < (bt, bv)
    } else {
        av < bv
    }
}

impl RsConfig {
    pub fn vt(&self) -> (i64, i64) {
        (self.version, self.term)
    }
    pub fn vt_string(&self) -> String {
        version_and_term(self.version, self.term)
    }

    pub fn voters(&self) -> usize {
        self.members.iter().filter(|m| m.is_voter()).count()
    }

    /// mongo: repl_set_config.cpp _calculateMajorities: voters / 2 + 1.
    pub fn majority_vote_count(&self) -> usize {
        self.voters() / 2 + 1
    }

    /// The document `replSetGetConfig` returns (newlyAdded hidden unless asked).
    pub fn to_bson(&self, include_newly_added: bool) -> Document {
        let members: Vec<Bson> = self
            .members
            .iter()
            .map(|m| Bson::Document(m.to_bson(include_newly_added)))
            .collect();
        let mut settings = doc! {
            "chainingAllowed": self.settings.chaining_allowed,
            "heartbeatIntervalMillis": self.settings.heartbeat_interval_millis as i32,
            "heartbeatTimeoutSecs": self.settings.heartbeat_timeout_secs as i32,
            "electionTimeoutMillis": self.settings.election_timeout_millis as i32,
            "catchUpTimeoutMillis": self.settings.catch_up_timeout_millis as i32,
            "catchUpTakeoverDelayMillis": self.settings.catch_up_takeover_delay_millis as i32,
            "getLastErrorModes": self.settings.get_last_error_modes.clone(),
            "getLastErrorDefaults": {"w": 1, "wtimeout": 0},
        };
        if let Some(id) = self.settings.replica_set_id {
            settings.insert("replicaSetId", id);
        }
        doc! {
            "_id": self.id.clone(),
            "version": self.version as i32,
            "term": self.term,
            "members": members,
            "protocolVersion": 1i64,
            "writeConcernMajorityJournalDefault": self.write_concern_majority_journal_default,
            "settings": settings,
        }
    }

    /// mongo: repl_set_config.cpp ReplSetConfig::_validate (BadValue reasons; callers wrap them).
    pub fn validate(&self) -> Result<(), String> {
        let n = self.members.len();
        if n > MAX_MEMBERS || n == 0 {
            // The double space is in the server's text.
            return Err(format!(
                "Replica set configuration contains {n} members, but must have at least 1 and no more than  {MAX_MEMBERS}"
            ));
        }
        let mut localhost = 0;
        let mut voters = 0;
        let mut arbiters = 0;
        let mut electable = 0;
        for (i, mi) in self.members.iter().enumerate() {
            if mi.host.is_local_host() {
                localhost += 1;
            }
            if mi.is_voter() {
                voters += 1;
            }
            if mi.arbiter_only {
                arbiters += 1;
            } else if mi.effective_priority() > 0.0 {
                electable += 1;
            }
            for (j, mj) in self.members.iter().enumerate() {
                if i == j {
                    continue;
                }
                if mi.id == mj.id {
                    return Err(format!(
                        "Found two member configurations with same _id field, members.{i}._id == members.{j}._id == {}",
                        mi.id
                    ));
                }
                if mi.host == mj.host {
                    return Err(format!(
                        "Found two member configurations with same host field, members.{i}.host == members.{j}.host == {}",
                        mi.host
                    ));
                }
            }
        }
        if localhost != 0 && localhost != n {
            return Err(format!(
                "Either all host names in a replica set configuration must be localhost references, or none must be; found {localhost} out of {n}"
            ));
        }
        if voters > MAX_VOTING_MEMBERS || voters == 0 {
            return Err(format!(
                "Replica set configuration contains {voters} voting members, but must be at least 1 and no more than {MAX_VOTING_MEMBERS}"
            ));
        }
        if electable == 0 {
            return Err("Replica set configuration must contain at least one non-arbiter member with priority > 0".into());
        }
        if arbiters > 1 {
            // "with with" is in the server's text.
            return Err("Multiple arbiters are not allowed unless all nodes were started with with --setParameter 'allowMultipleArbiters=true'".into());
        }
        Ok(())
    }

    /// mongo: repl_set_config_checks.cpp validateArbiterPriorities.
    pub fn validate_arbiter_priorities(&self) -> Result<(), String> {
        for m in &self.members {
            if m.arbiter_only && m.priority != 0.0 {
                return Err(format!(
                    "Member {} is an arbiter but has priority {}. Arbiter priority must be 0.",
                    m.host,
                    fmt_num(m.priority)
                ));
            }
        }
        Ok(())
    }
}

pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The server's BSON type names (mongo: src/mongo/bson/bsontypes.cpp typeName).
pub fn type_name(b: &Bson) -> &'static str {
    match b {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

fn missing(path: &str) -> String {
    format!("BSON field '{path}' is missing but a required field")
}

fn wrong_type(path: &str, got: &Bson, expected: &str) -> String {
    format!(
        "BSON field '{path}' is the wrong type '{}', expected type '{expected}'",
        type_name(got)
    )
}

/// The IDL's text for "safe" numeric fields; the misplaced quote is the server's.
fn wrong_number(path: &str, got: &Bson) -> String {
    format!(
        "BSON field '{path}' is the wrong type '{}', expected types '[long, int, decimal, double']",
        type_name(got)
    )
}

fn as_number(b: &Bson) -> Option<f64> {
    match b {
        Bson::Int32(v) => Some(*v as f64),
        Bson::Int64(v) => Some(*v as f64),
        Bson::Double(v) => Some(*v),
        Bson::Decimal128(d) => d.to_string().parse().ok(),
        _ => None,
    }
}

fn get_number(d: &Document, parent: &str, key: &str) -> Result<Option<f64>, String> {
    match d.get(key) {
        None => Ok(None),
        Some(b) => as_number(b)
            .map(Some)
            .ok_or_else(|| wrong_number(&format!("{parent}.{key}"), b)),
    }
}

fn get_bool(d: &Document, parent: &str, key: &str) -> Result<Option<bool>, String> {
    match d.get(key) {
        None => Ok(None),
        Some(Bson::Boolean(v)) => Ok(Some(*v)),
        Some(b) => match as_number(b) {
            Some(n) => Ok(Some(n != 0.0)),
            // safeBool accepts bool and numbers (text not re-verified against the IDL).
            None => Err(format!(
                "BSON field '{parent}.{key}' is the wrong type '{}', expected types '[bool, long, int, decimal, double']",
                type_name(b)
            )),
        },
    }
}

/// Parses a config document as the replSetInitiate / replSetReconfig commands receive it.
/// `force_term`: the term the server imposes (0 for initiate, current term or -1 for reconfig).
/// Errors are the parser's reasons; the callers wrap them in InvalidReplicaSetConfig (93).
pub fn parse(
    cfg: &Document,
    force_term: Option<i64>,
    default_replica_set_id: Option<ObjectId>,
) -> Result<RsConfig, String> {
    const P: &str = "ReplSetConfig";
    let id = match cfg.get("_id") {
        None => return Err(missing("ReplSetConfig._id")),
        Some(Bson::String(s)) => s.clone(),
        Some(b) => return Err(wrong_type("ReplSetConfig._id", b, "string")),
    };
    let version = match get_number(cfg, P, "version")? {
        None => return Err(missing("ReplSetConfig.version")),
        Some(v) => v as i64,
    };
    let term = match force_term {
        Some(t) => t,
        None => get_number(cfg, P, "term")?.map(|v| v as i64).unwrap_or(-1),
    };
    let wcmjd = get_bool(cfg, P, "writeConcernMajorityJournalDefault")?.unwrap_or(true);
    let members_raw = match cfg.get("members") {
        None => return Err(missing("ReplSetConfig.members")),
        Some(Bson::Array(a)) => a,
        Some(b) => return Err(wrong_type("ReplSetConfig.members", b, "array")),
    };
    let mut members = Vec::with_capacity(members_raw.len());
    for (i, m) in members_raw.iter().enumerate() {
        let m = match m {
            Bson::Document(d) => d,
            b => {
                return Err(wrong_type(
                    &format!("ReplSetConfig.members.{i}"),
                    b,
                    "object",
                ));
            }
        };
        members.push(parse_member(m)?);
    }
    let mut settings = Settings::default();
    match cfg.get("settings") {
        None => {}
        Some(Bson::Document(s)) => {
            const S: &str = "ReplSetConfigSettings";
            if let Some(v) = get_bool(s, S, "chainingAllowed")? {
                settings.chaining_allowed = v;
            }
            if let Some(v) = get_number(s, S, "heartbeatIntervalMillis")? {
                settings.heartbeat_interval_millis = v as i64;
            }
            if let Some(v) = get_number(s, S, "heartbeatTimeoutSecs")? {
                settings.heartbeat_timeout_secs = v as i64;
            }
            if let Some(v) = get_number(s, S, "electionTimeoutMillis")? {
                settings.election_timeout_millis = v as i64;
            }
            if let Some(v) = get_number(s, S, "catchUpTimeoutMillis")? {
                settings.catch_up_timeout_millis = v as i64;
            }
            if let Some(v) = get_number(s, S, "catchUpTakeoverDelayMillis")? {
                settings.catch_up_takeover_delay_millis = v as i64;
            }
            match s.get("getLastErrorModes") {
                None => {}
                Some(Bson::Document(d)) => settings.get_last_error_modes = d.clone(),
                Some(b) => {
                    return Err(wrong_type(
                        "ReplSetConfigSettings.getLastErrorModes",
                        b,
                        "object",
                    ));
                }
            }
            match s.get("replicaSetId") {
                None => {}
                Some(Bson::ObjectId(o)) => settings.replica_set_id = Some(*o),
                Some(b) => {
                    return Err(wrong_type(
                        "ReplSetConfigSettings.replicaSetId",
                        b,
                        "objectId",
                    ));
                }
            }
        }
        Some(b) => return Err(wrong_type("ReplSetConfig.settings", b, "object")),
    }
    if settings.replica_set_id.is_none() {
        settings.replica_set_id = default_replica_set_id;
    }
    Ok(RsConfig {
        id,
        version,
        term,
        write_concern_majority_journal_default: wcmjd,
        members,
        settings,
    })
}

fn parse_member(m: &Document) -> Result<Member, String> {
    const P: &str = "MemberConfig";
    let id = match get_number(m, P, "_id")? {
        None => return Err(missing("MemberConfig._id")),
        Some(v) => v as i64,
    };
    let host = match m.get("host") {
        None => return Err(missing("MemberConfig.host")),
        Some(Bson::String(s)) => HostPort::parse(s)?,
        Some(b) => return Err(wrong_type("MemberConfig.host", b, "string")),
    };
    // mongo: member_id.h MemberId: negative ids are rejected (text not re-verified).
    if id < 0 || id > i32::MAX as i64 {
        return Err(format!("_id field value of {id} is out of range."));
    }
    let arbiter_only = get_bool(m, P, "arbiterOnly")?.unwrap_or(false);
    let build_indexes = get_bool(m, P, "buildIndexes")?.unwrap_or(true);
    let hidden = get_bool(m, P, "hidden")?.unwrap_or(false);
    let votes = get_number(m, P, "votes")?.map(|v| v as i64).unwrap_or(1);
    let priority_given = get_number(m, P, "priority")?;
    // mongo: member_config.cpp: an arbiter's default priority 1 is lowered to 0.
    let priority = match priority_given {
        Some(p) => p,
        None if arbiter_only => 0.0,
        None => 1.0,
    };
    let secondary_delay_secs = get_number(m, P, "secondaryDelaySecs")?
        .map(|v| v as i64)
        .unwrap_or(0);
    let newly_added = get_bool(m, P, "newlyAdded")?.unwrap_or(false);
    let tags = match m.get("tags") {
        None => Document::new(),
        Some(Bson::Document(d)) => {
            for (k, v) in d {
                if !matches!(v, Bson::String(_)) {
                    return Err(format!(
                        "tags.{k} field has non-string value of type {}",
                        type_name(v)
                    ));
                }
            }
            d.clone()
        }
        Some(b) => return Err(wrong_type("MemberConfig.tags", b, "object")),
    };
    // mongo: member_config.cpp MemberConfig::MemberConfig checks (texts from memory).
    if votes != 0 && votes != 1 {
        return Err(format!("votes field value is {votes} but must be 0 or 1"));
    }
    if !(0.0..=1000.0).contains(&priority) {
        return Err(format!(
            "priority field value of {} is out of range",
            fmt_num(priority)
        ));
    }
    if arbiter_only && votes == 0 {
        return Err("arbiter must vote (cannot have 0 votes)".into());
    }
    if votes == 0 && priority != 0.0 {
        return Err("priority must be 0 when non-voting (votes:0)".into());
    }
    if hidden && priority != 0.0 {
        return Err("priority must be 0 when hidden=true".into());
    }
    if !build_indexes && priority != 0.0 {
        return Err("priority must be 0 when buildIndexes=false".into());
    }
    Ok(Member {
        id,
        host,
        arbiter_only,
        build_indexes,
        hidden,
        priority,
        tags,
        secondary_delay_secs,
        votes,
        newly_added,
    })
}

/// A close rendering of mongo's BSONObj::toString (used in a few error texts).
pub fn bson_to_string(d: &Document) -> String {
    fn val(b: &Bson) -> String {
        match b {
            Bson::String(s) => format!("\"{s}\""),
            Bson::Int32(v) => v.to_string(),
            Bson::Int64(v) => v.to_string(),
            Bson::Double(v) => {
                if v.fract() == 0.0 {
                    format!("{v:.1}")
                } else {
                    v.to_string()
                }
            }
            Bson::Boolean(v) => v.to_string(),
            Bson::Null => "null".into(),
            Bson::ObjectId(o) => format!("ObjectId('{o}')"),
            Bson::Document(d) => bson_to_string(d),
            Bson::Array(a) => {
                if a.is_empty() {
                    "[]".into()
                } else {
                    format!("[ {} ]", a.iter().map(val).collect::<Vec<_>>().join(", "))
                }
            }
            other => other.to_string(),
        }
    }
    if d.is_empty() {
        return "{}".into();
    }
    let parts: Vec<String> = d.iter().map(|(k, v)| format!("{k}: {}", val(v))).collect();
    format!("{{ {} }}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_defaults_and_v6() {
        assert_eq!(HostPort::parse("mongo").unwrap().to_string(), "mongo:27017");
        assert_eq!(HostPort::parse("mongo:27018").unwrap().port, 27018);
        assert_eq!(HostPort::parse("[::1]:5").unwrap().to_string(), "[::1]:5");
        assert!(HostPort::parse("::1").unwrap().is_local_host());
        assert!(HostPort::parse(":1").is_err());
    }

    #[test]
    fn missing_host_text() {
        let e = parse(
            &doc! {"_id": "rs0", "version": 1, "members": [{"_id": 0}]},
            Some(0),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "BSON field 'MemberConfig.host' is missing but a required field"
        );
    }

    #[test]
    fn wrong_type_texts() {
        let e = parse(&doc! {"_id": 5, "version": 1, "members": []}, Some(0), None).unwrap_err();
        assert_eq!(
            e,
            "BSON field 'ReplSetConfig._id' is the wrong type 'int', expected type 'string'"
        );
        let e = parse(
            &doc! {"_id": "a", "version": "1", "members": []},
            Some(0),
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("expected types '[long, int, decimal, double']"),
            "{e}"
        );
    }

    #[test]
    fn validate_rules() {
        let c = parse(
            &doc! {"_id": "rs0", "version": 1, "members": [
            {"_id": 0, "host": "localhost:27017"}, {"_id": 1, "host": "mongo:27017"}]},
            Some(0),
            None,
        )
        .unwrap();
        assert_eq!(
            c.validate().unwrap_err(),
            "Either all host names in a replica set configuration must be localhost references, or none must be; found 1 out of 2"
        );
        let c = parse(
            &doc! {"_id": "rs0", "version": 1, "members": [
            {"_id": 0, "host": "a"}, {"_id": 0, "host": "b"}]},
            Some(0),
            None,
        )
        .unwrap();
        assert_eq!(
            c.validate().unwrap_err(),
            "Found two member configurations with same _id field, members.0._id == members.1._id == 0"
        );
    }

    #[test]
    fn version_term_order() {
        assert!(vt_less((1, 0), (1, 1)));
        assert!(vt_less((5, 0), (1, 1)));
        assert!(!vt_less((2, 1), (1, 1)));
        assert!(vt_less((1, 1), (2, -1)));
        assert_eq!(version_and_term(1, 0), "{version: 1, term: 0}");
    }
}
