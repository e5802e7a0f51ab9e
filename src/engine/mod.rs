//! The engine: plans the stack's dependency graph and executes it on the Docker Engine.

pub mod container;
pub mod docker;
pub mod down;
pub mod heal;
pub mod labels;
pub mod plan;
pub mod progress;
pub mod raw;
pub mod status;
pub mod swarm;
pub mod up;

pub use docker::DockerApi;
pub use up::{UpOptions, up};
