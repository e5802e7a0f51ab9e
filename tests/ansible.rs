//! The Ansible role (`ansible/`) against this machine, `connection: local`, on the chat stack's
//! local proof (`compose.local.yml`: images built here): lint clean on the production profile,
//! `--syntax-check`, `--check --diff`, a first run that brings the stack up, a second run that
//! changes nothing (`changed=0`), and a run with another domain that changes exactly the
//! settings, the vhost, and — through `stackctl up` — the services that use the domain.
//! The tools come from the pinned virtualenv `tests/setup.sh` makes (`target/venv`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::support::docker::{docker, image_script, static_simulators, unique};
use crate::support::{closed_port, target_dir};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool of the virtualenv.
fn venv(tool: &str) -> PathBuf {
    let path = target_dir().join("venv/bin").join(tool);
    assert!(
        path.exists(),
        "`{}` is missing: run `bash tests/setup.sh`, which installs tests/requirements.txt",
        path.display()
    );
    path
}

/// One `ansible-playbook` run's output and how long it took.
struct Play {
    ok: bool,
    stdout: String,
    seconds: f64,
}

impl Play {
    /// `changed=N` of the recap.
    fn changed(&self) -> usize {
        let recap = self
            .stdout
            .lines()
            .rfind(|l| l.starts_with("localhost ") && l.contains("changed="))
            .unwrap_or_else(|| panic!("no recap:\n{}", self.stdout));
        recap
            .split_whitespace()
            .find_map(|w| w.strip_prefix("changed="))
            .and_then(|n| n.parse().ok())
            .expect("a number")
    }

    /// The tasks (and handlers) that reported `changed`.
    fn changed_tasks(&self) -> Vec<String> {
        let mut tasks = Vec::new();
        let mut current = String::new();
        for line in self.stdout.lines() {
            if let Some(rest) = line
                .strip_prefix("TASK [")
                .or_else(|| line.strip_prefix("RUNNING HANDLER ["))
            {
                rest.split(']')
                    .next()
                    .unwrap_or_default()
                    .clone_into(&mut current);
            } else if line.starts_with("changed: ") && tasks.last() != Some(&current) {
                tasks.push(current.clone());
            }
        }
        tasks
    }
}

/// The project on the local proof, with the role's variables; `down -v` on drop.
struct Provisioned {
    dir: tempfile::TempDir,
    project: String,
    vars: serde_json::Value,
    images: Vec<String>,
}

impl Provisioned {
    fn new() -> Self {
        let bin = static_simulators();
        let nginx = image_script("build-nginx.sh", &[]);
        let tag = unique("ansible");
        let images = image_script("build-chat-sims.sh", &[&tag])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let dir = tempfile::tempdir().expect("a directory");
        let binary = bin.join("stackctl");
        let sha256 = format!(
            "{:x}",
            Sha256::digest(std::fs::read(&binary).expect("the static binary"))
        );
        let project = unique("ansproof").replace('-', "");
        std::fs::write(
            dir.path().join("inventory.yml"),
            "chat:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
        )
        .unwrap();
        let vars = serde_json::json!({
            "ansible_python_interpreter": venv("python"),
            "stackctl_install_docker": true,
            "stackctl_binary_src": binary,
            "stackctl_binary_sha256": sha256,
            "stackctl_binary_dest": dir.path().join("bin/stackctl"),
            "stackctl_dir": dir.path().join("chat"),
            "stackctl_project": project,
            "stackctl_domain": "chat.example.test",
            "stackctl_http_port": closed_port(),
            "stackctl_https_port": closed_port(),
            "stackctl_compose_extra_files": ["compose.local.yml"],
            "stackctl_env": {"LOCAL_IMAGES_TAG": tag, "LOCAL_NGINX_IMAGE": nginx},
            "stackctl_admin_pass": unique("admin-pass"),
            "stackctl_bot_pass": unique("bot-pass"),
            "stackctl_up_timeout": "3m",
        });
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        Self {
            dir,
            project,
            vars,
            images,
        }
    }

    /// `ansible-playbook -i INVENTORY -e @VARS [-e domain] ARGS site.yml`.
    fn play(&self, args: &[&str], domain: Option<&str>) -> Play {
        let mut vars = self.vars.clone();
        if let Some(domain) = domain {
            vars["stackctl_domain"] = domain.into();
        }
        let file = self.dir.path().join("vars.json");
        std::fs::write(&file, vars.to_string()).unwrap();
        let started = Instant::now();
        let out = Command::new(venv("ansible-playbook"))
            .current_dir(root().join("ansible"))
            .arg("-i")
            .arg(self.dir.path().join("inventory.yml"))
            .arg("-e")
            .arg(format!("@{}", file.display()))
            .args(args)
            .arg("site.yml")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .output()
            .expect("ansible-playbook runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        Play {
            ok: out.status.success(),
            stdout,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// Each service's container id.
    fn containers(&self) -> BTreeMap<String, String> {
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--format",
            "{{.Label \"com.docker.compose.service\"}} {{.ID}}",
        ])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, id)| (s.to_owned(), id.to_owned()))
        .collect()
    }
}

impl Drop for Provisioned {
    fn drop(&mut self) {
        let chat = self.dir.path().join("chat");
        let _ = Command::new(self.dir.path().join("bin/stackctl"))
            .current_dir(&chat)
            .args([
                "--quiet",
                "down",
                "--file=compose.yml",
                "--file=compose.local.yml",
            ])
            .args(["-p", &self.project, "-v", "-t", "0"])
            .output();
        for image in &self.images {
            let _ = Command::new("docker")
                .args(["rmi", "-f", "--no-prune", image])
                .output();
        }
    }
}

#[test]
fn the_role_is_lint_clean_on_the_production_profile() {
    let lint = Command::new(venv("ansible-lint"))
        .current_dir(root().join("ansible"))
        .args(["--offline", "--profile", "production", "--nocolor"])
        .output()
        .expect("ansible-lint runs");
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let yaml = Command::new(venv("yamllint"))
        .current_dir(root().join("ansible"))
        .args(["--strict", "."])
        .output()
        .expect("yamllint runs");
    assert!(
        yaml.status.success(),
        "{}",
        String::from_utf8_lossy(&yaml.stdout)
    );
}

#[test]
fn the_role_brings_the_stack_up_once_and_then_changes_only_what_a_new_domain_touches() {
    let host = Provisioned::new();
    let syntax = host.play(&["--syntax-check"], None);
    assert!(syntax.ok, "{}", syntax.stdout);

    // Check mode on a fresh host: it says what it would write, and writes nothing.
    let check = host.play(&["--check", "--diff"], None);
    assert!(check.ok, "{}", check.stdout);
    assert!(check.changed() > 0, "{}", check.stdout);
    assert!(!host.dir.path().join("chat/.env").exists());
    assert!(host.containers().is_empty());

    let first = host.play(&[], None);
    assert!(first.ok, "{}", first.stdout);
    let before = host.containers();
    for service in ["mongo", "rocketchat", "nginx", "bot", "certs"] {
        assert!(before.contains_key(service), "{service}: {before:?}");
    }
    let env = host.dir.path().join("chat/.env");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&env).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The secrets are in .env, and nowhere in the play's output.
    let admin_pass = host.vars["stackctl_admin_pass"].as_str().unwrap();
    assert!(std::fs::read_to_string(&env).unwrap().contains(admin_pass));
    assert!(!first.stdout.contains(admin_pass));

    let second = host.play(&[], None);
    assert!(second.ok, "{}", second.stdout);
    assert_eq!(second.changed(), 0, "{}", second.stdout);
    assert_eq!(host.containers(), before);

    let moved = host.play(&[], Some("talk.example.test"));
    assert!(moved.ok, "{}", moved.stdout);
    assert_eq!(
        moved.changed_tasks(),
        [
            "stackctl : Write the settings (.env)",
            "stackctl : Render the nginx vhost for the domain",
            "stackctl : Run stackctl up",
        ],
        "{}",
        moved.stdout
    );
    let vhost =
        std::fs::read_to_string(host.dir.path().join("chat/nginx/chat.conf.template")).unwrap();
    assert!(vhost.contains("server_name talk.example.test;"), "{vhost}");
    assert!(vhost.contains("proxy_set_header Upgrade $http_upgrade;"));
    let after = host.containers();
    let recreated: Vec<&str> = after
        .iter()
        .filter(|(service, id)| before.get(*service) != Some(id))
        .map(|(service, _)| service.as_str())
        .collect();
    // The domain is in Rocket.Chat's ROOT_URL, the certificate, nginx's vhost and check, and
    // the status service's front-door check.
    assert_eq!(
        recreated,
        ["certs", "nginx", "rocketchat", "status"],
        "{}",
        moved.stdout
    );
    eprintln!(
        "ansible: first run {:.1} s (changed={}), second {:.1} s (changed={}), new domain {:.1} s (changed={})",
        first.seconds,
        first.changed(),
        second.seconds,
        second.changed(),
        moved.seconds,
        moved.changed()
    );
}
