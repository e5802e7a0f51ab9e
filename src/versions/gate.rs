//! The support-matrix gate of `up` and `config`: a stack whose Rocket.Chat and MongoDB images
//! resolve to a pair outside [`super::matrix::MATRIX`] is refused before any Docker call.

use std::collections::BTreeMap;

use super::Version;
use super::image::{self, Product};
use super::matrix::{self, MATRIX, MATRIX_SOURCE, Verdict};
use crate::error::{Error, Result};
use crate::stack::Stack;

/// The hint of a refusal.
pub const HINT: &str = "pin a supported pair (e.g. `ROCKETCHAT_VERSION` and `MONGO_VERSION` in the \
                        chat stack's `.env`), or pass `--allow-unsupported` \
                        (`STACKCTL_ALLOW_UNSUPPORTED=true`) to go on anyway";

/// One image of a product, and the services that run it.
struct Used {
    reference: String,
    version: Option<Version>,
    services: Vec<String>,
}

/// The stack's images of `product`, by reference.
fn images(stack: &Stack, product: Product) -> Vec<Used> {
    let mut found: BTreeMap<&str, Used> = BTreeMap::new();
    for (name, service) in &stack.services {
        let Some(reference) = service.image.as_deref() else {
            continue;
        };
        let Some(image) = image::classify(reference).filter(|i| i.product == product) else {
            continue;
        };
        found
            .entry(reference)
            .or_insert_with(|| Used {
                reference: reference.to_owned(),
                version: image.version,
                services: Vec::new(),
            })
            .services
            .push(name.clone());
    }
    found.into_values().collect()
}

fn services(used: &Used) -> String {
    let names: Vec<String> = used.services.iter().map(|s| format!("`{s}`")).collect();
    names.join(", ")
}

/// Checks every Rocket.Chat / MongoDB pair of the stack's images against the matrix.
///
/// # Errors
/// A usage error (exit 2) naming each refused pair, what the release needs, the supported
/// pairs and the sources.
pub fn check(stack: &Stack) -> Result<()> {
    let rocketchat = images(stack, Product::RocketChat);
    let mongodb = images(stack, Product::MongoDb);
    if rocketchat.is_empty() || mongodb.is_empty() {
        tracing::debug!("no Rocket.Chat and MongoDB image pair in the stack: nothing to check");
        return Ok(());
    }
    let mut refused = Vec::new();
    for rc in &rocketchat {
        for db in &mongodb {
            let (Some(rc_version), Some(db_version)) = (rc.version, db.version) else {
                tracing::warn!(
                    "the pair `{}` / `{}` could not be checked against the support matrix: a tag \
                     that names no release (pin release numbers to have it checked)",
                    rc.reference,
                    db.reference
                );
                continue;
            };
            match matrix::check(MATRIX, rc_version, db_version) {
                Verdict::Supported => {}
                Verdict::Undecided(why) => tracing::warn!(
                    "the pair `{}` / `{}` could not be checked against the support matrix: {why} \
                     (pin `major.minor` tags)",
                    rc.reference,
                    db.reference
                ),
                Verdict::Unsupported(rows) => {
                    let mut lines = vec![format!(
                        "unsupported Rocket.Chat/MongoDB pair: Rocket.Chat `{rc_version}` ({}: \
                         `{}`) with MongoDB `{db_version}` ({}: `{}`)",
                        services(rc),
                        rc.reference,
                        services(db),
                        db.reference
                    )];
                    if rows.is_empty() {
                        lines.push(format!(
                            "  the support matrix has no row for Rocket.Chat {rc_version}; source: \
                             {MATRIX_SOURCE}"
                        ));
                    }
                    for row in rows {
                        lines.push(format!(
                            "  Rocket.Chat {} needs MongoDB {}; source: {}",
                            row.rocketchat,
                            row.mongodb_list(),
                            row.source
                        ));
                    }
                    refused.push(lines.join("\n"));
                }
            }
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{}\n  supported: {}; source: {MATRIX_SOURCE}",
        refused.join("\n"),
        matrix::summary(MATRIX)
    ))
    .with_hint(HINT))
}

/// [`check`], or with `allow_unsupported` a loud warning on stderr and on we go.
///
/// # Errors
/// As [`check`], unless `allow_unsupported`.
pub fn enforce(stack: &Stack, allow_unsupported: bool) -> Result<()> {
    match check(stack) {
        Err(refusal) if allow_unsupported => {
            eprintln!(
                "warning: going on with an unsupported Rocket.Chat/MongoDB pair \
                 (`--allow-unsupported`): Rocket.Chat may refuse to start, or run on a database \
                 it was never tested with\nwarning: {}",
                refusal.message().replace('\n', "\nwarning: ")
            );
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::stack::LoadOptions;

    /// The chat stack as shipped, `.env.example` as its `.env`, the shell's `overrides` on top.
    fn chat_stack(overrides: &[(&str, &str)]) -> Stack {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut environment: BTreeMap<String, String> = [
            ("ADMIN_PASS", "gate-admin-pass"),
            ("BOT_PASS", "gate-bot-pass"),
        ]
        .iter()
        .chain(overrides)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        environment.insert("PATH".into(), "/usr/bin:/bin".into());
        let options = LoadOptions {
            files: vec![root.join("compose/chat/compose.yml")],
            project: Some("gate".into()),
            env_file: Some(root.join("compose/chat/.env.example")),
            environment,
            cwd: root.join("compose/chat"),
        };
        crate::stack::open(&options, &std::collections::BTreeSet::new())
            .expect("the chat stack loads")
    }

    fn refusal(rc: &str, mongo: &str) -> String {
        let stack = chat_stack(&[("ROCKETCHAT_VERSION", rc), ("MONGO_VERSION", mongo)]);
        let error = check(&stack).expect_err("refused");
        assert_eq!(error.exit_status(), crate::exit::ExitStatus::Usage);
        assert_eq!(error.hint(), Some(HINT));
        error.message().to_owned()
    }

    #[test]
    fn the_shipped_pins_pass() {
        let stack = chat_stack(&[]);
        let rc = stack.services["rocketchat"].image.clone().unwrap();
        assert!(rc.ends_with("rocket.chat:8.5.1"), "{rc}");
        assert_eq!(stack.services["mongo"].image.as_deref(), Some("mongo:8.0"));
        check(&stack).expect("8.5.1 with 8.0 is in the matrix");
    }

    #[test]
    fn pairs_outside_the_matrix_are_refused_with_what_is_needed_and_why() {
        for (rc, mongo, needles) in [
            (
                "8.0.1",
                "8.0",
                [
                    "unsupported Rocket.Chat/MongoDB pair: Rocket.Chat `8.0.1` (",
                    "with MongoDB `8.0` (`mongo`, `mongo-init`: `mongo:8.0`)\n  Rocket.Chat 8.0 \
                     to 8.1 needs MongoDB 8.2; source: \
                     https://github.com/RocketChat/Rocket.Chat/releases/tag/8.0.0",
                    "\n  supported: Rocket.Chat 6.x with MongoDB",
                ],
            ),
            (
                "7.13.9",
                "8.0",
                [
                    "Rocket.Chat `7.13.9`",
                    "Rocket.Chat 7.x needs MongoDB 5.0, 6.0, 7.0",
                    "RocketChat/Rocket.Chat#32162",
                ],
            ),
            (
                "8.5.1",
                "7.0",
                [
                    "MongoDB `7.0`",
                    "Rocket.Chat 8.2 to 9.x needs MongoDB 8.0",
                    "RocketChat/Rocket.Chat#38596",
                ],
            ),
        ] {
            let message = refusal(rc, mongo);
            for needle in needles {
                assert!(message.contains(needle), "{needle}\nin\n{message}");
            }
        }
    }

    #[test]
    fn tags_without_a_version_are_let_through_and_allow_unsupported_goes_on() {
        for (rc, mongo) in [("latest", "8.0"), ("8.5.1", "latest"), ("8", "8.0")] {
            let stack = chat_stack(&[("ROCKETCHAT_VERSION", rc), ("MONGO_VERSION", mongo)]);
            check(&stack).unwrap_or_else(|e| panic!("{rc} + {mongo}: {e}"));
        }
        let stack = chat_stack(&[("ROCKETCHAT_VERSION", "8.0.1"), ("MONGO_VERSION", "8.0")]);
        assert!(enforce(&stack, false).is_err());
        enforce(&stack, true).expect("allowed");
    }
}
