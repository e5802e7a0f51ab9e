//! `stackctl upgrade`'s domain: where the stack is (versions read over the wire) and where its
//! file wants it ([`plan`]), each step run on the live stack ([`hop`]), and the rollback a
//! failed step calls for (../shared/brief/day2.md §5.8: an image revert only while nothing
//! irreversible ran, otherwise the pre-upgrade backup restored onto the old versions).

pub mod hop;
pub mod plan;

use std::collections::BTreeMap;

use crate::backup::manifest::Versions;
use crate::backup::wire;
use crate::error::Error;
use crate::netns::locate::ServiceContainer;
use crate::stack::Stack;
use crate::versions::Version;
use crate::versions::image::{Product, classify};
use plan::{Images, Pair};

/// The services the upgrade moves.
#[derive(Debug, Clone)]
pub struct Roles {
    pub mongo: String,
    pub rocketchat: Option<String>,
}

/// The MongoDB and Rocket.Chat services of the stack.
///
/// # Errors
/// A stack without MongoDB: nothing to upgrade.
pub fn roles(stack: &Stack) -> Result<Roles, Error> {
    let mongo = wire::mongo_service(stack)
        .ok_or_else(|| {
            Error::usage("`upgrade` moves MongoDB and Rocket.Chat, and the stack has no MongoDB")
                .with_hint("a service running MongoDB's image, or named `mongo`/`mongodb`")
        })?
        .name
        .clone();
    let rocketchat = crate::smoke::discover::discover(stack).rocketchat;
    Ok(Roles { mongo, rocketchat })
}

fn file_version(
    stack: &Stack,
    service: &str,
    product: Product,
) -> Result<(Version, String), Error> {
    let reference = stack.services[service].image.clone().unwrap_or_default();
    let version = classify(&reference)
        .filter(|i| i.product == product)
        .and_then(|i| i.version)
        .filter(|v| v.minor.is_some() || product == Product::RocketChat);
    match version {
        Some(v) => Ok((v, reference)),
        None => Err(Error::usage(format!(
            "service `{service}`: the stack file names `{reference}`, which names no {} release series \
             to upgrade to",
            product.name()
        ))
        .with_hint(format!(
            "name the release in the tag (`{}`)",
            if product == Product::MongoDb {
                "mongo:8.0"
            } else {
                "rocketchat/rocket.chat:8.5.1"
            }
        ))),
    }
}

/// Where the stack file wants the stack, and the images it names.
///
/// # Errors
/// An image whose tag names no release (`latest`).
pub fn target(stack: &Stack, roles: &Roles, via: &[String]) -> Result<(Pair, Images), Error> {
    let (mongodb, mongo_image) = file_version(stack, &roles.mongo, Product::MongoDb)?;
    let (rocketchat, rc_image) = match &roles.rocketchat {
        Some(rc) => {
            let (v, image) = file_version(stack, rc, Product::RocketChat)?;
            (Some(v), Some(image))
        }
        None => (None, None),
    };
    Ok((
        Pair {
            mongodb,
            rocketchat,
        },
        Images {
            mongodb: mongo_image,
            rocketchat: rc_image,
            via: via.to_vec(),
        },
    ))
}

/// Where the stack is, from the versions read over the wire.
///
/// # Errors
/// A version that could not be read (a stopped service), or a MongoDB whose FCV is not its
/// binary's series (an upgrade left half done: `setFeatureCompatibilityVersion` first).
pub fn running(versions: &Versions, roles: &Roles) -> Result<Pair, Error> {
    let unread = |what: &str, service: &str| {
        Error::usage(format!(
            "cannot read the running {what} version over the wire from `{service}`: {}",
            versions
                .unread
                .get(if what == "MongoDB" {
                    "mongodb"
                } else {
                    "rocketchat"
                })
                .map_or("no answer", String::as_str)
        ))
        .with_hint(
            "`upgrade` starts from a running stack: `stackctl up` with the file's previous tags",
        )
    };
    let mongodb = versions
        .mongodb
        .as_deref()
        .and_then(Version::parse)
        .ok_or_else(|| unread("MongoDB", &roles.mongo))?;
    if let (Some(fcv), Some(series)) = (versions.fcv.as_deref(), mongodb.series())
        && fcv != series.to_string()
    {
        return Err(Error::usage(format!(
            "MongoDB {mongodb} runs on data whose featureCompatibilityVersion is {fcv}: the last \
             upgrade did not finish"
        ))
        .with_hint(format!(
            "finish it first: db.adminCommand({{setFeatureCompatibilityVersion: \"{series}\"{}}})",
            if series.major >= 7 {
                ", confirm: true"
            } else {
                ""
            }
        )));
    }
    let rocketchat = match &roles.rocketchat {
        Some(rc) => Some(
            versions
                .rocketchat
                .as_deref()
                .and_then(Version::parse)
                .ok_or_else(|| unread("Rocket.Chat", rc))?,
        ),
        None => None,
    };
    Ok(Pair {
        mongodb,
        rocketchat,
    })
}

/// Each service's image as its container runs it: what a rollback goes back to.
#[must_use]
pub fn running_images(containers: &BTreeMap<String, ServiceContainer>) -> BTreeMap<String, String> {
    containers
        .iter()
        .filter(|(_, c)| !c.image.is_empty())
        .map(|(name, c)| (name.clone(), c.image.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Roles {
        Roles {
            mongo: "mongo".into(),
            rocketchat: Some("rocketchat".into()),
        }
    }

    #[test]
    fn the_running_pair_is_read_as_the_wire_says_it() {
        let versions = Versions {
            mongodb: Some("7.0.14".into()),
            fcv: Some("7.0".into()),
            rocketchat: Some("7.13".into()),
            ..Versions::default()
        };
        let pair = running(&versions, &roles()).unwrap();
        assert_eq!(pair.mongodb.to_string(), "7.0.14");
        assert_eq!(pair.rocketchat.unwrap().to_string(), "7.13");
    }

    #[test]
    fn a_half_done_upgrade_or_a_stopped_service_is_refused() {
        let half = Versions {
            mongodb: Some("7.0.14".into()),
            fcv: Some("6.0".into()),
            rocketchat: Some("7.13".into()),
            ..Versions::default()
        };
        let e = running(&half, &roles()).unwrap_err();
        assert!(
            e.message().contains("featureCompatibilityVersion is 6.0"),
            "{e:?}"
        );
        assert_eq!(
            e.hint(),
            Some(
                "finish it first: db.adminCommand({setFeatureCompatibilityVersion: \"7.0\", confirm: true})"
            )
        );
        let mut stopped = Versions {
            mongodb: Some("7.0.14".into()),
            ..Versions::default()
        };
        stopped
            .unread
            .insert("rocketchat".into(), "`rocketchat` is not running".into());
        let e = running(&stopped, &roles()).unwrap_err();
        assert_eq!(
            e.message(),
            "cannot read the running Rocket.Chat version over the wire from `rocketchat`: \
             `rocketchat` is not running"
        );
    }
}
