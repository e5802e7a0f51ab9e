#!/usr/bin/env bash
# Brings up the demo chat stack with stackctl: MongoDB and Rocket.Chat are simulators (no
# registry is needed), everything else is what a real stack does — replica-set init, admin,
# bot user, room, and a bot whose healthcheck is the "diver" (`check rocketchat-room`).
# Usage: bash compose/demo/up.sh [stackctl up options]; `bash compose/demo/up.sh down` removes it.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=target/x86_64-unknown-linux-musl/release
export BENCH_IMAGE=stackctl-demo:latest
stackctl=("$dir/stackctl")
file=compose/demo/compose.yml
if [ "${1:-}" = down ]; then
  exec "${stackctl[@]}" down -f "$file" -p chatdemo
fi
for b in stackctl mongo-sim rocketchat-sim http-fixture; do
  [ -x "$dir/$b" ] || { echo "demo: build first: bash tests/setup.sh" >&2; exit 2; }
done
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$dir"/{stackctl,mongo-sim,rocketchat-sim,http-fixture} "$ctx/"
printf 'FROM scratch\nCOPY stackctl mongo-sim rocketchat-sim http-fixture /\n' > "$ctx/Dockerfile"
# The Rocket.Chat simulator runs the webhook's script with node, as Rocket.Chat runs it in its
# sandbox: the host's node and the libraries it links go into the image.
node=$(command -v node) || { echo "demo: node is needed (apt-get install nodejs)" >&2; exit 2; }
cp "$node" "$ctx/node" && echo 'COPY node /usr/bin/node' >> "$ctx/Dockerfile"
i=0
for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
  cp "$(readlink -f "$lib")" "$ctx/lib$i" && echo "COPY lib$i $lib" >> "$ctx/Dockerfile"
  i=$((i + 1))
done
docker build -q -t "$BENCH_IMAGE" "$ctx" >/dev/null
"${stackctl[@]}" up -f "$file" -p chatdemo "$@"
"${stackctl[@]}" status -f "$file" -p chatdemo
echo "remove it with: bash compose/demo/up.sh down" >&2
