//! MongoDB: everything stackctl knows about it, in one folder — the client that talks to one
//! member ([`client`]), the PRIMARY "diver" behind `check mongo` ([`check`]), and the replica-set
//! "welder" behind `init replica-set` ([`init`]).

pub mod check;
pub mod client;
pub mod init;
