//! `.env` files as compose reads them: `KEY=VALUE` lines, `#` comments, optional `export `,
//! single quotes literal, double quotes with `\n` escapes, unquoted values trimmed and cut at
//! ` #`. Interpolation inside `.env` values is not applied (docker-compose 1.29.2 does not).

use std::collections::BTreeMap;

/// Parses a `.env` file's text.
///
/// # Errors
/// The 1-based line that is not `KEY=VALUE`, and what is wrong with it.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut vars = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((index + 1, format!("expected `KEY=VALUE`, got `{line}`")));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c == '_' || c == '.' || c == '-' || c.is_ascii_alphanumeric())
        {
            return Err((index + 1, format!("`{key}` is not a variable name")));
        }
        vars.insert(key.to_owned(), unquote(value.trim()));
    }
    Ok(vars)
}

fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        inner.to_owned()
    } else if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        inner
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else {
        value
            .split(" #")
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_compose_style_env_files() {
        let vars = super::parse(
            "# shared settings\nBOT_NAME=hubot\nexport ROOM=devops # the room\nPASS='s3cr#t'\nMSG=\"a\\nb\"\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(vars["BOT_NAME"], "hubot");
        assert_eq!(vars["ROOM"], "devops");
        assert_eq!(vars["PASS"], "s3cr#t");
        assert_eq!(vars["MSG"], "a\nb");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(
            super::parse("A=1\n\noops").unwrap_err(),
            (3, "expected `KEY=VALUE`, got `oops`".to_owned())
        );
    }
}
