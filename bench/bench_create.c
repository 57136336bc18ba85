/*
** bench_create.c: the creation rows: create_cold (engine and session in a
** fresh process, the binary re-run with --cold-once) and create_warm.
*/
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"

/* Child of create_cold: engine + session from nothing, then one execute. */
int
cold_once(void)
{
    eryx_error err;
    eryx_engine *e = NULL;
    eryx_session *s = NULL;
    eryx_result *r = NULL;
    double t0 = now_ms();
    if (eryx_engine_new(NULL, &e, &err) != ERYX_OK ||
        eryx_session_new(e, NULL, &s, &err) != ERYX_OK) {
        fprintf(stderr, "cold: %s\n", err.message);
        return 1;
    }
    double t1 = now_ms();
    if (!session_run(s, "pass", &r, &err)) {
        fprintf(stderr, "cold: %s\n", err.message);
        return 1;
    }
    double t2 = now_ms();
    printf("%.4f %.4f\n", t1 - t0, t2 - t0);
    eryx_result_free(r);
    eryx_session_free(s);
    eryx_engine_free(e);
    return 0;
}

void
bench_create_cold(bench *b)
{
    int runs = b->quick ? 3 : 10;
    double ready[32], first[32], wall[32];
    char out[256];
    char once[] = "--cold-once"; /* execv's argv is not const */
    char *argv[] = {b->self_path, once, NULL};
    double w;
    run_child(argv, out, sizeof out, &w); /* warm the page cache */
    for (int i = 0; i < runs; i++) {
        if (run_child(argv, out, sizeof out, &wall[i]) != 0 ||
            sscanf(out, "%lf %lf", &ready[i], &first[i]) != 2) {
            row_warn("create_cold", "child", out);
            return;
        }
    }
    cJSON *o = row_new("create_cold", ready, runs);
    cJSON_AddNumberToObject(o, "first_execute_ms", r4(median(first, runs)));
    cJSON_AddNumberToObject(o, "process_wall_ms", r4(median(wall, runs)));
    row_emit(o, "eryx_engine_new + eryx_session_new (instantiated, ready) in a "
                "fresh process, compiled guest mapped from runtime.cwasm; "
                "first_execute_ms: the same plus a first execute of pass; "
                "process_wall_ms: fork to exit of that whole child process");
}

void
bench_create_warm(bench *b)
{
    eryx_error err;
    int n = b->reps;
    double *t = calloc((size_t)n, sizeof *t),
           *ts = calloc((size_t)n, sizeof *ts),
           *tx = calloc((size_t)n, sizeof *tx);
    for (int i = 0; i < n; i++) {
        eryx_session *s = NULL;
        eryx_result *r = NULL;
        double t0 = now_ms();
        if (eryx_session_new(b->engine, NULL, &s, &err) != ERYX_OK) {
            row_warn("create_warm", "eryx_session_new", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (!session_run(s, "pass", &r, &err)) {
            row_warn("create_warm", "execute", err.message);
            eryx_result_free(r);
            eryx_session_free(s);
            goto out;
        }
        tx[i] = now_ms() - t0;
        t[i] = t1 - t0;
        eryx_result_free(r);
        eryx_session_free(s);
    }
    for (int i = 0; i < n; i++) {
        eryx_sandbox *sb = NULL;
        double t0 = now_ms();
        if (eryx_sandbox_new(b->engine, NULL, &sb, &err) != ERYX_OK) {
            row_warn("create_warm", "eryx_sandbox_new", err.message);
            goto out;
        }
        ts[i] = now_ms() - t0;
        eryx_sandbox_free(sb);
    }
    cJSON *o = row_new("create_warm", t, n);
    cJSON_AddNumberToObject(o, "first_execute_ms", r4(median(tx, n)));
    cJSON_AddNumberToObject(o, "sandbox_new_ms", r4(median(ts, n)));
    row_emit(o,
             "eryx_session_new (instance made and ready) in a warm process; "
             "free not timed; first_execute_ms: eryx_session_new plus its "
             "first execute of pass; sandbox_new_ms: eryx_sandbox_new, which "
             "instantiates nothing (a sandbox does at each execute)");
out:
    free(t);
    free(ts);
    free(tx);
}
