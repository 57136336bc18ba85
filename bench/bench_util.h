/*
** bench_util.h: the clock and the sort order the benchmarks share.
*/
#ifndef ERYX_BENCH_UTIL_H
#define ERYX_BENCH_UTIL_H

#include <time.h>

static inline double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* For qsort over doubles, ascending. */
static inline int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif /* ERYX_BENCH_UTIL_H */
