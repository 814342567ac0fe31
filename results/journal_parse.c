// Reading a journal: a whole image parsed record by record, a torn final record told apart from
// corruption (results/journal.h).
#include "results/journal_rec.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/util.h"

// ---- parsing a whole image

// Length of a well-formed record at buf[off], or 0.
static size_t record_ok_at(const unsigned char *buf, size_t len, size_t off) {
    if (len - off < FRAME_BYTES) return 0;
    const unsigned char *p = buf + off;
    if (jr_get_u32_at(p) != JOURNAL_MAGIC) return 0;
    uint64_t n = jr_get_u64_at(p + 8);
    if (n > MAX_PAYLOAD || n > len - off - FRAME_BYTES) return 0;
    uint64_t sum = fnv1a64(p, 16, FNV1A64_INIT);
    sum = fnv1a64(p + FRAME_BYTES, (size_t)n, sum);
    return sum == jr_get_u64_at(p + 16) ? FRAME_BYTES + (size_t)n : 0;
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
        uint32_t type = jr_get_u32_at(buf + off + 4);
        Cur cur = {buf + off + FRAME_BYTES, rl - FRAME_BYTES, 0, NULL};
        if (nrec == 0 && type != REC_HEADER) {
            errf(err, errlen, "not a sweep journal (first record has type %u, not a header)", type);
            journal_contents_free(c);
            return -1;
        }
        if (type == REC_HEADER) {
            if (jr_decode_header(&cur, &c->header) != 0) {
                errf(err, errlen, "header record %d at byte %zu: bad field %s", nrec, off, cur.bad);
                journal_contents_free(c);
                return -1;
            }
            c->n_headers++;
        } else if (type == REC_RESULT || type == REC_RESULT_BACKEND || type == REC_RESULT_PEAK ||
                   type == REC_RESULT_PARAM) {
            JobResult r;
            if (jr_decode_result(&cur, &r, type) != 0) {
                errf(err, errlen, "result record %d at byte %zu: bad field %s", nrec, off, cur.bad);
                journal_contents_free(c);
                return -1;
            }
            r.job = -1;     // plan indices belong to the process reading it
            jr_contents_put(c, &r);
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

unsigned char *jr_read_fd(int fd, size_t *len) {
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
    unsigned char *buf = jr_read_fd(fd, &len);
    int e = errno;
    close(fd);
    if (!buf) { errf(err, errlen, "%s: %s", path, strerror(e)); return -1; }
    char why[256];
    int rc = journal_parse(buf, len, c, why, sizeof why);
    free(buf);
    if (rc) errf(err, errlen, "%s: %s", path, why);
    return rc;
}
