#!/usr/bin/env bash
# Benchmarks `stackctl check mongo` (replica-set PRIMARY check) against the MongoDB simulator on
# loopback. Wall time: hyperfine (median). Peak RSS: GNU time (median of 25 runs).
# Usage: bash bench/mongo.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
bin=$dir/stackctl
sim=$dir/mongo-sim
[ -x "$bin" ] && [ -x "$sim" ] || { echo "bench: build first: bash tests/setup.sh" >&2; exit 2; }
runs=${RUNS:-300}
out=$(mktemp)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$sim" --port "$port" --replSet rs0 --election-delay 200ms >/dev/null 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; rm -f "$out"' EXIT
uri="mongodb://127.0.0.1:$port"
"$bin" --quiet init replica-set --uri "$uri" --name rs0 --member "127.0.0.1:$port" --timeout 30s >/dev/null

cmd=("$bin" check mongo --uri "$uri" --replica-set rs0)
"${cmd[@]}"
hyperfine -N --warmup 30 --runs "$runs" --export-json "$out" -n "stackctl check mongo" "${cmd[*]}" >/dev/null
rss=$(for _ in $(seq 25); do /usr/bin/time -f '%M' "${cmd[@]}" 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 13p)
python3 - "$out" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("| command | median wall | mean ± σ | median peak RSS |\n|---|---|---|---|")
print(f"| `stackctl check mongo --replica-set rs0` | {r['median']*1000:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms | {int(sys.argv[2])/1024:.1f} MiB |")
PY
