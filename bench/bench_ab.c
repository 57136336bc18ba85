/*
** bench_ab.c: interleaved A/B timing of the CPU kernels for two builds of
** the guest, in one process, so that the machine's drift (figures here
** move 20-50 % between runs) falls on both alike.
**
**   bench_ab A/runtime.wasm B/runtime.wasm [kernels.py] [rounds]
**
** Each runtime gets an engine of its own (eryx_config_set_runtime_path;
** a runtime.cwasm next to it is mapped, else it is compiled) and one
** session with bench/kernels.py loaded.  Then, per kernel, one warm-up
** call on each side, and `rounds` rounds (default 9) of one timed call on
** A then one on B (the order flipping every round).  It prints per kernel
** the two medians and B/A; each call is timed inside the sandbox.  Used to
** decide the guest's build levers (docs/benchmarks.md).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* A session of the runtime at `runtime`, in an engine of its own, with
   kernels.py (at `kpath`) loaded; its kernel names in *names. */
static eryx_session *
side(const char *runtime,
     const char *kpath,
     eryx_engine **engine,
     cJSON **names)
{
    eryx_config *c = unlimited_config();
    eryx_error err = {0};
    eryx_session *s = NULL;
    if (c == NULL ||
        eryx_config_set_runtime_path(c, runtime, &err) != ERYX_OK ||
        eryx_engine_new(c, engine, &err) != ERYX_OK ||
        !kernel_session(*engine, kpath, &s, names, &err)) {
        fprintf(stderr, "bench_ab: %s: %s\n", runtime, err.message);
        exit(1);
    }
    eryx_config_free(c);
    return s;
}

/* One checked call of kernel `name` in `s`: its time in ms, or -1. */
static double
one_call(eryx_session *s, const char *name)
{
    eryx_error err = {0};
    cJSON *j = kernel_call(s, name, &err);
    double ms = -1;
    if (j == NULL)
        fprintf(stderr, "bench_ab: %s: %s\n", name, err.message);
    else if (cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")))
        ms = cJSON_GetObjectItem(j, "ms")->valuedouble;
    cJSON_Delete(j);
    return ms;
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: bench_ab A.wasm B.wasm [kernels.py] [rounds]\n");
        return 2;
    }
    const char *kpath = argc > 3 ? argv[3] : "bench/kernels.py";
    int rounds = argc > 4 ? atoi(argv[4]) : 9;
    if (rounds < 1 || rounds > 1000)
        rounds = 9;
    eryx_engine *ea = NULL, *eb = NULL;
    cJSON *names = NULL, *names_b = NULL;
    eryx_session *a = side(argv[1], kpath, &ea, &names);
    eryx_session *b = side(argv[2], kpath, &eb, &names_b);
    cJSON_Delete(names_b);
    double *ta = calloc((size_t)rounds, sizeof *ta),
           *tb = calloc((size_t)rounds, sizeof *tb);
    printf(
        "| kernel | A median ms | B median ms | B/A |\n|---|---:|---:|---:|\n");
    cJSON *name;
    cJSON_ArrayForEach(name, names)
    {
        const char *k = name->valuestring;
        if (one_call(a, k) < 0 || one_call(b, k) < 0) {
            printf("| %s | failed | | |\n", k);
            continue;
        }
        for (int i = 0; i < rounds; i++) {
            if (i % 2 == 0) {
                ta[i] = one_call(a, k);
                tb[i] = one_call(b, k);
            } else {
                tb[i] = one_call(b, k);
                ta[i] = one_call(a, k);
            }
        }
        double ma = median(ta, rounds), mb = median(tb, rounds);
        printf("| %s | %.1f | %.1f | %.3f |\n", k, ma, mb, mb / ma);
        fflush(stdout);
    }
    cJSON_Delete(names);
    free(ta);
    free(tb);
    eryx_session_free(a);
    eryx_session_free(b);
    eryx_engine_free(ea);
    eryx_engine_free(eb);
    return 0;
}
