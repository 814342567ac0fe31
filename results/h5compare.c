// Comparing two results files bit for bit: h5_compare_results (results/h5read.h says what is compared).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>
#include "results/h5read_impl.h"
#include "results/h5write.h"

static void cell_name(const ResultsFile *rf, size_t at, char *out, size_t len) {
    int idx[AX_COUNT];
    for (int a = AX_COUNT - 1; a >= 0; a--) {
        idx[a] = (int)(at % (size_t)rf->axis[a].n);
        at /= (size_t)rf->axis[a].n;
    }
    size_t o = 0;
    for (int a = 0; a < AX_COUNT && o < len; a++) {
        int w = snprintf(out + o, len - o, "%s%s=%s", a ? "," : "", h5_dim_names[a], rf->axis[a].labels[idx[a]]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static int compare_loaded(const char *pa, const char *pb, const ResultsFile *a, const ResultsFile *b, char *msg,
                          size_t msglen) {
    for (int ax = 0; ax < AX_COUNT; ax++) {
        if (a->axis[ax].n != b->axis[ax].n) {
            snprintf(msg, msglen, "axis %s: %d labels vs %d", h5_dim_names[ax], a->axis[ax].n, b->axis[ax].n);
            return 1;
        }
        for (int i = 0; i < a->axis[ax].n; i++)
            if (strcmp(a->axis[ax].labels[i], b->axis[ax].labels[i]) != 0) {
                snprintf(msg, msglen, "axis %s[%d]: '%s' vs '%s'", h5_dim_names[ax], i, a->axis[ax].labels[i],
                         b->axis[ax].labels[i]);
                return 1;
            }
    }
    const double *ma[3] = {a->ppl, a->nll, a->n_tokens}, *mb[3] = {b->ppl, b->nll, b->n_tokens};
    static const char *const names[3] = {"ppl", "nll", "n_tokens"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < a->n_cells; i++)
            if (!same_bits(ma[k][i], mb[k][i])) {
                char cell[512];
                cell_name(a, i, cell, sizeof cell);
                snprintf(msg, msglen, "%s[%s]: %.17g vs %.17g", names[k], cell, ma[k][i], mb[k][i]);
                return 1;
            }
    if (a->n_jobs != b->n_jobs) { snprintf(msg, msglen, "%d jobs vs %d", a->n_jobs, b->n_jobs); return 1; }
    for (int j = 0; j < a->n_jobs; j++) {
        const ResultsJob *x = &a->jobs[j], *y = &b->jobs[j];
        const char *what = strcmp(x->id, y->id) ? "id"
                         : strcmp(x->precision, y->precision) ? "precision"
                         : x->status != y->status ? "status"
                         : x->tokens != y->tokens ? "tokens"
                         : !same_bits(x->final_loss, y->final_loss) ? "final_loss"
                         : !same_bits(x->max_param_change, y->max_param_change) ? "max_param_change"
                         : strcmp(x->max_param_tensor, y->max_param_tensor) ? "max_param_tensor"
                         : x->adapter_bytes_fp32 != y->adapter_bytes_fp32 ? "adapter_bytes"
                         : x->adapter_bytes_fp16 != y->adapter_bytes_fp16 ? "adapter_bytes_fp16" : NULL;
        if (what) {
            snprintf(msg, msglen, "job %d (%s): %s differs (status %s vs %s)", j, x->id, what,
                     job_status_name(x->status), job_status_name(y->status));
            return 1;
        }
    }
    if (a->n_variants != b->n_variants) {
        snprintf(msg, msglen, "variant: %d labels vs %d", a->n_variants, b->n_variants);
        return 1;
    }
    for (int v = 0; v < a->n_variants; v++)
        if (strcmp(a->variants[v], b->variants[v])) {
            snprintf(msg, msglen, "variant[%d]: '%s' vs '%s'", v, a->variants[v], b->variants[v]);
            return 1;
        }
    const double *va[3] = {a->vppl, a->vnll, a->vn_tokens}, *vb[3] = {b->vppl, b->vnll, b->vn_tokens};
    size_t nv = (size_t)a->n_variants;
    for (int k = 0; k < 3 && nv; k++)
        for (size_t i = 0; i < a->n_cells * nv; i++)
            if (!same_bits(va[k][i], vb[k][i])) {
                char cell[512];
                cell_name(a, i / nv, cell, sizeof cell);
                snprintf(msg, msglen, "variant_%s[%s,variant=%s]: %.17g vs %.17g", names[k], cell, a->variants[i % nv],
                         va[k][i], vb[k][i]);
                return 1;
            }
    for (size_t i = 0; i < (size_t)a->n_jobs * nv; i++)
        if (a->vbytes[i] != b->vbytes[i]) {
            snprintf(msg, msglen, "variant_adapter_bytes of job %s, variant %s: %lld vs %lld", a->jobs[i / nv].id,
                     a->variants[i % nv], (long long)a->vbytes[i], (long long)b->vbytes[i]);
            return 1;
        }
    if (a->n_steps != b->n_steps) { snprintf(msg, msglen, "loss: %d steps vs %d", a->n_steps, b->n_steps); return 1; }
    for (size_t i = 0; i < (size_t)a->n_jobs * (size_t)a->n_steps; i++)
        if (memcmp(&a->loss[i], &b->loss[i], sizeof(float)) != 0) {
            size_t j = i / (size_t)a->n_steps;
            snprintf(msg, msglen, "loss of job %s at step %zu: %.9g vs %.9g", a->jobs[j].id, i % (size_t)a->n_steps + 1,
                     a->loss[i], b->loss[i]);
            return 1;
        }
    Quiet q;
    h5r_quiet_begin(&q);
    R r[2] = {{pa, msg, msglen, 0}, {pb, msg, msglen, 0}};
    hid_t fa = h5r_open(&r[0]), fb = fa < 0 ? -1 : h5r_open(&r[1]);
    int rc = fa < 0 || fb < 0 ? -1 : 0;
    for (int j = 0; j < a->n_jobs && rc == 0; j++) {
        float *da, *db;
        size_t na, nb;
        int ka, kb;
        int64_t sa[4] = {0}, sb[4] = {0};
        char fmta[96], fmtb[96];
        int ra = h5r_read_adapter(&r[0], fa, a->jobs[j].id, &da, &na, &ka, sa, fmta, sizeof fmta);
        int rb = ra < 0 ? -1 : h5r_read_adapter(&r[1], fb, b->jobs[j].id, &db, &nb, &kb, sb, fmtb, sizeof fmtb);
        if (ra < 0 || rb < 0) { rc = -1; if (ra == 0) free(da); break; }
        int differ = ra != rb || na != nb || ka != kb || memcmp(sa, sb, sizeof sa) != 0 || strcmp(fmta, fmtb) != 0 ||
                     (na && memcmp(da, db, na * sizeof(float)) != 0);
        free(da);
        free(db);
        if (differ) { snprintf(msg, msglen, "adapters/%s differs", a->jobs[j].id); rc = 1; }
    }
    if (fa >= 0) H5Fclose(fa);
    if (fb >= 0) H5Fclose(fb);
    h5r_quiet_end(&q);
    return rc;
}

int h5_compare_results(const char *a, const char *b, char *msg, size_t msglen) {
    ResultsFile ra, rb;
    if (h5_read_results(a, &ra, msg, msglen) != 0) return -1;
    if (h5_read_results(b, &rb, msg, msglen) != 0) { results_file_free(&ra); return -1; }
    int rc = compare_loaded(a, b, &ra, &rb, msg, msglen);
    if (rc == 0 && msg && msglen) msg[0] = 0;
    results_file_free(&ra);
    results_file_free(&rb);
    return rc;
}
