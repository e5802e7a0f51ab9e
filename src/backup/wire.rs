//! The versions a backup records and a restore compares, read over the wire from the running
//! stack (the tags in a file can lie: `latest`, a rebuilt image, a half-finished upgrade):
//! MongoDB's `buildInfo` and featureCompatibilityVersion and Rocket.Chat's `migrations`
//! `control` document through the mongodb driver, Rocket.Chat's `/api/info` over HTTP. The
//! services are reached at their containers' addresses; what cannot be read is recorded with
//! why, never guessed. Every call has a hard timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use mongodb::bson::{Document, doc};

use super::manifest::{ServiceImage, Versions};
use crate::engine::docker::DockerApi;
use crate::netns::locate::ServiceContainer;
use crate::stack::{Service, Stack};
use crate::versions::image::{Product, classify};

/// The bound of each read.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The MongoDB server of the stack: a long-running service running MongoDB's image, else one
/// named `mongo`/`mongodb` (a simulator, a custom build).
#[must_use]
pub fn mongo_service(stack: &Stack) -> Option<&Service> {
    let servers = || stack.services.values().filter(|s| !s.is_job());
    servers()
        .find(|s| {
            s.image
                .as_deref()
                .and_then(classify)
                .is_some_and(|i| i.product == Product::MongoDb)
        })
        .or_else(|| servers().find(|s| s.name == "mongo" || s.name == "mongodb"))
}

/// The database Rocket.Chat uses: the path of its `MONGO_URL` (only the path is read: the URL
/// may hold credentials), else `rocketchat`.
pub(crate) fn rocketchat_database(stack: &Stack, rocketchat: Option<&str>) -> String {
    rocketchat
        .and_then(|name| stack.services.get(name))
        .and_then(|s| s.environment.get("MONGO_URL"))
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .filter(|db| !db.is_empty())
        .unwrap_or_else(|| "rocketchat".to_owned())
}

pub(crate) fn address(container: Option<&ServiceContainer>) -> Option<String> {
    container?
        .networks
        .values()
        .find_map(|e| e.ip.clone().filter(|ip| !ip.is_empty()))
}

/// Reads every version it can; what it cannot goes to `unread`.
pub async fn read(stack: &Stack, containers: &BTreeMap<String, ServiceContainer>) -> Versions {
    let mut versions = Versions::default();
    let rocketchat = crate::smoke::discover::discover(stack).rocketchat;
    if let Some(mongo) = mongo_service(stack) {
        match address(containers.get(&mongo.name).filter(|c| c.running())) {
            Some(ip) => {
                let db = rocketchat_database(stack, rocketchat.as_deref());
                read_mongo(&format!("mongodb://{ip}:27017"), &db, &mut versions).await;
            }
            None => {
                versions.unread.insert(
                    "mongodb".to_owned(),
                    format!("`{}` is not running", mongo.name),
                );
            }
        }
    }
    if let Some(rc) = rocketchat.as_deref() {
        let port = stack.services[rc]
            .environment
            .get("PORT")
            .cloned()
            .unwrap_or_else(|| "3000".to_owned());
        match address(containers.get(rc).filter(|c| c.running())) {
            Some(ip) => match url::Url::parse(&format!("http://{ip}:{port}")) {
                Ok(url) => match crate::rocketchat::client::Client::new(url, TIMEOUT) {
                    Ok(client) => match tokio::time::timeout(TIMEOUT, client.info()).await {
                        Ok(Ok(version)) => versions.rocketchat = Some(version),
                        Ok(Err(e)) => {
                            versions.unread.insert("rocketchat".to_owned(), e.reason());
                        }
                        Err(_) => {
                            versions
                                .unread
                                .insert("rocketchat".to_owned(), "timed out".to_owned());
                        }
                    },
                    Err(e) => {
                        versions
                            .unread
                            .insert("rocketchat".to_owned(), e.message().to_owned());
                    }
                },
                Err(e) => {
                    versions
                        .unread
                        .insert("rocketchat".to_owned(), e.to_string());
                }
            },
            None => {
                versions
                    .unread
                    .insert("rocketchat".to_owned(), format!("`{rc}` is not running"));
            }
        }
    }
    tracing::debug!(?versions, "versions read over the wire");
    versions
}

async fn read_mongo(uri: &str, database: &str, versions: &mut Versions) {
    let member = match crate::mongo::client::Member::connect(uri, TIMEOUT).await {
        Ok(member) => member,
        Err(e) => {
            versions
                .unread
                .insert("mongodb".to_owned(), e.message().to_owned());
            return;
        }
    };
    let bounded = |command: Document| {
        let member = &member;
        async move {
            match tokio::time::timeout(TIMEOUT, member.command(command)).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(e)) => Err(member.reason(&e)),
                Err(_) => Err("timed out".to_owned()),
            }
        }
    };
    match bounded(doc! {"buildInfo": 1}).await {
        Ok(reply) => versions.mongodb = reply.get_str("version").ok().map(str::to_owned),
        Err(why) => {
            versions.unread.insert("mongodb".to_owned(), why);
        }
    }
    match bounded(doc! {"getParameter": 1, "featureCompatibilityVersion": 1}).await {
        Ok(reply) => {
            versions.fcv = reply
                .get_document("featureCompatibilityVersion")
                .ok()
                .and_then(|d| d.get_str("version").ok())
                .map(str::to_owned);
        }
        Err(why) => {
            versions.unread.insert("fcv".to_owned(), why);
        }
    }
    let migrations = member
        .client
        .database(database)
        .collection::<Document>("migrations");
    match tokio::time::timeout(TIMEOUT, migrations.find_one(doc! {"_id": "control"})).await {
        Ok(Ok(Some(control))) => {
            versions.migrations_version = control
                .get_i64("version")
                .ok()
                .or_else(|| control.get_i32("version").ok().map(i64::from));
            versions.migrations_locked = control.get_bool("locked").ok();
        }
        Ok(Ok(None)) => {
            versions.unread.insert(
                "migrations".to_owned(),
                format!("no `control` document in `{database}.migrations`"),
            );
        }
        Ok(Err(e)) => {
            versions
                .unread
                .insert("migrations".to_owned(), member.reason(&e));
        }
        Err(_) => {
            versions
                .unread
                .insert("migrations".to_owned(), "timed out".to_owned());
        }
    }
}

/// Each service's image reference, with the local image's ID and registry digests.
pub async fn images(stack: &Stack, docker: &DockerApi) -> BTreeMap<String, ServiceImage> {
    let mut out = BTreeMap::new();
    for (name, service) in &stack.services {
        let Some(image) = service.image.clone() else {
            continue;
        };
        let inspected = docker.client().inspect_image(&image).await.ok();
        out.insert(
            name.clone(),
            ServiceImage {
                id: inspected.as_ref().and_then(|i| i.id.clone()),
                digests: inspected.and_then(|i| i.repo_digests).unwrap_or_default(),
                image,
            },
        );
    }
    out
}
