//! stackctl brings up a self-hosted ChatOps stack in dependency order and health-checks it.
//!
//! The binary is a thin shell around [`run`]; everything lives here so tests can call it.

pub mod check;
pub mod cli;
pub mod engine;
pub mod env_vars;
pub mod error;
pub mod exit;
pub mod job;
mod logging;
pub mod mongo;
pub mod output;
pub(crate) mod parse;
pub mod probe;
pub mod redact;
pub mod retry;
pub mod rocketchat;
pub(crate) mod run;
pub mod secret;
pub mod settings;
pub mod stack;
pub mod target;

pub use run::run;
