//! Rocket.Chat: everything stackctl knows about it, in one folder — the REST client
//! ([`client`]), the server, login and room checks ([`check`]), the init jobs that create
//! the admin, users, rooms and webhooks ([`init`]), and the settings lines of webhook scripts
//! ([`script`]).

pub mod check;
pub mod client;
pub mod init;
pub mod script;
