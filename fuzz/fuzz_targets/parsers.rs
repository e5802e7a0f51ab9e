//! One libFuzzer binary for every target of `tests/fuzz/targets.rs`; `STACKCTL_FUZZ_TARGET`
//! picks the target (run.sh sets it).

#![no_main]

#[path = "../../tests/fuzz/targets.rs"]
mod targets;

use std::sync::OnceLock;

fn chosen() -> targets::Run {
    static RUN: OnceLock<targets::Run> = OnceLock::new();
    *RUN.get_or_init(|| {
        let name = std::env::var("STACKCTL_FUZZ_TARGET").unwrap_or_default();
        targets::TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, run)| *run)
            .unwrap_or_else(|| {
                let names: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
                panic!("set STACKCTL_FUZZ_TARGET to one of {names:?}")
            })
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = chosen()(data);
});
