//! Reading a stack: find its files and variables, read each file within bounds, interpolate
//! it, merge the files in order, convert the result into the model and validate it —
//! reporting every problem at once, each at the file and line that caused it.

use std::collections::BTreeSet;
use std::path::Path;

use yaml_serde::Value;

use super::convert::Converter;
use super::interpolate::{Found, Variables, interpolate_document};
use super::locate::Source;
use super::merge::Merger;
use super::model::Stack;
use super::problems::{File, Problems};
use super::{document, files, position};
use crate::error::Error;

pub use super::files::LoadOptions;

/// Finds, reads, merges, converts and validates the stack files.
///
/// # Errors
/// A usage error (exit 2) naming the file, the line and what was expected.
pub fn load_validated(options: &LoadOptions, profiles: &BTreeSet<String>) -> Result<Stack, Error> {
    let project = files::resolve(options)?;
    let mut problems = Problems::default();
    if options.env_file.is_none()
        && !project.dir.join(".env").exists()
        && project.dir.join(".env.example").is_file()
    {
        problems.env_missing(match project.dir.strip_prefix(&options.cwd) {
            Ok(dir) if dir.as_os_str().is_empty() => "cp .env.example .env".to_owned(),
            Ok(dir) => format!("cp {0}/.env.example {0}/.env", dir.display()),
            Err(_) => format!("cp {0}/.env.example {0}/.env", project.dir.display()),
        });
    }
    let mut sources = Vec::new();
    let mut merger = Merger::default();
    let mut unset = BTreeSet::new();
    let mut unusable = false;
    for (index, path) in project.files.iter().enumerate() {
        let name = project.names[index].clone();
        let bytes =
            document::read(path).map_err(|e| Error::usage(format!("cannot read `{name}`: {e}")))?;
        let text = match position::check_text(bytes) {
            Ok(text) => text,
            Err((at, message, hint)) => {
                sources.push(File {
                    name,
                    source: Source::default(),
                    text: String::new(),
                });
                problems.in_line(index, Some(at.to_string()), message, Some(hint));
                unusable = true;
                continue;
            }
        };
        sources.push(File {
            name,
            source: Source::new(&text),
            text,
        });
        let text = &sources[index].text;
        let mut value = match document::parse(text) {
            Ok(value) => value,
            Err(e) => {
                let at = if e.message.starts_with("duplicate key") {
                    sources[index]
                        .source
                        .duplicate_key()
                        .map(|line| line.to_string())
                        .or(e.at.map(|at| at.to_string()))
                } else {
                    e.at.map(|at| at.to_string())
                };
                problems.in_line(index, at, e.message, e.hint);
                unusable = true;
                continue;
            }
        };
        interpolate_document(
            &mut value,
            &mut Vec::new(),
            &project.vars,
            &mut |path, found| match found {
                Found::Problem {
                    message,
                    hint,
                    variable: Some(variable),
                } => problems.unset_required(index, path, variable, message, Some(hint.to_owned())),
                Found::Problem { message, hint, .. } => {
                    problems.in_file(index, path, message, Some(hint.to_owned()));
                }
                Found::BadKey { key, message, hint } => {
                    // A path names string keys only: the parser finds this one.
                    match position::locate_key(text, path, key) {
                        Some(at) => problems.in_line(
                            index,
                            Some(at.to_string()),
                            message,
                            Some(hint.to_owned()),
                        ),
                        None => problems.in_file(index, path, message, Some(hint.to_owned())),
                    }
                }
                Found::Unset(names) => {
                    unset.extend(names.iter().cloned());
                    problems.emptied(index, path, names);
                }
            },
        );
        match value {
            Value::Mapping(map) => merger.add(index, map),
            other => {
                problems.in_line(
                    index,
                    position::locate::<&str>(text, &[]).map(|at| at.to_string()),
                    format!(
                        "expected a mapping with `services:` at the top, not {}",
                        super::interpolate::describe(&other)
                    ),
                    None,
                );
                unusable = true;
            }
        }
    }
    for (file, path, message, hint) in std::mem::take(&mut merger.problems) {
        problems.in_file(file, &path, message, hint);
    }
    if unusable {
        return Err(problems
            .into_error(&sources, &merger.origins)
            .unwrap_or_else(|| Error::usage("the stack files cannot be used")));
    }

    let converted = Converter {
        vars: &project.vars,
        dir: &project.dir,
        problems: &mut problems,
    }
    .convert(&merger.document);
    let mut warnings = project.warnings.clone();
    warnings.extend(
        unset
            .iter()
            .map(|v| format!("variable `{v}` is not set; using an empty string")),
    );
    let mut stack = Stack {
        project: project_name(options, converted.name, &project.dir, &project.vars),
        files: project.files.clone(),
        dir: project.dir.clone(),
        services: converted.services,
        networks: converted.networks,
        volumes: converted.volumes,
        warnings,
    };
    for (name, service) in &mut stack.services {
        service.line = merger
            .origins
            .resolve(&["services", name.as_str()])
            .and_then(|(file, path)| sources.get(file)?.source.line_of(&path));
    }
    if problems.is_empty() {
        let mut profiles = profiles.clone();
        if let Some(active) = project.vars.get(crate::env_vars::COMPOSE_PROFILES) {
            profiles.extend(
                active
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
        super::validate::validate(&mut stack, &profiles, &mut |path, message, hint| {
            problems.at(path, message, hint);
        });
    }
    match problems.into_error(&sources, &merger.origins) {
        Some(error) => Err(error),
        None => Ok(stack),
    }
}

/// `-p` > `COMPOSE_PROJECT_NAME` (environment or `.env`) > `name:` > the project directory's
/// name (compose v2's `withNamePrecedenceLoad`); normalised as compose does.
fn project_name(
    options: &LoadOptions,
    name: Option<String>,
    dir: &Path,
    vars: &Variables,
) -> String {
    let raw = options
        .project
        .clone()
        .or_else(|| {
            vars.get("COMPOSE_PROJECT_NAME")
                .filter(|n| !n.is_empty())
                .cloned()
        })
        .or(name)
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    normalize_project(&raw)
}

/// Lowercase, only `[a-z0-9_-]`, leading `_`/`-` trimmed.
#[must_use]
pub fn normalize_project(raw: &str) -> String {
    let cleaned: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    let trimmed = cleaned.trim_start_matches(['_', '-']);
    if trimmed.is_empty() {
        "default".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        assert_eq!(normalize_project("My Stack!"), "mystack");
        assert_eq!(normalize_project("_-chat_ops"), "chat_ops");
    }
}
