#!/usr/bin/env bash
# Time of `stackctl render kubernetes` on the demo and the chat stack: hyperfine without a
# shell, 50 runs after 5 warm-ups, medians; the static binary.
# Usage: bash bench/render.sh   (after `bash tests/setup.sh`)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/x86_64-unknown-linux-musl/release/stackctl
export BENCH_IMAGE=stackctl-demo:latest STACKCTL_BIN=/usr/local/bin/stackctl ADMIN_PASS=a BOT_PASS=b
out=$(mktemp)
trap 'rm -f "$out"' EXIT
hyperfine -N --warmup 5 --runs "${RUNS:-50}" --export-json "$out" \
  -n 'render kubernetes (demo)' "$bin --quiet render kubernetes -f compose/demo/compose.yml -p demo" \
  -n 'render kubernetes (chat)' "$bin --quiet render kubernetes -f compose/chat/compose.yml --env-file compose/chat/.env.example -p chat" \
  >/dev/null 2>&1
python3 - "$out" <<'PY'
import json, sys
print("| command | median | mean ± σ |")
print("|---|---|---|")
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"| `stackctl {r['command']}` | {r['median'] * 1000:.1f} ms | {r['mean'] * 1000:.1f} ± {r['stddev'] * 1000:.1f} ms |")
PY
