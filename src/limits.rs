//! Bounds on everything that comes from outside: durations people type, answers servers send,
//! files we are pointed at, and the lines we print. No input may make stackctl panic, hold on to
//! gigabytes, or overflow Docker's health log (it keeps the first 4,096 bytes of a probe).
//!
//! A leaf module: checks, clients, the engine and the command line all use these bounds, so
//! none of them has to reach into another for them.

use std::borrow::Cow;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

/// The longest duration accepted anywhere (flags, variables, stack files): one day. Longer
/// timeouts are almost certainly typos, and bounding them keeps every deadline computable.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest line a check prints, its newline included: Docker keeps 4,096 bytes of a probe.
pub const LINE_LIMIT: usize = 4096;

/// The most of a Rocket.Chat API answer read (a large `integrations.list` is a few hundred KiB).
pub const API_ANSWER_LIMIT: usize = 4 * 1024 * 1024;

/// The most of a container's log tail kept in memory.
pub const LOG_TAIL_LIMIT: usize = 64 * 1024;

/// The longest single log or build-output line kept for a message.
pub const LOG_LINE_LIMIT: usize = 1024;

/// A deadline `after` from now that never overflows (tokio's own "far future" beyond it).
#[must_use]
pub fn deadline_in(after: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 24 * 60 * 60))
}

/// What a capped read kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Capped {
    pub bytes: Vec<u8>,
    /// True when there was more than the cap (the rest was not read).
    pub truncated: bool,
}

/// Reads at most `limit` bytes of an HTTP body, chunk by chunk (never the announced
/// `Content-Length`), and stops reading there: an endless body costs `limit`, not memory.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Capped, reqwest::Error> {
    let mut kept = Capped::default();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(kept.bytes.len());
        kept.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            kept.truncated = true;
            break;
        }
    }
    Ok(kept)
}

/// The last `limit` bytes of a stream of chunks (a log tail): older bytes are dropped as newer
/// ones arrive, so a container that prints gigabytes costs at most twice `limit`.
#[derive(Debug)]
pub struct Tail {
    limit: usize,
    kept: Vec<u8>,
    dropped: bool,
}

impl Tail {
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            kept: Vec::new(),
            dropped: false,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        let chunk = if chunk.len() > self.limit {
            self.dropped = true;
            &chunk[chunk.len() - self.limit..]
        } else {
            chunk
        };
        self.kept.extend_from_slice(chunk);
        if self.kept.len() > 2 * self.limit {
            let extra = self.kept.len() - self.limit;
            self.kept.drain(..extra);
            self.dropped = true;
        }
    }

    /// The kept text as lines; a first line cut by the cap starts with `…`.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        let start = self.kept.len().saturating_sub(self.limit);
        let text = String::from_utf8_lossy(&self.kept[start..]);
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| fit(l, LOG_LINE_LIMIT).into_owned())
            .collect();
        if (self.dropped || start > 0)
            && let Some(first) = lines.first_mut()
        {
            first.insert(0, '…');
        }
        lines
    }
}

/// Reads a whole file of at most `limit` bytes; a larger one (or `/dev/zero`) is an error
/// instead of an endless read.
pub fn read_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {}", human_bytes(limit)),
        ));
    }
    Ok(bytes)
}

/// Like [`read_file`], as text (invalid UTF-8 is an error, as with `read_to_string`).
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_file(path, limit)?).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text".to_owned())
    })
}

/// `64 KiB`, `4 MiB`.
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 && b % (1024 * 1024) == 0 => format!("{} MiB", b / (1024 * 1024)),
        b if b >= 1024 && b % 1024 == 0 => format!("{} KiB", b / 1024),
        b => format!("{b} bytes"),
    }
}

/// The text cut to at most `max_bytes` bytes of UTF-8 on a character boundary, ending in `…`
/// when cut.
#[must_use]
pub fn fit(text: &str, max_bytes: usize) -> Cow<'_, str> {
    fit_by(text, max_bytes, char::len_utf8)
}

/// The text cut so that the JSON string it becomes (quotes excluded) takes at most `max_bytes`:
/// escapes count at their escaped length.
#[must_use]
pub fn fit_json(text: &str, max_bytes: usize) -> Cow<'_, str> {
    fit_by(text, max_bytes, json_len)
}

fn fit_by(text: &str, max_bytes: usize, cost: impl Fn(char) -> usize) -> Cow<'_, str> {
    let total: usize = text.chars().map(&cost).sum();
    if total <= max_bytes {
        return Cow::Borrowed(text);
    }
    let ellipsis = cost('…');
    if max_bytes < ellipsis {
        return Cow::Borrowed("");
    }
    let budget = max_bytes - ellipsis;
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let c_cost = cost(c);
        if used + c_cost > budget {
            break;
        }
        used += c_cost;
        end = i + c.len_utf8();
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

/// How many bytes a character takes inside a JSON string (serde_json's escapes).
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// The text on one line: control characters (newlines included) shown escaped, e.g. `\n`, so
/// that whatever a target or a server sends, a check prints exactly one line.
#[must_use]
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_cuts_on_char_boundaries() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("abcdefghij", 8), "abcde…");
        assert!(fit("abcdefghij", 8).len() <= 8);
        let wide = "ééééé"; // 10 bytes
        let cut = fit(wide, 7);
        assert!(cut.len() <= 7 && cut.ends_with('…'), "{cut}");
        assert_eq!(fit("abc", 2), "");
        assert!(fit_json("\u{1}\u{1}\u{1}\u{1}", 13).chars().count() <= 3);
    }

    #[test]
    fn printable_escapes_controls() {
        assert_eq!(printable("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("\u{1b}[31m"), "\\u{1b}[31m");
    }

    #[test]
    fn tails_keep_the_end() {
        let mut tail = Tail::new(16);
        for i in 0..100 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        let lines = tail.lines();
        assert_eq!(lines.last().map(String::as_str), Some("line 99"));
        assert!(lines[0].starts_with('…'), "{lines:?}");
        let mut huge = Tail::new(8);
        huge.push(&vec![b'x'; 100_000]);
        assert_eq!(huge.lines(), vec!["…xxxxxxxx".to_owned()]);
    }

    #[test]
    fn deadlines_never_overflow() {
        let far = deadline_in(Duration::MAX);
        assert!(far > tokio::time::Instant::now());
    }

    #[test]
    fn files_are_read_within_a_limit() {
        let err = read_file(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(err.to_string(), "larger than 1 KiB");
    }
}
