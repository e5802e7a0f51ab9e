//! stackctl brings up a self-hosted ChatOps stack in dependency order and health-checks it.
//!
//! The binary is a thin shell around [`run`]; everything lives here so tests can call it.
//!
//! Layers, top to bottom (a module uses only those below it):
//! - [`run`] → [`cli`] → [`commands`]: the command line, one file per subcommand;
//! - [`upgrade`] (the upgrade path and its hops, on top of backup, the engine and versions);
//! - [`backup`] (backup, restore and their proof, on top of the engine and the probe image);
//! - [`engine`] (up/down/status on Docker), [`probe`] (repeated checks), [`job`] (retried jobs),
//!   [`netns`] (checks from inside a service's network namespace), [`smoke`] (the CI chat test);
//! - the domains, one folder each: [`mongo`], [`rocketchat`], [`gitlab`]; the generic [`check`]s;
//! - shared leaves: [`stack`], [`output`], [`settings`], [`target`], [`retry`], [`secret`],
//!   [`redact`], [`reason`], [`tls`], [`limits`], [`error`], [`exit`], [`env_vars`];
//!   [`versions`] (release numbers, the Rocket.Chat ↔ MongoDB support matrix, upgrade rules).

pub mod backup;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod commands;
pub mod doctor;
pub mod engine;
pub mod env_vars;
pub mod error;
pub mod exit;
pub mod gitlab;
pub mod job;
pub mod limits;
mod logging;
pub mod mongo;
pub mod netns;
pub mod output;
pub mod probe;
pub mod reason;
pub mod redact;
pub mod render;
pub mod retry;
pub mod rocketchat;
pub(crate) mod run;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod smoke;
pub mod stack;
pub mod target;
pub mod tls;
pub mod upgrade;
pub mod versions;

pub use run::run;
