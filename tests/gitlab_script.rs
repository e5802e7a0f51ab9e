//! The GitLab → Rocket.Chat webhook script (`compose/chat/integrations/gitlab.js`) is JavaScript
//! for Rocket.Chat's sandbox; its tests use node's own runner (`tests/gitlab-script/`). This runs
//! them so that `cargo test` alone covers the whole project.

use std::path::Path;
use std::process::Command;

/// The oldest node with `node:test`, `describe` and `structuredClone` as the tests use them
/// (Debian bookworm ships 18).
const NODE_MIN_MAJOR: u32 = 18;

#[test]
fn webhook_script_passes_its_node_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let version = match Command::new("node").arg("--version").output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`node` is not installed; the webhook script's tests need it\n\
             hint: apt-get install nodejs (tests/setup.sh does it)"
        ),
        Err(e) => panic!("could not run `node --version`: {e}"),
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= NODE_MIN_MAJOR,
        "node {version} is too old for the webhook script's tests (need {NODE_MIN_MAJOR} or later)\n\
         hint: apt-get install nodejs from Debian bookworm or later"
    );

    // The test file rather than its folder: node 21 and later read a folder argument as a
    // module to load (nodejs/node#64555); 18 and 20 accept both.
    let out = Command::new("node")
        .args(["--test", "tests/gitlab-script/gitlab.test.js"])
        .current_dir(root)
        .env_remove("UPDATE_SNAPSHOTS")
        .output()
        .expect("run node --test");
    assert!(
        out.status.success(),
        "node --test tests/gitlab-script/gitlab.test.js failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
