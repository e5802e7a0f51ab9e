//! Collecting the facts: Docker's view of every service's container (state, exit code, OOM
//! kill, restarts, health log, log tail, networks), the stack file's values that must agree
//! with what runs, and — from inside the stack's network — MongoDB and Rocket.Chat themselves.
//! Everything is asked at once; each Docker call and each wire observation is bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::facts::{Fact, Facts};
use super::inside::{FrontDoorProbe, GitlabProbe, Login, MongoProbe, Plan, RocketChatProbe};
use crate::engine::docker::DockerApi;
use crate::error::Error;
use crate::netns::locate::{self, ServiceContainer};
use crate::settings::Settings;
use crate::smoke::discover::Discovered;
use crate::stack::Stack;
use crate::target::MongoTarget;

/// How many log lines of each container are read (the rules match them, findings quote them).
pub const LOG_LINES: usize = 40;

/// The environment variables whose values the rules compare (never a secret's name: a value
/// is masked anyway, but these are what the rules need).
const COMPARED_VARIABLES: [&str; 3] = ["ROOT_URL", "MONGO_URL", "MONGO_OPLOG_URL"];

/// What Rocket.Chat logs at start when a user with the admin role exists and `ADMIN_PASS` is
/// set (apps/meteor/server/startup/initialData.ts, insertAdminUserFromEnv).
const ADMIN_ENV_IGNORED: &str = "Ignoring environment variables ADMIN_PASS";

/// What doctor saw.
pub struct Observation {
    pub facts: Facts,
    /// The services observed, in the stack file's order of dependencies.
    pub services: Vec<String>,
    /// Each service's dependencies (the stack file's `depends_on`, else compose's label).
    pub depends_on: BTreeMap<String, Vec<String>>,
    /// What could not be observed, and why (e.g. no running service to look from).
    pub unobserved: Vec<String>,
}

/// Observes the stack's project (only `only`'s services, and what they depend on, when named).
///
/// # Errors
/// When the daemon cannot be asked (exit 3: nothing could be observed) or the project has no
/// container at all.
pub async fn observe(
    stack: &Stack,
    docker: &DockerApi,
    only: &[String],
    timeout: Duration,
    settings: &Settings,
) -> Result<Observation, Error> {
    let containers = tokio::time::timeout(timeout * 2, locate::project(docker, &stack.project))
        .await
        .map_err(|_| {
            Error::timeout(format!(
                "the Docker daemon did not list project `{}` within {}",
                stack.project,
                crate::output::human_duration(timeout * 2)
            ))
        })?
        .map_err(|e| {
            Error::timeout(e.message().to_owned())
                .with_hint("is the Docker daemon running? (`docker info`)")
        })?;
    if containers.is_empty() {
        return Err(Error::timeout(format!(
            "project `{}` has no containers: there is nothing to diagnose",
            stack.project
        ))
        .with_hint("bring it up with `stackctl up`, or name the project with `-p`"));
    }
    let selected = crate::engine::plan::selection(stack, only)?;
    let mut services: Vec<String> = crate::engine::plan::levels(stack)
        .into_iter()
        .flatten()
        .filter(|s| selected.contains(s))
        .collect();
    // Containers of the project the stack file does not name (another file brought them up).
    if only.is_empty() {
        services.extend(
            containers
                .keys()
                .filter(|s| !stack.services.contains_key(*s))
                .cloned(),
        );
    }
    let mut depends_on = BTreeMap::new();
    let mut facts = Facts::default();
    // Rocket.Chat and its front door, found in the stack file as `smoke` finds them.
    let found = crate::smoke::discover::discover(stack);
    for service in &services {
        let deps: Vec<String> = match stack.services.get(service) {
            Some(s) => s.depends_on.keys().cloned().collect(),
            None => containers
                .get(service)
                .map(|c| c.depends_on.clone())
                .unwrap_or_default(),
        };
        depends_on.insert(service.clone(), deps);
        docker_facts(stack, service, containers.get(service), &mut facts);
        stack_facts(stack, &found, service, &mut facts);
    }
    let logs = futures_util::future::join_all(services.iter().filter_map(|service| {
        let container = containers.get(service)?;
        let since = log_start(container);
        Some(async move {
            let lines =
                tokio::time::timeout(timeout, docker.log_tail(&container.id, LOG_LINES, since))
                    .await
                    .unwrap_or_default();
            (service.clone(), lines)
        })
    }));
    // A service without a container: is the image it would be created from here at all?
    let images = futures_util::future::join_all(services.iter().filter_map(|service| {
        if containers.contains_key(service) {
            return None;
        }
        let image = stack.services.get(service)?.image.clone()?;
        Some(async move {
            let found = tokio::time::timeout(timeout, docker.image_id(&image)).await;
            (service.clone(), found)
        })
    }));
    // The logs first: what a service logged decides whether it is worth logging in as its
    // admin (R6), which has effects of its own (a refused attempt counts towards the
    // failed-login block; with email 2FA, a code is mailed).
    let (logs, images) = tokio::join!(logs, images);
    for (service, lines) in logs {
        if !lines.is_empty() {
            facts.add(Fact::new(&service, "docker.log", lines.join("\n")));
        }
    }
    let plan = plan(stack, &found, &services, &containers, &facts, timeout);
    let from = vantage(stack, &services, &containers, &plan);
    let inside = async {
        match &from {
            Some(from) if !plan.is_empty() => run_inside(
                docker,
                &stack.project,
                from,
                &containers,
                &plan,
                timeout,
                settings,
            )
            .await
            .map(|facts| (from.clone(), facts)),
            _ => Ok((String::new(), Vec::new())),
        }
    };
    let inside = inside.await;
    for (service, found) in images {
        if let Ok(Ok(found)) = found {
            let local = if found.is_some() { "present" } else { "absent" };
            facts.add(Fact::new(&service, "docker.image_local", local));
        }
    }
    let mut unobserved = Vec::new();
    match inside {
        Ok((from, observed)) => {
            for mut fact in observed {
                fact.from = Some(format!("from {from}'s network"));
                facts.add(fact);
            }
        }
        Err(e) => unobserved.push(format!(
            "MongoDB and Rocket.Chat from inside the stack: {}",
            e.one_line()
        )),
    }
    if from.is_none() && !plan.is_empty() {
        unobserved.push(
            "MongoDB and Rocket.Chat from inside the stack: no running service to look from"
                .to_owned(),
        );
    }
    tracing::debug!(facts = facts.len(), services = services.len(), "observed");
    Ok(Observation {
        facts,
        services,
        depends_on,
        unobserved,
    })
}

/// Where the log worth reading starts (unix seconds, 0 = all): a running container's current
/// process only — an error a previous run logged before it exited is history, and reading it
/// would blame a stack that recovered — but all of a stopped one's, whose last run is the story.
fn log_start(container: &ServiceContainer) -> i64 {
    if !container.running() {
        return 0;
    }
    container
        .started_at
        .as_deref()
        .and_then(|at| humantime::parse_rfc3339_weak(at.get(..19).unwrap_or(at)).ok())
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

/// Docker's view of one service's container.
fn docker_facts(
    stack: &Stack,
    service: &str,
    container: Option<&ServiceContainer>,
    facts: &mut Facts,
) {
    let Some(c) = container else {
        facts.add(Fact::new(service, "docker.state", "missing"));
        return;
    };
    let job = c.job
        || stack
            .services
            .get(service)
            .is_some_and(crate::stack::Service::is_job);
    let mut add = |key: &str, value: String| facts.add(Fact::new(service, key, value));
    add("docker.name", c.name.clone());
    add("docker.image", c.image.clone());
    add("docker.state", c.state.clone());
    add("docker.job", job.to_string());
    add("docker.restart_count", c.restart_count.to_string());
    add("docker.oom_killed", c.oom_killed.to_string());
    if let Some(code) = c.exit_code {
        add("docker.exit_code", code.to_string());
    }
    if let Some(health) = &c.health {
        add("docker.health", health.clone());
    }
    if let Some(output) = &c.health_output {
        add("docker.health_output", output.clone());
    }
    let networks: Vec<&str> = c.networks.keys().map(String::as_str).collect();
    add("docker.networks", networks.join(","));
    // A running container missing a network the stack gives it (disconnected by hand).
    if let Some(declared) = stack.services.get(service) {
        if c.running() && !networks.iter().any(|n| matches!(*n, "host" | "none")) {
            let missing: Vec<String> = crate::engine::container::networks(declared)
                .into_iter()
                .map(|(key, _)| crate::engine::labels::network_name(stack, &key))
                .filter(|name| !c.networks.contains_key(name))
                .collect();
            if !missing.is_empty() {
                let missing = missing.join(",");
                add("docker.networks_missing", missing);
            }
        }
    }
}

/// The stack file's values the rules compare with what runs.
fn stack_facts(stack: &Stack, found: &Discovered, service: &str, facts: &mut Facts) {
    let Some(declared) = stack.services.get(service) else {
        return;
    };
    if let Some(image) = &declared.image {
        facts.add(Fact::new(service, "stack.image", image.clone()));
    }
    for name in COMPARED_VARIABLES {
        if let Some(value) = declared.environment.get(name) {
            facts.add(Fact::new(
                service,
                &format!("stack.env.{name}"),
                value.clone(),
            ));
        }
    }
    facts.add(Fact::new(
        service,
        "stack.proxied",
        found.front_door.is_some().to_string(),
    ));
    // Who the stack logs in as administrator (the name only; the password is never a fact).
    if found.rocketchat.as_deref() == Some(service) {
        if let Some(user) = &found.admin_user {
            facts.add(Fact::new(service, "stack.admin_user", user.clone()));
        }
    }
    // ROOT_URL against what the front door serves: its scheme (TLS when it listens on 443)
    // and the name its configuration is rendered for (`DOMAIN`, compose/chat's nginx template).
    let (Some(root), Some(door)) = (
        declared
            .environment
            .get("ROOT_URL")
            .and_then(|r| url::Url::parse(r).ok()),
        &found.front_door,
    ) else {
        return;
    };
    let mut mismatches = Vec::new();
    let served = door.url.split("://").next().unwrap_or("http");
    if root.scheme() != served {
        mismatches.push(format!(
            "ROOT_URL is {}://, the front door `{}` serves {served}://",
            root.scheme(),
            door.service
        ));
    }
    let domain = stack
        .services
        .get(&door.service)
        .and_then(|s| s.environment.get("DOMAIN"))
        .filter(|d| !d.is_empty());
    if let (Some(domain), Some(host)) = (domain, root.host_str()) {
        if !domain.eq_ignore_ascii_case(host) {
            mismatches.push(format!(
                "ROOT_URL's host is `{host}`, the front door `{}` serves `{domain}`",
                door.service
            ));
        }
    }
    if !mismatches.is_empty() {
        facts.add(Fact::new(
            service,
            "stack.root_url_mismatch",
            mismatches.join("; "),
        ));
    }
}

/// Every `mongodb://` URI a service's configuration holds (environment, entrypoint, command).
fn mongo_uris(stack: &Stack, service: &str) -> Vec<String> {
    let Some(declared) = stack.services.get(service) else {
        return Vec::new();
    };
    declared
        .environment
        .values()
        .chain(declared.entrypoint.iter().flatten())
        .chain(declared.command.iter().flatten())
        .flat_map(|v| v.split_whitespace())
        // `--mongo-url=mongodb://...` and `MONGO_URL=mongodb://...` in a shell command alike.
        .filter_map(|w| w.find("mongodb://").map(|at| w[at..].to_owned()))
        .collect()
}

/// What to observe from inside: each running MongoDB member a client names, each running
/// Rocket.Chat.
fn plan(
    stack: &Stack,
    found: &Discovered,
    services: &[String],
    containers: &BTreeMap<String, ServiceContainer>,
    facts: &Facts,
    timeout: Duration,
) -> Plan {
    let mut plan = Plan {
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        ..Plan::default()
    };
    let mut seen = BTreeSet::new();
    for client in services {
        for uri in mongo_uris(stack, client) {
            let Ok(target) = MongoTarget::parse(&uri) else {
                continue;
            };
            for host in &target.hosts {
                let running = containers
                    .get(&host.host)
                    .is_some_and(ServiceContainer::running);
                if running && seen.insert(host.to_string()) {
                    plan.mongo.push(MongoProbe {
                        service: host.host.clone(),
                        member: host.to_string(),
                        uri: uri.clone(),
                    });
                }
            }
        }
    }
    let running = |service: &str| {
        services.iter().any(|s| s == service)
            && containers
                .get(service)
                .is_some_and(ServiceContainer::running)
    };
    if let (Some(service), Some(url)) = (&found.rocketchat, &found.url) {
        if running(service) {
            // Only when Rocket.Chat said it ignored ADMIN_PASS (brief doctor.md R6).
            let ignored = facts
                .value(service, "docker.log")
                .contains(ADMIN_ENV_IGNORED);
            let admin = match (&found.admin_user, &found.admin_password) {
                (Some(user), Some(password)) if ignored => Some(Login {
                    service: service.clone(),
                    url: url.clone(),
                    user: user.clone(),
                    password: password.clone(),
                }),
                _ => None,
            };
            plan.rocketchat.push(RocketChatProbe {
                service: service.clone(),
                url: url.clone(),
                mongo_uri: mongo_uris(stack, service).into_iter().next(),
                admin,
                bots: unwell_bots(stack, services, containers, url),
            });
        }
    }
    // GitLab, named by the host of the webhook job's `--url`, asked with its token.
    if let Some(job) = &found.gitlab {
        let host = url::Url::parse(&job.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        if let (Some(service), Some(token)) = (host.filter(|h| running(h)), &job.token) {
            plan.gitlab = Some(GitlabProbe {
                service,
                url: job.url.clone(),
                project: job.project.clone(),
                token: token.clone(),
            });
        }
    }
    if let Some(door) = found.front_door.clone().filter(|d| running(&d.service)) {
        plan.front_door = Some(FrontDoorProbe {
            service: door.service,
            url: door.url,
            vhost: door.vhost,
        });
    }
    plan
}

/// The bots to log in as: those Docker does not call healthy (a bot that is does not need it,
/// and each refused attempt counts towards Rocket.Chat's failed-login block).
fn unwell_bots(
    stack: &Stack,
    services: &[String],
    containers: &BTreeMap<String, ServiceContainer>,
    rocketchat: &str,
) -> Vec<Login> {
    crate::smoke::discover::bots(stack)
        .into_iter()
        .filter(|bot| services.contains(&bot.service))
        .filter(|bot| {
            containers
                .get(&bot.service)
                .is_none_or(|c| c.health.as_deref() != Some("healthy"))
        })
        .filter_map(|bot| {
            Some(Login {
                url: bot.url.clone().unwrap_or_else(|| rocketchat.to_owned()),
                user: bot.user.clone()?,
                password: bot.password.clone()?,
                service: bot.service,
            })
        })
        .collect()
}

/// The service whose network namespace the wire observations run in: a running client of
/// MongoDB (it sees the members as Rocket.Chat does), else any running long-lived service.
fn vantage(
    stack: &Stack,
    services: &[String],
    containers: &BTreeMap<String, ServiceContainer>,
    plan: &Plan,
) -> Option<String> {
    let running = |s: &String| {
        containers
            .get(s)
            .is_some_and(|c| c.running() && !c.job && !c.networks.is_empty())
    };
    let members: BTreeSet<&str> = plan.mongo.iter().map(|m| m.service.as_str()).collect();
    services
        .iter()
        .filter(|s| running(s))
        .find(|s| !members.contains(s.as_str()) && !mongo_uris(stack, s).is_empty())
        .or_else(|| services.iter().find(|s| running(s)))
        .cloned()
}

/// Runs the plan in a throw-away container in `from`'s network namespace.
async fn run_inside(
    docker: &DockerApi,
    project: &str,
    from: &str,
    containers: &BTreeMap<String, ServiceContainer>,
    plan: &Plan,
    timeout: Duration,
    settings: &Settings,
) -> Result<Vec<Fact>, Error> {
    use crate::netns::image::{self, ProbeBinary};
    let container = locate::running(containers, project, from)?;
    let explicit =
        std::env::var_os(crate::env_vars::STACKCTL_PROBE_BINARY).map(std::path::PathBuf::from);
    let binary = ProbeBinary::load(explicit.as_deref())?;
    let image = image::ensure(docker, &binary).await?;
    let inside = crate::netns::runner::Inside {
        docker,
        image: &image,
        project,
        service: from,
        container_id: &container.id,
    };
    let stdin = serde_json::to_vec(plan).unwrap_or_default();
    let args = [
        "--json",
        "--log-level",
        settings.log_filter.as_str(),
        "doctor",
        "--here",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut facts = Vec::new();
    let mut on_line = |line: &str| {
        if let Ok(fact) = serde_json::from_str::<Fact>(line) {
            facts.push(fact);
        }
    };
    let started = std::time::Instant::now();
    let finished = crate::netns::runner::run(
        inside,
        args,
        &stdin,
        timeout + Duration::from_secs(10),
        &mut on_line,
    )
    .await?;
    crate::netns::remote::forward_stderr(&finished.stderr);
    tracing::debug!(from, facts = facts.len(), elapsed = ?started.elapsed(), "observed from inside");
    if finished.exit_code != 0 && facts.is_empty() {
        return Err(Error::failed(format!(
            "the observer in `{from}` ended with exit code {}",
            finished.exit_code
        )));
    }
    Ok(facts)
}
