/*
** bench_callbacks.c: the callback rows: callback_rt (an await of a callback
** that answers at once) and gather5x10 (a gather over 5 callbacks that sleep
** 10 ms).  The Python text is a copy of pyeryx_bench.py's.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* Handlers: noop answers at once, sleep10 after 10 ms. */
static void
cb_noop(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    eryx_call_return(call, "null", 4);
}

static void
cb_sleep10(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    sleep_ms(10);
    eryx_call_return(call, "null", 4);
}

/* The same Python as pyeryx_bench.py's CALLBACK_LOOP, with k = %d. */
static const char callback_loop[] =
    "\n"
    "import time\n"
    "pc = time.perf_counter\n"
    "empty, calls = [], []\n"
    "for _ in range(%d):\n"
    "    t = pc()\n"
    "    empty.append(pc() - t)\n"
    "t0 = pc()\n"
    "for _ in range(%d):\n"
    "    t = pc()\n"
    "    await noop()\n"
    "    calls.append(pc() - t)\n"
    "t1 = pc()\n"
    "for _ in range(%d):\n"
    "    pass\n"
    "t2 = pc()\n"
    "empty.sort()\n"
    "result = {\"calls\": calls, \"clock\": empty[len(empty) // 2],\n"
    "          \"loop_mean\": ((t1 - t0) - (t2 - t1)) / %d}\n";

void
bench_callback_rt(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_sandbox *sb = NULL;
    eryx_config *c = unlimited_config();
    int k = b->quick ? 100 : 200, runs = b->quick ? 2 : 5;
    double *t = calloc((size_t)(k * runs), sizeof *t), means[8];
    int n = 0;
    char code[1024];
    snprintf(code, sizeof code, callback_loop, k, k, k, k);
    if (eryx_config_add_callback(c, "noop", "Does nothing.", NULL, cb_noop,
                                 NULL, NULL, &err) != ERYX_OK ||
        eryx_sandbox_new(b->engine, c, &sb, &err) != ERYX_OK) {
        row_warn("callback_rt", "setup", err.message);
        goto out;
    }
    for (int run = -1; run < runs; run++) {
        if (eryx_sandbox_execute(sb, code, strlen(code), &r, &err) != ERYX_OK) {
            row_warn("callback_rt", "execute", err.message);
            eryx_result_free(r);
            goto out;
        }
        cJSON *res = result_json(r);
        eryx_result_free(r);
        if (res == NULL) {
            row_warn("callback_rt", "result", "no JSON result");
            goto out;
        }
        if (run >= 0) {
            double clock = cJSON_GetObjectItem(res, "clock")->valuedouble;
            cJSON *c1;
            cJSON_ArrayForEach(c1, cJSON_GetObjectItem(res, "calls")) t[n++] =
                (c1->valuedouble - clock) * 1e3;
            means[run] =
                cJSON_GetObjectItem(res, "loop_mean")->valuedouble * 1e3;
        }
        cJSON_Delete(res);
    }
    cJSON *o = row_new("callback_rt", t, n);
    cJSON_AddNumberToObject(o, "loop_mean_ms", r4(median(means, runs)));
    char note[300];
    snprintf(
        note, sizeof note,
        "each `await noop()` timed inside the sandbox with perf_counter "
        "(minus the clock's own cost), handler answers at once on a worker "
        "thread; loop_mean_ms: a %d-await loop minus an empty loop, "
        "divided by %d",
        k, k);
    row_emit(o, note);
out:
    eryx_sandbox_free(sb);
    eryx_config_free(c);
    free(t);
}

/* The same Python as pyeryx_bench.py's GATHER. */
static const char gather_code[] =
    "\n"
    "import asyncio, time\n"
    "t = time.perf_counter()\n"
    "await asyncio.gather(*[sleep10() for _ in range(5)])\n"
    "result = time.perf_counter() - t\n";

void
bench_gather(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_sandbox *sb = NULL;
    eryx_config *c = unlimited_config();
    int n = b->quick ? 10 : 30;
    double *t = calloc((size_t)n, sizeof *t),
           *in = calloc((size_t)n, sizeof *in);
    if (eryx_config_add_callback(c, "sleep10", "Sleeps 10 ms.", NULL,
                                 cb_sleep10, NULL, NULL, &err) != ERYX_OK ||
        eryx_sandbox_new(b->engine, c, &sb, &err) != ERYX_OK) {
        row_warn("gather5x10", "setup", err.message);
        goto out;
    }
    for (int i = -1; i < n; i++) {
        double t0 = now_ms();
        if (eryx_sandbox_execute(sb, gather_code, strlen(gather_code), &r,
                                 &err) != ERYX_OK) {
            row_warn("gather5x10", "execute", err.message);
            eryx_result_free(r);
            goto out;
        }
        double t1 = now_ms();
        cJSON *res = result_json(r);
        eryx_result_free(r);
        if (i >= 0) {
            t[i] = t1 - t0;
            in[i] = res ? res->valuedouble * 1e3 : 0;
        }
        cJSON_Delete(res);
    }
    cJSON *o = row_new("gather5x10", t, n);
    cJSON_AddNumberToObject(o, "in_sandbox_ms", r4(median(in, n)));
    row_emit(o, "host-timed eryx_sandbox_execute (fresh interpreter included) "
                "of a gather over 5 calls of a callback whose handler sleeps "
                "10 ms on its worker thread; in_sandbox_ms: the gather alone");
out:
    eryx_sandbox_free(sb);
    eryx_config_free(c);
    free(t);
    free(in);
}
