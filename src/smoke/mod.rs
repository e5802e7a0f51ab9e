//! `stackctl smoke`: the end-to-end check CI runs against a stack that is up — every service
//! running and healthy, every job done, the bot logging in and posting, the admin reading it
//! back, a GitLab event reaching the room through the hook, the front door serving the API and
//! upgrading a websocket — then the cleanup.
//!
//! The steps are data ([`step`]), planned from the stack file ([`discover`], [`plan`]); Docker
//! answers its own ([`docker`]) and the rest run over the network ([`chat`]), usually from
//! inside Rocket.Chat's network namespace; [`report`] renders the results.

pub mod chat;
pub mod discover;
pub mod docker;
pub mod plan;
pub mod report;
pub mod step;
pub mod websocket;
