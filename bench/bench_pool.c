/*
** bench_pool.c: the pool_acquire_release row: acquire, execute and release
** on an eryx_pool, and a check that a released session was reset.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

void
bench_pool(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_pool *p = NULL;
    eryx_pool_options opt;
    eryx_pool_stats st;
    int n = b->reps;
    double *t = calloc((size_t)n, sizeof *t),
           *ta = calloc((size_t)n, sizeof *ta),
           *tx = calloc((size_t)n, sizeof *tx);
    eryx_pool_options_init(&opt);
    if (eryx_pool_new(b->engine, NULL, &opt, &p, &err) != ERYX_OK) {
        row_warn("pool_acquire_release", "eryx_pool_new", err.message);
        goto out;
    }
    for (int i = -5; i < n; i++) {
        eryx_session *s = NULL;
        double t0 = now_ms();
        if (eryx_pool_acquire(p, &s, &err) != ERYX_OK) {
            row_warn("pool_acquire_release", "acquire", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (!session_run(s, "pass", &r, &err)) {
            row_warn("pool_acquire_release", "execute", err.message);
            eryx_result_free(r);
            eryx_pool_release(p, s);
            goto out;
        }
        double tx1 = now_ms();
        eryx_pool_release(p, s);
        double t2 = now_ms();
        eryx_result_free(r);
        if (i >= 0) {
            t[i] = t2 - t0;
            ta[i] = t1 - t0;
            tx[i] = tx1 - t0;
        }
    }
    eryx_pool_get_stats(p, &st);
    /* What one user leaves must not reach the next. */
    for (int i = 0; i < 2; i++) {
        eryx_session *s = NULL;
        if (eryx_pool_acquire(p, &s, &err) != ERYX_OK) {
            row_warn("pool_acquire_release", "acquire", err.message);
            goto out;
        }
        int ok = session_run(
            s, i ? "result = 'leak' in globals()" : "leak = 1\nresult = False",
            &r, &err);
        const char *j = ok ? eryx_result_json(r, NULL) : NULL;
        if (!ok || j == NULL || strcmp(j, "false") != 0)
            row_warn("pool_acquire_release", "a released session was not reset",
                     ok ? (j ? j : "(no result)") : err.message);
        eryx_result_free(r);
        r = NULL;
        eryx_pool_release(p, s);
    }
    cJSON *o = row_new("pool_acquire_release", t, n);
    cJSON_AddNumberToObject(o, "acquire_ms", r4(median(ta, n)));
    cJSON_AddNumberToObject(o, "acquire_execute_ms", r4(median(tx, n)));
    cJSON_AddNumberToObject(o, "acquire_execute_p99_ms",
                            r4(percentile(tx, n, 99)));
    cJSON_AddNumberToObject(o, "creations", (double)st.creations);
    cJSON_AddNumberToObject(o, "waits", (double)st.waits);
    char note[300];
    snprintf(note, sizeof note,
             "eryx_pool (default options) acquire + execute(pass) + release, "
             "one thread, back to back; acquire_ms: the acquire alone; "
             "acquire_execute_ms: acquire + execute (the release, which "
             "resets, not counted); "
             "%llu acquisitions, %llu sessions (re)started, %llu waits",
             (unsigned long long)st.acquisitions,
             (unsigned long long)st.creations, (unsigned long long)st.waits);
    row_emit(o, note);
out:
    eryx_pool_free(p);
    free(t);
    free(ta);
    free(tx);
}
