//! `stackctl config`: the resolved stack, as `docker compose config` shows it — no Docker needed.

use crate::support::stackctl;

const BASE: &str = r#"
services:
  rocketchat:
    image: rocket.chat:${RC_VERSION:-8.0.1}
    environment:
      ADMIN_PASS: ${ADMIN_PASS}
      MONGO_URL: mongodb://rc:${MONGO_PW}@mongo:27017/rocketchat?replicaSet=rs0
      ROOT_URL: https://${DOMAIN}
    healthcheck:
      test: ["CMD", "/stackctl", "check", "rocketchat", "--url", "http://127.0.0.1:3000"]
      interval: 90s
  debug:
    image: debug
    profiles: [debug]
"#;

const OVERRIDE: &str = r#"
services:
  rocketchat:
    image: local/rocketchat-sim
    ports: ["3000:3000"]
"#;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yml"), BASE).unwrap();
    std::fs::write(dir.path().join("compose.local.yml"), OVERRIDE).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "ADMIN_PASS=s3cret-admin\nMONGO_PW=s3cret-mongo\nDOMAIN=chat.example.org\n",
    )
    .unwrap();
    dir
}

#[test]
fn config_prints_the_merged_interpolated_stack_with_secrets_masked() {
    let dir = project();
    let out = stackctl([
        "config",
        "-f",
        "compose.yml",
        "-f",
        "compose.local.yml",
        "--format",
        "json",
    ])
    .current_dir(dir.path())
    .output();
    out.code(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rc = &doc["services"]["rocketchat"];
    assert_eq!(rc["image"], "local/rocketchat-sim", "the override wins");
    assert_eq!(rc["ports"][0]["target"], 3000);
    assert_eq!(rc["environment"]["ROOT_URL"], "https://chat.example.org");
    assert_eq!(rc["environment"]["ADMIN_PASS"], "***");
    assert_eq!(
        rc["environment"]["MONGO_URL"],
        "mongodb://rc:***@mongo:27017/rocketchat?replicaSet=rs0"
    );
    assert_eq!(rc["healthcheck"]["interval"], "1m30s");
    assert!(
        doc["services"].get("debug").is_none(),
        "profile not enabled"
    );
    assert!(!out.stdout.contains("s3cret"), "{}", out.stdout);

    let shown = stackctl(["config", "--show-secrets", "--profile", "debug"])
        .current_dir(dir.path())
        .output();
    shown.code(0);
    assert!(shown.stdout.contains("s3cret-admin"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("debug:"),
        "profile enabled: {}",
        shown.stdout
    );
    let yaml: yaml_serde::Value = yaml_serde::from_str(&shown.stdout).unwrap();
    assert!(
        yaml["services"]["debug"]["image"].as_str() == Some("debug"),
        "{}",
        shown.stdout
    );
}

#[test]
fn config_reports_an_invalid_file_like_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yml"),
        "services:\n  web:\n    image: \"\"\n",
    )
    .unwrap();
    let out = stackctl(["config"]).current_dir(dir.path()).output();
    out.code(2);
    assert!(out.stderr.contains("compose.yml:3"), "{}", out.stderr);
}

const NEEDS_ENV: &str = "\
services:
  app:
    image: app:${APP_VERSION:?set APP_VERSION in .env}
    volumes:
      - ${APP_BIN:?set APP_BIN in .env}:/app/bin:ro
  worker:
    image: app:${APP_VERSION}
    volumes:
      - ${APP_BIN}:/app/bin:ro
    environment:
      TOKEN: ${TOKEN:?set TOKEN in .env}
";

/// Without `.env` beside a stack file that has a `.env.example`, the cause is reported once,
/// with the fix — not once per variable and once more per value the variables left empty.
#[test]
fn a_missing_env_file_is_one_problem_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yml"), NEEDS_ENV).unwrap();
    std::fs::write(
        dir.path().join(".env.example"),
        "APP_VERSION=1\nAPP_BIN=/usr/local/bin/app\nTOKEN=\n",
    )
    .unwrap();
    let out = stackctl(["config"]).current_dir(dir.path()).output();
    out.code(2);
    assert_eq!(
        out.stderr,
        "error: compose.yml: no `.env` beside this file, only `.env.example`: `APP_VERSION`, `APP_BIN`, `TOKEN` are not set\nhint: cp .env.example .env\n",
    );

    // From elsewhere, the hint names the directory.
    let sub = dir.path().join("stack");
    std::fs::create_dir(&sub).unwrap();
    for name in ["compose.yml", ".env.example"] {
        std::fs::rename(dir.path().join(name), sub.join(name)).unwrap();
    }
    let out = stackctl(["config", "-f", "stack/compose.yml"])
        .current_dir(dir.path())
        .output();
    out.code(2);
    assert!(
        out.stderr
            .ends_with("hint: cp stack/.env.example stack/.env\n"),
        "{}",
        out.stderr
    );

    // With a `.env` that lacks some: each variable once, at its first use; the bind mount its
    // variable left without a source is not a problem of its own; the shared hint is printed
    // once.
    std::fs::write(sub.join(".env"), "APP_VERSION=1\n").unwrap();
    let out = stackctl(["config"]).current_dir(&sub).output();
    out.code(2);
    assert_eq!(
        out.stderr,
        "error: 2 problems in compose.yml:\n  \
         compose.yml:5: required variable `APP_BIN` is not set: set APP_BIN in .env\n  \
         compose.yml:11: required variable `TOKEN` is not set: set TOKEN in .env\n\
         hint: set the variable in the environment or in `.env`\n",
    );
}
