/*
** bench_speed.c: the eryx column of `make bench`, through the public API
** only.  Prints one JSON line per row, in the schema of bench/pyeryx_bench.py:
**
**   {"row": "session_x1", "median_ms": .., "p99_ms": .., "n": .., "note": ..}
**   {"row": "rss_idle", "value": .., "unit": "MB", "n": .., "note": ..}
**   {"row": "warning", "note": ..}   (a row that could not be measured)
**
** bench_speed [--quick] [--kernels PATH/kernels.py] [--cli PATH/eryx]
**             [--only ROW]...
** The binary re-runs itself for the rows that need a fresh process
** (--cold-once, --rss-child N).  docs/benchmarks.md says what each row
** measures.
*/
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <eryx.h>

#include "bench_util.h"

/* ------------------------------------------------------------ statistics */

/* A sorted copy of the n samples; the caller frees it. */
static double *
sorted_copy(const double *s, int n)
{
    double *c = malloc((size_t)n * sizeof *c);
    memcpy(c, s, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    return c;
}

static double
median(const double *s, int n)
{
    double *c = sorted_copy(s, n);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

/* Nearest rank, as pyeryx_bench.py: ceil(n * q / 100). */
static double
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

static double
r4(double x)
{
    return (double)(long long)(x * 1e4 + (x >= 0 ? 0.5 : -0.5)) / 1e4;
}

/* ------------------------------------------------------------ output */

static cJSON *
row_new(const char *name, const double *samples, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "row", name);
    if (samples != NULL && n > 0) {
        cJSON_AddNumberToObject(o, "median_ms", r4(median(samples, n)));
        cJSON_AddNumberToObject(o, "p99_ms", r4(percentile(samples, n, 99)));
        cJSON_AddNumberToObject(o, "n", n);
    }
    return o;
}

static void
row_emit(cJSON *o, const char *note)
{
    if (note != NULL)
        cJSON_AddStringToObject(o, "note", note);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    fflush(stdout);
    cJSON_free(s);
    cJSON_Delete(o);
}

static void
warn(const char *row, const char *what, const char *message)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s: %s: %s", row, what,
             message ? message : "(no message)");
    fprintf(stderr, "bench_speed: %s\n", buf);
    cJSON *o = row_new("warning", NULL, 0);
    cJSON_AddStringToObject(o, "for", row);
    row_emit(o, buf);
}

/* ------------------------------------------------------------ helpers */

static char self_path[4096];

/* Run argv[0] with argv; its stdout goes to `out` (up to cap bytes,
   NUL-terminated) or to /dev/null when out is NULL.  Returns the exit status
   (-1 on failure) and the wall time from fork to reaped exit. */
static int
run_child(char *const argv[], char *out, size_t cap, double *wall_ms)
{
    int fds[2] = {-1, -1};
    if (out != NULL && pipe(fds) != 0)
        return -1;
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        if (out != NULL) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
        } else {
            dup2(devnull, 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    size_t len = 0;
    if (out != NULL) {
        close(fds[1]);
        ssize_t k;
        while ((k = read(fds[0], out + len, cap - 1 - len)) > 0) {
            len += (size_t)k;
            if (len >= cap - 1)
                break;
        }
        out[len] = '\0';
        close(fds[0]);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *wall_ms = now_ms() - t0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double
rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atof(line + 6);
    fclose(f);
    return kb / 1024;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int
session_run(eryx_session *s, const char *code, eryx_result **r, eryx_error *err)
{
    return eryx_session_execute(s, code, strlen(code), r, err) == ERYX_OK;
}

/* Parse the result variable of `r` as JSON (NULL when absent). */
static cJSON *
result_json(const eryx_result *r)
{
    size_t len = 0;
    const char *j = eryx_result_json(r, &len);
    return j ? cJSON_ParseWithLength(j, len) : NULL;
}

/* ------------------------------------------------------------ callbacks */

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

/* A config without the per-execute limits that would cut long loops. */
static eryx_config *
unlimited_config(void)
{
    eryx_config *c = NULL;
    if (eryx_config_new(&c, NULL) != ERYX_OK)
        return NULL;
    eryx_config_set_timeout_ms(c, 0, NULL);
    eryx_config_set_max_callback_invocations(c, 1000000, NULL);
    return c;
}

/* ------------------------------------------------------------ rows */

typedef struct bench {
    eryx_engine *engine;
    int quick;
    int reps; /* sub-millisecond rows */
    const char *kernels_path;
    const char *cli_path;
} bench;

/* Child of create_cold: engine + session from nothing, then one execute. */
static int
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

static void
bench_create_cold(bench *b)
{
    int runs = b->quick ? 3 : 10;
    double ready[32], first[32], wall[32];
    char out[256];
    char *argv[] = {self_path, (char *)"--cold-once", NULL};
    double w;
    run_child(argv, out, sizeof out, &w); /* warm the page cache */
    for (int i = 0; i < runs; i++) {
        if (run_child(argv, out, sizeof out, &wall[i]) != 0 ||
            sscanf(out, "%lf %lf", &ready[i], &first[i]) != 2) {
            warn("create_cold", "child", out);
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

static void
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
            warn("create_warm", "eryx_session_new", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (!session_run(s, "pass", &r, &err)) {
            warn("create_warm", "execute", err.message);
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
            warn("create_warm", "eryx_sandbox_new", err.message);
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

static void
bench_execute_pass_fresh(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    int n = b->reps;
    double *t = calloc((size_t)n, sizeof *t),
           *ex = calloc((size_t)n, sizeof *ex),
           *same = calloc((size_t)n, sizeof *same);
    eryx_sandbox *sb = NULL;
    for (int i = -3; i < n; i++) {
        double t0 = now_ms();
        if (eryx_sandbox_new(b->engine, NULL, &sb, &err) != ERYX_OK) {
            warn("execute_pass_fresh", "eryx_sandbox_new", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (eryx_sandbox_execute(sb, "pass", 4, &r, &err) != ERYX_OK) {
            warn("execute_pass_fresh", "execute", err.message);
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
    cJSON *o = row_new("execute_pass_fresh", t, n);
    cJSON_AddNumberToObject(o, "execute_only_ms", r4(median(ex, n)));
    cJSON_AddNumberToObject(o, "execute_only_p99_ms",
                            r4(percentile(ex, n, 99)));
    cJSON_AddNumberToObject(o, "same_sandbox_ms", r4(median(same, n)));
    row_emit(o, "eryx_sandbox_new + eryx_sandbox_execute(pass) + free: a new "
                "interpreter from the pre-initialized image; execute_only_ms: "
                "the execute alone; same_sandbox_ms: repeated execute on one "
                "sandbox (still a fresh interpreter each time)");
out:
    free(t);
    free(ex);
    free(same);
}

static void
bench_session_x1(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_session *s = NULL;
    int n = b->reps * 4;
    double *t = calloc((size_t)n, sizeof *t);
    if (eryx_session_new(b->engine, NULL, &s, &err) != ERYX_OK) {
        warn("session_x1", "eryx_session_new", err.message);
        goto out;
    }
    session_run(s, "x = 1", &r, &err);
    eryx_result_free(r);
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (!session_run(s, "x = 1", &r, &err)) {
            warn("session_x1", "execute", err.message);
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

static void
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
            warn("session_5", "eryx_session_new", err.message);
            goto out;
        }
        for (int k = 0; k < 5; k++) {
            if (!session_run(s, "x = 1", &r, &err)) {
                warn("session_5", "execute", err.message);
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

static void
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
        warn("callback_rt", "setup", err.message);
        goto out;
    }
    for (int run = -1; run < runs; run++) {
        if (eryx_sandbox_execute(sb, code, strlen(code), &r, &err) != ERYX_OK) {
            warn("callback_rt", "execute", err.message);
            eryx_result_free(r);
            goto out;
        }
        cJSON *res = result_json(r);
        eryx_result_free(r);
        if (res == NULL) {
            warn("callback_rt", "result", "no JSON result");
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

static void
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
        warn("gather5x10", "setup", err.message);
        goto out;
    }
    for (int i = -1; i < n; i++) {
        double t0 = now_ms();
        if (eryx_sandbox_execute(sb, gather_code, strlen(gather_code), &r,
                                 &err) != ERYX_OK) {
            warn("gather5x10", "execute", err.message);
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

/* The same Python as pyeryx_bench.py's KERNEL_RUN. */
static const char kernel_run[] =
    "\n"
    "_f = KERNELS['%s']\n"
    "_ok = check('%s', _f())\n"
    "_times = []\n"
    "for _ in range(%d):\n"
    "    _t = time.perf_counter()\n"
    "    _f()\n"
    "    _times.append((time.perf_counter() - _t) * 1e3)\n"
    "result = {\"times\": _times, \"ok\": _ok}\n";

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 64);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    strcat(buf, "\nimport time\n");
    return buf;
}

static void
bench_kernels(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_session *s = NULL;
    eryx_config *c = unlimited_config();
    cJSON *names = NULL;
    int reps = b->quick ? 3 : 5;
    char *src = read_file(b->kernels_path);
    if (src == NULL) {
        warn("kernels", b->kernels_path, "cannot read");
        goto out;
    }
    if (eryx_session_new(b->engine, c, &s, &err) != ERYX_OK ||
        !session_run(s, src, &r, &err)) {
        warn("kernels", "load kernels.py", err.message);
        goto out;
    }
    eryx_result_free(r);
    if (!session_run(s, "result = list(KERNELS)", &r, &err)) {
        warn("kernels", "list", err.message);
        goto out;
    }
    names = result_json(r);
    eryx_result_free(r);
    r = NULL;
    cJSON *name;
    cJSON_ArrayForEach(name, names)
    {
        char code[1024], row[64];
        snprintf(code, sizeof code, kernel_run, name->valuestring,
                 name->valuestring, reps);
        snprintf(row, sizeof row, "kernel_%s", name->valuestring);
        if (!session_run(s, code, &r, &err)) {
            warn(row, "execute", err.message);
            eryx_result_free(r);
            r = NULL;
            continue;
        }
        cJSON *res = result_json(r);
        eryx_result_free(r);
        r = NULL;
        double t[64];
        int n = 0;
        cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(res, "times"))
        {
            if (n < 64)
                t[n++] = x->valuedouble;
        }
        int ok = cJSON_IsTrue(cJSON_GetObjectItem(res, "ok"));
        cJSON *o = row_new(row, t, n);
        cJSON_AddBoolToObject(o, "ok", ok);
        row_emit(o, "in a session, timed inside the sandbox, after one "
                    "warm-up call (checked against EXPECTED)");
        if (!ok)
            warn(row, "check", "the kernel returned a wrong value");
        cJSON_Delete(res);
    }
out:
    cJSON_Delete(names);
    eryx_result_free(r);
    eryx_session_free(s);
    eryx_config_free(c);
    free(src);
}

/* Child of rss_idle: RSS (MB) at each step, on one line. */
static int
rss_child(int count)
{
    eryx_error err;
    eryx_engine *e = NULL;
    eryx_result *r = NULL;
    eryx_session **ss = calloc((size_t)count + 1, sizeof *ss);
    eryx_sandbox **sb = calloc((size_t)count, sizeof *sb);
    if (eryx_engine_new(NULL, &e, &err) != ERYX_OK ||
        eryx_session_new(e, NULL, &ss[0], &err) != ERYX_OK ||
        !session_run(ss[0], "pass", &r, &err))
        goto fail;
    eryx_result_free(r);
    double r0 = rss_mb();
    for (int i = 1; i <= count; i++)
        if (eryx_session_new(e, NULL, &ss[i], &err) != ERYX_OK)
            goto fail;
    double r1 = rss_mb();
    for (int i = 1; i <= count; i++) {
        if (!session_run(ss[i], "pass", &r, &err))
            goto fail;
        eryx_result_free(r);
    }
    double r2 = rss_mb();
    for (int i = 0; i < count; i++) {
        if (eryx_sandbox_new(e, NULL, &sb[i], &err) != ERYX_OK ||
            eryx_sandbox_execute(sb[i], "pass", 4, &r, &err) != ERYX_OK)
            goto fail;
        eryx_result_free(r);
    }
    double r3 = rss_mb();
    printf("%.3f %.3f %.3f %.3f\n", r0, r1, r2, r3);
    for (int i = 0; i < count; i++)
        eryx_sandbox_free(sb[i]);
    for (int i = 0; i <= count; i++)
        eryx_session_free(ss[i]);
    eryx_engine_free(e);
    return 0;
fail:
    fprintf(stderr, "rss: %s\n", err.message);
    printf("error %s\n", err.message);
    return 1;
}

static void
bench_rss(bench *b)
{
    (void)b;
    int count = 50;
    char out[512], arg[16];
    double r[4], w;
    snprintf(arg, sizeof arg, "%d", count);
    char *argv[] = {self_path, (char *)"--rss-child", arg, NULL};
    if (run_child(argv, out, sizeof out, &w) != 0 ||
        sscanf(out, "%lf %lf %lf %lf", &r[0], &r[1], &r[2], &r[3]) != 4) {
        warn("rss_idle", "child", out);
        return;
    }
    cJSON *o = row_new("rss_idle", NULL, 0);
    cJSON_AddNumberToObject(o, "value", r4((r[1] - r[0]) / count));
    cJSON_AddStringToObject(o, "unit", "MB");
    cJSON_AddNumberToObject(o, "n", count);
    cJSON_AddNumberToObject(o, "base_mb", r4(r[0]));
    cJSON_AddNumberToObject(o, "after_one_execute_each_mb",
                            r4((r[2] - r[0]) / count));
    cJSON_AddNumberToObject(o, "sandbox_after_execute_mb",
                            r4((r[3] - r[2]) / count));
    row_emit(o, "VmRSS growth per extra idle session (instantiated) kept "
                "alive, fresh process with one session already used; "
                "after_one_execute_each_mb: per session once each has run "
                "pass; sandbox_after_execute_mb: per sandbox kept after one "
                "execute of pass");
}

static const char fork_setup[] = "import decimal, fractions\n"
                                 "data = list(range(100000))\n"
                                 "g = (i for i in range(10))\n"
                                 "next(g)\n";
static const char fork_probe[] =
    "result = [len(data), next(g), str(decimal.Decimal(1) / 8)]";
static const char fork_expect[] = "[100000, 1, \"0.125\"]";

static int
probe_ok(eryx_session *s, char *got, size_t cap)
{
    eryx_result *r = NULL;
    eryx_error err;
    int ok = session_run(s, fork_probe, &r, &err);
    const char *j = ok ? eryx_result_json(r, NULL) : err.message;
    snprintf(got, cap, "%s", j ? j : "(no result)");
    eryx_result_free(r);
    return ok && strcmp(got, fork_expect) == 0;
}

static void
bench_fork(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_session *s = NULL, *f = NULL;
    eryx_image *img = NULL;
    int n_cap = b->quick ? 10 : 50, n_start = b->reps;
    double *tc = calloc((size_t)n_cap, sizeof *tc),
           *ts = calloc((size_t)n_start, sizeof *ts),
           *tx = calloc((size_t)n_start, sizeof *tx);
    char got[300];
    if (eryx_session_new(b->engine, NULL, &s, &err) != ERYX_OK ||
        !session_run(s, fork_setup, &r, &err)) {
        warn("fork_capture", "setup", err.message);
        goto out;
    }
    eryx_result_free(r);
    r = NULL;
    for (int i = -1; i < n_cap; i++) {
        double t0 = now_ms();
        if (eryx_session_capture(s, &img, &err) != ERYX_OK) {
            warn("fork_capture", "eryx_session_capture", err.message);
            goto out;
        }
        if (i >= 0)
            tc[i] = now_ms() - t0;
        if (i < n_cap - 1) {
            eryx_image_free(img);
            img = NULL;
        }
    }
    double mem = (double)eryx_image_memory_size(img) / (1024 * 1024);
    double stored = (double)eryx_image_stored_size(img) / (1024 * 1024);
    cJSON *o = row_new("fork_capture", tc, n_cap);
    cJSON_AddNumberToObject(o, "memory_mb", r4(mem));
    cJSON_AddNumberToObject(o, "stored_mb", r4(stored));
    char note[400];
    snprintf(note, sizeof note,
             "eryx_session_capture of a session that imported decimal and "
             "fractions, holds a 100000-int list and a started generator; "
             "image: %.1f MB of guest memory, %.2f MB stored (pages differing "
             "from the pre-initialized image)",
             mem, stored);
    row_emit(o, note);

    /* The fork must see `data` and continue the generator; the original
       must be unaffected by the fork's next(g). */
    if (eryx_session_new_from_image(b->engine, NULL, img, &f, &err) !=
        ERYX_OK) {
        warn("fork_start", "eryx_session_new_from_image", err.message);
        goto out;
    }
    if (!probe_ok(f, got, sizeof got))
        warn("fork_start", "fork does not continue the captured session", got);
    eryx_session_free(f);
    f = NULL;
    if (!probe_ok(s, got, sizeof got))
        warn("fork_start", "the original session changed after a fork", got);

    for (int i = -3; i < n_start; i++) {
        double t0 = now_ms();
        if (eryx_session_new_from_image(b->engine, NULL, img, &f, &err) !=
            ERYX_OK) {
            warn("fork_start", "eryx_session_new_from_image", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (!session_run(f, "pass", &r, &err)) {
            warn("fork_start", "execute", err.message);
            goto out;
        }
        double t2 = now_ms();
        eryx_result_free(r);
        r = NULL;
        eryx_session_free(f);
        f = NULL;
        if (i >= 0) {
            ts[i] = t1 - t0;
            tx[i] = t2 - t0;
        }
    }
    o = row_new("fork_start", ts, n_start);
    cJSON_AddNumberToObject(o, "with_first_execute_ms",
                            r4(median(tx, n_start)));
    row_emit(o, "eryx_session_new_from_image of that image (the fork is "
                "checked to see data and continue the generator); "
                "with_first_execute_ms: plus a first execute of pass");
out:
    eryx_result_free(r);
    eryx_session_free(f);
    eryx_session_free(s);
    eryx_image_free(img);
    free(tc);
    free(ts);
    free(tx);
}

static void
bench_pool(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_pool *p = NULL;
    eryx_pool_options opt;
    eryx_pool_stats st;
    int n = b->reps;
    double *t = calloc((size_t)n, sizeof *t),
           *ta = calloc((size_t)n, sizeof *ta);
    eryx_pool_options_init(&opt);
    if (eryx_pool_new(b->engine, NULL, &opt, &p, &err) != ERYX_OK) {
        warn("pool_acquire_release", "eryx_pool_new", err.message);
        goto out;
    }
    for (int i = -5; i < n; i++) {
        eryx_session *s = NULL;
        double t0 = now_ms();
        if (eryx_pool_acquire(p, &s, &err) != ERYX_OK) {
            warn("pool_acquire_release", "acquire", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (!session_run(s, "pass", &r, &err)) {
            warn("pool_acquire_release", "execute", err.message);
            eryx_result_free(r);
            eryx_pool_release(p, s);
            goto out;
        }
        eryx_pool_release(p, s);
        double t2 = now_ms();
        eryx_result_free(r);
        if (i >= 0) {
            t[i] = t2 - t0;
            ta[i] = t1 - t0;
        }
    }
    eryx_pool_get_stats(p, &st);
    /* What one user leaves must not reach the next. */
    for (int i = 0; i < 2; i++) {
        eryx_session *s = NULL;
        if (eryx_pool_acquire(p, &s, &err) != ERYX_OK) {
            warn("pool_acquire_release", "acquire", err.message);
            goto out;
        }
        int ok = session_run(
            s, i ? "result = 'leak' in globals()" : "leak = 1\nresult = False",
            &r, &err);
        const char *j = ok ? eryx_result_json(r, NULL) : NULL;
        if (!ok || j == NULL || strcmp(j, "false") != 0)
            warn("pool_acquire_release", "a released session was not reset",
                 ok ? (j ? j : "(no result)") : err.message);
        eryx_result_free(r);
        r = NULL;
        eryx_pool_release(p, s);
    }
    cJSON *o = row_new("pool_acquire_release", t, n);
    cJSON_AddNumberToObject(o, "acquire_ms", r4(median(ta, n)));
    cJSON_AddNumberToObject(o, "creations", (double)st.creations);
    cJSON_AddNumberToObject(o, "waits", (double)st.waits);
    char note[300];
    snprintf(note, sizeof note,
             "eryx_pool (default options) acquire + execute(pass) + release, "
             "one thread, back to back; acquire_ms: the acquire alone; "
             "%llu acquisitions, %llu sessions (re)started, %llu waits",
             (unsigned long long)st.acquisitions,
             (unsigned long long)st.creations, (unsigned long long)st.waits);
    row_emit(o, note);
out:
    eryx_pool_free(p);
    free(t);
    free(ta);
}

static void
bench_cli(bench *b)
{
    int n = b->quick ? 5 : 20;
    double t[32], w;
    char *argv[] = {(char *)b->cli_path, (char *)"-c", (char *)"pass", NULL};
    if (run_child(argv, NULL, 0, &w) != 0) { /* warm-up */
        warn("cli_pass", b->cli_path, "failed to run -c pass");
        return;
    }
    for (int i = 0; i < n; i++)
        if (run_child(argv, NULL, 0, &t[i]) != 0) {
            warn("cli_pass", b->cli_path, "failed to run -c pass");
            return;
        }
    row_emit(row_new("cli_pass", t, n),
             "wall time of `eryx -c pass`: fork, exec, wait");
}

static void
meta(bench *b)
{
    cJSON *o = row_new("meta", NULL, 0);
    cJSON_AddStringToObject(o, "eryx", eryx_version());
    cJSON_AddStringToObject(o, "guest_python", eryx_python_version());
    cJSON_AddStringToObject(o, "engine_info", eryx_engine_info(b->engine));
    cJSON_AddNumberToObject(o, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    row_emit(o, NULL);
}

/* ------------------------------------------------------------ main */

static const char *const rows[] = {
    "create_cold", "create_warm", "execute_pass_fresh",
    "session_x1",  "session_5",   "callback_rt",
    "gather5x10",  "kernels",     "rss_idle",
    "fork",        "pool",        "cli_pass"};
#define NROWS (sizeof rows / sizeof rows[0])

int
main(int argc, char **argv)
{
    bench b = {.reps = 200};
    int want[NROWS] = {0}, any = 0;
    ssize_t k = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (k <= 0)
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cold-once") == 0)
            return cold_once();
        if (strcmp(argv[i], "--rss-child") == 0 && i + 1 < argc)
            return rss_child(atoi(argv[i + 1]));
        if (strcmp(argv[i], "--quick") == 0) {
            b.quick = 1;
            b.reps = 50;
        } else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc) {
            b.kernels_path = argv[++i];
        } else if (strcmp(argv[i], "--cli") == 0 && i + 1 < argc) {
            b.cli_path = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            i++;
            for (size_t j = 0; j < NROWS; j++)
                if (strcmp(argv[i], rows[j]) == 0)
                    want[j] = any = 1;
        } else {
            fprintf(stderr,
                    "usage: bench_speed [--quick] [--kernels kernels.py] "
                    "[--cli eryx] [--only ROW]...\nrows:");
            for (size_t j = 0; j < NROWS; j++)
                fprintf(stderr, " %s", rows[j]);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    if (!any)
        for (size_t j = 0; j < NROWS; j++)
            want[j] = 1;
    if (b.kernels_path == NULL)
        want[7] = 0;
    if (b.cli_path == NULL)
        want[11] = 0;

    eryx_error err;
    if (eryx_engine_new(NULL, &b.engine, &err) != ERYX_OK) {
        fprintf(stderr, "bench_speed: engine: %s\n", err.message);
        return 1;
    }
    meta(&b);
    void (*fns[NROWS])(bench *) = {
        bench_create_cold, bench_create_warm, bench_execute_pass_fresh,
        bench_session_x1,  bench_session_5,   bench_callback_rt,
        bench_gather,      bench_kernels,     bench_rss,
        bench_fork,        bench_pool,        bench_cli};
    for (size_t j = 0; j < NROWS; j++)
        if (want[j])
            fns[j](&b);
    eryx_engine_free(b.engine);
    return 0;
}
