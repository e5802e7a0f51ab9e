//! Output: the events the engine emits and the renderers that show them.
//!
//! stdout carries results only (a check's line, NDJSON events); progress, logs and errors go to
//! stderr, so `stackctl ... > result` and pipelines stay clean.

mod events;
mod format;
pub mod junit;
mod render;

pub use events::{Event, NotReady};
pub use format::{human_duration, millis};
pub use render::{Renderer, Reporter, renderer_for};
