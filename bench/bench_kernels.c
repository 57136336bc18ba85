/*
** bench_kernels.c: the CPU kernels of bench/kernels.py, timed inside a
** session.  Two ways:
**
**   bench_speed --only kernels --kernels kernels.py   kernel_NAME rows, each
**       kernel's calls in a row;
**   bench_speed --kernel-serve kernels.py             a server that runs one
**       call per request, for bench/kernels_interleaved.py, which alternates
**       the calls with native CPython's and pyeryx's (what `make bench`
**       prints).
**
** The Python text is a copy of pyeryx_bench.py's (the one-call text,
** shared with bench_ab, is kernel_call's in bench_common.c).
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
    eryx_error err = {0};
    eryx_result *r = NULL;
    eryx_session *s = NULL;
    cJSON *names = NULL;
    int reps = b->quick ? 3 : 5;
    if (!kernel_session(b->engine, b->kernels_path, &s, &names, &err)) {
        row_warn("kernels", "load kernels.py", err.message);
        return;
    }
    cJSON *name;
    cJSON_ArrayForEach(name, names)
    {
        char code[1024], row[96];
        if (!cJSON_IsString(name) || !kernel_name_ok(name->valuestring))
            continue;
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
    cJSON_Delete(names);
    eryx_session_free(s);
}

static void
serve_error(const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    row_emit(o, NULL);
}

int
kernel_serve(const char *path)
{
    eryx_error err = {0};
    eryx_engine *e = NULL;
    eryx_session *s = NULL;
    cJSON *names = NULL;
    if (eryx_engine_new(NULL, &e, &err) != ERYX_OK ||
        !kernel_session(e, path, &s, &names, &err)) {
        serve_error(err.message);
        eryx_engine_free(e);
        return 1;
    }
    cJSON *hello = cJSON_CreateObject();
    cJSON_AddItemToObject(hello, "kernels", names);
    cJSON_AddStringToObject(hello, "python", eryx_python_version());
    row_emit(hello, NULL);

    char line[128];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        cJSON *res = kernel_call(s, line, &err);
        if (res != NULL)
            row_emit(res, NULL);
        else
            serve_error(err.message);
    }
    eryx_session_free(s);
    eryx_engine_free(e);
    return 0;
}
