/*
** bench_execute.c: the execute rows: execute_pass_fresh (a sandbox, a new
** interpreter per execute), session_x1 and session_5.
*/
#include <stdlib.h>

#include "bench_common.h"

void
bench_execute_pass_fresh(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    int n = b->reps;
    double *t = calloc((size_t)n, sizeof *t),
           *ex = calloc((size_t)n, sizeof *ex),
           *same = calloc((size_t)n, sizeof *same),
           *paced = calloc((size_t)n, sizeof *paced);
    eryx_sandbox *sb = NULL;
    for (int i = -3; i < n; i++) {
        double t0 = now_ms();
        if (eryx_sandbox_new(b->engine, NULL, &sb, &err) != ERYX_OK) {
            row_warn("execute_pass_fresh", "eryx_sandbox_new", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (eryx_sandbox_execute(sb, "pass", 4, &r, &err) != ERYX_OK) {
            row_warn("execute_pass_fresh", "execute", err.message);
            eryx_result_free(r);
            eryx_sandbox_free(sb);
            goto out;
        }
        double t2 = now_ms();
        eryx_result_free(r);
        eryx_sandbox_free(sb);
        if (i >= 0) {
            t[i] = now_ms() - t0;
            ex[i] = t2 - t1;
        }
    }
    sb = NULL;
    eryx_sandbox_new(b->engine, NULL, &sb, &err);
    for (int i = -3; i < n; i++) {
        double t0 = now_ms();
        eryx_sandbox_execute(sb, "pass", 4, &r, &err);
        if (i >= 0)
            same[i] = now_ms() - t0;
        eryx_result_free(r);
    }
    eryx_sandbox_free(sb);
    /* Requests that arrive when the engine's background thread has a
       ready interpreter in stock (polled every 0.1 ms, at most 50 ms;
       pyeryx_bench.py gives its Sandbox() 1 ms to instantiate in the
       background before its execute). */
    for (int i = -3; i < n; i++) {
        eryx_ready_stats rs;
        for (int w = 0; w < 500; w++) {
            eryx_engine_ready_stats(b->engine, &rs);
            if (rs.ready > 0)
                break;
            sleep_us(100);
        }
        if (eryx_sandbox_new(b->engine, NULL, &sb, &err) != ERYX_OK)
            goto out;
        double t0 = now_ms();
        eryx_status st = eryx_sandbox_execute(sb, "pass", 4, &r, &err);
        if (i >= 0)
            paced[i] = now_ms() - t0;
        eryx_result_free(r);
        eryx_sandbox_free(sb);
        if (st != ERYX_OK) {
            row_warn("execute_pass_fresh", "paced execute", err.message);
            goto out;
        }
    }
    eryx_ready_stats rs;
    eryx_engine_ready_stats(b->engine, &rs);
    /* Back to back, the executes are bimodal (an interpreter from the
       stock, or one started on the spot): the mean says what a loop of
       them costs, which the median does not. */
    double ex_sum = 0, t_sum = 0;
    for (int i = 0; i < n; i++) {
        ex_sum += ex[i];
        t_sum += t[i];
    }
    cJSON *o = row_new("execute_pass_fresh", t, n);
    cJSON_AddNumberToObject(o, "mean_ms", r4(n > 0 ? t_sum / n : 0));
    cJSON_AddNumberToObject(o, "execute_only_mean_ms",
                            r4(n > 0 ? ex_sum / n : 0));
    cJSON_AddNumberToObject(o, "execute_only_ms", r4(median(ex, n)));
    cJSON_AddNumberToObject(o, "execute_only_p99_ms",
                            r4(percentile(ex, n, 99)));
    cJSON_AddNumberToObject(o, "same_sandbox_ms", r4(median(same, n)));
    cJSON_AddNumberToObject(o, "ready_ms", r4(median(paced, n)));
    cJSON_AddNumberToObject(o, "ready_p99_ms", r4(percentile(paced, n, 99)));
    cJSON_AddNumberToObject(o, "ready_instance_mb",
                            r4((double)rs.instance_bytes / (1024 * 1024)));
    cJSON_AddNumberToObject(o, "ready_taken", (double)rs.taken);
    row_emit(o, "eryx_sandbox_new + eryx_sandbox_execute(pass) + free: a new "
                "interpreter from the pre-initialized image; execute_only_ms: "
                "the execute alone; *mean_ms: means (back to back, executes "
                "take a ready interpreter or start one: bimodal); "
                "same_sandbox_ms: repeated execute on one "
                "sandbox (still a fresh interpreter each time); ready_ms: the "
                "execute alone on a new sandbox, each when the engine has a "
                "ready interpreter in stock; "
                "ready_instance_mb: memory faulted in per ready interpreter");
out:
    free(t);
    free(ex);
    free(same);
    free(paced);
}

void
bench_session_x1(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_session *s = NULL;
    int n = b->reps * 4;
    double *t = calloc((size_t)n, sizeof *t);
    if (eryx_session_new(b->engine, NULL, &s, &err) != ERYX_OK) {
        row_warn("session_x1", "eryx_session_new", err.message);
        goto out;
    }
    session_run(s, "x = 1", &r, &err);
    eryx_result_free(r);
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (!session_run(s, "x = 1", &r, &err)) {
            row_warn("session_x1", "execute", err.message);
            eryx_result_free(r);
            goto out;
        }
        t[i] = now_ms() - t0;
        eryx_result_free(r);
    }
    row_emit(row_new("session_x1", t, n),
             "eryx_session_execute(x = 1) on one session, after one warm-up "
             "execute; result freed outside the timing");
out:
    eryx_session_free(s);
    free(t);
}

void
bench_session_5(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    int n = b->quick ? 20 : 100;
    double *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        eryx_session *s = NULL;
        double t0 = now_ms();
        if (eryx_session_new(b->engine, NULL, &s, &err) != ERYX_OK) {
            row_warn("session_5", "eryx_session_new", err.message);
            goto out;
        }
        for (int k = 0; k < 5; k++) {
            if (!session_run(s, "x = 1", &r, &err)) {
                row_warn("session_5", "execute", err.message);
                eryx_result_free(r);
                eryx_session_free(s);
                goto out;
            }
            eryx_result_free(r);
        }
        eryx_session_free(s);
        t[i] = now_ms() - t0;
    }
    row_emit(row_new("session_5", t, n),
             "eryx_session_new + 5 executes of x = 1 + eryx_session_free");
out:
    free(t);
}
