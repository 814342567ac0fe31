#include "results/journal.h"
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
#include <unistd.h>
#include "engine/util.h"

#define JOURNAL_MAGIC 0x524a5753u   // "SWJR" read as a little-endian u32
#define JOURNAL_VERSION 1u
#define FRAME_BYTES 24
#define REC_HEADER 1u
#define REC_RESULT 2u           // written before the backend field: read, never written
#define REC_RESULT_BACKEND 3u   // a result whose last field is its backend string: read, never written
#define REC_RESULT_PEAK 4u      // the backend, then the job's peak resident bytes (u64) and start time (f64): read, never written
#define REC_RESULT_PARAM JOURNAL_RESULT_TYPE  // then the largest change of a trained parameter (f64) and its tensor's name
// No honest record comes near this; a larger length is damage, not a big adapter.
#define MAX_PAYLOAD ((uint64_t)1 << 34)

// ---- little-endian encoding into a growable buffer

typedef struct { unsigned char *p; size_t n, cap; } Buf;

static void buf_put(Buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *np = xmalloc(cap);
        if (b->n) memcpy(np, b->p, b->n);
        free(b->p);
        b->p = np; b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(Buf *b, uint32_t v) {
    unsigned char x[4];
    for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
    buf_put(b, x, 4);
}

static void put_u64(Buf *b, uint64_t v) {
    unsigned char x[8];
    for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
    buf_put(b, x, 8);
}

static void put_f64(Buf *b, double d) { uint64_t v; memcpy(&v, &d, 8); put_u64(b, v); }
static void put_f32(Buf *b, float f) { uint32_t v; memcpy(&v, &f, 4); put_u32(b, v); }

static void put_str(Buf *b, const char *s) {
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    buf_put(b, s, n);
}

static uint32_t get_u32_at(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64_at(const unsigned char *p) {
    return (uint64_t)get_u32_at(p) | (uint64_t)get_u32_at(p + 4) << 32;
}

// ---- bounds-checked decoding: the first failure sticks, later reads return zeros

typedef struct { const unsigned char *p; size_t n, at; const char *bad; } Cur;

static const unsigned char *take(Cur *c, size_t n, const char *field) {
    if (c->bad) return NULL;
    if (n > c->n - c->at) { c->bad = field; return NULL; }
    const unsigned char *p = c->p + c->at;
    c->at += n;
    return p;
}

static uint32_t get_u32(Cur *c, const char *field) {
    const unsigned char *p = take(c, 4, field);
    return p ? get_u32_at(p) : 0;
}

static uint64_t get_u64(Cur *c, const char *field) {
    const unsigned char *p = take(c, 8, field);
    return p ? get_u64_at(p) : 0;
}

static double get_f64(Cur *c, const char *field) {
    uint64_t v = get_u64(c, field);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

// Copies a length-prefixed string into dst[cap]; too long or holding a NUL is malformed.
static void get_str(Cur *c, char *dst, size_t cap, const char *field) {
    uint32_t n = get_u32(c, field);
    dst[0] = 0;
    if (c->bad) return;
    if (n >= cap) { c->bad = field; return; }
    const unsigned char *p = take(c, n, field);
    if (!p) return;
    if (memchr(p, 0, n)) { c->bad = field; return; }
    memcpy(dst, p, n);
    dst[n] = 0;
}

// ---- records

static void frame(Buf *out, uint32_t type, const Buf *payload) {
    Buf head = {0};
    put_u32(&head, JOURNAL_MAGIC);
    put_u32(&head, type);
    put_u64(&head, payload->n);
    uint64_t sum = fnv1a64(head.p, head.n, FNV1A64_INIT);
    sum = fnv1a64(payload->p, payload->n, sum);
    put_u64(&head, sum);
    buf_put(out, head.p, head.n);
    if (payload->n) buf_put(out, payload->p, payload->n);
    free(head.p);
}

static void encode_header(Buf *b, const JournalHeader *h) {
    put_u32(b, JOURNAL_VERSION);
    put_str(b, h->spec_hash);
    put_str(b, h->plan_hash);
    put_u32(b, (uint32_t)h->n_jobs);
    put_str(b, h->protocol);
    put_str(b, h->version);
}

static void encode_result(Buf *b, const JobResult *r, int keep_adapter) {
    put_str(b, r->id);
    put_u32(b, (uint32_t)r->job);
    put_u32(b, (uint32_t)r->status);
    put_u32(b, (uint32_t)r->attempts);
    put_str(b, r->message);
    put_f64(b, r->seconds);
    put_u32(b, (uint32_t)r->rank);
    put_str(b, r->host);
    put_u64(b, (uint64_t)r->tokens);
    put_f64(b, r->final_loss);
    put_u64(b, r->adapter_bytes_fp32);
    put_u64(b, r->adapter_bytes_fp16);
    put_u32(b, (uint32_t)r->n_steps);
    for (int i = 0; i < r->n_steps; i++) put_f32(b, r->loss_curve[i]);
    put_u32(b, (uint32_t)r->n_evals);
    for (int i = 0; i < r->n_evals; i++) {
        put_str(b, r->evals[i].eval);
        put_f64(b, r->evals[i].ppl);
        put_f64(b, r->evals[i].nll);
        put_u64(b, (uint64_t)r->evals[i].n_tokens);
    }
    size_t n = keep_adapter ? r->adapter_n : 0;
    int ndim = !n ? 0 : r->adapter_ndim ? r->adapter_ndim : 1;   // no stated shape: a vector
    put_u64(b, n);
    put_u32(b, (uint32_t)ndim);
    for (int i = 0; i < ndim; i++) put_u64(b, r->adapter_ndim ? (uint64_t)r->adapter_shape[i] : (uint64_t)n);
    for (size_t i = 0; i < n; i++) put_f32(b, r->adapter[i]);
    put_str(b, r->backend);
    put_u64(b, r->peak_rss_bytes);
    put_f64(b, r->started);
    put_f64(b, r->max_param_change);
    put_str(b, r->max_param_tensor);
}

static int decode_header(Cur *c, JournalHeader *h) {
    memset(h, 0, sizeof *h);
    uint32_t v = get_u32(c, "version");
    if (!c->bad && v != JOURNAL_VERSION) { c->bad = "version (written by another sweep version)"; return -1; }
    get_str(c, h->spec_hash, sizeof h->spec_hash, "spec_hash");
    get_str(c, h->plan_hash, sizeof h->plan_hash, "plan_hash");
    h->n_jobs = (int)get_u32(c, "n_jobs");
    get_str(c, h->protocol, sizeof h->protocol, "protocol");
    get_str(c, h->version, sizeof h->version, "tool version");
    if (!c->bad && c->at != c->n) c->bad = "trailing bytes";
    return c->bad ? -1 : 0;
}

static int valid_id(const char *id) {
    if (!id[0]) return 0;
    for (const char *s = id; *s; s++)
        if (*s <= ' ' || *s > '~') return 0;
    return 1;
}

// Fills r (zeroed first); on failure frees what it allocated and leaves c->bad set. Records of type
// REC_RESULT end before the backend, which then reads "", REC_RESULT_BACKEND before the peak (0), and
// REC_RESULT_PEAK before the largest parameter change (NaN: not recorded).
static int decode_result(Cur *c, JobResult *r, uint32_t type) {
    int with_backend = type != REC_RESULT;
    memset(r, 0, sizeof *r);
    get_str(c, r->id, sizeof r->id, "id");
    if (!c->bad && !valid_id(r->id)) c->bad = "id";
    r->job = (int)get_u32(c, "job");
    uint32_t status = get_u32(c, "status");
    if (!c->bad && status >= JOB_PENDING) c->bad = "status";
    r->status = (JobStatus)status;
    r->attempts = (int)get_u32(c, "attempts");
    get_str(c, r->message, sizeof r->message, "message");
    r->seconds = get_f64(c, "seconds");
    r->rank = (int)get_u32(c, "rank");
    get_str(c, r->host, sizeof r->host, "host");
    r->tokens = (long)get_u64(c, "tokens");
    r->final_loss = get_f64(c, "final_loss");
    r->adapter_bytes_fp32 = get_u64(c, "adapter_bytes_fp32");
    r->adapter_bytes_fp16 = get_u64(c, "adapter_bytes_fp16");
    uint32_t steps = get_u32(c, "n_steps");
    // Every count is checked against the bytes left before anything is allocated for it.
    if (!c->bad && (steps > INT32_MAX || (uint64_t)steps * 4 > c->n - c->at)) c->bad = "n_steps";
    if (!c->bad && steps) {
        r->n_steps = (int)steps;
        r->loss_curve = xmalloc(steps * sizeof(float));
        for (uint32_t i = 0; i < steps; i++) {
            uint32_t v = get_u32(c, "loss_curve");
            memcpy(&r->loss_curve[i], &v, 4);
        }
    }
    uint32_t evals = get_u32(c, "n_evals");
    if (!c->bad && (evals > INT32_MAX || (uint64_t)evals * 28 > c->n - c->at)) c->bad = "n_evals";
    if (!c->bad && evals) {
        r->n_evals = (int)evals;
        r->evals = xcalloc(evals, sizeof(EvalCell));
        for (uint32_t i = 0; i < evals && !c->bad; i++) {
            EvalCell *e = &r->evals[i];
            get_str(c, e->eval, sizeof e->eval, "eval label");
            if (!c->bad && !e->eval[0]) c->bad = "eval label";
            e->ppl = get_f64(c, "ppl");
            e->nll = get_f64(c, "nll");
            e->n_tokens = (long)get_u64(c, "n_tokens");
        }
    }
    uint64_t an = get_u64(c, "adapter_n");
    uint32_t ndim = get_u32(c, "adapter_ndim");
    if (!c->bad && ndim > 4) c->bad = "adapter_ndim";
    if (!c->bad && (an == 0) != (ndim == 0)) c->bad = "adapter_ndim";
    for (uint32_t i = 0; i < ndim && !c->bad; i++) r->adapter_shape[i] = (int64_t)get_u64(c, "adapter_shape");
    r->adapter_ndim = c->bad ? 0 : (int)ndim;
    if (!c->bad && an > (c->n - c->at) / 4) c->bad = "adapter_n";
    if (!c->bad && an) {
        r->adapter_n = (size_t)an;
        r->adapter = xmalloc(an * sizeof(float));
        for (uint64_t i = 0; i < an; i++) {
            uint32_t v = get_u32(c, "adapter");
            memcpy(&r->adapter[i], &v, 4);
        }
    }
    if (with_backend) get_str(c, r->backend, sizeof r->backend, "backend");
    if (type >= REC_RESULT_PEAK) {
        r->peak_rss_bytes = get_u64(c, "peak_rss_bytes");
        r->started = get_f64(c, "started");
    }
    r->max_param_change = NAN;
    if (type >= REC_RESULT_PARAM) {
        r->max_param_change = get_f64(c, "max_param_change");
        get_str(c, r->max_param_tensor, sizeof r->max_param_tensor, "max_param_tensor");
    }
    if (!c->bad && c->at != c->n) c->bad = "trailing bytes";
    if (c->bad) { job_result_free(r); return -1; }
    return 0;
}

// ---- index of the latest record per job id

static uint64_t id_hash(const char *id) { return fnv1a64(id, strlen(id), FNV1A64_INIT); }

static int index_slot(const JournalContents *c, const char *id) {
    size_t mask = (size_t)c->index_cap - 1, s = (size_t)id_hash(id) & mask;
    while (c->index[s] >= 0 && strcmp(c->latest[c->index[s]].id, id) != 0) s = (s + 1) & mask;
    return (int)s;
}

static void index_grow(JournalContents *c) {
    int cap = c->index_cap ? c->index_cap * 2 : 64;
    free(c->index);
    c->index = xmalloc((size_t)cap * sizeof(int));
    c->index_cap = cap;
    for (int i = 0; i < cap; i++) c->index[i] = -1;
    for (int i = 0; i < c->n; i++) c->index[index_slot(c, c->latest[i].id)] = i;
}

const JobResult *journal_find(const JournalContents *c, const char *id) {
    if (!c->index_cap) return NULL;
    int s = index_slot(c, id);
    return c->index[s] >= 0 ? &c->latest[c->index[s]] : NULL;
}

// Takes ownership of r's arrays: it replaces an earlier record of the same job id or is added.
static void contents_put(JournalContents *c, JobResult *r) {
    if (2 * (c->n + 1) > c->index_cap) index_grow(c);
    int s = index_slot(c, r->id);
    if (c->index[s] >= 0) {
        job_result_free(&c->latest[c->index[s]]);
        c->latest[c->index[s]] = *r;
    } else {
        // latest grows with the index; index_cap / 2 bounds n
        if ((c->n & (c->n - 1)) == 0) {
            JobResult *nl = xmalloc((size_t)(c->n ? 2 * c->n : 1) * sizeof(JobResult));
            if (c->n) memcpy(nl, c->latest, (size_t)c->n * sizeof(JobResult));
            free(c->latest);
            c->latest = nl;
        }
        c->latest[c->n] = *r;
        c->index[s] = c->n++;
    }
    c->n_records++;
}

void journal_contents_free(JournalContents *c) {
    for (int i = 0; i < c->n; i++) job_result_free(&c->latest[i]);
    free(c->latest);
    free(c->index);
    memset(c, 0, sizeof *c);
}

// ---- parsing a whole image

// Length of a well-formed record at buf[off], or 0.
static size_t record_ok_at(const unsigned char *buf, size_t len, size_t off) {
    if (len - off < FRAME_BYTES) return 0;
    const unsigned char *p = buf + off;
    if (get_u32_at(p) != JOURNAL_MAGIC) return 0;
    uint64_t n = get_u64_at(p + 8);
    if (n > MAX_PAYLOAD || n > len - off - FRAME_BYTES) return 0;
    uint64_t sum = fnv1a64(p, 16, FNV1A64_INIT);
    sum = fnv1a64(p + FRAME_BYTES, (size_t)n, sum);
    return sum == get_u64_at(p + 16) ? FRAME_BYTES + (size_t)n : 0;
}

// A bad record is a torn final write only if no good record follows it.
static int good_record_after(const unsigned char *buf, size_t len, size_t off) {
    for (size_t p = off + 1; p + FRAME_BYTES <= len; p++)
        if (buf[p] == (JOURNAL_MAGIC & 0xff) && record_ok_at(buf, len, p)) return 1;
    return 0;
}

// A torn header still starts with the magic; anything else is some other file, never truncated.
static int magic_prefix_differs(const unsigned char *buf, size_t len) {
    unsigned char magic[4] = {JOURNAL_MAGIC & 0xff, (JOURNAL_MAGIC >> 8) & 0xff, (JOURNAL_MAGIC >> 16) & 0xff,
                              JOURNAL_MAGIC >> 24};
    return memcmp(buf, magic, len < 4 ? len : 4) != 0;
}

int journal_parse(const unsigned char *buf, size_t len, JournalContents *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    size_t off = 0;
    int nrec = 0;
    while (off < len) {
        size_t rl = record_ok_at(buf, len, off);
        if (!rl && nrec == 0 && magic_prefix_differs(buf, len)) {
            errf(err, errlen, "not a sweep journal (no header record)");
            journal_contents_free(c);
            return -1;
        }
        if (!rl) {
            if (good_record_after(buf, len, off)) {
                errf(err, errlen, "record %d at byte %zu is corrupt (bad checksum or framing) and valid "
                        "records follow it: not a torn final write", nrec, off);
                journal_contents_free(c);
                return -1;
            }
            c->torn_bytes = len - off;
            break;
        }
        uint32_t type = get_u32_at(buf + off + 4);
        Cur cur = {buf + off + FRAME_BYTES, rl - FRAME_BYTES, 0, NULL};
        if (nrec == 0 && type != REC_HEADER) {
            errf(err, errlen, "not a sweep journal (first record has type %u, not a header)", type);
            journal_contents_free(c);
            return -1;
        }
        if (type == REC_HEADER) {
            if (decode_header(&cur, &c->header) != 0) {
                errf(err, errlen, "header record %d at byte %zu: bad field %s", nrec, off, cur.bad);
                journal_contents_free(c);
                return -1;
            }
            c->n_headers++;
        } else if (type == REC_RESULT || type == REC_RESULT_BACKEND || type == REC_RESULT_PEAK ||
                   type == REC_RESULT_PARAM) {
            JobResult r;
            if (decode_result(&cur, &r, type) != 0) {
                errf(err, errlen, "result record %d at byte %zu: bad field %s", nrec, off, cur.bad);
                journal_contents_free(c);
                return -1;
            }
            r.job = -1;     // plan indices belong to the process reading it
            contents_put(c, &r);
        } else {
            errf(err, errlen, "record %d at byte %zu has unknown type %u", nrec, off, type);
            journal_contents_free(c);
            return -1;
        }
        off += rl;
        nrec++;
    }
    c->valid_bytes = off;
    return 0;
}

static unsigned char *read_fd(int fd, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            unsigned char *nb = xmalloc(cap * 2);
            memcpy(nb, b, n);
            free(b);
            b = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, b + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) { free(b); return NULL; }
        if (got == 0) break;
        n += (size_t)got;
    }
    *len = n;
    return b;
}

int journal_read(const char *path, JournalContents *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { errf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    size_t len;
    unsigned char *buf = read_fd(fd, &len);
    int e = errno;
    close(fd);
    if (!buf) { errf(err, errlen, "%s: %s", path, strerror(e)); return -1; }
    char why[256];
    int rc = journal_parse(buf, len, c, why, sizeof why);
    free(buf);
    if (rc) errf(err, errlen, "%s: %s", path, why);
    return rc;
}

// ---- writing

void journal_plan_hash(const Plan *plan, char out[17]) {
    uint64_t h = FNV1A64_INIT;
    for (int i = 0; i < plan->n_jobs; i++) h = fnv1a64(plan->jobs[i].id, strlen(plan->jobs[i].id) + 1, h);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

// One write and an fsync per record; a failed append is cut off again so that the next one does
// not land after a half record (which would read as corruption, not as a torn tail).
// One write(2) per record, so a killed process never leaves half of one it had returned from; the
// fsync follows at once (sync) or with the next journal_sync.
static int append_record(Journal *j, uint32_t type, const Buf *payload, int sync, char *err, size_t errlen) {
    Buf rec = {0};
    frame(&rec, type, payload);
    int rc = 0;
    if (write_all(j->fd, rec.p, rec.n) != 0) {
        errf(err, errlen, "%s: append failed: %s", j->path, strerror(errno));
        if (ftruncate(j->fd, (off_t)j->c.valid_bytes) == 0) (void)fsync(j->fd);
        rc = -1;
    } else {
        j->c.valid_bytes += rec.n;
        if (sync) rc = journal_sync(j, err, errlen);
    }
    free(rec.p);
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
    encode_header(&b, &h);
    int rc = append_record(j, REC_HEADER, &b, 1, err, errlen);
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
    unsigned char *buf = read_fd(fd, &len);
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

// What decode_result would refuse, refused before it is written.
static int check_result(const JobResult *r, char *err, size_t errlen) {
    if (!memchr(r->id, 0, sizeof r->id) || !valid_id(r->id)) {
        errf(err, errlen, "a result without a job id");
        return -1;
    }
    if ((unsigned)r->status >= JOB_PENDING) {
        errf(err, errlen, "job %s: status %d is not a result", r->id, (int)r->status);
        return -1;
    }
    if (r->n_steps < 0 || r->n_evals < 0 || (r->n_steps && !r->loss_curve) || (r->n_evals && !r->evals) ||
        (r->adapter_n && !r->adapter) || r->adapter_ndim < 0 || r->adapter_ndim > 4) {
        errf(err, errlen, "job %s: inconsistent result arrays", r->id);
        return -1;
    }
    for (int i = 0; i < r->n_evals; i++)
        if (!r->evals[i].eval[0] || !memchr(r->evals[i].eval, 0, sizeof r->evals[i].eval)) {
            errf(err, errlen, "job %s: eval cell %d has no label", r->id, i);
            return -1;
        }
    return 0;
}

int result_encode(const JobResult *r, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if (check_result(r, NULL, 0) != 0) return -1;
    JobResult rec = *r;
    rec.message[sizeof rec.message - 1] = 0;
    rec.host[sizeof rec.host - 1] = 0;
    rec.backend[sizeof rec.backend - 1] = 0;
    rec.max_param_tensor[sizeof rec.max_param_tensor - 1] = 0;
    Buf b = {0};
    encode_result(&b, &rec, 1);
    *buf = b.p ? b.p : xmalloc(1);
    *len = b.n;
    return 0;
}

int result_decode(const unsigned char *buf, size_t len, JobResult *r, char *err, size_t errlen) {
    Cur cur = {buf, len, 0, NULL};
    if (decode_result(&cur, r, REC_RESULT_PARAM) != 0) {
        errf(err, errlen, "malformed result: bad field %s", cur.bad);
        return -1;
    }
    return 0;
}

int journal_append(Journal *j, const JobResult *r, char *err, size_t errlen) {
    return journal_write(j, r, 1, err, errlen);
}

int journal_write(Journal *j, const JobResult *r, int sync, char *err, size_t errlen) {
    char why[256];
    if (check_result(r, why, sizeof why) != 0) {
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
    encode_result(&b, &rec, keep);
    int rc = append_record(j, REC_RESULT_PARAM, &b, sync, err, errlen);
    free(b.p);
    if (rc) return rc;
    JobResult copy;
    copy_result(&copy, &rec, keep);
    contents_put(&j->c, &copy);
    return 0;
}

void journal_close(Journal *j) {
    char err[8];
    (void)journal_sync(j, err, sizeof err);   // callers that must know sync first
    if (j->fd >= 0) close(j->fd);    // closing releases the lock
    j->fd = -1;
    journal_contents_free(&j->c);
}

void journal_match_plan(const JournalContents *c, const Plan *plan, const JobResult **by_job) {
    for (int i = 0; i < plan->n_jobs; i++) by_job[i] = journal_find(c, plan->jobs[i].id);
}

int journal_job_finished(const JobResult *r, const Plan *plan, const Job *job) {
    if (!r) return 0;
    if (r->status != JOB_OK) return r->attempts >= (plan->max_attempts > 0 ? plan->max_attempts : 1);
    for (int e = 0; e < job->n_eval; e++) {
        const char *label = plan->axis[AX_EVAL_TEXT].labels[job->eval[e]];
        // records list their cells in the job's order: look there first, so 1,000 cells cost 1,000 compares, not 500,000
        int found = e < r->n_evals && strcmp(r->evals[e].eval, label) == 0;
        for (int k = 0; k < r->n_evals && !found; k++) found = strcmp(r->evals[k].eval, label) == 0;
        if (!found) return 0;
    }
    // eval.variants: each variant's cell on each text, and its bytes (sweeps/variants.h)
    for (int v = 1; v < variant_count(plan); v++)
        for (int e = -1; e < job->n_eval; e++) {
            char label[sizeof r->evals[0].eval];
            variant_cell_label(label, sizeof label, plan, v, e < 0 ? "" : plan->axis[AX_EVAL_TEXT].labels[job->eval[e]]);
            int at = job->n_eval + (v - 1) * (job->n_eval + 1) + e + 1;   // where job_exec puts it
            int found = at < r->n_evals && strcmp(r->evals[at].eval, label) == 0;
            for (int k = 0; k < r->n_evals && !found; k++) found = strcmp(r->evals[k].eval, label) == 0;
            if (!found) return 0;
        }
    return 1;
}
