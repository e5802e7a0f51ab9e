//! Which files make the stack, which directory is the project's, and which variables
//! interpolation sees — compose's rules (docker compose v2's `toProjectOptions` with
//! compose-go's `cli/options.go`):
//! - files: every `-f`, in order; else `COMPOSE_FILE` split on `COMPOSE_PATH_SEPARATOR`
//!   (default `:`), read from the process environment or the working directory's `.env`; else
//!   the first of [`DEFAULT_FILES`] found in the working directory or its parents, plus the
//!   first of [`OVERRIDE_FILES`] beside it. Relative paths are relative to the working
//!   directory.
//! - the project directory is the first file's directory: relative paths in every file
//!   (build contexts, bind mounts, `env_file`) are resolved against it, and its name is the
//!   default project name.
//! - variables: the process environment wins; then, when no `-f` was given, the working
//!   directory's `.env` (read first, since it may set `COMPOSE_FILE`); then the project
//!   directory's `.env`. `--env-file` replaces both `.env` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::interpolate::Variables;
use crate::env_vars::{COMPOSE_FILE, COMPOSE_PATH_SEPARATOR};
use crate::error::Error;

/// File names tried, in order, when neither `-f` nor `COMPOSE_FILE` is given (compose's order).
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Override files merged over a default file found beside them (compose's order).
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The files of a project, its directory and its variables.
#[derive(Debug)]
pub struct Project {
    /// Absolute paths, in merge order.
    pub files: Vec<PathBuf>,
    /// How each file is named in messages.
    pub names: Vec<String>,
    /// The first file's directory.
    pub dir: PathBuf,
    /// Process environment over `.env` files.
    pub vars: Variables,
    /// Things worth saying that are not errors.
    pub warnings: Vec<String>,
}

/// Where and how to load a stack from.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f FILE`, repeatable, merged in order. Empty: `COMPOSE_FILE`, else the default files.
    pub files: Vec<PathBuf>,
    /// `-p NAME`.
    pub project: Option<String>,
    /// `--env-file FILE` (replaces `.env`).
    pub env_file: Option<PathBuf>,
    /// The process environment (wins over `.env`).
    pub environment: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

/// Finds the files and reads the `.env` files.
///
/// # Errors
/// A usage error for a missing file, no file at all, or an unreadable `.env`.
pub fn resolve(options: &LoadOptions) -> Result<Project, Error> {
    let mut vars = options.environment.clone();
    let mut warnings = Vec::new();
    let explicit_env = options
        .env_file
        .as_ref()
        .map(|file| read_env(&options.cwd.join(file), true, &options.cwd))
        .transpose()?;
    if let Some(file_vars) = &explicit_env {
        add_missing(&mut vars, file_vars.clone());
    } else if options.files.is_empty() {
        // Read first: it may name the files (`COMPOSE_FILE`).
        add_missing(
            &mut vars,
            read_env(&options.cwd.join(".env"), false, &options.cwd)?,
        );
    }

    let (given, from_flag): (Vec<PathBuf>, bool) = if options.files.is_empty() {
        match vars.get(COMPOSE_FILE).filter(|v| !v.is_empty()) {
            Some(list) => {
                let separator = vars
                    .get(COMPOSE_PATH_SEPARATOR)
                    .filter(|s| !s.is_empty())
                    .map_or(":", String::as_str);
                let files = list
                    .split(separator)
                    .filter(|f| !f.is_empty())
                    .map(PathBuf::from)
                    .collect();
                (files, true)
            }
            None => (default_files(&options.cwd, &mut warnings)?, false),
        }
    } else {
        (options.files.clone(), true)
    };

    let files: Vec<PathBuf> = given.iter().map(|f| clean(&options.cwd.join(f))).collect();
    let missing: Vec<String> = given
        .iter()
        .zip(&files)
        .filter(|(_, path)| !path.is_file())
        .map(|(name, _)| format!("`{}`", name.display()))
        .collect();
    match missing.as_slice() {
        [] => {}
        [one] => return Err(Error::usage(format!("stack file {one} does not exist"))),
        many => {
            return Err(Error::usage(format!(
                "stack files {} do not exist",
                many.join(", ")
            )));
        }
    }
    let dir = files[0]
        .parent()
        .map_or_else(|| options.cwd.clone(), Path::to_path_buf);
    if explicit_env.is_none() {
        let project_env = dir.join(".env");
        let already_read = options.files.is_empty() && dir == options.cwd;
        if !already_read {
            add_missing(&mut vars, read_env(&project_env, false, &options.cwd)?);
        }
    }
    let names = display_names(if from_flag { &given } else { &files });
    Ok(Project {
        files,
        names,
        dir,
        vars,
        warnings,
    })
}

/// The default file in `dir` or the nearest parent that has one, and its override file.
fn default_files(cwd: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>, Error> {
    for dir in cwd.ancestors() {
        let found: Vec<PathBuf> = DEFAULT_FILES
            .iter()
            .map(|name| dir.join(name))
            .filter(|p| p.is_file())
            .collect();
        let Some(first) = found.first() else {
            continue;
        };
        if found.len() > 1 {
            warnings.push(format!(
                "found several stack files ({}); using `{}`",
                found
                    .iter()
                    .map(|p| format!("`{}`", file_name(p)))
                    .collect::<Vec<_>>()
                    .join(", "),
                file_name(first)
            ));
        }
        let mut files = vec![first.clone()];
        if let Some(over) = OVERRIDE_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
        {
            files.push(over);
        }
        return Ok(files);
    }
    Err(Error::usage(format!(
        "no stack file in `{}` or its parent directories",
        cwd.display()
    ))
    .with_hint("name one with `-f FILE` (or `COMPOSE_FILE`), or create `compose.yml`"))
}

/// A path without `.` components and with `..` applied where it can be, without touching the
/// file system (Go's `filepath.Clean`, which compose applies to every path it resolves).
#[must_use]
pub fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                match last {
                    Some(Component::Normal(_)) => {
                        out.pop();
                    }
                    Some(Component::RootDir | Component::Prefix(_)) => {}
                    _ => out.push(".."),
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// File names as messages show them: the base name, or the path as given when two files
/// share a base name.
fn display_names(files: &[PathBuf]) -> Vec<String> {
    let bases: Vec<String> = files.iter().map(|f| file_name(f)).collect();
    bases
        .iter()
        .zip(files)
        .map(|(base, path)| {
            if bases.iter().filter(|b| *b == base).count() > 1 {
                path.display().to_string()
            } else {
                base.clone()
            }
        })
        .collect()
}

/// Variables already set win (the process environment, then the `.env` read first).
fn add_missing(vars: &mut Variables, more: Variables) {
    for (key, value) in more {
        vars.entry(key).or_insert(value);
    }
}

fn read_env(path: &Path, required: bool, cwd: &Path) -> Result<Variables, Error> {
    // Named as typed: relative to the working directory when it is below it.
    let name = path.strip_prefix(cwd).unwrap_or(path).display().to_string();
    // Bounded like the stack file itself: `--env-file /dev/zero` is an error, not a hang.
    match crate::limits::read_file(path, super::document::MAX_FILE_BYTES) {
        Ok(bytes) => {
            let text = super::position::utf8(bytes).map_err(|(at, message, hint)| {
                Error::usage(format!("{name}:{at}: {message}")).with_hint(hint)
            })?;
            super::dotenv::parse(&text).map_err(|(line, message)| {
                Error::usage(format!("{name}:{line}: {message}")).with_hint(
                    "a `.env` line is `KEY=VALUE` (`export KEY=VALUE` too); `#` starts a comment",
                )
            })
        }
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Variables::new()),
        Err(e) => Err(Error::usage(format!(
            "cannot read `{}`: {}",
            path.display(),
            crate::reason::io_reason(&e)
        ))),
    }
}
