// Journal: round trip, superseding retries, torn tails (every cut point and a real SIGKILL),
// checksum corruption, spec changes (refused) and spec extensions (accepted), locking, adapter policy.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "testlib.h"
#include "results/journal.h"
#include "../results/fixture_plan.h"

static char dir[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static unsigned char *slurp(const char *path, size_t *len) { return (unsigned char *)read_whole_file(path, len); }

static void spit(const char *path, const unsigned char *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

// Field-by-field equality; the adapter only when with_adapter.
static int results_equal(const JobResult *a, const JobResult *b, int with_adapter) {
    if (strcmp(a->id, b->id) || a->status != b->status || a->attempts != b->attempts ||
        strcmp(a->message, b->message) || !same_bits(a->seconds, b->seconds) || a->rank != b->rank ||
        strcmp(a->host, b->host) || a->tokens != b->tokens || !same_bits(a->final_loss, b->final_loss) ||
        !same_bits(a->max_param_change, b->max_param_change) || strcmp(a->max_param_tensor, b->max_param_tensor) ||
        a->adapter_bytes_fp32 != b->adapter_bytes_fp32 || a->adapter_bytes_fp16 != b->adapter_bytes_fp16 ||
        a->n_steps != b->n_steps || a->n_evals != b->n_evals)
        return 0;
    if (a->n_steps && memcmp(a->loss_curve, b->loss_curve, (size_t)a->n_steps * sizeof(float))) return 0;
    for (int e = 0; e < a->n_evals; e++)
        if (strcmp(a->evals[e].eval, b->evals[e].eval) || !same_bits(a->evals[e].ppl, b->evals[e].ppl) ||
            !same_bits(a->evals[e].nll, b->evals[e].nll) || a->evals[e].n_tokens != b->evals[e].n_tokens)
            return 0;
    if (!with_adapter) return 1;
    if (a->adapter_n != b->adapter_n || a->adapter_ndim != b->adapter_ndim) return 0;
    if (a->adapter_n && memcmp(a->adapter, b->adapter, a->adapter_n * sizeof(float))) return 0;
    return memcmp(a->adapter_shape, b->adapter_shape, (size_t)a->adapter_ndim * sizeof(int64_t)) == 0;
}

// Writes a journal holding every fixture job but the pending one; returns the number written.
static int write_journal(const char *path, const Plan *p) {
    Journal j;
    char err[512];
    unlink(path);
    if (journal_open(&j, path, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err)) {
        CHECK(0, "journal_open: %s", err);
        return 0;
    }
    int n = 0;
    for (int k = 0; k < p->n_jobs; k++) {
        if (fixture_pending(p, k)) continue;
        JobResult r;
        fixture_result(p, k, &r, 0.1 * k);
        if (journal_append(&j, &r, err, sizeof err)) CHECK(0, "append: %s", err); else n++;
        job_result_free(&r);
    }
    journal_close(&j);
    return n;
}

static void test_round_trip(const Plan *p) {
    char path[512], err[512];
    path_in(path, sizeof path, "rt.journal");
    int n = write_journal(path, p);
    CHECK(n == p->n_jobs - 1, "wrote %d of %d", n, p->n_jobs - 1);
    JournalContents c;
    int rc = journal_read(path, &c, err, sizeof err);
    CHECK(rc == 0, "read: %s", err);
    if (rc) return;
    CHECK(c.n == n && c.n_records == n && c.n_headers == 1, "n %d records %d headers %d", c.n, c.n_records, c.n_headers);
    CHECK(c.torn_bytes == 0 && c.valid_bytes == (size_t)file_size(path), "torn %zu valid %zu", c.torn_bytes, c.valid_bytes);
    CHECK(strcmp(c.header.spec_hash, p->spec_hash) == 0, "header spec hash %s", c.header.spec_hash);
    CHECK(c.header.n_jobs == p->n_jobs && strcmp(c.header.protocol, "custom") == 0, "header identity");
    char ph[17];
    journal_plan_hash(p, ph);
    CHECK(strcmp(c.header.plan_hash, ph) == 0, "plan hash %s vs %s", c.header.plan_hash, ph);
    int equal = 0, pending_found = 0;
    for (int k = 0; k < p->n_jobs; k++) {
        const JobResult *got = journal_find(&c, p->jobs[k].id);
        if (fixture_pending(p, k)) { pending_found += got != NULL; continue; }
        JobResult want;
        fixture_result(p, k, &want, 0.1 * k);
        equal += got && results_equal(got, &want, 1);
        job_result_free(&want);
    }
    CHECK(equal == n, "%d of %d records read back equal", equal, n);
    CHECK(pending_found == 0, "a job never appended was found");
    CHECK(journal_find(&c, "ffffffffffffffff") == NULL, "unknown id found");

    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    journal_match_plan(&c, p, by_job);
    int matched = 0, finished = 0;
    for (int k = 0; k < p->n_jobs; k++) {
        matched += by_job[k] && strcmp(by_job[k]->id, p->jobs[k].id) == 0;
        finished += journal_job_finished(by_job[k], p, &p->jobs[k]);
    }
    // the pending job has no record; the error job used 2 attempts = max_attempts; the diverged one 1 of 2
    CHECK(matched == n, "matched %d", matched);
    CHECK(finished == n - 1, "finished %d, want %d", finished, n - 1);
    free(by_job);
    journal_contents_free(&c);
}

// Encoding for the wire is the record payload; decoding keeps the plan index.
static void test_wire(const Plan *p) {
    int k = 3;
    JobResult r, back;
    fixture_result(p, k, &r, 0.5);
    unsigned char *buf;
    size_t len;
    CHECK(result_encode(&r, &buf, &len) == 0, "encode");
    char err[256];
    CHECK(result_decode(buf, len, &back, err, sizeof err) == 0, "decode: %s", err);
    CHECK(results_equal(&r, &back, 1) && back.job == k, "wire round trip");
    job_result_free(&back);
    for (size_t cut = 0; cut < len; cut++)
        if (result_decode(buf, cut, &back, err, sizeof err) == 0) {
            CHECK(0, "a payload cut to %zu of %zu bytes decoded", cut, len);
            job_result_free(&back);
            break;
        }
    free(buf);
    r.status = JOB_PENDING;
    CHECK(result_encode(&r, &buf, &len) != 0, "pending encoded");
    job_result_free(&r);
}

// A result journalled as it was received (the payload a worker sent, its head changed by rank 0:
// attempts, rank, host) makes the same bytes as the result encoded anew, whether the adapter is
// kept (the payload's tail appended as it came) or left out (encoded anew).
static void test_received(const Plan *p) {
    for (int limit = 0; limit < 2; limit++) {
        size_t keep = limit ? 16 : RESULTS_KEEP_ADAPTER_DEFAULT;
        char a[512], b[512], err[512];
        path_in(a, sizeof a, "encoded.journal");
        path_in(b, sizeof b, "received.journal");
        unlink(a);
        unlink(b);
        Journal ja, jb;
        CHECK(journal_open(&ja, a, p, keep, err, sizeof err) == 0, "open: %s", err);
        CHECK(journal_open(&jb, b, p, keep, err, sizeof err) == 0, "open: %s", err);
        int tails = 0;
        for (int k = 0; k < p->n_jobs; k++) {
            if (fixture_pending(p, k)) continue;
            JobResult r, d;
            fixture_result(p, k, &r, 0.1 * k);
            if (k % 3 == 1) snprintf(r.message, sizeof r.message, "message of job %d", k);
            unsigned char *buf;
            size_t len;
            CHECK(result_encode(&r, &buf, &len) == 0, "encode");
            CHECK(result_decode(buf, len, &d, err, sizeof err) == 0, "decode: %s", err);
            r.attempts = d.attempts = 2 + k % 2;   // what rank 0 sets after decoding
            r.rank = d.rank = 0;
            snprintf(r.host, sizeof r.host, "rank0-%d", k);
            snprintf(d.host, sizeof d.host, "rank0-%d", k);
            CHECK(journal_write(&ja, &r, 0, err, sizeof err) == 0, "write: %s", err);
            tails += k % 5 != 4 && !(d.adapter_n && d.adapter_n > keep / sizeof(float));
            CHECK(journal_write_received(&jb, &d, k % 5 == 4 ? NULL : buf, len, 0, err, sizeof err) == 0,
                  "write received: %s", err);
            CHECK(!d.evals && !d.n_evals && !d.loss_curve && !d.adapter, "job %d: arrays left with the caller", k);
            CHECK(results_equal(journal_find(&ja.c, r.id), journal_find(&jb.c, r.id), 1), "job %d: contents differ", k);
            free(buf);
            job_result_free(&r);
            job_result_free(&d);
        }
        CHECK(tails > (limit ? 0 : 5), "keep %zu: %d payload tails appended as received", keep, tails);
        journal_close(&ja);
        journal_close(&jb);
        size_t na, nb;
        unsigned char *fa = slurp(a, &na), *fb = slurp(b, &nb);
        CHECK(fa && fb && na == nb && memcmp(fa, fb, na) == 0, "keep %zu: journals differ (%zu, %zu bytes)", keep, na, nb);
        free(fa);
        free(fb);
    }
}

// A journal from before the parameter change: every result record (type 5) made a type 4 record
// without its last two fields (f64 max_param_change, string max_param_tensor); checksums redone.
static void test_before_param_change(const Plan *p) {
    char path[512], old[512], err[512];
    path_in(path, sizeof path, "rt.journal");
    path_in(old, sizeof old, "type4.journal");
    size_t len;
    unsigned char *buf = slurp(path, &len), *out = xmalloc(len + 1);
    size_t off = 0, o = 0;
    int cut = 0;
    while (buf && off + 24 <= len) {
        uint32_t type;
        uint64_t n;
        memcpy(&type, buf + off + 4, 4);
        memcpy(&n, buf + off + 8, 8);
        uint64_t keep = n;
        if (type == 5) {   // the record's job (its id comes first) says how long its tensor name is
            uint32_t idlen;
            memcpy(&idlen, buf + off + 24, 4);
            char id[17] = "";
            if (idlen < sizeof id) memcpy(id, buf + off + 28, idlen);
            for (int k = 0; k < p->n_jobs; k++)
                if (!strcmp(p->jobs[k].id, id)) {
                    JobResult r;
                    fixture_result(p, k, &r, 0);
                    keep = n - 12 - strlen(r.max_param_tensor);
                    job_result_free(&r);
                    cut++;
                }
            type = 4;
        }
        memcpy(out + o, buf + off, 24 + keep);
        memcpy(out + o + 4, &type, 4);
        memcpy(out + o + 8, &keep, 8);
        uint64_t sum = fnv1a64(out + o, 16, FNV1A64_INIT);
        sum = fnv1a64(out + o + 24, keep, sum);
        memcpy(out + o + 16, &sum, 8);
        o += 24 + keep;
        off += 24 + n;
    }
    spit(old, out, o);
    CHECK(cut == p->n_jobs - 1, "made %d type 4 records, want %d", cut, p->n_jobs - 1);
    JournalContents c;
    int rc = journal_read(old, &c, err, sizeof err);
    CHECK(rc == 0, "a journal of type 4 records reads: %s", err);
    int equal = 0, unrecorded = 0;
    for (int k = 0; k < p->n_jobs && rc == 0; k++) {
        const JobResult *got = journal_find(&c, p->jobs[k].id);
        if (!got) continue;
        JobResult want;
        fixture_result(p, k, &want, 0.1 * k);
        unrecorded += isnan(got->max_param_change) && !got->max_param_tensor[0];
        want.max_param_change = got->max_param_change;
        memcpy(want.max_param_tensor, got->max_param_tensor, sizeof want.max_param_tensor);
        equal += results_equal(got, &want, 1);
        job_result_free(&want);
    }
    CHECK(unrecorded == p->n_jobs - 1, "%d of %d type 4 records read as not recorded (NaN, \"\")", unrecorded,
          p->n_jobs - 1);
    CHECK(equal == p->n_jobs - 1, "%d of %d type 4 records read back equal otherwise", equal, p->n_jobs - 1);
    if (rc == 0) journal_contents_free(&c);
    free(buf);
    free(out);
}

static void test_supersede(const Plan *p) {
    char path[512], err[512];
    path_in(path, sizeof path, "sup.journal");
    unlink(path);
    Journal j;
    CHECK(journal_open(&j, path, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err) == 0, "open: %s", err);
    JobResult r;
    fixture_result(p, 5, &r, 0);
    EvalCell *cells = r.evals;
    int ncells = r.n_evals;
    r.status = JOB_CRASHED;
    r.n_evals = 0;
    snprintf(r.message, sizeof r.message, "segfault");
    journal_append(&j, &r, err, sizeof err);
    CHECK(!journal_job_finished(journal_find(&j.c, r.id), p, &p->jobs[5]), "a first crash finishes the job");
    r.status = JOB_OK;
    r.attempts = 2;
    r.message[0] = 0;
    r.evals = cells;
    r.n_evals = ncells;
    journal_append(&j, &r, err, sizeof err);
    CHECK(j.c.n == 1 && j.c.n_records == 2, "in memory: n %d records %d", j.c.n, j.c.n_records);
    journal_close(&j);
    JournalContents c;
    CHECK(journal_read(path, &c, err, sizeof err) == 0, "read: %s", err);
    const JobResult *got = journal_find(&c, r.id);
    CHECK(c.n == 1 && c.n_records == 2, "n %d records %d", c.n, c.n_records);
    CHECK(got && got->status == JOB_OK && got->attempts == 2 && got->n_evals == ncells, "latest record wins");
    CHECK(got && journal_job_finished(got, p, &p->jobs[5]), "the retry that succeeded finishes the job");
    journal_contents_free(&c);
    job_result_free(&r);
}

// Every cut inside the final record is a torn tail: ignored on read, truncated on open.
static void test_torn_tail(const Plan *p) {
    char path[512], cutp[512], err[512];
    path_in(path, sizeof path, "torn.journal");
    path_in(cutp, sizeof cutp, "cut.journal");
    int n = write_journal(path, p);
    size_t len;
    unsigned char *full = slurp(path, &len);
    // the final record starts where a journal without it ends
    JournalContents c;
    journal_read(path, &c, err, sizeof err);
    journal_contents_free(&c);
    size_t last_start = 0;
    for (size_t cut = len - 1; cut > 0; cut--) {
        if (journal_parse(full, cut, &c, err, sizeof err) == 0 && c.torn_bytes == 0) { last_start = cut; journal_contents_free(&c); break; }
        journal_contents_free(&c);
    }
    CHECK(last_start > 0 && last_start < len, "final record start %zu", last_start);
    int ok = 0, total = 0;
    for (size_t cut = last_start + 1; cut < len; cut++) {
        total++;
        if (journal_parse(full, cut, &c, err, sizeof err) == 0 && c.n == n - 1 && c.valid_bytes == last_start &&
            c.torn_bytes == cut - last_start)
            ok++;
        journal_contents_free(&c);
    }
    CHECK(ok == total && total > 0, "%d of %d cut points read as a torn tail", ok, total);

    // zeros after the last record (a crash on a filesystem that extended the file first)
    unsigned char *z = xcalloc(len + 100, 1);
    memcpy(z, full, len);
    CHECK(journal_parse(z, len + 100, &c, err, sizeof err) == 0 && c.n == n && c.torn_bytes == 100, "zero tail");
    journal_contents_free(&c);
    free(z);

    // open truncates the torn tail and appends after the last good record
    size_t cut = last_start + (len - last_start) / 2;
    spit(cutp, full, cut);
    Journal j;
    int rc = journal_open(&j, cutp, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err);
    CHECK(rc == 0, "open torn: %s", err);
    if (rc == 0) {
        CHECK(j.c.torn_bytes == cut - last_start && file_size(cutp) == (long)last_start, "truncated to %ld",
              file_size(cutp));
        CHECK(j.c.n_headers == 1, "no second header for the same plan");
        JobResult r;
        int k = p->n_jobs - 1;
        fixture_result(p, k, &r, 0);
        CHECK(journal_append(&j, &r, err, sizeof err) == 0, "append after truncation: %s", err);
        job_result_free(&r);
        journal_close(&j);
        CHECK(journal_read(cutp, &c, err, sizeof err) == 0 && c.torn_bytes == 0 && c.n == n, "read after repair: %s", err);
        journal_contents_free(&c);
    }
    // a torn header leaves an empty journal, which open starts afresh
    spit(cutp, full, 10);
    rc = journal_open(&j, cutp, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err);
    CHECK(rc == 0 && j.c.n == 0 && j.c.n_headers == 1, "torn header: %s", err);
    if (rc == 0) journal_close(&j);
    free(full);
}

// A child appends in a loop and is SIGKILLed at a random moment; every fsynced record survives.
static void test_kill(const Plan *p) {
    char path[512], err[512];
    path_in(path, sizeof path, "kill.journal");
    unlink(path);
    int pipefd[2];
    if (pipe(pipefd) != 0) { CHECK(0, "pipe"); return; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        Journal j;
        if (journal_open(&j, path, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err)) _exit(1);
        for (long i = 0;; i++) {
            int k = (int)(i % p->n_jobs);
            JobResult r;
            fixture_result(p, k, &r, 0);
            r.attempts = (int)(i / p->n_jobs) + 1;
            if (journal_append(&j, &r, err, sizeof err)) _exit(1);
            job_result_free(&r);
            if (i == 20) { char x = 1; if (write(pipefd[1], &x, 1) != 1) _exit(1); }
        }
    }
    close(pipefd[1]);
    char x;
    CHECK(read(pipefd[0], &x, 1) == 1, "child started");
    close(pipefd[0]);
    srand((unsigned)time(NULL));
    struct timespec ts = {0, (long)(rand() % 20000) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st), "child died by signal");
    Journal j;
    int rc = journal_open(&j, path, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err);
    CHECK(rc == 0, "open after kill: %s", err);
    if (rc) return;
    CHECK(j.c.n_records >= 21, "only %d records survived", j.c.n_records);
    int ok = 0;
    for (int i = 0; i < j.c.n; i++) {
        JobResult want;
        const JobResult *got = &j.c.latest[i];
        if (got->job < 0) continue;
        fixture_result(p, got->job, &want, 0);
        want.attempts = got->attempts;
        ok += results_equal(got, &want, 1);
        job_result_free(&want);
    }
    CHECK(ok == j.c.n, "%d of %d surviving records intact", ok, j.c.n);
    journal_close(&j);
}

static void test_corruption(const Plan *p) {
    char path[512], bad[512], err[512];
    path_in(path, sizeof path, "corrupt.journal");
    path_in(bad, sizeof bad, "bad.journal");
    write_journal(path, p);
    size_t len;
    unsigned char *full = slurp(path, &len);
    JournalContents c;
    // one flipped bit in the middle of the file, in a payload and in a length field
    size_t mid = len / 2;
    full[mid] ^= 0x10;
    CHECK(journal_parse(full, len, &c, err, sizeof err) == -1 && strstr(err, "corrupt"), "mid-file flip: %s", err);
    full[mid] ^= 0x10;
    JournalContents ok;
    journal_parse(full, len, &ok, err, sizeof err);
    journal_contents_free(&ok);
    size_t second = 0;   // the second record's length field: byte 8 of its frame
    for (size_t cut = 1; cut < len; cut++) {
        if (journal_parse(full, cut, &c, err, sizeof err) == 0 && c.torn_bytes == 0 && c.n_headers == 1) { second = cut; journal_contents_free(&c); break; }
        journal_contents_free(&c);
    }
    full[second + 9] ^= 0x40;
    CHECK(journal_parse(full, len, &c, err, sizeof err) == -1, "flipped length field read");
    spit(bad, full, len);
    Journal j;
    long before = file_size(bad);
    CHECK(journal_open(&j, bad, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err) == -1 && strstr(err, bad),
          "open corrupt journal: %s", err);
    CHECK(file_size(bad) == before, "a corrupt journal was modified");
    full[second + 9] ^= 0x40;
    // a flip in the final record is indistinguishable from a torn write: dropped, not fatal
    full[len - 3] ^= 1;
    CHECK(journal_parse(full, len, &c, err, sizeof err) == 0 && c.torn_bytes > 0, "flip in final record");
    journal_contents_free(&c);
    free(full);
    // not a journal at all: refused and left alone, never truncated as if torn
    spit(bad, (const unsigned char *)"{\"spec\": 1}\n", 12);
    CHECK(journal_read(bad, &c, err, sizeof err) == -1 && strstr(err, "not a sweep journal"), "text file: %s", err);
    CHECK(journal_open(&j, bad, p, 0, err, sizeof err) == -1 && file_size(bad) == 12, "text file opened: %s", err);
    CHECK(journal_read("/nonexistent/x.journal", &c, err, sizeof err) == -1 && strstr(err, "/nonexistent/x.journal"),
          "missing file: %s", err);
    CHECK(journal_open(&j, dir, p, 0, err, sizeof err) == -1 && strstr(err, dir), "directory: %s", err);
}

static void test_spec_change(void) {
    Plan a, wider, other;
    fixture_plan(&a, 0);
    fixture_plan(&wider, 1);
    fixture_plan(&other, 0);
    char path[512], err[512];
    path_in(path, sizeof path, "spec.journal");
    int n = write_journal(path, &a);
    long before = file_size(path);

    // a spec that changes an existing job: one job id differs (as a changed seed would make it)
    snprintf(other.spec_hash, sizeof other.spec_hash, "0123456789abcdef");
    other.jobs[4].id[0] = other.jobs[4].id[0] == 'a' ? 'b' : 'a';
    Journal j;
    int rc = journal_open(&j, path, &other, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "changes existing jobs") && strstr(err, a.jobs[4].id), "changed job: %s", err);
    CHECK(file_size(path) == before, "a refused journal was modified");
    if (rc == 0) journal_close(&j);

    // same jobs, but an eval text that recorded cells refer to is gone
    Plan fewer;
    fixture_plan(&fewer, 0);
    snprintf(fewer.spec_hash, sizeof fewer.spec_hash, "00000000000000ff");
    fewer.axis[AX_EVAL_TEXT].n--;   // drops "general"
    rc = journal_open(&j, path, &fewer, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "general"), "removed eval text: %s", err);
    if (rc == 0) journal_close(&j);
    fewer.axis[AX_EVAL_TEXT].n++;
    fixture_plan_free(&fewer);

    // a spec that only adds a user: accepted, old records kept, new jobs left to run
    rc = journal_open(&j, path, &wider, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err);
    CHECK(rc == 0, "extended spec refused: %s", err);
    if (rc == 0) {
        CHECK(j.c.n == n && j.c.n_headers == 2 && strcmp(j.c.header.spec_hash, wider.spec_hash) == 0,
              "n %d headers %d", j.c.n, j.c.n_headers);
        int old_done = 0, new_done = 0, new_jobs = 0;
        for (int k = 0; k < wider.n_jobs; k++) {
            const JobResult *r = journal_find(&j.c, wider.jobs[k].id);
            int fin = journal_job_finished(r, &wider, &wider.jobs[k]);
            if (wider.jobs[k].ax[AX_TRAIN_USER] == 2) { new_jobs++; new_done += fin; }
            else old_done += fin;
            if (r) CHECK(r->job == k, "record of %s mapped to %d, not %d", r->id, r->job, k);
        }
        // the none jobs evaluate every text: poet/eval-1 is new to them, so they run again
        CHECK(new_jobs == 12 && new_done == 0, "new jobs %d done %d", new_jobs, new_done);
        CHECK(old_done == n - 1 - 2, "old jobs done %d", old_done);
        journal_close(&j);
        // reopening with the same wider spec adds no header
        CHECK(journal_open(&j, path, &wider, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err) == 0 && j.c.n_headers == 2,
              "reopen: %s", err);
        journal_close(&j);
    }
    fixture_plan_free(&a);
    fixture_plan_free(&wider);
    fixture_plan_free(&other);
}

static void test_lock_and_adapter_policy(const Plan *p) {
    char path[512], err[512];
    path_in(path, sizeof path, "lock.journal");
    unlink(path);
    Journal j, k;
    CHECK(journal_open(&j, path, p, 16, err, sizeof err) == 0, "open: %s", err);
    CHECK(journal_open(&k, path, p, 16, err, sizeof err) == -1 && strstr(err, "in use"), "second writer: %s", err);
    JobResult r;
    int idx = 3;   // a norm job: 12 scalars, 48 bytes > 16
    fixture_result(p, idx, &r, 0);
    CHECK(r.adapter_n == 12, "fixture adapter size %zu", r.adapter_n);
    journal_append(&j, &r, err, sizeof err);
    journal_close(&j);
    JournalContents c;
    CHECK(journal_read(path, &c, err, sizeof err) == 0, "read: %s", err);
    const JobResult *got = journal_find(&c, r.id);
    CHECK(got && got->adapter_n == 0 && got->adapter == NULL && got->adapter_bytes_fp32 == 48 &&
          results_equal(got, &r, 0), "a large adapter is measured but not kept");
    journal_contents_free(&c);
    // a record without a job id is refused, and nothing is written
    long before = file_size(path);
    CHECK(journal_open(&j, path, p, 16, err, sizeof err) == 0, "reopen: %s", err);
    r.id[0] = 0;
    CHECK(journal_append(&j, &r, err, sizeof err) == -1, "record without id appended");
    CHECK(file_size(path) == before, "refused record written");
    journal_close(&j);
    job_result_free(&r);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/sweep-test-journal-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    Plan p;
    fixture_plan(&p, 0);
    CHECK(p.n_jobs == 26, "fixture has %d jobs", p.n_jobs);
    test_round_trip(&p);
    test_before_param_change(&p);
    test_wire(&p);
    test_received(&p);
    test_supersede(&p);
    test_torn_tail(&p);
    test_kill(&p);
    test_corruption(&p);
    test_spec_change();
    test_lock_and_adapter_policy(&p);
    fixture_plan_free(&p);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tl_finish("test_journal");
}
