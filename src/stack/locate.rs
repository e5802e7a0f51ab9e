//! Line numbers for error messages. YAML parsers hand back values without positions, so this
//! indexes the source text once: every block-style key (`services.bot.depends_on`) and every
//! block-sequence item (`services.bot.ports.[1]`) gets its line. Flow style (`[a, b]`,
//! `{k: v}`), anchors and complex keys are not followed: asking for them returns `None` and the
//! caller falls back to the closest enclosing key, which is on the right line for flow style.

use std::collections::{HashMap, HashSet};

/// The source text of one stack file, indexed for locating keys.
#[derive(Debug, Clone, Default)]
pub struct Source {
    lines: HashMap<String, usize>,
    /// The line of the first key written twice in the same mapping, if any.
    duplicate: Option<usize>,
    /// Keys and items whose value is a flow collection (`[`, `{`) left open at the end of
    /// their line: what is inside is on other lines, which only the parser can tell.
    open_flows: HashSet<String>,
}

/// The path segment of the `index`-th item of a sequence.
#[must_use]
pub fn item(index: usize) -> String {
    format!("[{index}]")
}

/// Joins path segments into one lookup key (segments cannot contain the separator in practice).
pub fn join<S: AsRef<str>>(path: &[S]) -> String {
    let mut key = String::new();
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            key.push('\u{1f}');
        }
        key.push_str(segment.as_ref());
    }
    key
}

/// One open key or sequence item while walking the text.
struct Frame {
    /// Column of the key, or of the `-` of an item.
    column: usize,
    segment: String,
    is_item: bool,
    /// Items seen so far in the sequence this frame's value holds.
    items: usize,
}

impl Source {
    #[must_use]
    pub fn new(text: &str) -> Self {
        let mut lines = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_items = 0usize;
        // Lines of a block scalar (`key: |`) deeper than this column are text, not keys.
        let mut block_scalar: Option<usize> = None;
        let mut duplicate = None;
        let mut open_flows = HashSet::new();
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let mut column = line.len() - trimmed.len();
            if let Some(limit) = block_scalar {
                if column > limit {
                    continue;
                }
                block_scalar = None;
            }
            if column == 0 && (trimmed.starts_with("---") || trimmed.starts_with("...")) {
                stack.clear();
                root_items = 0;
                continue;
            }
            let mut rest = trimmed;
            while rest == "-" || rest.starts_with("- ") {
                while stack
                    .last()
                    .is_some_and(|f| f.column > column || (f.column == column && f.is_item))
                {
                    stack.pop();
                }
                let counter = match stack.last_mut() {
                    Some(parent) => &mut parent.items,
                    None => &mut root_items,
                };
                let index = *counter;
                *counter += 1;
                stack.push(Frame {
                    column,
                    segment: item(index),
                    is_item: true,
                    items: 0,
                });
                lines.entry(join_frames(&stack)).or_insert(number + 1);
                let after = &rest[1..];
                let inner = after.trim_start_matches(' ');
                column += 1 + (after.len() - inner.len());
                rest = inner;
                if starts_block_scalar(rest) {
                    block_scalar = Some(column - 1);
                }
                if opens_flow(rest) {
                    open_flows.insert(join_frames(&stack));
                }
            }
            let Some((key, value)) = key_of(rest) else {
                continue;
            };
            while stack.last().is_some_and(|f| f.column >= column) {
                stack.pop();
            }
            stack.push(Frame {
                column,
                segment: key,
                is_item: false,
                items: 0,
            });
            let first = *lines.entry(join_frames(&stack)).or_insert(number + 1);
            if first != number + 1 && duplicate.is_none() {
                duplicate = Some(number + 1);
            }
            if starts_block_scalar(value) {
                block_scalar = Some(column);
            }
            if opens_flow(value) {
                open_flows.insert(join_frames(&stack));
            }
        }
        Self {
            lines,
            duplicate,
            open_flows,
        }
    }

    /// Whether the value at `path` is a flow collection that goes on past its first line.
    #[must_use]
    pub fn spans_lines<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.open_flows.contains(&join(path))
    }

    /// The line of the first key written twice in one mapping (YAML forbids it).
    #[must_use]
    pub fn duplicate_key(&self) -> Option<usize> {
        self.duplicate
    }

    /// The 1-based line of the key (or item, `[N]`) at `path`, if it can be found.
    #[must_use]
    pub fn line_of<S: AsRef<str>>(&self, path: &[S]) -> Option<usize> {
        self.lines.get(&join(path)).copied()
    }
}

fn join_frames(stack: &[Frame]) -> String {
    let segments: Vec<&str> = stack.iter().map(|f| f.segment.as_str()).collect();
    join(&segments)
}

/// A value that starts a flow collection and leaves it open at the end of the line (quotes
/// and comments followed roughly: a wrong guess only costs a parse, or a line less exact).
fn opens_flow(value: &str) -> bool {
    let value = value.trim_start();
    if !value.starts_with(['[', '{']) {
        return false;
    }
    let mut depth = 0usize;
    let mut quote = None;
    let mut previous = ' ';
    for c in value.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') if previous == ' ' => break,
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            // Inside quotes, and any other character.
            _ => {}
        }
        previous = c;
    }
    depth > 0
}

fn starts_block_scalar(value: &str) -> bool {
    let value = value.trim_start();
    value.starts_with('|') || value.starts_with('>')
}

/// `name: rest` / `"name": rest` / `'name': rest` at the start of a line: the key and the rest.
fn key_of(text: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted.find('"')?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else if let Some(quoted) = text.strip_prefix('\'') {
        let end = quoted.find('\'')?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else {
        if text.starts_with(['[', '{', '&', '*', '!', '?', '|', '>']) {
            return None;
        }
        let end = text
            .find(": ")
            .or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
        (text[..end].trim_end().to_owned(), &text[end..])
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix(':')?;
    (value.is_empty() || value.starts_with([' ', '\t'])).then_some((key, value))
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
    command: |
      echo: not a key
  bot:
    image: bot
    environment:
    - A=1
    - B=2
    ports:
      - \"8080:80\"
      - target: 90
        published: 9090
    depends_on:
      mongo:
        condition: service_healthy
networks:
  default: {}
";

    #[test]
    fn finds_nested_keys_and_items() {
        let source = Source::new(FILE);
        assert_eq!(source.line_of(&["services"]), Some(1));
        assert_eq!(source.line_of(&["services", "bot"]), Some(8));
        assert_eq!(
            source.line_of(&["services", "bot", "depends_on", "mongo"]),
            Some(18)
        );
        assert_eq!(
            source.line_of(&["services", "mongo", "healthcheck", "interval"]),
            Some(5)
        );
        assert_eq!(source.line_of(&["services", "bot", "healthcheck"]), None);
        assert_eq!(source.line_of(&["networks", "default"]), Some(21));
        assert_eq!(
            source.line_of(&["services", "bot", "environment", "[1]"]),
            Some(12)
        );
        assert_eq!(
            source.line_of(&["services", "bot", "ports", "[0]"]),
            Some(14)
        );
        assert_eq!(
            source.line_of(&["services", "bot", "ports", "[1]", "published"]),
            Some(16)
        );
        assert_eq!(
            source.line_of(&["services", "mongo", "command", "echo"]),
            None
        );
    }

    #[test]
    fn flow_collections_left_open_are_marked() {
        let source = Source::new(
            "a:\n  b: [x, y]\n  c: {k: \"[\",\n      l: 1}\n  d:\n    - [1,\n       2]\n    - [3] # [\n",
        );
        assert!(!source.spans_lines(&["a", "b"]));
        assert!(source.spans_lines(&["a", "c"]));
        assert!(source.spans_lines(&["a", "d", "[0]"]));
        assert!(!source.spans_lines(&["a", "d", "[1]"]));
    }

    #[test]
    fn only_direct_children_match() {
        let source =
            Source::new("services:\n  a:\n    environment:\n      b: x\n  b:\n    image: y\n");
        assert_eq!(source.line_of(&["services", "b"]), Some(5));
    }
}
