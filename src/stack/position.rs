//! Where something is in a YAML file, for `file:line:column` messages: the first byte a YAML
//! reader refuses, and the node at a key path.
//!
//! yaml_serde hands back values without positions, and has no spanned type; but it stamps an
//! error raised while a node is deserialized with that node's line and column
//! (`Error::location`, the innermost node winning). [`locate`] reads the text again with a
//! visitor that walks down the path and fails on purpose at its end, and keeps that failure's
//! position: exact whatever the style (block, flow, sequences at column 0, keys that are not
//! strings; an alias is found where its anchor is written). It costs one parse per position,
//! so it is for problems, which are few — not for indexing a whole file.
//!
//! The reader's own errors (a control character, a byte that is not UTF-8) carry only an
//! offset that yaml_serde does not expose, so [`check_text`] finds that byte first.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize as _;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use yaml_serde::Value;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl Position {
    /// Where a yaml_serde error happened, when it knows. The reader's errors (control
    /// characters) carry no position: [`check_text`] finds those first.
    #[must_use]
    pub fn of_error(error: &yaml_serde::Error) -> Option<Self> {
        error.location().map(|l| Self {
            line: l.line(),
            column: l.column(),
        })
    }

    /// The position of a byte offset of `text` (a character boundary).
    #[must_use]
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// A refused byte: where, what, and a hint.
pub type Refused = (Position, String, String);

/// The file's bytes as text.
///
/// # Errors
/// The position of the first byte that is not UTF-8.
pub fn utf8(bytes: Vec<u8>) -> Result<String, Refused> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let byte = e.as_bytes()[valid];
        let prefix = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        (
            Position::of_offset(prefix, valid),
            format!("not UTF-8 text (byte 0x{byte:02x})"),
            "save the file as UTF-8".to_owned(),
        )
    })
}

/// The text of a file a YAML reader accepts: UTF-8 without control characters other than tab,
/// newline and carriage return (YAML 1.1's printable set, which libyaml enforces).
///
/// # Errors
/// The position of the first byte refused, what it is, and a hint.
pub fn check_text(bytes: Vec<u8>) -> Result<String, Refused> {
    let text = utf8(bytes)?;
    if let Some((offset, c)) = text.char_indices().find(|&(_, c)| !printable(c)) {
        return Err((
            Position::of_offset(&text, offset),
            format!(
                "control character U+{:04X} is not allowed in YAML",
                u32::from(c)
            ),
            "remove it; write it as an escape (`\"\\0\"`, `\"\\x1b\"`) inside a double-quoted string if it is meant".to_owned(),
        ));
    }
    Ok(text)
}

/// YAML 1.1's printable characters (libyaml's reader check).
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// The position of the node at `path` (mapping keys, and `[N]` for the `N`th item of a
/// sequence): a scalar's own position, a mapping's or a sequence's key (the collection itself
/// starts on the line after it). `None` when the path is not in the text (or not before a
/// syntax error: meant for text that parsed).
#[must_use]
pub fn locate<S: AsRef<str>>(text: &str, path: &[S]) -> Option<Position> {
    let (kind, at) = find(text, path, Target::Node)?;
    if kind == Kind::Collection && !path.is_empty() {
        return find(text, path, Target::LastKey).map_or(Some(at), |(_, key)| Some(key));
    }
    Some(at)
}

/// The position of the key equal to `key` in the mapping at `path` (for keys that are not
/// strings, which a path cannot name).
#[must_use]
pub fn locate_key<S: AsRef<str>>(text: &str, path: &[S], key: &Value) -> Option<Position> {
    find(text, path, Target::Key(key)).map(|(_, at)| at)
}

/// What to fail at, once the path is walked.
#[derive(Clone, Copy)]
enum Target<'k> {
    /// The node at the path.
    Node,
    /// The key of the path's last segment.
    LastKey,
    /// The key equal to this value in the mapping at the path.
    Key(&'k Value),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Collection,
}

fn find<S: AsRef<str>>(text: &str, path: &[S], target: Target<'_>) -> Option<(Kind, Position)> {
    let found = Cell::new(None);
    let walk = Walk {
        path,
        target,
        found: &found,
    };
    let error = walk
        .deserialize(yaml_serde::Deserializer::from_str(text))
        .err()?;
    let kind = found.get()?;
    Some((kind, Position::of_error(&error)?))
}

/// Walks down `path`; fails at the target (recording what it found), or with another error to
/// stop early when the path is not there.
struct Walk<'p, 'k, S> {
    path: &'p [S],
    target: Target<'k>,
    found: &'p Cell<Option<Kind>>,
}

impl<S> Clone for Walk<'_, '_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Walk<'_, '_, S> {}

const NOT_HERE: &str = "not on the path";

impl<S: AsRef<str>> Walk<'_, '_, S> {
    fn deeper(self) -> Self {
        Self {
            path: &self.path[1..],
            ..self
        }
    }

    /// At the target node: fail here, so the error carries this node's position.
    fn arrive<E: de::Error>(self, kind: Kind) -> Result<(), E> {
        if self.path.is_empty() && matches!(self.target, Target::Node) {
            self.found.set(Some(kind));
            return Err(E::custom("found"));
        }
        Ok(())
    }
}

impl<'de, S: AsRef<str>> DeserializeSeed<'de> for Walk<'_, '_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: AsRef<str>> Visitor<'de> for Walk<'_, '_, S> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.arrive(Kind::Scalar)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.arrive(Kind::Scalar)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.arrive(Kind::Scalar)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.arrive(Kind::Scalar)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.arrive(Kind::Scalar)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.arrive(Kind::Scalar)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.arrive(Kind::Scalar)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use de::VariantAccess as _;
        // A tagged node (`!reset [...]`): the tag is where it starts.
        self.arrive(Kind::Scalar)?;
        let (IgnoredAny, contents) = data.variant()?;
        contents.newtype_variant_seed(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.arrive(Kind::Collection)?;
        let Some(index) = self
            .path
            .first()
            .and_then(|s| s.as_ref().strip_prefix('['))
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<usize>().ok())
        else {
            // A name in a list that compose reads as a mapping's key (`depends_on: [db]`,
            // found as `depends_on.db`): the item with that text.
            if let ([name], Target::Node | Target::LastKey) = (self.path, self.target) {
                let key = Key::Named(name.as_ref(), true);
                while seq
                    .next_element_seed(KeySeed {
                        key,
                        found: self.found,
                    })?
                    .is_some()
                {}
            }
            return Err(de::Error::custom(NOT_HERE));
        };
        for _ in 0..index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom(NOT_HERE));
            }
        }
        if self.path.len() == 1 && matches!(self.target, Target::LastKey) {
            return Err(de::Error::custom(NOT_HERE));
        }
        seq.next_element_seed(self.deeper())?;
        Err(de::Error::custom(NOT_HERE))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.arrive(Kind::Collection)?;
        let matcher = match (self.path, self.target) {
            ([], Target::Key(key)) => Key::Equals(key),
            ([], _) => return Err(de::Error::custom(NOT_HERE)),
            ([last], Target::LastKey) => Key::Named(last.as_ref(), true),
            ([first, ..], _) => Key::Named(first.as_ref(), false),
        };
        while let Some(matched) = map.next_key_seed(KeySeed {
            key: matcher,
            found: self.found,
        })? {
            if matched {
                map.next_value_seed(self.deeper())?;
                return Err(de::Error::custom(NOT_HERE));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom(NOT_HERE))
    }
}

/// Which key a mapping is searched for.
#[derive(Clone, Copy)]
enum Key<'a> {
    /// A string key; `true` to fail at it (its position is the target).
    Named(&'a str, bool),
    /// Any key equal to this value; fails at it.
    Equals(&'a Value),
}

/// Reads one key: `Ok(true)` when it is the one searched for and the walk goes on into its
/// value, an error at the key when the key itself is the target.
struct KeySeed<'a> {
    key: Key<'a>,
    found: &'a Cell<Option<Kind>>,
}

impl KeySeed<'_> {
    fn compare<E: de::Error>(self, key: &Value) -> Result<bool, E> {
        let (matched, fail) = match self.key {
            Key::Named(name, fail) => (key.as_str() == Some(name), fail),
            Key::Equals(wanted) => (key == wanted, true),
        };
        if matched && fail {
            self.found.set(Some(Kind::Scalar));
            return Err(E::custom("found"));
        }
        Ok(matched)
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<bool, E> {
        self.compare(&Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<bool, E> {
        self.compare(&Value::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<bool, E> {
        self.compare(&Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<bool, E> {
        self.compare(&Value::Number(n.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<bool, E> {
        self.compare(&Value::String(s.to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.compare(&Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        let key = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        self.compare(&key)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        let key = Value::deserialize(MapAccessDeserializer::new(map))?;
        self.compare(&key)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<bool, A::Error> {
        IgnoredAny.visit_enum(data).map(|IgnoredAny| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn finds_nodes_in_every_style() {
        let text = "\
checks:
- name: a
  check: tcp://a:1
- {name: b,
   timeout: soon}
defaults:
  timeout: 5s
list: [x, [y, z]]
";
        assert_eq!(locate(text, &["checks", "[0]", "check"]), Some(at(3, 10)));
        assert_eq!(locate(text, &["checks", "[1]", "timeout"]), Some(at(5, 13)));
        assert_eq!(locate(text, &["checks", "[1]"]), Some(at(4, 3)));
        assert_eq!(locate(text, &["defaults"]), Some(at(6, 1)));
        assert_eq!(locate(text, &["defaults", "timeout"]), Some(at(7, 12)));
        assert_eq!(locate(text, &["list", "[1]", "[1]"]), Some(at(8, 15)));
        assert_eq!(locate(text, &["list", "x"]), Some(at(8, 8)));
        assert_eq!(locate(text, &["checks", "[2]"]), None);
        assert_eq!(locate(text, &["nowhere"]), None);
    }

    #[test]
    fn finds_keys_that_are_not_strings() {
        let text = "services:\n  web: {}\n  ? [a, b]\n  : {}\n  1: {}\n";
        let list = Value::Sequence(vec![Value::from("a"), Value::from("b")]);
        assert_eq!(locate_key(text, &["services"], &list), Some(at(3, 5)));
        assert_eq!(
            locate_key(text, &["services"], &Value::from(1)),
            Some(at(5, 3))
        );
    }

    #[test]
    fn the_first_byte_yaml_refuses() {
        let (at, message, _) = check_text(b"a: 1\nb: x\0y\n".to_vec()).unwrap_err();
        assert_eq!((at.line, at.column), (2, 5));
        assert!(message.contains("U+0000"), "{message}");
        let (at, message, _) = check_text(b"a: 1\nb: \xc3\xa9\xff\n".to_vec()).unwrap_err();
        assert_eq!((at.line, at.column), (2, 5));
        assert_eq!(message, "not UTF-8 text (byte 0xff)");
        assert_eq!(check_text(b"a:\tb\r\n".to_vec()).unwrap(), "a:\tb\r\n");
    }
}
