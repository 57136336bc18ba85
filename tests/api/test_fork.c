/*
** test_fork.c: an engine survives fork().  A server that makes its engine
** and then forks its workers (a pre-forking web server, multiprocessing's
** fork start method) gets children whose engines still enforce deadlines
** (the epoch ticker), still run callback handlers (the worker threads),
** still refill their ready interpreters (the stock's thread) and still
** hold the parent's sessions as they were; the parent goes on unharmed.
** A hang fails the case: each child arms an alarm.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_fixture.h"

/* A sandbox's config: the `double` callback and a 300 ms timeout. */
static eryx_config *
sandbox_config(void)
{
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    add_double_callback(c);
    ASSERT_EQ(eryx_config_set_timeout_ms(c, 300, NULL), ERYX_OK);
    return c;
}

static eryx_status
sb_run(eryx_engine *e, const eryx_config *c, const char *code, const char *out)
{
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_new(e, c, &sb, NULL), ERYX_OK);
    eryx_status s = eryx_sandbox_execute(sb, code, strlen(code), &r, NULL);
    ASSERT_NOT_NULL(r);
    if (out != NULL) {
        if (s != ERYX_OK)
            ERYX_TEST_FAIL_("%s: %s", eryx_status_str(s),
                            eryx_result_error(r, NULL));
        ASSERT_STR_EQ(eryx_result_stdout(r, NULL), out);
    }
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    return s;
}

static void
session_prints(eryx_session *ss, const char *code, const char *out)
{
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_session_execute(ss, code, strlen(code), &r, NULL), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), out);
    eryx_result_free(r);
}

/* Wait for child `pid`, which must exit with status 0. */
static void
expect_child_ok(pid_t pid)
{
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        ERYX_TEST_FAIL_("the child died of signal %d%s", WTERMSIG(status),
                        WTERMSIG(status) == SIGALRM ? " (it hung)" : "");
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

ERYX_TEST(a_forked_child_keeps_deadlines_callbacks_and_ready_interpreters)
{
    eryx_engine *e = engine_with(2, (uint64_t)64 << 20);
    eryx_config *c = sandbox_config();
    /* The parent has used everything: a worker thread waits for handlers,
       the ticker ticks, the stock is full, a session holds state. */
    sb_run(e, c, "print(await double(x=20))", "40\n");
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(e, NULL, &ss, NULL), ERYX_OK);
    session_prints(ss, "n = 41", "");
    wait_ready(e, 2);

    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        alarm(60);
        /* A deadline needs the ticker. */
        ASSERT_EQ(sb_run(e, c, "while True: pass", NULL), ERYX_E_TIMEOUT);
        /* A callback needs a worker. */
        sb_run(e, c, "print(await double(x=4))", "8\n");
        /* The session is the child's copy. */
        session_prints(ss, "n += 1; print(n)", "42\n");
        /* The stock refills: its thread runs again. */
        eryx_ready_stats before;
        eryx_engine_ready_stats(e, &before);
        sb_run(e, NULL, "pass", "");
        sb_run(e, NULL, "pass", "");
        sb_run(e, NULL, "pass", "");
        eryx_ready_stats after = wait_ready(e, 2);
        ASSERT(after.made > before.made);
        eryx_session_free(ss);
        eryx_config_free(c);
        eryx_engine_free(e);
        _exit(0);
    }
    expect_child_ok(pid);
    /* The parent is untouched by the child. */
    session_prints(ss, "n += 1; print(n)", "42\n");
    ASSERT_EQ(sb_run(e, c, "while True: pass", NULL), ERYX_E_TIMEOUT);
    sb_run(e, c, "print(await double(x=5))", "10\n");
    eryx_session_free(ss);
    eryx_config_free(c);
    eryx_engine_free(e);
}

/* Forks right after a take, while the stock's thread is making the next
   interpreter, and while a handler's worker is still polling: the fork
   waits for the thread, and no child inherits a held lock. */
ERYX_TEST(forks_while_the_stock_refills_never_deadlock)
{
    eryx_engine *e = engine_with(2, (uint64_t)64 << 20);
    eryx_config *c = sandbox_config();
    sb_run(e, c, "print(await double(x=1))", "2\n");
    for (int i = 0; i < 12; i++) {
        sb_run(e, i % 2 ? c : NULL, i % 2 ? "await double(x=1)" : "pass", "");
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            alarm(60);
            sb_run(e, c, "print(await double(x=3))", "6\n");
            ASSERT_EQ(sb_run(e, c, "while True: pass", NULL), ERYX_E_TIMEOUT);
            _exit(0); /* without freeing: as a worker that just exits */
        }
        expect_child_ok(pid);
    }
    sb_run(e, c, "print(await double(x=7))", "14\n");
    eryx_config_free(c);
    eryx_engine_free(e);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(
            a_forked_child_keeps_deadlines_callbacks_and_ready_interpreters),
        ERYX_TEST_ENTRY(forks_while_the_stock_refills_never_deadlock),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
