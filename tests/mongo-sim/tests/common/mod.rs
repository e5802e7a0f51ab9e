//! What the simulator's integration tests share: where a started simulator listens.

use std::io::{BufRead, BufReader};
use std::process::Child;

/// The address from the simulator's first line (`mongo-sim listening on ADDR`), read from its
/// piped stdout.
pub fn listening_on(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(
        child
            .stdout
            .take()
            .expect("the simulator's stdout is piped"),
    )
    .read_line(&mut line)
    .unwrap();
    line.trim()
        .strip_prefix("mongo-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}
