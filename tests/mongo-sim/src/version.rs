//! The simulated server's release, and the featureCompatibilityVersion (FCV) rules that tie
//! data to releases: which FCVs a binary reads, what `setFeatureCompatibilityVersion` accepts,
//! and the fatal start-up line on data it cannot read.
//!
//! Sources:
//! - mongo: src/mongo/db/wire_version.h (maxWireVersion per release: 5.0 = 13, 6.0 = 17,
//!   7.0 = 21, 8.0 = 25, 8.2 = 27)
//! - mongo: src/mongo/util/version/releases.yml + fcv generation (a binary reads the FCVs
//!   last-LTS, last-continuous and latest: 8.0 reads '7.0' '7.3' '8.0', 6.0 reads '5.0' '5.3'
//!   '6.0', 5.0 reads '4.4' '4.9' '5.0')
//! - the start-up failure texts, as logged by real servers: 8.0 in ../shared/brief/day2.md §1
//!   ("Invalid feature compatibility version value '6.0'; expected '7.0' or '7.3' or '8.0'");
//!   6.0 in docker-library/mongo#557; 5.0 in vldc-hq/vldc-bot#210. mongod then exits with
//!   ExitCode::needDowngrade = 62 (src/mongo/util/exit_code.h).
//! - setFeatureCompatibilityVersion: confirm from 7.0 (src/mongo/db/commands/
//!   set_feature_compatibility_version_command.cpp, Location7369100); 6.0 rejects the field as
//!   unknown ("BSON field 'setFeatureCompatibilityVersion.confirm' is an unknown field.", the IDL
//!   parser, Location40415).

/// A `major.minor` pair.
pub type Series = (u32, u32);

/// The simulated release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: String,
    pub parts: [i32; 3],
}

impl Release {
    /// Reads `8.0.4` (or `8.0`, patch 0).
    pub fn parse(text: &str) -> Result<Release, String> {
        let nums: Vec<i32> = text
            .split('.')
            .map(|p| p.parse::<i32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("invalid server version `{text}`: expected e.g. 8.0.4"))?;
        let [major, minor, patch] = match nums.as_slice() {
            [a, b] => [*a, *b, 0],
            [a, b, c] => [*a, *b, *c],
            _ => {
                return Err(format!(
                    "invalid server version `{text}`: expected e.g. 8.0.4"
                ));
            }
        };
        let release = Release {
            version: format!("{major}.{minor}.{patch}"),
            parts: [major, minor, patch],
        };
        release.fcv_rule()?;
        Ok(release)
    }

    pub fn series(&self) -> Series {
        (self.parts[0] as u32, self.parts[1] as u32)
    }

    pub fn fcv(&self) -> String {
        let (a, b) = self.series();
        format!("{a}.{b}")
    }

    /// mongo: wire_version.h.
    pub fn max_wire_version(&self) -> i32 {
        match self.series() {
            (5, 0) => 13,
            (6, 0) => 17,
            (7, 0) => 21,
            (8, 0) => 25,
            (8, 2) => 27,
            _ => 21,
        }
    }

    /// (last LTS, last continuous) for the releases simulated.
    fn fcv_rule(&self) -> Result<(Series, Series), String> {
        Ok(match self.series() {
            (5, 0) => ((4, 4), (4, 9)),
            (6, 0) => ((5, 0), (5, 3)),
            (7, 0) => ((6, 0), (6, 3)),
            (8, 0) => ((7, 0), (7, 3)),
            (8, 2) => ((8, 0), (8, 1)),
            (a, b) => {
                return Err(format!(
                    "server version {a}.{b} is not simulated: use 5.0, 6.0, 7.0, 8.0 or 8.2"
                ));
            }
        })
    }

    /// The FCVs this binary can start on, oldest first.
    pub fn readable_fcvs(&self) -> [String; 3] {
        let ((a, b), (c, d)) = self.fcv_rule().expect("checked in parse");
        [format!("{a}.{b}"), format!("{c}.{d}"), self.fcv()]
    }

    /// The FCVs `setFeatureCompatibilityVersion` accepts: last LTS and latest (the last
    /// continuous release is only reachable from its own binary).
    pub fn settable_fcvs(&self) -> [String; 2] {
        let [lts, _, latest] = self.readable_fcvs();
        [lts, latest]
    }

    /// Whether `setFeatureCompatibilityVersion` requires `confirm: true` / knows the field.
    pub fn knows_confirm(&self) -> bool {
        self.parts[0] >= 7
    }

    /// The `error` attribute of mongod's fatal "Wrong mongod version" line (id 20573) on data
    /// whose FCV document holds `found`.
    pub fn wrong_version_error(&self, found: &str) -> String {
        let [lts, cont, latest] = self.readable_fcvs();
        let notes = format!(
            "https://docs.mongodb.com/master/release-notes/{lts}-compatibility/#feature-compatibility"
        );
        let cause = match self.parts[0] {
            // vldc-hq/vldc-bot#210 (5.0): the missing closing quote is the server's.
            5 => format!(
                "Invalid value for featureCompatibilityVersiondocument in admin.system.version, found {found}, expected '{lts}' or '{cont}' or '{latest}. See {notes}."
            ),
            // docker-library/mongo#557 (6.0), same shape assumed for 7.0.
            6 | 7 => format!(
                "Invalid feature compatibility version value, expected '{lts}' or '{cont}' or '{latest}. See {notes}."
            ),
            // ../shared/brief/day2.md §1 (8.0).
            _ => format!(
                "Invalid feature compatibility version value '{found}'; expected '{lts}' or '{cont}' or '{latest}'. See {notes}."
            ),
        };
        format!(
            "UPGRADE PROBLEM: Found an invalid featureCompatibilityVersion document (ERROR: Location4926900: Invalid featureCompatibilityVersion document in admin.system.version: {{ _id: \"featureCompatibilityVersion\", version: \"{found}\" }}. See {notes}. :: caused by :: {cause}). If the current featureCompatibilityVersion is below {lts}, see the documentation on upgrading at https://docs.mongodb.com/master/release-notes/{lts}/#upgrade-procedures."
        )
    }
}

/// The release simulated when none is given (what the simulator always reported).
pub const DEFAULT_VERSION: &str = "7.0.14";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_8_0_line_is_the_briefs() {
        let r = Release::parse("8.0.4").unwrap();
        assert_eq!(r.readable_fcvs(), ["7.0", "7.3", "8.0"]);
        let e = r.wrong_version_error("6.0");
        assert!(e.contains("Invalid featureCompatibilityVersion document in admin.system.version: { _id: \"featureCompatibilityVersion\", version: \"6.0\" }."), "{e}");
        assert!(e.contains("Invalid feature compatibility version value '6.0'; expected '7.0' or '7.3' or '8.0'."), "{e}");
        assert!(e.ends_with("If the current featureCompatibilityVersion is below 7.0, see the documentation on upgrading at https://docs.mongodb.com/master/release-notes/7.0/#upgrade-procedures."), "{e}");
        assert!(Release::parse("9.1").is_err());
        assert_eq!(Release::parse("8.2").unwrap().version, "8.2.0");
    }
}
