/*
** bench_cli.c: the cli_pass row: wall time of `eryx -c pass` (--cli).
*/
#include "bench_common.h"
#include <stdio.h>

void
bench_cli(bench *b)
{
    int n = b->quick ? 5 : 20;
    double t[32], w;
    char path[4096], opt[] = "-c", code[] = "pass"; /* execv's argv */
    snprintf(path, sizeof path, "%s", b->cli_path);
    char *argv[] = {path, opt, code, NULL};
    if (run_child(argv, NULL, 0, &w) != 0) { /* warm-up */
        row_warn("cli_pass", b->cli_path, "failed to run -c pass");
        return;
    }
    for (int i = 0; i < n; i++)
        if (run_child(argv, NULL, 0, &t[i]) != 0) {
            row_warn("cli_pass", b->cli_path, "failed to run -c pass");
            return;
        }
    row_emit(row_new("cli_pass", t, n),
             "wall time of `eryx -c pass`: fork, exec, wait");
}
