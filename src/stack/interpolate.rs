//! Compose variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, and `$$` for a literal `$` (compose-spec, "Interpolation").
//! Written here rather than taken from a crate: these are compose's own rules, and the crates
//! that do shell expansion differ in exactly the cases that matter (`$$`, `:?`, unset warnings).
//!
//! Defaults nest (`${A:-${B:-x}}`); the nesting is bounded ([`MAX_DEPTH`]) so a hostile file
//! cannot exhaust the stack, and each level scans its text once, so the cost stays linear.

use std::collections::{BTreeMap, BTreeSet};

use yaml_serde::Value;

use super::locate::item;

/// Variables visible to interpolation (process environment over `.env`).
pub type Variables = BTreeMap<String, String>;

/// What interpolating a document finds, at a path of the file.
#[derive(Debug)]
pub enum Found<'v> {
    /// A value that cannot be interpolated; `variable` is the required variable that is not
    /// set, when that is the reason.
    Problem {
        message: String,
        hint: &'static str,
        variable: Option<String>,
    },
    /// A key of the mapping at the path that is not a string (it is dropped).
    BadKey {
        key: &'v Value,
        message: String,
        hint: &'static str,
    },
    /// Variables that are not set, replaced by empty strings in the value at the path.
    Unset(BTreeSet<String>),
}

/// Receives what interpolation finds.
pub type Report<'a> = dyn FnMut(&[String], Found<'_>) + 'a;

/// How deeply `${VAR:-...}` defaults may nest. Real files use two or three levels.
pub const MAX_DEPTH: usize = 64;

/// Interpolates one string. Returns the result; the names of unset variables that were
/// replaced by an empty string (compose warns about them) are added to `unset`.
///
/// # Errors
/// The message of a `${VAR:?message}` whose variable is unset (or empty, for `:?`), or a
/// description of malformed syntax.
pub fn interpolate(
    text: &str,
    vars: &Variables,
    unset: &mut BTreeSet<String>,
) -> Result<String, String> {
    // One pass refuses deep nesting before each level would scan the rest of the text.
    if nesting(text) > MAX_DEPTH + 1 {
        return Err(format!(
            "variable defaults are nested more than {MAX_DEPTH} levels deep"
        ));
    }
    interpolate_at(text, vars, unset, 0)
}

/// How deeply `${` ... `}` nest in a text (`$$` escapes a `$`).
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'$' if bytes.peek() == Some(&b'$') => {
                bytes.next();
            }
            b'$' if bytes.peek() == Some(&b'{') => {
                bytes.next();
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn interpolate_at(
    text: &str,
    vars: &Variables,
    unset: &mut BTreeSet<String>,
    depth: usize,
) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "variable defaults are nested more than {MAX_DEPTH} levels deep"
        ));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body)
                .ok_or_else(|| format!("unclosed `${{` in `{}`", shorten(text)))?;
            out.push_str(&braced(&body[..end], vars, unset, depth)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .char_indices()
                .find(|&(i, c)| {
                    !(c == '_' || c.is_ascii_alphanumeric()) || (i == 0 && c.is_ascii_digit())
                })
                .map_or(after.len(), |(i, _)| i);
            if len == 0 {
                return Err(format!(
                    "`$` must be followed by a variable name in `{}`; write `$$` for a literal `$`",
                    shorten(text)
                ));
            }
            let name = &after[..len];
            out.push_str(&lookup(name, vars, unset));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing a `${`, allowing nested `${...}` in defaults.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// A text as quoted in a message: long values are cut so one problem stays one line.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

fn braced(
    expr: &str,
    vars: &Variables,
    unset: &mut BTreeSet<String>,
    depth: usize,
) -> Result<String, String> {
    let name_len = expr
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_len);
    if name.is_empty() {
        return Err(format!("`${{{}}}` has no variable name", shorten(expr)));
    }
    let value = vars.get(name);
    let (colon, op) = match op.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, op),
    };
    // With a colon, an empty value counts as unset.
    let missing = value.is_none_or(|v| colon && v.is_empty());
    let Some(kind) = op.chars().next() else {
        if colon {
            return Err(format!(
                "`${{{}}}`: expected `:-`, `:?` or `:+` after the name",
                shorten(expr)
            ));
        }
        return Ok(lookup(name, vars, unset));
    };
    let arg = &op[kind.len_utf8()..];
    match kind {
        '-' if missing => interpolate_at(arg, vars, unset, depth + 1),
        '?' if missing => {
            let message = interpolate_at(arg, vars, unset, depth + 1)?;
            Err(if message.is_empty() {
                format!("required variable `{name}` is not set")
            } else {
                format!("required variable `{name}` is not set: {message}")
            })
        }
        '-' | '?' => Ok(value.cloned().unwrap_or_default()),
        '+' if missing => Ok(String::new()),
        '+' => interpolate_at(arg, vars, unset, depth + 1),
        other => Err(format!(
            "`${{{}}}`: unknown operator `{other}`",
            shorten(expr)
        )),
    }
}

fn lookup(name: &str, vars: &Variables, unset: &mut BTreeSet<String>) -> String {
    vars.get(name).cloned().unwrap_or_else(|| {
        unset.insert(name.to_owned());
        String::new()
    })
}

/// Interpolates every string value of one file's document, as compose does before merging
/// files. Keys are not interpolated; `x-*` extension fields (other than `x-stackctl`) are left
/// alone since nothing reads them (an alias to one is interpolated where it is used). Keys that
/// are not strings are reported and dropped: compose names everything with strings. Unset
/// variables are reported with the value they emptied, so that what follows from them (a bind
/// mount without a source) can be traced back to them.
pub fn interpolate_document(
    value: &mut Value,
    path: &mut Vec<String>,
    vars: &Variables,
    report: &mut Report<'_>,
) {
    match value {
        Value::String(text) if text.contains('$') => {
            let mut unset = BTreeSet::new();
            match interpolate(text, vars, &mut unset) {
                Ok(done) => *text = done,
                Err(message) => {
                    let variable = message
                        .strip_prefix("required variable `")
                        .and_then(|rest| rest.split('`').next())
                        .map(str::to_owned);
                    let hint = if variable.is_some() {
                        "set the variable in the environment or in `.env`"
                    } else if message.contains("nested more than") {
                        "nest fewer defaults, or set the variable instead"
                    } else {
                        "write `$$` for a literal `$`; compose supports `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}` and `${VAR:+alternative}`"
                    };
                    report(
                        path,
                        Found::Problem {
                            message,
                            hint,
                            variable,
                        },
                    );
                }
            }
            if !unset.is_empty() {
                report(path, Found::Unset(unset));
            }
        }
        Value::Sequence(items) => {
            for (index, entry) in items.iter_mut().enumerate() {
                path.push(item(index));
                interpolate_document(entry, path, vars, report);
                path.pop();
            }
        }
        Value::Mapping(map) => {
            let mut bad_keys = Vec::new();
            for (key, entry) in map.iter_mut() {
                let Some(key) = key.as_str() else {
                    bad_keys.push(key.clone());
                    continue;
                };
                if key.starts_with("x-") && key != "x-stackctl" {
                    continue;
                }
                path.push(key.to_owned());
                interpolate_document(entry, path, vars, report);
                path.pop();
            }
            for key in bad_keys {
                map.remove(&key);
                let message = match path.last() {
                    Some(parent) => format!(
                        "a key under `{parent}` must be a string, not {}",
                        describe(&key)
                    ),
                    None => format!("a top-level key must be a string, not {}", describe(&key)),
                };
                report(
                    path,
                    Found::BadKey {
                        key: &key,
                        message,
                        hint: "name services, networks, volumes and variables with plain strings, e.g. `web:`",
                    },
                );
            }
        }
        Value::Tagged(tagged) => {
            interpolate_document(&mut tagged.value, path, vars, report);
        }
        _ => {}
    }
}

/// What kind of YAML value this is, for messages (`a list`, `a number`...).
#[must_use]
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        [("ROOM", "devops"), ("EMPTY", ""), ("PORT", "3000")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn run(text: &str) -> Result<String, String> {
        interpolate(text, &vars(), &mut BTreeSet::new())
    }

    #[test]
    fn forms() {
        assert_eq!(run("$ROOM-${PORT}").unwrap(), "devops-3000");
        assert_eq!(
            run("${MISSING:-d}|${EMPTY:-d}|${EMPTY-d}|${MISSING-d}").unwrap(),
            "d|d||d"
        );
        assert_eq!(run("${ROOM:+set}|${MISSING:+set}").unwrap(), "set|");
        assert_eq!(run("cost: $$5").unwrap(), "cost: $5");
        assert_eq!(run("${MISSING:-${ROOM}}").unwrap(), "devops");
    }

    #[test]
    fn unset_is_empty_and_reported() {
        let mut unset = BTreeSet::new();
        assert_eq!(
            interpolate("a${NOPE}b$NOPE", &vars(), &mut unset).unwrap(),
            "ab"
        );
        assert_eq!(
            unset.into_iter().collect::<Vec<_>>(),
            vec!["NOPE".to_owned()]
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let depth = 30_000;
        let text = format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
        let started = std::time::Instant::now();
        let error = run(&text).unwrap_err();
        assert!(error.contains("nested more than 64 levels"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let fine = format!("{}x{}", "${A:-".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert_eq!(run(&fine).unwrap(), "x");
    }

    #[test]
    fn errors() {
        assert_eq!(
            run("${NOPE:?set NOPE first}").unwrap_err(),
            "required variable `NOPE` is not set: set NOPE first"
        );
        assert_eq!(
            run("${EMPTY:?}").unwrap_err(),
            "required variable `EMPTY` is not set"
        );
        assert_eq!(run("${EMPTY?}").unwrap(), "");
        assert!(run("${ROOM").unwrap_err().contains("unclosed"));
        assert!(run("a $ b").unwrap_err().contains("`$$`"));
    }
}
