#!/usr/bin/env bash
# `stackctl verify` and `stackctl serve` (issue: check catalogs), on loopback with the
# simulators standing in for MongoDB and Rocket.Chat:
#   1. `verify` of the demo catalog's seven checks (checks/demo.yml, its hosts pointed at the
#      loopback servers) versus the same seven checks run one by one as separate
#      `stackctl check` processes (what a shell script or seven HEALTHCHECKs do); hyperfine.
#   2. `/metrics` requests per second: wrk, 2 threads, 32 connections, 10 s; serve's RSS before
#      and after.
#   3. serve's RSS after SOAK seconds (default 600) of the catalog at 1 s intervals.
# Usage: bash bench/catalog.sh   (after `bash tests/setup.sh`); SOAK=0 skips step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
bin=$dir/stackctl
source tests/images/require-binaries.sh
require_binaries bench "$dir" stackctl mongo-sim rocketchat-sim http-fixture
runs=${RUNS:-30}
soak=${SOAK:-600}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export ADMIN_PASS=bench-admin-pass BOT_PASS=bench-bot-pass

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mongo_port=$(free_port)
"$dir/mongo-sim" --port "$mongo_port" --replSet rs0 --election-delay 200ms >"$work/mongo.log" 2>&1 &
pids+=($!)
ADMIN_USERNAME=admin ADMIN_EMAIL=admin@chat.example "$dir/rocketchat-sim" --port 0 --no-rate-limit >"$work/rc.log" 2>/dev/null &
pids+=($!)
bot_port=$(free_port)
"$dir/http-fixture" "$bot_port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/rc.log" && break; sleep 0.1; done
rc="http://$(sed 's/.* on //' "$work/rc.log")"
"$bin" --quiet wait "tcp://127.0.0.1:$mongo_port" "tcp://127.0.0.1:$bot_port" --timeout 10s
"$bin" --quiet init replica-set --uri "mongodb://127.0.0.1:$mongo_port" --name rs0 --member "127.0.0.1:$mongo_port" --timeout 30s >/dev/null
"$bin" --quiet init rocketchat-user --url "$rc" --admin-password-env ADMIN_PASS --name bot --password-env BOT_PASS --role bot >/dev/null
"$bin" --quiet init rocketchat-room --url "$rc" --admin-password-env ADMIN_PASS --name devops --member bot >/dev/null

# checks/demo.yml with its hosts on loopback (a name the resolver knows for the DNS check).
sed -e "s#tcp://mongo:27017#tcp://127.0.0.1:$mongo_port#" \
    -e "s#mongodb://mongo:27017#mongodb://127.0.0.1:$mongo_port#" \
    -e "s#http://rocketchat:3000#$rc#g" \
    -e "s#dns://rocketchat#dns://localhost#" \
    -e "s#http://bot:8080/#http://127.0.0.1:$bot_port/#" \
    -e "s#--session-file /session/status-bot#--session-file $work/session#" \
    checks/demo.yml >"$work/demo.yml"
"$bin" verify -c "$work/demo.yml" >&2

# The same checks as separate processes, one after another.
"$bin" --quiet verify -c "$work/demo.yml" --json >/dev/null
cat >"$work/one-by-one.sh" <<EOF
set -e
$bin check tcp 127.0.0.1:$mongo_port --timeout 3s >/dev/null
$bin check mongo --uri mongodb://127.0.0.1:$mongo_port --replica-set rs0 --timeout 3s >/dev/null
$bin check dns localhost --timeout 3s >/dev/null
$bin check rocketchat --url $rc --timeout 3s >/dev/null
$bin check http $rc/api/info --timeout 3s >/dev/null
$bin check rocketchat-room --url $rc --user bot --password-env BOT_PASS --room devops --write --session-file $work/session --timeout 3s >/dev/null
$bin check http http://127.0.0.1:$bot_port/ --timeout 3s >/dev/null
EOF
bash "$work/one-by-one.sh"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/verify.json" \
  -n "stackctl verify (7 checks)" "$bin --quiet verify -c $work/demo.yml" \
  -n "7 × stackctl check, one by one" "bash $work/one-by-one.sh" >/dev/null

# serve: /metrics under wrk, then RSS after the soak.
sed -e 's/^  interval: 15s/  interval: 1s/' -e 's/^    interval: 60s/    interval: 1s/' "$work/demo.yml" >"$work/soak.yml"
"$bin" serve -c "$work/soak.yml" --listen 127.0.0.1:0 2>"$work/serve.log" &
serve_pid=$!
pids+=($serve_pid)
for _ in $(seq 50); do grep -q "serving on" "$work/serve.log" && break; sleep 0.1; done
addr=$(sed -n 's/.*serving on http:\/\/\([^ ]*\).*/\1/p' "$work/serve.log")
rss() { awk '/VmRSS/ {print $2}' "/proc/$serve_pid/status"; }
sleep 3
rss_start=$(rss)
wrk -t2 -c32 -d10s "http://$addr/metrics" >"$work/wrk.txt"
rss_wrk=$(rss)
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
if [ "$soak" -gt 0 ]; then sleep "$soak"; fi
rss_soak=$(rss)
curl -fsS "http://$addr/healthz" >&2

python3 - "$work/verify.json" "$rps" "$rss_start" "$rss_wrk" "$rss_soak" "$soak" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print("| command | median wall | mean ± σ |\n|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms |")
rps, start, after_wrk, after_soak, soak = float(sys.argv[2]), *map(int, sys.argv[3:6]), int(sys.argv[6])
print()
print(f"serve: /metrics {rps:.0f} requests/s (wrk -t2 -c32 -d10s); RSS {start/1024:.1f} MiB at start, "
      f"{after_wrk/1024:.1f} MiB after wrk, {after_soak/1024:.1f} MiB after {soak} s more of 1 s intervals")
PY
