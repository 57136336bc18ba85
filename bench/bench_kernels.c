/*
** bench_kernels.c: the CPU kernel rows, kernel_NAME for each kernel of
** bench/kernels.py (--kernels), timed inside a session.  The Python text is
** a copy of pyeryx_bench.py's.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

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

void
bench_kernels(bench *b)
{
    eryx_error err;
    eryx_result *r = NULL;
    eryx_session *s = NULL;
    eryx_config *c = unlimited_config();
    cJSON *names = NULL;
    int reps = b->quick ? 3 : 5;
    char *src = read_kernels(b->kernels_path);
    if (src == NULL) {
        row_warn("kernels", b->kernels_path, "cannot read");
        goto out;
    }
    if (eryx_session_new(b->engine, c, &s, &err) != ERYX_OK ||
        !session_run(s, src, &r, &err)) {
        row_warn("kernels", "load kernels.py", err.message);
        goto out;
    }
    eryx_result_free(r);
    if (!session_run(s, "result = list(KERNELS)", &r, &err)) {
        row_warn("kernels", "list", err.message);
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
            row_warn(row, "execute", err.message);
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
            row_warn(row, "check", "the kernel returned a wrong value");
        cJSON_Delete(res);
    }
out:
    cJSON_Delete(names);
    eryx_result_free(r);
    eryx_session_free(s);
    eryx_config_free(c);
    free(src);
}
