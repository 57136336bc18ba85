/*
** bench_stats.c: the statistics the benchmarks share: a sorted copy of the
** samples, their median, a nearest-rank percentile, and rounding for JSON.
*/
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

/* For qsort over doubles, ascending. */
static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A sorted copy of the n samples; the caller frees it. */
double *
sorted_copy(const double *s, int n)
{
    double *c = malloc((size_t)n * sizeof *c);
    memcpy(c, s, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    return c;
}

double
median(const double *s, int n)
{
    double *c = sorted_copy(s, n);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

/* Nearest rank, as pyeryx_bench.py: ceil(n * q / 100). */
double
percentile(const double *s, int n, int q)
{
    long rank = ((long)n * q + 99) / 100;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    double *c = sorted_copy(s, n);
    double p = c[rank - 1];
    free(c);
    return p;
}

double
r4(double x)
{
    return (double)(long long)(x * 1e4 + (x >= 0 ? 0.5 : -0.5)) / 1e4;
}
