//! The smoke test's plan for a stack: which steps, with which parameters, and which are
//! skipped (and why) — before anything runs.

use super::discover::Discovered;
use super::step::{Actor, Planned, Step};
use crate::stack::Stack;

/// The GitLab event the hook step sends.
pub const HOOK_EVENT: &str = "Pipeline Hook";

/// Whether the hook step can run: its URL was found, or why not.
#[derive(Debug, Clone)]
pub enum HookSource {
    Found,
    Missing(String),
}

/// Every step, in order: Docker's view first, then the chat as its users see it, then the
/// cleanup.
#[must_use]
pub fn steps(stack: &Stack, found: &Discovered, room: &str, hook: &HookSource) -> Vec<Planned> {
    let mut plan = Vec::new();
    for (name, service) in &stack.services {
        let step = if service.is_job() {
            Step::Job {
                service: name.clone(),
            }
        } else {
            Step::Service {
                service: name.clone(),
            }
        };
        plan.push(Planned::run(step));
    }
    plan.push(Planned::run(Step::Server));
    plan.push(Planned::run(Step::Login { who: Actor::Bot }));
    plan.push(Planned::run(Step::Room {
        room: room.to_owned(),
    }));
    plan.push(Planned::run(Step::Post {
        room: room.to_owned(),
    }));
    plan.push(Planned::run(Step::Login { who: Actor::Admin }));
    plan.push(Planned::run(Step::ReadBack));
    let hook_room = found
        .hook
        .as_ref()
        .and_then(|h| h.room.clone())
        .unwrap_or_else(|| room.to_owned());
    let hook_step = Step::Hook {
        event: HOOK_EVENT.to_owned(),
        room: hook_room,
    };
    plan.push(match hook {
        HookSource::Found => Planned::run(hook_step),
        HookSource::Missing(why) => Planned::skip(hook_step, why.clone()),
    });
    if let Some(door) = &found.front_door {
        plan.push(Planned::run(Step::FrontDoor {
            url: door.url.clone(),
            vhost: door.vhost.clone(),
        }));
        plan.push(Planned::run(Step::Websocket {
            url: door.url.clone(),
            vhost: door.vhost.clone(),
        }));
    } else {
        let none = "no nginx service";
        plan.push(Planned::skip(
            Step::FrontDoor {
                url: String::new(),
                vhost: None,
            },
            none,
        ));
        plan.push(Planned::skip(
            Step::Websocket {
                url: String::new(),
                vhost: None,
            },
            none,
        ));
    }
    plan.push(Planned::run(Step::Cleanup));
    plan
}
