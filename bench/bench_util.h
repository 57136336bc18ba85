/*
** bench_util.h: the clock and the statistics (bench_stats.c) the benchmarks
** share.
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

/* Sleep us microseconds, resumed after a signal. */
static inline void
sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline void
sleep_ms(int ms)
{
    sleep_us((long)ms * 1000);
}

/* A sorted copy of the n samples; the caller frees it. */
double *sorted_copy(const double *s, int n);

/* The middle sample; the mean of the two middle ones for an even n. */
double median(const double *s, int n);

/* Nearest rank, as pyeryx_bench.py: ceil(n * q / 100); q = 100 is the
   largest sample. */
double percentile(const double *s, int n, int q);

/* x rounded to 4 decimals, for the JSON rows. */
double r4(double x);

#endif /* ERYX_BENCH_UTIL_H */
