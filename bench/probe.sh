#!/usr/bin/env bash
# `probe` and `smoke` on the demo stack (compose/demo/compose.yml):
#   - one tcp target from inside the bot's network namespace:
#       `stackctl probe bot tcp://mongo:27017`  versus
#       `docker run --rm --network container:<bot> <nc image> mongo 27017`, where the nc image is
#       FROM scratch + tests/fixtures' static `connect-fixture` (an `nc -z`: no registry here);
#   - `stackctl probe --matrix` on the whole stack;
#   - `stackctl smoke` (its chat steps inside Rocket.Chat's namespace).
# hyperfine, medians. The probe image is built (and cached) before timing starts, as it is after
# a host's first probe. Smoke runs are few: each logs in twice, and Rocket.Chat allows 10 logins
# a minute per client address.
# Usage: bash bench/probe.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
source tests/images/require-binaries.sh
require_binaries bench "$dir" stackctl mongo-sim rocketchat-sim http-fixture connect-fixture
runs=${RUNS:-30}
smoke_runs=${SMOKE_RUNS:-4}
ctx=$(mktemp -d)
export BENCH_IMAGE="stackctl-bench-probe:$$"
nc_image="stackctl-bench-nc:$$"
project="stprobebench$$"
file=compose/demo/compose.yml
stackctl="$dir/stackctl"
cleanup() {
  "$stackctl" --quiet down -v -f "$file" -p "$project" >/dev/null 2>&1 || true
  docker rmi -f "$BENCH_IMAGE" "$nc_image" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT

cp "$dir"/{stackctl,mongo-sim,rocketchat-sim,http-fixture} "$ctx/"
printf 'FROM scratch\nCOPY stackctl mongo-sim rocketchat-sim http-fixture /\n' > "$ctx/Dockerfile"
docker build -q -t "$BENCH_IMAGE" "$ctx" >/dev/null
mkdir "$ctx/nc"
cp "$dir/connect-fixture" "$ctx/nc/"
printf 'FROM scratch\nCOPY connect-fixture /\nENTRYPOINT ["/connect-fixture"]\n' > "$ctx/nc/Dockerfile"
docker build -q -t "$nc_image" "$ctx/nc" >/dev/null

"$stackctl" --quiet up -f "$file" -p "$project" --timeout 120s
bot="$project-bot-1"
# Build (or find) the probe image once, outside the timings.
"$stackctl" probe -f "$file" -p "$project" bot tcp://mongo:27017 >/dev/null

hf() { hyperfine -N --style basic "$@"; }
median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print("\n".join("%s\t%.1f ms\t%.1f ± %.1f ms" % (x["command"], x["median"]*1000, x["mean"]*1000, x["stddev"]*1000) for x in r))' "$1"; }

hf --warmup 3 --runs "$runs" --export-json "$ctx/one.json" \
  -n 'stackctl probe bot tcp://mongo:27017' "$stackctl probe -f $file -p $project bot tcp://mongo:27017" \
  -n "docker run --rm --network container:bot nc mongo 27017" "docker run --rm --network container:$bot $nc_image mongo 27017"
hf --warmup 2 --runs "$((runs / 3))" --export-json "$ctx/matrix.json" \
  -n 'stackctl probe --matrix' "$stackctl probe -f $file -p $project --matrix"
hf --runs "$smoke_runs" --export-json "$ctx/smoke.json" \
  -n 'stackctl smoke' "$stackctl smoke -f $file -p $project"

echo
echo "command	median	mean ± σ"
median "$ctx/one.json"
median "$ctx/matrix.json"
median "$ctx/smoke.json"
