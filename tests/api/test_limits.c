/*
** test_limits.c: the limits hold for sandboxes and sessions alike: memory
** (a catchable MemoryError), wall-time timeout (compute, sleeps and
** callback waits), cancellation from another thread, fuel, and recursion;
** and after each, the next execute works.  Times are only checked against
** what would happen without the limit (a 10 s sleep must not take 10 s);
** the overshoot itself is measured by bench/, not asserted.
*/
#include <pthread.h>
#include <time.h>

#include "sandbox_fixture.h"

static eryx_config *
config(void)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    return cfg;
}

static double
seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char bomb[] = "try:\n    x = 'A' * (1 << 30)\n"
                           "except MemoryError:\n    print('MemoryError')\n";

ERYX_TEST(memory_bomb_raises_memory_error_and_the_host_survives)
{
    eryx_result *r = run_with(NULL, bomb); /* default: 128 MiB */
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "MemoryError\n");
    ASSERT(eryx_result_peak_memory_bytes(r) <= (128u << 20));
    eryx_result_free(r);
    r = run("x = 'A' * (1 << 30)"); /* uncaught: the memory limit */
    ASSERT_EQ(eryx_result_status(r), ERYX_E_MEMORY_LIMIT);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "MemoryError");
    eryx_result_free(r);
    run_expect("print('next execute works')", "next execute works\n");
}

ERYX_TEST(memory_limit_holds_in_sessions_too)
{
    eryx_config *cfg = config();
    ASSERT_EQ(eryx_config_set_memory_limit(cfg, 1 << 20, NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_set_memory_limit(cfg, 64u << 20, NULL), ERYX_OK);
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(test_engine(), cfg, &ss, NULL), ERYX_OK);
    eryx_result *r = session_run(ss, "kept = 1\nx = bytearray(100 << 20)");
    /* The session survives it, as it survives any exception. */
    ASSERT_EQ(eryx_result_status(r), ERYX_E_MEMORY_LIMIT);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "MemoryError");
    ASSERT(eryx_result_peak_memory_bytes(r) <= (64u << 20));
    eryx_result_free(r);
    r = session_run(ss, "y = bytearray(10 << 20)\nprint(kept, len(y))");
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "1 10485760\n");
    eryx_result_free(r);
    eryx_session_free(ss);
    eryx_config_free(cfg);
}

static eryx_config *
timeout_config(uint32_t ms)
{
    eryx_config *cfg = config();
    ASSERT_EQ(eryx_config_set_timeout_ms(cfg, ms, NULL), ERYX_OK);
    return cfg;
}

ERYX_TEST(infinite_loop_times_out)
{
    eryx_config *cfg = timeout_config(1000);
    double t0 = seconds();
    eryx_result *r = run_with(cfg, "while True:\n    pass\n");
    double took = seconds() - t0;
    ASSERT_EQ(eryx_result_status(r), ERYX_E_TIMEOUT);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "limit of 1000 ms");
    ASSERT(took < 30.0); /* it stopped, unlike the loop */
    eryx_result_free(r);
    eryx_config_free(cfg);
}

ERYX_TEST(sleep_is_cut_by_the_timeout)
{
    eryx_config *cfg = timeout_config(1000);
    double t0 = seconds();
    eryx_result *r = run_with(cfg, "import time\nprint('start')\n"
                                   "time.sleep(10)\nprint('woke')\n");
    double took = seconds() - t0;
    ASSERT_EQ(eryx_result_status(r), ERYX_E_TIMEOUT);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "start\n");
    ASSERT(took < 9.0); /* the 10 s sleep did not run out */
    eryx_result_free(r);
    eryx_config_free(cfg);
}

/* The call `slow` keeps unanswered; handed over between the handler's
   worker thread and the test's thread atomically. */
static eryx_call *held;

static void
hold(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    __atomic_store_n(&held, call, __ATOMIC_RELEASE);
}

/* Answer the held call, late, once its handler has run (it may still be
   starting when a cancel or timeout ends the execute). */
static void
answer_held(void)
{
    eryx_call *call = NULL;
    for (int i = 0; i < 500 && call == NULL; i++) {
        call = __atomic_exchange_n(&held, NULL, __ATOMIC_ACQ_REL);
        if (call == NULL) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    ASSERT_NOT_NULL(call);
    eryx_call_return(call, "null", 4); /* late, and harmless */
}

ERYX_TEST(waiting_on_a_slow_callback_is_cut_by_the_timeout)
{
    eryx_config *cfg = timeout_config(1000);
    ASSERT_EQ(
        eryx_config_add_callback(cfg, "slow", "", NULL, hold, NULL, NULL, NULL),
        ERYX_OK);
    double t0 = seconds();
    eryx_result *r = run_with(cfg, "await slow()\nprint('never')");
    double took = seconds() - t0;
    ASSERT_EQ(eryx_result_status(r), ERYX_E_TIMEOUT);
    ASSERT(took < 9.0); /* the callback timeout (10 s) did not run out */
    eryx_result_free(r);
    answer_held();
    eryx_config_free(cfg);
}

struct canceller {
    eryx_sandbox *sandbox;
    eryx_session *session;
};

static void *
cancel_soon(void *arg)
{
    struct canceller *c = arg;
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    if (c->sandbox)
        eryx_sandbox_cancel(c->sandbox);
    else
        eryx_session_cancel(c->session);
    return NULL;
}

static void
expect_cancelled(const char *code)
{
    eryx_config *cfg = config();
    ASSERT_EQ(
        eryx_config_add_callback(cfg, "slow", "", NULL, hold, NULL, NULL, NULL),
        ERYX_OK);
    struct canceller c = {NULL, NULL};
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &c.sandbox, NULL), ERYX_OK);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, cancel_soon, &c), 0);
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_execute(c.sandbox, code, strlen(code), &r, NULL),
              ERYX_E_CANCELLED);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "cancelled");
    pthread_join(t, NULL);
    eryx_result_free(r);
    /* The sandbox works again, and an idle cancel does nothing. */
    eryx_sandbox_cancel(c.sandbox);
    ASSERT_EQ(eryx_sandbox_execute(c.sandbox, "print(2)", 8, &r, NULL),
              ERYX_OK);
    eryx_result_free(r);
    eryx_sandbox_free(c.sandbox);
    eryx_config_free(cfg);
}

ERYX_TEST(cancel_stops_a_loop)
{
    expect_cancelled("while True:\n    pass\n");
}

ERYX_TEST(cancel_stops_a_sleep)
{
    expect_cancelled("import time\ntime.sleep(60)\n");
}

ERYX_TEST(cancel_stops_a_callback_wait)
{
    expect_cancelled("await slow()\n");
    answer_held();
}

ERYX_TEST(session_is_reset_after_a_timeout_or_cancel)
{
    eryx_config *cfg = timeout_config(500);
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(test_engine(), cfg, &ss, NULL), ERYX_OK);
    eryx_result *r = session_run(ss, "x = 1");
    eryx_result_free(r);
    r = session_run(ss, "while True: pass");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_TIMEOUT);
    eryx_result_free(r);
    r = session_run(ss, "print('x' in globals())");
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False\n");
    eryx_result_free(r);
    ASSERT_EQ(eryx_session_execution_count(ss), 1);
    struct canceller c = {NULL, ss};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, cancel_soon, &c), 0);
    r = session_run(ss, "import time\ntime.sleep(0.4)\nprint('slept')");
    pthread_join(t, NULL);
    ASSERT_EQ(eryx_result_status(r), ERYX_E_CANCELLED);
    eryx_result_free(r);
    eryx_session_free(ss);
    eryx_config_free(cfg);
}

ERYX_TEST(fuel_budget_stops_the_code_and_reports)
{
    eryx_config *cfg = config();
    ASSERT_EQ(eryx_config_set_fuel(cfg, 2000000, NULL), ERYX_OK);
    eryx_result *r = run_with(cfg, "while True:\n    pass\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_FUEL);
    ASSERT_CONTAINS(eryx_result_error(r, NULL),
                    "consumed 2000000 of the budget of 2000000");
    eryx_result_free(r);
    r = run_with(cfg, "print(sum(range(100)))");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "4950\n");
    ASSERT(eryx_result_fuel_consumed(r) > 0);
    ASSERT(eryx_result_fuel_consumed(r) < 2000000);
    eryx_result_free(r);
    /* In a session too. */
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(test_engine(), cfg, &ss, NULL), ERYX_OK);
    r = session_run(ss, "while True: pass");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_FUEL);
    eryx_result_free(r);
    eryx_session_free(ss);
    eryx_config_free(cfg);
}

ERYX_TEST(python_recursion_is_a_recursion_error)
{
    run_expect("def f():\n    return f()\n"
               "try:\n    f()\nexcept RecursionError:\n    print('deep')\n",
               "deep\n");
}

ERYX_TEST(deep_native_recursion_is_a_clean_error)
{
    static const char *codes[] = {
        "import json\nx = []\nfor i in range(100000):\n    x = [x]\n"
        "json.dumps(x)\n",
        "x = []\nfor i in range(100000):\n    x = [x]\nrepr(x)\n",
    };
    for (size_t i = 0; i < 2; i++) {
        eryx_result *r = run(codes[i]);
        eryx_status s = eryx_result_status(r);
        /* CPython's own guard (RecursionError) or the engine's stack guard
           (a trap): either way a clean error, never a crash. */
        ASSERT(s == ERYX_E_PYTHON || s == ERYX_E_TRAP);
        if (s == ERYX_E_TRAP)
            ASSERT_CONTAINS(eryx_result_error(r, NULL), "stack overflow");
        else
            ASSERT_CONTAINS(eryx_result_error(r, NULL), "RecursionError");
        eryx_result_free(r);
    }
    run_expect("print('fine')", "fine\n");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(memory_bomb_raises_memory_error_and_the_host_survives),
        ERYX_TEST_ENTRY(memory_limit_holds_in_sessions_too),
        ERYX_TEST_ENTRY(infinite_loop_times_out),
        ERYX_TEST_ENTRY(sleep_is_cut_by_the_timeout),
        ERYX_TEST_ENTRY(waiting_on_a_slow_callback_is_cut_by_the_timeout),
        ERYX_TEST_ENTRY(cancel_stops_a_loop),
        ERYX_TEST_ENTRY(cancel_stops_a_sleep),
        ERYX_TEST_ENTRY(cancel_stops_a_callback_wait),
        ERYX_TEST_ENTRY(session_is_reset_after_a_timeout_or_cancel),
        ERYX_TEST_ENTRY(fuel_budget_stops_the_code_and_reports),
        ERYX_TEST_ENTRY(python_recursion_is_a_recursion_error),
        ERYX_TEST_ENTRY(deep_native_recursion_is_a_clean_error),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
