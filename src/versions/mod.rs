//! Versions of the software the stack runs, read one way everywhere: the support matrix, the
//! upgrade rules and the image tags they are checked against all go through [`Version::parse`].

pub mod gate;
pub mod guard;
pub mod image;
pub mod matrix;
pub mod upgrade;

use std::fmt;

/// A release number as image tags and release notes write it: `8`, `8.0`, `8.5.1`. What
/// follows a `-` or `+` (`8.2.11-ubi8`, `8.0.4-debian-12-r0`, `7.0.1+build`) is ignored, and a
/// leading `v` is allowed. A missing minor or patch is a range: `8` is any 8.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: Option<u32>,
    pub patch: Option<u32>,
}

impl Version {
    /// Reads a version, or `None` for what is not one (`latest`, `jammy`, a digest).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let core = text.split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.');
        let number = |part: Option<&str>| -> Option<Option<u32>> {
            match part {
                None => Some(None),
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().ok().map(Some)
                }
                Some(_) => None,
            }
        };
        let major = number(parts.next())??;
        let minor = number(parts.next())?;
        let patch = number(parts.next())?;
        if parts.next().is_some() || (minor.is_none() && patch.is_some()) {
            return None;
        }
        Some(Self {
            major,
            minor,
            patch,
        })
    }

    /// The release series `major.minor`, when the minor is known.
    #[must_use]
    pub fn series(self) -> Option<Series> {
        self.minor.map(|minor| Series::new(self.major, minor))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major)?;
        if let Some(minor) = self.minor {
            write!(f, ".{minor}")?;
        }
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

/// A release series, `major.minor`: what the support matrix and the upgrade rules speak of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    pub major: u32,
    pub minor: u32,
}

impl Series {
    #[must_use]
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Reads `8.0` (a patch is dropped; a bare major is not a series).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Version::parse(text)?.series()
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: Option<u32>, patch: Option<u32>) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    #[test]
    fn reads_tags_as_images_write_them() {
        assert_eq!(Version::parse("8.5.1"), Some(v(8, Some(5), Some(1))));
        assert_eq!(Version::parse("8.0"), Some(v(8, Some(0), None)));
        assert_eq!(Version::parse("8"), Some(v(8, None, None)));
        assert_eq!(Version::parse("8.2.11-ubi8"), Some(v(8, Some(2), Some(11))));
        assert_eq!(Version::parse("8.0-ubi9"), Some(v(8, Some(0), None)));
        assert_eq!(
            Version::parse("8.0.4-debian-12-r0"),
            Some(v(8, Some(0), Some(4)))
        );
        assert_eq!(Version::parse("v7.13.9"), Some(v(7, Some(13), Some(9))));
        assert_eq!(Version::parse("8.5.1-rc.0"), Some(v(8, Some(5), Some(1))));
    }

    #[test]
    fn what_is_not_a_version_is_none() {
        for text in [
            "latest", "", "jammy", "8.x", "8..1", "8.0.1.2", ".8", "sha256", "8a", "-8",
        ] {
            assert_eq!(Version::parse(text), None, "{text}");
        }
    }

    #[test]
    fn prints_as_written_and_orders_by_series() {
        assert_eq!(Version::parse("8.2.11-ubi8").unwrap().to_string(), "8.2.11");
        assert_eq!(Series::parse("8.0.3"), Some(Series::new(8, 0)));
        assert_eq!(Series::parse("8"), None);
        assert!(Series::new(7, 0) < Series::new(8, 0));
        assert!(Series::new(8, 0) < Series::new(8, 2));
        assert_eq!(Series::new(8, 0).to_string(), "8.0");
    }
}
