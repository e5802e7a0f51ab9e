//! `render`: the stack written for another engine, keeping what makes it work (order, readiness,
//! one-shot jobs) instead of dropping it the way converters do.

pub mod files;
pub mod kubernetes;
