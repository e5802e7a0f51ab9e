//! Running one step of the path on the live stack (../shared/brief/day2.md §5.5–5.6). A
//! MongoDB hop: its dependants stopped in reverse dependency order, mongod stopped cleanly with
//! a long grace, its container recreated on the next image (same volume), PRIMARY waited for,
//! `setFeatureCompatibilityVersion` sent (`confirm: true` from 7.0) and read back until no
//! `targetVersion`. A Rocket.Chat hop: one instance on the next image, its log scanned for the
//! known failure texts, the migrations `control` document free and not behind, `/api/info` at
//! the target. Every wait is bounded; what failed says whether anything irreversible ran,
//! which decides the rollback ([`Failure::irreversible`]).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};

use super::plan::Step;
use crate::backup::wire;
use crate::engine::docker::DockerApi;
use crate::engine::{self, UpOptions};
use crate::error::Error;
use crate::mongo::client::Member;
use crate::output::{Event, Reporter};
use crate::retry::RetryPolicy;
use crate::stack::Stack;
use crate::versions::Version;
use crate::versions::upgrade::Hop;

/// mongod is given this long to shut down before SIGKILL (at least; a longer
/// `stop_grace_period` wins): a killed mongod replays its journal on the next binary.
pub const MONGO_GRACE: Duration = Duration::from_secs(60);

/// The bound of one wire call.
const CALL: Duration = Duration::from_secs(5);

/// The texts Rocket.Chat prints when a start-up cannot go on (apps/meteor/server/lib/migrations.ts,
/// server/startup/migrations/minimumVersion.ts, server/startup/serverRunning.ts).
pub const FAILURE_TEXTS: &[&str] = &[
    "UPGRADE NOT SUPPORTED",
    "Your database migration failed",
    "Your database migration control is locked",
    "Not migrating, control is locked",
    "Can't find migration version",
    "MONGODB VERSION IS NOT SUPPORTED",
];

/// The first known failure text in a log, with the lines that follow it up to the error
/// box's next blank line (`Your database migration failed:` / the reason), the box's frame
/// trimmed.
#[must_use]
pub fn failure_text(log: &[String]) -> Option<String> {
    let trim = |l: &String| {
        l.trim_matches(|c: char| c == '|' || c == '+' || c == '-' || c.is_whitespace())
            .to_owned()
    };
    let at = log
        .iter()
        .position(|line| FAILURE_TEXTS.iter().any(|t| line.contains(t)))?;
    let mut lines = vec![trim(&log[at])];
    lines.extend(
        log[at + 1..]
            .iter()
            .map(trim)
            .take_while(|l| !l.is_empty())
            .take(3),
    );
    Some(lines.join(" "))
}

/// A step that did not finish.
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    /// `setFeatureCompatibilityVersion` ran, or Rocket.Chat's migrations moved the `control`
    /// version: going back to the previous image cannot read the data (a restore is needed).
    pub irreversible: bool,
}

impl Failure {
    fn before(error: Error) -> Self {
        Self {
            error,
            irreversible: false,
        }
    }
}

/// What the steps share.
pub struct Runner<'a> {
    /// The stack as it runs now: each finished step moves its image here.
    pub stack: Stack,
    pub docker: &'a DockerApi,
    pub reporter: &'a Reporter,
    /// The bound of each wait (a service up, PRIMARY, the FCV, `/api/info`).
    pub timeout: Duration,
    pub mongo: String,
    pub rocketchat: Option<String>,
    pub started: Instant,
}

fn ms(since: Instant) -> f64 {
    crate::output::millis(since.elapsed())
}

impl Runner<'_> {
    /// Reports progress the way `up` reports its jobs.
    pub fn say(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::debug!(%message, "upgrade");
        self.reporter.emit(&Event::JobProgress {
            job: "upgrade".to_owned(),
            message,
            elapsed_ms: ms(self.started),
        });
    }

    /// Runs one step; on success the runner's stack names its image.
    ///
    /// # Errors
    /// The step failed; [`Failure::irreversible`] says what rollback it needs.
    pub async fn run(&mut self, step: &Step) -> Result<(), Failure> {
        match step {
            Step::Mongo {
                hop,
                image,
                rocketchat_down,
            } => self.mongo_hop(hop, image, *rocketchat_down).await,
            Step::RocketChat { to, image, .. } => self.rocketchat_hop(*to, image).await,
        }
    }

    /// Services that depend on `service`, directly or not.
    fn dependants(&self, service: &str) -> BTreeSet<String> {
        self.stack
            .services
            .keys()
            .filter(|name| name.as_str() != service)
            .filter(|name| {
                engine::plan::selection(&self.stack, &[(*name).clone()])
                    .is_ok_and(|s| s.contains(service))
            })
            .cloned()
            .collect()
    }

    /// Stops `services` in reverse dependency order (a level at a time), `service`-specific
    /// graces from `grace`.
    async fn stop(
        &self,
        services: &BTreeSet<String>,
        grace: impl Fn(&str) -> Option<Duration>,
    ) -> Result<(), Error> {
        let containers = crate::netns::locate::project(self.docker, &self.stack.project).await?;
        for level in engine::plan::levels(&self.stack).into_iter().rev() {
            for name in level.iter().filter(|n| services.contains(*n)) {
                let Some(container) = containers.get(name).filter(|c| c.running()) else {
                    continue;
                };
                let started = Instant::now();
                self.docker.stop(&container.id, grace(name)).await?;
                tracing::debug!(service = %name, elapsed = ?started.elapsed(), "stopped");
            }
        }
        Ok(())
    }

    /// `up` on `service` (and what it needs) as the runner's stack names it.
    async fn up(&self, service: &str, no_jobs: bool) -> Result<Duration, Error> {
        let options = UpOptions {
            services: vec![service.to_owned()],
            timeout: self.timeout,
            no_jobs,
            registry: None,
            policy: RetryPolicy::Exponential {
                min: Duration::from_millis(25),
                max: Duration::from_secs(1),
                factor: 2.0,
            },
        };
        engine::up(
            self.stack.clone(),
            self.docker.clone(),
            options,
            self.reporter,
        )
        .await
    }

    /// The running container of `service`.
    async fn container(
        &self,
        service: &str,
    ) -> Result<crate::netns::locate::ServiceContainer, Error> {
        let containers = crate::netns::locate::project(self.docker, &self.stack.project).await?;
        containers
            .get(service)
            .cloned()
            .ok_or_else(|| Error::failed(format!("`{service}` has no container")))
    }

    /// A driver connection to the MongoDB service.
    async fn member(&self) -> Result<Member, Error> {
        let container = self.container(&self.mongo).await?;
        let ip = wire::address(Some(&container))
            .ok_or_else(|| Error::failed(format!("`{}` has no address", self.mongo)))?;
        Member::connect(
            &format!("mongodb://{ip}:27017/?directConnection=true"),
            CALL,
        )
        .await
    }

    /// Repeats `attempt` with backoff until it says done, within the runner's timeout.
    async fn until<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, String>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut delays = RetryPolicy::Exponential {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
            factor: 2.0,
        }
        .delays();
        let mut last = String::new();
        loop {
            match tokio::time::timeout(CALL * 2, attempt()).await {
                Ok(Ok(Some(done))) => return Ok(done),
                Ok(Ok(None)) => {}
                Ok(Err(why)) => last = why,
                Err(_) => "timed out".clone_into(&mut last),
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(1));
            if Instant::now() + delay > deadline {
                return Err(Error::timeout(format!(
                    "{what}: not within {}{}",
                    crate::output::human_duration(self.timeout),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(" (last: {last})")
                    }
                )));
            }
            tracing::debug!(%what, ?delay, %last, "not yet");
            tokio::time::sleep(delay).await;
        }
    }

    async fn mongo_hop(
        &mut self,
        hop: &Hop,
        image: &str,
        rocketchat_down: bool,
    ) -> Result<(), Failure> {
        let mongo = self.mongo.clone();
        let mut doomed = self.dependants(&mongo);
        self.say(format!(
            "MongoDB {} → {}: stopping {} and `{mongo}` (grace {})",
            hop.from,
            hop.to,
            doomed.iter().cloned().collect::<Vec<_>>().join(", "),
            crate::output::human_duration(MONGO_GRACE)
        ));
        doomed.insert(mongo.clone());
        let grace = self.stack.services[&mongo]
            .stop_grace_period
            .unwrap_or_default()
            .max(MONGO_GRACE);
        self.stop(&doomed, |name| (name == mongo).then_some(grace))
            .await
            .map_err(Failure::before)?;
        let previous = self.stack.services[&mongo].image.clone();
        if let Some(service) = self.stack.services.get_mut(&mongo) {
            service.image = Some(image.to_owned());
        }
        let started = self.up(&mongo, true).await;
        let primary = match started {
            Ok(_) => self.wait_primary().await,
            Err(e) => Err(e),
        };
        if let Err(e) = primary {
            let container = self.container(&mongo).await.ok();
            let exited = container
                .as_ref()
                .filter(|c| !c.running())
                .and_then(|c| c.exit_code);
            let why = match exited {
                Some(62) => format!(
                    "mongod exited 62 (needDowngrade: this binary cannot use the data files) on `{image}`"
                ),
                Some(code) => format!("mongod exited {code} on `{image}`: {}", e.message()),
                None => e.message().to_owned(),
            };
            if let Some(s) = self.stack.services.get_mut(&mongo) {
                s.image = previous;
            }
            return Err(Failure::before(Error::failed(format!(
                "MongoDB {} → {}: {why}",
                hop.from, hop.to
            ))));
        }
        self.say(format!(
            "MongoDB {} is PRIMARY on `{image}`; {}",
            hop.to,
            hop.set_fcv_command()
        ));
        let member = self.member().await.map_err(Failure::before)?;
        let mut command = doc! {"setFeatureCompatibilityVersion": hop.set_fcv.to_string()};
        if hop.confirm {
            command.insert("confirm", true);
        }
        let sent = tokio::time::timeout(self.timeout, member.command(command)).await;
        // From here the data may be on the new FCV: the old binary can no longer read it.
        let irreversible = |error: Error| Failure {
            error,
            irreversible: true,
        };
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(irreversible(Error::failed(format!(
                    "setFeatureCompatibilityVersion {} failed: {}",
                    hop.set_fcv,
                    member.reason(&e)
                ))));
            }
            Err(_) => {
                return Err(irreversible(Error::timeout(
                    "setFeatureCompatibilityVersion did not answer",
                )));
            }
        }
        let wanted = hop.set_fcv.to_string();
        self.until("the featureCompatibilityVersion read back", || {
            let member = &member;
            let wanted = &wanted;
            async move {
                let reply = member
                    .command(doc! {"getParameter": 1, "featureCompatibilityVersion": 1})
                    .await
                    .map_err(|e| member.reason(&e))?;
                let fcv = reply
                    .get_document("featureCompatibilityVersion")
                    .map_err(|e| e.to_string())?;
                let done = fcv.get_str("version").ok() == Some(wanted.as_str())
                    && !fcv.contains_key("targetVersion");
                Ok(done.then_some(()))
            }
        })
        .await
        .map_err(irreversible)?;
        self.say(format!(
            "MongoDB {} done: featureCompatibilityVersion {}{}",
            hop.to,
            hop.set_fcv,
            if rocketchat_down {
                " (Rocket.Chat stays stopped until its next release)"
            } else {
                ""
            }
        ));
        Ok(())
    }

    async fn wait_primary(&self) -> Result<(), Error> {
        self.until("MongoDB PRIMARY", || async {
            let member = self.member().await.map_err(|e| e.message().to_owned())?;
            let hello = member
                .command(doc! {"hello": 1})
                .await
                .map_err(|e| member.reason(&e))?;
            Ok(hello
                .get_bool("isWritablePrimary")
                .unwrap_or(false)
                .then_some(()))
        })
        .await
    }

    /// The `migrations` collection Rocket.Chat keeps its `control` document in.
    async fn migrations(&self) -> Result<mongodb::Collection<Document>, Error> {
        let member = self.member().await?;
        let database = wire::rocketchat_database(&self.stack, self.rocketchat.as_deref());
        Ok(member
            .client
            .database(&database)
            .collection::<Document>("migrations"))
    }

    /// `(version, locked)` of the `control` document (`None` when there is none yet).
    async fn control(&self) -> Result<Option<(i64, bool)>, Error> {
        let migrations = self.migrations().await?;
        let found = tokio::time::timeout(CALL, migrations.find_one(doc! {"_id": "control"}))
            .await
            .map_err(|_| Error::timeout("reading the migrations control timed out"))?
            .map_err(|e| Error::failed(format!("reading the migrations control failed: {e}")))?;
        Ok(found.map(|c| {
            let version = c
                .get_i64("version")
                .ok()
                .or_else(|| c.get_i32("version").ok().map(i64::from))
                .unwrap_or(0);
            (version, c.get_bool("locked").unwrap_or(false))
        }))
    }

    async fn rocketchat_hop(&mut self, to: Version, image: &str) -> Result<(), Failure> {
        let Some(rc) = self.rocketchat.clone() else {
            return Ok(());
        };
        let mut doomed = self.dependants(&rc);
        doomed.insert(rc.clone());
        self.say(format!(
            "Rocket.Chat → {to}: stopping {}",
            doomed.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        self.stop(&doomed, |_| None)
            .await
            .map_err(Failure::before)?;
        let before = self.control().await.map_err(Failure::before)?;
        if let Some((version, true)) = before {
            // Every Rocket.Chat of the stack is stopped: the lock is a left-over (#1952).
            self.say(format!(
                "the migrations control is locked at {version} with Rocket.Chat stopped: unlocking it"
            ));
            let migrations = self.migrations().await.map_err(Failure::before)?;
            tokio::time::timeout(
                CALL,
                migrations.update_one(doc! {"_id": "control"}, doc! {"$set": {"locked": false}}),
            )
            .await
            .map_err(|_| {
                Failure::before(Error::timeout("unlocking the migrations control timed out"))
            })?
            .map_err(|e| {
                Failure::before(Error::failed(format!(
                    "unlocking the migrations control failed: {e}"
                )))
            })?;
        }
        let previous = self.stack.services[&rc].image.clone();
        if let Some(service) = self.stack.services.get_mut(&rc) {
            service.image = Some(image.to_owned());
        }
        self.say(format!("Rocket.Chat {to}: one instance on `{image}`"));
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
            - 1;
        let up = self.up(&rc, false).await;
        let logged = match self.container(&rc).await {
            Ok(c) => self.docker.log_tail(&c.id, 400, since).await,
            Err(_) => Vec::new(),
        };
        let text = failure_text(&logged);
        let outcome = match (up, text) {
            (_, Some(text)) => Err(Error::failed(format!(
                "Rocket.Chat {to} stopped at start-up: `{}`",
                crate::redact::text(&text)
            ))),
            (Err(e), None) => Err(e),
            (Ok(_), None) => self.rocketchat_at(to).await,
        };
        let after = self.control().await.ok().flatten();
        if let Err(error) = outcome {
            // Migrations moved the control version: the previous image cannot read the data
            // (`Can't find migration version N`).
            let moved = after.map(|a| a.0) != before.map(|b| b.0);
            if !moved {
                if let Some(s) = self.stack.services.get_mut(&rc) {
                    s.image = previous;
                }
            }
            return Err(Failure {
                error,
                irreversible: moved,
            });
        }
        match (before, after) {
            (_, Some((_, true))) => Err(Failure {
                error: Error::failed(format!(
                    "Rocket.Chat {to} answers, but its migrations control is still locked"
                )),
                irreversible: true,
            }),
            (Some((b, _)), Some((a, _))) if a < b => Err(Failure {
                error: Error::failed(format!(
                    "the migrations control went back from {b} to {a} under Rocket.Chat {to}"
                )),
                irreversible: true,
            }),
            _ => {
                self.say(format!(
                    "Rocket.Chat {to} done: migrations control {} → {}, unlocked",
                    before.map_or_else(|| "none".to_owned(), |b| b.0.to_string()),
                    after.map_or_else(|| "none".to_owned(), |a| a.0.to_string()),
                ));
                Ok(())
            }
        }
    }

    /// `/api/info` reports `to`.
    async fn rocketchat_at(&self, to: Version) -> Result<(), Error> {
        let rc = self.rocketchat.clone().unwrap_or_default();
        let port = self.stack.services[&rc]
            .environment
            .get("PORT")
            .cloned()
            .unwrap_or_else(|| "3000".to_owned());
        self.until(&format!("Rocket.Chat /api/info at {to}"), || async {
            let container = self
                .container(&rc)
                .await
                .map_err(|e| e.message().to_owned())?;
            let ip = wire::address(Some(&container)).ok_or("no address")?;
            let url = url::Url::parse(&format!("http://{ip}:{port}")).map_err(|e| e.to_string())?;
            let client = crate::rocketchat::client::Client::new(url, CALL)
                .map_err(|e| e.message().to_owned())?;
            let version = client.info().await.map_err(|e| e.reason())?;
            if Version::parse(&version).is_some_and(|v| super::plan::same_release(v, to)) {
                Ok(Some(()))
            } else {
                Err(format!("it reports {version}"))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failure_text_comes_with_its_reason() {
        let log: Vec<String> = [
            "rocketchat-sim: migrating",
            "+----------------------------------+",
            "| ERROR! SERVER STOPPED            |",
            "|                                  |",
            "| Your database migration failed:  |",
            "| planted failure in migration 330 |",
            "|                                  |",
            "| Please make sure you are running |",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            super::failure_text(&log).as_deref(),
            Some("Your database migration failed: planted failure in migration 330")
        );
        assert_eq!(super::failure_text(&log[..2]), None);
    }
}
