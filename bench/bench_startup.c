/*
** bench_startup.c: start-up and per-execute costs of liberyx, through the
** public API only.  Prints one table row per metric: median and p99 over
** the repetitions, in milliseconds.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <eryx.h>

#include "bench_util.h"

static void
row(const char *name, double *samples, int n)
{
    qsort(samples, (size_t)n, sizeof *samples, cmp_double);
    int p99 = (int)((double)n * 0.99);
    if (p99 >= n)
        p99 = n - 1;
    printf("| %-44s | %5d | %10.3f | %10.3f |\n", name, n, samples[n / 2],
           samples[p99]);
}

static void
check(eryx_status s, const eryx_error *err, const char *what)
{
    if (s != ERYX_OK) {
        fprintf(stderr, "bench: %s: %s\n", what, err->message);
        exit(1);
    }
}

int
main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 100;
    if (reps < 1)
        reps = 100;
    double *t = calloc((size_t)reps * 10, sizeof *t);
    eryx_error err;
    eryx_engine *engine = NULL;
    eryx_result *r = NULL;

    printf("| %-44s | %5s | %10s | %10s |\n", "operation", "n", "median ms",
           "p99 ms");
    printf("|%s|%s|%s|%s|\n", "----------------------------------------------",
           "-------", "------------", "------------");

    for (int i = 0; i < 5; i++) {
        double t0 = now_ms();
        check(eryx_engine_new(NULL, &engine, &err), &err, "engine");
        t[i] = now_ms() - t0;
        eryx_engine_free(engine);
    }
    row("engine_new (compiled code from the cache)", t, 5);
    check(eryx_engine_new(NULL, &engine, &err), &err, "engine");

    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        eryx_sandbox *sb = NULL;
        check(eryx_sandbox_new(engine, NULL, &sb, &err), &err, "sandbox");
        check(eryx_sandbox_execute(sb, "print(1)", 8, &r, &err), &err,
              "execute");
        t[i] = now_ms() - t0;
        eryx_result_free(r);
        eryx_sandbox_free(sb);
    }
    row("sandbox_new + execute('print(1)')", t, reps);

    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        eryx_session *s = NULL;
        check(eryx_session_new(engine, NULL, &s, &err), &err, "session");
        t[i] = now_ms() - t0;
        eryx_session_free(s);
    }
    row("session_new (instantiate + initialize)", t, reps);

    eryx_session *ss = NULL;
    check(eryx_session_new(engine, NULL, &ss, &err), &err, "session");
    int n = reps * 10;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        check(eryx_session_execute(ss, "x = 1", 5, &r, &err), &err, "execute");
        t[i] = now_ms() - t0;
        eryx_result_free(r);
    }
    row("session execute('x = 1')", t, n);
    eryx_session_free(ss);

    eryx_engine_free(engine);
    free(t);
    return 0;
}
