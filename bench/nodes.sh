#!/usr/bin/env bash
# Several machines on one: the test bed of tests/swarm-nodes.sh and stackctl across it.
#   - the test bed's `up` (from nothing: namespaces, bridge, registry, daemons, swarm) and `down`;
#   - `stackctl up --engine swarm --registry` until ready, of compose/nodes (MongoDB simulator
#     on n2, its replica-set job on n3, Rocket.Chat, a web service of 3 replicas spread over the
#     nodes) on a bed of 3 nodes versus a bed of 1 node (everything on n1): the same daemons'
#     setup, the same image, pushed through the bed's registry in both (part of the time).
# Medians of RUNS runs each (default 5), each on a fresh bed. Needs root.
# Usage: bash bench/nodes.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/bed-lib.sh
bed_bench nodes compose/nodes/compose.yml 5

bash tests/swarm-nodes.sh down >/dev/null 2>&1
for nodes in 3 1; do
  : >"$ctx/bed-up-$nodes"; : >"$ctx/bed-down-$nodes"; : >"$ctx/up-$nodes"
  for i in $(seq "$runs"); do
    t0=$(now)
    host=$(SWARM_NODES=$nodes bash tests/swarm-nodes.sh up 2>/dev/null | tail -n 1)
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$ctx/bed-up-$nodes"
    docker save "$image" | DOCKER_HOST=${host#DOCKER_HOST=} docker load -q >/dev/null
    t0=$(now)
    nodes_of_mongo=n2 nodes_of_init=n3
    [ "$nodes" = 3 ] || nodes_of_mongo=n1 nodes_of_init=n1
    MONGO_NODE=$nodes_of_mongo INIT_NODE=$nodes_of_init DOCKER_HOST=${host#DOCKER_HOST=} \
      "$bin/stackctl" --quiet up --engine swarm --registry "$registry" -f "$file" -p "$project" --timeout 180s
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$ctx/up-$nodes"
    t0=$(now)
    bash tests/swarm-nodes.sh down >/dev/null 2>&1
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$ctx/bed-down-$nodes"
  done
done

echo "test bed, 3 nodes: up $(median <"$ctx/bed-up-3") s, down $(median <"$ctx/bed-down-3") s (with the stack still running)"
echo "test bed, 1 node:  up $(median <"$ctx/bed-up-1") s, down $(median <"$ctx/bed-down-1") s"
echo "up --engine swarm --registry to ready: 3 nodes $(median <"$ctx/up-3") s, 1 node $(median <"$ctx/up-1") s"
echo "(medians of $runs runs; all: bed up 3: $(tr '\n' ' ' <"$ctx/bed-up-3")| up 3: $(tr '\n' ' ' <"$ctx/up-3")| up 1: $(tr '\n' ' ' <"$ctx/up-1"))"
