#!/usr/bin/env bash
# Time until the reference stack (bench/stack/compose.yml) is ready:
#   `stackctl up`  versus  `docker-compose up -d` + polling until every service is healthy and
#   every job has exited 0 — on the same file, same image, same machine. Also `up` on the
#   unchanged running stack. Medians of RUNS runs each (default 5).
# Usage: bash bench/up.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
source tests/images/require-binaries.sh
require_binaries bench "$dir" stackctl mongo-sim rocketchat-sim http-fixture
runs=${RUNS:-5}
ctx=$(mktemp -d)
export BENCH_IMAGE="stackctl-bench:$$"
project="stbench$$"
file=compose/demo/compose.yml
cleanup() {
  "$dir/stackctl" --quiet down -v -f "$file" -p "$project" >/dev/null 2>&1 || true
  docker rmi -f "$BENCH_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
bash compose/demo/build-image.sh "$BENCH_IMAGE"

now() { date +%s.%N; }
services=$(docker-compose -f "$file" -p "$project" config --services)

# docker-compose: `up -d`, then wait for health and job exits (the wait is what users script).
compose_ready() {
  for s in $services; do
    id=$(docker-compose -f "$file" -p "$project" ps -q "$s")
    [ -n "$id" ] || return 1
    state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
    case "$state" in
      "exited 0"*) ;;                      # a job that succeeded
      "running "*" healthy") ;;
      "running 0 ") ;;                     # no healthcheck
      *) return 1 ;;
    esac
  done
}

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }

: > "$ctx/stackctl"; : > "$ctx/compose"; : > "$ctx/again"
for i in $(seq "$runs"); do
  t0=$(now); "$dir/stackctl" --quiet up -f "$file" -p "$project" --timeout 120s; t1=$(now)
  echo "$t1 - $t0" | bc >> "$ctx/stackctl"
  t0=$(now); "$dir/stackctl" --quiet up -f "$file" -p "$project"; t1=$(now)
  echo "$t1 - $t0" | bc >> "$ctx/again"
  "$dir/stackctl" --quiet down -f "$file" -p "$project"

  t0=$(now)
  docker-compose -f "$file" -p "$project" up -d >/dev/null 2>&1
  until compose_ready; do sleep 0.1; done
  t1=$(now)
  echo "$t1 - $t0" | bc >> "$ctx/compose"
  docker-compose -f "$file" -p "$project" down >/dev/null 2>&1
  echo "run $i: stackctl $(tail -1 "$ctx/stackctl") s, again $(tail -1 "$ctx/again") s, docker-compose $(tail -1 "$ctx/compose") s" >&2
done
s=$(median < "$ctx/stackctl"); c=$(median < "$ctx/compose"); a=$(median < "$ctx/again")
echo "| command | median time to ready ($runs runs) |"
echo "|---|---|"
echo "| \`stackctl up\` | $s s |"
echo "| \`docker-compose up -d\` + wait for healthy/exited | $c s |"
echo "| \`stackctl up\` on the unchanged running stack | $a s |"
echo "ratio stackctl / docker-compose: $(echo "scale=2; $s / $c" | bc)"
