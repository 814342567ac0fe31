// The journal: rank 0's append-only record of finished jobs, the ground truth the results file is
// rebuilt from.
//
// Durability. Each record is written with one write(2) as soon as its result arrives, so a killed
// process (kill -9 of any rank, mpirun giving up) loses only the jobs in flight: what was written is in
// the kernel's page cache and reaches the file. journal_append also fsyncs each record; sweep run uses
// journal_write without the fsync and calls journal_sync at most once a second, before each rebuild
// of the results file and at the end, so a crash of the host itself (power, kernel) may lose the
// records of the last second: resume finds those jobs missing and runs them again. A record is never
// half recorded: a torn final record (below) is dropped and its job rerun.
//
// File format (little-endian), a sequence of records:
//   u32 magic "SWJR" | u32 type | u64 payload length | u64 FNV-1a 64 of the 16 bytes before and the
//   payload | payload
// The first record is a header (spec hash, plan identity, protocol, tool version); a new header is
// appended when a spec that only adds jobs resumes the journal. Result records follow; a later
// record for a job id supersedes earlier ones (retries). Result records are written as type 5: the
// backend string, the job's peak resident bytes (u64) and start time (f64), then the largest change of
// a trained parameter (f64) and its tensor's name (string); type 4 records (ending at the start time)
// read with change NaN and name "" (not recorded), type 3 records (ending at the backend) also with
// peak 0, type 2 records (before the backend) also with backend "".
//
// A record that fails its checksum or runs past the end, with no valid record after it, is a torn
// final write (a kill mid-append): readers ignore it and journal_open truncates it. A bad record
// followed by a good one is corruption and an error, never silently dropped.
#pragma once
#include <stddef.h>
#include "results/result.h"
#include "sweeps/plan.h"

typedef struct {
    char spec_hash[17];
    char plan_hash[17];     // journal_plan_hash of the plan that wrote it
    int n_jobs;
    char protocol[32];
    char version[32];       // SWEEP_VERSION of the writer
} JournalHeader;

typedef struct {
    int n_headers;
    JournalHeader header;   // the latest one
    int n_records;          // result records read, superseded ones included
    int n;                  // distinct job ids
    JobResult *latest;      // [n]: the last record per job id, in order of first appearance
    int *index;             // open-addressing table on id: slots hold positions in latest, -1 empty
    int index_cap;
    struct CellBlock *cells;   // where latest[i].evals live (results/journal_index.c), freed with the contents
    size_t valid_bytes;     // length of the well-formed prefix
    size_t torn_bytes;      // bytes of a torn final record after it (0 normally)
} JournalContents;

typedef struct {
    int fd;
    char path[1024];
    size_t keep_adapter_max;    // adapters larger than this (bytes, fp32) are not journalled
    JournalContents c;
    size_t synced_bytes;        // the prefix known to be fsynced
    long syncs;                 // fsyncs made (sweep run's per-result accounting)
} Journal;

// Parses a journal image. 0 ok (a torn tail is reported in c->torn_bytes, not an error); -1 for a
// file that is not a journal or is corrupt before its end, with a message naming byte offsets.
int journal_parse(const unsigned char *buf, size_t len, JournalContents *c, char *err, size_t errlen);
// Reads a journal without changing it. Errors name the path.
int journal_read(const char *path, JournalContents *c, char *err, size_t errlen);
void journal_contents_free(JournalContents *c);
const JobResult *journal_find(const JournalContents *c, const char *id);

// Opens (creating if absent) the journal of a sweep for `plan`: takes an exclusive lock, truncates a
// torn final record, and checks the plan. A journal written for another spec is accepted only when
// every job id (and eval text) it holds still exists in the plan, i.e. the spec only adds jobs; a
// new header then records the new spec. -1 with a one-line message otherwise.
int journal_open(Journal *j, const char *path, const Plan *plan, size_t keep_adapter_max, char *err,
                 size_t errlen);
// Appends one record and fsyncs it. The adapter is left out when larger than keep_adapter_max.
int journal_append(Journal *j, const JobResult *r, char *err, size_t errlen);
// journal_append with the fsync left to journal_sync when sync is 0.
int journal_write(Journal *j, const JobResult *r, int sync, char *err, size_t errlen);
// journal_write of r, which result_decode read from payload[len] (a result_encode payload, as sent
// between ranks) and whose head alone (id to host: the attempts, rank and host rank 0 sets) may have
// changed since: the rest of the payload is appended as it came instead of encoded again (a 1,000-cell
// result is ~49 KB). The record's bytes are journal_write's; payload NULL (or an adapter left out) is
// journal_write. On success r's arrays belong to the journal (r is left without them: journal_find
// gives the record).
int journal_write_received(Journal *j, JobResult *r, const unsigned char *payload, size_t len, int sync,
                           char *err, size_t errlen);
// Fsyncs what was written since the last sync (nothing to do: no call). 0 ok, -1 with a message.
int journal_sync(Journal *j, char *err, size_t errlen);
void journal_close(Journal *j);   // syncs what is pending first

// A result as the journal's record payload, for sending it between ranks (adapter always included).
// result_encode: *buf is malloc'd; -1 for an inconsistent result. result_decode: 0 ok, -1 malformed
// (message in err); r owns its arrays afterwards (job_result_free).
int result_encode(const JobResult *r, unsigned char **buf, size_t *len);
int result_decode(const unsigned char *buf, size_t len, JobResult *r, char *err, size_t errlen);
#define JOURNAL_RESULT_TYPE 5u   // the record type result_encode's payloads are written under today

// by_job[i] = the latest record for plan->jobs[i], or NULL.
void journal_match_plan(const JournalContents *c, const Plan *plan, const JobResult **by_job);
// A job needs no more runs: it succeeded with a cell for each of its eval texts, or it failed
// plan->max_attempts times.
int journal_job_finished(const JobResult *r, const Plan *plan, const Job *job);
// FNV-1a over the plan's job ids in order, as 16 hex digits.
void journal_plan_hash(const Plan *plan, char out[17]);
