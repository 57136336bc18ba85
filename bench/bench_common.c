/*
** bench_common.c: what bench_speed's rows share: the JSON row output, the
** child-process runner (the binary re-run with --cold-once or --rss-child,
** and the CLI), and small helpers over the public API.
*/
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

/* ------------------------------------------------------------ output */

cJSON *
row_new(const char *name, const double *samples, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "row", name);
    if (samples != NULL && n > 0) {
        cJSON_AddNumberToObject(o, "median_ms", r4(median(samples, n)));
        cJSON_AddNumberToObject(o, "p99_ms", r4(percentile(samples, n, 99)));
        cJSON_AddNumberToObject(o, "n", n);
    }
    return o;
}

void
row_emit(cJSON *o, const char *note)
{
    if (note != NULL)
        cJSON_AddStringToObject(o, "note", note);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    fflush(stdout);
    cJSON_free(s);
    cJSON_Delete(o);
}

void
row_warn(const char *row, const char *what, const char *message)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s: %s: %s", row, what,
             message ? message : "(no message)");
    fprintf(stderr, "bench_speed: %s\n", buf);
    cJSON *o = row_new("warning", NULL, 0);
    cJSON_AddStringToObject(o, "for", row);
    row_emit(o, buf);
}

/* ---------------------------------------------------- child processes */

/* Run argv[0] with argv; its stdout goes to `out` (up to cap bytes,
   NUL-terminated) or to /dev/null when out is NULL.  Returns the exit status
   (-1 on failure) and the wall time from fork to reaped exit. */
int
run_child(char *const argv[], char *out, size_t cap, double *wall_ms)
{
    int fds[2] = {-1, -1};
    if (out != NULL && pipe(fds) != 0)
        return -1;
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        if (out != NULL) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
        } else {
            dup2(devnull, 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    size_t len = 0;
    if (out != NULL) {
        close(fds[1]);
        ssize_t k;
        while ((k = read(fds[0], out + len, cap - 1 - len)) > 0) {
            len += (size_t)k;
            if (len >= cap - 1)
                break;
        }
        out[len] = '\0';
        close(fds[0]);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *wall_ms = now_ms() - t0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --------------------------------------------------------- public API */

int
session_run(eryx_session *s, const char *code, eryx_result **r, eryx_error *err)
{
    return eryx_session_execute(s, code, strlen(code), r, err) == ERYX_OK;
}

/* Parse the result variable of `r` as JSON (NULL when absent). */
cJSON *
result_json(const eryx_result *r)
{
    size_t len = 0;
    const char *j = eryx_result_json(r, &len);
    return j ? cJSON_ParseWithLength(j, len) : NULL;
}

char *
read_kernels(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 64) : NULL;
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (buf != NULL) {
        buf[got] = '\0';
        strcat(buf, "\nimport time\n");
    }
    return buf;
}

/* A config without the per-execute limits that would cut long loops. */
eryx_config *
unlimited_config(void)
{
    eryx_config *c = NULL;
    if (eryx_config_new(&c, NULL) != ERYX_OK)
        return NULL;
    eryx_config_set_timeout_ms(c, 0, NULL);
    eryx_config_set_max_callback_invocations(c, 1000000, NULL);
    return c;
}

/* One timed call, checked; the same Python as pyeryx_bench.py's
   KERNEL_ONE. */
static const char kernel_one[] =
    "\n"
    "_t = time.perf_counter()\n"
    "_v = KERNELS['%s']()\n"
    "_t = (time.perf_counter() - _t) * 1e3\n"
    "result = {\"ms\": _t, \"ok\": check('%s', _v)}\n";

int
kernel_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < 64 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int
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

cJSON *
kernel_call(eryx_session *s, const char *name, eryx_error *err)
{
    char code[512];
    eryx_result *r = NULL;
    cJSON *res = NULL;
    if (!kernel_name_ok(name)) {
        snprintf(err->message, sizeof err->message, "not a kernel name");
        return NULL;
    }
    snprintf(code, sizeof code, kernel_one, name, name);
    if (session_run(s, code, &r, err)) {
        res = result_json(r);
        if (!cJSON_IsNumber(cJSON_GetObjectItem(res, "ms"))) {
            snprintf(err->message, sizeof err->message, "no time came back");
            cJSON_Delete(res);
            res = NULL;
        }
    }
    eryx_result_free(r);
    return res;
}
