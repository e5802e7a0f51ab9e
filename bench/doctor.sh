#!/usr/bin/env bash
# How long `stackctl doctor` takes on the demo stack (compose/demo/compose.yml): healthy as
# brought up, then broken (Rocket.Chat stopped, the bot unhealthy under it). hyperfine, RUNS
# runs each (default 10), medians reported. Each run starts a throw-away container in the
# stack's network for the MongoDB and Rocket.Chat observations.
# Usage: bash bench/doctor.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

# build-image.sh refuses (exit 2, with the hint) when the static binaries are missing.
export BENCH_IMAGE="stackctl-bench-doctor:$$"
project="stdoctorbench$$"
file=compose/demo/compose.yml
stackctl=$PWD/target/x86_64-unknown-linux-musl/release/stackctl
runs=${RUNS:-10}
ctx=$(mktemp -d)
cleanup() {
  "$stackctl" --quiet down -v -f "$file" -p "$project" >/dev/null 2>&1 || true
  docker rmi -f "$BENCH_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
bash compose/demo/build-image.sh "$BENCH_IMAGE"
"$stackctl" --quiet up -f "$file" -p "$project" --timeout 120s
until [ "$(docker inspect -f '{{.State.Health.Status}}' "$project-bot-1")" = healthy ]; do sleep 1; done

doctor="$stackctl --quiet doctor -f $file -p $project"
$doctor >/dev/null   # the probe image is built once, before timing
hyperfine --warmup 1 --runs "$runs" -N --export-json "$ctx/healthy.json" "$doctor"

docker stop -t 1 "$project-rocketchat-1" >/dev/null
until [ "$(docker inspect -f '{{.State.Health.Status}}' "$project-bot-1")" = unhealthy ]; do sleep 1; done
hyperfine --warmup 1 --runs "$runs" -N -i --export-json "$ctx/broken.json" "$doctor"

median() { python3 -c 'import json,sys,statistics; print("%.2f" % statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"]))' "$1"; }
echo "doctor, healthy demo stack: median $(median "$ctx/healthy.json") s over $runs runs"
echo "doctor, broken demo stack (rocketchat stopped): median $(median "$ctx/broken.json") s over $runs runs"
