//! The upgrade path from the running pair to the one the stack file names: MongoDB's one-major
//! hops and Rocket.Chat's no-skipped-major steps ([`crate::versions::upgrade`]) interleaved so
//! that every pair that runs is inside the support matrix ([`crate::versions::matrix`]). When
//! neither next hop can run beside the other product's current version (Rocket.Chat 7.x on
//! MongoDB 7.0 → Rocket.Chat 8.x on MongoDB 8.0), the MongoDB hop runs with Rocket.Chat kept
//! stopped and the Rocket.Chat hop follows at once (../shared/brief/day2.md §5.2: "otherwise
//! keep RC stopped across that hop"): the unsupported pair never runs.

use std::fmt::Write as _;

use crate::versions::image::{Product, classify};
use crate::versions::matrix::{MATRIX, Verdict, check};
use crate::versions::upgrade::{Hop, PlanError, plan_mongo_path, plan_rocketchat_path};
use crate::versions::{Series, Version};

/// The Rocket.Chat release an upgrade passes through for a major it only crosses (the file
/// names the last one): the last of that major the matrix rows name.
pub const ROCKETCHAT_BRIDGES: &[(u32, &str, &str)] = &[
    (
        7,
        "7.13.9",
        "RocketChat/Rocket.Chat#41022 (7.13.9, the last 7.x release it discusses)",
    ),
    (
        6,
        "6.13.1",
        "https://github.com/RocketChat/Rocket.Chat/releases/tag/6.13.1",
    ),
];

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// MongoDB to the next series, then its FCV set.
    Mongo {
        hop: Hop,
        image: String,
        /// Rocket.Chat stays stopped across this hop: its running release does not support
        /// the next MongoDB series (the next Rocket.Chat step, which does, follows).
        rocketchat_down: bool,
    },
    /// Rocket.Chat to the next release (its migrations run at start-up).
    RocketChat {
        from: Version,
        to: Version,
        image: String,
    },
}

impl Step {
    /// `MongoDB 6.0 → 7.0` / `Rocket.Chat 6.13.1 → 7.13.9`.
    #[must_use]
    pub fn title(&self) -> String {
        match self {
            Self::Mongo { hop, .. } => format!("MongoDB {} → {}", hop.from, hop.to),
            Self::RocketChat { from, to, .. } => format!("Rocket.Chat {from} → {to}"),
        }
    }

    /// The image the step runs.
    #[must_use]
    pub fn image(&self) -> &str {
        match self {
            Self::Mongo { image, .. } | Self::RocketChat { image, .. } => image,
        }
    }
}

/// The versions at one end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub mongodb: Version,
    /// `None` for a stack without Rocket.Chat.
    pub rocketchat: Option<Version>,
}

/// The whole path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub from: Pair,
    pub to: Pair,
    pub steps: Vec<Step>,
}

/// Where the images of the steps come from.
#[derive(Debug, Clone, Default)]
pub struct Images {
    /// The references the stack file names (the last step of each product runs these).
    pub mongodb: String,
    pub rocketchat: Option<String>,
    /// `--via`: images to use for the releases the path passes through.
    pub via: Vec<String>,
}

/// `reference` with its tag replaced (registry and repository kept, a digest dropped).
#[must_use]
pub fn with_tag(reference: &str, tag: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let repository = match name[slash..].find(':') {
        Some(colon) => &name[..slash + colon],
        None => name,
    };
    format!("{repository}:{tag}")
}

impl Images {
    fn via(&self, product: Product, fits: impl Fn(Version) -> bool) -> Option<String> {
        self.via
            .iter()
            .find(|r| {
                classify(r).is_some_and(|i| i.product == product && i.version.is_some_and(&fits))
            })
            .cloned()
    }

    /// The MongoDB image of `series`: the file's own when it names that series, else `--via`,
    /// else the file's repository tagged with the series (`mongo:7.0`).
    fn mongodb(&self, series: Series, last: bool) -> String {
        if last {
            return self.mongodb.clone();
        }
        self.via(Product::MongoDb, |v| v.series() == Some(series))
            .unwrap_or_else(|| with_tag(&self.mongodb, &series.to_string()))
    }

    fn rocketchat(&self, version: Version, last: bool) -> String {
        let file = self.rocketchat.clone().unwrap_or_default();
        if last {
            return file;
        }
        self.via(Product::RocketChat, |v| v == version)
            .unwrap_or_else(|| with_tag(&file, &version.to_string()))
    }
}

fn supported(rocketchat: Option<Version>, mongodb: Series) -> bool {
    rocketchat.is_none_or(|rc| {
        check(
            MATRIX,
            rc,
            Version::parse(&mongodb.to_string()).unwrap_or(rc),
        ) == Verdict::Supported
    })
}

/// The Rocket.Chat releases to run in turn: a bridge release of each major crossed, then the
/// file's (also when only the minor changes: its migrations run too).
fn rocketchat_releases(
    from: Version,
    to: Version,
    via: &[String],
) -> Result<Vec<Version>, PlanError> {
    let majors = plan_rocketchat_path(from, to)?;
    let mut releases = Vec::new();
    for step in majors.iter().filter(|s| s.major != to.major) {
        let chosen = via
            .iter()
            .filter_map(|r| classify(r))
            .filter(|i| i.product == Product::RocketChat)
            .filter_map(|i| i.version)
            .find(|v| v.major == step.major && v.minor.is_some())
            .or_else(|| {
                ROCKETCHAT_BRIDGES
                    .iter()
                    .find(|(major, _, _)| *major == step.major)
                    .and_then(|(_, release, _)| Version::parse(release))
            })
            .ok_or_else(|| PlanError::NoPath {
                from: from.to_string(),
                to: to.to_string(),
            })?;
        releases.push(chosen);
    }
    if !same_release(from, to) {
        releases.push(to);
    }
    Ok(releases)
}

/// Whether two versions name the same release as far as both are precise: Rocket.Chat's
/// `/api/info` tells callers without a session `major.minor` only
/// (tests/end-to-end/api/miscellaneous.ts), so `7.13` is `7.13.9`.
#[must_use]
pub fn same_release(a: Version, b: Version) -> bool {
    let part = |x: Option<u32>, y: Option<u32>| x.zip(y).is_none_or(|(x, y)| x == y);
    a.major == b.major && part(a.minor, b.minor) && part(a.patch, b.patch)
}

/// Plans the path from `from` (read over the wire) to `to` (the stack file's tags).
///
/// # Errors
/// No path: a downgrade, a skipped major the rules cannot bridge, or a pair on the way that no
/// order of the hops keeps inside the matrix; the text says which.
pub fn plan(from: Pair, to: Pair, images: &Images) -> Result<Plan, String> {
    let mongo_hops = plan_mongo_path(from.mongodb, to.mongodb)
        .map_err(|e| format!("MongoDB {} → {}: {e}", from.mongodb, to.mongodb))?;
    let releases = match (from.rocketchat, to.rocketchat) {
        (Some(a), Some(b)) => {
            rocketchat_releases(a, b, &images.via).map_err(|e| format!("Rocket.Chat: {e}"))?
        }
        _ => Vec::new(),
    };
    let mut mongo = from
        .mongodb
        .series()
        .ok_or_else(|| format!("MongoDB `{}` names no release series", from.mongodb))?;
    let mut rocketchat = from.rocketchat;
    let mut steps = Vec::new();
    let (mut m, mut r) = (0, 0);
    loop {
        let next_hop = mongo_hops.get(m);
        let next_rc = releases.get(r).copied();
        let rocketchat_down = match (next_hop, next_rc) {
            (None, None) => break,
            (Some(hop), _) if supported(rocketchat, hop.to) => false,
            (_, Some(release)) if supported(Some(release), mongo) => {
                steps.push(Step::RocketChat {
                    from: rocketchat.unwrap_or(release),
                    to: release,
                    image: images.rocketchat(release, r + 1 == releases.len()),
                });
                rocketchat = Some(release);
                r += 1;
                continue;
            }
            // Neither runs beside the other: MongoDB hops with Rocket.Chat stopped until the
            // next Rocket.Chat release fits.
            (Some(_), Some(_)) => true,
            (Some(hop), None) => {
                return Err(format!(
                    "Rocket.Chat {} does not run on MongoDB {}, the next series on the way",
                    rocketchat.map_or_else(String::new, |v| v.to_string()),
                    hop.to
                ));
            }
            (None, Some(release)) => {
                return Err(format!(
                    "Rocket.Chat {release} does not run on MongoDB {mongo} nor on any series \
                     the MongoDB path reaches ({})",
                    crate::versions::matrix::summary(MATRIX)
                ));
            }
        };
        let hop = mongo_hops[m];
        steps.push(Step::Mongo {
            hop,
            image: images.mongodb(hop.to, m + 1 == mongo_hops.len()),
            rocketchat_down,
        });
        mongo = hop.to;
        m += 1;
    }
    Ok(Plan { from, to, steps })
}

impl Plan {
    /// The plan as `--dry-run` prints it: each hop, its image, its `setFeatureCompatibilityVersion`.
    #[must_use]
    pub fn render(&self) -> String {
        let pair = |p: &Pair| match p.rocketchat {
            Some(rc) => format!("Rocket.Chat {rc} on MongoDB {}", p.mongodb),
            None => format!("MongoDB {}", p.mongodb),
        };
        let mut out = format!(
            "upgrade plan: {} → {} ({} hop{})\n",
            pair(&self.from),
            pair(&self.to),
            self.steps.len(),
            if self.steps.len() == 1 { "" } else { "s" }
        );
        for (i, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}: image {}", i + 1, step.title(), step.image());
            match step {
                Step::Mongo {
                    hop,
                    rocketchat_down,
                    ..
                } => {
                    let _ = writeln!(out, "     then {}", hop.set_fcv_command());
                    if *rocketchat_down {
                        let _ = writeln!(
                            out,
                            "     Rocket.Chat stays stopped: it does not run on MongoDB {} \
                             (the next step brings one that does)",
                            hop.to
                        );
                    }
                }
                Step::RocketChat { .. } => {
                    let _ = writeln!(
                        out,
                        "     one instance; its migrations run, the `control` lock must come free"
                    );
                }
            }
        }
        out
    }

    /// The plan as a JSON value (`--json`).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Mongo {
                    hop,
                    image,
                    rocketchat_down,
                } => serde_json::json!({
                    "product": "mongodb", "from": hop.from.to_string(), "to": hop.to.to_string(),
                    "image": image, "set_fcv": hop.set_fcv_command(),
                    "rocketchat_down": rocketchat_down,
                }),
                Step::RocketChat { from, to, image } => serde_json::json!({
                    "product": "rocketchat", "from": from.to_string(), "to": to.to_string(),
                    "image": image,
                }),
            })
            .collect();
        serde_json::json!({
            "event": "upgrade_plan",
            "from": {"mongodb": self.from.mongodb.to_string(), "rocketchat": self.from.rocketchat.map(|v| v.to_string())},
            "to": {"mongodb": self.to.mongodb.to_string(), "rocketchat": self.to.rocketchat.map(|v| v.to_string())},
            "steps": steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(rc: &str, mongo: &str) -> Pair {
        Pair {
            mongodb: Version::parse(mongo).unwrap(),
            rocketchat: Some(Version::parse(rc).unwrap()),
        }
    }

    fn images() -> Images {
        Images {
            mongodb: "mongo:8.0.4".into(),
            rocketchat: Some("registry.rocket.chat/rocketchat/rocket.chat:8.5.1".into()),
            via: Vec::new(),
        }
    }

    fn titles(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| format!("{} [{}]", s.title(), s.image()))
            .collect()
    }

    #[test]
    fn interleaves_so_every_running_pair_is_supported() {
        let plan = plan(pair("6.13.1", "5.0.31"), pair("8.5.1", "8.0.4"), &images()).unwrap();
        assert_eq!(
            titles(&plan),
            [
                "MongoDB 5.0 → 6.0 [mongo:6.0]",
                "Rocket.Chat 6.13.1 → 7.13.9 [registry.rocket.chat/rocketchat/rocket.chat:7.13.9]",
                "MongoDB 6.0 → 7.0 [mongo:7.0]",
                "MongoDB 7.0 → 8.0 [mongo:8.0.4]",
                "Rocket.Chat 7.13.9 → 8.5.1 [registry.rocket.chat/rocketchat/rocket.chat:8.5.1]",
            ]
        );
        assert!(matches!(
            plan.steps[3],
            Step::Mongo {
                rocketchat_down: true,
                ..
            }
        ));
        assert!(matches!(
            plan.steps[2],
            Step::Mongo {
                rocketchat_down: false,
                ..
            }
        ));
        let text = plan.render();
        assert!(text.contains("setFeatureCompatibilityVersion: \"8.0\", confirm: true"));
        assert!(text.contains("Rocket.Chat stays stopped"));
    }

    #[test]
    fn via_images_name_the_releases_passed_through() {
        let images = Images {
            via: vec!["ns/mongo:6.0.14".into(), "ns/rocket.chat:7.10.2".into()],
            mongodb: "ns/mongo:7.0.14".into(),
            rocketchat: Some("ns/rocket.chat:7.10.2".into()),
        };
        let plan = plan(pair("6.13.1", "5.0.31"), pair("7.10.2", "7.0.14"), &images).unwrap();
        assert_eq!(
            titles(&plan),
            [
                "MongoDB 5.0 → 6.0 [ns/mongo:6.0.14]",
                "Rocket.Chat 6.13.1 → 7.10.2 [ns/rocket.chat:7.10.2]",
                "MongoDB 6.0 → 7.0 [ns/mongo:7.0.14]",
            ]
        );
    }

    #[test]
    fn refuses_with_why() {
        let err = plan(pair("8.5.1", "8.0"), pair("7.13.9", "7.0"), &images()).unwrap_err();
        assert!(err.contains("downgrade"), "{err}");
        let err = plan(pair("5.4.0", "5.0"), pair("7.13.9", "6.0"), &images()).unwrap_err();
        assert!(
            err.starts_with("Rocket.Chat: no known upgrade path"),
            "{err}"
        );
        // Rocket.Chat 8.0 wants MongoDB 8.2, which the file's 8.0 never reaches.
        let err = plan(pair("7.13.9", "7.0"), pair("8.0.1", "8.0"), &images()).unwrap_err();
        assert!(
            err.contains("Rocket.Chat 8.0.1 does not run on MongoDB"),
            "{err}"
        );
        assert!(
            plan(pair("7.13", "7.0.14"), pair("7.13.9", "7.0"), &images())
                .unwrap()
                .steps
                .is_empty(),
            "/api/info without a session says major.minor"
        );
    }

    #[test]
    fn retags_keeping_registry_and_repository() {
        assert_eq!(with_tag("mongo:8.0.4", "7.0"), "mongo:7.0");
        assert_eq!(
            with_tag("localhost:5000/ns/mongo:8.0@sha256:ab", "7.0"),
            "localhost:5000/ns/mongo:7.0"
        );
        assert_eq!(
            with_tag("localhost:5000/mongo", "6.0"),
            "localhost:5000/mongo:6.0"
        );
    }
}
