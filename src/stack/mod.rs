//! The stack files: standard compose files, read with compose's rules (several files merged,
//! interpolation, `.env`, profiles) and checked before anything touches Docker.

mod convert;
mod deploy;
mod document;
mod dotenv;
mod files;
mod interpolate;
mod load;
mod locate;
mod merge;
mod model;
pub mod position;
mod problems;
mod syntax;
mod validate;

pub use files::{DEFAULT_FILES, OVERRIDE_FILES};
pub use load::{LoadOptions, normalize_project};
/// Lines of a YAML text's block-style keys and items, found in one pass over the text.
pub use locate::Source as LineIndex;
pub use model::*;

/// A compose-style duration (`5s`, `1m30s`, `250ms`), for the other files stackctl reads.
///
/// # Errors
/// What is wrong, quoting the text.
pub fn syntax_duration(text: &str) -> Result<std::time::Duration, String> {
    syntax::duration(text)
}

/// Compose interpolation of one string (`${VAR:-default}`...), for the other files stackctl
/// reads; unset variables are added to `unset`.
///
/// # Errors
/// A `${VAR:?message}` whose variable is unset, or malformed syntax.
pub fn interpolate_text(
    text: &str,
    vars: &std::collections::BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
) -> Result<String, String> {
    interpolate::interpolate(text, vars, unset)
}

/// A `.env` file's variables, read as compose reads them.
///
/// # Errors
/// The 1-based line that cannot be read, and why.
pub fn parse_dotenv(
    text: &str,
) -> Result<std::collections::BTreeMap<String, String>, (usize, String)> {
    dotenv::parse(text)
}

use std::collections::BTreeSet;

use crate::error::Error;

/// The name among `names` closest to a misspelt one, for a "did you mean" hint.
#[must_use]
pub fn suggest(wanted: &str, names: &[String]) -> Option<String> {
    validate::closest(wanted, names)
}

/// Loads and validates a stack. `profiles` are the active profiles (`COMPOSE_PROFILES`).
///
/// # Errors
/// A usage error (exit 2) with the file, the line, what was expected and a hint.
pub fn open(options: &LoadOptions, profiles: &BTreeSet<String>) -> Result<Stack, Error> {
    load::load_validated(options, profiles)
}
