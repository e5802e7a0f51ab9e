#!/usr/bin/env bash
# Builds the image `stackctl render kubernetes` points its initContainers at: `FROM scratch`,
# the static stackctl at `/stackctl` and nothing else. The waits for dependencies run it, and
# an initContainer copies the binary from it (`stackctl install`) into pods whose compose file
# bind-mounted it from the host.
#
# Idempotent and cheap: the image is labelled with the binary's SHA-256, and an image whose
# label matches is kept as it is. Push it where your cluster pulls from, or give `render` another
# name with `--stackctl-image`.
# Usage: bash compose/kubernetes/build-stackctl-image.sh [IMAGE] [BINARY]
#   IMAGE   default `stackctl:VERSION`, the default of `render kubernetes --stackctl-image`
#   BINARY  default target/x86_64-unknown-linux-musl/release/stackctl (bash tests/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
image=${1:-stackctl:$version}
binary=${2:-target/x86_64-unknown-linux-musl/release/stackctl}
if [ ! -x "$binary" ]; then
  echo "build-stackctl-image: error: \`$binary\` is missing" >&2
  echo "hint: build the static binary first: bash tests/setup.sh" >&2
  exit 2
fi
sum=$(sha256sum "$binary" | cut -d' ' -f1)
have=$(docker image inspect -f '{{index .Config.Labels "org.stackctl.binary-sha256"}}' "$image" 2>/dev/null || true)
if [ "$have" = "$sum" ]; then
  echo "$image"
  exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$binary" "$ctx/stackctl"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY stackctl /stackctl
LABEL org.stackctl.binary-sha256="$sum"
ENTRYPOINT ["/stackctl"]
DOCKERFILE
docker build -q -t "$image" "$ctx" >/dev/null
echo "$image"
