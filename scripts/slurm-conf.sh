# shellcheck shell=bash
# The slurm.conf settings that scripts/start-slurm.sh (one node: this machine) and
# scripts/start-slurm-cluster.sh (the virtual nodes of scripts/vcluster.sh) share, written once here;
# both source this file. Each script writes its own lines around these: the header, ClusterName,
# SlurmctldHost, the state, spool, pid and log paths, and the NodeName line.

# The settings common to both setups, one per line (slurm.conf syntax).
slurm_conf_shared() {
  cat <<'EOF'
# shared by sweep's scripts/start-slurm.sh and start-slurm-cluster.sh (scripts/slurm-conf.sh)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire + 1 s before it may start again (default 120): shorter for tests.
AuthInfo=cred_expire=30
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
JobRequeue=1
ReturnToService=2
KillWait=30
MinJobAge=600
InactiveLimit=0
EOF
}

# slurm_conf_partition NAME NODES: the one partition, every job's default. Jobs may share CPUs
# (OverSubscribe=FORCE:4): test machines are small and shared.
slurm_conf_partition() {
  echo "PartitionName=$1 Nodes=$2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4"
}
