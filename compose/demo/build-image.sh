#!/usr/bin/env bash
# Builds the demo stack's one image, `FROM scratch`: stackctl, the MongoDB and Rocket.Chat
# simulators, the HTTP fixture (the stand-in for nginx) and node (which the Rocket.Chat
# simulator runs webhook scripts with). Shared by compose/demo/up.sh, bench/ and the tests.
# Usage: bash compose/demo/build-image.sh IMAGE   (after `bash tests/setup.sh`)
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:?usage: build-image.sh IMAGE}
dir=target/x86_64-unknown-linux-musl/release
for b in stackctl mongo-sim rocketchat-sim http-fixture; do
  [ -x "$dir/$b" ] || {
    echo "demo: error: \`$dir/$b\` is missing" >&2
    echo "hint: build the static binaries first: bash tests/setup.sh" >&2
    exit 2
  }
done
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$dir"/{stackctl,mongo-sim,rocketchat-sim,http-fixture} "$ctx/"
printf 'FROM scratch\nCOPY stackctl mongo-sim rocketchat-sim http-fixture /\n' >"$ctx/Dockerfile"
bash tests/images/add-node.sh "$ctx"
docker build -q -t "$image" "$ctx" >/dev/null
