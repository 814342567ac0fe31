// Reading one stored adapter (/adapters/<job id>) back: h5_read_adapter (results/h5read.h), and
// h5r_read_adapter on an open file, which results/h5compare.c uses for every job of two files.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>
#include "results/h5read_impl.h"

static int safe_id(const char *id) {
    if (!id[0] || strlen(id) > 64) return 0;
    for (const char *s = id; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

int h5r_read_adapter(R *r, hid_t f, const char *job_id, float **data, size_t *n, int *ndim, int64_t shape[4],
                     char *format, size_t formatlen) {
    *data = NULL; *n = 0; *ndim = 0;
    if (format && formatlen) format[0] = 0;
    if (!safe_id(job_id)) { h5r_fail(r, "'%s' is not a job id", job_id); return -1; }
    if (H5Lexists(f, "adapters", H5P_DEFAULT) <= 0) return 1;
    hid_t g = H5Gopen2(f, "adapters", H5P_DEFAULT);
    if (g < 0) { h5r_fail(r, "adapters is not a group"); return -1; }
    int rc = 1;
    if (H5Lexists(g, job_id, H5P_DEFAULT) > 0) {
        hsize_t d;
        char name[96];
        snprintf(name, sizeof name, "adapters/%s", job_id);
        *data = h5r_read_num(r, f, name, H5T_NATIVE_FLOAT, 1, NULL, &d);
        if (*data) {
            *n = (size_t)d;
            hid_t ds = H5Dopen2(g, job_id, H5P_DEFAULT);
            char *fmt = h5r_read_attr_str(r, ds, "format");
            if (fmt && format && formatlen) snprintf(format, formatlen, "%s", fmt);
            free(fmt);
            if (!r->failed && H5Aexists(ds, "shape") > 0) {
                hid_t at = H5Aopen(ds, "shape", H5P_DEFAULT);
                hid_t sp = H5Aget_space(at);
                hssize_t cnt = H5Sget_simple_extent_npoints(sp);
                if (H5Sget_simple_extent_ndims(sp) != 1 || cnt < 1 || cnt > 4 ||
                    H5Aread(at, H5T_NATIVE_INT64, shape) < 0)
                    h5r_fail(r, "%s: attribute shape is not 1 to 4 integers", name);
                else
                    *ndim = (int)cnt;
                H5Sclose(sp);
                H5Aclose(at);
            } else if (!r->failed) {
                h5r_fail(r, "%s: no attribute shape", name);
            }
            H5Dclose(ds);
        }
        rc = r->failed ? -1 : 0;
        if (rc) { free(*data); *data = NULL; *n = 0; }
    }
    H5Gclose(g);
    return rc;
}

int h5_read_adapter(const char *path, const char *job_id, float **data, size_t *n, int *ndim, int64_t shape[4],
                    char *format, size_t formatlen, char *err, size_t errlen) {
    R r = {path, err, errlen, 0};
    Quiet q;
    h5r_quiet_begin(&q);
    int rc = -1;
    hid_t f = h5r_open(&r);
    if (f >= 0) {
        rc = h5r_read_adapter(&r, f, job_id, data, n, ndim, shape, format, formatlen);
        H5Fclose(f);
    }
    h5r_quiet_end(&q);
    return rc;
}
