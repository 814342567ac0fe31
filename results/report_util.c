#include "results/report_util.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"

static void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *s = xmalloc(cap);
    if (b->len) memcpy(s, b->s, b->len);
    free(b->s);
    b->s = s;
    b->cap = cap;
}

void buf_putn(Buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) { buf_putn(b, s, strlen(s)); }

void buf_put_escaped(Buf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        default: buf_putn(b, s, 1);
        }
    }
}

void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *buf_take(Buf *b) {
    char *s = b->s ? b->s : str_dup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void buf_free(Buf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

char *str_vprintf(const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) n = 0;
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *str_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = str_vprintf(fmt, ap);
    va_end(ap);
    return s;
}

char *str_dup(const char *s) {
    size_t n = strlen(s ? s : "");
    char *d = xmalloc(n + 1);
    memcpy(d, s ? s : "", n + 1);
    return d;
}

void fmt_num(char *out, size_t n, double v) {
    if (isnan(v)) snprintf(out, n, "n/a");
    else if (isinf(v)) snprintf(out, n, v > 0 ? "inf" : "-inf");
    else if (v == 0) snprintf(out, n, "0");
    else if (fabs(v) >= 100) snprintf(out, n, "%.0f", v);
    else snprintf(out, n, "%#.3g", v);
}

void fmt_pct(char *out, size_t n, double v) {
    if (isnan(v)) snprintf(out, n, "n/a");
    else if (v != 0 && fabs(v) < 0.95) snprintf(out, n, "%.2f%%", v);   // -0.03%, not -0.0%
    else snprintf(out, n, "%.1f%%", v);
}

size_t utf8_width(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}
