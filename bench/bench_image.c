/*
** bench_image.c: the image rows: fork_capture (eryx_session_capture) and
** fork_start (a session from that image, checked to continue the original).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

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

void
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
        row_warn("fork_capture", "setup", err.message);
        goto out;
    }
    eryx_result_free(r);
    r = NULL;
    for (int i = -1; i < n_cap; i++) {
        double t0 = now_ms();
        if (eryx_session_capture(s, &img, &err) != ERYX_OK) {
            row_warn("fork_capture", "eryx_session_capture", err.message);
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
        row_warn("fork_start", "eryx_session_new_from_image", err.message);
        goto out;
    }
    if (!probe_ok(f, got, sizeof got))
        row_warn("fork_start", "fork does not continue the captured session",
                 got);
    eryx_session_free(f);
    f = NULL;
    if (!probe_ok(s, got, sizeof got))
        row_warn("fork_start", "the original session changed after a fork",
                 got);

    for (int i = -3; i < n_start; i++) {
        double t0 = now_ms();
        if (eryx_session_new_from_image(b->engine, NULL, img, &f, &err) !=
            ERYX_OK) {
            row_warn("fork_start", "eryx_session_new_from_image", err.message);
            goto out;
        }
        double t1 = now_ms();
        if (!session_run(f, "pass", &r, &err)) {
            row_warn("fork_start", "execute", err.message);
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
