#!/usr/bin/env bash
# `stackctl serve` as the status page (issue: serve becomes the status page), on loopback:
#   1. a year of history for 50 one-minute checks, seeded as the tiers hold it
#      (bench/seed_history.rs): the database's size;
#   2. `serve` on that database with the 50 checks: one render of the page (`GET /` after its
#      1 s of reuse, curl, median of 10); the page under wrk (2 threads, 8 connections, 10 s,
#      --latency), p50 and p99, median of RUNS (default 3) runs; serve's RSS;
#   3. the time from a failure (a TCP listener closed) to the alert in the Rocket.Chat
#      simulator's room, through an incoming webhook: one check every 1 s, failure threshold 3,
#      group wait 0 s; median of ALERTS (default 5) outages.
# Usage: bash bench/status-page.sh   (after `bash tests/setup.sh`)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
bin=$dir/stackctl
source tests/images/require-binaries.sh
require_binaries bench "$dir" stackctl rocketchat-sim
runs=${RUNS:-3}
alerts=${ALERTS:-5}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export ADMIN_PASS=bench-admin-pass BOT_PASS=bench-bot-pass

# The seeding tool in the test profile (its dependencies are the tests'): its speed is not
# measured, only what it leaves in the database.
cargo build -q --example seed-history
seed=target/debug/examples/seed-history

# 1. A year of 50 one-minute checks.
"$seed" "$work/year.db" 50 365
db_bytes=$(stat -c %s "$work/year.db")

# 2. The page under wrk: 50 checks (all passing, on one listener) over that history.
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1024); print(s.getsockname()[1], flush=True); time.sleep(86400)' >"$work/port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
{
  echo "defaults: {interval: 60s, timeout: 2s}"
  echo "checks:"
  for i in $(seq -w 0 49); do
    printf '  - name: check %s\n    check: tcp://127.0.0.1:%s\n    service: service-%s\n' "$i" "$port" "$((10#$i % 5))"
  done
} >"$work/fifty.yml"
"$bin" serve -c "$work/fifty.yml" --db "$work/year.db" --listen 127.0.0.1:0 2>"$work/serve.log" &
serve_pid=$!
pids+=($serve_pid)
for _ in $(seq 100); do grep -q "serving on" "$work/serve.log" && break; sleep 0.1; done
addr=$(sed -n 's/.*serving on http:\/\/\([^ ]*\).*/\1/p' "$work/serve.log")
sleep 2
page_bytes=$(curl -fsS "http://$addr/" | wc -c)
# One render: a request after the 1 s the page is served again (curl's total time), 10 times.
renders=()
for _ in $(seq 10); do
  sleep 1.1
  renders+=("$(curl -fsS -o /dev/null -w '%{time_total}' "http://$addr/" | awk '{printf "%.2f", $1 * 1000}')")
done
p50s=() p99s=()
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}'; }
for _ in $(seq "$runs"); do
  wrk -t2 -c8 -d10s --latency "http://$addr/" >"$work/wrk.txt"
  p50s+=("$(awk '$1=="50%" {print $2}' "$work/wrk.txt" | to_ms)")
  p99s+=("$(awk '$1=="99%" {print $2}' "$work/wrk.txt" | to_ms)")
done
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$serve_pid/status")
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
kill "$serve_pid"

# 3. Failure to alert in the room.
ADMIN_USERNAME=admin ADMIN_EMAIL=admin@chat.example "$dir/rocketchat-sim" --port 0 --no-rate-limit >"$work/rc.log" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/rc.log" && break; sleep 0.1; done
rc="http://$(sed 's/.* on //' "$work/rc.log")"
"$bin" --quiet init rocketchat-user --url "$rc" --admin-password-env ADMIN_PASS --name bot --password-env BOT_PASS --role bot >/dev/null
"$bin" --quiet init rocketchat-room --url "$rc" --admin-password-env ADMIN_PASS --name devops --member bot >/dev/null
"$bin" --quiet init rocketchat-webhook --url "$rc" --admin-password-env ADMIN_PASS --name status --room devops --as bot --output "$work/hook" >/dev/null
python3 - "$bin" "$rc" "$work" "$alerts" >"$work/alerts.txt" <<'EOF'
import json, socket, subprocess, sys, time, urllib.request
binary, rc, work, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def api(path, body=None, headers={}):
    req = urllib.request.Request(rc + path, data=json.dumps(body).encode() if body else None,
                                 headers={"content-type": "application/json", **headers})
    return json.load(urllib.request.urlopen(req, timeout=5))
login = api("/api/v1/login", {"user": "admin", "password": "bench-admin-pass"})["data"]
auth = {"x-user-id": login["userId"], "x-auth-token": login["authToken"]}
def messages():
    return len(api("/api/v1/channels.history?roomName=devops&count=1000", headers=auth)["messages"])
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0)); listener.listen(64); port = listener.getsockname()[1]
open(f"{work}/one.yml", "w").write(
    f"defaults: {{interval: 1s, timeout: 1s}}\nchecks:\n  - name: db answers\n    check: tcp://127.0.0.1:{port}\n    service: db\n")
serve = subprocess.Popen([binary, "serve", "-c", f"{work}/one.yml", "--db", f"{work}/alerts.db",
                          "--listen", "127.0.0.1:0", "--alert-webhook-file", f"{work}/hook",
                          "--failure-threshold", "3", "--success-threshold", "2", "--group-wait", "0s"],
                         stderr=subprocess.DEVNULL)
try:
    time.sleep(3)
    for _ in range(count):
        before = messages()
        listener.close(); broke = time.monotonic()
        while messages() == before:
            time.sleep(0.02)
        print(f"{(time.monotonic() - broke) * 1000:.0f}")
        listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port)); listener.listen(64)
        after = messages()
        while messages() == after:  # the resolved alert
            time.sleep(0.05)
        time.sleep(1)
finally:
    serve.kill()
EOF
mapfile -t alert_ms <"$work/alerts.txt"

echo "database, 50 checks x 1 year (1-minute results, tiered): $((db_bytes / 1024)) KiB"
echo "page: $page_bytes bytes; one render (uncached): median $(median "${renders[@]}") ms of 10"
echo "GET / under wrk -t2 -c8 -d10s: p50 $(median "${p50s[@]}") ms, p99 $(median "${p99s[@]}") ms (median of $runs runs; last run $rps req/s)"
echo "serve RSS with that history, after the runs: $((rss_kib / 1024)) MiB ($rss_kib KiB)"
echo "failure to alert in the room (1 s interval, threshold 3, group wait 0 s): median $(median "${alert_ms[@]}") ms of ${alert_ms[*]}"
