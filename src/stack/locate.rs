//! Line numbers for error messages. YAML parsers hand back values without positions, so this
//! finds a key path (`services.bot.depends_on`) in the source text by its indentation. It
//! understands block-style YAML, which is how compose files are written; for anything it
//! cannot follow it returns `None` and the message names the file without a line.

/// The source text of a stack file, for locating keys.
#[derive(Debug, Clone)]
pub struct Source {
    lines: Vec<(usize, String)>,
}

impl Source {
    #[must_use]
    pub fn new(text: &str) -> Self {
        // (indent, key) for every line that starts a mapping key.
        let lines = text
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                let indent = line.len() - trimmed.len();
                let (indent, trimmed) = match trimmed.strip_prefix("- ") {
                    Some(rest) => (
                        indent + 2 + (rest.len() - rest.trim_start().len()),
                        rest.trim_start(),
                    ),
                    None => (indent, trimmed),
                };
                let key = if trimmed.starts_with('#') {
                    None
                } else {
                    key_of(trimmed)
                };
                (indent, key.unwrap_or_default())
            })
            .collect();
        Self { lines }
    }

    /// The 1-based line of the key at `path`, if it can be found.
    #[must_use]
    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        let mut depth = 0;
        let mut parent_indent: Option<usize> = None;
        for (number, (indent, key)) in self.lines.iter().enumerate() {
            if key.is_empty() {
                continue;
            }
            if let Some(parent) = parent_indent {
                if *indent <= parent {
                    // Left the subtree of the matched parent before finding the child.
                    return None;
                }
            }
            if key == path[depth] && parent_indent.is_none_or(|p| *indent > p) {
                if depth + 1 == path.len() {
                    return Some(number + 1);
                }
                depth += 1;
                parent_indent = Some(*indent);
            }
        }
        None
    }
}

/// `name:` / `"name":` / `'name':` at the start of a line.
fn key_of(text: &str) -> Option<String> {
    let (key, rest) = if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted.find('"')?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else if let Some(quoted) = text.strip_prefix('\'') {
        let end = quoted.find('\'')?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else {
        let end = text.find(':')?;
        (text[..end].trim_end().to_owned(), &text[end..])
    };
    let rest = rest.trim_start();
    (rest.starts_with(':') && (rest.len() == 1 || rest[1..].starts_with([' ', '\t'])))
        .then_some(key)
}

#[cfg(test)]
mod tests {
    use super::Source;

    const FILE: &str = "\
services:
  mongo:
    image: mongo
    healthcheck:
      interval: 5s
  bot:
    image: bot
    depends_on:
      mongo:
        condition: service_healthy
networks:
  default: {}
";

    #[test]
    fn finds_nested_keys() {
        let source = Source::new(FILE);
        assert_eq!(source.line_of(&["services"]), Some(1));
        assert_eq!(source.line_of(&["services", "bot"]), Some(6));
        assert_eq!(
            source.line_of(&["services", "bot", "depends_on", "mongo"]),
            Some(9)
        );
        assert_eq!(
            source.line_of(&["services", "mongo", "healthcheck", "interval"]),
            Some(5)
        );
        assert_eq!(source.line_of(&["services", "bot", "healthcheck"]), None);
        assert_eq!(source.line_of(&["networks", "default"]), Some(12));
    }
}
