//! A real authoritative DNS server (hickory-server) on loopback, serving a small `test.` zone.
//!
//! | name                | type  | data                   |
//! |---------------------|-------|------------------------|
//! | `test.`             | SOA   | `ns.test. admin.test.` |
//! | `db.test.`          | A     | 10.0.0.5, 10.0.0.6     |
//! | `v6.test.`          | AAAA  | ::1                    |
//! | `alias.test.`       | CNAME | `db.test.`             |
//! | `_mongo._tcp.test.` | SRV   | `0 5 27017 db.test.`   |
//! | `txt.test.`         | TXT   | `v=stackctl1`          |

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, SOA, SRV, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};

const SERIAL: u32 = 1;
const TTL: u32 = 60;

/// Starts the DNS server on UDP and TCP `127.0.0.1:PORT` (the same port for both) and returns
/// that address. The server lives as long as the test process.
pub fn start() -> SocketAddr {
    let (udp, tcp) = bind_pair();
    let addr = udp.local_addr().expect("addr");
    udp.set_nonblocking(true).expect("nonblocking");
    tcp.set_nonblocking(true).expect("nonblocking");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut server = Server::new(catalog());
            server.register_socket(tokio::net::UdpSocket::from_std(udp).expect("tokio udp"));
            server.register_listener(
                tokio::net::TcpListener::from_std(tcp).expect("tokio listener"),
                Duration::from_secs(5),
                64,
            );
            let _ = ready_tx.send(());
            server.block_until_done().await.expect("dns server");
        });
    });
    // The sockets are bound already (queries would queue), but wait for the zone to be loaded.
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("dns server starts");
    addr
}

/// A UDP socket on loopback that never answers: queries to it go unread. Keep the socket alive
/// for as long as the test needs the silence.
pub fn silent() -> (std::net::UdpSocket, SocketAddr) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let addr = socket.local_addr().expect("addr");
    (socket, addr)
}

/// UDP on port 0, then TCP on the same port; another process may hold that TCP port, so retry.
fn bind_pair() -> (std::net::UdpSocket, std::net::TcpListener) {
    let mut last = None;
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let addr = udp.local_addr().expect("addr");
        match std::net::TcpListener::bind(addr) {
            Ok(tcp) => return (udp, tcp),
            Err(err) => last = Some(err),
        }
    }
    panic!("no loopback port free for both UDP and TCP: {last:?}");
}

fn name(text: &str) -> Name {
    Name::from_str(text).expect("valid name")
}

fn catalog() -> Catalog {
    let origin = name("test.");
    let mut zone: InMemoryZoneHandler =
        InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        name("ns.test."),
        name("admin.test."),
        SERIAL,
        3600,
        600,
        86_400,
        TTL,
    );
    let records = [
        (origin.clone(), RData::SOA(soa)),
        (name("db.test."), RData::A(A(Ipv4Addr::new(10, 0, 0, 5)))),
        (name("db.test."), RData::A(A(Ipv4Addr::new(10, 0, 0, 6)))),
        (name("v6.test."), RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))),
        (name("alias.test."), RData::CNAME(CNAME(name("db.test.")))),
        (
            name("_mongo._tcp.test."),
            RData::SRV(SRV::new(0, 5, 27017, name("db.test."))),
        ),
        (
            name("txt.test."),
            RData::TXT(TXT::new(vec!["v=stackctl1".to_owned()])),
        ),
    ];
    for (owner, data) in records {
        let record = Record::from_rdata(owner.clone(), TTL, data);
        assert!(
            zone.upsert_mut(record, SERIAL),
            "insert {owner} into the zone"
        );
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    catalog
}
