#!/usr/bin/env bash
# Starts a Slurm cluster on the virtual cluster of scripts/vcluster.sh (Debian 12, as root): slurmctld
# in node n1, one slurmd per node (n1..nN, `slurmd -N nK` inside that node's namespaces), munge
# shared. Its config lives in /run/sweep-vcluster/slurm/etc, bind-mounted on /etc/slurm inside the
# nodes only: the machine's own /etc/slurm (and the single-node Slurm of scripts/start-slurm.sh,
# in the machine's own network namespace) is left alone. Waits until sinfo shows every node idle.
#
#   start-slurm-cluster.sh [-n N]     brings the nodes up when needed (default 3), starts Slurm
#   start-slurm-cluster.sh stop       stops the daemons (scripts/vcluster.sh down also ends them)
#
# Slurm commands then run inside a node: scripts/vcluster.sh exec n1 sbatch ...
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
vc=$here/vcluster.sh
# shellcheck source-path=SCRIPTDIR
source "$here/slurm-conf.sh"   # the settings shared with scripts/start-slurm.sh
dir=/run/sweep-vcluster/slurm
say() { echo "start-slurm-cluster: $*"; }
die() { echo "start-slurm-cluster: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (it installs packages and starts daemons)"

stop() {
  local f pid
  for f in "$dir"/run/*.pid; do
    [[ -s $f ]] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}
if [[ ${1:-} == stop ]]; then stop; say "stopped"; exit 0; fi

n=3
while (($#)); do
  case $1 in
    -n) n=${2:?}; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done

missing=()
for p in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ ! -s /etc/munge/munge.key ]]; then
  runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

"$vc" up -n "$n" >/dev/null || die "cannot bring up the virtual cluster (scripts/vcluster.sh up -n $n)"
stop   # a fresh controller and fresh slurmds for this set of nodes
rm -rf "$dir"
install -d "$dir/etc" "$dir/run" "$dir/log" "$dir/ctld"
for k in $(seq "$n"); do install -d "$dir/spool/n$k"; done
# The nodes share this machine's cores and memory: each claims 2 CPUs and 2 GB (config_overrides).
cat > "$dir/etc/slurm.conf" <<EOF
# written by sweep scripts/start-slurm-cluster.sh: a cluster of virtual nodes (scripts/vcluster.sh)
ClusterName=sweepvc
SlurmctldHost=n1
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
$(slurm_conf_shared)
NodeName=n[1-$n] CPUs=2 RealMemory=2000 State=UNKNOWN
$(slurm_conf_partition vc "n[1-$n]")
EOF
[[ -e /etc/slurm/plugstack.conf ]] && cp /etc/slurm/plugstack.conf "$dir/etc/"
# srun --mpi=pmix: the ring fence algorithm for every PMIx fence. Open MPI 4.1's MPI_Init ends with a
# fence that must hold every rank until all have registered their MPI receive handlers; Slurm's tree
# algorithm (its choice for fences without data, and for all fences without PMIxDirectConn) released
# each node's ranks once that node's ranks alone had arrived here, so a rank on a fast node could send
# its first MPI message to a rank still inside MPI_Init, which crashed on it (a call through a null
# pointer). The ring is a real barrier; the evidence and the test are in slurm/README.md ("Many nodes").
echo "PMIxCollFence=ring" > "$dir/etc/mpi.conf"
install -d /etc/slurm
for k in $(seq "$n"); do
  # the node's /etc/slurm is this cluster's (its mount namespace only)
  "$vc" exec "n$k" sh -c "mountpoint -q /etc/slurm && umount /etc/slurm; mount --bind $dir/etc /etc/slurm"
done
say "starting slurmctld in n1"
"$vc" exec n1 slurmctld
for k in $(seq "$n"); do
  "$vc" exec "n$k" slurmd -N "n$k"
done

state=""
for i in $(seq 120); do
  state=$("$vc" exec n1 sinfo -h -o %T 2>/dev/null | sort -u | tr '\n' ' ' || true)
  [[ $state == "idle " ]] && break
  ((i % 10 == 0)) && "$vc" exec n1 scontrol update nodename="n[1-$n]" state=resume 2>/dev/null || true
  sleep 0.5
done
[[ $state == "idle " ]] || die "nodes are '${state:-not reported}' after 60 s (see $dir/log/)"
say "nodes n1..n$n idle (Slurm commands: scripts/vcluster.sh exec n1 sinfo)"
