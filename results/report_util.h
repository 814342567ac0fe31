// Small text helpers for `sweep report`: a growing string buffer and the number formats every
// renderer shares, so text, markdown, HTML and the plots print a value the same way.
#pragma once
#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *s;
    size_t len, cap;
} Buf;

void buf_puts(Buf *b, const char *s);
void buf_putn(Buf *b, const char *s, size_t n);
// s with & < > " escaped for HTML and SVG text and attributes (s may be NULL)
void buf_put_escaped(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The text so far (never NULL); the buffer is empty afterwards and the caller owns the string.
char *buf_take(Buf *b);
void buf_free(Buf *b);
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *str_vprintf(const char *fmt, va_list ap);   // malloc'd, as str_printf
char *str_dup(const char *s);

// Perplexities and ratios: 3 significant digits below 100 (2.00, 0.00660), whole numbers above
// (84300); "n/a" for NaN.
void fmt_num(char *out, size_t n, double v);
// A percentage given in percent: "12.3%", "-0.03%".
void fmt_pct(char *out, size_t n, double v);
// Display width of UTF-8 text (code points), for aligned columns.
size_t utf8_width(const char *s);
