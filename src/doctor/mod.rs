//! `stackctl doctor`: why a running stack is broken, in the stack's own terms, and what fixes
//! it. Observations (Docker, MongoDB and Rocket.Chat over the wire from inside the stack's
//! network, the stack file's values) become one flat set of facts ([`facts`]); rules written as
//! data ([`rules`], `rules.yml`) match those facts; [`diagnose`] orders the findings along the
//! dependency graph so root causes come first and what they break is listed under them.

pub mod diagnose;
pub mod facts;
pub mod inside;
pub mod observe;
pub mod report;
pub mod rules;
