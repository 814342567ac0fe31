// The per-user paired ratio, the users' level and the verdict of one (base, format): report_paired.h.
#include <stdlib.h>
#include "engine/util.h"
#include "results/report_paired.h"

static double side_need(const ReportData *d, Missing *m, Side x, int u, int s, int e) {
    return x.base ? rd_need_base(d, m, x.b, x.f, e) : rd_need(d, m, x.b, x.c, x.f, u, s, e);
}

Summary paired_own_ratio(const ReportData *d, Missing *m, Side num, Side den, int u, const char *key) {
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    int no = rd_own_texts(d, u, own), n = 0;
    double *x = xmalloc(((size_t)no * d->ns + 1) * sizeof *x);
    for (int s = 0; s < d->ns; s++)
        for (int k = 0; k < no; k++) {
            double a = side_need(d, m, num, u, s, own[k]);   // num first: the order m names missing jobs in
            x[n++] = a / side_need(d, m, den, u, s, own[k]);
        }
    Summary sm;
    stats_summary(x, n, key, &sm);
    free(x);
    free(own);
    return sm;
}

VerdictLevel users_level(int n, int n_strict, int n_lenient, int catastrophic) {
    return n_strict == n ? VERDICT_STRICT : 3 * n_lenient >= 2 * n ? VERDICT_LENIENT
         : catastrophic ? VERDICT_CATASTROPHIC : VERDICT_NONE;
}

RVerdict *add_verdict(RSection *sec, const ReportData *d, const Missing *m, const char *scope, int b, int f,
                      int any_judged, VerdictLevel level, char *decided, char *words) {
    RVerdict *v = section_add_verdict(sec, scope);
    verdict_precision(v, rd_precision(d, f));
    v->base = b;
    v->format = f;
    verdict_set(v, d, m, any_judged, level, decided, words);
    return v;
}
