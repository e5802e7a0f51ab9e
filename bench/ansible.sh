#!/usr/bin/env bash
# Durations of the Ansible role (ansible/) on this machine, `connection: local`, on the chat
# stack's local proof: a first run from nothing, a second (idempotent) run, and a run with a
# new domain; with each run's `changed=` count. Medians of RUNS rounds (default 3), torn down
# between rounds. Usage: bash bench/ansible.sh   (after `bash tests/setup.sh`)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
work=$(mktemp -d)
project=ansbench$$
bin=target/x86_64-unknown-linux-musl/release/stackctl
teardown() {
  [ -d "$work/chat" ] || return 0
  (cd "$work/chat" && "$work/bin/stackctl" --quiet down --file=compose.yml --file=compose.local.yml \
    -p "$project" -v -t 0 >/dev/null 2>&1) || true
  rm -rf "$work/chat"
}
trap 'teardown; docker rmi -f $(bash tests/images/build-chat-sims.sh ansbench 2>/dev/null) >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
nginx=$(bash tests/images/build-nginx.sh)
bash tests/images/build-chat-sims.sh ansbench >/dev/null
mkdir -p "$work/bin"
printf 'chat:\n  hosts:\n    localhost:\n      ansible_connection: local\n' >"$work/inventory.yml"
cat >"$work/vars.json" <<JSON
{"ansible_python_interpreter": "$PWD/target/venv/bin/python",
 "stackctl_binary_src": "$PWD/$bin", "stackctl_binary_sha256": "$(sha256sum "$bin" | cut -d' ' -f1)",
 "stackctl_binary_dest": "$work/bin/stackctl", "stackctl_dir": "$work/chat", "stackctl_project": "$project",
 "stackctl_http_port": 18480, "stackctl_https_port": 18843, "stackctl_compose_extra_files": ["compose.local.yml"],
 "stackctl_env": {"LOCAL_IMAGES_TAG": "ansbench", "LOCAL_NGINX_IMAGE": "$nginx"},
 "stackctl_admin_pass": "bench-admin-$$", "stackctl_bot_pass": "bench-bot-$$"}
JSON
play() {
  local t0 out
  t0=$(date +%s.%N)
  out=$(cd ansible && ../target/venv/bin/ansible-playbook -i "$work/inventory.yml" -e "@$work/vars.json" "$@" site.yml)
  printf '%s %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$(grep -o 'changed=[0-9]*' <<<"$out" | tail -1)"
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
for i in $(seq "$runs"); do
  play -e stackctl_domain=chat.example.test >>"$work/first"
  play -e stackctl_domain=chat.example.test >>"$work/second"
  play -e stackctl_domain=talk.example.test >>"$work/domain"
  echo "round $i: first $(tail -1 "$work/first"), second $(tail -1 "$work/second"), new domain $(tail -1 "$work/domain")" >&2
  teardown
done
echo "| ansible-playbook site.yml (local proof) | median ($runs rounds) | changed |"
echo "|---|---|---|"
for k in first second domain; do
  printf '| %s | %.1f s | %s |\n' "$k" "$(cut -d' ' -f1 "$work/$k" | median)" "$(cut -d' ' -f2 "$work/$k" | sort -u | tr '\n' ' ')"
done
