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
# ssh reaches the node over the network: like ssh, fail (status 255, after a bounded wait) when the
# node does not answer, e.g. its link is down (vcluster.sh link NODE down) before the run starts.
# A connection refused by port 1 is an answer. Needs the node's name in /etc/hosts (inside a node).
if ! { timeout "${VCLUSTER_CONNECT_TIMEOUT:-5}" bash -c "exec 3<>/dev/tcp/$node/1" 2>&1 || true; } | grep -q refused; then
  echo "vcluster-rsh: connect to host $node: no answer within ${VCLUSTER_CONNECT_TIMEOUT:-5} s (its link is down?)" >&2
  exit 255
fi
exec nsenter -t "$(cat "$pidfile")" -n -u -m -- /bin/sh -c "$*"
