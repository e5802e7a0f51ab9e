#!/usr/bin/env bash
# Benchmarks `stackctl check tcp|http` against the tools people use today, on loopback:
#   check tcp   vs  bash -c 'echo > /dev/tcp/127.0.0.1/PORT'   and  stackctl --version (start-up alone)
#   check http  vs  curl -fsS
# Each group runs in one hyperfine invocation, back to back, so that the baselines are measured
# under the same load as stackctl. Wall time: the median of RUNS runs (default 100). Peak RSS:
# GNU time (`%M`), the median of the same number of runs.
# Usage: bash bench/checks.sh            (after `bash tests/setup.sh`)
#        BIN=path/to/other/stackctl bash bench/checks.sh   (e.g. an older build, for before/after)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BIN:-target/x86_64-unknown-linux-musl/release/stackctl}
[ -x "$bin" ] || { echo "bench: build first: bash tests/setup.sh" >&2; exit 2; }
runs=${RUNS:-100}
out=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$out"' EXIT

# The binary's pages leave the page cache first, so that the runs below bring them back the way
# a health check's first runs do. Peak RSS counts the executable's pages the kernel maps around
# each fault, and it maps only pages already cached: a binary just written by the linker or
# `cp` (whole file cached, dirty until written back) shows another figure than the same binary
# after a `docker pull` (README, Performance).
sync
python3 - "$bin" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
PY

# A real HTTP server on loopback (also the TCP target).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$out" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/"

hyperfine -N --warmup 30 --runs "$runs" --export-json "$out/tcp.json" \
  -n "stackctl check tcp" "$bin check tcp 127.0.0.1:$port" \
  -n "bash /dev/tcp" "bash -c 'echo > /dev/tcp/127.0.0.1/$port'" \
  -n "stackctl --version" "$bin --version" >/dev/null
hyperfine -N --warmup 30 --runs "$runs" --export-json "$out/http.json" \
  -n "stackctl check http" "$bin check http $url" \
  -n "curl -fsS" "curl -fsS -o /dev/null $url" >/dev/null

median_rss() { # median peak RSS in KiB of $runs runs of the command
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1
  done | sort -n | sed -n "$(((runs + 1) / 2))p"
}

printf '| command | median wall | mean ± σ | user / system (mean) | median peak RSS |\n|---|---|---|---|---|\n'
report() { # json name command...
  local json=$1 name=$2; shift 2
  python3 - "$json" "$name" "$(median_rss "$@")" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
r = next(r for r in data["results"] if r["command"] == sys.argv[2])
print(f"| `{r['command']}` | {r['median']*1000:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms"
      f" | {r['user']*1000:.2f} / {r['system']*1000:.2f} ms | {int(sys.argv[3])/1024:.2f} MiB |")
PY
}
report "$out/tcp.json" "stackctl check tcp" "$bin" check tcp "127.0.0.1:$port"
report "$out/tcp.json" "bash /dev/tcp" bash -c "echo > /dev/tcp/127.0.0.1/$port"
report "$out/tcp.json" "stackctl --version" "$bin" --version
report "$out/http.json" "stackctl check http" "$bin" check http "$url"
report "$out/http.json" "curl -fsS" curl -fsS -o /dev/null "$url"
size=$(stat -c %s "$bin")
echo
echo "binary: $bin, $(python3 -c "print(f'{$size/1048576:.2f}')") MiB ($size bytes); $runs runs each"
