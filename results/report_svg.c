// Hand-drawn SVG: the few primitives the three plots need (text, rect, circle, path), scaled by hand.
#include "results/report_svg.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/report_png.h"
#include "results/report_util.h"

// Okabe-Ito colours (distinguishable with colour blindness), then a few more for format variants.
static const char *const palette[] = {"#7f7f7f", "#0072b2", "#e69f00", "#d55e00", "#009e73", "#56b4e9",
                                      "#cc79a7", "#f0e442", "#000000", "#8c564b", "#17becf", "#bcbd22"};
#define N_PALETTE (int)(sizeof palette / sizeof palette[0])

static const char *color(int i) { return palette[((i % N_PALETTE) + N_PALETTE) % N_PALETTE]; }

static void svg_open(Buf *b, int w, int h, const char *title) {
    buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n<title>", w, h, w, h);
    buf_put_escaped(b, title);
    buf_printf(b, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", w, h);
}

static void text(Buf *b, double x, double y, const char *anchor, const char *extra, const char *s) {
    buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor, extra ? " " : "", extra ? extra : "");
    buf_put_escaped(b, s);
    buf_puts(b, "</text>\n");
}

// Title lines wrap at about 90 characters so a long title stays inside the picture.
static int title_block(Buf *b, const char *title, int width) {
    int y = 18, max = width / 7;
    const char *s = title;
    while (*s) {
        int n = (int)strlen(s);
        if (n > max) {
            n = max;
            while (n > 0 && s[n] != ' ') n--;
            if (n == 0) n = max;
        }
        char line[512];
        snprintf(line, sizeof line, "%.*s", n, s);
        text(b, 10, y, "start", "font-weight=\"bold\"", line);
        y += 16;
        s += n;
        while (*s == ' ') s++;
    }
    return y;
}

char *svg_heatmap(const char *title, int nrows, const char *const *rows, int ncols, const char *const *cols,
                  const double *values, int diag_n) {
    int cw = ncols > 8 ? 64 : 90, ch = 28, left = 130, right = 20;
    int width = left + cw * ncols + right;
    if (width < 480) width = 480;
    Buf b = {0};
    Buf head = {0};
    int top = title_block(&head, title, width) + 70;
    int height = top + ch * nrows + 20;
    svg_open(&b, width, height, title);
    buf_puts(&b, head.s ? head.s : "");
    buf_free(&head);
    for (int c = 0; c < ncols; c++) {
        char tr[128];
        double x = left + cw * c + cw / 2.0, y = top - 8;
        snprintf(tr, sizeof tr, "transform=\"rotate(-35 %.1f %.1f)\"", x, y);
        text(&b, x, y, "start", tr, cols[c]);
    }
    for (int c = 0; c < ncols; c++) {
        double lo = INFINITY, hi = -INFINITY;
        // scaled on the adapters' rows: a far worse base row would wash out the diagonal's contrast
        for (int r = 0; r < (diag_n > 0 && diag_n < nrows ? diag_n : nrows); r++) {
            double v = values[(size_t)r * ncols + c];
            if (v > 0 && isfinite(v)) { lo = fmin(lo, log(v)); hi = fmax(hi, log(v)); }
        }
        for (int r = 0; r < nrows; r++) {
            double v = values[(size_t)r * ncols + c], x = left + cw * c, y = top + ch * r;
            char label[48];
            fmt_num(label, sizeof label, v);
            if (!(v > 0 && isfinite(v))) {
                buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#eeeeee\" stroke=\"#ffffff\"/>\n",
                           x, y, cw, ch);
                text(&b, x + cw / 2.0, y + ch / 2.0 + 4, "middle", "fill=\"#777777\"", label);
                continue;
            }
            double t = hi > lo ? (log(v) - lo) / (hi - lo) : 0.5;   // 0: lowest ppl in the column
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            int rr = (int)(8 + t * (239 - 8)), gg = (int)(48 + t * (243 - 48)), bb = (int)(107 + t * (255 - 107));
            buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\" stroke=\"#ffffff\"/>\n",
                       x, y, cw, ch, rr, gg, bb);
            text(&b, x + cw / 2.0, y + ch / 2.0 + 4, "middle", t < 0.55 ? "fill=\"#ffffff\"" : "fill=\"#000000\"", label);
        }
    }
    for (int r = 0; r < nrows; r++) text(&b, left - 8, top + ch * r + ch / 2.0 + 4, "end", NULL, rows[r]);
    for (int r = 0; r < diag_n && r < ncols; r++)
        buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#000000\" "
                   "stroke-width=\"3\"/>\n", (double)left + cw * r + 1.5, (double)top + ch * r + 1.5, cw - 3, ch - 3);
    buf_puts(&b, "</svg>\n");
    return buf_take(&b);
}

typedef struct {
    double x0, x1, y0, y1;          // data range (log10 for log axes)
    double px, py, pw, ph;          // plot area in pixels
    int logx, logy;
} Frame;

static double fx(const Frame *f, double x) { return f->px + (x - f->x0) / (f->x1 - f->x0) * f->pw; }
static double fy(const Frame *f, double y) { return f->py + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph; }

static double nice_step(double span) {
    double raw = span / 5, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void tick_label(char *out, size_t n, double v, int log_axis) {
    if (log_axis) {
        int k = (int)lround(v);
        if (k >= -2 && k <= 6) snprintf(out, n, "%g", pow(10, k));
        else snprintf(out, n, "1e%d", k);
    } else {
        snprintf(out, n, "%g", fabs(v) < 1e-12 ? 0 : v);
    }
}

static void axes(Buf *b, const Frame *f, const char *xlabel, const char *ylabel) {
    buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333333\"/>\n", f->px,
               f->py, f->pw, f->ph);
    double sx = f->logx ? 1 : nice_step(f->x1 - f->x0), sy = f->logy ? 1 : nice_step(f->y1 - f->y0);
    char l[48];
    for (double v = ceil(f->x0 / sx - 1e-9) * sx; v <= f->x1 + 1e-9 * sx; v += sx) {
        double x = fx(f, v);
        buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", x, f->py, x, f->py + f->ph);
        tick_label(l, sizeof l, v, f->logx);
        text(b, x, f->py + f->ph + 16, "middle", NULL, l);
    }
    for (double v = ceil(f->y0 / sy - 1e-9) * sy; v <= f->y1 + 1e-9 * sy; v += sy) {
        double y = fy(f, v);
        buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", f->px, y, f->px + f->pw, y);
        tick_label(l, sizeof l, v, f->logy);
        text(b, f->px - 6, y + 4, "end", NULL, l);
    }
    text(b, f->px + f->pw / 2, f->py + f->ph + 38, "middle", NULL, xlabel);
    char tr[96];
    snprintf(tr, sizeof tr, "transform=\"rotate(-90 %.1f %.1f)\"", f->px - 52, f->py + f->ph / 2);
    text(b, f->px - 52, f->py + f->ph / 2, "middle", tr, ylabel);
}

// Legend entries: one per distinct (label, colour, dash).
static void legend(Buf *b, const Frame *f, int n, const SvgSeries *s, int lines) {
    double y = f->py + 10;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int k = 0; k < i && !seen; k++)
            seen = s[k].color == s[i].color && s[k].dashed == s[i].dashed && strcmp(s[k].label, s[i].label) == 0;
        if (seen) continue;
        double x = f->px + f->pw + 14;
        if (lines)
            buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", x, y - 4,
                       x + 20, y - 4, color(s[i].color), s[i].dashed ? " stroke-dasharray=\"5,3\"" : "");
        else
            buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n", x + 10, y - 4, color(s[i].color));
        text(b, x + 26, y, "start", NULL, s[i].label);
        y += 18;
    }
}

static int usable(double v, int logaxis) { return isfinite(v) && (!logaxis || v > 0); }

char *svg_scatter_loglog(const char *title, const char *xlabel, const char *ylabel, int nseries, const SvgSeries *s,
                         double ref_y, const char *ref_label) {
    int width = 760;
    Buf b = {0}, head = {0};
    int top = title_block(&head, title, width) + 10;
    Frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY, 80, top, 480, 340, 1, 1};
    for (int i = 0; i < nseries; i++)
        for (int k = 0; k < s[i].n; k++)
            if (usable(s[i].x[k], 1) && usable(s[i].y[k], 1)) {
                f.x0 = fmin(f.x0, log10(s[i].x[k])); f.x1 = fmax(f.x1, log10(s[i].x[k]));
                f.y0 = fmin(f.y0, log10(s[i].y[k])); f.y1 = fmax(f.y1, log10(s[i].y[k]));
            }
    if (usable(ref_y, 1)) { f.y0 = fmin(f.y0, log10(ref_y)); f.y1 = fmax(f.y1, log10(ref_y)); }
    if (!isfinite(f.x0)) { f.x0 = 0; f.x1 = 1; }
    if (!isfinite(f.y0)) { f.y0 = 0; f.y1 = 1; }
    f.x0 = floor(f.x0); f.x1 = fmax(ceil(f.x1), f.x0 + 1);
    f.y0 = floor(f.y0); f.y1 = fmax(ceil(f.y1), f.y0 + 1);
    svg_open(&b, width, top + 340 + 60, title);
    buf_puts(&b, head.s ? head.s : "");
    buf_free(&head);
    axes(&b, &f, xlabel, ylabel);
    if (usable(ref_y, 1)) {
        double y = fy(&f, log10(ref_y));
        buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"6,4\"/>\n", f.px, y,
                   f.px + f.pw, y, color(0));
        text(&b, f.px + f.pw - 4, y - 5, "end", "fill=\"#555555\"", ref_label ? ref_label : "reference");
    }
    for (int i = 0; i < nseries; i++)
        for (int k = 0; k < s[i].n; k++)
            if (usable(s[i].x[k], 1) && usable(s[i].y[k], 1))
                buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" fill-opacity=\"0.85\" stroke=\"#ffffff\"/>\n",
                           fx(&f, log10(s[i].x[k])), fy(&f, log10(s[i].y[k])), color(s[i].color));
    legend(&b, &f, nseries, s, 0);
    buf_puts(&b, "</svg>\n");
    return buf_take(&b);
}

char *svg_lines(const char *title, const char *xlabel, const char *ylabel, int nseries, const SvgSeries *s) {
    int width = 760;
    Buf b = {0}, head = {0};
    int top = title_block(&head, title, width) + 10;
    Frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY, 80, top, 480, 320, 0, 0};
    for (int i = 0; i < nseries; i++)
        for (int k = 0; k < s[i].n; k++)
            if (usable(s[i].x[k], 0) && usable(s[i].y[k], 0)) {
                f.x0 = fmin(f.x0, s[i].x[k]); f.x1 = fmax(f.x1, s[i].x[k]);
                f.y0 = fmin(f.y0, s[i].y[k]); f.y1 = fmax(f.y1, s[i].y[k]);
            }
    if (!isfinite(f.x0)) { f.x0 = 0; f.x1 = 1; }
    if (!isfinite(f.y0)) { f.y0 = 0; f.y1 = 1; }
    if (f.x1 <= f.x0) f.x1 = f.x0 + 1;
    double pad = f.y1 > f.y0 ? 0.05 * (f.y1 - f.y0) : 0.5;
    f.y0 -= pad;
    f.y1 += pad;
    svg_open(&b, width, top + 320 + 60, title);
    buf_puts(&b, head.s ? head.s : "");
    buf_free(&head);
    axes(&b, &f, xlabel, ylabel);
    for (int i = 0; i < nseries; i++) {
        Buf d = {0};
        int pen = 0;
        for (int k = 0; k < s[i].n; k++) {
            if (!usable(s[i].x[k], 0) || !usable(s[i].y[k], 0)) { pen = 0; continue; }
            buf_printf(&d, "%s%.1f %.1f ", pen ? "L" : "M", fx(&f, s[i].x[k]), fy(&f, s[i].y[k]));
            pen = 1;
        }
        if (d.len)
            buf_printf(&b, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-opacity=\"0.8\"%s/>\n", d.s,
                       color(s[i].color), s[i].dashed ? " stroke-dasharray=\"5,3\"" : "");
        buf_free(&d);
    }
    legend(&b, &f, nseries, s, 1);
    buf_puts(&b, "</svg>\n");
    return buf_take(&b);
}

char *svg_heatmap_image(const char *title, int n, const double *values, const int *order, int max_side,
                        const char *axis_note) {
    int per = (n + max_side - 1) / max_side, side = (n + per - 1) / per;
    // colour position t per cell as svg_heatmap: log ppl scaled within each column over the adapters
    double *lo = xmalloc(((size_t)n + 1) * sizeof *lo), *hi = xmalloc(((size_t)n + 1) * sizeof *hi);
    for (int c = 0; c < n; c++) {
        lo[c] = INFINITY; hi[c] = -INFINITY;
        for (int r = 0; r < n; r++) {
            double v = values[(size_t)r * n + c];
            if (v > 0 && isfinite(v)) { lo[c] = fmin(lo[c], log(v)); hi[c] = fmax(hi[c], log(v)); }
        }
    }
    double *sum = xcalloc((size_t)side * side + 1, sizeof *sum);
    int *cnt = xcalloc((size_t)side * side + 1, sizeof *cnt);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            int r = order[i], c = order[k];
            double v = values[(size_t)r * n + c];
            if (!(v > 0 && isfinite(v))) continue;
            double t = hi[c] > lo[c] ? (log(v) - lo[c]) / (hi[c] - lo[c]) : 0.5;
            size_t at = (size_t)(i / per) * side + (size_t)(k / per);
            sum[at] += t < 0 ? 0 : t > 1 ? 1 : t;
            cnt[at]++;
        }
    unsigned char *rgb = xmalloc((size_t)side * side * 3 + 1);
    for (size_t p = 0; p < (size_t)side * side; p++) {
        unsigned char *px = rgb + 3 * p;
        if (!cnt[p]) { px[0] = px[1] = px[2] = 0xee; continue; }
        double t = sum[p] / cnt[p];
        px[0] = (unsigned char)(8 + t * (239 - 8));
        px[1] = (unsigned char)(48 + t * (243 - 48));
        px[2] = (unsigned char)(107 + t * (255 - 107));
    }
    char *png = png_rgb_base64(rgb, side, side);
    free(rgb); free(sum); free(cnt); free(lo); free(hi);

    int px = 600, left = 60, width = left + px + 40;
    Buf b = {0}, head = {0};
    int top = title_block(&head, title, width) + 30;
    int height = top + px + 60;
    svg_open(&b, width, height, title);
    buf_puts(&b, head.s ? head.s : "");
    buf_free(&head);
    char line[400];
    snprintf(line, sizeof line, "%d users; one pixel = %d x %d users (mean colour)", n, per, per);
    text(&b, left, top - 10, "start", "fill=\"#444444\"", line);
    buf_printf(&b, "<image x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" preserveAspectRatio=\"none\" "
                   "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,%s\"/>\n", left, top, px, px, png);
    free(png);
    buf_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#000000\"/>\n", left, top, px, px);
    char tr[128];
    snprintf(tr, sizeof tr, "transform=\"rotate(-90 %d %d)\"", left - 12, top + px / 2);
    text(&b, left - 12, top + px / 2, "middle", tr, "adapters (rows)");
    text(&b, left + px / 2, top + px + 20, "middle", NULL, "held-out texts (columns)");
    text(&b, left, top + px + 42, "start", "fill=\"#444444\"", axis_note ? axis_note : "");
    buf_puts(&b, "</svg>\n");
    return buf_take(&b);
}
