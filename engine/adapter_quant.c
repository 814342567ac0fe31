// Adapter quantisation round trips, group by group (a tensor or one of its rows).
#include "engine/adapter_quant.h"
#include <errno.h>
#include <math.h>
#include <string.h>

const char *quant_scope_name(QuantScope s) { return s == QUANT_PER_CHANNEL ? "channel" : "tensor"; }

int quant_scope_parse(const char *s, QuantScope *out) {
    if (!strcmp(s, "tensor")) *out = QUANT_PER_TENSOR;
    else if (!strcmp(s, "channel")) *out = QUANT_PER_CHANNEL;
    else return -1;
    return 0;
}

int adapter_tensors(const Adapter *a, AdapterTensor *t) {
    const ModelConfig *c = &a->cfg;
    int k = 0, d = c->dim;
#define ADD(off, r, cl) do { if (t) t[k] = (AdapterTensor){ (size_t)(off), (r), (cl) }; k++; } while (0)
    if (a->format == FMT_NORM || a->format == FMT_STEER) {
        for (size_t i = 0; i < a->n / (size_t)d; i++) ADD(i * d, 1, d);
    } else if (a->format == FMT_LORA) {
        for (int l = 0; l < c->n_layers; l++)
            for (int tg = 0; tg < LORA_N_TARGETS; tg++) {
                const LoraPair *p = &a->lora_w[l][tg];
                if (!p->A) continue;
                int out, in;
                lora_target_shape(c, tg, &out, &in);
                ADD(p->A - a->params, a->lora.rank, in);
                ADD(p->B - a->params, out, a->lora.rank);
            }
    } else if (a->format == FMT_FULL) {
        int nt = weights_n_tensors(c);
        TensorInfo info[nt];
        weights_tensors(c, info);
        for (int i = 0; i < nt; i++) {
            int vec = info[i].kind == TK_NORM || info[i].kind == TK_BIAS;
            ADD(info[i].offset, vec ? 1 : info[i].rows, vec ? info[i].rows : info[i].cols);
        }
    }
#undef ADD
    return k;
}

// x[0..n) through a symmetric grid of 2 qmax + 1 levels scaled to its absmax.
static void roundtrip_group(real *x, size_t n, int qmax) {
    double amax = 0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs((double)x[i]));
    if (amax == 0) return;
    float scale = (float)(amax / qmax);   // stored as float32
    for (size_t i = 0; i < n; i++) {
        double q = round((double)x[i] / scale);
        if (q > qmax) q = qmax;
        if (q < -qmax) q = -qmax;
        x[i] = (real)(q * scale);
    }
}

int adapter_quantize_roundtrip(Adapter *a, int bits, QuantScope scope) {
    if (bits != 8 && bits != 4) { errno = EINVAL; return -1; }
    int qmax = (1 << (bits - 1)) - 1, nt = adapter_tensors(a, NULL);
    AdapterTensor t[nt > 0 ? nt : 1];
    adapter_tensors(a, t);
    for (int i = 0; i < nt; i++) {
        real *x = a->params + t[i].offset;
        if (scope == QUANT_PER_CHANNEL)
            for (int r = 0; r < t[i].rows; r++) roundtrip_group(x + (size_t)r * t[i].cols, (size_t)t[i].cols, qmax);
        else
            roundtrip_group(x, (size_t)t[i].rows * t[i].cols, qmax);
    }
    return 0;
}

size_t adapter_quant_bytes(const Adapter *a, int bits, QuantScope scope) {
    int nt = adapter_tensors(a, NULL);
    AdapterTensor t[nt > 0 ? nt : 1];
    adapter_tensors(a, t);
    size_t bytes = 0;
    for (int i = 0; i < nt; i++) {
        size_t n = (size_t)t[i].rows * t[i].cols;
        bytes += (n * (size_t)bits + 7) / 8 + 4 * (size_t)(scope == QUANT_PER_CHANNEL ? t[i].rows : 1);
    }
    return bytes;
}
