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
mod problems;
mod syntax;
mod validate;

pub use files::{DEFAULT_FILES, OVERRIDE_FILES};
pub use load::{LoadOptions, normalize_project};
pub use model::*;

use std::collections::BTreeSet;

use crate::error::Error;

/// Loads and validates a stack. `profiles` are the active profiles (`COMPOSE_PROFILES`).
///
/// # Errors
/// A usage error (exit 2) with the file, the line, what was expected and a hint.
pub fn open(options: &LoadOptions, profiles: &BTreeSet<String>) -> Result<Stack, Error> {
    load::load_validated(options, profiles)
}
