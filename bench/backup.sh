#!/usr/bin/env bash
# Backup, verify and restore of the demo stack (compose/demo/compose.yml) holding MESSAGES
# messages (default 10000, posted through the Rocket.Chat simulator's REST API): the time of
# each command, the archive's size, and the downtime of each — how long the front door (the
# demo has no nginx: Rocket.Chat's /api/info, polled every 50 ms at its container's address)
# does not answer while the command runs. Medians of RUNS runs (default 3).
# Usage: bash bench/backup.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
for b in stackctl mongo-sim rocketchat-sim http-fixture; do
  [ -x "$dir/$b" ] || { echo "bench: build first: bash tests/setup.sh" >&2; exit 2; }
done
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
echo "| operation ($messages messages, median of $runs) | time | front door down |"
echo "|---|---|---|"
for op in backup verify restore; do
  echo "| \`$op\` | $(median <"$ctx/$op.time") s | $(median <"$ctx/$op.down") s |"
done
echo "archive (gzip): $(median <"$ctx/size") bytes"
