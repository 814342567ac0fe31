#!/usr/bin/env bash
# A virtual cluster on one machine (Linux namespaces, as root), for the multi-node tests and for
# trying multi-node runs locally. Each node nK is a long-lived `sleep` in its own network, UTS
# (hostname nK) and mount namespace (private /tmp and /dev/shm, an /etc/hosts naming the nodes);
# a veth pair joins it to one bridge that lives in a namespace of its own ("hub"), so the machine's
# own network is never touched. Addresses 10.77.0.K/24 exist only inside these namespaces.
#
#   vcluster.sh up [-n N]            make nodes n1..nN (default 3); refuses with one line if it cannot
#   vcluster.sh down                 kill every process of every node, remove everything
#   vcluster.sh status               the nodes, their sleeper pids and addresses (exit 1 if not up)
#   vcluster.sh exec NODE CMD...     run CMD inside NODE's namespaces (environment and cwd kept)
#   vcluster.sh mpirun ARGS...       mpirun from n1 with the MCA flags the virtual network needs
#   vcluster.sh pids NODE            pids of the processes inside NODE (the sleeper excluded)
#   vcluster.sh kill NODE            SIGKILL every process inside NODE at once (a node dies)
#   vcluster.sh link NODE up|down    NODE's cable: down drops its packets silently (no TCP reset)
#
# Each node has its own /tmp and /dev/shm; the rest of the file system is shared, as a cluster's
# shared file system would be. This checkout and the folders in VCLUSTER_SHARE stay shared even
# when they lie under /tmp (bound into each node's /tmp at the same path); other work folders must
# not be under /tmp or /dev/shm.
# VCLUSTER_SIGKILL_TIMEOUT (default 8): `mpirun`'s odls_base_sigkill_timeout, the time the ranks still
# alive get when Open MPI ends a job whose node died (slurm/README.md, "A lost node").
# State: /run/sweep-vcluster/ (sleeper pids, the hosts file, the node count). `up` on a running
# cluster of the same size does nothing; `down` is safe to repeat.
set -euo pipefail

state=/run/sweep-vcluster
net=10.77.0
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
die() { echo "vcluster: $*" >&2; exit 1; }

# The shared folders a node must still see when they lie under /tmp or /dev/shm (which each node
# gets fresh): this checkout (a clone in /tmp, as CI may make) and VCLUSTER_SHARE (colon-separated).
shared_dirs() {
  local d
  for d in "$(cd "$here/.." && pwd)" $(tr : " " <<< "${VCLUSTER_SHARE:-}"); do
    d=$(realpath -m "$d")
    [[ $d == /tmp/* || $d == /dev/shm/* ]] && echo "$d"
  done
  return 0
}

# Node K's own /tmp and /dev/shm, with the shared folders under them bound back in at the same
# paths: each is bound aside before the tmpfs hides it, then into the tmpfs (all in K's namespace).
private_tmp() {
  local pid=$1 k=$2 dirs=() i
  mapfile -t dirs < <(shared_dirs)
  for i in "${!dirs[@]}"; do
    mkdir -p "$state/keep-n$k-$i"
    nsenter -t "$pid" -m -- mount --bind "${dirs[$i]}" "$state/keep-n$k-$i"
  done
  nsenter -t "$pid" -m -- mount -t tmpfs -o mode=1777 "vcluster-n$k-tmp" /tmp
  nsenter -t "$pid" -m -- mount -t tmpfs -o mode=1777 "vcluster-n$k-shm" /dev/shm
  for i in "${!dirs[@]}"; do
    nsenter -t "$pid" -m -- mkdir -p "${dirs[$i]}"
    nsenter -t "$pid" -m -- mount --bind "$state/keep-n$k-$i" "${dirs[$i]}"
    nsenter -t "$pid" -m -- umount "$state/keep-n$k-$i"
  done
}

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_pid() {
  [[ $1 =~ ^n[0-9]+$ ]] || die "no node '$1' (nodes are n1..nN)"
  alive "$state/$1.pid" || die "node $1 is not up (scripts/vcluster.sh up)"
  cat "$state/$1.pid"
}
nodes() { [[ -s $state/nodes ]] && cat "$state/nodes" || echo 0; }
all_alive() {
  alive "$state/hub.pid" || return 1
  for k in $(seq "$1"); do alive "$state/n$k.pid" || return 1; done
}

# Processes whose UTS namespace is the node's (its sleeper excluded).
pids_of() {
  local ns
  ns=$(stat -L -c %i "/proc/$1/ns/uts")
  # one stat for all processes: "/proc/PID/ns/uts INODE"
  stat -L -c '%n %i' /proc/[0-9]*/ns/uts 2>/dev/null |
    awk -v ns="$ns" -v me="$1" '$2 == ns { split($1, f, "/"); if (f[3] != me) print f[3] }'
  return 0
}

# A sleeper in new namespaces, detached from this shell; prints its pid once the namespaces exist.
spawn() {
  local pidfile=$1; shift
  setsid unshare "$@" -- sleep infinity </dev/null >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do
    # unshare has made the namespaces (and made the mounts private) once it runs sleep
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sleep ]] && break
    sleep 0.02
  done
  echo "$pid" > "$pidfile"
  echo "$pid"
}

cmd_up() {
  local n=3
  while (($#)); do
    case $1 in
      -n) n=${2:?}; shift 2 ;;
      *) die "up: unknown option $1" ;;
    esac
  done
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 50)) || die "up: -n must be 1..50"
  [[ $(id -u) == 0 ]] || die "cannot make namespaces: must run as root"
  for t in unshare nsenter ip setsid; do command -v $t >/dev/null || die "cannot make namespaces: $t is missing (apt-get install iproute2 util-linux)"; done
  if [[ $(nodes) == "$n" ]] && all_alive "$n"; then
    echo "vcluster: $n nodes already up"
    return 0
  fi
  cmd_down >/dev/null
  local why
  why=$(unshare --net --uts --mount --propagation private -- ip link add vctest type bridge 2>&1) ||
    die "cannot make namespaces here: ${why//$'\n'/ }"
  install -d -m 0755 "$state"
  echo "$n" > "$state/nodes"
  {
    echo "127.0.0.1 localhost"
    for k in $(seq "$n"); do echo "$net.$k n$k"; done
  } > "$state/hosts"
  local hub pid
  hub=$(spawn "$state/hub.pid" --net)
  nsenter -t "$hub" -n -- ip link add br0 type bridge
  nsenter -t "$hub" -n -- ip link set br0 up
  nsenter -t "$hub" -n -- ip link set lo up
  for k in $(seq "$n"); do
    pid=$(spawn "$state/n$k.pid" --net --uts --mount --propagation private)
    nsenter -t "$pid" -u -- hostname "n$k"
    private_tmp "$pid" "$k"
    nsenter -t "$pid" -m -- mount --bind "$state/hosts" /etc/hosts
    nsenter -t "$hub" -n -- ip link add "vn$k" type veth peer name eth0 netns "$pid"
    nsenter -t "$hub" -n -- ip link set "vn$k" master br0 up
    nsenter -t "$pid" -n -- ip link set lo up
    nsenter -t "$pid" -n -- ip addr add "$net.$k/24" dev eth0
    nsenter -t "$pid" -n -- ip link set eth0 up
    # TCP gives up on an unreachable peer after ~13 s of retransmissions instead of ~15 min (a
    # setting of this namespace only): mpirun then learns that a silent node's daemon is gone. Not
    # sooner: sweep's --worker-timeout (3 s in the tests) plus the live ranks' running jobs must end
    # the run first, or mpirun's own abort (status 205) overtakes sweep's 75.
    nsenter -t "$pid" -n -- sh -c "echo 5 > /proc/sys/net/ipv4/tcp_retries2"
  done
  # Each node reaches every other before `up` returns (one ping each, bounded).
  for k in $(seq "$n"); do
    pid=$(cat "$state/n$k.pid")
    for m in $(seq "$n"); do
      ((m == k)) && continue
      local ok=0
      # a connection refused by port 1 is an answer: the address is reachable
      for _ in $(seq 10); do
        { nsenter -t "$pid" -n -- timeout 1 bash -c "exec 3<>/dev/tcp/$net.$m/1" 2>&1 || true; } | grep -q refused && { ok=1; break; }
      done
      ((ok)) || { cmd_down >/dev/null; die "node n$k does not reach n$m"; }
    done
  done
  echo "vcluster: $n nodes up: $(seq -s ' ' -f 'n%g' "$n") on $net.0/24"
}

cmd_down() {
  local f pid p
  for f in "$state"/n*.pid "$state"/hub.pid; do
    [[ -s $f ]] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null && [[ $f != */hub.pid ]]; then
      for p in $(pids_of "$pid"); do kill -9 "$p" 2>/dev/null || true; done
    fi
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    rm -f "$f"
  done
  rm -f "$state/hosts" "$state/nodes"
  rmdir "$state"/keep-n* 2>/dev/null || true   # private_tmp's empty mount points
  rm -rf "$state/slurm"   # scripts/start-slurm-cluster.sh's config, state and logs (its daemons died above)
  [[ -d $state ]] && rmdir --ignore-fail-on-non-empty "$state"
  echo "vcluster: down"
}

cmd_status() {
  local n
  n=$(nodes)
  ((n > 0)) || { echo "vcluster: not up"; return 1; }
  local bad=0
  alive "$state/hub.pid" || { echo "hub: gone"; bad=1; }
  for k in $(seq "$n"); do
    if alive "$state/n$k.pid"; then
      echo "n$k pid $(cat "$state/n$k.pid") $net.$k processes $(pids_of "$(cat "$state/n$k.pid")" | wc -l)"
    else echo "n$k: gone"; bad=1
    fi
  done
  return $bad
}

cmd_exec() {
  (($# >= 2)) || die "usage: vcluster.sh exec NODE CMD..."
  local pid
  pid=$(node_pid "$1"); shift
  exec nsenter -t "$pid" -n -u -m --wd="$PWD" -- "$@"
}

cmd_mpirun() {
  local pid
  pid=$(node_pid n1)
  # plm_rsh_agent: how mpirun starts its daemon on another node (here: entering that node).
  # --bind-to none: the nodes share this machine's cores; each would bind its first rank to core 0.
  # odls_base_sigkill_timeout: when a node dies Open MPI ends the job, waiting this long before its
  # SIGTERM and as long again before its SIGKILL; meanwhile the ranks still alive finish their
  # running jobs and rank 0 journals them (sweep run --worker-timeout notices the lost ranks).
  exec nsenter -t "$pid" -n -u -m --wd="$PWD" -- mpirun \
    --mca odls_base_sigkill_timeout "${VCLUSTER_SIGKILL_TIMEOUT:-8}" \
    --mca plm_rsh_agent "$here/vcluster-rsh.sh" --mca plm_rsh_no_tree_spawn 1 \
    --mca oob_tcp_if_include "$net.0/24" --mca btl_tcp_if_include "$net.0/24" \
    --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3 \
    --mca btl self,vader,tcp --bind-to none "$@"
}

cmd_link() {
  (($# == 2)) || die "usage: vcluster.sh link NODE up|down"
  local pid
  pid=$(node_pid "$1")
  [[ $2 == up || $2 == down ]] || die "link: up or down, not '$2'"
  # The bridge side: the node's own interface keeps its address and sees no error.
  nsenter -t "$(cat "$state/hub.pid")" -n -- ip link set "vn${1#n}" "$2"
}

sub=${1:-}
(($#)) && shift
case $sub in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  exec) cmd_exec "$@" ;;
  mpirun) cmd_mpirun "$@" ;;
  pids) (($# == 1)) || die "usage: vcluster.sh pids NODE"; pids_of "$(node_pid "$1")" ;;
  kill) (($# == 1)) || die "usage: vcluster.sh kill NODE"
        pid=$(node_pid "$1"); p=$(pids_of "$pid"); [[ -n $p ]] && kill -9 $p 2>/dev/null; true ;;
  link) cmd_link "$@" ;;
  *) sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
