//! Which product an image reference is and which version its tag names, so the support matrix
//! can be checked against a stack's `image:` lines.

use super::Version;

/// The products the support matrix speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Product {
    RocketChat,
    MongoDb,
}

impl Product {
    /// The name messages use.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RocketChat => "Rocket.Chat",
            Self::MongoDb => "MongoDB",
        }
    }
}

/// The last path component of the repositories each product ships as, under any registry or
/// namespace: `registry.rocket.chat/rocketchat/rocket.chat`, `rocketchat/rocket.chat`,
/// `rocket.chat`; `mongo`, `mongodb/mongodb-community-server`, `bitnami/mongodb`.
const REPOSITORIES: &[(&str, Product)] = &[
    ("rocket.chat", Product::RocketChat),
    ("mongo", Product::MongoDb),
    ("mongodb", Product::MongoDb),
    ("mongodb-community-server", Product::MongoDb),
    ("mongodb-enterprise-server", Product::MongoDb),
];

/// An image reference of a known product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub product: Product,
    /// The version its tag names, `None` when the tag is not one (`latest`, none, a digest only).
    pub version: Option<Version>,
}

/// The product and version of an image reference, or `None` for an image of another product
/// (a simulator, a custom build).
#[must_use]
pub fn classify(reference: &str) -> Option<Image> {
    // `name:tag@digest` keeps its tag; a digest alone names no version.
    let name = reference.split('@').next().unwrap_or(reference);
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = match last.split_once(':') {
        Some((repository, tag)) => (repository, Some(tag)),
        None => (last, None),
    };
    let product = REPOSITORIES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(repository))?
        .1;
    Some(Image {
        product,
        version: tag.and_then(Version::parse),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(reference: &str) -> Option<String> {
        classify(reference)?.version.map(|v| v.to_string())
    }

    #[test]
    fn knows_the_official_and_common_repositories() {
        for (reference, product, v) in [
            (
                "registry.rocket.chat/rocketchat/rocket.chat:8.5.1",
                Product::RocketChat,
                "8.5.1",
            ),
            (
                "rocketchat/rocket.chat:7.13.9",
                Product::RocketChat,
                "7.13.9",
            ),
            ("rocket.chat:8.0.1", Product::RocketChat, "8.0.1"),
            ("mongo:8.0", Product::MongoDb, "8.0"),
            ("docker.io/library/mongo:7.0.14", Product::MongoDb, "7.0.14"),
            (
                "mongodb/mongodb-community-server:8.2.11-ubi8",
                Product::MongoDb,
                "8.2.11",
            ),
            (
                "bitnami/mongodb:8.0.4-debian-12-r0",
                Product::MongoDb,
                "8.0.4",
            ),
            ("localhost:5000/mongo:8.0", Product::MongoDb, "8.0"),
        ] {
            let image = classify(reference).unwrap_or_else(|| panic!("{reference}"));
            assert_eq!(image.product, product, "{reference}");
            assert_eq!(version(reference).as_deref(), Some(v), "{reference}");
        }
    }

    #[test]
    fn unreadable_tags_have_no_version_and_other_images_no_product() {
        for reference in [
            "mongo",
            "mongo:latest",
            "rocket.chat@sha256:0123abcd",
            "rocketchat/rocket.chat:develop",
        ] {
            assert!(classify(reference).is_some(), "{reference}");
            assert_eq!(version(reference), None, "{reference}");
        }
        for reference in [
            "stackctl-test/chat-mongo:local",
            "stackctl-test/chat-rocketchat:local",
            "nginx:1.27",
            "mongo-express:1.0",
            "",
        ] {
            assert_eq!(classify(reference), None, "{reference}");
        }
    }
}
