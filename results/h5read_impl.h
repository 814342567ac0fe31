// What results/h5read.c shares with h5adapter.c and h5compare.c: the error line, HDF5 kept quiet, and
// the few typed reads they all use. Not part of the interface (results/h5read.h is).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <hdf5.h>
#include "results/h5read.h"

// One read of one file: the first failure is kept in err as "path: what", later ones are dropped.
typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    int failed;
} R;

// HDF5's automatic error printing, saved by h5r_quiet_begin and restored by h5r_quiet_end.
typedef struct { H5E_auto2_t fn; void *data; } Quiet;

// results/h5read.c
void h5r_fail(R *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void h5r_quiet_begin(Quiet *q);
void h5r_quiet_end(const Quiet *q);
// r->path opened read-only (no file locking); -1 after a failure.
hid_t h5r_open(R *r);
// A numeric dataset of the given rank converted to memtype (malloc'd); dims receives its shape, checked
// against want where want[i] != -1 (want may be NULL). NULL after a failure.
void *h5r_read_num(R *r, hid_t loc, const char *name, hid_t memtype, int rank, const long long *want,
                   hsize_t *dims);
// A scalar string attribute (malloc'd); NULL after a failure.
char *h5r_read_attr_str(R *r, hid_t loc, const char *name);

// results/h5adapter.c
// h5_read_adapter on an open file: 0 found, 1 not kept, -1 error (in r).
int h5r_read_adapter(R *r, hid_t f, const char *job_id, float **data, size_t *n, int *ndim, int64_t shape[4],
                     char *format, size_t formatlen);
