/*
** bench_rss.c: the rss_idle row: VmRSS per session and per sandbox kept
** alive, measured in a fresh process (the binary re-run with --rss-child).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* VmRSS of this process, in MB. */
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

/* Child of rss_idle: RSS (MB) at each step, on one line. */
int
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

void
bench_rss(bench *b)
{
    int count = 50;
    char out[512], arg[16];
    double r[4], w;
    snprintf(arg, sizeof arg, "%d", count);
    char opt[] = "--rss-child"; /* execv's argv is not const */
    char *argv[] = {b->self_path, opt, arg, NULL};
    if (run_child(argv, out, sizeof out, &w) != 0 ||
        sscanf(out, "%lf %lf %lf %lf", &r[0], &r[1], &r[2], &r[3]) != 4) {
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
    row_emit(o, "VmRSS growth per extra idle session (instantiated) kept "
                "alive, fresh process with one session already used; "
                "after_one_execute_each_mb: per session once each has run "
                "pass; sandbox_after_execute_mb: per sandbox kept after one "
                "execute of pass");
}
