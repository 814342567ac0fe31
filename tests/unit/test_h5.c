// Results file: round trip through the writer and reader, NaN where no cell, atomic replace (no
// .tmp left, an old file survives a failed write), byte-identical rewrites, compare, bad files.
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include "testlib.h"
#include "results/h5read.h"
#include "results/h5write.h"
#include "results/journal.h"
#include "../results/fixture_plan.h"

static char dir[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static int exists(const char *path) { return access(path, F_OK) == 0; }

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

// Fixture results for every job but the pending one; noise changes only wall-clock fields.
static JobResult *make_results(const Plan *p, double noise, const JobResult **by_job) {
    JobResult *rs = xcalloc((size_t)p->n_jobs, sizeof(JobResult));
    for (int j = 0; j < p->n_jobs; j++) {
        by_job[j] = NULL;
        if (fixture_pending(p, j)) continue;
        fixture_result(p, j, &rs[j], noise + 0.01 * j);
        by_job[j] = &rs[j];
    }
    return rs;
}

static void free_results(const Plan *p, JobResult *rs) {
    for (int j = 0; j < p->n_jobs; j++) job_result_free(&rs[j]);
    free(rs);
}

static const char *base_hashes[2] = {"00112233aabbccdd", "ffeeddccbbaa9988"};

static int write_file(const char *path, const Plan *p, const JobResult *const *by_job, char *err, size_t errlen) {
    H5WriteInfo info = {.n_base_hashes = 2, .base_hashes = base_hashes, .created_by = "test_h5"};
    return h5_write_results(path, p, by_job, &info, err, errlen);
}

static void test_round_trip(const Plan *p) {
    char path[512], tmp[600], err[512];
    path_in(path, sizeof path, "rt.h5");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    JobResult *rs = make_results(p, 0, by_job);
    CHECK(write_file(path, p, by_job, err, sizeof err) == 0, "write: %s", err);
    CHECK(!exists(tmp), "%s left behind", tmp);
    ResultsFile rf;
    int rc = h5_read_results(path, &rf, err, sizeof err);
    CHECK(rc == 0, "read: %s", err);
    if (rc) { free_results(p, rs); free(by_job); return; }

    for (int a = 0; a < AX_COUNT; a++) {
        int same = rf.axis[a].n == p->axis[a].n;
        for (int i = 0; same && i < p->axis[a].n; i++) same = strcmp(rf.axis[a].labels[i], p->axis[a].labels[i]) == 0;
        CHECK(same, "axis %d labels", a);
    }
    CHECK(rf.seeds[0] == 0 && rf.seeds[1] == 7, "seed values");

    // every recorded cell in place; every other cell NaN
    size_t set = 0, asked = 0, wrong = 0;
    char *is_set = xcalloc(rf.n_cells, 1);
    for (int j = 0; j < p->n_jobs; j++) {
        const JobResult *r = by_job[j];
        if (!r) continue;
        for (int e = 0; e < r->n_evals; e++) {
            int idx[AX_COUNT];
            for (int a = 0; a <= AX_SEED; a++) idx[a] = p->jobs[j].ax[a];
            idx[AX_EVAL_TEXT] = results_axis_find(&rf, AX_EVAL_TEXT, r->evals[e].eval);
            size_t at = results_cell(&rf, idx);
            asked++;
            is_set[at] = 1;
            wrong += !same_bits(rf.ppl[at], r->evals[e].ppl) || !same_bits(rf.nll[at], r->evals[e].nll) ||
                     rf.n_tokens[at] != (double)r->evals[e].n_tokens;
        }
    }
    size_t nan_ok = 0;
    for (size_t i = 0; i < rf.n_cells; i++) {
        set += is_set[i];
        if (!is_set[i]) nan_ok += isnan(rf.ppl[i]) && isnan(rf.nll[i]) && isnan(rf.n_tokens[i]);
    }
    CHECK(wrong == 0 && asked > 0, "%zu of %zu cells differ", wrong, asked);
    CHECK(set == asked, "cells collided: %zu set, %zu asked", set, asked);
    CHECK(nan_ok == rf.n_cells - set, "%zu of %zu empty cells are NaN", nan_ok, rf.n_cells - set);
    CHECK(rf.n_cells == 2 * 2 * 3 * 2 * 2 * 4, "n_cells %zu", rf.n_cells);
    free(is_set);

    // the job table, plan order, pending included
    CHECK(rf.n_jobs == p->n_jobs, "n_jobs %d", rf.n_jobs);
    int rows_ok = 0, pending = 0, utf8_fixed = 0;
    for (int j = 0; j < rf.n_jobs && rf.n_jobs == p->n_jobs; j++) {
        const ResultsJob *J = &rf.jobs[j];
        int axes_ok = strcmp(J->id, p->jobs[j].id) == 0 && J->seed == p->jobs[j].seed;
        for (int a = 0; a <= AX_SEED; a++) axes_ok &= J->ax[a] == p->jobs[j].ax[a];
        const JobResult *r = by_job[j];
        if (!r) {
            pending++;
            rows_ok += axes_ok && J->status == JOB_PENDING && J->attempts == 0 && isnan(J->seconds) && J->rank == -1;
            continue;
        }
        // the file's strings are UTF-8: the fixture's stray 0xff byte becomes '?'
        char want_msg[256];
        snprintf(want_msg, sizeof want_msg, "%s", r->message);
        for (char *c = want_msg; *c; c++)
            if ((unsigned char)*c == 0xff) { *c = '?'; utf8_fixed++; }
        rows_ok += axes_ok && J->status == r->status && J->attempts == r->attempts && same_bits(J->seconds, r->seconds) &&
                   J->tokens == r->tokens && same_bits(J->final_loss, r->final_loss) &&
                   same_bits(J->max_param_change, r->max_param_change) &&
                   strcmp(J->max_param_tensor, r->max_param_tensor) == 0 &&
                   J->adapter_bytes_fp32 == (int64_t)r->adapter_bytes_fp32 &&
                   J->adapter_bytes_fp16 == (int64_t)r->adapter_bytes_fp16 && J->rank == r->rank &&
                   strcmp(J->host, r->host) == 0 && strcmp(J->message, want_msg) == 0;
    }
    CHECK(utf8_fixed == 1, "the fixture has %d invalid UTF-8 bytes, expected 1", utf8_fixed);
    CHECK(rows_ok == p->n_jobs && pending == 1, "%d of %d job rows right, %d pending", rows_ok, p->n_jobs, pending);

    // loss curves: FX_STEPS wide, NaN past a diverged job's last step and for jobs without a curve
    CHECK(rf.n_steps == FX_STEPS, "n_steps %d", rf.n_steps);
    int curves_ok = 0;
    for (int j = 0; j < p->n_jobs && rf.n_steps == FX_STEPS; j++) {
        int n = by_job[j] ? by_job[j]->n_steps : 0, ok = 1;
        for (int k = 0; k < FX_STEPS; k++) {
            float v = rf.loss[(size_t)j * FX_STEPS + k];
            ok &= k < n ? memcmp(&v, &by_job[j]->loss_curve[k], 4) == 0 : isnan(v);
        }
        curves_ok += ok;
    }
    CHECK(curves_ok == p->n_jobs, "%d of %d loss curves right", curves_ok, p->n_jobs);

    CHECK(strcmp(rf.spec, p->spec_text) == 0 && strcmp(rf.spec_hash, p->spec_hash) == 0, "spec attributes");
    CHECK(strcmp(rf.protocol, "custom") == 0 && strcmp(rf.created_by, "test_h5") == 0, "protocol, created_by");
    CHECK(strncmp(rf.tool_version, SWEEP_VERSION, strlen(SWEEP_VERSION)) == 0, "tool_version %s", rf.tool_version);
    CHECK(rf.n_base_hashes == 2 && strcmp(rf.base_hashes[1], base_hashes[1]) == 0, "base hashes");

    // adapters: kept for trained ok jobs, with format and shape
    int adapters_ok = 0, with_adapter = 0;
    for (int j = 0; j < p->n_jobs; j++) {
        float *data;
        size_t n;
        int ndim;
        int64_t shape[4];
        char fmt[64];
        int got = h5_read_adapter(path, p->jobs[j].id, &data, &n, &ndim, shape, fmt, sizeof fmt, err, sizeof err);
        const JobResult *r = by_job[j];
        if (r && r->adapter_n) {
            with_adapter++;
            adapters_ok += got == 0 && n == r->adapter_n && memcmp(data, r->adapter, n * 4) == 0 &&
                           ndim == r->adapter_ndim && shape[0] == r->adapter_shape[0] &&
                           strcmp(fmt, p->axis[AX_FORMAT].labels[p->jobs[j].ax[AX_FORMAT]]) == 0;
        } else {
            adapters_ok += got == 1;
        }
        if (got == 0) free(data);
    }
    CHECK(adapters_ok == p->n_jobs && with_adapter > 0, "%d of %d adapters right", adapters_ok, p->n_jobs);
    float *data;
    size_t n;
    int ndim;
    int64_t shape[4];
    CHECK(h5_read_adapter(path, "../ppl", &data, &n, &ndim, shape, NULL, 0, err, sizeof err) == -1, "path id accepted");
    results_file_free(&rf);
    free_results(p, rs);
    free(by_job);
}

static int files_identical(const char *a, const char *b) {
    size_t la, lb;
    char *x = read_whole_file(a, &la), *y = read_whole_file(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

// Same results, written in another order with other timings: the compared content is equal, and
// with equal timings the bytes are too.
static void test_compare(const Plan *p) {
    char a[512], b[512], c[512], msg[512];
    path_in(a, sizeof a, "a.h5");
    path_in(b, sizeof b, "b.h5");
    path_in(c, sizeof c, "c.h5");
    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    JobResult *rs = make_results(p, 0, by_job);
    write_file(a, p, by_job, msg, sizeof msg);
    write_file(c, p, by_job, msg, sizeof msg);
    CHECK(files_identical(a, c), "two writes of the same results differ in bytes");
    JobResult *rs2 = make_results(p, 3.7, by_job);
    CHECK(rs2[0].seconds != rs[0].seconds && strcmp(rs2[1].host, rs[1].host) != 0, "noise changes timings");
    write_file(b, p, by_job, msg, sizeof msg);
    int rc = h5_compare_results(a, b, msg, sizeof msg);
    CHECK(rc == 0, "same results compare different: %s", msg);

    // each deterministic part, changed alone, is found
    int j = 1;
    CHECK(by_job[j] && by_job[j]->n_evals && by_job[j]->adapter_n, "fixture job 1 has cells and an adapter");
    double ppl = rs2[j].evals[0].ppl;
    rs2[j].evals[0].ppl = nextafter(ppl, INFINITY);
    write_file(b, p, by_job, msg, sizeof msg);
    CHECK(h5_compare_results(a, b, msg, sizeof msg) == 1 && strstr(msg, "ppl["), "one ulp of ppl: %s", msg);
    rs2[j].evals[0].ppl = ppl;

    rs2[j].loss_curve[2] += 1e-3f;
    write_file(b, p, by_job, msg, sizeof msg);
    CHECK(h5_compare_results(a, b, msg, sizeof msg) == 1 && strstr(msg, "loss of job"), "loss curve: %s", msg);
    rs2[j].loss_curve[2] -= 1e-3f;

    float w = rs2[j].adapter[5];
    rs2[j].adapter[5] = nextafterf(w, INFINITY);
    write_file(b, p, by_job, msg, sizeof msg);
    CHECK(h5_compare_results(a, b, msg, sizeof msg) == 1 && strstr(msg, "adapters/"), "adapter: %s", msg);
    rs2[j].adapter[5] = w;

    rs2[j].status = JOB_TIMEOUT;
    write_file(b, p, by_job, msg, sizeof msg);
    CHECK(h5_compare_results(a, b, msg, sizeof msg) == 1 && strstr(msg, "status"), "status: %s", msg);
    rs2[j].status = JOB_OK;

    const JobResult *keep = by_job[j];
    by_job[j] = NULL;   // the job not (yet) done
    write_file(b, p, by_job, msg, sizeof msg);
    CHECK(h5_compare_results(a, b, msg, sizeof msg) == 1, "a missing job compares equal");
    by_job[j] = keep;
    write_file(b, p, by_job, msg, sizeof msg);
    CHECK(h5_compare_results(a, b, msg, sizeof msg) == 0, "restored: %s", msg);
    CHECK(h5_compare_results(a, "/nonexistent.h5", msg, sizeof msg) == -1 && strstr(msg, "/nonexistent.h5"),
          "missing file: %s", msg);
    free_results(p, rs);
    free_results(p, rs2);
    free(by_job);
}

// A failed write leaves the previous file and no .tmp; a stale .tmp from a killed writer is replaced.
static void test_atomic(const Plan *p) {
    char path[512], tmp[600], err[512];
    path_in(path, sizeof path, "atomic.h5");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    JobResult *rs = make_results(p, 0, by_job);
    FILE *f = fopen(tmp, "w");
    fputs("half a file from a killed writer", f);
    fclose(f);
    CHECK(write_file(path, p, by_job, err, sizeof err) == 0 && !exists(tmp), "stale tmp: %s", err);
    char copy[512];
    path_in(copy, sizeof copy, "atomic-copy.h5");
    write_file(copy, p, by_job, err, sizeof err);

    // a job id with a slash cannot name a dataset in /adapters: the write fails half way
    Plan bad = *p;
    Job *jobs = xmalloc((size_t)p->n_jobs * sizeof(Job));
    memcpy(jobs, p->jobs, (size_t)p->n_jobs * sizeof(Job));
    bad.jobs = jobs;
    snprintf(jobs[1].id, sizeof jobs[1].id, "bad/id");
    int rc = write_file(path, &bad, by_job, err, sizeof err);
    CHECK(rc == -1 && strstr(err, path), "half-way failure: rc %d %s", rc, err);
    CHECK(!exists(tmp), "failed write left %s", tmp);
    CHECK(files_identical(path, copy), "a failed write changed the previous file");
    free(jobs);

    path_in(path, sizeof path, "no-such-dir/x.h5");
    CHECK(write_file(path, p, by_job, err, sizeof err) == -1 && strstr(err, "no-such-dir"), "bad dir: %s", err);
    free_results(p, rs);
    free(by_job);
}

static void test_bad_files(const Plan *p) {
    char path[512], err[512];
    ResultsFile rf;
    path_in(path, sizeof path, "text.h5");
    FILE *f = fopen(path, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    CHECK(h5_read_results(path, &rf, err, sizeof err) == -1 && strstr(err, path) && strstr(err, "HDF5"), "text: %s", err);
    CHECK(h5_read_results("/nonexistent/r.h5", &rf, err, sizeof err) == -1 && strstr(err, "/nonexistent/r.h5"),
          "missing: %s", err);

    // an HDF5 file without our datasets names the first one missing
    path_in(path, sizeof path, "empty.h5");
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    CHECK(h5_read_results(path, &rf, err, sizeof err) == -1 && strstr(err, "no dataset base"), "empty: %s", err);

    // a results file whose ppl has the wrong shape
    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    JobResult *rs = make_results(p, 0, by_job);
    path_in(path, sizeof path, "shape.h5");
    write_file(path, p, by_job, err, sizeof err);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(h, "ppl", H5P_DEFAULT);
    hsize_t d = 3;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t ds = H5Dcreate2(h, "ppl", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(h);
    CHECK(h5_read_results(path, &rf, err, sizeof err) == -1 && strstr(err, "ppl has 1 dimensions"), "shape: %s", err);
    free_results(p, rs);
    free(by_job);
}

// A partial sweep (most jobs pending) has the final file's shape.
static void test_partial(const Plan *p) {
    char path[512], err[512];
    path_in(path, sizeof path, "partial.h5");
    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    CHECK(write_file(path, p, by_job, err, sizeof err) == 0, "empty sweep: %s", err);
    ResultsFile rf;
    if (h5_read_results(path, &rf, err, sizeof err) == 0) {
        size_t nan = 0;
        for (size_t i = 0; i < rf.n_cells; i++) nan += isnan(rf.ppl[i]) != 0;
        int pending = 0;
        for (int j = 0; j < rf.n_jobs; j++) pending += rf.jobs[j].status == JOB_PENDING;
        CHECK(nan == rf.n_cells && pending == p->n_jobs && rf.n_steps == FX_STEPS, "empty sweep contents");
        results_file_free(&rf);
    } else {
        CHECK(0, "read empty sweep: %s", err);
    }
    // The empty file leaves the metric datasets unwritten (NaN fill value: O(1), not O(cells)); it must
    // equal the same file with the NaNs written out, as every file was before (h5write.h).
    char dense[512], msg[512];
    path_in(dense, sizeof dense, "partial-dense.h5");
    char *img = NULL;
    size_t len = 0;
    img = read_whole_file(path, &len);
    FILE *f = img ? fopen(dense, "wb") : NULL;
    CHECK(f && fwrite(img, 1, len, f) == len, "copy %s", dense);
    if (f) fclose(f);
    free(img);
    hid_t fid = H5Fopen(dense, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(fid >= 0, "open %s", dense);
    static const char *const names[3] = {"ppl", "nll", "n_tokens"};
    for (int k = 0; k < 3 && fid >= 0; k++) {
        hid_t ds = H5Dopen2(fid, names[k], H5P_DEFAULT);
        H5D_space_status_t st = H5D_SPACE_STATUS_ERROR;
        H5Dget_space_status(ds, &st);
        CHECK(st == H5D_SPACE_STATUS_NOT_ALLOCATED, "%s of an empty sweep has no storage (status %d)", names[k], (int)st);
        hid_t sp = H5Dget_space(ds);
        size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
        double *v = xmalloc(n * sizeof *v);
        for (size_t i = 0; i < n; i++) v[i] = NAN;
        CHECK(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0, "write NaNs to %s", names[k]);
        free(v);
        H5Sclose(sp);
        H5Dclose(ds);
    }
    if (fid >= 0) H5Fclose(fid);
    int rc = h5_compare_results(path, dense, msg, sizeof msg);
    CHECK(rc == 0, "the empty file and its dense twin differ: %s", msg);
    // and a file with one job's cells holds storage for that job's row (a chunk), not for the whole
    // dataset: rows are chunks, written as their jobs are (h5write.h)
    JobResult *rs = make_results(p, 0, by_job);
    for (int j = 0; j < p->n_jobs; j++) if (j != 1) by_job[j] = NULL;
    CHECK(write_file(path, p, by_job, err, sizeof err) == 0, "one job: %s", err);
    fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = fid >= 0 ? H5Dopen2(fid, "ppl", H5P_DEFAULT) : -1;
    H5D_space_status_t st = H5D_SPACE_STATUS_ERROR;
    if (ds >= 0) { H5Dget_space_status(ds, &st); H5Dclose(ds); }
    if (fid >= 0) H5Fclose(fid);
    CHECK(st == H5D_SPACE_STATUS_PART_ALLOCATED, "ppl with one job's cells has that row's storage only (status %d)",
          (int)st);
    free_results(p, rs);
    free(by_job);
}

// In-place updates (h5write.h): a file rebuilt with the first half of the records, then updated with
// the second half and with a new record of a first-half job holding fewer cells (its row rewritten
// whole: the dropped cells become NaN again), equals the file rebuilt with the final records; the
// counts say what was written: the second half's cells, that one job's whole row, one row per job.
static void test_update(const Plan *p) {
    char inc[512], full[512], err[512], msg[512];
    path_in(inc, sizeof inc, "update-inc.h5");
    path_in(full, sizeof full, "update-full.h5");
    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    const JobResult **half = xcalloc((size_t)p->n_jobs, sizeof *half);
    JobResult *rs = make_results(p, 0, by_job);
    int *jobs = xcalloc((size_t)p->n_jobs, sizeof *jobs), n = 0, redo = -1;
    long cells = 0;
    for (int j = 0; j < p->n_jobs; j++) {
        if (!by_job[j]) continue;
        if (j < p->n_jobs / 2) { half[j] = by_job[j]; if (redo < 0 && by_job[j]->n_evals > 1) redo = j; }
        else { jobs[n++] = j; cells += by_job[j]->n_evals; }
    }
    CHECK(redo >= 0 && n > 0, "the fixture has jobs in both halves");
    CHECK(write_file(inc, p, half, err, sizeof err) == 0, "first half: %s", err);
    JobResult fewer = rs[redo];   // shallow: the same arrays, one cell fewer
    fewer.n_evals--;
    by_job[redo] = &fewer;
    jobs[n++] = redo;
    const JobResult **recs = xcalloc((size_t)n, sizeof *recs);
    unsigned char *had = xcalloc((size_t)n, 1);
    for (int i = 0; i < n; i++) { recs[i] = by_job[jobs[i]]; had[i] = jobs[i] == redo; }
    H5Written wr = {0};
    int rc = h5_update_results(inc, p, n, jobs, recs, had, &wr, err, sizeof err);
    CHECK(rc == 0, "update: %d %s", rc, err);
    CHECK(wr.updates == 1 && wr.rows == n && wr.cells == cells + p->axis[AX_EVAL_TEXT].n,
          "update wrote %ld cells and %ld rows (expected %ld and %d)", wr.cells, wr.rows, cells + p->axis[AX_EVAL_TEXT].n, n);
    CHECK(write_file(full, p, by_job, err, sizeof err) == 0, "full: %s", err);
    rc = h5_compare_results(full, inc, msg, sizeof msg);
    CHECK(rc == 0, "updated file equals the rebuilt one: %s", msg);
    rs[redo].n_evals = fewer.n_evals + 1;
    free(recs); free(had); free(jobs); free(half); free(by_job);
    free_results(p, rs);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/sweep-test-h5-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    Plan p;
    fixture_plan(&p, 0);
    test_round_trip(&p);
    test_compare(&p);
    test_atomic(&p);
    test_bad_files(&p);
    test_partial(&p);
    test_update(&p);
    fixture_plan_free(&p);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tl_finish("test_h5");
}
