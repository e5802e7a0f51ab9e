//! The static binary as a Docker `HEALTHCHECK` in a `FROM scratch` image: no shell, no curl.
//! Runs against the real Docker daemon.

use std::time::Duration;

use crate::support::docker::{
    Cleanup, build_image, docker, static_binaries, unique, wait_for_health,
};

const DOCKERFILE: &str = r#"FROM scratch
COPY stackctl /stackctl
COPY http-fixture /http-fixture
HEALTHCHECK --interval=1s --timeout=3s --retries=1 CMD ["/stackctl", "check", "http", "http://127.0.0.1:8080/"]
ENTRYPOINT ["/http-fixture"]
"#;

#[test]
fn scratch_image_reports_healthy_and_unhealthy() {
    let bin = static_binaries();
    let mut cleanup = Cleanup::default();
    let tag = unique("stackctl-test-hc");
    cleanup.image(&tag);
    build_image(
        &tag,
        DOCKERFILE,
        &[
            (&bin.join("stackctl"), "stackctl"),
            (&bin.join("http-fixture"), "http-fixture"),
        ],
    );

    // Serving on 8080, where the healthcheck looks: healthy.
    let up = unique("stackctl-test-up");
    cleanup.container(&up);
    docker(&["run", "-d", "--name", &up, &tag, "8080"]);
    // Serving on 8081 instead: the healthcheck finds nothing on 8080.
    let down = unique("stackctl-test-down");
    cleanup.container(&down);
    docker(&["run", "-d", "--name", &down, &tag, "8081"]);

    assert_eq!(
        wait_for_health(&up, "healthy", Duration::from_secs(30)),
        "healthy"
    );
    assert_eq!(
        wait_for_health(&down, "unhealthy", Duration::from_secs(30)),
        "unhealthy"
    );

    // Docker keeps each probe's exit code and output: 0 / 1 (never 2) and our one line.
    let log = |name: &str| -> serde_json::Value {
        serde_json::from_str(&docker(&[
            "inspect",
            "-f",
            "{{json .State.Health.Log}}",
            name,
        ]))
        .unwrap()
    };
    let up_log = log(&up);
    let last = up_log.as_array().unwrap().last().unwrap();
    assert_eq!(last["ExitCode"], 0);
    let output = last["Output"].as_str().unwrap();
    assert!(
        output.starts_with("http http://127.0.0.1:8080/: healthy (200 OK in "),
        "{output}"
    );

    let down_log = log(&down);
    let last = down_log.as_array().unwrap().last().unwrap();
    assert_eq!(last["ExitCode"], 1);
    assert_eq!(
        last["Output"].as_str().unwrap().trim(),
        "http http://127.0.0.1:8080/: unhealthy: connection refused"
    );
}

#[test]
fn static_binary_is_static_and_small() {
    let binary = static_binaries().join("stackctl");
    let size = std::fs::metadata(&binary).unwrap().len();
    assert!(
        size <= 10 * 1024 * 1024,
        "static binary is {size} bytes, over the 10 MB budget"
    );
    // A static executable has no program interpreter (no dynamic loader).
    let bytes = std::fs::read(&binary).unwrap();
    assert!(
        !bytes.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "the binary names a dynamic loader"
    );
}
