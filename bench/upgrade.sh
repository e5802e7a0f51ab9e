#!/usr/bin/env bash
# `stackctl upgrade` on the demo stack (compose/demo/compose.yml) with MongoDB and Rocket.Chat
# on the version simulator images (tests/images/build-version-sims.sh), holding MESSAGES
# messages (default 1000, posted through the Rocket.Chat simulator's REST API): the three-hop
# path Rocket.Chat 6.13.1 on MongoDB 5.0.31 → MongoDB 6.0 → Rocket.Chat 7.13.9 → MongoDB 7.0.
# Reports the time of each phase (the pre-upgrade backup and its verification, each hop, the
# final `up` + smoke) from `upgrade --json`'s events, the whole command's time, and the
# downtime: how long the front door (the demo has no nginx: Rocket.Chat's /api/info, polled
# every 50 ms at its container's address) does not answer while it runs. Medians of RUNS runs
# (default 3), each from a fresh stack.
# Usage: bash bench/upgrade.sh   (after `bash tests/setup.sh`, which builds the static binaries)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/x86_64-unknown-linux-musl/release
source tests/images/require-binaries.sh
require_binaries bench "$dir" stackctl mongo-sim mongod-shim rocketchat-sim http-fixture
runs=${RUNS:-3}
messages=${MESSAGES:-1000}
ctx=$(mktemp -d)
ns="stackctl-bench-upgrade-$$"
export BENCH_IMAGE="stackctl-bench-upgrade:$$"
export STACKCTL_PROBE_BINARY="$PWD/$dir/stackctl" STACKCTL_BIN="$PWD/$dir/stackctl"
export ADMIN_PASS=bench-admin-pass BOT_PASS=bench-bot-pass
project="stupgrade$$"
files=(-f compose/demo/compose.yml -f compose/demo/versions.yml -p "$project")
stackctl() { "$dir/stackctl" "$@"; }
at() { MONGO_IMAGE="$ns/mongo:$1" RC_IMAGE="$ns/rocket.chat:$2" "${@:3}"; }
images=()
cleanup() {
  [ -n "${poller:-}" ] && kill "$poller" 2>/dev/null || true
  at 5.0.31 6.13.1 stackctl --quiet down -v -t 0 "${files[@]}" >/dev/null 2>&1 || true
  docker rmi -f "$BENCH_IMAGE" "${images[@]}" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
bash compose/demo/build-image.sh "$BENCH_IMAGE"
mapfile -t images < <(bash tests/images/build-version-sims.sh "$ns" mongo:5.0.31 mongo:6.0.14 \
  mongo:7.0.14 rocket.chat:6.13.1 rocket.chat:7.13.9)

source bench/demo-lib.sh
# The front door's poller: one line per probe, "<unix time> <0|1>".
poll_front_door "$project" >"$ctx/polls" &
poller=$!

now() { date +%s.%N; }

for i in $(seq "$runs"); do
  at 5.0.31 6.13.1 stackctl --quiet down -v -t 0 "${files[@]}" >/dev/null 2>&1 || true
  at 5.0.31 6.13.1 stackctl --quiet up "${files[@]}" --timeout 120s
  post_messages "$project" "$messages"
  t0=$(now)
  at 7.0.14 7.13.9 stackctl --json upgrade "${files[@]}" --via "$ns/mongo:6.0.14" \
    --backup-file "$ctx/pre-$i.tar.gz" >"$ctx/events-$i"
  t1=$(now)
  echo "$t1 - $t0" | bc >>"$ctx/total"
  downtime "$t0" "$t1" "$ctx/polls" >>"$ctx/down"; echo >>"$ctx/down"
  # Phases from the events: the backup's and the verification's own `elapsed_ms`, each hop's.
  python3 - "$ctx/events-$i" "$ctx" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def put(name, ms):
    with open(f"{sys.argv[2]}/phase-{name}", "a") as f: f.write(f"{ms/1000:.3f}\n")
for e in events:
    if e.get("event") == "backup_written": put("backup", e["elapsed_ms"])
    if e.get("event") == "backup_verified": put("verify", e["elapsed_ms"])
    if e.get("event") == "upgrade_finished":
        assert e["ok"], e
        for n, h in enumerate(e["hops"], 1): put(f"hop{n}", h["elapsed_ms"])
PY
  echo "run $i: upgrade $(tail -1 "$ctx/total") s, front door down $(tail -1 "$ctx/down") s" >&2
done
echo "| phase (demo stack, $messages messages, median of $runs) | time |"
echo "|---|---|"
echo "| pre-upgrade \`backup\` | $(median <"$ctx/phase-backup") s |"
echo "| its \`--verify\` (restored beside the stack, smoke) | $(median <"$ctx/phase-verify") s |"
n=1
for title in "MongoDB 5.0 → 6.0 (+ setFCV 6.0)" "Rocket.Chat 6.13 → 7.13.9 (migrations)" "MongoDB 6.0 → 7.0 (+ setFCV 7.0, confirm)"; do
  echo "| hop $n: $title | $(median <"$ctx/phase-hop$n") s |"; n=$((n + 1))
done
echo "| whole \`upgrade\` (incl. final \`up\` + smoke) | $(median <"$ctx/total") s |"
echo "| front door down during it | $(median <"$ctx/down") s |"
