// Minimal test harness: CHECK records failures and keeps going; test_main prints one
// "N passed, N failed" line that CI reads.
#pragma once
#include <stdio.h>
#include <math.h>

extern int tl_passed, tl_failed;

#define CHECK(cond, ...) do { \
    if (cond) { tl_passed++; } \
    else { tl_failed++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
           fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

// relative error with an absolute floor, so that values near zero compare sensibly
double tl_relerr(double a, double b, double floor);
// the largest relerr over two arrays of doubles; *at receives the index
double tl_max_relerr(const double *a, const double *b, long n, double floor, long *at);
int tl_finish(const char *name);
