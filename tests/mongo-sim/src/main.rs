//! mongo-sim: a MongoDB server simulator for stackctl's tests.
//!
//! It speaks the wire protocol (OP_MSG, legacy OP_QUERY hello) and simulates one mongod:
//! standalone, or a replica-set member that can be initiated, elected, reconfigured, keeping
//! its documents in its data directory; several processes form a real replica set (they
//! heartbeat, vote and replicate over the wire: crate::net, crate::members). See README.md for the options, the fault controls and
//! the sources of each rule.

mod commands;
mod config;
mod crc;
mod crud;
mod members;
mod net;
mod oplog;
mod query;
mod repl;
mod sim;
mod startup;
mod store;
mod version;
mod wire;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use clap::Parser;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::commands::{Conn, FOREVER};
use crate::sim::{Faults, Sim};

#[derive(Parser, Debug)]
#[command(
    name = "mongo-sim",
    version,
    about = "MongoDB server simulator (wire protocol, hello, replica-set initiate/elections) for tests"
)]
struct Cli {
    /// TCP port to listen on; 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 27017)]
    port: u16,
    /// Address to bind (0.0.0.0 inside containers).
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Replica set name (absent: standalone). Like mongod, "name/seed,..." takes the name.
    #[arg(long = "replSet", alias = "repl-set", value_name = "NAME")]
    repl_set: Option<String>,
    /// A host name that maps to this node (repeatable). Default: localhost, 127.0.0.1, the
    /// machine's hostname and the bind address.
    #[arg(long = "host-name", value_name = "NAME")]
    host_name: Vec<String>,
    /// Start listening only after this long (a slow start), e.g. 3s.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    listen_delay: Option<Duration>,
    /// Time from SECONDARY to PRIMARY after initiate or restart.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = humantime::parse_duration)]
    election_delay: Duration,
    /// Persist the replica-set config (JSON) here; a restart with it comes up SECONDARY and
    /// is elected after --election-delay. Default with a data directory: DBPATH/replset.json.
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    /// The data directory (mongod's `--dbpath`). Default /data/db, as mongod's; when that
    /// default does not exist the documents are kept in memory only.
    #[arg(long, value_name = "DIR")]
    dbpath: Option<PathBuf>,
    /// The release simulated (buildInfo, maxWireVersion, the FCV rules): 5.0, 6.0, 7.0, 8.0, 8.2
    /// with an optional patch.
    #[arg(long, value_name = "X.Y.Z", env = "MONGO_SIM_VERSION", default_value = version::DEFAULT_VERSION)]
    server_version: String,
    /// Access control on (mongod's `--auth`, `security.authorization: enabled`); the official
    /// image's entrypoint adds it when MONGO_INITDB_ROOT_USERNAME and _PASSWORD are set, and so
    /// does the simulator. Only its start-up checks are simulated (see README "Start-up").
    #[arg(long)]
    auth: bool,
    /// The replica set's shared key (mongod's `--keyFile`, `security.keyFile`): read and checked
    /// at start-up as mongod reads it; it implies authorization.
    #[arg(long = "keyFile", alias = "key-file", value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The CPU flags the image's entrypoint reads (its AVX check on amd64); another file
    /// stands for another CPU in tests.
    #[arg(
        long,
        value_name = "FILE",
        env = "MONGO_SIM_CPUINFO",
        default_value = "/proc/cpuinfo"
    )]
    cpuinfo: PathBuf,
    /// For this long after listening, accept and immediately close every connection.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    drop_connections_for: Option<Duration>,
    /// Answer each connection's first hello, then read but never reply (a hung server).
    #[arg(long)]
    stall_after_handshake: bool,
    /// For this long after listening, hold every reply until the period ends.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    stall_for: Option<Duration>,
}

fn machine_hostname() -> Option<String> {
    for p in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(p) {
            let s = s.trim();
            if !s.is_empty() {
                return Some(s.to_string());
            }
        }
    }
    std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

/// The default data directory, as mongod's (src/mongo/db/storage/storage_options.h kDefaultDbPath).
const DEFAULT_DBPATH: &str = "/data/db";

/// Opens the data directory as mongod's start-up does: a missing explicit `--dbpath` exits 100
/// (NonExistentPath: a DBException out of initAndListen, ExitCode::uncaught = 100,
/// src/mongo/util/exit_code.h), data
/// whose FCV this release cannot read exits 62 (ExitCode::needDowngrade) with the fatal line
/// id 20573 "Wrong mongod version"; a fresh data directory gets FCV = this release.
fn open_data(cli: &Cli, release: &version::Release) -> (crud::Data, Option<PathBuf>) {
    let explicit = cli.dbpath.is_some();
    let dir = cli
        .dbpath
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DBPATH));
    if !dir.is_dir() {
        if explicit {
            startup::init_and_listen_failed(&format!(
                "NonExistentPath: Data directory {} not found. Create the missing directory or specify another path using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' option in the configuration file.",
                dir.display()
            ));
        }
        eprintln!(
            "mongo-sim: no data directory {}: documents are kept in memory only",
            dir.display()
        );
        let mut data = crud::Data::new(store::Store::in_memory());
        if let Err(e) = data.set_fcv(&release.fcv()) {
            eprintln!("mongo-sim: {}", e.errmsg);
        }
        return (data, None);
    }
    // The lock file first, then the storage engine's files (storage_engine_init.cpp).
    match startup::lock_data_directory(&dir) {
        // Held (flock) until the process ends, as mongod holds it.
        Ok(lock) => std::mem::forget(lock),
        Err(status) => startup::init_and_listen_failed(&status),
    }
    let store = match store::Store::open(&dir) {
        Ok(s) => s,
        Err(e) => startup::storage_open_failed(&e.file, e.op, &e.error),
    };
    let mut data = crud::Data::new(store);
    match data.fcv() {
        Some(fcv) if !release.readable_fcvs().contains(&fcv) => {
            startup::say(&[startup::log_line(
                "F",
                "CONTROL",
                20573,
                "initandlisten",
                "Wrong mongod version",
                Some(serde_json::json!({"error": release.wrong_version_error(&fcv)})),
            )]);
            std::process::exit(62);
        }
        Some(fcv) => eprintln!(
            "mongo-sim: data directory {}: featureCompatibilityVersion {fcv}",
            dir.display()
        ),
        None => {
            if let Err(e) = data.set_fcv(&release.fcv()) {
                eprintln!("mongo-sim: {}", e.errmsg);
                std::process::exit(100);
            }
        }
    }
    (data, Some(dir))
}

fn main() {
    let mut cli = Cli::parse();
    // The image's entrypoint, then mongod's option checks and its keyFile, before anything runs.
    let env = |k: &str| std::env::var(k).ok();
    match startup::initdb_root_user(
        env("MONGO_INITDB_ROOT_USERNAME").as_deref(),
        env("MONGO_INITDB_ROOT_PASSWORD").as_deref(),
    ) {
        Ok(root_user) => cli.auth |= root_user,
        Err(code) => std::process::exit(code),
    }
    if startup::avx_check(&cli.cpuinfo) {
        startup::illegal_instruction();
    }
    if let Err(status) =
        startup::check_auth_options(cli.repl_set.is_some(), cli.auth, cli.key_file.is_some())
    {
        startup::bad_options(&status);
    }
    if let Some(path) = &cli.key_file
        && let Err((code, name, msg)) = startup::read_key_file(path)
    {
        startup::key_file_failed(code, name, &msg);
    }
    if cli.auth || cli.key_file.is_some() {
        eprintln!(
            "mongo-sim: access control (--auth / --keyFile) passed mongod's start-up checks, but authentication is not simulated"
        );
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(serve(cli)) {
        eprintln!("mongo-sim: {e}");
        std::process::exit(1);
    }
}

async fn serve(cli: Cli) -> Result<(), String> {
    let release = version::Release::parse(&cli.server_version)?;
    let (data, dbpath) = open_data(&cli, &release);
    let state_file = cli
        .state_file
        .clone()
        .or_else(|| dbpath.as_ref().map(|d| d.join("replset.json")));
    if let Some(d) = cli.listen_delay {
        eprintln!("mongo-sim: waiting {d:?} before listening");
        tokio::time::sleep(d).await;
    }
    let addr = format!("{}:{}", cli.bind, cli.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let listening_at = Instant::now();

    let hostname = machine_hostname();
    let names = if cli.host_name.is_empty() {
        let mut n = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        n.extend(hostname.clone());
        if cli.bind != "0.0.0.0" && cli.bind != "::" && !n.contains(&cli.bind) {
            n.push(cli.bind.clone());
        }
        n
    } else {
        cli.host_name.clone()
    };
    // mongo: repl_set_commands.cpp someHostAndPortForMe: a loopback bind names itself, a
    // specific external address is used as given, 0.0.0.0 falls back to the OS hostname.
    let me_host = if is_loopback(&cli.bind) {
        cli.bind.clone()
    } else if cli.bind == "0.0.0.0" || cli.bind == "::" {
        hostname.clone().unwrap_or_else(|| "localhost".into())
    } else {
        cli.bind.clone()
    };
    let me_default = config::HostPort {
        host: me_host,
        port,
    }
    .to_string();
    let set_name = cli
        .repl_set
        .as_ref()
        .map(|s| s.split('/').next().unwrap_or("").to_string());
    let mut r = repl::Repl::new(
        set_name,
        names,
        port,
        me_default,
        cli.election_delay,
        state_file,
    );
    r.load()?;
    r.start_clock(listening_at);

    let faults = Faults {
        drop_until: cli.drop_connections_for.map(|d| listening_at + d),
        stall_until: cli.stall_for.map(|d| listening_at + d),
        stall_after_handshake_until: cli.stall_after_handshake.then(|| listening_at + FOREVER),
    };
    let sim = Arc::new(Sim::new(r, data, release, faults));
    spawn_signal_handlers(sim.clone());
    net::spawn(sim.clone());

    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "mongo-sim listening on {}:{}", cli.bind, port);
        let _ = out.flush();
    }
    eprintln!(
        "mongo-sim: {} {} on {}:{}",
        sim.release.version,
        match &cli.repl_set {
            Some(n) => format!("replica-set member of {n}"),
            None => "standalone".into(),
        },
        cli.bind,
        port
    );

    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("mongo-sim: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if Faults::on(sim.faults().drop_until) {
            eprintln!("mongo-sim: fault: dropping connection from {peer}");
            drop(stream);
            continue;
        }
        let sim = sim.clone();
        tokio::spawn(async move {
            handle_connection(sim, stream, peer).await;
        });
    }
}

#[cfg(unix)]
fn spawn_signal_handlers(sim: Arc<Sim>) {
    use tokio::signal::unix::{SignalKind, signal};
    // SIGTERM / SIGINT: a clean shutdown, exit 0, as mongod's (src/mongo/util/signal_handlers.cpp
    // → shutdown → ExitCode::clean). Every acknowledged write is already fsynced, so nothing is
    // left to flush; as PID 1 in a container an unhandled SIGTERM would be ignored and `docker
    // stop` would wait for its SIGKILL.
    for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
        let Ok(mut s) = signal(kind) else {
            continue;
        };
        tokio::spawn(async move {
            if s.recv().await.is_some() {
                eprintln!("mongo-sim: received a termination signal; shutting down");
                std::process::exit(0);
            }
        });
    }
    // SIGUSR1 toggles "drop connections", SIGUSR2 toggles "stall replies" (until toggled back).
    for (kind, which) in [
        (SignalKind::user_defined1(), "dropConnections"),
        (SignalKind::user_defined2(), "stall"),
    ] {
        let sim = sim.clone();
        let Ok(mut s) = signal(kind) else {
            continue;
        };
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                let mut f = sim.faults();
                let slot = if which == "stall" {
                    &mut f.stall_until
                } else {
                    &mut f.drop_until
                };
                let on = !Faults::on(*slot);
                *slot = on.then(|| Instant::now() + FOREVER);
                eprintln!(
                    "mongo-sim: signal: {which} {}",
                    if on { "on" } else { "off" }
                );
            }
        });
    }
}

#[cfg(not(unix))]
fn spawn_signal_handlers(_sim: Arc<Sim>) {}

/// Waits while the stall fault is on (re-checking, so clearing it releases the reply).
async fn wait_out_stall(sim: &Sim) {
    loop {
        let until = sim.faults().stall_until;
        match until {
            Some(t) if Instant::now() < t => {
                let left = t.saturating_duration_since(Instant::now());
                tokio::time::sleep(left.min(Duration::from_millis(50))).await;
            }
            _ => return,
        }
    }
}

async fn handle_connection(sim: Arc<Sim>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        id: sim.next_connection_id(),
        handshake_done: false,
        reach: Default::default(),
    };
    loop {
        let msg = match wire::read_message(&mut stream).await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                eprintln!("mongo-sim: conn{} {peer}: closing: {e}", conn.id);
                return;
            }
        };
        let reply = match msg.header.op_code {
            wire::OP_MSG => {
                let req = match wire::parse_op_msg(&msg) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("mongo-sim: conn{} {peer}: closing: {e}", conn.id);
                        return;
                    }
                };
                let is_fault_cmd = req.body.keys().next().is_some_and(|k| k == "simFault");
                if !is_fault_cmd {
                    if conn.handshake_done && Faults::on(sim.faults().stall_after_handshake_until) {
                        // A hung server: the request is read, no reply ever comes.
                        continue;
                    }
                    wait_out_stall(&sim).await;
                }
                let db = req.body.get_str("$db").ok().map(str::to_string);
                let name = req.body.keys().next().cloned().unwrap_or_default();
                if matches!(name.as_str(), "replSetInitiate" | "replSetReconfig")
                    && db.as_deref() == Some("admin")
                {
                    conn.reach = net::reach(&sim, &req.body).await;
                }
                net::await_oplog(&sim, &req.body, db.as_deref()).await;
                let mut reply = commands::run(&sim, &mut conn, &req.body, db.as_deref());
                if crud::is_write(&name) && reply.get_f64("ok") == Ok(1.0) {
                    let target = sim.data().last_op;
                    if let Some(wce) = net::await_write_concern(&sim, &req.body, target).await {
                        reply.insert("writeConcernError", wce);
                    }
                }
                // spec OP_MSG.md: moreToCome on a request → the server sends no reply.
                if req.flags & wire::FLAG_MORE_TO_COME != 0 {
                    continue;
                }
                let checksum = req.flags & wire::FLAG_CHECKSUM_PRESENT != 0;
                wire::build_op_msg(
                    sim.next_request_id(),
                    msg.header.request_id,
                    &reply,
                    checksum,
                )
            }
            wire::OP_QUERY => {
                let q = match wire::parse_op_query(&msg) {
                    Ok(q) => q,
                    Err(e) => {
                        eprintln!("mongo-sim: conn{} {peer}: closing: {e}", conn.id);
                        return;
                    }
                };
                if conn.handshake_done && Faults::on(sim.faults().stall_after_handshake_until) {
                    continue;
                }
                wait_out_stall(&sim).await;
                let reply = op_query(&sim, &mut conn, &q);
                wire::build_op_reply(sim.next_request_id(), msg.header.request_id, &reply)
            }
            other => {
                // Legacy opcodes removed from the server (OP_INSERT, OP_GET_MORE, ...) and
                // OP_COMPRESSED (never negotiated here) end the connection.
                eprintln!(
                    "mongo-sim: conn{} {peer}: closing: unsupported opCode {other}",
                    conn.id
                );
                return;
            }
        };
        if let Err(e) = stream.write_all(&reply).await {
            eprintln!("mongo-sim: conn{} {peer}: write failed: {e}", conn.id);
            return;
        }
    }
}

/// Legacy OP_QUERY: since 5.1 only hello/isMaster on `<db>.$cmd` are accepted.
/// mongo: src/mongo/db/service_entry_point_common.cpp checkAllowedOpQueryCommand
/// (UnsupportedOpQueryCommand 352).
fn op_query(sim: &Sim, conn: &mut Conn, q: &wire::OpQuery) -> Document {
    let (db, coll) = q
        .full_collection_name
        .split_once('.')
        .unwrap_or((q.full_collection_name.as_str(), ""));
    let cmd = match q.query.get("$query").or_else(|| q.query.get("query")) {
        Some(Bson::Document(d)) => d.clone(),
        _ => q.query.clone(),
    };
    let name = cmd.keys().next().cloned().unwrap_or_default();
    if coll == "$cmd" && matches!(name.as_str(), "hello" | "isMaster" | "ismaster") {
        return commands::run(sim, conn, &cmd, Some(db));
    }
    let what = if coll == "$cmd" {
        name
    } else {
        "find".to_string()
    };
    doc! {
        "ok": 0.0,
        "errmsg": format!("Unsupported OP_QUERY command: {what}. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal"),
        "code": 352,
        "codeName": "UnsupportedOpQueryCommand",
    }
}
