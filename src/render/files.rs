//! Files a service bind-mounts from the host, carried into the cluster as ConfigMaps (Secrets
//! when they hold credentials): a cluster has no host paths to mount from, and a job or check
//! without its script or catalog fails.
//!
//! A file becomes one key mounted with `subPath` at the same path; a directory becomes one key
//! per regular file, mounted as the directory. Kubernetes refuses objects over 1 MiB, so
//! anything larger is left out with a warning, as are subdirectories (keys cannot hold `/`).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::stack::{Mount, Service};

/// The most a ConfigMap or a Secret may hold.
pub const MAX_BYTES: usize = 1024 * 1024;

/// A bind mount's content, ready to become an object and a volume.
#[derive(Debug)]
pub struct Carried {
    /// A Secret instead of a ConfigMap.
    pub secret: bool,
    /// File name → content.
    pub entries: BTreeMap<String, Vec<u8>>,
    /// The key to mount with `subPath` when the source is a single file.
    pub single: Option<String>,
    /// What was left out of a directory, said as warnings' endings.
    pub skipped: Vec<String>,
}

/// Reads a bind mount's source. `Err` says why it cannot be carried over.
pub fn carry(service: &Service, mount: &Mount) -> Result<Carried, String> {
    let source = Path::new(&mount.source);
    let meta = std::fs::metadata(source).map_err(|e| {
        format!(
            "cannot read it ({})",
            crate::reason::io_reason(&e).to_ascii_lowercase()
        )
    })?;
    let mut entries = BTreeMap::new();
    let mut skipped = Vec::new();
    let single = if meta.is_file() {
        let key = file_name(source).ok_or("its file name is not a valid ConfigMap key")?;
        entries.insert(key.clone(), read(source)?);
        Some(key)
    } else if meta.is_dir() {
        let listing = std::fs::read_dir(source).map_err(|e| {
            format!(
                "cannot list it ({})",
                crate::reason::io_reason(&e).to_ascii_lowercase()
            )
        })?;
        let mut paths: Vec<_> = listing.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let shown = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match (path.is_file(), file_name(&path)) {
                (true, Some(key)) => {
                    entries.insert(key, read(&path)?);
                }
                (true, None) => skipped.push(format!(
                    "`{shown}` left out: its name is not a valid ConfigMap key"
                )),
                (false, _) => skipped.push(format!(
                    "`{shown}` left out: only the directory's own files are carried, not subdirectories"
                )),
            }
        }
        None
    } else {
        return Err("it is neither a file nor a directory".to_owned());
    };
    let size: usize = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_BYTES {
        return Err(format!(
            "{size} bytes is more than a ConfigMap holds (1 MiB)"
        ));
    }
    Ok(Carried {
        secret: is_secret(service, mount, &entries),
        entries,
        single,
        skipped,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    // Checked before reading: a large file is refused without loading it.
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    if len > MAX_BYTES as u64 {
        return Err(format!(
            "{len} bytes is more than a ConfigMap holds (1 MiB)"
        ));
    }
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot read `{}` ({})",
            path.file_name().unwrap_or_default().to_string_lossy(),
            crate::reason::io_reason(&e).to_ascii_lowercase()
        )
    })
}

/// A key as Kubernetes accepts it: `[-._a-zA-Z0-9]+`, at most 253 characters.
fn file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let valid = !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    valid.then(|| name.to_owned())
}

/// A Secret when a name says so (the same words as for variables: `privkey.pem`,
/// `api-token`), when it is mounted under `/run/secrets`, or when the service uses the path as
/// a credential (`--key-file PATH`, `TLS_KEY=PATH`).
fn is_secret(service: &Service, mount: &Mount, entries: &BTreeMap<String, Vec<u8>>) -> bool {
    let secret_word =
        |text: &str| crate::redact::is_secret_variable(&text.replace(['-', '.'], "_"));
    let base = Path::new(&mount.source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if secret_word(&base) || entries.keys().any(|k| secret_word(k)) {
        return true;
    }
    let target = mount.target.trim_end_matches('/');
    if target == "/run/secrets" || target.starts_with("/run/secrets/") {
        return true;
    }
    let names_it = |value: &str| value == target || value.starts_with(&format!("{target}/"));
    let argv = service
        .entrypoint
        .iter()
        .chain(service.command.iter())
        .flatten()
        .collect::<Vec<_>>();
    let by_flag = argv
        .windows(2)
        .any(|w| w[0].starts_with('-') && secret_word(w[0]) && names_it(w[1]));
    let inline = argv.iter().any(|a| {
        a.split_once('=').is_some_and(|(flag, value)| {
            flag.starts_with('-') && secret_word(flag) && names_it(value)
        })
    });
    let by_env = service
        .environment
        .iter()
        .any(|(k, v)| crate::redact::is_secret_variable(k) && names_it(v));
    by_flag || inline || by_env
}

/// The ConfigMap or Secret holding the files.
#[must_use]
pub fn object(carried: &Carried, metadata: &Value) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut text = serde_json::Map::new();
    let mut binary = serde_json::Map::new();
    for (key, bytes) in &carried.entries {
        match std::str::from_utf8(bytes) {
            Ok(s) if !carried.secret => text.insert(key.clone(), json!(s)),
            _ => binary.insert(key.clone(), json!(b64(bytes))),
        };
    }
    if carried.secret {
        // Base64 for every file: `stringData` would print a key in clear in `kubectl get -o yaml`
        // exactly the same way, but `data` keeps bytes that are not UTF-8 intact.
        return json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                      "type": "Opaque", "data": binary});
    }
    let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata});
    if !text.is_empty() {
        object["data"] = Value::Object(text);
    }
    if !binary.is_empty() {
        object["binaryData"] = Value::Object(binary);
    }
    object
}

/// The pod volume for an object named `name`.
#[must_use]
pub fn volume(carried: &Carried, name: &str) -> Value {
    if carried.secret {
        json!({"name": name, "secret": {"secretName": name}})
    } else {
        json!({"name": name, "configMap": {"name": name}})
    }
}

/// The container's mount of that volume, at the path compose mounted the file or directory.
#[must_use]
pub fn volume_mount(carried: &Carried, name: &str, target: &str) -> Value {
    let mut mount = json!({"name": name, "mountPath": target, "readOnly": true});
    if let Some(key) = &carried.single {
        mount["subPath"] = json!(key);
    }
    mount
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::MountKind;

    fn mount(source: &Path, target: &str) -> Mount {
        Mount {
            kind: MountKind::Bind,
            source: source.to_string_lossy().into_owned(),
            target: target.to_owned(),
            read_only: true,
        }
    }

    fn service() -> Service {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compose.yml"),
            "services:\n  web:\n    image: img\n",
        )
        .unwrap();
        let options = crate::stack::LoadOptions {
            files: vec![dir.path().join("compose.yml")],
            project: Some("demo".into()),
            env_file: None,
            environment: BTreeMap::new(),
            cwd: dir.path().to_path_buf(),
        };
        let mut stack = crate::stack::open(&options, &std::collections::BTreeSet::new()).unwrap();
        stack.services.remove("web").unwrap()
    }

    #[test]
    fn a_file_is_one_key_and_a_directory_one_key_per_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), "a: 1\n").unwrap();
        std::fs::write(dir.path().join("b.bin"), [0xff, 0x00]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let file = carry(&service(), &mount(&dir.path().join("a.yml"), "/etc/a.yml")).unwrap();
        assert_eq!(file.single.as_deref(), Some("a.yml"));
        assert!(!file.secret);
        let all = carry(&service(), &mount(dir.path(), "/etc/app")).unwrap();
        assert_eq!(all.entries.len(), 2);
        assert_eq!(all.skipped.len(), 1);
        let object = object(&all, &json!({"name": "web-app"}));
        assert_eq!(object["kind"], "ConfigMap");
        assert_eq!(object["data"]["a.yml"], "a: 1\n");
        assert_eq!(object["binaryData"]["b.bin"], "/wA=");
    }

    #[test]
    fn credentials_go_to_a_secret_and_big_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("privkey.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert!(
            carry(&service(), &mount(&key, "/certs/k.pem"))
                .unwrap()
                .secret
        );
        let plain = dir.path().join("site.conf");
        std::fs::write(&plain, "x").unwrap();
        let mut svc = service();
        svc.entrypoint = Some(vec!["/app".into(), "--token-file".into(), "/etc/t".into()]);
        assert!(carry(&svc, &mount(&plain, "/etc/t")).unwrap().secret);
        assert!(
            carry(&svc, &mount(&plain, "/run/secrets/site"))
                .unwrap()
                .secret
        );
        assert!(
            !carry(&svc, &mount(&plain, "/etc/site.conf"))
                .unwrap()
                .secret
        );
        let big = dir.path().join("big.js");
        std::fs::write(&big, vec![b'x'; MAX_BYTES + 1]).unwrap();
        let refused = carry(&service(), &mount(&big, "/big.js")).unwrap_err();
        assert!(refused.contains("1 MiB"), "{refused}");
    }
}
