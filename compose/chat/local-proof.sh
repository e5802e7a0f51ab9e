#!/usr/bin/env bash
# The chat stack (compose/chat/compose.yml) on this machine, without a registry: builds the
# local images (a real nginx from Debian packages, cached; the MongoDB and Rocket.Chat
# simulators and a stand-in bot), brings compose.yml + compose.local.yml up, waits until every
# service is ready (healthy, or a job that exited 0) and prints the time that took.
#
# Usage: bash compose/chat/local-proof.sh [up|down]
#   CHAT_PROOF_WITH=stackctl (default) | docker-compose — who brings it up (both merge the
#   override file by compose's rules).
#   COMPOSE_PROFILES=gitlab — also the `gitlab` profile: the GitLab simulator, the Rocket.Chat
#   incoming webhook running integrations/gitlab.js, and the project hook pointing at it.
#   HTTP_PORT / HTTPS_PORT (default 8080 / 8443), DOMAIN (default chat.example.test),
#   ADMIN_PASS / BOT_PASS (default: random for this run).
# Then: curl --cacert <(docker exec chatproof_nginx_1 cat /etc/nginx/certs/fullchain.pem) \
#         --resolve chat.example.test:8443:127.0.0.1 https://chat.example.test:8443/api/info
set -euo pipefail
cd "$(dirname "$0")/../.."

project=chatproof
release=target/x86_64-unknown-linux-musl/release
with=${CHAT_PROOF_WITH:-stackctl}
files=(-f compose/chat/compose.yml -f compose/chat/compose.local.yml)

export STACKCTL_BIN="$PWD/$release/stackctl"
export LOCAL_IMAGES_TAG=local
export DOMAIN=${DOMAIN:-chat.example.test}
export ADMIN_EMAIL=${ADMIN_EMAIL:-admin@$DOMAIN}
export HTTP_PORT=${HTTP_PORT:-8080} HTTPS_PORT=${HTTPS_PORT:-8443}
export ADMIN_PASS=${ADMIN_PASS:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
export BOT_PASS=${BOT_PASS:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
# The `gitlab` profile: the token an administrator would have created after GitLab's first
# boot (the simulator is started knowing it), the project, the webhook's shared secret.
export GITLAB_API_TOKEN=${GITLAB_API_TOKEN:-glpat-$(head -c 15 /dev/urandom | base64 | tr -d '/+=')}
export GITLAB_WEBHOOK_TOKEN=${GITLAB_WEBHOOK_TOKEN:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
export GITLAB_PROJECT=${GITLAB_PROJECT:-ops/chat}
export GITLAB_HTTP_PORT=${GITLAB_HTTP_PORT:-8929} GITLAB_SSH_PORT=${GITLAB_SSH_PORT:-2224}

env_file=(--env-file compose/chat/.env.example)
compose=(docker-compose "${env_file[@]}" "${files[@]}" -p "$project")
stackctl=("$STACKCTL_BIN")
case "$with" in
  docker-compose | stackctl) ;;
  *) echo "local-proof: error: CHAT_PROOF_WITH must be \`docker-compose\` or \`stackctl\`" >&2; exit 2 ;;
esac

if [ "${1:-up}" = down ]; then
  export LOCAL_NGINX_IMAGE=${LOCAL_NGINX_IMAGE:-unused}
  if [ "$with" = stackctl ]; then
    exec "${stackctl[@]}" down "${files[@]}" -p "$project" "${env_file[@]}" -v --remove-orphans
  fi
  exec "${compose[@]}" down -v --remove-orphans
fi

[ -x "$STACKCTL_BIN" ] || { echo "local-proof: error: build first: bash tests/setup.sh" >&2; exit 2; }
LOCAL_NGINX_IMAGE=$(bash tests/images/build-nginx.sh)
export LOCAL_NGINX_IMAGE
bash tests/images/build-chat-sims.sh "$LOCAL_IMAGES_TAG" >/dev/null

# Ready = every service of the files has a container that is healthy (with a healthcheck),
# running (without one) or exited 0 (a job).
# The services of the active profiles (docker-compose 1.29's `config --services` lists all).
services=$("${stackctl[@]}" graph "${files[@]}" -p "$project" "${env_file[@]}" | awk '{print $2}')
not_ready() {
  local s id state
  for s in $services; do
    id=$(docker ps -aq --filter "label=com.docker.compose.project=$project" \
      --filter "label=com.docker.compose.service=$s" | head -1)
    [ -n "$id" ] || { echo "$s"; continue; }
    state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
    case "$state" in
      "running 0 healthy" | "running 0 " | "exited 0 ") ;;
      *) echo "$s ($state)" ;;
    esac
  done
}

started=$(date +%s.%N)
if [ "$with" = stackctl ]; then
  # stackctl returns once everything is ready by its own probes (Docker's health status
  # catches up at the next healthcheck interval).
  "${stackctl[@]}" up "${files[@]}" -p "$project" "${env_file[@]}" --timeout 5m
else
  # docker-compose returns once the services others depend on are ready; the rest (nginx, the
  # bot) is ready when Docker says so.
  "${compose[@]}" up -d
  deadline=$(($(date +%s) + 300))
  while waiting=$(not_ready) && [ -n "$waiting" ]; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      printf 'local-proof: error: not ready after 5 min:\n%s\n' "$waiting" >&2
      exit 3
    fi
    sleep 0.2
  done
fi
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
printf 'local-proof: all %d services ready in %.1f s (%s)\n' "$(echo "$services" | wc -w)" "$elapsed" "$with" >&2
docker ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}}\t{{.Status}}' >&2
echo "remove it with: bash compose/chat/local-proof.sh down" >&2
