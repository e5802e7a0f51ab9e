//! The support-matrix gate of `up` and `config`, through the real binary: a Rocket.Chat/MongoDB
//! pair outside the matrix exits 2 before any Docker call; the shipped pins pass.

use std::path::Path;

use stackctl::versions::matrix::{MATRIX, markdown_table};

use crate::support::docker::{docker, unique};
use crate::support::stackctl;

const STACK: &str = r"
services:
  mongo:
    image: mongo:${MONGO_VERSION:-8.0}
  rocketchat:
    image: registry.rocket.chat/rocketchat/rocket.chat:${ROCKETCHAT_VERSION}
    depends_on: [mongo]
";

fn project(rocketchat: &str, mongo: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yml"), STACK).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("ROCKETCHAT_VERSION={rocketchat}\nMONGO_VERSION={mongo}\n"),
    )
    .unwrap();
    dir
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn config_refuses_an_unsupported_pair_with_the_pair_the_alternatives_and_the_source() {
    let dir = project("8.0.1", "8.0");
    let out = stackctl(["config"]).current_dir(dir.path()).output();
    out.code(2);
    assert!(out.stdout.is_empty(), "{out:#?}");
    insta::assert_snapshot!(out.normalized());

    // `--allow-unsupported` (or its variable) goes on, loudly.
    for allowed in [
        stackctl(["config", "--allow-unsupported"]).current_dir(dir.path()),
        stackctl(["config"])
            .current_dir(dir.path())
            .env("STACKCTL_ALLOW_UNSUPPORTED", "true"),
    ] {
        let out = allowed.output();
        out.code(0);
        assert!(out.stdout.contains("rocket.chat:8.0.1"), "{out:#?}");
        assert!(
            out.stderr.starts_with(
                "warning: going on with an unsupported Rocket.Chat/MongoDB pair (`--allow-unsupported`)"
            ),
            "{out:#?}"
        );
        assert!(out.stderr.contains("needs MongoDB 8.2"), "{out:#?}");
    }
}

#[test]
fn config_refuses_each_pair_outside_the_matrix_and_lets_supported_and_unreadable_ones_through() {
    for (rc, mongo, needs) in [
        (
            "7.13.9",
            "8.0",
            "Rocket.Chat 7.x needs MongoDB 5.0, 6.0, 7.0",
        ),
        ("8.5.1", "7.0", "Rocket.Chat 8.2 to 9.x needs MongoDB 8.0"),
        ("8.5.1", "8.2", "Rocket.Chat 8.2 to 9.x needs MongoDB 8.0"),
    ] {
        let dir = project(rc, mongo);
        let out = stackctl(["config"]).current_dir(dir.path()).output();
        out.code(2);
        assert!(out.stderr.contains(needs), "{rc} + {mongo}: {out:#?}");
    }
    for (rc, mongo) in [
        ("8.5.1", "8.0"),
        ("8.0.1", "8.2"),
        ("7.13.9", "7.0"),
        ("latest", "8.0"),
    ] {
        let dir = project(rc, mongo);
        stackctl(["config"])
            .current_dir(dir.path())
            .output()
            .code(0);
    }
}

#[test]
fn up_refuses_an_unsupported_pair_before_touching_docker() {
    let dir = project("8.0.1", "8.0");
    let name = unique("matrix-gate");
    // A Docker socket that does not exist: reaching Docker would fail with another message.
    let nowhere = dir.path().join("no-docker.sock");
    let host = format!("unix://{}", nowhere.display());
    let out = stackctl(["up", "-p", &name, "--timeout", "5s"])
        .current_dir(dir.path())
        .env("DOCKER_HOST", &host)
        .output();
    out.code(2);
    assert!(
        out.stderr
            .starts_with("error: unsupported Rocket.Chat/MongoDB pair: Rocket.Chat `8.0.1`"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("\nhint: "), "{out:#?}");

    // With `--allow-unsupported` it passes the gate and goes on to Docker (absent here).
    let out = stackctl(["up", "-p", &name, "--timeout", "5s", "--allow-unsupported"])
        .current_dir(dir.path())
        .env("DOCKER_HOST", &host)
        .output();
    assert_ne!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stderr
            .starts_with("warning: going on with an unsupported"),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("error: unsupported"), "{out:#?}");

    // And the real daemon never saw the project.
    let label = format!("label=com.docker.compose.project={name}");
    assert_eq!(docker(&["ps", "-aq", "--filter", &label]), "");
}

#[test]
fn the_shipped_stacks_pass_the_gate() {
    let chat = root().join("compose/chat/compose.yml");
    let env_file = root().join("compose/chat/.env.example");
    let out = stackctl([
        "config".as_ref(),
        "-f".as_ref(),
        chat.as_os_str(),
        "--env-file".as_ref(),
        env_file.as_os_str(),
    ])
    .env("ADMIN_PASS", "gate-admin-pass")
    .env("BOT_PASS", "gate-bot-pass")
    .output();
    out.code(0);
    assert!(out.stdout.contains("rocket.chat:8.5.1"), "{out:#?}");
    assert!(out.stdout.contains("mongo:8.0"), "{out:#?}");
    assert!(!out.stderr.contains("support matrix"), "{out:#?}");

    let demo = root().join("compose/demo/compose.yml");
    stackctl(["config".as_ref(), "-f".as_ref(), demo.as_os_str()])
        .env("BENCH_IMAGE", "stackctl-demo:latest")
        .output()
        .code(0);
}

/// The README's "Supported versions" table is the matrix's rows, so the two cannot drift.
#[test]
fn the_readme_table_is_the_matrix() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = markdown_table(MATRIX);
    assert!(
        readme.contains(&table),
        "README.md's \"Supported versions\" table differs from src/versions/matrix.rs; it should be:\n{table}"
    );
}
