// Writing the journal: opening it for a plan (lock, torn tail, spec changes), appending records, fsyncs.
// Its records as bytes are journal_codec.c, reading journal_parse.c, the index journal_index.c.
#include "results/journal.h"
#include "results/journal_rec.h"
#include "sweeps/variants.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "engine/util.h"

// ---- writing

void journal_plan_hash(const Plan *plan, char out[17]) {
    uint64_t h = FNV1A64_INIT;
    for (int i = 0; i < plan->n_jobs; i++) h = fnv1a64(plan->jobs[i].id, strlen(plan->jobs[i].id) + 1, h);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

// Writes all of the parts with as few writev calls as it takes (one, to a regular file).
static int write_all(int fd, struct iovec *v, int n) {
    while (n) {
        ssize_t w = writev(fd, v, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        for (; n && (size_t)w >= v->iov_len; v++, n--) w -= (ssize_t)v->iov_len;
        if (n) { v->iov_base = (char *)v->iov_base + w; v->iov_len -= (size_t)w; }
    }
    return 0;
}

// One write and an fsync per record; a failed append is cut off again so that the next one does
// not land after a half record (which would read as corruption, not as a torn tail).
// One write(2) per record, so a killed process never leaves half of one it had returned from; the
// fsync follows at once (sync) or with the next journal_sync. The payload is a[an] then b[bn].
static int append_record(Journal *j, uint32_t type, const unsigned char *a, size_t an, const unsigned char *b,
                         size_t bn, int sync, char *err, size_t errlen) {
    unsigned char frame[FRAME_BYTES];
    jr_frame_bytes(frame, type, a, an, b, bn);
    struct iovec v[3] = { { frame, sizeof frame }, { (void *)a, an }, { (void *)b, bn } };
    int rc = 0;
    if (write_all(j->fd, v, 3) != 0) {
        errf(err, errlen, "%s: append failed: %s", j->path, strerror(errno));
        if (ftruncate(j->fd, (off_t)j->c.valid_bytes) == 0) (void)fsync(j->fd);
        rc = -1;
    } else {
        j->c.valid_bytes += sizeof frame + an + bn;
        if (sync) rc = journal_sync(j, err, errlen);
    }
    return rc;
}

int journal_sync(Journal *j, char *err, size_t errlen) {
    if (j->fd < 0 || j->synced_bytes == j->c.valid_bytes) return 0;
    if (fsync(j->fd) != 0) {
        errf(err, errlen, "%s: fsync failed: %s", j->path, strerror(errno));
        return -1;
    }
    j->synced_bytes = j->c.valid_bytes;
    j->syncs++;
    return 0;
}

static int append_header(Journal *j, const Plan *plan, char *err, size_t errlen) {
    JournalHeader h;
    memset(&h, 0, sizeof h);
    snprintf(h.spec_hash, sizeof h.spec_hash, "%s", plan->spec_hash);
    journal_plan_hash(plan, h.plan_hash);
    h.n_jobs = plan->n_jobs;
    snprintf(h.protocol, sizeof h.protocol, "%s", plan->protocol);
    snprintf(h.version, sizeof h.version, "%s", SWEEP_VERSION);
    Buf b = {0};
    jr_encode_header(&b, &h);
    int rc = append_record(j, REC_HEADER, b.p, b.n, NULL, 0, 1, err, errlen);
    free(b.p);
    if (rc == 0) { j->c.header = h; j->c.n_headers++; }
    return rc;
}

static int cmp_id(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

// Records of another spec are kept only if the new plan still has each of their jobs and texts.
static int check_spec_change(const Journal *j, const Plan *plan, char *err, size_t errlen) {
    const JournalContents *c = &j->c;
    const char **ids = xmalloc((size_t)(plan->n_jobs + 1) * sizeof(char *));
    for (int i = 0; i < plan->n_jobs; i++) ids[i] = plan->jobs[i].id;
    qsort(ids, (size_t)plan->n_jobs, sizeof(char *), cmp_id);
    int rc = 0;
    for (int i = 0; i < c->n && rc == 0; i++) {
        const JobResult *r = &c->latest[i];
        const char *key = r->id;
        if (!bsearch(&key, ids, (size_t)plan->n_jobs, sizeof(char *), cmp_id) &&
            !strcmp(c->header.spec_hash, plan->spec_hash)) {   // the same text: the run's options or inputs differ
            errf(err, errlen, "%s: this run changes existing jobs: the journal holds job %s, which the same spec "
                    "(hash %s) does not give now: another sweep run --precision than before, or changed input "
                    "files; rerun as before, or use another output path", j->path, r->id, plan->spec_hash);
            rc = -1;
            break;
        }
        if (!bsearch(&key, ids, (size_t)plan->n_jobs, sizeof(char *), cmp_id)) {
            errf(err, errlen, "%s: the spec changes existing jobs: the journal (spec hash %s) holds job %s, "
                    "which spec hash %s does not have; use another output path or move the journal aside",
                    j->path, c->header.spec_hash, r->id, plan->spec_hash);
            rc = -1;
            break;
        }
        for (int e = 0; e < r->n_evals; e++)
            if (!plan_has_cell(plan, r->evals[e].eval)) {
                errf(err, errlen, "%s: the spec changes existing jobs: job %s was evaluated on '%s', which "
                        "spec hash %s no longer has; use another output path or move the journal aside",
                        j->path, r->id, r->evals[e].eval, plan->spec_hash);
                rc = -1;
                break;
            }
    }
    free(ids);
    return rc;
}

int journal_open(Journal *j, const char *path, const Plan *plan, size_t keep_adapter_max, char *err,
                 size_t errlen) {
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->keep_adapter_max = keep_adapter_max;
    if (snprintf(j->path, sizeof j->path, "%s", path) >= (int)sizeof j->path) {
        errf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) { errf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        errf(err, errlen, "%s: %s", path, errno == EWOULDBLOCK ? "in use by another running sweep" : strerror(errno));
        close(fd);
        return -1;
    }
    j->fd = fd;
    size_t len;
    unsigned char *buf = jr_read_fd(fd, &len);
    if (!buf) { errf(err, errlen, "%s: %s", path, strerror(errno)); journal_close(j); return -1; }
    char why[256];
    int rc = journal_parse(buf, len, &j->c, why, sizeof why);
    free(buf);
    if (rc) { errf(err, errlen, "%s: %s", path, why); journal_close(j); return -1; }
    if (j->c.torn_bytes) {
        if (ftruncate(fd, (off_t)j->c.valid_bytes) != 0 || fsync(fd) != 0) {
            errf(err, errlen, "%s: cannot truncate the torn final record: %s", path, strerror(errno));
            journal_close(j);
            return -1;
        }
    }
    int same = 0;
    if (j->c.n_headers) {
        char ph[17];
        journal_plan_hash(plan, ph);
        same = strcmp(j->c.header.spec_hash, plan->spec_hash) == 0 && strcmp(j->c.header.plan_hash, ph) == 0;
        if (!same && check_spec_change(j, plan, err, errlen) != 0) { journal_close(j); return -1; }
    }
    if (!same) {
        if (append_header(j, plan, err, errlen) != 0) { journal_close(j); return -1; }
        if (j->c.n_headers == 1) {
            // a new file's directory entry must survive a crash as well as its contents
            char dir[1024];
            snprintf(dir, sizeof dir, "%s", path);
            char *slash = strrchr(dir, '/');
            if (slash) *(slash == dir ? slash + 1 : slash) = 0; else snprintf(dir, sizeof dir, ".");
            int dfd = open(dir, O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
        }
    }
    for (int k = 0; k < plan->n_jobs; k++) {
        JobResult *r = (JobResult *)journal_find(&j->c, plan->jobs[k].id);
        if (r) r->job = k;
    }
    return 0;
}

static void copy_result(JobResult *dst, const JobResult *src, int keep_adapter) {
    *dst = *src;
    dst->loss_curve = NULL; dst->evals = NULL; dst->adapter = NULL;
    if (src->n_steps > 0) {
        dst->loss_curve = xmalloc((size_t)src->n_steps * sizeof(float));
        memcpy(dst->loss_curve, src->loss_curve, (size_t)src->n_steps * sizeof(float));
    } else dst->n_steps = 0;
    if (src->n_evals > 0) {
        dst->evals = xmalloc((size_t)src->n_evals * sizeof(EvalCell));
        memcpy(dst->evals, src->evals, (size_t)src->n_evals * sizeof(EvalCell));
    } else dst->n_evals = 0;
    if (keep_adapter && src->adapter_n) {
        dst->adapter = xmalloc(src->adapter_n * sizeof(float));
        memcpy(dst->adapter, src->adapter, src->adapter_n * sizeof(float));
    } else {
        dst->adapter_n = 0;
        dst->adapter_ndim = 0;
    }
}

int journal_append(Journal *j, const JobResult *r, char *err, size_t errlen) {
    return journal_write(j, r, 1, err, errlen);
}

int journal_write(Journal *j, const JobResult *r, int sync, char *err, size_t errlen) {
    char why[256];
    if (jr_check_result(r, why, sizeof why) != 0) {
        errf(err, errlen, "%s: %s", j->path, why);
        return -1;
    }
    int keep = r->adapter_n && r->adapter_n <= j->keep_adapter_max / sizeof(float);
    JobResult rec = *r;
    if (keep && rec.adapter_ndim == 0) {   // a block without a stated shape is a vector
        rec.adapter_ndim = 1;
        rec.adapter_shape[0] = (int64_t)rec.adapter_n;
    }
    // Byte-bounded strings so that a record always decodes into the fixed fields it came from.
    rec.message[sizeof rec.message - 1] = 0;
    rec.host[sizeof rec.host - 1] = 0;
    rec.backend[sizeof rec.backend - 1] = 0;
    rec.max_param_tensor[sizeof rec.max_param_tensor - 1] = 0;
    Buf b = {0};
    jr_encode_result(&b, &rec, keep);
    int rc = append_record(j, REC_RESULT_PARAM, b.p, b.n, NULL, 0, sync, err, errlen);
    free(b.p);
    if (rc) return rc;
    JobResult copy;
    copy_result(&copy, &rec, keep);
    jr_contents_put(&j->c, &copy);
    return 0;
}

int journal_write_received(Journal *j, JobResult *r, const unsigned char *payload, size_t len, int sync,
                           char *err, size_t errlen) {
    size_t head = payload ? jr_result_head_bytes(payload, len) : 0;
    int keep = r->adapter_n && r->adapter_n <= j->keep_adapter_max / sizeof(float);
    if (!head || (r->adapter_n && !keep)) {   // made by rank 0, or the adapter is left out: encoded anew
        int rc = journal_write(j, r, sync, err, errlen);
        if (rc == 0) job_result_free(r);
        return rc;
    }
    char why[256];
    if (jr_check_result(r, why, sizeof why) != 0) {
        errf(err, errlen, "%s: %s", j->path, why);
        return -1;
    }
    JobResult rec = *r;   // the head's strings bounded as journal_write bounds them; the tail's came decoded
    rec.message[sizeof rec.message - 1] = 0;
    rec.host[sizeof rec.host - 1] = 0;
    Buf b = {0};
    jr_encode_result_head(&b, &rec);
    int rc = append_record(j, REC_RESULT_PARAM, b.p, b.n, payload + head, len - head, sync, err, errlen);
    free(b.p);
    if (rc) return rc;
    jr_contents_put(&j->c, &rec);   // the arrays move, not copied: a copy of 1,000 cells is 120 KB of new pages
    r->loss_curve = NULL; r->evals = NULL; r->adapter = NULL;
    job_result_free(r);
    return 0;
}

void journal_close(Journal *j) {
    char err[8];
    (void)journal_sync(j, err, sizeof err);   // callers that must know sync first
    if (j->fd >= 0) close(j->fd);    // closing releases the lock
    j->fd = -1;
    journal_contents_free(&j->c);
}
