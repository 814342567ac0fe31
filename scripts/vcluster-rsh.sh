#!/usr/bin/env bash
# Open MPI's rsh agent for the virtual cluster (scripts/vcluster.sh; --mca plm_rsh_agent THIS):
# mpirun calls it as `vcluster-rsh.sh NODE COMMAND...`, the way it would call ssh, and it runs the
# command inside NODE's namespaces through a shell, as sshd would.
set -eu
state=/run/sweep-vcluster
node=${1:?usage: vcluster-rsh.sh NODE COMMAND...}
shift
pidfile=$state/$node.pid
[[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "vcluster-rsh: node $node is not up" >&2; exit 255; }
exec nsenter -t "$(cat "$pidfile")" -n -u -m -- /bin/sh -c "$*"
