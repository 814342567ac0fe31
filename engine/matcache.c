// Compute-ready weights in a per-node cache file, mapped read-only by every process (matcache.h).
#define _GNU_SOURCE
#include "engine/matcache.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/ternary.h"
#include "engine/util.h"

#define READY_MAGIC "SWEEPRDY"
#define READY_VERSION 1u
#define READY_ALIGN ((size_t)4096)

static size_t align_up(size_t n) { return (n + READY_ALIGN - 1) / READY_ALIGN * READY_ALIGN; }

// The form precision p's products read of W: 'i' int8 trits, 'b' bf16, 0 none (engine/mat.c's rules:
// int8 multiplies ternary matrices as trits and every other one in bf16; bf16-stored ones in place).
static char form_of(const Mat *W, MatPrecision p) {
    if (W->type == MAT_INT4) return 0;   // decoded a tile at a time from the mapped nibbles (engine/int4.h)
    if (p == MAT_PREC_INT8 && W->type == MAT_TERNARY) return 'i';
    if ((p == MAT_PREC_INT8 || p == MAT_PREC_BF16) && W->type != MAT_BF16) return 'b';
    return 0;
}

static size_t form_bytes(const Mat *W, char form) {
    size_t n = (size_t)W->rows * W->cols;
    return form == 'i' ? n : form == 'b' ? n * sizeof(uint16_t) : 0;
}

// The matrices that get forms, in file order: the embedding, the layers', the untied head.
static int matrices(Weights *w, Mat **out) {
    int n = 0;
    out[n++] = &w->embed;
    for (int l = 0; l < w->cfg.n_layers; l++) {
        LayerWeights *lw = &w->layer[l];
        Mat *m[7] = { &lw->q, &lw->k, &lw->v, &lw->o, &lw->gate, &lw->up, &lw->down };
        for (int j = 0; j < 7; j++) out[n++] = m[j];
    }
    if (!w->cfg.tied) out[n++] = &w->head;
    return n;
}

size_t matcache_forms_bytes(const Weights *w, MatPrecision p) {
    Mat *m[2 + 7 * SWEEP_MAX_LAYERS];
    int n = matrices((Weights *)w, m);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += align_up(form_bytes(m[i], form_of(m[i], p)));
    return total;
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void header(uint8_t *h, MatPrecision p, uint64_t sum, size_t size) {
    memset(h, 0, 64);
    memcpy(h, READY_MAGIC, 8);
    put_u32(h + 8, READY_VERSION);
    put_u32(h + 12, (uint32_t)p);
    put_u64(h + 16, sum);
    put_u64(h + 24, (uint64_t)size);
    put_u32(h + 32, (uint32_t)sizeof(real));
}

// Maps path read-only when it is a complete cache file of this base and precision; NULL otherwise.
static void *map_valid(const char *path, MatPrecision p, uint64_t sum, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    void *m = MAP_FAILED;
    // populated: every process maps every page at once, so the pages count as shared by all of them
    // (a page only one process has touched yet would count as its private memory, fork or not)
    if (!fstat(fd, &st) && (size_t)st.st_size == size)
        m = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return NULL;
    uint8_t want[64];
    header(want, p, sum, size);
    if (memcmp(m, want, 64)) { munmap(m, size); return NULL; }
    return m;
}

// Rows [r0, r1) of W as a matrix of their own (ternary rows start on a byte, with their scales).
static Mat row_view(const Mat *W, int r0, int r1) {
    Mat v = *W;
    size_t row = W->type == MAT_TERNARY ? ternary_packed_bytes(1, W->cols) : mat_storage_bytes(W) / (size_t)W->rows;
    v.data = (const uint8_t *)W->data + (size_t)r0 * row;
    if (W->scale) v.scale = W->scale + r0;
    v.rows = r1 - r0;
    return v;
}

// Writes the cache file: each form converted a block of rows at a time into a small buffer and
// written (never mapped writable, so the writer holds no dirty copy of it either), synced, then
// renamed over path.
static int build(const char *path, Weights *w, MatPrecision p, uint64_t sum, size_t size, char *err, size_t errlen) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno)); return -1; }
    enum { BLOCK = 1 << 20 };   // bytes of converted rows per write
    uint8_t *buf = xaligned(BLOCK), hdr[64];
    Mat *mats[2 + 7 * SWEEP_MAX_LAYERS];
    int n = matrices(w, mats), bad = ftruncate(fd, (off_t)size) != 0;
    size_t off = READY_ALIGN;
    for (int i = 0; i < n && !bad; i++) {
        const Mat *W = mats[i];
        char f = form_of(W, p);
        size_t row = form_bytes(W, f) / (W->rows > 0 ? (size_t)W->rows : 1);
        int step = row ? (int)(BLOCK / row > 0 ? BLOCK / row : 1) : 0;
        for (int r0 = 0; f && r0 < W->rows && !bad; r0 += step) {
            int r1 = r0 + step < W->rows ? r0 + step : W->rows;
            Mat v = row_view(W, r0, r1);
            if (f == 'i') ternary_unpack_i8((int8_t *)buf, &v);
            else mat_convert_bf16((uint16_t *)buf, &v);
            size_t len = (size_t)(r1 - r0) * row;
            bad = pwrite(fd, buf, len, (off_t)(off + (size_t)r0 * row)) != (ssize_t)len;
        }
        off += align_up(form_bytes(W, f));
    }
    header(hdr, p, sum, size);   // last: a file with a header is complete
    bad = bad || pwrite(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || fdatasync(fd) != 0;
    free(buf);
    bad |= close(fd) != 0;
    if (bad || rename(tmp, path)) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int matcache_open(MatCache *c, ModelFile *mf, MatPrecision p, const char *dir, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    Weights *w = &mf->w;
    size_t forms = matcache_forms_bytes(w, p);
    if (!forms) return 0;
    uint64_t sum = get_u64(mf->base + 40);   // the model header's checksum of its metadata and tensors
    size_t size = READY_ALIGN + forms;
    snprintf(c->path, sizeof c->path, "%s/%016llx-%s.ready", dir, (unsigned long long)sum, mat_precision_name(p));
    char lock[1200];
    snprintf(lock, sizeof lock, "%s.lock", c->path);
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) { snprintf(err, errlen, "%s: cannot create: %s", lock, strerror(errno)); return -1; }
    while (flock(lfd, LOCK_EX) && errno == EINTR) {}
    void *m = map_valid(c->path, p, sum, size);
    int rc = 0;
    if (!m && !(rc = build(c->path, w, p, sum, size, err, errlen))) {
        m = map_valid(c->path, p, sum, size);
        if (!m) rc = -1, snprintf(err, errlen, "%s: written but not readable back", c->path);
    }
    flock(lfd, LOCK_UN);
    close(lfd);
    if (rc) return -1;
    c->map = m;
    c->size = size;
    Mat *mats[2 + 7 * SWEEP_MAX_LAYERS];
    int n = matrices(w, mats);
    size_t off = READY_ALIGN;
    for (int i = 0; i < n; i++) {
        char f = form_of(mats[i], p);
        if (f == 'i') mats[i]->ready_i8 = (const int8_t *)((uint8_t *)m + off);
        else if (f == 'b') mats[i]->ready_bf16 = (const uint16_t *)((uint8_t *)m + off);
        off += align_up(form_bytes(mats[i], f));
    }
    if (w->cfg.tied) w->head = w->embed;
    // Pages of the model file this process read to verify or convert it stay mapped here, and the
    // ones no other process reads (an f32 matrix whose bf16 form everyone uses) count as this
    // process's private memory though they are the page cache's: unmap them; what products still
    // read (scales, embedding rows) comes back from the page cache on use.
    if (mf->mapped) madvise((void *)mf->base, mf->size, MADV_DONTNEED);
    return 0;
}

void matcache_close(MatCache *c) {
    if (c->map) munmap(c->map, c->size);
    memset(c, 0, sizeof *c);
}
