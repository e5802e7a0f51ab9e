//! `up` never swaps MongoDB under its data, on the real daemon with simulator images of real
//! releases (tests/images/build-version-sims.sh): the versions are read over the wire from the
//! running member, and a changed release series, or data whose FCV is not the running series,
//! stops `up` before it touches anything (exit 2, pointing at `stackctl upgrade`).

use crate::support::docker::{Cleanup, docker, image_script, static_simulators, unique};
use crate::support::{Output, stackctl};

const STACK: &str = r"
services:
  mongo:
    image: ${MONGO_IMAGE}
    command: [--replSet, rs0, --bind_ip_all]
    volumes:
      - data:/data/db
volumes:
  data:
";

struct Project {
    dir: tempfile::TempDir,
    name: String,
    images: Vec<String>,
    _cleanup: Cleanup,
}

impl Project {
    fn new(releases: &[&str]) -> Self {
        static_simulators();
        let namespace = unique("stackctl-test-versions");
        let images: Vec<String> = image_script(
            "build-version-sims.sh",
            &[&[namespace.as_str()], releases].concat(),
        )
        .lines()
        .map(str::to_owned)
        .collect();
        assert_eq!(images.len(), releases.len(), "{images:?}");
        let mut cleanup = Cleanup::default();
        for image in &images {
            cleanup.image(image);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yml"), STACK).unwrap();
        Self {
            dir,
            name: unique("datagate").replace('-', ""),
            images,
            _cleanup: cleanup,
        }
    }

    /// `stackctl ARGS -p NAME` with the file naming `image`.
    fn run(&self, image: &str, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["-p", &self.name]);
        stackctl(all)
            .current_dir(self.dir.path())
            .env("MONGO_IMAGE", image)
            .output()
    }

    fn container(&self) -> String {
        format!("{}-mongo-1", self.name)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&self.images[0], &["down", "-v", "-t", "0"]);
    }
}

#[test]
fn up_refuses_another_major_and_an_unfinished_upgrade_with_the_versions_read_over_the_wire() {
    let project = Project::new(&[
        "mongo:6.0.14",
        "mongo:7.0.14",
        "mongo:8.0.4",
        "rocket.chat:8.5.1",
    ]);
    let [v6, v7, v8, rc8] = [
        &project.images[0],
        &project.images[1],
        &project.images[2],
        &project.images[3],
    ];
    // The images are read as the real ones: the matrix gate knows the pair from the names.
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"org.opencontainers.image.version\"}}",
            rc8
        ]),
        "8.5.1"
    );
    let pair = format!("services:\n  mongo:\n    image: {v6}\n  rocketchat:\n    image: {rc8}\n");
    std::fs::write(project.dir.path().join("pair.yml"), pair).unwrap();
    let out = project.run(v6, &["config", "-f", "pair.yml"]);
    out.code(2);
    assert!(
        out.stderr
            .contains("unsupported Rocket.Chat/MongoDB pair: Rocket.Chat `8.5.1`"),
        "{out:#?}"
    );
    project.run(v6, &["up", "--timeout", "60s"]).code(0);
    let id = docker(&["inspect", "-f", "{{.Id}}", &project.container()]);

    // Two majors ahead: refused with both versions and the path; nothing recreated.
    let out = project.run(v8, &["up", "--timeout", "60s"]);
    out.code(2);
    for needle in [
        "error: `up` would swap MongoDB under its data: service `mongo` runs MongoDB 6.0.14 \
         (featureCompatibilityVersion 6.0, read over the wire from `",
        "the stack file now names MongoDB 8.0.4",
        "the upgrade path is 6.0 → 7.0 → 8.0",
        "\nhint: run `stackctl upgrade`",
    ] {
        assert!(out.stderr.contains(needle), "{needle}\n{out:#?}");
    }
    assert!(
        out.stderr.contains(&format!("the stack file names `{v8}`")),
        "{out:#?}"
    );
    let still = docker(&[
        "inspect",
        "-f",
        "{{.Id}} {{.State.Running}} {{.Config.Image}}",
        &project.container(),
    ]);
    assert_eq!(
        still,
        format!("{id} true {v6}"),
        "the container was not touched"
    );

    // Stopped, nothing answers: the release its image names stands for the data's.
    docker(&["stop", "-t", "5", &project.container()]);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.ExitCode}}", &project.container()]),
        "0",
        "a clean shutdown on SIGTERM, as mongod's"
    );
    let out = project.run(v8, &["up", "--timeout", "60s"]);
    out.code(2);
    assert!(
        out.stderr
            .contains("service `mongo` last ran MongoDB 6.0.14 (from its image; `"),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains("` is stopped, so nothing could be read over the wire)"),
        "{out:#?}"
    );
    project.run(v6, &["up", "--timeout", "60s"]).code(0);

    // One major, FCV matching: that is the upgrade path, still not `up`'s to take.
    let out = project.run(v7, &["up", "--timeout", "60s"]);
    out.code(2);
    assert!(
        out.stderr.contains("the upgrade path is 6.0 → 7.0,"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("\nhint: run `stackctl upgrade`"),
        "{out:#?}"
    );

    // Someone swapped the binary by hand (the container removed, the volume kept): 7.0 runs on
    // FCV 6.0 data, and `up` with the unchanged file refuses the half-done upgrade.
    docker(&["rm", "-f", &project.container()]);
    project.run(v7, &["up", "--timeout", "60s"]).code(0);
    let out = project.run(v7, &["up", "--timeout", "60s"]);
    out.code(2);
    assert!(
        out.stderr.contains(
            "runs MongoDB 7.0.14 (featureCompatibilityVersion 6.0, read over the wire from `"
        ),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains(
            "its data's featureCompatibilityVersion is 6.0 while the binary is 7.0: the last upgrade did not finish"
        ),
        "{out:#?}"
    );

    // And an unchanged stack on finished data goes on.
    docker(&["rm", "-f", &project.container()]);
    project.run(v6, &["up", "--timeout", "60s"]).code(0);
    project.run(v6, &["up", "--timeout", "60s"]).code(0);
}
