// The results file: one HDF5 file per sweep, rebuilt from the plan and the journal's records.
//
// Layout (readable by h5py, pandas and xarray.open_dataset(path, engine="h5netcdf") as is):
//   /base /condition /format /train_user /eval_text   dimension scales: the axis labels (vlen UTF-8)
//   /seed                                             dimension scale: the seed values (uint64)
//   /ppl /nll /n_tokens    float64 over (base, condition, format, train_user, seed, eval_text), NaN where
//                          no cell was asked for or none was recorded yet
//   /job                   dimension scale: job ids, in plan order, every plan job (pending included)
//   /job_base /job_condition /job_format /job_train_user /job_seed /precision /status /attempts /seconds
//   /tokens /final_loss /max_param_change /max_param_tensor /adapter_bytes /adapter_bytes_fp16
//   /peak_rss_bytes /started /rank /host /backend
//   /message               the per-job table over job (precision: the job's format variant's, "fp32" ..
//                          "int8"; backend: what computed it, JobResult.backend, "" for pending jobs and
//                          for records from before the field; peak_rss_bytes: int64, the peak resident set
//                          of the job's forked process (wait4's ru_maxrss), the pages of the shared base
//                          it touched and those it inherited from its rank included, 0 when unknown:
//                          pending, timed out, or recorded before the field; `sweep plan` prints the
//                          estimates to set beside it, engine/memest.h; started: float64 Unix seconds
//                          when the job's process started, on its host's clock, NaN when unknown: with
//                          seconds, when each job ran; max_param_change: float64, the largest
//                          |final - initial| over every trained scalar at the end of training
//                          (engine/job.h job_max_param_change: norm gains from the base's, LoRA's A
//                          and B themselves from their own init, not the product B A, a full copy's
//                          weights, steering vectors from 0), 0 for none jobs (nothing trained), NaN
//                          for pending jobs, diverged ones whose change is not finite, and records
//                          from before the column ("not recorded"); max_param_tensor: the tensor
//                          holding it, by its Hugging Face / PEFT name, "" where there is none)
//   /step, /loss           loss curves over (job, step), step counted from 1, NaN padded
//   /adapters/<job id>     the fp32 adapter block (attributes format, shape), outside xarray's root view
//   /variant /variant_ppl /variant_nll /variant_n_tokens /variant_adapter_bytes
//                          only when the spec has eval.variants: results/h5variants.h
//   eval.combos (sweeps/combos.h) adds no dataset: each combination is a label of the format axis
//                          ("norm+average"), its cells are in /ppl /nll /n_tokens at each member's
//                          train_user on the member's own texts, its jobs are rows of the per-job table
//                          (tokens 0, final_loss NaN, no loss curve) and /adapters/<job id> holds an
//                          average's mean adapter; an ensemble ("norm+ensemble") keeps none (its members
//                          are their own jobs' adapters) and its adapter bytes are its members' sum
//   root attributes        spec, spec_hash, protocol, tool_version, created_by, base_hashes,
//                          deterministic_variables; tokenizer_hashes (per base: FNV-1a 64 of the tokenizer
//                          file's bytes, "" when the base file carries its own) and eval_hashes (per eval
//                          text: FNV-1a 64 of its bytes), which `sweep merge` compares; both absent in
//                          files from before them and in files written without them
//
// Determinism: the metrics, loss curves, adapters, statuses, tokens, final losses, largest parameter
// changes, adapter sizes and precisions depend on the spec (and sweep run --precision) and on the kernels that compute the
// products, nothing else: not on the rank, the number of ranks or the order of jobs. So a sweep killed
// and resumed any number of times yields the same values as one uninterrupted run (h5_compare_results
// checks exactly these) as long as every job runs on the same kernels. OpenBLAS and oneDNN pick their
// kernels at run time from the CPU (its type and ISA level: AVX2, AVX-512, AMX), from OPENBLAS_CORETYPE
// and ONEDNN_MAX_CPU_ISA, from the library versions and from the thread count (sweep run --threads);
// other kernels sum in another order and change the last bits of a job, and through training possibly
// more. A resume on another CPU type, a cluster of mixed CPU types, another library build or another
// override therefore gives results that equal an uninterrupted run only up to those bits; the backend
// column records per job what computed it, so a mixed file can be told apart. seconds, rank, host,
// backend, attempts, message, peak_rss_bytes and started describe how the run went, live only in the per-job
// table and are not compared.
//
// When it is written: sweep run rebuilds it whole from the journal at its start (h5_write_results: a
// new file, fsynced and renamed over the old one), then updates it in place every --flush-every
// seconds (default 30) and at its end, after fsyncing the journal, so the file never holds a result
// the journal could still lose. An update (h5_update_results) writes only what the results journalled
// since the last write change: their jobs' cells (hyperslabs of their rows), per-job table rows, loss
// rows and adapters, so its cost follows those results, not the file (49 MB at 1,000 users x 1,000
// eval texts). The metric datasets are chunked, one job's row per chunk (rows of several users when a
// row is under 4 KiB), with a fill value of NaN: cells no record holds are never written, and rows of
// jobs without a record take no space. Specs with eval.variants are rebuilt whole at each write.
// Readers and crashes: the file has superblock version 3 (HDF5 1.10's format), whose status flag
// marks it open for writing during an update; every HDF5 reader refuses such a file ("file is already
// open for write"), so a reader opening it mid-update, or after rank 0 was killed mid-update, gets an
// error, never a half-updated file; the next sweep run rebuilds it from the journal (h5clear -s
// clears the flag by hand). Within an update the status column is written last.
#pragma once
#include "results/result.h"
#include "sweeps/plan.h"

// The dataset names of the plan's axes, in axis order.
extern const char *const h5_dim_names[AX_COUNT];

typedef struct {
    int n_base_hashes;              // 0, or the size of the base axis
    const char *const *base_hashes; // content hashes of the base model files, in base axis order
    const char *created_by;         // e.g. "sweep run"; NULL gives "sweep"
    int n_tokenizer_hashes;         // 0 (attribute not written), or the size of the base axis
    const char *const *tokenizer_hashes;
    int n_eval_hashes;              // 0 (attribute not written), or the size of the eval_text axis
    const char *const *eval_hashes;
} H5WriteInfo;

// Writes the file for plan from by_job[plan->n_jobs] (NULL where a job has no record yet), atomically:
// path.tmp is written, fsynced and renamed over path, so readers only ever see a complete file.
// 0 ok; -1 with a one-line message naming the path, and no path.tmp left behind.
int h5_write_results(const char *path, const Plan *plan, const JobResult *const *by_job, const H5WriteInfo *info,
                     char *err, size_t errlen);

// What in-place updates wrote, summed over calls (sweep run's closing "rank 0:" line; mpi.rank0
// checks that no cell is written twice).
typedef struct {
    long updates;   // h5_update_results calls that wrote something
    long cells;     // metric cells written (once per cell, for /ppl /nll /n_tokens together)
    long rows;      // per-job table rows written
    int kill_at;    // tests only (SWEEP_TEST_FAULT h5kill, mpi/sched_output.c): 1 + the plan index of a job
                    // after whose cells h5_update_results kills its process (SIGKILL); 0 never
} H5Written;

// Updates in place a file h5_write_results wrote for plan with the latest records recs[n] of the
// plan's jobs jobs[n] (each listed once): their cells, per-job table rows, loss rows and adapters.
// had_cells[n] (NULL: none) says the file may hold cells from an earlier record of that job: its row
// is then rewritten whole (NaN where the record has no cell); otherwise only the record's cells are
// written. Adds to *written (may be NULL). 0 ok (n = 0: the file is not touched); 1 it cannot be done
// in place (a loss curve longer than the file's /step axis, eval.variants): rebuild with
// h5_write_results; -1 with a one-line message (the file may hold part of the update: rebuild).
int h5_update_results(const char *path, const Plan *plan, int n, const int *jobs, const JobResult *const *recs,
                      const unsigned char *had_cells, H5Written *written, char *err, size_t errlen);
