#!/usr/bin/env bash
# Coverage-guided fuzzing of the parser targets with libFuzzer, on the stable compiler.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     # default: 60 s, every target
#
# cargo-fuzz wants nightly; its flags work on stable with RUSTC_BOOTSTRAP=1 (the one unstable
# flag used is the sanitizer's, and only coverage instrumentation is needed for safe Rust, so
# no sanitizer is asked for). The seeds in tests/fuzz-corpus/<target>/ are read, never written:
# libFuzzer's own corpus grows in target/fuzz-corpus/<target>/. Crashes land in
# target/fuzz-findings/. The test suite runs the same targets without instrumentation
# (tests/fuzz.rs); this is the deeper, slower run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
flags+=" --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="$PWD/target/fuzz-build"
# The versions the workspace is tested with (cargo adds libFuzzer's own to the copy).
[ -f fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock
RUSTC_BOOTSTRAP=1 RUSTFLAGS="$flags" cargo build --release --manifest-path fuzz/Cargo.toml \
  --target x86_64-unknown-linux-gnu --bin fuzz-parsers
binary="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/fuzz-parsers"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls tests/fuzz-corpus)
fi
mkdir -p target/fuzz-findings
status=0
for target in "${targets[@]}"; do
  work="target/fuzz-corpus/$target"
  mkdir -p "$work"
  log=$(mktemp)
  if ! STACKCTL_FUZZ_TARGET="$target" "$binary" "$work" "tests/fuzz-corpus/$target" \
      -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
      -artifact_prefix="target/fuzz-findings/$target-" -print_final_stats=1 >"$log" 2>&1; then
    status=1
    echo "fuzz $target: FAILED" >&2
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" >&2 || true
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  echo "fuzz $target: $runs executions, $cov"
  rm -f "$log"
done
exit "$status"
