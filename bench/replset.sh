#!/usr/bin/env bash
# A three-member replica set of MongoDB simulator containers on one bridge network (the
# single-machine form of tests/replset.rs), default settings (heartbeat 2 s, election timeout
# 10 s):
#   - `stackctl init replica-set` of the three until a PRIMARY is elected;
#   - (not timed) until the two others are SECONDARY (initial sync done);
#   - the PRIMARY's container stopped (`docker stop`) until another member is PRIMARY, as
#     `stackctl check mongo` on the seed list sees it (polled every 0.2 s).
# Medians of RUNS runs (default 5), each on fresh containers.
# Usage: bash bench/replset.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/x86_64-unknown-linux-musl/release
image="stackctl-bench-replset:$$"
net="stbenchrs$$"
runs=${RUNS:-5}
ctx=$(mktemp -d)
names=()
cleanup() {
  for n in "${names[@]}"; do docker rm -f -v "$n" >/dev/null 2>&1 || true; done
  docker network rm "$net" >/dev/null 2>&1 || true
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT

cp "$bin"/{stackctl,mongo-sim} "$ctx/" ||
  { echo "bench: the static binaries are missing: bash tests/setup.sh" >&2; exit 2; }
printf 'FROM scratch\nCOPY stackctl mongo-sim /\n' >"$ctx/Dockerfile"
docker build -q -t "$image" "$ctx" >/dev/null
docker network create "$net" >/dev/null

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
seeds="mongodb://m1:27017,m2:27017,m3:27017/?replicaSet=rs0"
# The member check mongo names PRIMARY (m1..m3), asked from container $1.
primary() {
  local out
  out=$(docker exec "$1" /stackctl check mongo --uri "$seeds" --timeout 2s 2>&1) || true
  sed -n 's/.*\(m[123]\):27017: PRIMARY of.*/\1/p' <<<"$out" | sed -n 1p
}

: >"$ctx/init"; : >"$ctx/failover"
for run in $(seq "$runs"); do
  names=()
  for i in 1 2 3; do
    n="stbenchrs$$-$run-m$i"
    names+=("$n")
    docker run -d --name "$n" --network "$net" --network-alias "m$i" --hostname "m$i" -v /data/db \
      "$image" /mongo-sim --bind 0.0.0.0 --port 27017 --replSet rs0 --dbpath /data/db >/dev/null
  done
  t0=$(now)
  docker exec "${names[0]}" /stackctl --quiet init replica-set --uri mongodb://m1:27017 --name rs0 \
    --member m1:27017 --member m2:27017 --member m3:27017 --timeout 60s
  t1=$(now)
  echo "$t1 - $t0" | bc >>"$ctx/init"
  # The two others finish their initial sync (STARTUP2 → SECONDARY) before the PRIMARY goes:
  # a member still in STARTUP2 cannot be elected.
  for _ in $(seq 100); do
    out=$(docker exec "${names[0]}" /stackctl check mongo --uri "$seeds" --timeout 2s 2>&1) || true
    [ "$(grep -o 'SECONDARY' <<<"$out" | wc -l)" -ge 2 ] && ! grep -q STARTUP2 <<<"$out" && break
    sleep 0.2
  done
  first=$(primary "${names[0]}")
  [ -n "$first" ] || { echo "bench: no PRIMARY after init" >&2; exit 1; }
  idx=${first#m}
  asker=${names[$((idx % 3))]}
  t0=$(now)
  docker stop -t 5 "${names[$((idx - 1))]}" >/dev/null
  while :; do
    p=$(primary "$asker")
    if [ -n "$p" ] && [ "$p" != "$first" ]; then break; fi
    if [ "$(echo "$(now) - $t0 > 60" | bc)" = 1 ]; then echo "bench: no new PRIMARY in 60 s" >&2; exit 1; fi
    sleep 0.2
  done
  t1=$(now)
  echo "$t1 - $t0" | bc >>"$ctx/failover"
  for n in "${names[@]}"; do docker rm -f -v "$n" >/dev/null; done
done

echo "init replica-set (3 members) to a PRIMARY: $(median <"$ctx/init") s"
echo "PRIMARY stopped to a new PRIMARY: $(median <"$ctx/failover") s"
echo "(medians of $runs runs; all: init $(tr '\n' ' ' <"$ctx/init")| failover $(tr '\n' ' ' <"$ctx/failover"))"
