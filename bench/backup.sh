#!/usr/bin/env bash
# Backup, verify and restore of the demo stack (compose/demo/compose.yml) holding MESSAGES
# messages (default 10000, posted through the Rocket.Chat simulator's REST API): the time of
# each command, the archive's size, and the downtime of each — how long the front door (the
# demo has no nginx: Rocket.Chat's /api/info, polled every 50 ms at its container's address)
# does not answer while the command runs. Then a backup SIGKILLed once it has stopped the
# writers: how long the guard takes from the kill to the front door answering again, and to
# the whole stack being back and healthy (the guard container exits then). Medians of RUNS runs
# (default 3).
# Usage: bash bench/backup.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
source tests/images/require-binaries.sh
require_binaries bench "$dir" stackctl mongo-sim rocketchat-sim http-fixture
runs=${RUNS:-3}
messages=${MESSAGES:-10000}
ctx=$(mktemp -d)
export BENCH_IMAGE="stackctl-bench-backup:$$"
export STACKCTL_PROBE_BINARY="$PWD/$dir/stackctl"
export ADMIN_PASS=bench-admin-pass BOT_PASS=bench-bot-pass
project="stbackup$$"
file=compose/demo/compose.yml
stackctl() { "$dir/stackctl" "$@"; }
cleanup() {
  [ -n "${poller:-}" ] && kill "$poller" 2>/dev/null || true
  stackctl --quiet down -v -f "$file" -p "$project" >/dev/null 2>&1 || true
  docker rmi -f "$BENCH_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
bash compose/demo/build-image.sh "$BENCH_IMAGE"
stackctl --quiet up -f "$file" -p "$project" --timeout 120s

source bench/demo-lib.sh
post_messages "$project" "$messages"

# The front door's poller: one line per probe, "<unix time> <0|1>".
poll_front_door "$project" >"$ctx/polls" &
poller=$!

now() { date +%s.%N; }
measure() { # NAME COMMAND...: times it, records the downtime
  local name=$1; shift
  local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc >>"$ctx/$name.time"
  downtime "$t0" "$t1" "$ctx/polls" >>"$ctx/$name.down"; echo >>"$ctx/$name.down"
}

catalog=checks/demo.yml
for i in $(seq "$runs"); do
  archive="$ctx/backup-$i.tar.gz"
  measure backup stackctl --quiet backup -f "$file" -p "$project" -o "$archive"
  stat -c %s "$archive" >>"$ctx/size"
  measure verify stackctl --quiet backup -f "$file" -p "$project" --verify "$archive" -c "$catalog"
  measure restore stackctl --quiet restore -f "$file" -p "$project" "$archive"
  echo "run $i: backup $(tail -1 "$ctx/backup.time") s (down $(tail -1 "$ctx/backup.down") s)," \
    "verify $(tail -1 "$ctx/verify.time") s (down $(tail -1 "$ctx/verify.down") s)," \
    "restore $(tail -1 "$ctx/restore.time") s (down $(tail -1 "$ctx/restore.down") s)," \
    "archive $(tail -1 "$ctx/size") bytes" >&2
done
# A backup SIGKILLed right after it stopped the writers: the guard brings the stack back.
for i in $(seq "$runs"); do
  : >"$ctx/killed.err"
  "$dir/stackctl" backup -f "$file" -p "$project" -o "$ctx/killed-$i.tar" 2>"$ctx/killed.err" &
  pid=$!
  until grep -q '^stopped ' "$ctx/killed.err"; do
    kill -0 "$pid" 2>/dev/null || { cat "$ctx/killed.err" >&2; exit 1; }
    sleep 0.05
  done
  kill -KILL "$pid"; t0=$(now); wait "$pid" 2>/dev/null || true
  until [ "$(docker inspect -f '{{.State.Status}}' "$project-backup-guard" 2>/dev/null)" = exited ]; do
    [ "$(echo "$(now) - $t0 > 300" | bc)" = 1 ] && { echo "bench: the guard did not finish" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now)
  echo "$t1 - $t0" | bc >>"$ctx/guard.all"
  awk -v a="$t0" '$1>=a && $2==1 { printf "%.2f\n", $1-a; exit }' "$ctx/polls" >>"$ctx/guard.door"
  [ -e "$ctx/killed-$i.tar" ] && { echo "bench: a killed backup left its final file" >&2; exit 1; }
  echo "kill $i: front door back $(tail -1 "$ctx/guard.door") s, stack back $(tail -1 "$ctx/guard.all") s" >&2
done

echo "| operation ($messages messages, median of $runs) | time | front door down |"
echo "|---|---|---|"
for op in backup verify restore; do
  echo "| \`$op\` | $(median <"$ctx/$op.time") s | $(median <"$ctx/$op.down") s |"
done
echo "archive (gzip): $(median <"$ctx/size") bytes"
echo "| backup SIGKILLed after stopping the writers: the guard brings the front door back | $(median <"$ctx/guard.door") s | |"
echo "| ... and the whole stack, healthy (the guard exits) | $(median <"$ctx/guard.all") s | |"
