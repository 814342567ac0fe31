#!/usr/bin/env bash
# Starts a single-node Slurm on this machine for the slurm tests (Debian 12, as root): installs
# slurm-wlm and munge when missing, writes /etc/slurm/slurm.conf naming this host, starts munged,
# slurmctld and slurmd, and waits until sinfo shows the node idle. Safe to rerun: running daemons
# with an unchanged config are left alone. Refuses to replace a slurm.conf it did not write.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm-conf.sh"   # the settings shared with scripts/start-slurm-cluster.sh
conf=/etc/slurm/slurm.conf
marker="# written by sweep scripts/start-slurm.sh"
say() { echo "start-slurm: $*"; }
die() { echo "start-slurm: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (it installs packages and starts daemons)"

# ctest may start several slurm tests at once, each calling this script. The daemons must not
# inherit the lock (9>&- below), or the next call waits forever.
exec 9>/run/sweep-start-slurm.lock
flock 9

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

# munge: the key is made by the package's postinst; make one if it is missing.
if [[ ! -s /etc/munge/munge.key ]]; then
  say "creating /etc/munge/munge.key"
  runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged 9>&-
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

host=$(hostname -s)
getent hosts "$host" >/dev/null || die "this host's name $host does not resolve (add it to /etc/hosts)"
# slurmd -C prints this machine's real CPUs, sockets, cores and memory as a NodeName line.
node_line=$(slurmd -C | sed -n 1p)
[[ $node_line == NodeName=$host\ * ]] || die "slurmd -C printed an unexpected line: $node_line"

new_conf=$(cat <<EOF
$marker
# A single-node cluster for tests: this host is controller and compute node.
ClusterName=sweep
SlurmctldHost=$host
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$(slurm_conf_shared)
$node_line State=UNKNOWN
$(slurm_conf_partition debug "$host")
EOF
)

changed=0
if [[ -e $conf ]] && ! grep -qxF "$marker" "$conf"; then
  die "$conf exists and was not written by this script; not replacing it"
fi
if [[ ! -e $conf ]] || [[ $(cat "$conf") != "$new_conf" ]]; then
  say "writing $conf"
  install -d /etc/slurm
  printf '%s\n' "$new_conf" > "$conf.tmp"
  mv "$conf.tmp" "$conf"
  changed=1
fi
install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

running() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() {
  local pidfile=$1 pid
  running "$pidfile" || return 0
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  die "daemon $pid ($pidfile) did not stop"
}
if ((changed)); then
  stop /run/slurmd.pid
  stop /run/slurmctld.pid
fi
if ! running /run/slurmctld.pid; then
  say "starting slurmctld"
  slurmctld 9>&-
fi
if ! running /run/slurmd.pid; then
  say "starting slurmd"
  slurmd 9>&-
fi

# The node may come back down or drained from an earlier run; resume it once the controller answers.
state=""
for i in $(seq 120); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1 || true)
  case $state in
    idle|mixed|allocated) break ;;
    down*|drain*|fail*) ((i % 10 == 1)) && scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
case $state in
  idle) say "node $host idle" ;;
  mixed|allocated) say "node $host up ($state: jobs running)" ;;
  *) die "node $host is '${state:-not reported}' after 60 s (see /var/log/slurm/slurmctld.log and slurmd.log)" ;;
esac
