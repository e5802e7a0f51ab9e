#!/usr/bin/env bash
# Brings up the demo chat stack with stackctl: MongoDB and Rocket.Chat are simulators (no
# registry is needed), everything else is what a real stack does — replica-set init, admin,
# bot user, room, and a bot whose healthcheck is the "diver" (`check rocketchat-room`).
# Usage: bash compose/demo/up.sh [stackctl up options]; `bash compose/demo/up.sh down` removes it.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=target/x86_64-unknown-linux-musl/release
export BENCH_IMAGE=stackctl-demo:latest
stackctl=("$dir/stackctl")
file=compose/demo/compose.yml
if [ "${1:-}" = down ]; then
  exec "${stackctl[@]}" down -f "$file" -p chatdemo
fi
bash compose/demo/build-image.sh "$BENCH_IMAGE"
"${stackctl[@]}" up -f "$file" -p chatdemo "$@"
"${stackctl[@]}" status -f "$file" -p chatdemo
echo "remove it with: bash compose/demo/up.sh down" >&2
