// Option values of every subcommand (cli/options.h).
#include "cli/options.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/mat.h"
#include "engine/util.h"
#include "sweeps/hparams.h"

int opt_long(const char *opt, const char *s, long lo, long hi, long *out, char *err, size_t errlen) {
    if (!s) return errf(err, errlen, "%s: needs a value", opt);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return errf(err, errlen, "%s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
    *out = v;
    return 0;
}

int opt_int(const char *opt, const char *s, int lo, int hi, int *out, char *err, size_t errlen) {
    long v;
    if (opt_long(opt, s, lo, hi, &v, err, errlen)) return -1;
    *out = (int)v;
    return 0;
}

int opt_real(const char *opt, const char *s, double lo, double hi, int lo_open, double *out, char *err,
             size_t errlen) {
    if (!s) return errf(err, errlen, "%s: needs a value", opt);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi)
        return errf(err, errlen, "%s: '%s' is not a number in %c%g, %g]", opt, s, lo_open ? '(' : '[', lo, hi);
    *out = v;
    return 0;
}

int opt_bad(const char *cmd, const char *msg) {
    fprintf(stderr, "sweep %s: %s\n", cmd, msg);
    return 2;
}

int opt_hp(const char *opt, const char *s, int hp, double *out, char *err, size_t errlen) {
    const HParam *p = &hp_table[hp];
    if (p->kind == HP_INT) {
        long l;
        if (opt_long(opt, s, (long)p->lo, (long)p->hi, &l, err, errlen)) return -1;
        *out = (double)l;
        return 0;
    }
    if (p->kind == HP_PRECISION_NAME || p->kind == HP_BOOL) {
        MatPrecision m;
        if (!s) return errf(err, errlen, "%s: needs a value", opt);
        if (p->kind == HP_BOOL) {
            if (!strcmp(s, "true") || !strcmp(s, "1")) { *out = 1; return 0; }
            if (!strcmp(s, "false") || !strcmp(s, "0")) { *out = 0; return 0; }
            return errf(err, errlen, "%s: '%s' is not true or false", opt, s);
        }
        if (mat_precision_parse(s, &m)) return errf(err, errlen, "%s: '%s' is not fp32, fp32-dnnl, bf16 or int8", opt, s);
        *out = m;
        return 0;
    }
    return opt_real(opt, s, p->lo, p->hi, p->lo_open, out, err, errlen);
}
