#!/usr/bin/env bash
# Builds the stand-ins for the chat stack's images that cannot be pulled here, `FROM scratch`
# with the project's static test binaries (target/x86_64-unknown-linux-musl/release):
#   stackctl-test/chat-mongo:TAG       `mongod` command line → the MongoDB simulator
#   stackctl-test/chat-rocketchat:TAG  the Rocket.Chat simulator, configured by PORT/MONGO_URL/ADMIN_*
#   stackctl-test/chat-hubot:TAG       a bot that logs in over REST and answers `<name> ping`
#   stackctl-test/chat-gitlab:TAG      the GitLab simulator (the `gitlab` profile)
# Each takes the real image's configuration (command line, environment) unchanged, so
# compose/chat/compose.local.yml only swaps images. None contains stackctl: like the real
# images, they get it from the STACKCTL_BIN bind mount.
# Usage: bash tests/images/build-chat-sims.sh [TAG]   (default `local`)
set -euo pipefail
cd "$(dirname "$0")/../.."

tag=${1:-local}
dir=target/x86_64-unknown-linux-musl/release
source tests/images/require-binaries.sh
require_binaries build-chat-sims "$dir" mongo-sim mongod-shim rocketchat-sim hubot-sim gitlab-sim

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$dir"/{mongo-sim,mongod-shim,rocketchat-sim,hubot-sim,gitlab-sim} "$ctx/"

# Each image's Dockerfile is read from stdin; `with_node` also puts node into the image.
build() {
  local image=$1
  cat >"$ctx/Dockerfile"
  [ "${2:-}" != with_node ] || bash tests/images/add-node.sh "$ctx"
  if ! docker build -q -t "$image" "$ctx" >"$ctx/log" 2>&1; then
    cat "$ctx/log" >&2
    exit 1
  fi
}

# The member answers to the name the replica set records (`mongo:27017`): real mongod finds
# that out by resolving it, the simulator is told. Elections take 2 s, as measured on mongod.
build "stackctl-test/chat-mongo:$tag" <<'EOF'
FROM scratch
COPY mongod-shim mongo-sim /
ENTRYPOINT ["/mongod-shim", "--host-name", "mongo", "--election-delay", "2s"]
CMD ["mongod"]
EOF

# Rocket.Chat listens only once MongoDB has a primary (MONGO_URL), then boots for 3 s. It runs
# incoming-webhook scripts (the `gitlab` profile's integrations/gitlab.js) with node.
build "stackctl-test/chat-rocketchat:$tag" with_node <<'EOF'
FROM scratch
COPY rocketchat-sim /
ENTRYPOINT ["/rocketchat-sim", "--bind", "0.0.0.0", "--booting-for", "3s"]
EOF

# /tmp exists in the real bot image; the diver keeps its session file there.
build "stackctl-test/chat-hubot:$tag" <<'EOF'
FROM scratch
COPY hubot-sim /
WORKDIR /tmp
ENTRYPOINT ["/hubot-sim"]
EOF

# GitLab's command line is the local override's (port, allowlist, token, project).
build "stackctl-test/chat-gitlab:$tag" <<'EOF'
FROM scratch
COPY gitlab-sim /
ENTRYPOINT ["/gitlab-sim"]
EOF

echo "stackctl-test/chat-mongo:$tag stackctl-test/chat-rocketchat:$tag stackctl-test/chat-hubot:$tag stackctl-test/chat-gitlab:$tag"
