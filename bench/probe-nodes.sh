#!/usr/bin/env bash
# `probe` across the nodes of a swarm: the test bed of tests/swarm-nodes.sh (3 nodes), the
# stack compose/nodes (MongoDB on the worker stkn2, web's replicas on every node) deployed with
# `up --engine swarm --registry`, then, against the manager stkn1:
#   - `stackctl probe web tcp://mongo:27017`: web has a task on the manager, probed from inside
#     its container (a throw-away container in its network namespace, as on one machine);
#   - `stackctl probe mongo tcp://web:8080`: MongoDB's task is on stkn2, probed from a one-shot
#     Swarm job on stkn2 (secret, job, schedule, pull by digest, run, logs, removal).
# The probe image is built and pushed once before timing starts, as after a host's first probe.
# hyperfine, medians. Needs root (the bed).
# Usage: bash bench/probe-nodes.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/bed-lib.sh
bed_bench probe-nodes compose/nodes/compose.yml 10
stackctl="$bin/stackctl"

host=$(bash tests/swarm-nodes.sh up 2>/dev/null | tail -n 1)
export DOCKER_HOST=${host#DOCKER_HOST=}
env -u DOCKER_HOST docker save "$image" | docker load -q >/dev/null
"$stackctl" --quiet up --engine swarm --registry "$registry" -f "$file" -p "$project" --timeout 180s
# The probe image: built, and pushed to the registry the stack's images come from.
"$stackctl" probe -f "$file" -p "$project" mongo tcp://web:8080 >/dev/null

hyperfine -N --style basic --warmup 2 --runs "$runs" --export-json "$ctx/probe.json" \
  -n 'probe web (task on the manager stkn1)' "$stackctl probe -f $file -p $project web tcp://mongo:27017" \
  -n 'probe mongo (task on the worker stkn2)' "$stackctl probe -f $file -p $project mongo tcp://web:8080"

echo
echo "command	median	mean ± σ	min-max"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print("\n".join("%s\t%.0f ms\t%.0f ± %.0f ms\t%.0f-%.0f ms" % (x["command"], x["median"]*1000, x["mean"]*1000, x["stddev"]*1000, x["min"]*1000, x["max"]*1000) for x in r))' "$ctx/probe.json"
