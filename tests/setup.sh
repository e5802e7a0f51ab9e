#!/usr/bin/env bash
# Prepares a fresh Debian machine to build and test stackctl, then builds the static binaries.
# Idempotent: run it as often as you like. Needs root (or sudo) only for missing packages.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: musl-gcc links the static binaries (ring compiles C); hyperfine and GNU time
# are for bench/; docker-compose is the interop reference; node runs the GitLab webhook script's
# tests (tests/gitlab-script, run by `cargo test`); debootstrap builds the local nginx image of
# the chat stack's proof (tests/images/build-nginx.sh). Docker itself must already run.
missing=()
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
command -v curl >/dev/null || missing+=(curl)
command -v bc >/dev/null || missing+=(bc)
command -v node >/dev/null || missing+=(nodejs)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
# xmllint validates JUnit reports against tests/schemas/junit.xsd; wrk loads `serve`'s /metrics.
command -v xmllint >/dev/null || missing+=(libxml2-utils)
command -v wrk >/dev/null || missing+=(wrk)
# The registry of the three-node Swarm test bed (tests/swarm-nodes.sh): distribution 2.8.
command -v docker-registry >/dev/null || missing+=(docker-registry)
# Headless Chromium loads `serve`'s status page in tests/status_page.rs (and takes its screenshot).
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python tools (Ansible and its linters), pinned in tests/requirements.txt, in a virtualenv of
# the project's own: target/venv. pip does nothing when they are already installed.
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "setup: installing python3-venv" >&2
  as_root apt-get update -qq
  as_root apt-get install -y -qq python3-venv >/dev/null
fi
[ -x target/venv/bin/pip ] || python3 -m venv target/venv
target/venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt

if ! rustup target list --installed | grep -qx "$target"; then
  echo "setup: adding the $target target" >&2
  rustup target add "$target"
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: error: the Docker daemon is not reachable; the container tests need it" >&2
  echo "hint: start it (systemctl start docker) or check DOCKER_HOST" >&2
  exit 2
fi

# Static binaries: stackctl itself with the tiny test servers (built together, exactly as the
# container tests ask for them, so cargo's feature resolution — and the binary — is the same),
# then the simulators (which use the MongoDB driver with other features).
cargo build --release --target "$target" -p stackctl -p stackctl-fixtures
cargo build --release --target "$target" -p mongo-sim -p rocketchat-sim -p gitlab-sim
echo "setup: static binaries in target/$target/release/" >&2

# The image `stackctl render kubernetes` names by default (`stackctl:VERSION`): the static binary
# `FROM scratch`; kept as it is while the binary is unchanged.
image=$(bash compose/kubernetes/build-stackctl-image.sh)
echo "setup: $image built (the stackctl image of \`render kubernetes\`)" >&2
