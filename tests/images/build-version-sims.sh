#!/usr/bin/env bash
# Builds simulator images of given releases, `FROM scratch`, named the way the real images are
# (the repository's last component and the tag are the product and the release), so stackctl's
# image recognition (src/versions/image.rs) reads them as it reads `mongo:8.0` or
# `rocketchat/rocket.chat:7.13.9`; the release is also baked in (env/flag and the OCI version
# label) so the server reports it over the wire:
#   NAMESPACE/mongo:X.Y.Z         mongod's command line → the MongoDB simulator releasing X.Y.Z
#                                 (buildInfo, wire version, FCV rules), data in /data/db
#   NAMESPACE/rocket.chat:X.Y.Z   the Rocket.Chat simulator answering /api/info with X.Y.Z
# Usage: bash tests/images/build-version-sims.sh NAMESPACE mongo:6.0.14 rocket.chat:7.13.9 ...
# (after `bash tests/setup.sh`). Prints the images built, one per line.
set -euo pipefail
cd "$(dirname "$0")/../.."

namespace=${1:?usage: build-version-sims.sh NAMESPACE PRODUCT:VERSION...}
shift
dir=target/x86_64-unknown-linux-musl/release
source tests/images/require-binaries.sh
require_binaries build-version-sims "$dir" mongo-sim mongod-shim rocketchat-sim

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$dir"/{mongo-sim,mongod-shim,rocketchat-sim} "$ctx/"

for wanted in "$@"; do
  product=${wanted%%:*}
  version=${wanted#*:}
  if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "build-version-sims: error: \`$wanted\`: expected PRODUCT:X.Y.Z" >&2
    exit 2
  fi
  label="LABEL org.opencontainers.image.version=\"$version\""
  case $product in
    # `WORKDIR` creates the data directory (a scratch image has none); as with the official
    # image, data outlives the container only on a volume mounted there.
    mongo)
      cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY mongod-shim mongo-sim /
$label
ENV MONGO_SIM_VERSION=$version
WORKDIR /data/db
ENTRYPOINT ["/mongod-shim", "--host-name", "mongo", "--election-delay", "2s"]
CMD ["mongod"]
EOF
      ;;
    rocket.chat)
      cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY rocketchat-sim /
$label
ENV ROCKETCHAT_SIM_VERSION=$version
ENTRYPOINT ["/rocketchat-sim", "--bind", "0.0.0.0", "--booting-for", "3s", "--version", "$version"]
EOF
      bash tests/images/add-node.sh "$ctx"
      ;;
    *)
      echo "build-version-sims: error: unknown product \`$product\`" >&2
      echo "hint: one of mongo, rocket.chat" >&2
      exit 2
      ;;
  esac
  image="$namespace/$product:$version"
  if ! docker build -q -t "$image" "$ctx" >"$ctx/log" 2>&1; then
    cat "$ctx/log" >&2
    exit 1
  fi
  echo "$image"
done
