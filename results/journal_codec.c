// The journal's records as bytes (results/journal.h gives the format): little-endian encoding into a
// growable buffer, bounds-checked decoding, the frame around each payload, headers and results both ways.
#include "results/journal_rec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "sweeps/variants.h"

// ---- little-endian encoding into a growable buffer (Buf, results/journal_rec.h)

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

uint32_t jr_get_u32_at(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t jr_get_u64_at(const unsigned char *p) {
    return (uint64_t)jr_get_u32_at(p) | (uint64_t)jr_get_u32_at(p + 4) << 32;
}

// ---- bounds-checked decoding (Cur): the first failure sticks, later reads return zeros

static const unsigned char *take(Cur *c, size_t n, const char *field) {
    if (c->bad) return NULL;
    if (n > c->n - c->at) { c->bad = field; return NULL; }
    const unsigned char *p = c->p + c->at;
    c->at += n;
    return p;
}

static uint32_t get_u32(Cur *c, const char *field) {
    const unsigned char *p = take(c, 4, field);
    return p ? jr_get_u32_at(p) : 0;
}

static uint64_t get_u64(Cur *c, const char *field) {
    const unsigned char *p = take(c, 8, field);
    return p ? jr_get_u64_at(p) : 0;
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

static void put_u64_at(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

void jr_frame_bytes(unsigned char out[FRAME_BYTES], uint32_t type, const unsigned char *a, size_t an,
                    const unsigned char *b, size_t bn) {
    put_u64_at(out, (uint64_t)JOURNAL_MAGIC | (uint64_t)type << 32);
    put_u64_at(out + 8, (uint64_t)an + bn);
    uint64_t sum = fnv1a64(out, 16, FNV1A64_INIT);
    if (an) sum = fnv1a64(a, an, sum);
    if (bn) sum = fnv1a64(b, bn, sum);
    put_u64_at(out + 16, sum);
}

void jr_frame(Buf *out, uint32_t type, const Buf *payload) {
    unsigned char head[FRAME_BYTES];
    jr_frame_bytes(head, type, payload->p, payload->n, NULL, 0);
    buf_put(out, head, sizeof head);
    if (payload->n) buf_put(out, payload->p, payload->n);
}

void jr_encode_header(Buf *b, const JournalHeader *h) {
    put_u32(b, JOURNAL_VERSION);
    put_str(b, h->spec_hash);
    put_str(b, h->plan_hash);
    put_u32(b, (uint32_t)h->n_jobs);
    put_str(b, h->protocol);
    put_str(b, h->version);
}

void jr_encode_result_head(Buf *b, const JobResult *r) {
    put_str(b, r->id);
    put_u32(b, (uint32_t)r->job);
    put_u32(b, (uint32_t)r->status);
    put_u32(b, (uint32_t)r->attempts);
    put_str(b, r->message);
    put_f64(b, r->seconds);
    put_u32(b, (uint32_t)r->rank);
    put_str(b, r->host);
}

size_t jr_result_head_bytes(const unsigned char *p, size_t len) {
    Cur c = {p, len, 0, NULL};
    take(&c, get_u32(&c, "id"), "id");
    take(&c, 12, "job, status, attempts");
    take(&c, get_u32(&c, "message"), "message");
    take(&c, 12, "seconds, rank");
    take(&c, get_u32(&c, "host"), "host");
    return c.bad ? 0 : c.at;
}

void jr_encode_result(Buf *b, const JobResult *r, int keep_adapter) {
    jr_encode_result_head(b, r);
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

int jr_decode_header(Cur *c, JournalHeader *h) {
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
int jr_decode_result(Cur *c, JobResult *r, uint32_t type) {
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

// What decode_result would refuse, refused before it is written.
int jr_check_result(const JobResult *r, char *err, size_t errlen) {
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
    if (jr_check_result(r, NULL, 0) != 0) return -1;
    JobResult rec = *r;
    rec.message[sizeof rec.message - 1] = 0;
    rec.host[sizeof rec.host - 1] = 0;
    rec.backend[sizeof rec.backend - 1] = 0;
    rec.max_param_tensor[sizeof rec.max_param_tensor - 1] = 0;
    Buf b = {0};
    jr_encode_result(&b, &rec, 1);
    *buf = b.p ? b.p : xmalloc(1);
    *len = b.n;
    return 0;
}

int result_decode(const unsigned char *buf, size_t len, JobResult *r, char *err, size_t errlen) {
    Cur cur = {buf, len, 0, NULL};
    if (jr_decode_result(&cur, r, REC_RESULT_PARAM) != 0) {
        errf(err, errlen, "malformed result: bad field %s", cur.bad);
        return -1;
    }
    return 0;
}
