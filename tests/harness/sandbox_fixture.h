/*
** sandbox_fixture.h: helpers shared by the tests that run Python: one
** engine per test process, and run-and-check shorthands.
*/
#ifndef ERYX_SANDBOX_FIXTURE_H
#define ERYX_SANDBOX_FIXTURE_H

#include <eryx.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eryx_test.h"

static eryx_engine *fixture_engine_;

static void
fixture_free_engine_(void)
{
    eryx_engine_free(fixture_engine_);
}

static inline eryx_engine *
test_engine(void)
{
    if (fixture_engine_ == NULL) {
        eryx_error err;
        eryx_config *c = NULL;
#ifdef ERYX_FIXTURE_READY_INSTANCES
        if (eryx_config_new(&c, &err) != ERYX_OK ||
            eryx_config_set_ready_instances(c, ERYX_FIXTURE_READY_INSTANCES,
                                            (uint64_t)64 << 20,
                                            &err) != ERYX_OK)
            ERYX_TEST_FAIL_("config: %s", err.message);
#endif
        eryx_status s = eryx_engine_new(c, &fixture_engine_, &err);
        eryx_config_free(c);
        if (s != ERYX_OK)
            ERYX_TEST_FAIL_("eryx_engine_new: %s", err.message);
        atexit(fixture_free_engine_);
    }
    return fixture_engine_;
}

/* Run `code` in a new sandbox made from `config` (may be NULL); returns
   the result (never NULL). */
static inline eryx_result *
run_with(const eryx_config *config, const char *code)
{
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    eryx_error err;
    if (eryx_sandbox_new(test_engine(), config, &sb, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("eryx_sandbox_new: %s", err.message);
    eryx_sandbox_execute(sb, code, strlen(code), &r, &err);
    eryx_sandbox_free(sb);
    if (r == NULL)
        ERYX_TEST_FAIL_("no result: %s", err.message);
    return r;
}

static inline eryx_result *
run(const char *code)
{
    return run_with(NULL, code);
}

/* A new session made from `config` (may be NULL). */
static inline eryx_session *
new_session(const eryx_config *config)
{
    eryx_session *ss = NULL;
    eryx_error err;
    if (eryx_session_new(test_engine(), config, &ss, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("eryx_session_new: %s", err.message);
    return ss;
}

/* Run `code` in session `ss`; returns the result (never NULL). */
static inline eryx_result *
session_run(eryx_session *ss, const char *code)
{
    eryx_result *r = NULL;
    eryx_session_execute(ss, code, strlen(code), &r, NULL);
    ASSERT_NOT_NULL(r);
    return r;
}

/* Run `code` in session `ss`; it must succeed and print exactly `out`. */
static inline void
session_expect(eryx_session *ss, const char *code, const char *out)
{
    eryx_result *r = session_run(ss, code);
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("execute failed: %s", eryx_result_error(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), out);
    eryx_result_free(r);
}

/* A callback handler that returns its arguments object. */
static inline void
echo_handler(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud;
    eryx_call_return(call, args, len);
}

/* This process's resident set, in KiB. */
static inline long
rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    if (f != NULL)
        fclose(f);
    return kib;
}

/* Run `code`; it must succeed and print exactly `expected`. */
static inline void
run_expect(const char *code, const char *expected)
{
    eryx_result *r = run(code);
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("execute failed (%s):\n%s\nstderr:\n%s",
                        eryx_status_str(eryx_result_status(r)),
                        eryx_result_error(r, NULL),
                        eryx_result_stderr(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), expected);
    eryx_result_free(r);
}

/* A new engine (the caller frees it) that keeps `count` ready
   interpreters in at most `max_bytes`. */
static inline eryx_engine *
engine_with(uint32_t count, uint64_t max_bytes)
{
    eryx_config *c = NULL;
    eryx_engine *e = NULL;
    eryx_error err;
    if (eryx_config_new(&c, &err) != ERYX_OK ||
        eryx_config_set_ready_instances(c, count, max_bytes, &err) != ERYX_OK ||
        eryx_engine_new(c, &e, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("engine: %s", err.message);
    eryx_config_free(c);
    return e;
}

/* The `double` callback's handler: {"x": N} with a small N answers 2N. */
static inline void
fixture_double_(void *userdata, const char *args, size_t len, eryx_call *call)
{
    (void)userdata;
    const char *p = memchr(args, ':', len);
    int x = p ? (int)strtol(p + 1, NULL, 10) : 0;
    char out[32];
    int n = snprintf(out, sizeof out, "%d", 2 * x);
    eryx_call_return(call, out, (size_t)n);
}

/* Add to `c` the callback `double(x)`, which answers 2x at once. */
static inline void
add_double_callback(eryx_config *c)
{
    ASSERT_EQ(eryx_config_add_callback(c, "double", "Twice x.",
                                       "{\"type\": \"object\", \"properties\": "
                                       "{\"x\": {\"type\": \"integer\"}}}",
                                       fixture_double_, NULL, NULL, NULL),
              ERYX_OK);
}

/* Wait (at most 30 s) until engine `e`'s ready stock holds `n`; its
   stats then. */
static inline eryx_ready_stats
wait_ready(eryx_engine *e, uint32_t n)
{
    eryx_ready_stats st;
    for (int i = 0; i < 3000; i++) {
        eryx_engine_ready_stats(e, &st);
        if (st.ready >= n)
            return st;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ERYX_TEST_FAIL_("the stock never reached %u (has %u)", n, st.ready);
    return st;
}

#endif /* ERYX_SANDBOX_FIXTURE_H */
