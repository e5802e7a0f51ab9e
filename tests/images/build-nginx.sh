#!/usr/bin/env bash
# Builds a real nginx image without a registry: Debian bookworm's `nginx-light` in a minbase
# root filesystem made by debootstrap, imported with `docker import`. For the chat stack it
# behaves like the official `nginx` image: /etc/nginx/templates/*.template rendered into conf.d
# at start (tests/images/nginx-entrypoint.sh, hence `gettext-base` for envsubst), logs on
# stdout/stderr, `nginx -g 'daemon off;'`, SIGQUIT to stop, and the `openssl` command that the
# official Debian-based image carries (the `certs` job uses it).
#
# Cached: the tag holds a hash of this script and the entrypoint, and an existing image is
# reused (building takes ~30 s and Debian's mirror). Prints the image's name on stdout; progress
# goes to stderr. Needs debootstrap (`bash tests/setup.sh` installs it) and root.
# Usage: bash tests/images/build-nginx.sh [--rebuild]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

hash=$(cat "$here/build-nginx.sh" "$here/nginx-entrypoint.sh" | sha256sum | cut -c1-12)
image="stackctl-test/nginx:bookworm-$hash"
if [ "${1:-}" != --rebuild ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
debootstrap=$(command -v debootstrap || echo /usr/sbin/debootstrap)
if [ ! -x "$debootstrap" ]; then
  echo "build-nginx: error: \`debootstrap\` is not installed" >&2
  echo "hint: run \`bash tests/setup.sh\` (or \`apt-get install debootstrap\`)" >&2
  exit 2
fi

root=$(mktemp -d)
cleanup() {
  # debootstrap mounts /proc and /sys inside the target while it runs; never recurse into them.
  for m in proc sys dev/pts dev; do
    mountpoint -q "$root/$m" 2>/dev/null && as_root umount -l "$root/$m"
  done
  as_root rm -rf --one-file-system "$root"
}
trap cleanup EXIT

started=$(date +%s)
echo "build-nginx: debootstrap bookworm (minbase + nginx-light, openssl, gettext-base) ..." >&2
as_root "$debootstrap" --variant=minbase --include=nginx-light,openssl,gettext-base \
  bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2
  rm -f "$root.log"
  exit 1
}
rm -f "$root.log"

# What the official image does too: logs to the container's output, no distribution site
# listening on port 80 (the chat vhost is then the default server), no package caches.
as_root sh -c "
  set -e
  rm -f '$root/etc/nginx/sites-enabled/default'
  ln -sf /dev/stdout '$root/var/log/nginx/access.log'
  ln -sf /dev/stderr '$root/var/log/nginx/error.log'
  rm -rf '$root'/var/cache/apt/*.bin '$root'/var/cache/apt/archives/*.deb '$root'/var/lib/apt/lists/* \
    '$root'/usr/share/doc/* '$root'/usr/share/man/* '$root'/usr/share/info/* '$root'/usr/share/locale/* \
    '$root'/var/log/*.log '$root'/var/log/apt/*
  install -m 0755 '$here/nginx-entrypoint.sh' '$root/docker-entrypoint.sh'
"

# `docker import` takes the root filesystem; a metadata-only build adds what `--change` cannot
# express (STOPSIGNAL).
base="stackctl-test/nginx-rootfs:$hash"
as_root tar -C "$root" --numeric-owner --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . |
  docker import - "$base" >/dev/null
docker build -q -t "$image" - >"$root.log" 2>&1 <<EOF || { cat "$root.log" >&2; exit 1; }
FROM $base
ENTRYPOINT ["/docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
STOPSIGNAL SIGQUIT
EXPOSE 80
EOF
rm -f "$root.log"
docker rmi "$base" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "build-nginx: $image built in $(($(date +%s) - started)) s ($size bytes)" >&2
echo "$image"
