#!/usr/bin/env bash
# Puts this machine's `node` and the shared libraries it links into a `docker build` context
# and appends the matching COPY lines to its Dockerfile. The Rocket.Chat simulator runs
# integration scripts with node, the way Rocket.Chat runs them in its sandbox, and the images
# that carry it are otherwise `FROM scratch`.
# Usage: bash tests/images/add-node.sh CONTEXT_DIR   (CONTEXT_DIR/Dockerfile must exist)
set -euo pipefail

ctx=${1:?usage: add-node.sh CONTEXT_DIR}
node=$(command -v node) || {
  echo "add-node: error: node is needed to run webhook scripts" >&2
  echo "hint: apt-get install nodejs (or run bash tests/setup.sh)" >&2
  exit 2
}
cp "$node" "$ctx/node"
echo 'COPY node /usr/bin/node' >>"$ctx/Dockerfile"
i=0
for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
  cp "$(readlink -f "$lib")" "$ctx/node-lib$i"
  echo "COPY node-lib$i $lib" >>"$ctx/Dockerfile"
  i=$((i + 1))
done
