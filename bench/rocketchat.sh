#!/usr/bin/env bash
# Benchmarks `stackctl check rocketchat-room --write` (log in, find the room, check membership
# and write permission, log out) against the Rocket.Chat simulator on loopback. The simulator
# runs with `--no-rate-limit`: its faithful limiter (10 logins a minute per address) would
# otherwise answer most of hyperfine's hundreds of runs with 429.
# Wall time: hyperfine (median). Peak RSS: GNU time (median of 25 runs).
# Usage: bash bench/rocketchat.sh   (after `bash tests/setup.sh`)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
bin=$dir/stackctl
sim=$dir/rocketchat-sim
[ -x "$bin" ] && [ -x "$sim" ] || { echo "bench: build first: bash tests/setup.sh" >&2; exit 2; }
runs=${RUNS:-300}
out=$(mktemp)
log=$(mktemp)
export ADMIN_PASS=bench-admin-pass BOT_PASS=bench-bot-pass
ADMIN_USERNAME=admin ADMIN_EMAIL=admin@chat.example "$sim" --port 0 --no-rate-limit >"$log" 2>/dev/null &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; rm -f "$out" "$log"' EXIT
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
url="http://$(sed 's/.* on //' "$log")"
"$bin" --quiet init rocketchat-user --url "$url" --admin-password-env ADMIN_PASS --name bot --password-env BOT_PASS --role bot >/dev/null
"$bin" --quiet init rocketchat-room --url "$url" --admin-password-env ADMIN_PASS --name devops --member bot >/dev/null

cmd=("$bin" check rocketchat-room --url "$url" --user bot --password-env BOT_PASS --room devops --write)
"${cmd[@]}"
hyperfine -N --warmup 30 --runs "$runs" --export-json "$out" -n "stackctl check rocketchat-room" "${cmd[*]}" >/dev/null
rss=$(for _ in $(seq 25); do /usr/bin/time -f '%M' "${cmd[@]}" 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 13p)
python3 - "$out" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("| command | median wall | mean ± σ | median peak RSS |\n|---|---|---|---|")
print(f"| `stackctl check rocketchat-room --write` | {r['median']*1000:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms | {int(sys.argv[2])/1024:.1f} MiB |")
PY
