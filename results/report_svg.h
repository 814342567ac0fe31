// Plots as standalone SVG text, drawn by hand: a confusion heatmap, a log-log scatter and line
// charts. Each function returns a malloc'd document that an HTML page can inline as is.
#pragma once

// values[r * ncols + c], NaN for no cell. The first diag_n rows are users' adapters, and cell (r, r)
// is outlined; rows after them (the base) are never outlined. Colour is log ppl scaled within each
// column over the adapters' rows (users' texts differ in difficulty by orders of magnitude), clamped
// for the rows after them.
char *svg_heatmap(const char *title, int nrows, const char *const *rows, int ncols, const char *const *cols,
                  const double *values, int diag_n);

// A heatmap too large to draw cell by cell: values[r * n + c] for n adapters (rows) on n users' texts
// (columns), both in the order order[0..n) (the same both ways, so the diagonal stays the diagonal),
// coloured as svg_heatmap colours them, then averaged over blocks of ceil(n / max_side) users a side
// into a picture at most max_side pixels a side, embedded as a PNG: the document's size does not
// grow with the number of cells.
char *svg_heatmap_image(const char *title, int n, const double *values, const int *order, int max_side,
                        const char *axis_note);

typedef struct {
    const char *label;      // legend entry; lines with the same label and colour share one entry
    int color;              // palette index
    int dashed;
    int n;
    const double *x, *y;    // points; NaN and non-positive values (on log axes) are skipped
} SvgSeries;

// Points per series on log-log axes; ref_y (if > 0) draws a dashed horizontal reference line.
char *svg_scatter_loglog(const char *title, const char *xlabel, const char *ylabel, int nseries, const SvgSeries *s,
                         double ref_y, const char *ref_label);
// One polyline per series on linear axes.
char *svg_lines(const char *title, const char *xlabel, const char *ylabel, int nseries, const SvgSeries *s);
