//! Operator ergonomics: shell completions and man pages, generated from the clap definitions
//! the binary parses with, so they cover every subcommand the tree has.

use std::process::Command;

use crate::support::stackctl;

/// Every subcommand path of the tree an operator types, e.g. `["check", "tcp"]` (not the
/// hidden ones stackctl runs itself, such as `backup-guard` in its container).
fn paths() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in command
            .get_subcommands()
            .filter(|s| s.get_name() != "help" && !s.is_hide_set())
        {
            prefix.push(sub.get_name().to_owned());
            out.push(prefix.clone());
            walk(sub, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(&stackctl::cli::command(), &mut Vec::new(), &mut out);
    out
}

#[test]
fn bash_completion_parses_and_completes_every_subcommand() {
    let out = stackctl(["completions", "bash"]).output();
    out.code(0);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("stackctl.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    for path in paths() {
        let name = path.last().unwrap();
        assert!(out.stdout.contains(name.as_str()), "`{name}` missing");
        // What bash offers after the parent's words.
        let words: Vec<String> = std::iter::once("stackctl".to_owned())
            .chain(path[..path.len() - 1].iter().cloned())
            .chain(std::iter::once(String::new()))
            .collect();
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let probe = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; _stackctl stackctl '' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            quoted.join(" "),
            words.len() - 1,
            words.join(" "),
            words[words.len() - 2]
        );
        let offered = Command::new("bash").arg("-c").arg(&probe).output().unwrap();
        let offered = String::from_utf8_lossy(&offered.stdout);
        assert!(
            offered.lines().any(|l| l == name),
            "bash does not offer `{name}` after `{}`: {offered}",
            words.join(" ")
        );
    }
}

#[test]
fn other_shells_get_scripts_too() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = stackctl(["completions", shell]).output();
        out.code(0);
        assert!(
            out.stdout.contains("stackctl") && out.stdout.contains("rocketchat-room"),
            "{shell}"
        );
    }
    let out = stackctl(["completions", "tcsh"]).output();
    out.code(2);
    assert!(
        out.stderr.contains("hint: expected one of: bash"),
        "{out:#?}"
    );
}

#[test]
fn man_pages_render_and_name_every_subcommand() {
    let out = stackctl(["man"]).output();
    out.code(0);
    assert!(out.stdout.contains(".TH stackctl 1"), "{}", out.stdout);
    for path in paths().iter().filter(|p| p.len() == 1) {
        assert!(
            out.stdout.contains(path[0].as_str()),
            "`{}` missing",
            path[0]
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = stackctl(["man", "--dir"]).output();
    out.code(2);
    let written = stackctl([
        std::ffi::OsStr::new("man"),
        "--dir".as_ref(),
        dir.path().as_os_str(),
    ])
    .output();
    written.code(0);
    let has_man = Command::new("man").arg("--version").output().is_ok();
    // Overstrike bold (`S\x08S`) as `man` prints it into a pipe.
    let overstrike = regex::Regex::new(".\x08").unwrap();
    for path in std::iter::once(Vec::new()).chain(paths()) {
        let mut name = vec!["stackctl".to_owned()];
        name.extend(path.iter().cloned());
        let file = dir.path().join(format!("{}.1", name.join("-")));
        let page =
            std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("no {}", file.display()));
        assert!(page.contains(".TH"), "{}", file.display());
        if has_man {
            let rendered = Command::new("man")
                .arg("-l")
                .arg(&file)
                .env("MANWIDTH", "100")
                .env("MAN_KEEP_FORMATTING", "0")
                .output()
                .unwrap();
            assert!(rendered.status.success(), "{rendered:?}");
            let text = overstrike
                .replace_all(&String::from_utf8_lossy(&rendered.stdout), "")
                .into_owned();
            assert!(text.contains("SYNOPSIS"), "{}: {text}", file.display());
            assert!(
                !String::from_utf8_lossy(&rendered.stderr).contains("warning"),
                "{rendered:?}"
            );
        }
    }
}
