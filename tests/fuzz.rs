//! A small fuzzer for the parsers people feed by hand — targets, durations, URLs, headers,
//! status specs, JSON paths — and for the code that must hold whatever it is fed (redaction,
//! the 4 KiB check line, the certificate-name reader).
//!
//! It runs on the stable compiler inside the test suite (cargo-fuzz needs nightly's sanitizer
//! flags): each target replays its seed corpus (`tests/fuzz-corpus/<target>/`), then mutates
//! inputs for a time budget — bytes flipped, inserted, deleted and duplicated, tokens of a
//! dictionary spliced in, inputs crossed over. There is no coverage instrumentation; as a
//! stand-in, an input is kept for further mutation when it gives a result not seen before (an
//! error message of a new shape). Every target asserts properties, not only "no panic".
//!
//! Budget: `STACKCTL_FUZZ_SECONDS` per target (default 0.3 s, so a plain `cargo test` stays
//! quick; CI gives more, see `.ci/run`); `STACKCTL_FUZZ_SEED` replays a run. A failing input is
//! printed escaped, and written to `target/fuzz-findings/`.
//!
//! The same targets also build for libFuzzer, coverage-guided (`fuzz/run.sh`, see its header).
//!
//! Adding a target (e.g. the stack loader's): in `tests/fuzz/targets.rs` write
//! `fn my_target(input: &[u8]) -> Signature` that parses and `assert!`s what must hold, add a
//! line `("my-target", my_target)` to `TARGETS`, and put a few seed inputs, one per file, in
//! `tests/fuzz-corpus/my-target/`. Both fuzzers pick it up.

mod targets;

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use targets::{Run, Signature, TARGETS};

/// A tiny xorshift generator: fast, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const DICTIONARY: &[&str] = &[
    "://",
    "tcp://",
    "http://",
    "https://",
    "dns://",
    "mongodb://",
    "@",
    ":",
    "[",
    "]",
    "[::1]",
    "?",
    "&",
    "=",
    "#",
    "%",
    "%40",
    "%zz",
    "/",
    "-",
    ",",
    ".",
    "xx",
    "2xx",
    "200-299",
    "599",
    "65535",
    "65536",
    "0",
    "18446744073709551615",
    "99999999999999999999",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "24h",
    "1m30s",
    "type=",
    "expect=",
    "server=",
    "127.0.0.1",
    "::",
    "localhost",
    "user:pw@",
    "token=",
    "Authorization:",
    "é",
    "😀",
    "\u{0}",
    "\u{1}",
    "\n",
    "\t",
    " ",
    "\u{202e}",
    "\u{ffff}",
    "\u{feff}",
    "`",
    "'",
    "\"",
    "\\",
    "…",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at.min(end)..end);
            }
            2 => out.insert(at, (rng.next() & 0xff) as u8),
            3 | 4 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            5 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(16)).min(out.len());
                let chunk: Vec<u8> = out[start..end].to_vec();
                for _ in 0..=rng.below(3) {
                    out.splice(at..at, chunk.iter().copied());
                }
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                let digits = rng.next().to_string();
                out.splice(at..at, digits.bytes());
            }
        }
    }
    out.truncate(4096);
    out
}

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(name);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .map(|mut bytes| {
                    // One input per file; the trailing newline an editor adds is not part of it.
                    if bytes.last() == Some(&b'\n') {
                        bytes.pop();
                    }
                    bytes
                })
                .collect()
        })
        .unwrap_or_default();
    seeds.push(Vec::new());
    seeds
}

fn escaped(input: &[u8]) -> String {
    input.escape_ascii().to_string()
}

/// Runs one target for its budget; `Err` with the failing input and message.
/// Executions and inputs kept, or the failing input and its message.
type Outcome = Result<(u64, usize), String>;

fn fuzz(name: &str, run: Run, budget: Duration, seed: u64) -> Outcome {
    let mut corpus = seeds(name);
    let mut signatures: HashSet<Signature> = HashSet::new();
    let mut rng = Rng(seed | 1);
    let mut executions = 0_u64;
    let started = Instant::now();
    let mut queue: Vec<Vec<u8>> = corpus.clone();
    loop {
        let input = match queue.pop() {
            Some(input) => input,
            None if started.elapsed() >= budget => break,
            None => {
                let parent = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, &parent, &corpus)
            }
        };
        executions += 1;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run(&input)));
        match outcome {
            Ok(signature) => {
                if std::env::var_os("STACKCTL_FUZZ_DEBUG").is_some()
                    && !signatures.contains(&signature)
                {
                    eprintln!("{name}: new {signature:?} from b\"{}\"", escaped(&input));
                }
                if signatures.insert(signature) && corpus.len() < 10_000 {
                    corpus.push(input);
                }
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                let findings =
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-findings");
                let _ = std::fs::create_dir_all(&findings);
                let _ =
                    std::fs::write(findings.join(format!("{name}-{seed}-{executions}")), &input);
                return Err(format!(
                    "{name}: input b\"{}\" failed after {executions} executions (seed {seed}): {message}",
                    escaped(&input)
                ));
            }
        }
    }
    Ok((executions, corpus.len()))
}

#[test]
fn parsers_hold_their_properties_under_fuzzing() {
    let budget = std::env::var("STACKCTL_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_millis(300), Duration::from_secs_f64);
    let seed = std::env::var("STACKCTL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    // Panics are expected and caught here; keep their messages off the test output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let results: Vec<(&str, Outcome)> = TARGETS
        .iter()
        .map(|(name, run)| (*name, fuzz(name, *run, budget, seed)))
        .collect();
    std::panic::set_hook(hook);
    // The stack-file target's scratch directories (one per thread of this process).
    let scratch = format!("stackctl-fuzz-{}-", std::process::id());
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&scratch) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, result) in &results {
        match result {
            Ok((executions, kept)) => {
                total += executions;
                eprintln!("fuzz {name:<12} {executions:>9} executions, {kept:>5} inputs kept");
            }
            Err(failure) => failures.push(failure.clone()),
        }
    }
    eprintln!("fuzz: {total} executions in all (seed {seed}, {budget:?} per target)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
