/*
** test_stress.c: robustness under load: many sandboxes executing at once
** from several threads (also run under ThreadSanitizer by make test-tsan),
** 10,000 executes in one session with bounded memory growth, and very
** large inputs.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "sandbox_fixture.h"

#define THREADS   4
#define SANDBOXES 50

static int next_job;
static pthread_mutex_t jobs_mu = PTHREAD_MUTEX_INITIALIZER;
static int failures;

/* Each job runs its own sandbox and checks its own, distinct answer. */
static void *
worker(void *arg)
{
    const eryx_config *cfg = arg;
    for (;;) {
        pthread_mutex_lock(&jobs_mu);
        int job = next_job++;
        pthread_mutex_unlock(&jobs_mu);
        if (job >= SANDBOXES)
            return NULL;
        char code[256], want[64];
        snprintf(code, sizeof code,
                 "import asyncio\nr = await asyncio.gather(echo(n=%d), "
                 "echo(n=%d))\nprint(sum(x['n'] for x in r) + %d)\n",
                 job, job, job);
        snprintf(want, sizeof want, "%d\n", job * 3);
        eryx_sandbox *sb = NULL;
        eryx_result *r = NULL;
        if (eryx_sandbox_new(test_engine(), cfg, &sb, NULL) != ERYX_OK ||
            eryx_sandbox_execute(sb, code, strlen(code), &r, NULL) != ERYX_OK ||
            strcmp(eryx_result_stdout(r, NULL), want) != 0) {
            pthread_mutex_lock(&jobs_mu);
            failures++;
            pthread_mutex_unlock(&jobs_mu);
        }
        eryx_result_free(r);
        eryx_sandbox_free(sb);
    }
}

ERYX_TEST(fifty_sandboxes_on_four_threads)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "echo", "", NULL, echo_handler,
                                       NULL, NULL, NULL),
              ERYX_OK);
    test_engine(); /* made before the threads start */
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, worker, cfg), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(failures, 0);
    ASSERT_EQ(next_job, SANDBOXES + THREADS);
    eryx_config_free(cfg);
}

ERYX_TEST(ten_thousand_session_executes_grow_rss_under_30_mb)
{
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(test_engine(), NULL, &ss, NULL), ERYX_OK);
    const char *code = "x = {'k': [i for i in range(20)]}\nprint(len(x))";
    eryx_result *r = NULL;
    for (int i = 0; i < 100; i++) {
        eryx_session_execute(ss, code, strlen(code), &r, NULL);
        eryx_result_free(r);
    }
    long before = rss_kib();
    for (int i = 0; i < 10000; i++) {
        ASSERT_EQ(eryx_session_execute(ss, code, strlen(code), &r, NULL),
                  ERYX_OK);
        eryx_result_free(r);
    }
    long growth = rss_kib() - before;
    printf("RSS growth over 10000 executes: %ld KiB\n", growth);
    ASSERT_LT(growth, 30 * 1024);
    eryx_session_free(ss);
}

ERYX_TEST(ten_megabyte_source_runs_or_fails_cleanly)
{
    /* 10 MB of code: a long run of small statements, then a print. */
    size_t n = 10u << 20;
    char *code = malloc(n + 64);
    ASSERT_NOT_NULL(code);
    size_t len = 0;
    while (len + 16 < n) {
        memcpy(code + len, "x = 1234567890\n", 15);
        len += 15;
    }
    len += (size_t)sprintf(code + len, "print('end', x)\n");
    eryx_result *r = NULL;
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), NULL, &sb, NULL), ERYX_OK);
    eryx_status s = eryx_sandbox_execute(sb, code, len, &r, NULL);
    ASSERT_NOT_NULL(r);
    if (s == ERYX_OK)
        ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "end 1234567890\n");
    else /* e.g. MemoryError while compiling: clean, and reported */
        ASSERT_NOT_NULL(eryx_result_error(r, NULL));
    printf("10 MB source: %s\n", eryx_status_str(s));
    eryx_result_free(r);
    /* The sandbox is still usable. */
    ASSERT_EQ(eryx_sandbox_execute(sb, "print(1)", 8, &r, NULL), ERYX_OK);
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    free(code);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(fifty_sandboxes_on_four_threads),
        ERYX_TEST_ENTRY(ten_thousand_session_executes_grow_rss_under_30_mb),
        ERYX_TEST_ENTRY(ten_megabyte_source_runs_or_fails_cleanly),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
