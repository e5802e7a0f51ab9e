#!/usr/bin/env bash
# A three-node Docker Swarm on one machine, to try (and test) stackctl across nodes: three
# dockerd, each in a network namespace of its own, joined by a host bridge, with a registry (Debian's
# `docker-registry`, distribution 2.8) on the bridge that every node trusts (insecure-registries).
#
#   bash tests/swarm-nodes.sh up     # idempotent; the LAST line is the manager's DOCKER_HOST=...
#   bash tests/swarm-nodes.sh down   # leaves the host as found, also after a killed run
#   bash tests/swarm-nodes.sh env    # the manager's DOCKER_HOST=... line (fails when not up)
#   SWARM_NODES=1 bash tests/swarm-nodes.sh up   # fewer nodes (1-3; bench/nodes.sh compares)
#   bash tests/swarm-nodes.sh cut N  # node N loses its network (a machine lost, as its peers see it)
#   bash tests/swarm-nodes.sh mend N # node N's network back
#
# Needs root (namespaces, a bridge, one iptables rule), dockerd and docker-registry. The host's
# own daemon is never touched: its config is not read, its iptables chains get one rule
# (DOCKER-USER, so the bridge forwards), which `down` removes.
#
# Fixed names, so that `down` finds everything whatever ran `up` (pid files, state under
# /run/stackctl-nodes): namespaces stkn1..stkn3, bridge stknbr0 (192.168.213.1/24), nodes at
# 192.168.213.11..13, registry at 192.168.213.1:5000, containers under the cgroup
# stackctl-nodes-nN. Node N's daemon listens on unix:///run/stackctl-nodes/nN/docker.sock;
# stkn1 is the manager, and every node carries the label `stackctl.node=nN`.
set -euo pipefail

STATE=/run/stackctl-nodes
BRIDGE=stknbr0
NET=192.168.213
REGISTRY="$NET.1:5000"
# Every node `down` looks for, and the ones `up` makes.
ALL=(1 2 3)
case "${SWARM_NODES:-3}" in
  1 | 2 | 3) ;;
  *)
    echo "swarm-nodes: error: SWARM_NODES=${SWARM_NODES} is not 1, 2 or 3" >&2
    exit 2
    ;;
esac
NODES=($(seq 1 "${SWARM_NODES:-3}"))

log() { echo "swarm-nodes: $*" >&2; }
die() {
  echo "swarm-nodes: error: $1" >&2
  [ $# -lt 2 ] || echo "hint: $2" >&2
  exit 1
}

sock() { echo "unix://$STATE/n$1/docker.sock"; }
dk() {
  local n=$1
  shift
  DOCKER_HOST=$(sock "$n") docker "$@"
}

# The pid in a pid file, if that process still runs.
live_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Processes whose command line names our state directory (fuse-overlayfs mounts, containerd,
# shims, dockerd): ours by construction, whatever their name.
our_processes() {
  # Bash builtins only: a grep spawned here would match itself.
  local d pid args
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = $$ ] && continue
    mapfile -d "" args 2>/dev/null <"$d/cmdline" || continue
    if [[ "${args[*]}" == *"$STATE/"* ]]; then echo "$pid"; fi
  done
}

# Processes in the containers' cgroups of node N (cgroup v1: any controller lists them all).
cgroup_processes() {
  local n=$1 f
  for f in /sys/fs/cgroup/pids/stackctl-nodes-n"$n"/*/cgroup.procs /sys/fs/cgroup/stackctl-nodes-n"$n"/*/cgroup.procs; do
    [ -f "$f" ] && cat "$f"
  done
  return 0
}

down() {
  local n pid pids i
  # Containers first (so that nothing restarts them), then the daemons, then the rest.
  for n in "${ALL[@]}"; do
    pids=$(cgroup_processes "$n")
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  done
  for n in "${ALL[@]}"; do
    if pid=$(live_pid "$STATE/n$n/docker.pid"); then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if pid=$(live_pid "$STATE/registry.pid"); then kill -TERM "$pid" 2>/dev/null || true; fi
  for i in $(seq 1 50); do
    pids=$(our_processes)
    [ -n "$pids" ] || break
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  [ -z "$(our_processes)" ] || die "processes of the test bed survived SIGKILL: $(our_processes | tr '\n' ' ')"
  # Mounts under the state dir (overlay layers, the daemons' netns and shm mounts), deepest first.
  if [ -d "$STATE" ]; then
    awk -v s="$STATE/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  fi
  for n in "${ALL[@]}"; do
    ip link del "stkn${n}h" 2>/dev/null || true
    if [ -e "/var/run/netns/stkn$n" ]; then ip netns del "stkn$n" 2>/dev/null || true; fi
    # The daemon's cgroup parent (cgroupfs makes it in every controller).
    find /sys/fs/cgroup -maxdepth 3 -depth -type d -path "*/stackctl-nodes-n$n*" -exec rmdir {} + 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  while iptables -C DOCKER-USER -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do
    iptables -D DOCKER-USER -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  done
  rm -rf "$STATE"
}

# True when the bed is up: three daemons answering, a swarm of three ready nodes, the registry.
healthy() {
  local n ready
  [ "$(cat "$STATE/nodes" 2>/dev/null)" = "${#NODES[@]}" ] || return 1
  for n in "${NODES[@]}"; do
    live_pid "$STATE/n$n/docker.pid" >/dev/null || return 1
  done
  live_pid "$STATE/registry.pid" >/dev/null || return 1
  ready=$(timeout 10 env DOCKER_HOST="$(sock 1)" docker node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$') || return 1
  [ "$ready" = "${#NODES[@]}" ] || return 1
  timeout 5 curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1
}

# Waits (bounded) until node N's daemon answers.
wait_daemon() {
  local n=$1 i
  for i in $(seq 1 300); do
    timeout 5 env DOCKER_HOST="$(sock "$n")" docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && return 0
    if ! live_pid "$STATE/n$n/docker.pid" >/dev/null && [ "$i" -gt 20 ]; then break; fi
    sleep 0.1
  done
  tail -n 20 "$STATE/n$n/dockerd.log" >&2 || true
  die "node $n's dockerd did not answer within 30 s (log above: $STATE/n$n/dockerd.log)"
}

up() {
  [ "$(id -u)" = 0 ] || die "the test bed needs root (network namespaces, a bridge, an iptables rule)" "run it as root (sudo bash tests/swarm-nodes.sh up)"
  command -v dockerd >/dev/null || die "dockerd is not installed" "install docker.io"
  command -v docker-registry >/dev/null || die "docker-registry is not installed" "apt-get install docker-registry (or bash tests/setup.sh)"
  if healthy; then
    log "already up"
    echo "DOCKER_HOST=$(sock 1)"
    return 0
  fi
  # Anything half made (a killed run, a daemon gone) is removed first: up always starts clean.
  down
  local driver n
  driver=$(docker info --format '{{.Driver}}' 2>/dev/null || true)
  [ -n "$driver" ] || driver=overlay2
  mkdir -p "$STATE"
  chmod 700 "$STATE"

  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  iptables -I DOCKER-USER -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT

  # The registry, on the bridge: every node can reach it, nothing outside the host can.
  mkdir -p "$STATE/registry"
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
  setsid docker-registry serve "$STATE/registry.yml" </dev/null >"$STATE/registry.log" 2>&1 9<&- &
  echo $! >"$STATE/registry.pid"

  for n in "${NODES[@]}"; do
    ip netns add "stkn$n"
    ip link add "stkn${n}h" type veth peer name eth0 netns "stkn$n"
    ip link set "stkn${n}h" master "$BRIDGE" up
    ip -n "stkn$n" link set lo up
    ip -n "stkn$n" addr add "$NET.1$n/24" dev eth0
    ip -n "stkn$n" link set eth0 up
    mkdir -p "$STATE/n$n"
    # A config of its own (the host's daemon.json sets data-root): same storage driver as the
    # host's, the registry trusted, containers in a cgroup of their own (so `down` finds them).
    cat >"$STATE/n$n/daemon.json" <<EOF
{
  "data-root": "$STATE/n$n/data",
  "exec-root": "$STATE/n$n/exec",
  "pidfile": "$STATE/n$n/docker.pid",
  "hosts": ["$(sock "$n")"],
  "storage-driver": "$driver",
  "insecure-registries": ["$REGISTRY"],
  "cgroup-parent": "stackctl-nodes-n$n",
  "containerd-namespace": "stackctl-nodes-n$n",
  "containerd-plugins-namespace": "stackctl-nodes-n$n-plugins",
  "log-driver": "json-file",
  "log-opts": {"max-size": "1m", "max-file": "2"}
}
EOF
    # nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup mounts. A UTS
    # namespace of its own gives each node its hostname (`docker node ls`, `status`).
    setsid nsenter --net="/var/run/netns/stkn$n" unshare --uts \
      sh -c 'hostname "$1" && exec dockerd --config-file "$2"' sh "stkn$n" "$STATE/n$n/daemon.json" \
      </dev/null >"$STATE/n$n/dockerd.log" 2>&1 9<&- &
  done
  for n in "${NODES[@]}"; do wait_daemon "$n"; done

  dk 1 swarm init --advertise-addr "$NET.11" >/dev/null
  local token
  token=$(dk 1 swarm join-token -q worker)
  for n in "${NODES[@]:1}"; do
    dk "$n" swarm join --advertise-addr "$NET.1$n" --token "$token" "$NET.11:2377" >/dev/null
  done
  local i id host
  for i in $(seq 1 300); do
    [ "$(dk 1 node ls --format '{{.Status}}' | grep -c '^Ready$')" = "${#NODES[@]}" ] && break
    [ "$i" -lt 300 ] || die "the swarm did not have ${#NODES[@]} ready nodes within 30 s"
    sleep 0.1
  done
  # Node labels, for placement constraints (`node.labels.stackctl.node == n2`).
  for n in "${NODES[@]}"; do
    id=$(dk "$n" info --format '{{.Swarm.NodeID}}')
    dk 1 node update --label-add "stackctl.node=n$n" "$id" >/dev/null
  done
  for i in $(seq 1 100); do
    curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 && break
    [ "$i" -lt 100 ] || die "the registry did not answer on $REGISTRY within 10 s (log: $STATE/registry.log)"
    sleep 0.1
  done
  host=$(sock 1)
  echo "${#NODES[@]}" >"$STATE/nodes"
  log "${#NODES[@]} node(s) up; registry $REGISTRY; manager $(sock 1)"
  echo "DOCKER_HOST=$host"
}

# One at a time on this machine: the bed's names (namespaces, bridge, sockets) are the
# machine's, so the lock is too, whichever checkout runs the script (a lock on the script file
# itself let two checkouts tear each other's bed down). /run/lock is a tmpfs: nothing outlives
# a reboot.
exec 9>>/run/lock/stackctl-swarm-nodes.lock
flock -w 120 9 || die "another swarm-nodes.sh up/down is running"

case "${1:-}" in
  up) up ;;
  down)
    down
    log "down"
    ;;
  cut | mend)
    case "${2:-}" in
      1 | 2 | 3) ;;
      *) die "\`$1\` needs a node number, 1 to 3" "bash tests/swarm-nodes.sh $1 2" ;;
    esac
    [ -e "/var/run/netns/stkn$2" ] || die "node $2 is not up" "bash tests/swarm-nodes.sh up"
    # The host side of the node's veth: down, nothing crosses the bridge to or from the node
    # (its containers and its daemon keep running, unreachable, as behind a dead switch port).
    if [ "$1" = cut ]; then ip link set "stkn${2}h" down; else ip link set "stkn${2}h" up; fi
    log "node $2: network ${1}"
    ;;
  env)
    healthy || die "the test bed is not up" "bash tests/swarm-nodes.sh up"
    echo "DOCKER_HOST=$(sock 1)"
    ;;
  *)
    echo "usage: $0 up|down|env|cut N|mend N" >&2
    exit 2
    ;;
esac
