#!/usr/bin/env bash
# Time until the chat stack's local proof (compose/chat/compose.yml + compose.local.yml) is
# ready under `stackctl up`: without and with the `gitlab` profile (the GitLab simulator boots
# for 5 s; the two hook jobs follow), from nothing each time (`down -v` between runs), and
# `up` again on the unchanged running stack. The times are local-proof.sh's: `stackctl up`
# alone, not the image builds before it. Medians of RUNS runs each (default 5).
# Usage: bash bench/chat-proof.sh   (after `bash tests/setup.sh`)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"; bash compose/chat/local-proof.sh down >/dev/null 2>&1 || true' EXIT
# The same passwords for every run, so that `up` again finds nothing to change.
export ADMIN_PASS=bench-admin-pass-$$ BOT_PASS=bench-bot-pass-$$
export GITLAB_API_TOKEN=glpat-bench-$$ GITLAB_WEBHOOK_TOKEN=bench-hook-secret-$$
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
seconds() { grep -o 'ready in [0-9.]* s' | grep -o '[0-9.]*'; }
for profile in none gitlab; do
  [ "$profile" = gitlab ] && export COMPOSE_PROFILES=gitlab || unset COMPOSE_PROFILES
  for i in $(seq "$runs"); do
    bash compose/chat/local-proof.sh 2>&1 | tee "$out/log" | seconds >>"$out/$profile"
    grep -o 'all [0-9]* services' "$out/log" | grep -o '[0-9]*' >"$out/$profile-count"
    bash compose/chat/local-proof.sh 2>&1 | seconds >>"$out/$profile-again"
    bash compose/chat/local-proof.sh down >/dev/null 2>&1
    echo "$profile run $i: $(tail -1 "$out/$profile") s, again $(tail -1 "$out/$profile-again") s" >&2
  done
done
echo "| chat stack, local proof | median time to ready ($runs runs) | \`up\` again, unchanged |"
echo "|---|---|---|"
echo "| $(cat "$out/none-count") services | $(median <"$out/none") s | $(median <"$out/none-again") s |"
echo "| \`--profile gitlab\`, $(cat "$out/gitlab-count") services | $(median <"$out/gitlab") s | $(median <"$out/gitlab-again") s |"
