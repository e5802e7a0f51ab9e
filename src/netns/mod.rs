//! Network diagnostics from inside a service's network namespace (`stackctl probe`), without
//! anything installed in the service's image.
//!
//! A throw-away container joins the service's namespace (`network_mode: container:<id>`) from
//! a tiny image holding only stackctl's own static binary — built on the fly from the running
//! binary, cached by its hash — and runs stackctl's checks there ([`here`]); the results come
//! back as NDJSON ([`remote`]). A Swarm task on another node is probed from a one-shot job on
//! its node ([`oneshot`]). [`matrix`] plans every service-to-service check of a stack.

pub mod elf;
pub mod here;
pub mod image;
pub mod locate;
pub mod matrix;
pub mod oneshot;
pub mod remote;
pub mod result;
pub mod runner;
