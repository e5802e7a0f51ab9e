//! The Rocket.Chat ↔ MongoDB support matrix as data, one reviewed place, each row with its
//! source; [`check`] evaluates rows and knows no versions of its own.

use std::fmt::Write as _;

use super::{Series, Version};

/// Where the matrix as a whole is documented: each release's "Engine versions", or
/// `https://releases.rocket.chat/<ver>/info` → `compatibleMongoVersions`.
pub const MATRIX_SOURCE: &str = "https://docs.rocket.chat/docs/supported-mongodb-versions";

/// An inclusive range of Rocket.Chat release series; `u32::MAX` as a minor means "any".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Releases {
    pub first: Series,
    pub last: Series,
}

const ANY: u32 = u32::MAX;

impl Releases {
    /// Whether `version` is inside (a bare major is inside when the range touches it).
    #[must_use]
    pub fn contains(&self, version: Version) -> bool {
        match version.series() {
            Some(series) => self.first <= series && series <= self.last,
            None => self.first.major <= version.major && version.major <= self.last.major,
        }
    }
}

impl std::fmt::Display for Releases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |s: Series| {
            if s.minor == ANY {
                format!("{}.x", s.major)
            } else {
                s.to_string()
            }
        };
        if self.first.major == self.last.major && self.first.minor == 0 && self.last.minor == ANY {
            write!(f, "{}.x", self.first.major)
        } else {
            write!(f, "{} to {}", self.first, end(self.last))
        }
    }
}

/// One row: these Rocket.Chat releases run on these MongoDB series, says `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub rocketchat: Releases,
    pub mongodb: &'static [Series],
    pub source: &'static str,
}

impl Row {
    /// `4.4, 5.0, 6.0`.
    #[must_use]
    pub fn mongodb_list(&self) -> String {
        let all: Vec<String> = self.mongodb.iter().map(ToString::to_string).collect();
        all.join(", ")
    }
}

const fn releases(first: (u32, u32), last: (u32, u32)) -> Releases {
    Releases {
        first: Series::new(first.0, first.1),
        last: Series::new(last.0, last.1),
    }
}

/// The matrix. Rocket.Chat 8.x needs MongoDB 8.x: 8.0 and 8.1 documented 8.2, 8.2 and later
/// are tested on 8.0 (RocketChat/Rocket.Chat#41022 is about exactly this mismatch).
pub const MATRIX: &[Row] = &[
    Row {
        rocketchat: releases((6, 0), (6, ANY)),
        mongodb: &[Series::new(4, 4), Series::new(5, 0), Series::new(6, 0)],
        source: "https://releases.rocket.chat/6.0.0/info (`compatibleMongoVersions`), releases 6.5.8 and 6.8.2, RocketChat/Rocket.Chat#27891",
    },
    Row {
        rocketchat: releases((7, 0), (7, ANY)),
        mongodb: &[Series::new(5, 0), Series::new(6, 0), Series::new(7, 0)],
        source: "https://github.com/RocketChat/Rocket.Chat/releases (7.0.2 to 7.12.0: \"MongoDB: 5.0, 6.0, 7.0\"), RocketChat/Rocket.Chat#32162",
    },
    Row {
        rocketchat: releases((8, 0), (8, 1)),
        mongodb: &[Series::new(8, 2)],
        source: "https://github.com/RocketChat/Rocket.Chat/releases/tag/8.0.0 (quoted in RocketChat/helm-charts#226), RocketChat/Rocket.Chat#39689",
    },
    Row {
        rocketchat: releases((8, 2), (9, ANY)),
        mongodb: &[Series::new(8, 0)],
        source: "RocketChat/Rocket.Chat#38596 (\"update MongoDB version to 8.0\"), release notes 8.2.1 and 8.5.1 (\"MongoDB: 8.0\")",
    },
];

/// What the matrix says of a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every reading of the pair is in the matrix.
    Supported,
    /// No reading is: the rows that cover this Rocket.Chat (none when the matrix does not
    /// know the release at all).
    Unsupported(Vec<Row>),
    /// Some readings are and some are not (`mongo:8` may be 8.0 or 8.2): why.
    Undecided(String),
}

/// The MongoDB series `version` may be: itself, or for a bare major the series the rows name
/// with that major.
fn mongodb_readings(rows: &[Row], version: Version) -> Vec<Series> {
    if let Some(series) = version.series() {
        return vec![series];
    }
    let mut all: Vec<Series> = rows
        .iter()
        .flat_map(|row| row.mongodb.iter().copied())
        .filter(|s| s.major == version.major)
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Evaluates a Rocket.Chat / MongoDB pair against `rows`.
#[must_use]
pub fn check(rows: &[Row], rocketchat: Version, mongodb: Version) -> Verdict {
    let covering: Vec<Row> = rows
        .iter()
        .filter(|row| row.rocketchat.contains(rocketchat))
        .copied()
        .collect();
    let readings = mongodb_readings(rows, mongodb);
    let mut yes = 0;
    let mut no = 0;
    for row in &covering {
        if readings.is_empty() {
            no += 1;
        }
        for series in &readings {
            if row.mongodb.contains(series) {
                yes += 1;
            } else {
                no += 1;
            }
        }
    }
    match (yes, no) {
        (_, 0) if yes > 0 => Verdict::Supported,
        (0, _) => Verdict::Unsupported(covering),
        _ => {
            let readings: Vec<String> = readings.iter().map(ToString::to_string).collect();
            Verdict::Undecided(format!(
                "Rocket.Chat `{rocketchat}` (read as {}) with MongoDB `{mongodb}` (read as {}) \
                 is supported under some readings and not under others",
                covering
                    .iter()
                    .map(|r| r.rocketchat.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
                readings.join(" or "),
            ))
        }
    }
}

/// `Rocket.Chat 6.x with MongoDB 4.4, 5.0, 6.0; 7.x with ...`: the rows in one line.
#[must_use]
pub fn summary(rows: &[Row]) -> String {
    let parts: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let prefix = if i == 0 { "Rocket.Chat " } else { "" };
            let with = if i == 0 { "with MongoDB" } else { "with" };
            format!("{prefix}{} {with} {}", row.rocketchat, row.mongodb_list())
        })
        .collect();
    parts.join("; ")
}

/// The matrix as the README's Markdown table.
#[must_use]
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from("| Rocket.Chat | MongoDB | source |\n|---|---|---|\n");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            row.rocketchat,
            row.mongodb_list(),
            row.source
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(rc: &str, mongo: &str) -> Verdict {
        check(
            MATRIX,
            Version::parse(rc).unwrap(),
            Version::parse(mongo).unwrap(),
        )
    }

    fn needs(rc: &str, mongo: &str) -> Vec<String> {
        match verdict(rc, mongo) {
            Verdict::Unsupported(rows) => rows.iter().map(Row::mongodb_list).collect(),
            other => panic!("{rc} + {mongo}: {other:?}"),
        }
    }

    #[test]
    fn the_shipped_pin_and_the_documented_pairs_are_supported() {
        for (rc, mongo) in [
            ("8.5.1", "8.0"),
            ("8.5.1", "8.0.4"),
            ("8.2.1", "8.0"),
            ("9.0.0", "8.0"),
            ("8.0.1", "8.2"),
            ("8.1.2", "8.2.11"),
            ("7.13.9", "7.0"),
            ("7", "6.0"),
            ("7.0.2", "5.0"),
            ("6.8.2", "4.4"),
        ] {
            assert_eq!(verdict(rc, mongo), Verdict::Supported, "{rc} + {mongo}");
        }
    }

    #[test]
    fn pairs_outside_it_are_refused_with_what_the_release_needs() {
        assert_eq!(needs("8.0.1", "8.0"), ["8.2"]);
        assert_eq!(needs("8.5.1", "7.0"), ["8.0"]);
        assert_eq!(needs("8.5", "8.2"), ["8.0"]);
        assert_eq!(needs("7.13.9", "8.0"), ["5.0, 6.0, 7.0"]);
        assert_eq!(needs("7", "8.0"), ["5.0, 6.0, 7.0"]);
        assert_eq!(needs("6.0.0", "7.0"), ["4.4, 5.0, 6.0"]);
        assert_eq!(needs("8.5.1", "7"), ["8.0"]);
        assert_eq!(needs("8.5.1", "9"), ["8.0"]);
        assert!(needs("5.4.0", "5.0").is_empty(), "not in the matrix at all");
    }

    #[test]
    fn a_bare_major_that_reads_both_ways_is_undecided() {
        // Rocket.Chat 8 is 8.0/8.1 (MongoDB 8.2) or 8.2+ (MongoDB 8.0).
        assert!(matches!(verdict("8", "8.0"), Verdict::Undecided(_)));
        // MongoDB 8 is 8.0 or 8.2.
        assert!(matches!(verdict("8.5.1", "8"), Verdict::Undecided(_)));
        let Verdict::Undecided(why) = verdict("8.0.1", "8") else {
            panic!()
        };
        assert_eq!(
            why,
            "Rocket.Chat `8.0.1` (read as 8.0 to 8.1) with MongoDB `8` (read as 8.0 or 8.2) is \
             supported under some readings and not under others"
        );
    }

    #[test]
    fn rows_are_ordered_disjoint_and_sourced() {
        for pair in MATRIX.windows(2) {
            assert!(
                pair[0].rocketchat.last < pair[1].rocketchat.first,
                "{pair:?}"
            );
        }
        for row in MATRIX {
            assert!(!row.mongodb.is_empty() && !row.source.is_empty(), "{row:?}");
        }
        assert_eq!(
            summary(MATRIX),
            "Rocket.Chat 6.x with MongoDB 4.4, 5.0, 6.0; 7.x with 5.0, 6.0, 7.0; 8.0 to 8.1 with 8.2; 8.2 to 9.x with 8.0"
        );
    }
}
