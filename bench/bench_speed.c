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
** (--cold-once, --rss-child N); --kernel-serve PATH makes it the eryx side
** of bench/kernels_interleaved.py.  docs/benchmarks.md says what each row
** measures.  This file holds main, the options and the table of rows; the
** rows are in bench_*.c, what they share in bench_common.c (bench_common.h)
** and bench_stats.c (bench_util.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

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

/* The rows, in the order they run; --only takes these names.  kernels and
   cli_pass run only with --kernels and --cli. */
static const struct bench_row {
    const char *name;
    void (*run)(bench *b);
} rows[] = {
    {"create_cold", bench_create_cold},
    {"create_warm", bench_create_warm},
    {"execute_pass_fresh", bench_execute_pass_fresh},
    {"session_x1", bench_session_x1},
    {"session_5", bench_session_5},
    {"callback_rt", bench_callback_rt},
    {"gather5x10", bench_gather},
    {"kernels", bench_kernels},
    {"rss_idle", bench_rss},
    {"fork", bench_fork},
    {"pool", bench_pool},
    {"throughput", bench_throughput},
    {"cli_pass", bench_cli},
};
#define NROWS (sizeof rows / sizeof rows[0])

int
main(int argc, char **argv)
{
    bench b = {.reps = 200};
    int want[NROWS] = {0}, any = 0;
    ssize_t k = readlink("/proc/self/exe", b.self_path, sizeof b.self_path - 1);
    if (k <= 0)
        snprintf(b.self_path, sizeof b.self_path, "%s", argv[0]);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cold-once") == 0)
            return cold_once();
        if (strcmp(argv[i], "--rss-child") == 0 && i + 1 < argc)
            return rss_child(atoi(argv[i + 1]));
        if (strcmp(argv[i], "--kernel-serve") == 0 && i + 1 < argc)
            return kernel_serve(argv[i + 1]);
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
                if (strcmp(argv[i], rows[j].name) == 0)
                    want[j] = any = 1;
        } else {
            fprintf(stderr,
                    "usage: bench_speed [--quick] [--kernels kernels.py] "
                    "[--cli eryx] [--only ROW]...\nrows:");
            for (size_t j = 0; j < NROWS; j++)
                fprintf(stderr, " %s", rows[j].name);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    if (!any)
        for (size_t j = 0; j < NROWS; j++)
            want[j] = 1;
    for (size_t j = 0; j < NROWS; j++)
        if ((rows[j].run == bench_kernels && b.kernels_path == NULL) ||
            (rows[j].run == bench_cli && b.cli_path == NULL))
            want[j] = 0;

    eryx_error err;
    if (eryx_engine_new(NULL, &b.engine, &err) != ERYX_OK) {
        fprintf(stderr, "bench_speed: engine: %s\n", err.message);
        return 1;
    }
    meta(&b);
    for (size_t j = 0; j < NROWS; j++)
        if (want[j])
            rows[j].run(&b);
    eryx_engine_free(b.engine);
    return 0;
}
