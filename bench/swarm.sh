#!/usr/bin/env bash
# Time until the demo stack (compose/demo/compose.yml) is ready on a single-node swarm
# (`stackctl up --engine swarm`) versus the same stack as plain containers (`stackctl up`), from
# nothing each time (`down -v` between runs), and `up` again on the unchanged running stack.
# `stackctl up` alone is timed, not the image build. Medians of RUNS runs each (default 3).
# Makes this daemon a swarm for the runs unless it is one, and leaves it afterwards only then.
# Usage: bash bench/swarm.sh   (after `bash tests/setup.sh`)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
[ -x "$dir/stackctl" ] || { echo "bench: build first: bash tests/setup.sh" >&2; exit 2; }
stackctl=$dir/stackctl
runs=${RUNS:-3}
out=$(mktemp -d)
export BENCH_IMAGE="stackctl-bench-swarm:$$"
project="stswarmbench$$"
file=compose/demo/compose.yml
made_swarm=
had_gwbridge=
cleanup() {
  "$stackctl" --quiet down --engine swarm -v -f "$file" -p "$project" >/dev/null 2>&1 || true
  "$stackctl" --quiet down -v -f "$file" -p "$project" >/dev/null 2>&1 || true
  if [ -n "$made_swarm" ]; then
    docker swarm leave --force >/dev/null 2>&1 || true
    [ -n "$had_gwbridge" ] || docker network rm docker_gwbridge >/dev/null 2>&1 || true
  fi
  docker rmi -f "$BENCH_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT
bash compose/demo/build-image.sh "$BENCH_IMAGE"
had_gwbridge=$(docker network ls -q --filter name='^docker_gwbridge$')
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  made_swarm=1
fi

median() { sort -n | awk '{a[NR] = $1} END {printf "%.2f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
now() { date +%s.%N; }
timed() { local t0; t0=$(now); "$@" >/dev/null; echo "$(now) - $t0" | bc; }

for engine in compose swarm; do
  for i in $(seq "$runs"); do
    timed "$stackctl" --quiet up --engine "$engine" --timeout 180s -f "$file" -p "$project" >>"$out/$engine"
    timed "$stackctl" --quiet up --engine "$engine" -f "$file" -p "$project" >>"$out/$engine-again"
    "$stackctl" --quiet down --engine "$engine" -v -t 1 -f "$file" -p "$project" >/dev/null
    echo "$engine run $i: $(tail -1 "$out/$engine") s, again $(tail -1 "$out/$engine-again") s" >&2
  done
done
echo "| demo stack, $(docker-compose -f "$file" config --services 2>/dev/null | wc -l) services | median time to ready ($runs runs) | \`up\` again, unchanged |"
echo "|---|---|---|"
echo "| \`stackctl up\` (plain containers) | $(median <"$out/compose") s | $(median <"$out/compose-again") s |"
echo "| \`stackctl up --engine swarm\` (single-node swarm) | $(median <"$out/swarm") s | $(median <"$out/swarm-again") s |"
