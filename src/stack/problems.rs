//! Problems found in the stack files, collected so one run reports all of them, each at
//! `file:line`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::locate::Source;
use super::merge::Origins;
use super::position;
use crate::error::Error;

/// At most this many problems are listed; the rest are counted. A file with thousands of
/// broken references needs its first screenful fixed, not a wall of text.
pub const MAX_LISTED: usize = 100;

/// How many bytes of text may be parsed again to place problems inside flow collections that
/// span lines, which the line index does not follow: one parse per problem, so a huge file
/// gets the enclosing key's line instead once this is spent.
const REPARSE_BUDGET: usize = 4 * 1024 * 1024;

/// One stack file as messages name it.
#[derive(Debug)]
pub struct File {
    pub name: String,
    pub source: Source,
    pub text: String,
}

/// Where a problem is.
#[derive(Debug)]
enum At {
    /// A path in one file, as written there.
    File(usize, Vec<String>),
    /// A path in the merged document; the origins say which file set it.
    Merged(Vec<String>),
    /// A position in one file (`line` or `line:column`), or the file as a whole.
    Line(usize, Option<String>),
}

#[derive(Debug)]
struct Problem {
    at: At,
    message: String,
    hint: Option<String>,
    /// The required variable whose absence this problem reports.
    variable: Option<String>,
}

/// The problems found so far.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
    /// Values in which unset variables were replaced by empty strings: file, path, names.
    unset: Vec<(usize, Vec<String>, BTreeSet<String>)>,
    /// The hint when the project's `.env` is missing but a `.env.example` is beside it.
    missing_env: Option<String>,
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
        self.push(
            At::File(file, path.iter().map(|s| s.as_ref().to_owned()).collect()),
            message,
            hint,
        );
    }

    /// A required variable that is not set, at a path of one file.
    pub fn unset_required(
        &mut self,
        file: usize,
        path: &[String],
        variable: String,
        message: String,
        hint: Option<String>,
    ) {
        self.in_file(file, path, message, hint);
        if let Some(problem) = self.list.last_mut() {
            problem.variable = Some(variable);
        }
    }

    /// Variables that are not set and were replaced by empty strings in the value at a path:
    /// problems with that value follow from them.
    pub fn emptied(&mut self, file: usize, path: &[String], names: BTreeSet<String>) {
        self.unset.push((file, path.to_vec(), names));
    }

    /// The project's `.env` is missing and an example is beside it: problems that follow from
    /// unset variables become this one cause, with this hint.
    pub fn env_missing(&mut self, hint: String) {
        self.missing_env = Some(hint);
    }

    /// A problem at a position of one file (`None`: the file as a whole).
    pub fn in_line(
        &mut self,
        file: usize,
        at: Option<String>,
        message: String,
        hint: Option<String>,
    ) {
        self.push(At::Line(file, at), message, hint);
    }

    /// A problem at a path of the merged stack.
    pub fn at<S: AsRef<str>>(&mut self, path: &[S], message: String, hint: Option<String>) {
        self.push(
            At::Merged(path.iter().map(|s| s.as_ref().to_owned()).collect()),
            message,
            hint,
        );
    }

    fn push(&mut self, at: At, message: String, hint: Option<String>) {
        self.list.push(Problem {
            at,
            message,
            hint,
            variable: None,
        });
    }

    /// Problems that follow from another one are not reported again: a second use of the same
    /// unset required variable, a value emptied by a variable already reported. With `.env`
    /// missing beside its example, everything that follows from unset variables is that one
    /// problem.
    fn drop_consequences(&mut self, origins: &Origins) {
        let emptied_by = |p: &Problem| -> BTreeSet<String> {
            let (file, path) = match &p.at {
                At::File(file, path) => (*file, path.clone()),
                At::Merged(path) => match origins.resolve(path) {
                    Some(found) => found,
                    None => return BTreeSet::new(),
                },
                At::Line(..) => return BTreeSet::new(),
            };
            // The emptied value itself, or a direct child of it (`source:` of a long-form
            // volume whose problem is reported at the volume).
            self.unset
                .iter()
                .filter(|(f, value, _)| {
                    *f == file && value.starts_with(&path) && value.len() <= path.len() + 1
                })
                .flat_map(|(_, _, names)| names.iter().cloned())
                .collect()
        };
        let causes: Vec<BTreeSet<String>> = self.list.iter().map(emptied_by).collect();
        let from_variables =
            |p: &Problem, emptied: &BTreeSet<String>| p.variable.is_some() || !emptied.is_empty();
        let list = std::mem::take(&mut self.list);
        if let Some(hint) = &self.missing_env {
            if list.iter().zip(&causes).any(|(p, c)| from_variables(p, c)) {
                // In the order the files use them: the first is the one to read about first.
                let mut names: Vec<&String> = Vec::new();
                for (p, emptied) in list.iter().zip(&causes) {
                    for name in p.variable.iter().chain(emptied) {
                        if !names.contains(&name) {
                            names.push(name);
                        }
                    }
                }
                let shown: Vec<String> = names.iter().take(3).map(|n| format!("`{n}`")).collect();
                let what = match names.len() {
                    1 => format!("{} is", shown[0]),
                    n if n <= shown.len() => format!("{} are", shown.join(", ")),
                    n => format!(
                        "{} and {} more variables are",
                        shown.join(", "),
                        n - shown.len()
                    ),
                };
                self.push(
                    At::Line(usize::MAX, None),
                    format!("no `.env` beside this file, only `.env.example`: {what} not set"),
                    Some(hint.clone()),
                );
                self.list.extend(
                    list.into_iter()
                        .zip(causes)
                        .filter(|(p, c)| !from_variables(p, c))
                        .map(|(p, _)| p),
                );
                return;
            }
        }
        let reported: BTreeSet<String> = list.iter().filter_map(|p| p.variable.clone()).collect();
        let mut seen = BTreeSet::new();
        for (mut p, emptied) in list.into_iter().zip(causes) {
            if let Some(variable) = &p.variable {
                if !seen.insert(variable.clone()) {
                    continue;
                }
            } else if !emptied.is_empty() {
                if emptied.is_subset(&reported) {
                    continue;
                }
                let names: Vec<String> = emptied.iter().map(|n| format!("`{n}`")).collect();
                let verb = if names.len() == 1 { "is" } else { "are" };
                let _ = write!(p.message, " ({} {verb} not set)", names.join(", "));
            }
            self.list.push(p);
        }
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
        self.drop_consequences(origins);
        self.list.first()?;
        let all_names = || {
            files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut budget = REPARSE_BUDGET;
        let mut locate = |p: &Problem| -> String {
            if let At::Line(file, at) = &p.at {
                let name = match files.get(*file) {
                    Some(f) => f.name.clone(),
                    None if *file == usize::MAX => {
                        files.first().map_or_else(all_names, |f| f.name.clone())
                    }
                    None => all_names(),
                };
                return match at {
                    Some(at) => format!("{name}:{at}"),
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
            let file = &files[file];
            // The closest key or item the line index has; inside a flow collection over
            // several lines, the parser finds the value itself.
            let Some((known, line)) = (1..=path.len())
                .rev()
                .find_map(|n| Some((n, file.source.line_of(&path[..n])?)))
            else {
                return file.name.clone();
            };
            if known < path.len()
                && file.source.spans_lines(&path[..known])
                && budget >= file.text.len()
            {
                budget -= file.text.len();
                if let Some(at) = position::locate(&file.text, &path) {
                    return format!("{}:{at}", file.name);
                }
            }
            format!("{}:{line}", file.name)
        };
        if let [only] = self.list.as_slice() {
            let mut error = Error::usage(format!("{}: {}", locate(only), only.message));
            if let Some(hint) = &only.hint {
                error = error.with_hint(hint.clone());
            }
            return Some(error);
        }
        // A hint that several problems share says the same thing each time: it is printed
        // once, under the list.
        let listed = &self.list[..self.list.len().min(MAX_LISTED)];
        let mut shared: Vec<&str> = Vec::new();
        for hint in listed.iter().filter_map(|p| p.hint.as_deref()) {
            let count = listed
                .iter()
                .filter(|p| p.hint.as_deref() == Some(hint))
                .count();
            if count > 1 && !shared.contains(&hint) {
                shared.push(hint);
            }
        }
        let mut message = format!("{} problems in {}:", self.list.len(), all_names());
        for p in listed {
            let _ = write!(message, "\n  {}: {}", locate(p), p.message);
            if let Some(hint) = p.hint.as_deref().filter(|h| !shared.contains(h)) {
                let _ = write!(message, " (hint: {hint})");
            }
        }
        if self.list.len() > MAX_LISTED {
            let _ = write!(message, "\n  ... and {} more", self.list.len() - MAX_LISTED);
        }
        let error = Error::usage(message);
        Some(if shared.is_empty() {
            error
        } else {
            // `Error` prints one `hint:` line; several shared hints each get their own.
            error.with_hint(shared.join("\nhint: "))
        })
    }
}
