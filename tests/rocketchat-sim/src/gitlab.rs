//! Stand-in for a GitLab incoming-webhook script (the Script class run by the integration's
//! isolated-vm engine): turns a GitLab event (header `X-Gitlab-Event`) into one short text.
//! Payload fields follow GitLab's documented webhook events (object_kind, user_name,
//! object_attributes, project.path_with_namespace, ...).

use serde_json::Value;

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(x) => x,
            None => return "",
        };
    }
    cur.as_str().unwrap_or("")
}

fn n(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(x) => x,
            None => return String::new(),
        };
    }
    match cur {
        Value::Number(x) => x.to_string(),
        Value::String(x) => x.clone(),
        _ => String::new(),
    }
}

fn short_ref(r: &str) -> &str {
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/tags/"))
        .unwrap_or(r)
}

fn first_line(t: &str) -> &str {
    t.lines().next().unwrap_or("")
}

/// Returns None for events the script ignores.
pub fn format_event(event: &str, body: &Value) -> Option<String> {
    let project = {
        let p = s(body, &["project", "path_with_namespace"]);
        if p.is_empty() {
            s(body, &["project", "name"])
        } else {
            p
        }
    };
    let user = {
        let u = s(body, &["user_name"]);
        if u.is_empty() {
            s(body, &["user", "name"])
        } else {
            u
        }
    };
    let text = match event {
        "Push Hook" => {
            let commits = body
                .get("commits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let count = body
                .get("total_commits_count")
                .and_then(Value::as_u64)
                .unwrap_or(commits.len() as u64);
            let mut t = format!(
                "{user} pushed {count} commit{} to {project}@{}",
                if count == 1 { "" } else { "s" },
                short_ref(s(body, &["ref"]))
            );
            for c in commits.iter().take(5) {
                let id = s(c, &["id"]);
                t.push_str(&format!(
                    "\n- {} {}",
                    &id[..id.len().min(8)],
                    first_line(s(c, &["message"]))
                ));
            }
            t
        }
        "Tag Push Hook" => format!(
            "{user} pushed tag {} to {project}",
            short_ref(s(body, &["ref"]))
        ),
        "Merge Request Hook" => {
            let a = &body["object_attributes"];
            let action = match s(a, &["action"]) {
                "" => s(a, &["state"]).to_string(),
                "open" => "opened".into(),
                "close" => "closed".into(),
                "reopen" => "reopened".into(),
                "merge" => "merged".into(),
                "update" => "updated".into(),
                "approved" => "approved".into(),
                other => other.to_string(),
            };
            format!(
                "{user} {action} merge request !{} \"{}\" ({} -> {}) in {project} {}",
                n(a, &["iid"]),
                s(a, &["title"]),
                s(a, &["source_branch"]),
                s(a, &["target_branch"]),
                s(a, &["url"])
            )
            .trim_end()
            .to_string()
        }
        "Pipeline Hook" => {
            let a = &body["object_attributes"];
            let duration = n(a, &["duration"]);
            format!(
                "Pipeline #{} {} for {project}@{}{}{}",
                n(a, &["id"]),
                s(a, &["status"]),
                s(a, &["ref"]),
                if duration.is_empty() {
                    String::new()
                } else {
                    format!(" in {duration}s")
                },
                if user.is_empty() {
                    String::new()
                } else {
                    format!(" (triggered by {user})")
                }
            )
        }
        "Issue Hook" | "Confidential Issue Hook" => {
            let a = &body["object_attributes"];
            let action = match s(a, &["action"]) {
                "" => s(a, &["state"]).to_string(),
                "open" => "opened".into(),
                "close" => "closed".into(),
                "reopen" => "reopened".into(),
                "update" => "updated".into(),
                other => other.to_string(),
            };
            format!(
                "{user} {action} issue #{} \"{}\" in {project} {}",
                n(a, &["iid"]),
                s(a, &["title"]),
                s(a, &["url"])
            )
            .trim_end()
            .to_string()
        }
        "Note Hook" | "Confidential Note Hook" => {
            let a = &body["object_attributes"];
            let target = match s(a, &["noteable_type"]) {
                "MergeRequest" => format!("merge request !{}", n(body, &["merge_request", "iid"])),
                "Issue" => format!("issue #{}", n(body, &["issue", "iid"])),
                "Commit" => format!(
                    "commit {}",
                    &s(body, &["commit", "id"])[..s(body, &["commit", "id"]).len().min(8)]
                ),
                other => other.to_string(),
            };
            format!(
                "{user} commented on {target} in {project}: {}",
                first_line(s(a, &["note"]))
            )
        }
        _ => return None,
    };
    Some(text)
}
