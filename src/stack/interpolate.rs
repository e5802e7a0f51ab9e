//! Compose variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, and `$$` for a literal `$` (compose-spec, "Interpolation").
//! Written here rather than taken from a crate: these are compose's own rules, and the crates
//! that do shell expansion differ in exactly the cases that matter (`$$`, `:?`, unset warnings).

use std::collections::BTreeMap;

/// Variables visible to interpolation (process environment over `.env`).
pub type Variables = BTreeMap<String, String>;

/// Interpolates one string. Returns the result and the names of unset variables that were
/// replaced by an empty string (compose warns about them).
///
/// # Errors
/// The message of a `${VAR:?message}` whose variable is unset (or empty, for `:?`), or a
/// description of malformed syntax.
pub fn interpolate(
    text: &str,
    vars: &Variables,
    unset: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            out.push_str(&braced(&body[..end], vars, unset)?);
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
                    "`$` must be followed by a variable name in `{text}`; write `$$` for a literal `$`"
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

fn braced(expr: &str, vars: &Variables, unset: &mut Vec<String>) -> Result<String, String> {
    let name_len = expr
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_len);
    if name.is_empty() {
        return Err(format!("`${{{expr}}}` has no variable name"));
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
                "`${{{expr}}}`: expected `:-`, `:?` or `:+` after the name"
            ));
        }
        return Ok(lookup(name, vars, unset));
    };
    let arg = &op[kind.len_utf8()..];
    match kind {
        '-' if missing => interpolate(arg, vars, unset),
        '?' if missing => {
            let message = interpolate(arg, vars, unset)?;
            Err(if message.is_empty() {
                format!("required variable `{name}` is not set")
            } else {
                format!("required variable `{name}` is not set: {message}")
            })
        }
        '-' | '?' => Ok(value.cloned().unwrap_or_default()),
        '+' if missing => Ok(String::new()),
        '+' => interpolate(arg, vars, unset),
        other => Err(format!("`${{{expr}}}`: unknown operator `{other}`")),
    }
}

fn lookup(name: &str, vars: &Variables, unset: &mut Vec<String>) -> String {
    vars.get(name).cloned().unwrap_or_else(|| {
        if !unset.iter().any(|n| n == name) {
            unset.push(name.to_owned());
        }
        String::new()
    })
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
        interpolate(text, &vars(), &mut Vec::new())
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
        let mut unset = Vec::new();
        assert_eq!(
            interpolate("a${NOPE}b$NOPE", &vars(), &mut unset).unwrap(),
            "ab"
        );
        assert_eq!(unset, vec!["NOPE".to_owned()]);
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
