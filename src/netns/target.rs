//! What `probe` can check: the one target grammar of `crate::target` (`tcp://`, `http(s)://`,
//! `dns://`, `mongodb://`, `rocketchat+http(s)://`), under the name the probe code uses.

pub use crate::target::Target as ProbeTarget;
