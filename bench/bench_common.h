/*
** bench_common.h: what bench_speed's files (and bench_ab) share: the run
** settings, the JSON row output, the child-process runner, helpers over
** the public API, and the rows (one function per row or group of rows,
** bench_*.c) that bench_speed.c maps from row names.
*/
#ifndef ERYX_BENCH_COMMON_H
#define ERYX_BENCH_COMMON_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <eryx.h>

#include "bench_util.h"

typedef struct bench {
    eryx_engine *engine;
    int quick;
    int reps; /* sub-millisecond rows */
    const char *kernels_path;
    const char *cli_path;
    char self_path[4096]; /* this binary, re-run by the child rows */
} bench;

/* ------------------------------------------------------------ output */

/* One JSON line per row: row_new starts {"row": name} with median_ms,
   p99_ms and n when there are samples; the caller adds its fields, and
   row_emit adds the note (when not NULL), prints and frees it.  row_warn
   prints a {"row": "warning", "for": row} line for a row that could not be
   measured, and says so on stderr. */
cJSON *row_new(const char *name, const double *samples, int n);
void row_emit(cJSON *o, const char *note);
void row_warn(const char *row, const char *what, const char *message);

/* ---------------------------------------------------- child processes */

/* Run argv[0] with argv; its stdout goes to `out` (up to cap bytes,
   NUL-terminated) or to /dev/null when out is NULL.  Returns the exit status
   (-1 on failure) and the wall time from fork to reaped exit. */
int run_child(char *const argv[], char *out, size_t cap, double *wall_ms);

/* --------------------------------------------------------- public API */

/* eryx_session_execute of a C string; 1 on ERYX_OK. */
int session_run(eryx_session *s,
                const char *code,
                eryx_result **r,
                eryx_error *err);
/* Parse the result variable of `r` as JSON (NULL when absent). */
cJSON *result_json(const eryx_result *r);
/* A config without the per-execute limits that would cut long loops. */
eryx_config *unlimited_config(void);
/* bench/kernels.py's text (at `path`) with `import time` added, as the
   kernel rows send it into a session; NULL when unreadable.  The caller
   frees it. */
char *read_kernels(const char *path);
/* A kernel name as kernels.py spells them (it goes into Python text). */
int kernel_name_ok(const char *name);
/* A session of `e` with kernels.py (at `path`) loaded, and its kernel
   names; 0 with a message in err.  The caller frees both. */
int kernel_session(eryx_engine *e,
                   const char *path,
                   eryx_session **s,
                   cJSON **names,
                   eryx_error *err);
/* One call of kernel `name` in `s`, timed inside the sandbox and checked
   against EXPECTED: {"ms": .., "ok": ..}, or NULL with a message in err.
   The caller frees it. */
cJSON *kernel_call(eryx_session *s, const char *name, eryx_error *err);

/* ------------------------------------------------------------ rows */

/* bench_create.c: create_cold, and its child (--cold-once); create_warm. */
int cold_once(void);
void bench_create_cold(bench *b);
void bench_create_warm(bench *b);
/* bench_execute.c: execute_pass_fresh, session_x1, session_5 */
void bench_execute_pass_fresh(bench *b);
void bench_session_x1(bench *b);
void bench_session_5(bench *b);
/* bench_callbacks.c: callback_rt, gather5x10 */
void bench_callback_rt(bench *b);
void bench_gather(bench *b);
/* bench_kernels.c: kernel_NAME, one row per kernel of b->kernels_path; and
   the server bench/kernels_interleaved.py drives (--kernel-serve PATH). */
void bench_kernels(bench *b);
int kernel_serve(const char *kernels_path);
/* bench_rss.c: rss_idle, and its child (--rss-child COUNT) */
int rss_child(int count);
void bench_rss(bench *b);
/* bench_image.c: fork_capture, fork_start */
void bench_fork(bench *b);
/* bench_pool.c: pool_acquire_release */
void bench_pool(bench *b);
/* bench_cli.c: cli_pass, with b->cli_path */
void bench_cli(bench *b);
/* bench_throughput.c: throughput (executes/s, 1 and 2 threads) */
void bench_throughput(bench *b);

#endif /* ERYX_BENCH_COMMON_H */
