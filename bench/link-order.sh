#!/usr/bin/env bash
# Regenerates `.cargo/hot-text.ld`: the functions a check runs, which the static musl build links
# first and side by side, in an output section of their own (`.text.hot`, placed before `.text`
# by a linker script that only adds to ld's default one; `.cargo/config.toml` passes it).
#
# Why: the kernel maps an executable's text in 64 KiB windows around each page fault
# ("fault-around"), and every mapped page counts in the process's RSS. Linked in the compiler's
# order, the ~230 pages `check tcp` executes are spread over ~60 windows of the 6 MB text, so
# `check tcp` mapped 3.8 MB of code to run 0.9 MB of it. Linked together, they fill ~15 windows
# (README, Performance).
#
# How: a release build with symbols (its own target directory; the same code as the stripped
# build), each profiled command run under `valgrind --tool=callgrind`, and every function it
# entered written as an input-section pattern, `*(.text.<mangled symbol>)`, in the order of the
# commands below (the health checks first). Hashes that change with unrelated edits and between
# profiles (legacy-mangled `17h<hash>E`, LLVM's `.<n>` suffixes) become `*`, so the file stays
# valid while the code changes; a function it no longer names is just linked where the compiler
# put it. Re-run after a dependency or toolchain update, then `bash bench/checks.sh`.
# Usage: bash bench/link-order.sh        (needs valgrind; ~10 min for the build on 2 cores)
#        BIN=path/to/unstripped/stackctl bash bench/link-order.sh   (profile a build you have)
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
dir=target/link-order
command -v valgrind >/dev/null || { echo "link-order: valgrind is needed" >&2; exit 2; }
bin=${BIN:-$dir/$target/release/stackctl}
if [ -z "${BIN:-}" ]; then
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 CARGO_TARGET_DIR=$dir \
    cargo build --release --target "$target" -p stackctl
fi
out=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$out"' EXIT

# A real HTTP server on loopback (also the TCP target); a port nothing listens on.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$out" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done

profiles=(
  "check tcp 127.0.0.1:$port"
  "check tcp tcp://127.0.0.1:$closed --timeout 1s"
  "--version"
  "check http http://127.0.0.1:$port/"
  "check http http://127.0.0.1:$port/missing"
  "wait --timeout 5s tcp://127.0.0.1:$port http://127.0.0.1:$port/"
)
n=0
for args in "${profiles[@]}"; do
  n=$((n + 1))
  # shellcheck disable=SC2086 # the arguments are split on purpose
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$out/$n.cg" "$bin" $args \
    >/dev/null 2>&1 || true
done

python3 - "$out" "$n" > .cargo/hot-text.ld <<'PY'
import re, sys
out, n = sys.argv[1], int(sys.argv[2])
seen = {}
for i in range(1, n + 1):
    names = {}
    for line in open(f"{out}/{i}.cg"):
        # `fn=(id) name` defines an id, `fn=(id)` reuses it (callgrind's name compression).
        m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        if m.group(2):
            names[m.group(1)] = m.group(2)
        if line.startswith("fn=") and m.group(1) in names:
            name = names[m.group(1)]
            if name.startswith("0x") or name.startswith("("):
                continue  # no symbol (assembly without one) or valgrind's own "(below main)"
            name = re.sub(r"'\d+$", "", name)  # callgrind's recursion depth, not the symbol's
            name = re.sub(r"17h[0-9a-f]{16}E$", "17h*E", name)
            name = re.sub(r"\.\d+$", ".*", name)
            seen.setdefault(".text." + name, None)
print("/* Written by bench/link-order.sh: the functions `check`, `wait` and `--version` run. */")
print("SECTIONS {\n  .text.hot : {")
print("\n".join(f"    *({name})" for name in seen))
print("  }\n} INSERT BEFORE .text;")
PY
echo "link-order: $(grep -c '^    \*(' .cargo/hot-text.ld) functions from ${#profiles[@]} commands in .cargo/hot-text.ld" >&2
