/*
** bench_kernels.c: the CPU kernels of bench/kernels.py, timed inside a
** session.  Two ways:
**
**   bench_speed --only kernels --kernels kernels.py   kernel_NAME rows, each
**       kernel's calls in a row (as bench_ab's engines are timed);
**   bench_speed --kernel-serve kernels.py             a server that runs one
**       call per request, for bench/kernels_interleaved.py, which alternates
**       the calls with native CPython's and pyeryx's (what `make bench`
**       prints).
**
** The Python text is a copy of pyeryx_bench.py's.
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

/* One timed call, checked; the same Python as pyeryx_bench.py's
   KERNEL_ONE. */
static const char kernel_one[] =
    "\n"
    "_t = time.perf_counter()\n"
    "_v = KERNELS['%s']()\n"
    "_t = (time.perf_counter() - _t) * 1e3\n"
    "result = {\"ms\": _t, \"ok\": check('%s', _v)}\n";

/* A session with kernels.py loaded (from `path`) and its kernel names, or
   0 with a message in err. */
static int
kernel_session(eryx_engine *e,
               const char *path,
               eryx_session **s,
               cJSON **names,
               eryx_error *err)
{
    eryx_result *r = NULL;
    eryx_config *c = unlimited_config();
    char *src = read_kernels(path);
    int ok = 0;
    *s = NULL;
    *names = NULL;
    if (src == NULL) {
        snprintf(err->message, sizeof err->message, "cannot read %s", path);
    } else if (eryx_session_new(e, c, s, err) == ERYX_OK &&
               session_run(*s, src, &r, err)) {
        eryx_result_free(r);
        r = NULL;
        if (session_run(*s, "result = list(KERNELS)", &r, err))
            *names = result_json(r);
        ok = cJSON_IsArray(*names);
    }
    if (!ok) {
        eryx_session_free(*s);
        *s = NULL;
    }
    eryx_result_free(r);
    eryx_config_free(c);
    free(src);
    return ok;
}

/* A kernel name as kernels.py spells them: it goes into Python text. */
static int
kernel_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < 64 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

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

/* Print one JSON line and flush it (the client waits for it). */
static void
serve_reply(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s ? s : "{\"error\": \"out of memory\"}");
    fflush(stdout);
    cJSON_free(s);
    cJSON_Delete(o);
}

static void
serve_error(const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    serve_reply(o);
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
    serve_reply(hello);

    char line[128];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!kernel_name_ok(line)) {
            serve_error("not a kernel name");
            continue;
        }
        char code[512];
        eryx_result *r = NULL;
        snprintf(code, sizeof code, kernel_one, line, line);
        if (!session_run(s, code, &r, &err)) {
            serve_error(err.message);
        } else {
            cJSON *res = result_json(r);
            serve_reply(res ? res : cJSON_CreateObject());
        }
        eryx_result_free(r);
    }
    eryx_session_free(s);
    eryx_engine_free(e);
    return 0;
}
