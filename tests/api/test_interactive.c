/*
** test_interactive.c: what the REPL stands on.  eryx_session_interrupt
** raises KeyboardInterrupt in running code (a loop, a sleep, a callback
** wait, an asyncio sleep) and the session keeps its state;
** eryx_session_execute_interactive compiles as Python's REPL does (values
** echoed, `_` kept, unfinished blocks reported as ERYX_E_INCOMPLETE with
** nothing run, top-level await).
*/
#include <pthread.h>
#include <time.h>

#include "sandbox_fixture.h"

static void
pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

struct interrupter {
    eryx_session *ss;
    int times; /* interrupts to send, 300 ms apart */
};

static void *
interrupt_soon(void *arg)
{
    struct interrupter *it = arg;
    for (int i = 0; i < it->times; i++) {
        pause_ms(300);
        eryx_session_interrupt(it->ss);
    }
    return NULL;
}

/* A held callback call (set by a worker thread), answered later. */
static eryx_call *held;

static void
hold(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    __atomic_store_n(&held, call, __ATOMIC_RELEASE);
}

/* Run `code` in `ss` while another thread interrupts it `times` times. */
static eryx_result *
run_interrupted(eryx_session *ss, const char *code, int times)
{
    struct interrupter it = {ss, times};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, interrupt_soon, &it), 0);
    eryx_result *r = session_run(ss, code);
    pthread_join(t, NULL);
    return r;
}

static void
expect_keyboard_interrupt(eryx_session *ss, const char *code)
{
    eryx_result *r = run_interrupted(ss, code, 1);
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "KeyboardInterrupt");
    eryx_result_free(r);
    /* The state is kept, and the session counts the execute. */
    session_expect(ss, "print(kept)", "42\n");
}

ERYX_TEST(interrupt_raises_keyboard_interrupt_and_keeps_the_session)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(
        eryx_config_add_callback(cfg, "slow", "", NULL, hold, NULL, NULL, NULL),
        ERYX_OK);
    eryx_session *ss = new_session(cfg);
    session_expect(ss, "kept = 42", "");
    expect_keyboard_interrupt(ss, "while True:\n    pass\n");
    expect_keyboard_interrupt(ss, "import time\ntime.sleep(60)\n");
    expect_keyboard_interrupt(ss, "import asyncio\nawait asyncio.sleep(60)\n");
    expect_keyboard_interrupt(ss, "await slow()\n");
    /* Abandoned by the interrupted execute: answered into nothing. */
    eryx_call_return(__atomic_load_n(&held, __ATOMIC_ACQUIRE), "1", 1);
    /* Caught, it is an ordinary exception; and an idle interrupt does
       nothing to the next execute. */
    eryx_result *r = run_interrupted(
        ss,
        "try:\n    while True: pass\nexcept KeyboardInterrupt:\n"
        "    print('caught')\n",
        1);
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "caught\n");
    eryx_result_free(r);
    eryx_session_interrupt(ss);
    session_expect(ss, "import time\ntime.sleep(0.01)\nprint(kept)", "42\n");
    ASSERT_EQ(eryx_session_execution_count(ss), 11);
    eryx_session_free(ss);
    eryx_config_free(cfg);
}

static eryx_status
interact(eryx_session *ss, const char *code, eryx_result **r)
{
    *r = NULL;
    eryx_status s =
        eryx_session_execute_interactive(ss, code, strlen(code), r, NULL);
    ASSERT_NOT_NULL(*r);
    return s;
}

ERYX_TEST(interactive_execute_echoes_and_reports_unfinished_blocks)
{
    eryx_session *ss = new_session(NULL);
    eryx_result *r;
    ASSERT_EQ(interact(ss, "1 + 1", &r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "2\n");
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "_ * 10", &r), ERYX_OK); /* `_` as in Python */
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "20\n");
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "None", &r), ERYX_OK); /* None is not echoed */
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "");
    eryx_result_free(r);
    /* A block is unfinished until an empty line ends it; nothing runs. */
    ASSERT_EQ(interact(ss, "def f(x):", &r), ERYX_E_INCOMPLETE);
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "def f(x):\n    return x * 3", &r),
              ERYX_E_INCOMPLETE);
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "def f(x):\n    return x * 3\n", &r), ERYX_OK);
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "f('ab')", &r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "'ababab'\n");
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "x = (1,", &r), ERYX_E_INCOMPLETE);
    eryx_result_free(r);
    /* Top-level await, echoed. */
    ASSERT_EQ(interact(ss, "import asyncio", &r), ERYX_OK);
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "await asyncio.sleep(0, 'slept')", &r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "'slept'\n");
    eryx_result_free(r);
    /* Errors are errors; the session goes on. */
    ASSERT_EQ(interact(ss, "1 +* 2", &r), ERYX_E_PYTHON);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "SyntaxError");
    eryx_result_free(r);
    ASSERT_EQ(interact(ss, "1 / 0", &r), ERYX_E_PYTHON);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "ZeroDivisionError");
    eryx_result_free(r);
    /* Incomplete statements were not counted as executes. */
    ASSERT_EQ(eryx_session_execution_count(ss), 9);
    session_expect(ss, "print(f(2))", "6\n");
    eryx_session_free(ss);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(
            interrupt_raises_keyboard_interrupt_and_keeps_the_session),
        ERYX_TEST_ENTRY(
            interactive_execute_echoes_and_reports_unfinished_blocks),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
