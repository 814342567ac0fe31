// Model files: the size of each part (embedding, matrices, head, vectors, header) and bits per weight.
#include "engine/modelfile.h"
#include <stdio.h>
#include <string.h>
#include "engine/int4.h"

void model_print_summary(const ModelFile *mf, FILE *out) {
    static const char *part[] = { "embedding", "vectors", "matrices", "vectors", "head" };
    static const TensorKind order[] = { TK_EMBED, TK_MATRIX, TK_HEAD, TK_NORM };
    const ModelConfig *c = &mf->w.cfg;
    char rope[160] = "";
    if (c->rope_scaling.type == ROPE_SCALING_LLAMA3)
        snprintf(rope, sizeof rope, ", llama3 rope scaling (factor %g, low/high freq factors %g/%g, original context %d)",
                 c->rope_scaling.factor, c->rope_scaling.low_freq_factor, c->rope_scaling.high_freq_factor,
                 c->rope_scaling.original_max_pos);
    fprintf(out, "%s: %zu bytes (%.2f MB); dim %d, %d layers, %d/%d heads, ffn %d, vocab %d, context %d%s%s%s\n",
            mf->path, mf->size, mf->size / 1e6, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->ffn_dim, c->vocab,
            c->context, c->tied ? ", tied head" : "", c->qkv_bias ? ", qkv biases" : "", rope);
    size_t total_bytes = 0, total_n = 0;
    for (int k = 0; k < 4; k++) {
        size_t bytes = 0, n = 0, scale_bytes = 0;
        int count = 0, types = 0, group = 0;
        for (int i = 0; i < mf->n_tensors; i++) {
            const ModelTensor *t = &mf->t[i];
            int kind = t->kind == TK_BIAS ? TK_NORM : (int)t->kind;
            if (kind != (int)order[k]) continue;
            bytes += t->nbytes;
            if (t->dtype == MAT_TERNARY) scale_bytes += (size_t)t->rows * 4;
            if (t->dtype == MAT_INT4) scale_bytes += int4_scale_bytes(t->rows, t->cols, t->group), group = t->group;
            n += (size_t)t->rows * t->cols;
            count++;
            types |= 1 << t->dtype;
        }
        total_bytes += bytes;
        total_n += n;
        if (!count) {
            if (order[k] == TK_HEAD) fprintf(out, "  %-9s tied to the embedding\n", part[order[k]]);
            continue;
        }
        char dt[40] = "";
        for (int d = MAT_F32; d <= MAT_INT4; d++)
            if (types & (1 << d)) snprintf(dt + strlen(dt), sizeof dt - strlen(dt), "%s%s", dt[0] ? "+" : "", model_dtype_name(d));
        fprintf(out, "  %-9s %-8s %4d tensors %12zu weights %12zu bytes (%8.2f MB) %6.3f bits/weight", part[order[k]],
                dt, count, n, bytes, bytes / 1e6, 8.0 * bytes / n);
        if (scale_bytes && group)
            fprintf(out, " (nibbles %.3f + scales per %d inputs %.3f)", 8.0 * (bytes - scale_bytes) / n, group,
                    8.0 * scale_bytes / n);
        else if (scale_bytes)
            fprintf(out, " (trits %.3f + row scales %.3f)", 8.0 * (bytes - scale_bytes) / n, 8.0 * scale_bytes / n);
        fputc('\n', out);
    }
    fprintf(out, "  %-9s %-8s %4s         %12s         %12zu bytes (%8.2f MB)\n", "header", "json", "", "",
            mf->size - total_bytes, (mf->size - total_bytes) / 1e6);
    fprintf(out, "  %-9s %-8s %4d tensors %12zu weights %12zu bytes (%8.2f MB) %6.3f bits/weight\n", "all", "",
            mf->n_tensors, total_n, total_bytes, total_bytes / 1e6, 8.0 * total_bytes / total_n);
}
