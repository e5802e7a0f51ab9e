//! Problems found in the stack files, collected so one run reports all of them, each at
//! `file:line`.

use std::fmt::Write as _;

use super::locate::Source;
use super::merge::Origins;
use crate::error::Error;

/// At most this many problems are listed; the rest are counted. A file with thousands of
/// broken references needs its first screenful fixed, not a wall of text.
pub const MAX_LISTED: usize = 100;

/// One stack file as messages name it.
#[derive(Debug)]
pub struct File {
    pub name: String,
    pub source: Source,
}

/// Where a problem is.
#[derive(Debug)]
enum At {
    /// A path in one file, as written there.
    File(usize, Vec<String>),
    /// A path in the merged document; the origins say which file set it.
    Merged(Vec<String>),
    /// A line of one file (the YAML parser's position).
    Line(usize, Option<usize>),
}

#[derive(Debug)]
struct Problem {
    at: At,
    message: String,
    hint: Option<String>,
}

/// The problems found so far.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// A problem at a path of one file.
    pub fn in_file<S: AsRef<str>>(
        &mut self,
        file: usize,
        path: &[S],
        message: String,
        hint: Option<String>,
    ) {
        self.list.push(Problem {
            at: At::File(file, path.iter().map(|s| s.as_ref().to_owned()).collect()),
            message,
            hint,
        });
    }

    /// A problem at a line of one file.
    pub fn in_line(
        &mut self,
        file: usize,
        line: Option<usize>,
        message: String,
        hint: Option<String>,
    ) {
        self.list.push(Problem {
            at: At::Line(file, line),
            message,
            hint,
        });
    }

    /// A problem at a path of the merged stack.
    pub fn at<S: AsRef<str>>(&mut self, path: &[S], message: String, hint: Option<String>) {
        self.list.push(Problem {
            at: At::Merged(path.iter().map(|s| s.as_ref().to_owned()).collect()),
            message,
            hint,
        });
    }

    /// One usage error (exit 2) listing every problem, or `None` without problems.
    ///
    /// A value already reported while it was read (a required variable that is not set, a
    /// merge conflict) is not reported again by the checks of the merged stack, which would
    /// only describe the unexpanded or half-merged text.
    pub fn into_error(mut self, files: &[File], origins: &Origins) -> Option<Error> {
        let read: Vec<(usize, Vec<String>)> = self
            .list
            .iter()
            .filter_map(|p| match &p.at {
                At::File(file, path) => Some((*file, path.clone())),
                _ => None,
            })
            .collect();
        self.list.retain(|p| {
            let At::Merged(path) = &p.at else {
                return true;
            };
            origins.resolve(path).is_none_or(|(file, path)| {
                !read
                    .iter()
                    .any(|(f, prefix)| *f == file && path.starts_with(prefix))
            })
        });
        let first = self.list.first()?;
        let all_names = || {
            files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let locate = |p: &Problem| -> String {
            if let At::Line(file, line) = p.at {
                let name = files.get(file).map_or_else(all_names, |f| f.name.clone());
                return match line {
                    Some(line) => format!("{name}:{line}"),
                    None => name,
                };
            }
            let (file, path) = match &p.at {
                At::Line(..) => unreachable!("handled above"),
                At::File(file, path) => (Some(*file), path.clone()),
                At::Merged(path) => match origins.resolve(path) {
                    Some((file, path)) => (Some(file), path),
                    None => (None, Vec::new()),
                },
            };
            let Some(file) = file.filter(|f| *f < files.len()) else {
                return all_names();
            };
            let line = (1..=path.len())
                .rev()
                .find_map(|n| files[file].source.line_of(&path[..n]));
            match line {
                Some(line) => format!("{}:{line}", files[file].name),
                None => files[file].name.clone(),
            }
        };
        if self.list.len() == 1 {
            let mut error = Error::usage(format!("{}: {}", locate(first), first.message));
            if let Some(hint) = &first.hint {
                error = error.with_hint(hint.clone());
            }
            return Some(error);
        }
        let mut message = format!("{} problems in {}:", self.list.len(), all_names());
        for p in self.list.iter().take(MAX_LISTED) {
            let _ = write!(message, "\n  {}: {}", locate(p), p.message);
            if let Some(hint) = &p.hint {
                let _ = write!(message, " (hint: {hint})");
            }
        }
        if self.list.len() > MAX_LISTED {
            let _ = write!(message, "\n  ... and {} more", self.list.len() - MAX_LISTED);
        }
        Some(Error::usage(message))
    }
}
