// Inside the journal (results/journal.h): the record framing, the encoding buffers and the calls its
// files share: journal_codec.c (records as bytes), journal_parse.c (reading), journal_index.c (the
// latest record per job), journal.c (writing).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "results/journal.h"

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

// ---- bounds-checked decoding: the first failure sticks, later reads return zeros
typedef struct { const unsigned char *p; size_t n, at; const char *bad; } Cur;

// journal_codec.c
uint32_t jr_get_u32_at(const unsigned char *p);
uint64_t jr_get_u64_at(const unsigned char *p);
void jr_frame(Buf *out, uint32_t type, const Buf *payload);
// The frame (magic, type, length, checksum) of the payload made of a[an] then b[bn].
void jr_frame_bytes(unsigned char out[FRAME_BYTES], uint32_t type, const unsigned char *a, size_t an,
                    const unsigned char *b, size_t bn);
void jr_encode_header(Buf *b, const JournalHeader *h);
void jr_encode_result(Buf *b, const JobResult *r, int keep_adapter);
// The head of a result payload: id, job, status, attempts, message, seconds, rank, host (the fields
// rank 0 sets); jr_encode_result writes it, then the rest.
void jr_encode_result_head(Buf *b, const JobResult *r);
// Bytes of the head at the start of a result payload of len bytes; 0 when it runs past len.
size_t jr_result_head_bytes(const unsigned char *p, size_t len);
int jr_decode_header(Cur *c, JournalHeader *h);
int jr_decode_result(Cur *c, JobResult *r, uint32_t type);
int jr_check_result(const JobResult *r, char *err, size_t errlen);
// journal_index.c
// Takes ownership of r's arrays: it replaces an earlier record of the same job id or is added.
void jr_contents_put(JournalContents *c, JobResult *r);
// journal_parse.c: the whole of an open file (malloc'd, *len bytes), NULL on a read error
unsigned char *jr_read_fd(int fd, size_t *len);
