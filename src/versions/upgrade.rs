//! The upgrade rules as data, for a later `stackctl upgrade`: MongoDB moves one major (series)
//! at a time with its FCV set after each hop; Rocket.Chat skips no major. The planners walk
//! the rows and know no versions of their own.

use std::collections::{BTreeMap, VecDeque};

use super::{Series, Version};

/// One MongoDB binary step: from a deployment running `from` with FCV `from`, swap to `to`,
/// then set the FCV to `set_fcv` (`confirm: true` required from 7.0 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub from: Series,
    pub to: Series,
    /// The FCV to set once every member runs `to` (an upgraded deployment keeps the old one).
    pub set_fcv: Series,
    /// `setFeatureCompatibilityVersion` needs `confirm: true` (7.0 and later binaries; 6.0 has
    /// no such field).
    pub confirm: bool,
    pub source: &'static str,
}

impl Hop {
    /// The command that finishes the hop, as the mongo shell writes it.
    #[must_use]
    pub fn set_fcv_command(&self) -> String {
        if self.confirm {
            format!(
                "db.adminCommand({{setFeatureCompatibilityVersion: \"{}\", confirm: true}})",
                self.set_fcv
            )
        } else {
            format!(
                "db.adminCommand({{setFeatureCompatibilityVersion: \"{}\"}})",
                self.set_fcv
            )
        }
    }
}

const fn hop(from: (u32, u32), to: (u32, u32), source: &'static str) -> Hop {
    Hop {
        from: Series::new(from.0, from.1),
        to: Series::new(to.0, to.1),
        set_fcv: Series::new(to.0, to.1),
        confirm: to.0 >= 7,
        source,
    }
}

/// "Upgrade Version Path": one major at a time, 5.0 → 6.0 → 7.0 → 8.0.
const PATH_8_0: &str = "https://www.mongodb.com/docs/manual/release-notes/8.0-upgrade-replica-set/ (\"Upgrade Version Path\")";

/// The hops MongoDB documents. Sources: each target's "Upgrade Version Path"; `confirm` from
/// the `setFeatureCompatibilityVersion` reference (docs commit mongodb/docs@929dd2d, DOCSP-28364).
pub const MONGO_HOPS: &[Hop] = &[
    hop((5, 0), (6, 0), PATH_8_0),
    hop((6, 0), (7, 0), PATH_8_0),
    hop((7, 0), (8, 0), PATH_8_0),
    hop(
        (8, 0),
        (8, 2),
        "https://www.mongodb.com/docs/manual/release-notes/8.2-upgrade/",
    ),
    hop(
        (8, 0),
        (8, 3),
        "https://www.mongodb.com/docs/manual/release-notes/8.3-upgrade/",
    ),
    hop(
        (8, 2),
        (8, 3),
        "https://www.mongodb.com/docs/manual/release-notes/8.3-upgrade/",
    ),
];

/// Why no upgrade plan exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A downgrade: only with support's help, or by restoring the pre-upgrade backup.
    Downgrade { from: String, to: String },
    /// The rules know no way from one to the other.
    NoPath { from: String, to: String },
    /// A version without the precision the rules need (`8` for MongoDB).
    Imprecise(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Downgrade { from, to } => write!(
                f,
                "{from} to {to} is a downgrade: restore the backup taken before the upgrade"
            ),
            Self::NoPath { from, to } => write!(f, "no known upgrade path from {from} to {to}"),
            Self::Imprecise(what) => write!(f, "`{what}` names no release series"),
        }
    }
}

/// The MongoDB hops from `from` to `to`, fewest first (empty when they are the same series).
///
/// # Errors
/// A downgrade, a version without a minor, or a pair no chain of [`MONGO_HOPS`] links.
pub fn plan_mongo_path(from: Version, to: Version) -> Result<Vec<Hop>, PlanError> {
    plan_hops(MONGO_HOPS, from, to)
}

/// [`plan_mongo_path`] over any rows: a breadth-first walk.
///
/// # Errors
/// As [`plan_mongo_path`].
pub fn plan_hops(hops: &[Hop], from: Version, to: Version) -> Result<Vec<Hop>, PlanError> {
    let start = from
        .series()
        .ok_or_else(|| PlanError::Imprecise(from.to_string()))?;
    let goal = to
        .series()
        .ok_or_else(|| PlanError::Imprecise(to.to_string()))?;
    if start == goal {
        return Ok(Vec::new());
    }
    if goal < start {
        return Err(PlanError::Downgrade {
            from: start.to_string(),
            to: goal.to_string(),
        });
    }
    let mut came_by: BTreeMap<Series, Hop> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        if at == goal {
            let mut path = Vec::new();
            let mut here = goal;
            while here != start {
                let step = came_by[&here];
                path.push(step);
                here = step.from;
            }
            path.reverse();
            return Ok(path);
        }
        for step in hops.iter().filter(|h| h.from == at) {
            if step.to != start && !came_by.contains_key(&step.to) {
                came_by.insert(step.to, *step);
                queue.push_back(step.to);
            }
        }
    }
    Err(PlanError::NoPath {
        from: start.to_string(),
        to: goal.to_string(),
    })
}

/// Rocket.Chat's rule: a database migrated by `requires` majors (or later) may run `major`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MajorStep {
    pub major: u32,
    pub requires: u32,
    pub source: &'static str,
}

/// No skipped majors: migration 292 (7.x) and 318 (8.x) throw `UPGRADE NOT SUPPORTED!` on a
/// database that has not run the previous major.
pub const ROCKETCHAT_STEPS: &[MajorStep] = &[
    MajorStep {
        major: 7,
        requires: 6,
        source: "apps/meteor/server/startup/migrations/minimumVersion.ts (migration 292), https://go.rocket.chat/i/how-to-upgrade",
    },
    MajorStep {
        major: 8,
        requires: 7,
        source: "apps/meteor/server/startup/migrations/minimumVersion.ts (migration 318), https://go.rocket.chat/i/how-to-upgrade",
    },
];

/// The Rocket.Chat majors to run, in order, from `from` to reach `to` (each any release of
/// that major, preferably its latest), `to`'s own major last; empty within one major.
///
/// # Errors
/// A downgrade (migrations do not run backwards: `Can't find migration version N`), or a
/// major the rules do not know how to reach.
pub fn plan_rocketchat_path(from: Version, to: Version) -> Result<Vec<MajorStep>, PlanError> {
    plan_majors(ROCKETCHAT_STEPS, from, to)
}

/// [`plan_rocketchat_path`] over any rows.
///
/// # Errors
/// As [`plan_rocketchat_path`].
pub fn plan_majors(
    steps: &[MajorStep],
    from: Version,
    to: Version,
) -> Result<Vec<MajorStep>, PlanError> {
    let older = (from.major, from.minor, from.patch) > (to.major, to.minor, to.patch)
        && from.minor.is_some()
        && to.minor.is_some();
    if to.major < from.major || older {
        return Err(PlanError::Downgrade {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    let mut path = Vec::new();
    let mut at = from.major;
    while at < to.major {
        let step = steps
            .iter()
            .find(|s| s.requires == at)
            .ok_or_else(|| PlanError::NoPath {
                from: from.to_string(),
                to: to.to_string(),
            })?;
        path.push(*step);
        at = step.major;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn path(from: &str, to: &str) -> Vec<String> {
        plan_mongo_path(v(from), v(to))
            .unwrap()
            .iter()
            .map(|h| {
                format!(
                    "{}->{} fcv {} confirm {}",
                    h.from, h.to, h.set_fcv, h.confirm
                )
            })
            .collect()
    }

    #[test]
    fn mongodb_moves_one_major_at_a_time_with_fcv_after_each_hop() {
        assert_eq!(
            path("5.0.31", "8.0"),
            [
                "5.0->6.0 fcv 6.0 confirm false",
                "6.0->7.0 fcv 7.0 confirm true",
                "7.0->8.0 fcv 8.0 confirm true",
            ]
        );
        assert_eq!(
            path("7.0", "8.2.11-ubi8"),
            [
                "7.0->8.0 fcv 8.0 confirm true",
                "8.0->8.2 fcv 8.2 confirm true"
            ]
        );
        assert_eq!(path("8.0", "8.3"), ["8.0->8.3 fcv 8.3 confirm true"]);
        assert!(path("8.0.4", "8.0.12").is_empty(), "a patch is no hop");
        assert_eq!(
            MONGO_HOPS[2].set_fcv_command(),
            "db.adminCommand({setFeatureCompatibilityVersion: \"8.0\", confirm: true})"
        );
        assert_eq!(
            MONGO_HOPS[0].set_fcv_command(),
            "db.adminCommand({setFeatureCompatibilityVersion: \"6.0\"})"
        );
    }

    #[test]
    fn mongodb_refuses_downgrades_unknown_series_and_bare_majors() {
        assert!(matches!(
            plan_mongo_path(v("8.0"), v("7.0")),
            Err(PlanError::Downgrade { .. })
        ));
        assert_eq!(
            plan_mongo_path(v("4.4"), v("6.0")).unwrap_err().to_string(),
            "no known upgrade path from 4.4 to 6.0"
        );
        assert_eq!(
            plan_mongo_path(v("7.0"), v("8")).unwrap_err(),
            PlanError::Imprecise("8".into())
        );
    }

    #[test]
    fn rocketchat_skips_no_major() {
        let majors = |from: &str, to: &str| -> Vec<u32> {
            plan_rocketchat_path(v(from), v(to))
                .unwrap()
                .iter()
                .map(|s| s.major)
                .collect()
        };
        assert_eq!(majors("6.13.1", "8.5.1"), [7, 8]);
        assert_eq!(majors("7.13.9", "8.5.1"), [8]);
        assert!(majors("8.2.1", "8.5.1").is_empty());
        assert!(matches!(
            plan_rocketchat_path(v("8.5.1"), v("7.13.9")),
            Err(PlanError::Downgrade { .. })
        ));
        assert!(matches!(
            plan_rocketchat_path(v("8.5.1"), v("8.2.1")),
            Err(PlanError::Downgrade { .. })
        ));
        assert!(matches!(
            plan_rocketchat_path(v("5.4.0"), v("8.5.1")),
            Err(PlanError::NoPath { .. })
        ));
    }
}
