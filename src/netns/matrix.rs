//! `probe --matrix`: from every running service, every other service — by name (DNS) and on
//! each port its clients use — with what should happen next to what did. Services that share
//! a network should resolve and answer; services that share none should not even resolve, so
//! broken isolation shows as loudly as a broken link.
//!
//! Which port to try: the ports the service declares (`EXPOSE`, compose `expose:`/`ports:`),
//! the `HOST:PORT` addresses written in its own healthcheck and `x-stackctl.ready` checks
//! (loopback or its own name), the addresses other services use to reach it (their commands,
//! environment and healthchecks, e.g. `MONGO_URL=mongodb://mongo:27017/...`), and failing all
//! those a well-known default of its image (MongoDB 27017, Rocket.Chat 3000, nginx 80). A
//! service with none of these is checked by name only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use serde::Serialize;

use super::locate::ServiceContainer;
use super::result::{ProbeResult, Verdict};

/// What a pair should show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// They share a network: the name resolves, the port answers.
    Reachable,
    /// They share no network: the name must not even resolve.
    Unresolvable,
}

impl Expect {
    fn as_str(self, dns: bool) -> &'static str {
        match (self, dns) {
            (Self::Reachable, true) => "resolved",
            (Self::Reachable, false) => "reachable",
            (Self::Unresolvable, _) => "unresolvable",
        }
    }
}

/// One check of the matrix: from a service, to another, by name or on a port.
#[derive(Debug, Clone)]
pub struct Pair {
    pub from: String,
    pub to: String,
    /// `dns://to` or `tcp://to:port`.
    pub target: String,
    pub port: Option<u16>,
    /// Networks both are declared on (the stack file; Docker's view without one).
    pub shared: Vec<String>,
    /// Networks Docker has both on.
    pub actual_shared: Vec<String>,
    /// `from` declares a dependency on `to`.
    pub depends_on: bool,
    pub expect: Expect,
    /// `to`'s own addresses, as Docker has them.
    pub docker_addresses: Vec<String>,
}

/// A service left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub service: String,
    pub reason: String,
}

/// The matrix's checks, and the services that cannot take part.
#[derive(Debug, Default)]
pub struct MatrixPlan {
    pub pairs: Vec<Pair>,
    pub skipped: Vec<Skipped>,
}

impl MatrixPlan {
    /// The services to probe from, each with its targets (in pair order).
    #[must_use]
    pub fn by_source(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in &self.pairs {
            out.entry(pair.from.clone())
                .or_default()
                .push(pair.target.clone());
        }
        out
    }
}

/// What the stack file says, when there is one: it decides what *should* happen.
#[derive(Debug, Default)]
pub struct Declared {
    /// Each service's `x-stackctl.ready` targets.
    pub ready: BTreeMap<String, Vec<String>>,
    /// Each service's dependencies.
    pub depends: BTreeMap<String, Vec<String>>,
    /// The networks each service is declared on (Docker's names). Without a stack file the
    /// containers' actual networks stand in, and isolation can only be judged against them.
    pub networks: Option<BTreeMap<String, BTreeSet<String>>>,
}

/// Plans the matrix from the containers Docker has and what the stack file declares.
#[must_use]
pub fn plan(containers: &BTreeMap<String, ServiceContainer>, declared: &Declared) -> MatrixPlan {
    let ready = &declared.ready;
    let depends = &declared.depends;
    let networks_of = |c: &ServiceContainer| -> BTreeSet<String> {
        declared
            .networks
            .as_ref()
            .and_then(|n| n.get(&c.service).cloned())
            .unwrap_or_else(|| c.networks.keys().cloned().collect())
    };
    let mut out = MatrixPlan::default();
    for (name, container) in containers {
        if !container.running() {
            let what = if container.job || container.exit_code == Some(0) {
                "a one-shot job"
            } else {
                "not running"
            };
            out.skipped.push(Skipped {
                service: name.clone(),
                reason: format!(
                    "{what} (`{}`): no network namespace to probe from or to",
                    container.state
                ),
            });
        }
    }
    let running: Vec<&ServiceContainer> = containers.values().filter(|c| c.running()).collect();
    for from in &running {
        for to in &running {
            if from.service == to.service {
                continue;
            }
            let shared: Vec<String> = networks_of(from)
                .intersection(&networks_of(to))
                .cloned()
                .collect();
            let expect = if shared.is_empty() {
                Expect::Unresolvable
            } else {
                Expect::Reachable
            };
            let depends_on = depends
                .get(&from.service)
                .unwrap_or(&from.depends_on)
                .contains(&to.service);
            let actual_shared: Vec<String> = from
                .networks
                .keys()
                .filter(|n| to.networks.contains_key(*n))
                .cloned()
                .collect();
            let docker_addresses: Vec<String> = to
                .networks
                .values()
                .filter_map(|endpoint| endpoint.ip.clone())
                .collect();
            let pair = |target: String, port: Option<u16>| Pair {
                from: from.service.clone(),
                to: to.service.clone(),
                target,
                port,
                shared: shared.clone(),
                actual_shared: actual_shared.clone(),
                depends_on,
                expect,
                docker_addresses: docker_addresses.clone(),
            };
            out.pairs.push(pair(format!("dns://{}", to.service), None));
            for port in ports_of(to, containers, ready) {
                out.pairs
                    .push(pair(format!("tcp://{}:{port}", to.service), Some(port)));
            }
        }
    }
    out
}

/// The ports worth trying on `to` (see the module's documentation).
#[must_use]
pub fn ports_of(
    to: &ServiceContainer,
    all: &BTreeMap<String, ServiceContainer>,
    ready: &BTreeMap<String, Vec<String>>,
) -> BTreeSet<u16> {
    let mut ports: BTreeSet<u16> = to.exposed.clone();
    let own_names: Vec<&str> = std::iter::once(to.service.as_str())
        .chain(
            to.networks
                .values()
                .flat_map(|e| e.aliases.iter().map(String::as_str)),
        )
        .chain(std::iter::once(to.name.as_str()))
        .collect();
    let own_words = to
        .healthcheck
        .iter()
        .chain(ready.get(&to.service).into_iter().flatten())
        .chain(&to.words);
    for word in own_words {
        for (host, port) in addresses_in(word) {
            let local = matches!(
                host.as_str(),
                "127.0.0.1" | "localhost" | "0.0.0.0" | "::1" | "[::1]"
            );
            if local || own_names.contains(&host.as_str()) {
                ports.insert(port);
            }
        }
    }
    for other in all.values().filter(|c| c.service != to.service) {
        let words = other
            .words
            .iter()
            .chain(&other.healthcheck)
            .chain(ready.get(&other.service).into_iter().flatten());
        for word in words {
            for (host, port) in addresses_in(word) {
                if own_names.contains(&host.as_str()) {
                    ports.insert(port);
                }
            }
        }
    }
    if ports.is_empty() {
        let image = to.image.to_ascii_lowercase();
        let known: &[(&str, u16)] = &[
            ("mongo", 27017),
            ("rocket.chat", 3000),
            ("rocketchat", 3000),
            ("nginx", 80),
            ("gitlab", 80),
        ];
        if let Some((_, port)) = known.iter().find(|(name, _)| image.contains(name)) {
            ports.insert(*port);
        }
    }
    ports
}

/// Every `HOST:PORT` written in `text` (URLs, URIs, bare addresses).
fn addresses_in(text: &str) -> Vec<(String, u16)> {
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        regex::Regex::new(
            r"(?:^|[\s/@,=(])(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9_][A-Za-z0-9_.-]*):(\d{1,5})\b",
        )
        .expect("a valid pattern")
    });
    pattern
        .captures_iter(text)
        .filter_map(|c| {
            let port: u16 = c[2].parse().ok().filter(|p| *p > 0)?;
            Some((c[1].to_owned(), port))
        })
        .collect()
}

/// One row of the finished matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub from: String,
    pub to: String,
    pub target: String,
    pub result: Verdict,
    pub expected: &'static str,
    pub as_expected: bool,
    pub depends_on: bool,
    pub shared_networks: Vec<String>,
    /// What `from`'s resolver answered for `to`'s name.
    pub answers: Vec<String>,
    /// `to`'s addresses as Docker has them.
    pub docker_addresses: Vec<String>,
    pub detail: String,
    pub latency_ms: f64,
}

impl Row {
    /// Judges a result against the pair's expectation.
    #[must_use]
    pub fn judge(pair: &Pair, result: &ProbeResult) -> Self {
        let dns = pair.port.is_none();
        let mut as_expected = match pair.expect {
            Expect::Reachable => result.result.ok(),
            Expect::Unresolvable => result.result == Verdict::Unresolvable,
        };
        let mut detail = result.detail.clone();
        if !as_expected && pair.expect == Expect::Unresolvable {
            let docker = if pair.actual_shared.is_empty() {
                String::new()
            } else {
                format!(" (Docker has both on {})", pair.actual_shared.join(", "))
            };
            detail = format!(
                "isolation broken: `{}` is {} from `{}`, which shares no network with it in the stack file{docker}",
                pair.to,
                result.result.as_str(),
                pair.from
            );
        }
        // A name that resolves to none of the service's addresses is stale or hijacked.
        if as_expected
            && dns
            && !pair.docker_addresses.is_empty()
            && !result.addresses.is_empty()
            && !result
                .addresses
                .iter()
                .any(|a| pair.docker_addresses.contains(a))
        {
            as_expected = false;
            detail = format!(
                "`{}` resolves to {} but Docker has it at {}",
                pair.to,
                result.addresses.join(", "),
                pair.docker_addresses.join(", ")
            );
        }
        Self {
            from: pair.from.clone(),
            to: pair.to.clone(),
            target: pair.target.clone(),
            result: result.result,
            expected: pair.expect.as_str(dns),
            as_expected,
            depends_on: pair.depends_on,
            shared_networks: pair.shared.clone(),
            answers: result.addresses.clone(),
            docker_addresses: pair.docker_addresses.clone(),
            detail,
            latency_ms: result.latency_ms,
        }
    }
}

/// The matrix as a table for people: one line per check, the unexpected ones marked `!`.
#[must_use]
pub fn render(rows: &[Row], skipped: &[Skipped]) -> String {
    let headers = [
        "", "FROM", "TO", "TARGET", "RESULT", "EXPECTED", "ANSWERS", "DOCKER", "NOTE",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let mut note = Vec::new();
            if r.depends_on {
                note.push("depends_on".to_owned());
            }
            if r.shared_networks.is_empty() {
                note.push("no shared network".to_owned());
            } else {
                note.push(format!("via {}", r.shared_networks.join(",")));
            }
            if !r.as_expected {
                note.push(r.detail.clone());
            }
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    v.join(",")
                }
            };
            [
                if r.as_expected { " " } else { "!" }.to_owned(),
                r.from.clone(),
                r.to.clone(),
                r.target.clone(),
                r.result.as_str().to_owned(),
                r.expected.to_owned(),
                list(&r.answers),
                list(&r.docker_addresses),
                note.join("; "),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |row: &[String]| {
        let mut text = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:w$} ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&headers.map(str::to_owned));
    for row in &cells {
        line(row);
    }
    for s in skipped {
        let _ = writeln!(out, "skipped: {}: {}", s.service, s.reason);
    }
    let unexpected = rows.iter().filter(|r| !r.as_expected).count();
    let sources: BTreeSet<&str> = rows.iter().map(|r| r.from.as_str()).collect();
    let _ = writeln!(
        out,
        "matrix: {} check{} from {} service{}: {} as expected, {unexpected} unexpected",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        rows.len() - unexpected,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::locate::Endpoint;
    use super::*;

    fn container(service: &str, nets: &[(&str, &str)], words: &[&str]) -> ServiceContainer {
        ServiceContainer {
            service: service.into(),
            name: format!("p-{service}-1"),
            state: "running".into(),
            networks: nets
                .iter()
                .map(|(n, ip)| {
                    (
                        (*n).to_owned(),
                        Endpoint {
                            ip: Some((*ip).to_owned()),
                            aliases: vec![service.to_owned()],
                        },
                    )
                })
                .collect(),
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            ..ServiceContainer::default()
        }
    }

    #[test]
    fn addresses_are_found_in_urls_uris_and_flags() {
        assert_eq!(
            addresses_in("mongodb://mongo:27017/rocketchat?replicaSet=rs0"),
            [("mongo".to_owned(), 27017)]
        );
        assert_eq!(
            addresses_in("http://127.0.0.1:3000/api/info"),
            [("127.0.0.1".to_owned(), 3000)]
        );
        assert_eq!(addresses_in("mongo:27017"), [("mongo".to_owned(), 27017)]);
        assert_eq!(addresses_in("[::1]:80"), [("[::1]".to_owned(), 80)]);
        assert!(
            addresses_in("12:30 is lunch time")
                .iter()
                .all(|(h, _)| h == "12")
        );
        assert!(addresses_in("no address here").is_empty());
    }

    #[test]
    fn ports_come_from_clients_own_checks_and_image_defaults() {
        let mut mongo = container("mongo", &[("back", "10.0.1.2")], &[]);
        mongo.healthcheck = vec![
            "CMD".into(),
            "/stackctl".into(),
            "--uri".into(),
            "mongodb://127.0.0.1:27017".into(),
        ];
        let chat = container(
            "chat",
            &[("back", "10.0.1.3"), ("front", "10.0.2.3")],
            &["mongodb://mongo:27017/rc?replicaSet=rs0"],
        );
        let mut web = container("web", &[("front", "10.0.2.4")], &[]);
        web.image = "nginx:1.27".into();
        let all = BTreeMap::from([
            ("mongo".to_owned(), mongo.clone()),
            ("chat".to_owned(), chat.clone()),
            ("web".to_owned(), web.clone()),
        ]);
        let ready = BTreeMap::from([(
            "chat".to_owned(),
            vec!["http://chat:3000/api/info".to_owned()],
        )]);
        assert_eq!(ports_of(&mongo, &all, &ready), BTreeSet::from([27017]));
        assert_eq!(ports_of(&chat, &all, &ready), BTreeSet::from([3000]));
        assert_eq!(ports_of(&web, &all, &ready), BTreeSet::from([80]));
    }

    #[test]
    fn pairs_on_no_shared_network_expect_unresolvable() {
        let mut db = container("db", &[("back", "10.0.1.2")], &[]);
        db.exposed = BTreeSet::from([5432]);
        let app = container("app", &[("back", "10.0.1.3"), ("front", "10.0.2.3")], &[]);
        let web = container("web", &[("front", "10.0.2.4")], &[]);
        let mut job = container("init", &[("back", "")], &[]);
        job.state = "exited".into();
        job.exit_code = Some(0);
        let all = BTreeMap::from([
            ("db".to_owned(), db),
            ("app".to_owned(), app),
            ("web".to_owned(), web),
            ("init".to_owned(), job),
        ]);
        let declared = Declared {
            depends: BTreeMap::from([("app".to_owned(), vec!["db".to_owned()])]),
            ..Declared::default()
        };
        let plan = plan(&all, &declared);
        let find = |from: &str, target: &str| {
            plan.pairs
                .iter()
                .find(|p| p.from == from && p.target == target)
                .unwrap_or_else(|| panic!("no {from} -> {target}"))
        };
        assert_eq!(find("web", "tcp://db:5432").expect, Expect::Unresolvable);
        assert_eq!(find("web", "dns://db").docker_addresses, ["10.0.1.2"]);
        let link = find("app", "tcp://db:5432");
        assert_eq!((link.expect, link.depends_on), (Expect::Reachable, true));
        assert_eq!(link.shared, ["back"]);
        assert_eq!(plan.skipped.len(), 1);
        assert!(plan.skipped[0].reason.starts_with("a one-shot job"));
        assert_eq!(
            plan.by_source()["web"],
            ["dns://app", "dns://db", "tcp://db:5432"]
        );
    }

    #[test]
    fn judging_flags_broken_isolation_and_stale_names() {
        let pair = Pair {
            from: "web".into(),
            to: "db".into(),
            target: "dns://db".into(),
            port: None,
            shared: vec![],
            actual_shared: vec!["back".into()],
            depends_on: false,
            expect: Expect::Unresolvable,
            docker_addresses: vec!["10.0.1.2".into()],
        };
        let resolved = ProbeResult {
            target: "dns://db".into(),
            check: "dns".into(),
            result: Verdict::Resolved,
            detail: "10.0.1.2".into(),
            addresses: vec!["10.0.1.2".into()],
            latency_ms: 1.0,
        };
        let leak = Row::judge(&pair, &resolved);
        assert!(!leak.as_expected);
        assert_eq!(
            leak.detail,
            "isolation broken: `db` is resolved from `web`, which shares no network with it in the stack file (Docker has both on back)"
        );
        let shared = Pair {
            shared: vec!["back".into()],
            expect: Expect::Reachable,
            ..pair
        };
        assert!(Row::judge(&shared, &resolved).as_expected);
        let stale = ProbeResult {
            addresses: vec!["10.9.9.9".into()],
            ..resolved
        };
        let row = Row::judge(&shared, &stale);
        assert!(!row.as_expected);
        assert!(
            row.detail.contains("Docker has it at 10.0.1.2"),
            "{}",
            row.detail
        );
        let text = render(&[row], &[]);
        assert!(text.lines().nth(1).unwrap().starts_with('!'), "{text}");
        assert!(text.ends_with("1 check from 1 service: 0 as expected, 1 unexpected\n"));
    }
}

#[cfg(test)]
mod declared_tests {
    use super::super::locate::Endpoint;
    use super::*;

    #[test]
    fn the_stack_file_decides_what_should_be_isolated() {
        let on = |service: &str, nets: &[&str]| ServiceContainer {
            service: service.into(),
            state: "running".into(),
            networks: nets
                .iter()
                .map(|n| ((*n).to_owned(), Endpoint::default()))
                .collect(),
            ..ServiceContainer::default()
        };
        // Docker has web on `back` too (someone connected it by hand); the file says `front`.
        let all = BTreeMap::from([
            ("db".to_owned(), on("db", &["p_back"])),
            ("web".to_owned(), on("web", &["p_front", "p_back"])),
        ]);
        let declared = Declared {
            networks: Some(BTreeMap::from([
                ("db".to_owned(), BTreeSet::from(["p_back".to_owned()])),
                ("web".to_owned(), BTreeSet::from(["p_front".to_owned()])),
            ])),
            ..Declared::default()
        };
        let planned = plan(&all, &declared);
        let pair = planned
            .pairs
            .iter()
            .find(|p| p.from == "web" && p.to == "db")
            .unwrap();
        assert_eq!(pair.expect, Expect::Unresolvable);
        let live = plan(&all, &Declared::default());
        let pair = live
            .pairs
            .iter()
            .find(|p| p.from == "web" && p.to == "db")
            .unwrap();
        assert_eq!(pair.expect, Expect::Reachable);
    }
}
