/*
** bench_throughput.c: the throughput row: executes per second of a small
** realistic snippet (a JSON round trip and a list comprehension) on one
** shared engine, with 1 and with 2 threads, each thread with a session of
** its own (steady state) and, separately, with a fresh sandbox per execute
** (a new interpreter each time).  Issue 15's target: 2 threads at least
** 1.8x one thread.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static const char snippet[] =
    "import json\n"
    "data = {'items': [{'id': i, 'name': f'item{i}', 'tags': ['a', 'b']}\n"
    "                  for i in range(50)]}\n"
    "back = json.loads(json.dumps(data))\n"
    "result = sum(len(x['name']) for x in back['items'] if x['id'] % 2)\n";

struct worker {
    eryx_engine *engine;
    int fresh;       /* a new sandbox per execute, else one session */
    double until_ms; /* run until this time */
    long count;      /* executes done */
    int failed;
};

static void *
work(void *arg)
{
    struct worker *w = arg;
    eryx_session *ss = NULL;
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    if ((w->fresh ? eryx_sandbox_new(w->engine, NULL, &sb, NULL)
                  : eryx_session_new(w->engine, NULL, &ss, NULL)) != ERYX_OK) {
        w->failed = 1;
        return NULL;
    }
    /* Three warm-up executes (i < 0), then as many as fit. */
    for (int i = -3; !w->failed && (i < 0 || now_ms() < w->until_ms); i++) {
        if ((ss ? eryx_session_execute(ss, snippet, strlen(snippet), &r, NULL)
                : eryx_sandbox_execute(sb, snippet, strlen(snippet), &r,
                                       NULL)) != ERYX_OK)
            w->failed = 1;
        eryx_result_free(r);
        w->count += i >= 0;
    }
    eryx_session_free(ss);
    eryx_sandbox_free(sb);
    return NULL;
}

/* Executes per second with `threads` threads for `seconds`; < 0 on failure. */
static double
rate(eryx_engine *engine, int threads, int fresh, double seconds)
{
    struct worker w[2];
    pthread_t t[2];
    double start = now_ms() + 200.0; /* after the warm-up */
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){engine, fresh, start + seconds * 1e3, 0, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    long total = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += w[i].count;
        failed |= w[i].failed;
    }
    return failed ? -1.0 : (double)total / seconds;
}

void
bench_throughput(bench *b)
{
    double seconds = b->quick ? 0.5 : 2.0;
    double s1 = rate(b->engine, 1, 0, seconds),
           s2 = rate(b->engine, 2, 0, seconds);
    double f1 = rate(b->engine, 1, 1, seconds),
           f2 = rate(b->engine, 2, 1, seconds);
    if (s1 <= 0 || s2 <= 0 || f1 <= 0 || f2 <= 0) {
        row_warn("throughput", "the snippet", "an execute failed");
        return;
    }
    cJSON *o = row_new("throughput", NULL, 0);
    cJSON_AddNumberToObject(o, "session_1_per_s", r4(s1));
    cJSON_AddNumberToObject(o, "session_2_per_s", r4(s2));
    cJSON_AddNumberToObject(o, "fresh_1_per_s", r4(f1));
    cJSON_AddNumberToObject(o, "fresh_2_per_s", r4(f2));
    char note[200];
    snprintf(note, sizeof note,
             "executes/s of a json round trip + list comprehension over %g s, "
             "1 and 2 threads on one engine: a session each, or a fresh "
             "sandbox per execute",
             seconds);
    row_emit(o, note);
}
