# Shared by the benchmarks on the multi-node test bed of tests/swarm-nodes.sh (bench/nodes.sh,
# bench/nodes-lost.sh, bench/probe-nodes.sh). Source it from the repository's root.

# bed_bench NAME FILE RUNS: needs root; sets bin, registry, STACK_IMAGE (the simulators' image,
# built here: stackctl, mongo-sim, rocketchat-sim, http-fixture), image, file, runs (RUNS or the
# default given), ctx (a scratch directory) and project; the bed and the image go at exit.
bed_bench() {
  [ "$(id -u)" = 0 ] || { echo "bench: the test bed needs root" >&2; exit 2; }
  bin=target/x86_64-unknown-linux-musl/release
  source tests/images/require-binaries.sh
  require_binaries bench "$bin" stackctl mongo-sim rocketchat-sim http-fixture
  registry=192.168.213.1:5000
  export STACK_IMAGE="stackctl-bench-$1:$$"
  image=$STACK_IMAGE
  file=$2
  runs=${RUNS:-$3}
  ctx=$(mktemp -d)
  project="stbench${1//-/}$$"
  trap bed_bench_cleanup EXIT
  cp "$bin"/{stackctl,mongo-sim,rocketchat-sim,http-fixture} "$ctx/"
  printf 'FROM scratch\nCOPY stackctl mongo-sim rocketchat-sim http-fixture /\n' >"$ctx/Dockerfile"
  env -u DOCKER_HOST docker build -q -t "$image" "$ctx" >/dev/null
}

bed_bench_cleanup() {
  bash tests/swarm-nodes.sh down >/dev/null 2>&1 || true
  env -u DOCKER_HOST docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
