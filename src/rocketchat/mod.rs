//! Rocket.Chat: everything stackctl knows about it, in one folder — the REST client
//! ([`client`]), the server, login and room checks ([`check`]), and the init jobs that create
//! the admin, users, rooms and webhooks ([`init`]).

pub mod check;
pub mod client;
pub mod init;
