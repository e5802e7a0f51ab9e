//! Reading one stack file into a YAML value, with bounds that hold whatever the file says.
//!
//! YAML anchors can be aliased many times, each alias a full copy once parsed: a 120 KB file
//! can expand to hundreds of MiB. The parser's own repetition limit is relative to the file's
//! size, so it does not bound memory. Here the value is built by our own visitor, which counts
//! every node and scalar byte as it is created (aliases included) and stops at a fixed budget,
//! before the copies exist. The same visitor applies YAML merge keys (`<<: *base`, which
//! compose supports), keeps tags (`!reset`, `!override`) for the merge step, and rejects
//! duplicate keys as compose does.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Read as _;
use std::path::Path;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use yaml_serde::value::{Tag, TaggedValue};
use yaml_serde::{Mapping, Value};

use super::position::Position;

/// Largest stack file read, in bytes. Compose files are kilobytes; this only stops mistakes
/// (a log or a binary passed with `-f`) from being read whole.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Most values (scalars, lists, mappings, keys included) a file may expand to, aliases counted
/// at every use. About 100 bytes of memory each once parsed.
pub const MAX_NODES: usize = 500_000;

/// Most bytes of scalar text a file may expand to, aliases counted at every use.
pub const MAX_SCALAR_BYTES: usize = 16 * 1024 * 1024;

/// A problem with one file as a whole: it cannot be parsed.
#[derive(Debug)]
pub struct FileError {
    pub at: Option<Position>,
    pub message: String,
    pub hint: Option<String>,
}

/// Reads a file, refusing one larger than [`MAX_FILE_BYTES`]. Its text is checked apart, so
/// that a byte that is not UTF-8 is reported at its line.
///
/// # Errors
/// The reason, for a message that already names the file.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| crate::reason::io_reason(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| crate::reason::io_reason(&e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "the file is larger than {} MiB",
            MAX_FILE_BYTES / 1024 / 1024
        ));
    }
    Ok(bytes)
}

/// Parses one YAML document within the expansion budget.
///
/// # Errors
/// Invalid YAML, a duplicate key, a bad merge key, or a document that expands past the budget.
pub fn parse(text: &str) -> Result<Value, FileError> {
    let budget = Budget::default();
    let deserializer = yaml_serde::Deserializer::from_str(text);
    let result = Node { budget: &budget }.deserialize(deserializer);
    result.map_err(|e| {
        let at = Position::of_error(&e);
        if let Some(message) = budget.failure.take() {
            let hint = message
                .starts_with("duplicate key")
                .then(|| "a key may appear once in a mapping; keep one of them".to_owned());
            return FileError {
                at,
                message,
                hint,
            };
        }
        // The parser's own alias limit (relative to the file's size) may trip first.
        if budget.exceeded.get() || e.to_string().starts_with("repetition limit exceeded") {
            FileError {
                at,
                message: format!(
                    "the document expands to more than {MAX_NODES} values or {} MiB of text once anchors and aliases are resolved",
                    MAX_SCALAR_BYTES / 1024 / 1024
                ),
                hint: Some(
                    "an anchor is aliased too many times (nested aliases multiply); inline less, or split the file".to_owned(),
                ),
            }
        } else {
            let text = e.to_string();
            FileError {
                at,
                message: format!("not valid YAML: {text}"),
                hint: Some("check the indentation and quoting around that line".to_owned()),
            }
        }
    })
}

/// What the document has consumed so far.
#[derive(Default)]
struct Budget {
    nodes: Cell<usize>,
    bytes: Cell<usize>,
    exceeded: Cell<bool>,
    /// Our own complaint about the document (the parser's error then carries only the line).
    failure: RefCell<Option<String>>,
}

impl Budget {
    fn fail<E: de::Error>(&self, message: String) -> E {
        let error = E::custom(&message);
        self.failure.replace(Some(message));
        error
    }
}

impl Budget {
    fn take<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        self.nodes.set(self.nodes.get() + 1);
        self.bytes.set(self.bytes.get().saturating_add(bytes));
        if self.nodes.get() > MAX_NODES || self.bytes.get() > MAX_SCALAR_BYTES {
            self.exceeded.set(true);
            return Err(E::custom("the document expands past the limit"));
        }
        Ok(())
    }
}

/// Builds one value, charging the budget.
#[derive(Clone, Copy)]
struct Node<'b> {
    budget: &'b Budget,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.budget.take(0)?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        self.budget.take(0)?;
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        self.budget.take(0)?;
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        self.budget.take(0)?;
        Ok(Value::Number(n.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.budget.take(s.len())?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.budget.take(s.len())?;
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.take(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.take(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.budget.take(0)?;
        let mut mapping = Mapping::new();
        let mut merges = Vec::new();
        while let Some(key) = map.next_key_seed(self)? {
            let value = map.next_value_seed(self)?;
            if key.as_str() == Some("<<") {
                merges.push(value);
            } else if mapping.contains_key(&key) {
                return Err(self.budget.fail(format!(
                    "duplicate key `{}`",
                    key.as_str().unwrap_or("(not a string)")
                )));
            } else {
                mapping.insert(key, value);
            }
        }
        // YAML merge keys: keys written in the mapping win, then earlier merged mappings.
        let bad_merge = || {
            self.budget.fail(
                "`<<` takes a mapping or a list of mappings (aliases of anchored mappings)"
                    .to_owned(),
            )
        };
        for merge in merges {
            let sources = match merge {
                Value::Mapping(m) => vec![m],
                Value::Sequence(items) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::Mapping(m) => Ok(m),
                        _ => Err(bad_merge()),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(bad_merge()),
            };
            for source in sources {
                for (k, v) in source {
                    if !mapping.contains_key(&k) {
                        mapping.insert(k, v);
                    }
                }
            }
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use de::VariantAccess as _;
        let (tag, contents): (String, _) = data.variant()?;
        let value = contents.newtype_variant_seed(self)?;
        let tag = if tag.is_empty() { "!".to_owned() } else { tag };
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn parses_merge_keys_and_tags() {
        let value = parse("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\ny: !reset []\n").unwrap();
        assert_eq!(value["x"]["a"].as_u64(), Some(1));
        assert_eq!(value["x"]["b"].as_u64(), Some(3));
        let Value::Tagged(tagged) = &value["y"] else {
            panic!("expected a tag: {value:?}");
        };
        assert_eq!(tagged.tag.to_string(), "!reset");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let error = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(error.message.contains("duplicate key `a`"), "{error:?}");
    }

    #[test]
    fn an_alias_bomb_stops_at_the_budget() {
        // Nine levels of ten aliases each: 10^9 values if expanded.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let prev = level - 1;
            let aliases = vec![format!("*a{prev}"); 10].join(", ");
            let _ = writeln!(text, "a{level}: &a{level} [{aliases}]");
        }
        let started = std::time::Instant::now();
        let error = parse(&text).unwrap_err();
        assert!(error.message.contains("expands to more than"), "{error:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
