#!/usr/bin/env bash
# A node lost on the test bed of tests/swarm-nodes.sh: the chat stack on a three-member replica
# set (compose/nodes/replset.yml, one member per node) is brought up, then the node holding the
# PRIMARY loses its network (`swarm-nodes.sh cut N`), and:
#   - time to a new PRIMARY, as `check mongo` on the seed list sees it from the manager's node;
#   - the front door's outage: `check rocketchat` from the web task on the manager's node,
#     polled every 0.5 s until the new PRIMARY, summed over the failed polls;
#   - `stackctl up` again after the loss: its time and exit code;
#   - the node back (`mend`): time until its member is SECONDARY again.
# Medians of RUNS runs (default 3), each on a fresh bed. Needs root.
# Usage: bash bench/nodes-lost.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/bed-lib.sh
bed_bench lost compose/nodes/replset.yml 3
seeds="mongodb://mongo1:27017,mongo2:27017,mongo3:27017/?replicaSet=rs0"
task() { docker ps -q --filter "label=com.docker.swarm.service.name=${project}_$1" | head -n 1; }
check_mongo() { docker exec "$(task mongo1)" /stackctl check mongo --uri "$seeds" --timeout 3s 2>&1 || true; }
primary() { check_mongo | sed -n 's/.*\(mongo[123]\):27017: PRIMARY of.*/\1/p' | sed -n 1p; }

bash tests/swarm-nodes.sh down >/dev/null 2>&1
: >"$ctx/elect"; : >"$ctx/outage"; : >"$ctx/again"; : >"$ctx/rejoin"; codes=""
for run in $(seq "$runs"); do
  host=$(bash tests/swarm-nodes.sh up 2>/dev/null | tail -n 1)
  docker save "$image" | DOCKER_HOST=${host#DOCKER_HOST=} docker load -q >/dev/null
  export DOCKER_HOST=${host#DOCKER_HOST=}
  "$bin/stackctl" --quiet up --engine swarm --registry "$registry" -f "$file" -p "$project" --timeout 180s
  first=$(primary)
  node=${first#mongo}
  [ -n "$node" ] && [ "$node" != 1 ] || { echo "bench: PRIMARY '$first' is not off the manager" >&2; exit 1; }
  web=$(task web)
  bash tests/swarm-nodes.sh cut "$node" 2>/dev/null
  t0=$(now)
  outage=0 elected=""
  while [ -z "$elected" ]; do
    p0=$(now)
    if ! docker exec "$web" /stackctl check rocketchat --url http://rocketchat:3000 --timeout 2s >/dev/null 2>&1; then
      outage=$(echo "$outage + $(now) - $p0 + 0.5" | bc)
    fi
    p=$(primary)
    if [ -n "$p" ] && [ "$p" != "$first" ]; then elected=$(echo "$(now) - $t0" | bc); fi
    [ "$(echo "$(now) - $t0 > 60" | bc)" = 0 ] || { echo "bench: no new PRIMARY in 60 s" >&2; exit 1; }
    sleep 0.5
  done
  echo "$elected" >>"$ctx/elect"
  echo "$outage" >>"$ctx/outage"
  t0=$(now)
  code=0
  "$bin/stackctl" --quiet up --engine swarm --registry "$registry" -f "$file" -p "$project" --timeout 60s >/dev/null 2>&1 || code=$?
  echo "$(now) - $t0" | bc >>"$ctx/again"
  codes="$codes $code"
  echo "bench: run $run: new PRIMARY $elected s, outage $outage s, up again exit $code" >&2
  bash tests/swarm-nodes.sh mend "$node" 2>/dev/null
  t0=$(now)
  until check_mongo | grep -q "$first:27017 SECONDARY"; do
    [ "$(echo "$(now) - $t0 > 90" | bc)" = 0 ] || { echo "bench: $first did not rejoin in 90 s" >&2; exit 1; }
    sleep 0.5
  done
  echo "$(now) - $t0" | bc >>"$ctx/rejoin"
  echo "bench: run $run: new PRIMARY $(tail -n 1 "$ctx/elect") s, outage $(tail -n 1 "$ctx/outage") s, up again $(tail -n 1 "$ctx/again") s (exit $code), rejoin $(tail -n 1 "$ctx/rejoin") s" >&2
  unset DOCKER_HOST
  bash tests/swarm-nodes.sh down >/dev/null 2>&1
done

echo "node with the PRIMARY cut off to a new PRIMARY: $(median <"$ctx/elect") s"
echo "front door (check rocketchat through web) outage meanwhile: $(median <"$ctx/outage") s"
echo "up again after the loss: $(median <"$ctx/again") s (exit codes:$codes)"
echo "node back to its member SECONDARY: $(median <"$ctx/rejoin") s"
echo "(medians of $runs runs; all: elect $(tr '\n' ' ' <"$ctx/elect")| outage $(tr '\n' ' ' <"$ctx/outage")| again $(tr '\n' ' ' <"$ctx/again")| rejoin $(tr '\n' ' ' <"$ctx/rejoin"))"
