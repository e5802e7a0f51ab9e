//! Settings of an incoming-webhook script: the lines ending in `// stackctl:<key>`
//! (compose/chat/integrations/gitlab.js), each rewritten whole to
//! `const NAME = <JSON>; // stackctl:<key>`. A JSON string is a valid JavaScript string
//! whatever it holds, so a secret cannot break out of its line. `configure()` in
//! `tests/gitlab-script/harness.js` is the reference this follows.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::error::Error;

/// A setting's key: what follows `stackctl:`.
static KEY: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[a-z0-9][a-z0-9-]*$").expect("valid"));

/// Rewrites the marked line of each setting. `file` names the script in errors.
///
/// # Errors
/// A usage error when a key is not marked exactly once.
pub fn configure(source: &str, settings: &[(String, Value)], file: &str) -> Result<String, Error> {
    let mut out = source.to_owned();
    for (key, value) in settings {
        if !KEY.is_match(key) {
            return Err(Error::usage(format!(
                "`{key}` is not a script setting name (lowercase letters, digits and `-`)"
            )));
        }
        // (?mR): line by line, CRLF-aware, as JavaScript's /m flag reads lines.
        let marker = Regex::new(&format!(
            r"(?mR)^const ([A-Z_]+) = .*; // stackctl:{}$",
            regex::escape(key)
        ))
        .expect("valid: the key is checked above");
        let found = marker.find_iter(&out).count();
        if found != 1 {
            let what = if found == 0 {
                "no line".to_owned()
            } else {
                format!("{found} lines")
            };
            return Err(Error::usage(format!(
                "`{file}` has {what} marked `// stackctl:{key}`; expected one"
            ))
            .with_hint(format!(
                "a setting's line reads `const NAME = <value>; // stackctl:{key}`"
            )));
        }
        // U+2028/U+2029 are line terminators to JavaScript's regular expressions (and to
        // engines before ES2019): escaped, the setting stays on its one line.
        let json = value
            .to_string()
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        out = marker
            .replace(&out, |c: &regex::Captures<'_>| {
                format!("const {} = {json}; // stackctl:{key}", &c[1])
            })
            .into_owned();
    }
    Ok(out)
}

/// `KEY=VALUE` of `--script-set`: VALUE is JSON when it parses as JSON (`5`, `true`,
/// `"text"`), else the text itself.
///
/// # Errors
/// A message for clap when there is no `=`.
pub fn setting(text: &str) -> Result<(String, Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected `KEY=VALUE`, e.g. `max-commits=10`, got `{text}`"))?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.trim().to_owned(), value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SCRIPT: &str = "const A = 1;\nconst GITLAB_TOKEN = ''; // stackctl:gitlab-token\nconst MAX_COMMITS = 5; // stackctl:max-commits\n";

    #[test]
    fn marked_lines_are_rewritten_whole() {
        let out = configure(
            SCRIPT,
            &[
                ("gitlab-token".into(), json!("a'b\"c\n</script>\u{2028}")),
                ("max-commits".into(), json!(10)),
            ],
            "s.js",
        )
        .unwrap();
        assert_eq!(
            out,
            "const A = 1;\nconst GITLAB_TOKEN = \"a'b\\\"c\\n</script>\\u2028\"; // stackctl:gitlab-token\nconst MAX_COMMITS = 10; // stackctl:max-commits\n"
        );
        // Idempotent: configuring the result again gives the same text.
        let again = configure(&out, &[("max-commits".into(), json!(10))], "s.js").unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn a_missing_or_doubled_marker_is_an_error() {
        let err =
            configure(SCRIPT, &[("show-confidential".into(), json!(true))], "s.js").unwrap_err();
        assert_eq!(
            err.message(),
            "`s.js` has no line marked `// stackctl:show-confidential`; expected one"
        );
        let doubled = format!("{SCRIPT}const X = 1; // stackctl:max-commits\n");
        let err = configure(&doubled, &[("max-commits".into(), json!(1))], "s.js").unwrap_err();
        assert!(
            err.message().contains("has 2 lines marked"),
            "{}",
            err.message()
        );
        assert!(configure(SCRIPT, &[("Bad Key".into(), json!(1))], "s.js").is_err());
    }

    #[test]
    fn settings_parse_json_or_text() {
        assert_eq!(
            setting("max-commits=10").unwrap(),
            ("max-commits".into(), json!(10))
        );
        assert_eq!(setting("show-confidential=true").unwrap().1, json!(true));
        assert_eq!(setting("x=hello").unwrap().1, json!("hello"));
        assert_eq!(setting("x=").unwrap().1, json!(""));
        assert!(setting("nothing").is_err());
    }
}
