//! The stack file: a standard compose file, read with compose's rules (interpolation, `.env`,
//! profiles) and checked before anything touches Docker.

mod dotenv;
mod interpolate;
mod load;
mod locate;
mod model;
mod validate;

pub use load::{DEFAULT_FILES, LoadOptions, normalize_project};
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
