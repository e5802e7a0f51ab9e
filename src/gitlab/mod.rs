//! GitLab: everything stackctl knows about it, in one folder — the REST and health-endpoint
//! client ([`client`]), `check gitlab` ([`check`]), and the init job that points a project's
//! webhook at Rocket.Chat ([`init`]).

pub mod check;
pub mod client;
pub mod init;
