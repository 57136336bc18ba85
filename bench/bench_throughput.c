/*
** bench_throughput.c: the throughput row: executes per second of a small
** realistic snippet (a JSON round trip and a list comprehension) on one
** shared engine, with 1 and with 2 threads, each thread with a session of
** its own (steady state) and, separately, with a fresh sandbox per execute
** (a new interpreter each time).  Issue 15's target: 2 threads at least
** 1.8x one thread.  The machine's speed drifts by tens of percent within
** seconds, so the two counts are taken in alternating slices (1, 2, 2, 1,
** 1, 2, 2, 1 threads) and each is the sum of its slices: drift falls on
** both alike.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_common.h"

/* The same Python as native_kernels.py's THROUGHPUT_SNIPPET. */
static const char snippet[] =
    "import json\n"
    "data = {'items': [{'id': i, 'name': f'item{i}', 'tags': ['a', 'b']}\n"
    "                  for i in range(50)]}\n"
    "back = json.loads(json.dumps(data))\n"
    "result = sum(len(x['name']) for x in back['items'] if x['id'] % 2)\n";

/* The process's CPU time (all threads), ms. */
static double
cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

/* When counting started: wall and CPU clocks. */
struct start {
    double wall, cpu;
};

struct worker {
    eryx_engine *engine;
    int fresh;                  /* a new sandbox per execute, else a session */
    double ms;                  /* how long to count */
    pthread_barrier_t *barrier; /* all warmed up: counting starts */
    struct start *start;        /* set by the barrier's serial thread */
    long count;                 /* executes done */
    int failed;
};

static int
run_once(eryx_sandbox *sb, eryx_session *ss)
{
    eryx_result *r = NULL;
    int ok = (ss ? eryx_session_execute(ss, snippet, strlen(snippet), &r, NULL)
                 : eryx_sandbox_execute(sb, snippet, strlen(snippet), &r,
                                        NULL)) == ERYX_OK;
    eryx_result_free(r);
    return ok;
}

static void *
work(void *arg)
{
    struct worker *w = arg;
    eryx_session *ss = NULL;
    eryx_sandbox *sb = NULL;
    if ((w->fresh ? eryx_sandbox_new(w->engine, NULL, &sb, NULL)
                  : eryx_session_new(w->engine, NULL, &ss, NULL)) != ERYX_OK)
        w->failed = 1;
    /* Three warm-up executes, then as many as fit in w->ms from the moment
       every thread is warm. */
    for (int i = 0; i < 3 && !w->failed; i++)
        w->failed = !run_once(sb, ss);
    int serial = pthread_barrier_wait(w->barrier);
    if (serial == PTHREAD_BARRIER_SERIAL_THREAD)
        *w->start = (struct start){now_ms(), cpu_ms()};
    double until = now_ms() + w->ms;
    while (!w->failed && now_ms() < until) {
        w->failed = !run_once(sb, ss);
        w->count++;
    }
    eryx_session_free(ss);
    eryx_sandbox_free(sb);
    return NULL;
}

/* Executes done by `threads` threads in `ms`; < 0 on failure.  Adds to
   busy[0] the CPU time the process spent meanwhile (the engine's own
   thread included) and to busy[1] the wall time, both ms. */
static long
slice(eryx_engine *engine, int threads, int fresh, double ms, double busy[2])
{
    struct worker w[2];
    pthread_t t[2];
    pthread_barrier_t barrier;
    struct start start = {0, 0};
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){engine, fresh, ms, &barrier, &start, 0, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    long total = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += w[i].count;
        failed |= w[i].failed;
    }
    busy[0] += cpu_ms() - start.cpu;
    busy[1] += now_ms() - start.wall;
    pthread_barrier_destroy(&barrier);
    return failed ? -1 : total;
}

/* Executes per second with 1 thread (out[0]) and 2 (out[1]), each over
   `seconds` in all, in alternating slices, and the cores they kept busy
   (out[2], out[3]); false on failure. */
static int
rates(eryx_engine *engine, int fresh, double seconds, double out[4])
{
    enum { SLICES = 8 };
    long total[2] = {0, 0};
    double busy[2][2] = {{0, 0}, {0, 0}};
    double ms = seconds * 1e3 / (SLICES / 2.0);
    for (int i = 0; i < SLICES; i++) {
        int two = (i + 1) / 2 % 2; /* 1, 2, 2, 1, 1, 2, 2, 1 threads */
        long n = slice(engine, 1 + two, fresh, ms, busy[two]);
        if (n < 0)
            return 0;
        total[two] += n;
    }
    out[0] = (double)total[0] / seconds;
    out[1] = (double)total[1] / seconds;
    out[2] = busy[0][1] > 0 ? busy[0][0] / busy[0][1] : 0;
    out[3] = busy[1][1] > 0 ? busy[1][0] / busy[1][1] : 0;
    return 1;
}

void
bench_throughput(bench *b)
{
    double seconds = b->quick ? 0.5 : 2.0;
    double sr[4], fr[4];
    if (!rates(b->engine, 0, seconds, sr) ||
        !rates(b->engine, 1, seconds, fr) || sr[0] <= 0 || fr[0] <= 0) {
        row_warn("throughput", "the snippet", "an execute failed");
        return;
    }
    cJSON *o = row_new("throughput", NULL, 0);
    cJSON_AddNumberToObject(o, "session_1_per_s", r4(sr[0]));
    cJSON_AddNumberToObject(o, "session_2_per_s", r4(sr[1]));
    cJSON_AddNumberToObject(o, "fresh_1_per_s", r4(fr[0]));
    cJSON_AddNumberToObject(o, "fresh_2_per_s", r4(fr[1]));
    cJSON_AddNumberToObject(o, "session_1_cores", r4(sr[2]));
    cJSON_AddNumberToObject(o, "session_2_cores", r4(sr[3]));
    cJSON_AddNumberToObject(o, "fresh_1_cores", r4(fr[2]));
    cJSON_AddNumberToObject(o, "fresh_2_cores", r4(fr[3]));
    char note[300];
    snprintf(note, sizeof note,
             "executes/s of a json round trip + list comprehension over %g s "
             "each, 1 and 2 threads on one engine in alternating slices: a "
             "session each, or a fresh sandbox per execute; *_cores: the "
             "process's CPU time over wall time while counting (the engine's "
             "ready thread included)",
             seconds);
    row_emit(o, note);
}
