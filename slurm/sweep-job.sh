#!/usr/bin/env bash
# The body of the sbatch scripts in this folder: runs `sweep run SPEC -o OUT` on the job's ranks and
# makes the job safe to preempt and to hit its walltime.
#
#   usage: sweep-job.sh mpirun|srun SPEC OUT [more `sweep run` options]
#
# 1. Checks that MPI really joins the ranks the job asked for (SLURM_NTASKS): sweep-rankcheck is
#    launched exactly as sweep will be. An MPI started without the PMI it needs runs N singletons,
#    each "rank 0 of 1", and every one of them would schedule the whole sweep by itself.
# 2. Runs sweep with SLURM_CPUS_PER_TASK BLAS threads per rank.
# 3. Forwards the warning signal (USR1, from --signal=B:USR1@SECONDS) to the ranks: they take no new
#    jobs, give running ones --grace seconds, write the results file and exit 75.
# 4. Exit 75 after that warning, or by sweep itself (a worker lost, --worker-timeout): requeues the
#    job (scontrol requeue); the next start of the same job runs only what OUT.journal does not hold yet.
#
# Environment (all optional):
#   SWEEP                    the sweep binary (default: beside this folder in build/, then PATH)
#   SWEEP_RANKCHECK          the sweep-rankcheck binary (default: beside SWEEP)
#   SWEEP_LAUNCH             replaces the launcher words, e.g. "srun --mpi=pmi2" or "mpirun --mca ..."
#   SWEEP_GRACE              seconds running jobs get after the warning (default 60, within the 120 s
#                            of --signal=B:USR1@120 with time left to write the file)
#   SWEEP_STOP_MARGIN        seconds past SWEEP_GRACE after the warning before a launcher that has
#                            not ended is ended (default 30; keep SWEEP_GRACE + it under the warning's
#                            120 s), so that the job still requeues
#   SWEEP_MAX_IDLE_REQUEUES  stop requeueing after this many allocations in a row finished no job
#                            (default 3: a job longer than the walltime would requeue forever)
#
# Exit status: sweep's (0 ok, 1 jobs failed, 2 bad input, 75 stopped with work left) or 3 when the
# ranks are not what the job asked for.
set -uo pipefail

me="sweep-job"
say() { echo "$me: $(date '+%F %T'): $*" >&2; }
usage() { echo "usage: sweep-job.sh mpirun|srun SPEC OUT [sweep run options]" >&2; exit 2; }

(($# >= 3)) || usage
launcher=$1 spec=$2 out=$3
shift 3
case $launcher in mpirun|srun) ;; *) echo "$me: launcher must be mpirun or srun, not '$launcher'" >&2; exit 2 ;; esac
[[ -n ${SLURM_JOB_ID:-} && -n ${SLURM_NTASKS:-} ]] || { echo "$me: not inside a Slurm job (no SLURM_JOB_ID/SLURM_NTASKS); use sbatch" >&2; exit 2; }
[[ -r $spec ]] || { echo "$me: $spec: spec not readable" >&2; exit 2; }
[[ -d $(dirname -- "$out") ]] || { echo "$me: $out: the output's folder does not exist" >&2; exit 2; }

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
sweep=${SWEEP:-}
if [[ -z $sweep ]]; then
  if [[ -x $here/../build/sweep ]]; then sweep=$here/../build/sweep
  else sweep=$(command -v sweep || true)
  fi
fi
[[ -n $sweep && -x $sweep ]] || { echo "$me: no sweep binary (set SWEEP=/path/to/sweep)" >&2; exit 2; }
rankcheck=${SWEEP_RANKCHECK:-$(dirname -- "$sweep")/sweep-rankcheck}
[[ -x $rankcheck ]] || { echo "$me: $rankcheck: no sweep-rankcheck binary (built beside sweep; or set SWEEP_RANKCHECK)" >&2; exit 2; }

ntasks=$SLURM_NTASKS
nnodes=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}
threads=${SLURM_CPUS_PER_TASK:-1}
grace=${SWEEP_GRACE:-60}
max_idle=${SWEEP_MAX_IDLE_REQUEUES:-3}
restarts=${SLURM_RESTART_COUNT:-0}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads

if [[ -n ${SWEEP_LAUNCH:-} ]]; then
  read -r -a launch <<< "$SWEEP_LAUNCH"
elif [[ $launcher == srun ]]; then
  # srun in 22.05+ does not inherit --cpus-per-task from sbatch; pmix is what Open MPI 4 speaks.
  launch=(srun --mpi=pmix --ntasks="$ntasks" --cpus-per-task="$threads" --kill-on-bad-exit=1)
else
  # mpirun reads the allocation (nodes, tasks per node) from Slurm itself.
  launch=(mpirun -np "$ntasks" --bind-to none)
fi

say "job $SLURM_JOB_ID start $((restarts + 1)) on ${SLURM_JOB_NODELIST:-?}: $ntasks ranks on $nnodes node(s), $threads thread(s) per rank, launcher: ${launch[*]}"

# Signals, from the start: an untrapped USR1 would kill this shell and end the job unrequeued.
# Each warning is forwarded once the sweep runs (a second one makes the ranks abandon running jobs).
warnings=0 forwarded=0 termed=0 trapped=0 pid= watchdog=
stop_wait=$((grace + ${SWEEP_STOP_MARGIN:-30}))
forward_warnings() {
  [[ -n $pid ]] || return 0
  while ((forwarded < warnings)); do
    kill -USR1 "$pid" 2>/dev/null
    forwarded=$((forwarded + 1))
  done
  # A launcher that has not ended stop_wait s after the warning is stuck (a rank that died in MPI
  # start-up leaves mpirun waiting for it): end it while the job still has time to requeue.
  if ((forwarded)) && [[ -z $watchdog ]]; then
    ( sleep "$stop_wait"; kill -0 "$pid" 2>/dev/null || exit 1
      echo "$me: $(date '+%F %T'): the launcher has not ended ${stop_wait}s after the warning: ending it" >&2
      kill -TERM "$pid"; exit 0 ) &
    watchdog=$!
  fi
}
on_warning() {
  trapped=1 warnings=$((warnings + 1))
  say "SIGUSR1 received: forwarding it to the ranks (no new jobs; running ones get ${grace}s)"
  forward_warnings
}
# scancel, preemption and the walltime send SIGTERM to every process of the job, the ranks included:
# forwarding it too would be the ranks' second signal, which abandons running jobs at once. The
# shell only has to stay alive meanwhile, or Slurm would end the job and its grace period with it.
on_term() {
  trapped=1 termed=1
  say "SIGTERM received (scancel, preemption or walltime): the ranks have it from Slurm too; waiting for them"
}
trap on_warning USR1
trap on_term TERM
# A warning the sbatch script caught before this script started (it sets SWEEP_WARNED_EARLY).
if [[ ${SWEEP_WARNED_EARLY:-} == 1 ]]; then
  unset SWEEP_WARNED_EARLY
  on_warning
fi

# 1. The ranks: every process must see the whole world, once each, and reach every other.
probe=$(timeout "${SWEEP_RANKCHECK_TIMEOUT:-300}" "${launch[@]}" "$rankcheck" 2>&1)
probe_rc=$?
verdict=$(awk -v n="$ntasks" -v nodes="$nnodes" '
  $1 == "rankcheck" {
    lines++
    if ($3 != n) sizes[$3]++
    else if ($5 != n * (n + 1) / 2) bad = "the ranks do not reach each other (allreduce gave " $5 ")"
    seen[$2]++
    hosts[$4] = 1
  }
  END {
    for (s in sizes) { printf "%d processes see a world of %d, not %d: the launcher lacks the PMI this MPI needs", sizes[s], s, n; exit }
    if (bad != "") { print bad; exit }
    if (lines != n) { printf "%d of the %d ranks answered", lines, n; exit }
    for (r = 0; r < n; r++) if (seen[r] != 1) { printf "rank %d answered %d times", r, seen[r]; exit }
    nh = 0; for (h in hosts) nh++
    if (n >= nodes && nh != nodes) { printf "the ranks run on %d host(s), not on the %d node(s) of the job", nh, nodes; exit }
    print "ok"
  }' <<< "$probe")
if [[ $verdict != ok ]] || ((probe_rc != 0)); then
  [[ $verdict == ok ]] && verdict="the probe exited with status $probe_rc"
  say "rank check failed: $verdict. Not starting the sweep. Probe output:"
  printf '%s\n' "$probe" | head -n 40 >&2
  say "for srun, see 'srun --mpi=list' (Debian 12: --mpi=pmix); or use mpirun, or set SWEEP_LAUNCH"
  exit 3
fi
say "rank check ok: $ntasks ranks on $nnodes node(s)"

# 2-3. The sweep, in the background so that the warning signal is handled while it runs.
journal=$out.journal
# Result records in the journal (perl: quick even for a journal of large adapters; "?" without it).
# Framing from results/journal.h: u32 magic "SWJR", u32 type (1 a header; every other type a result,
# 2 to 5 today as fields were added), u64 payload length, u64 checksum, payload. A torn final record
# is not counted.
journal_results() {
  [[ -e $journal ]] || { echo 0; return; }
  perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; my ($n, $h, $size) = (0, "", -s $ARGV[0]);
    while (read($f, $h, 24) == 24) {
      my ($magic, $type, $lo, $hi) = unpack("a4 V V V", $h);
      my $len = $lo + $hi * 4294967296;
      last if $magic ne "SWJR" || tell($f) + $len > $size;
      $n++ if $type != 1;
      seek($f, $len, 1);
    }
    print "$n\n";' -- "$journal" 2>/dev/null || echo "?"
}
results_before=$(journal_results)
status=
if ((warnings || termed)); then
  say "signalled before the sweep started: not starting it"
  status=75
else
  launched=$(date +%s)
  "${launch[@]}" "$sweep" run "$spec" -o "$out" --threads "$threads" --grace "$grace" "$@" &
  pid=$!
  forward_warnings   # one that arrived between the check above and here
  while :; do
    trapped=0
    wait "$pid"
    s=$?
    # A trap that ran after wait had already collected the status leaves nothing to wait for.
    if ((s == 127)) && [[ -n $status ]]; then break; fi
    status=$s
    ((trapped)) || break
  done
  say "sweep exited with status $status"
  if [[ -n $watchdog ]]; then
    if kill -0 "$watchdog" 2>/dev/null; then
      kill "$watchdog" 2>/dev/null
    elif wait "$watchdog"; then
      status=75   # ended by the watchdog after the warning: finished jobs are in the journal
    fi
  fi
  # 128 + SIGUSR1 (mpirun's report of a rank killed by it): the warning reached a rank still inside
  # MPI start-up, before sweep catches the signal; mpirun ends the other ranks. Finished jobs are in
  # the journal: a stop with work left, like 75.
  if ((status == 138 && warnings)); then
    say "a rank was ended by the forwarded warning while it was still starting (status 138): treating it as 75"
    status=75
  fi
  # Rank 0 keeps the status it ended the run with in the state file (results/runstate.h). When a node
  # is lost, mpirun may see the lost daemon before rank 0's abort and report a status of its own.
  if ((status != 0 && status != 1 && status != 2 && status != 75)) && [[ -e $out.state ]]; then
    ended=$(awk -v t="$launched" '$1 == "updated" && $2 >= t { fresh = 1 } $1 == "exit" { e = $2 }
                                  END { if (fresh && e != "") print e }' "$out.state")
    if [[ $ended == 75 ]]; then
      say "mpirun exited with status $status, but rank 0 ended the run with 75 (a rank lost; $out.state): treating it as 75"
      status=75
    fi
  fi
fi
trap - USR1 TERM

# 4. Requeue when the warning stopped the sweep with work left, unless allocations stop making progress.
if ((status == 75)); then
  if ((!warnings && termed)); then
    say "stopped with work left, but not by the walltime/preemption warning (scancel?): not requeueing; resubmit to resume"
    exit 75
  fi
  # 75 without any signal: sweep ended the run itself, a worker lost (--worker-timeout); Slurm gives
  # the requeued job nodes that answer.
  ((warnings)) || say "sweep stopped with work left by itself (a worker lost: --worker-timeout)"
  results_after=$(journal_results)
  say "the journal holds $results_after result(s), $results_before at the start of this allocation"
  # OUT.idle-requeues holds "JOBID COUNT": allocations of this job in a row that finished no job
  # (a new submission starts from 0).
  idle_file=$out.idle-requeues
  if [[ $results_after == "?" || $results_before == "?" ]] || ((results_after > results_before)); then
    rm -f -- "$idle_file"
  else
    idle_job='' idle=0
    [[ -r $idle_file ]] && read -r idle_job idle < "$idle_file"
    [[ $idle_job == "$SLURM_JOB_ID" && $idle =~ ^[0-9]+$ ]] || idle=0
    idle=$((idle + 1))
    echo "$SLURM_JOB_ID $idle" > "$idle_file"
    if ((idle >= max_idle)); then
      say "$idle allocations in a row finished no job (is one job longer than the walltime?): not requeueing"
      exit 75
    fi
  fi
  say "work remains: requeueing job $SLURM_JOB_ID; it resumes from $journal"
  if scontrol requeue "$SLURM_JOB_ID"; then
    # Slurm ends this allocation now; the job starts again from the top of the batch script.
    sleep 120 &
    wait $!
  fi
  say "scontrol requeue failed (submitted with --no-requeue?): resubmit the same command to resume"
  exit 75
fi
exit "$status"
