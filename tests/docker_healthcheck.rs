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
        size <= 12 * 1024 * 1024,
        "static binary is {size} bytes, over the 12 MiB budget (README, Performance)"
    );
    // A static executable has no program interpreter (no dynamic loader).
    let bytes = std::fs::read(&binary).unwrap();
    assert!(
        !bytes.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "the binary names a dynamic loader"
    );
}

/// The functions a check runs are linked first and together (`.cargo/hot-text.ld`): the kernel
/// maps an executable's text 64 KiB around each fault, so where they lie is the check's memory
/// (README, Performance). An empty or small `.text.hot` means the linker script no longer
/// applies or no longer names the check path: re-run `bash bench/link-order.sh`.
#[test]
fn static_binary_links_the_check_path_first() {
    let binary = static_binaries().join("stackctl");
    let out = std::process::Command::new("readelf")
        .args(["-SW"])
        .arg(&binary)
        .output()
        .expect("readelf (binutils) runs");
    let sections = String::from_utf8_lossy(&out.stdout);
    // `[ 3] .text.hot PROGBITS 0000000000401010 001010 121e0f 00 AX 0 0 16`
    let section = |name: &str| {
        sections.lines().find_map(|line| {
            let (_, rest) = line.split_once(']')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            (fields.first() == Some(&name)).then(|| {
                let hex = |i: usize| u64::from_str_radix(fields[i], 16).unwrap();
                (hex(2), hex(4))
            })
        })
    };
    let (hot_at, hot_size) = section(".text.hot")
        .unwrap_or_else(|| panic!("no .text.hot section in {}:\n{sections}", binary.display()));
    let (text_at, _) = section(".text").expect("a .text section");
    assert!(hot_at < text_at, ".text.hot is not before .text");
    assert!(
        hot_size >= 512 * 1024,
        ".text.hot holds only {hot_size} bytes: bench/link-order.sh names code that is gone"
    );
}
