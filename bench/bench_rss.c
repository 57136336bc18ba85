/*
** bench_rss.c: the rss_idle row: VmRSS per session and per sandbox kept
** alive, measured in a fresh process (the binary re-run with --rss-child).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* A field of /proc/self/`file` ("VmRSS:" of status, "Pss:" of
   smaps_rollup), in MB. */
static double
proc_mb(const char *file, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/%s", file);
    FILE *f = fopen(path, "r");
    double kb = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0)
            kb = atof(line + strlen(field));
    fclose(f);
    return kb / 1024;
}

static double
rss_mb(void)
{
    return proc_mb("status", "VmRSS:");
}

static double
pss_mb(void)
{
    return proc_mb("smaps_rollup", "Pss:");
}

/* What a new engine of `config` adds to RSS (grow[0]) and PSS (grow[1]),
   MB, after one execute of pass and once its stock of ready interpreters
   (if any) is filled; the engine in *out. */
static int
engine_growth(const eryx_config *config, eryx_engine **out, double grow[2])
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_sandbox *one = NULL;
    eryx_ready_stats want = {0}, st = {0};
    double rss0 = rss_mb(), pss0 = pss_mb();
    if (eryx_engine_new(config, out, &err) != ERYX_OK ||
        eryx_sandbox_new(*out, NULL, &one, &err) != ERYX_OK ||
        eryx_sandbox_execute(one, "pass", 4, &r, &err) != ERYX_OK) {
        fprintf(stderr, "rss: %s\n", err.message);
        eryx_result_free(r);
        eryx_sandbox_free(one);
        return 0;
    }
    eryx_result_free(r);
    eryx_sandbox_free(one);
    /* Until the stock has not changed for 100 ms (at most 5 s). */
    eryx_engine_ready_stats(*out, &want);
    for (int i = 0, still = 0; i < 500 && still < 10; i++) {
        sleep_ms(10);
        eryx_engine_ready_stats(*out, &st);
        still = st.ready == want.ready && st.made == want.made ? still + 1 : 0;
        want = st;
    }
    grow[0] = rss_mb() - rss0;
    grow[1] = pss_mb() - pss0;
    return 1;
}

/* Child of rss_idle: RSS (MB) at each step, on one line. */
int
rss_child(int count)
{
    eryx_error err;
    eryx_engine *e = NULL;
    eryx_result *r = NULL;
    eryx_session **ss = calloc((size_t)count + 1, sizeof *ss);
    eryx_sandbox **sb = calloc((size_t)count, sizeof *sb);
    eryx_config *c = NULL;
    /* The engine's ready interpreters off: a fixed cost, measured below,
       that would blur the per-session figures. */
    if (eryx_config_new(&c, &err) != ERYX_OK ||
        eryx_config_set_ready_instances(c, 0, 0, &err) != ERYX_OK ||
        eryx_engine_new(c, &e, &err) != ERYX_OK ||
        eryx_session_new(e, NULL, &ss[0], &err) != ERYX_OK ||
        !session_run(ss[0], "pass", &r, &err))
        goto fail;
    eryx_result_free(r);
    double r0 = rss_mb();
    for (int i = 1; i <= count; i++)
        if (eryx_session_new(e, NULL, &ss[i], &err) != ERYX_OK)
            goto fail;
    double r1 = rss_mb(), p1 = pss_mb();
    for (int i = 1; i <= count; i++) {
        if (!session_run(ss[i], "pass", &r, &err))
            goto fail;
        eryx_result_free(r);
    }
    double r2 = rss_mb(), p2 = pss_mb();
    for (int i = 0; i < count; i++) {
        if (eryx_sandbox_new(e, NULL, &sb[i], &err) != ERYX_OK ||
            eryx_sandbox_execute(sb[i], "pass", 4, &r, &err) != ERYX_OK)
            goto fail;
        eryx_result_free(r);
    }
    double r3 = rss_mb();
    /* The default stock of ready interpreters, once filled: what an
       engine with it grows by over one without it, each after one
       execute (so that both count their own mapping of the compiled code
       that an execute touches). */
    eryx_engine *e2 = NULL, *e3 = NULL;
    eryx_config *off = NULL;
    double g2[2], g3[2];
    if (eryx_config_new(&off, &err) != ERYX_OK ||
        eryx_config_set_ready_instances(off, 0, 0, &err) != ERYX_OK ||
        !engine_growth(off, &e3, g3) || !engine_growth(NULL, &e2, g2))
        goto fail;
    printf("%.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", r0, r1, r2, r3, p2 - p1,
           g2[0] - g3[0], g2[1] - g3[1]);
    eryx_engine_free(e2);
    eryx_engine_free(e3);
    eryx_config_free(off);
    for (int i = 0; i < count; i++)
        eryx_sandbox_free(sb[i]);
    for (int i = 0; i <= count; i++)
        eryx_session_free(ss[i]);
    eryx_engine_free(e);
    eryx_config_free(c);
    return 0;
fail:
    fprintf(stderr, "rss: %s\n", err.message);
    printf("error %s\n", err.message);
    return 1;
}

void
bench_rss(bench *b)
{
    int count = 50;
    char out[512], arg[16];
    double r[7], w;
    snprintf(arg, sizeof arg, "%d", count);
    char opt[] = "--rss-child"; /* execv's argv is not const */
    char *argv[] = {b->self_path, opt, arg, NULL};
    if (run_child(argv, out, sizeof out, &w) != 0 ||
        sscanf(out, "%lf %lf %lf %lf %lf %lf %lf", &r[0], &r[1], &r[2], &r[3],
               &r[4], &r[5], &r[6]) != 7) {
        row_warn("rss_idle", "child", out);
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
    cJSON_AddNumberToObject(o, "pss_after_one_execute_each_mb",
                            r4(r[4] / count));
    cJSON_AddNumberToObject(o, "ready_stock_mb", r4(r[5]));
    cJSON_AddNumberToObject(o, "ready_stock_pss_mb", r4(r[6]));
    row_emit(o, "VmRSS growth per extra idle session (instantiated) kept "
                "alive, fresh process with one session already used, the "
                "engine's ready interpreters off; after_one_execute_each_mb: "
                "per session once each has run pass; "
                "pss_after_one_execute_each_mb: the same in PSS (shared "
                "page-cache pages divided among their mappings); "
                "sandbox_after_execute_mb: per sandbox kept after one execute "
                "of pass; ready_stock_mb, ready_stock_pss_mb: what an engine's "
                "default stock of 2 ready interpreters adds, once filled, in "
                "RSS and PSS (an engine with it against one without it, each "
                "after one execute)");
}
