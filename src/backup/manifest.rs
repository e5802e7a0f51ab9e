//! What a backup says about itself (`manifest.json`): where it came from (the stack files'
//! SHA-256, each service's image and its ID/digests), the versions read over the wire when it
//! was taken, and a SHA-256 per member. A restore compares these versions with the stack's
//! before it replaces anything: data is only restored onto the versions that wrote it
//! (mongorestore's rule: "the same major version [or] the same feature compatibility version",
//! ../shared/brief/day2.md §3). Nothing here is a secret: no environment, no URI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use std::path::Path;

/// The manifest's format version.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// stackctl's version that wrote it.
    pub stackctl: String,
    /// RFC 3339, UTC, seconds.
    pub created_at: String,
    pub project: String,
    /// `offline` (writers stopped, volumes archived) or `online` (`mongodump --oplog`).
    pub mode: String,
    /// Each stack file's name and SHA-256, in merge order.
    pub stack_files: Vec<StackFile>,
    /// Each service's image.
    pub services: BTreeMap<String, ServiceImage>,
    pub versions: Versions,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StackFile {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceImage {
    /// The reference the stack file names.
    pub image: String,
    /// The local image's ID (`sha256:...`).
    pub id: Option<String>,
    /// Its registry digests (`name@sha256:...`), none for an image built here.
    #[serde(default)]
    pub digests: Vec<String>,
}

/// Versions read over the wire; `None` where they could not be read (`unread` says why).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Versions {
    /// MongoDB's `buildInfo.version`.
    pub mongodb: Option<String>,
    /// `getParameter: {featureCompatibilityVersion: 1}`.
    pub fcv: Option<String>,
    /// Rocket.Chat's `/api/info` version.
    pub rocketchat: Option<String>,
    /// The `migrations` collection's `control` document: `version` and `locked`.
    pub migrations_version: Option<i64>,
    pub migrations_locked: Option<bool>,
    /// What could not be read, and why.
    #[serde(default)]
    pub unread: BTreeMap<String, String>,
}

/// One member of the archive.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// The volume's key in the stack file, for a volume member.
    pub volume: Option<String>,
    pub size: u64,
    pub sha256: String,
}

/// The part of a version a restore must match: MongoDB and the FCV by `major.minor` (the
/// on-disk format follows the series), Rocket.Chat by `major.minor` (its unauthenticated
/// `/api/info` shows no more; migrations change only with releases).
fn series(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The differences between the backup's versions and the stack's, each as
/// `what: backup X, stack Y`; only what both sides know is compared.
#[must_use]
pub fn mismatches(
    backup: &Manifest,
    stack_versions: &Versions,
    stack_images: &BTreeMap<String, ServiceImage>,
) -> Vec<String> {
    let mut out = Vec::new();
    let pairs = [
        ("MongoDB", &backup.versions.mongodb, &stack_versions.mongodb),
        (
            "MongoDB featureCompatibilityVersion",
            &backup.versions.fcv,
            &stack_versions.fcv,
        ),
        (
            "Rocket.Chat",
            &backup.versions.rocketchat,
            &stack_versions.rocketchat,
        ),
    ];
    for (what, theirs, ours) in pairs {
        if let (Some(theirs), Some(ours)) = (theirs, ours)
            && series(theirs) != series(ours)
        {
            out.push(format!(
                "{what}: the backup has {theirs}, the stack runs {ours}"
            ));
        }
    }
    for (service, theirs) in &backup.services {
        let Some(ours) = stack_images.get(service) else {
            continue;
        };
        if theirs.image != ours.image {
            out.push(format!(
                "service `{service}`: the backup was taken with image `{}`, the stack names `{}`",
                theirs.image, ours.image
            ));
        }
    }
    out
}

/// Refuses (exit 2) a backup whose versions or images differ from the stack's, unless `force`
/// (then says so loudly).
pub fn refuse_mismatch(
    backup: &Manifest,
    versions: &Versions,
    images: &BTreeMap<String, ServiceImage>,
    force: bool,
    file: &Path,
) -> Result<(), Error> {
    let found = mismatches(backup, versions, images);
    if found.is_empty() {
        return Ok(());
    }
    if force {
        for line in &found {
            tracing::warn!("--force: restoring across a version difference: {line}");
        }
        return Ok(());
    }
    Err(Error::usage(format!(
        "the backup `{}` does not match the stack: {}",
        file.display(),
        found.join("; ")
    ))
    .with_hint(
        "restore onto the versions the backup was taken with (its manifest.json lists them), \
         or pass `--force` to restore anyway",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(mongodb: &str, rocketchat: &str) -> Versions {
        Versions {
            mongodb: Some(mongodb.to_owned()),
            fcv: Some(series(mongodb)),
            rocketchat: Some(rocketchat.to_owned()),
            ..Versions::default()
        }
    }

    #[test]
    fn versions_match_by_series_and_images_by_reference() {
        let backup = Manifest {
            versions: versions("7.0.14", "7.10.2"),
            services: BTreeMap::from([(
                "mongo".to_owned(),
                ServiceImage {
                    image: "mongo:7.0".to_owned(),
                    ..ServiceImage::default()
                },
            )]),
            ..Manifest::default()
        };
        let same = BTreeMap::from([(
            "mongo".to_owned(),
            ServiceImage {
                image: "mongo:7.0".to_owned(),
                ..ServiceImage::default()
            },
        )]);
        assert!(mismatches(&backup, &versions("7.0.2", "7.10"), &same).is_empty());
        let other = BTreeMap::from([(
            "mongo".to_owned(),
            ServiceImage {
                image: "mongo:8.0".to_owned(),
                ..ServiceImage::default()
            },
        )]);
        let found = mismatches(&backup, &versions("8.0.1", "7.10.2"), &other);
        assert_eq!(
            found,
            [
                "MongoDB: the backup has 7.0.14, the stack runs 8.0.1",
                "MongoDB featureCompatibilityVersion: the backup has 7.0, the stack runs 8.0",
                "service `mongo`: the backup was taken with image `mongo:7.0`, the stack names `mongo:8.0`",
            ]
        );
        // Unknown on one side: not compared.
        assert!(mismatches(&backup, &Versions::default(), &BTreeMap::new()).is_empty());
    }
}
