#!/usr/bin/env bash
# Sourced by the image scripts: stops with a hint when a static binary they copy is missing.
# Usage: require_binaries SCRIPT_NAME DIR BINARY...
require_binaries() {
  local script=$1 dir=$2
  shift 2
  for b in "$@"; do
    if [ ! -x "$dir/$b" ]; then
      echo "$script: error: \`$dir/$b\` is missing" >&2
      echo "hint: build the static binaries first: bash tests/setup.sh" >&2
      exit 2
    fi
  done
}
