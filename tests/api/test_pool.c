/*
** test_pool.c: eryx_pool.  Limits (max_size, acquire timeout), reset on
** release, min_idle and idle eviction, statistics, and many threads
** sharing a small pool.
*/
#include <pthread.h>
#include <time.h>

#include "sandbox_fixture.h"

static eryx_pool *
pool_with(uint32_t max, uint32_t min_idle, uint32_t timeout_ms, uint32_t idle)
{
    eryx_pool_options o;
    eryx_pool_options_init(&o);
    o.max_size = max;
    o.min_idle = min_idle;
    o.acquire_timeout_ms = timeout_ms;
    o.idle_timeout_ms = idle;
    eryx_pool *p = NULL;
    eryx_error err;
    if (eryx_pool_new(test_engine(), NULL, &o, &p, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("eryx_pool_new: %s", err.message);
    return p;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

ERYX_TEST(defaults_and_bad_options)
{
    eryx_pool_options o;
    eryx_pool_options_init(&o);
    ASSERT_EQ(o.max_size, 16);
    ASSERT_EQ(o.min_idle, 1);
    ASSERT_EQ(o.acquire_timeout_ms, 30000);
    ASSERT_EQ(o.idle_timeout_ms, 60000);
    eryx_pool *p = NULL;
    o.max_size = 0;
    ASSERT_EQ(eryx_pool_new(test_engine(), NULL, &o, &p, NULL),
              ERYX_E_INVALID_ARG);
    o.max_size = 2;
    o.min_idle = 3;
    ASSERT_EQ(eryx_pool_new(test_engine(), NULL, &o, &p, NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_NULL(p);
    ASSERT_EQ(eryx_pool_new(test_engine(), NULL, NULL, &p, NULL), ERYX_OK);
    eryx_pool_stats st;
    eryx_pool_get_stats(p, &st);
    ASSERT_EQ(st.idle, 1); /* min_idle started before eryx_pool_new returned */
    ASSERT_EQ(st.creations, 1);
    eryx_pool_free(p);
}

ERYX_TEST(lends_up_to_max_size_then_times_out)
{
    eryx_pool *p = pool_with(2, 0, 50, 0);
    eryx_session *a = NULL, *b = NULL, *c = NULL;
    ASSERT_EQ(eryx_pool_acquire(p, &a, NULL), ERYX_OK);
    ASSERT_EQ(eryx_pool_acquire(p, &b, NULL), ERYX_OK);
    ASSERT(a != b);
    eryx_error err;
    ASSERT_EQ(eryx_pool_acquire(p, &c, &err), ERYX_E_BUSY);
    ASSERT_NULL(c);
    ASSERT(strstr(err.message, "50 ms") != NULL);
    eryx_pool_stats st;
    eryx_pool_get_stats(p, &st);
    ASSERT_EQ(st.acquisitions, 2);
    ASSERT_EQ(st.creations, 2);
    ASSERT_EQ(st.waits, 1);
    ASSERT_EQ(st.timeouts, 1);
    ASSERT_EQ(st.in_use, 2);
    ASSERT_EQ(st.idle, 0);
    /* A release makes room at once. */
    eryx_pool_release(p, a);
    ASSERT_EQ(eryx_pool_acquire(p, &c, NULL), ERYX_OK);
    ASSERT(c == a);
    eryx_pool_release(p, b);
    eryx_pool_release(p, c);
    eryx_pool_free(p);
}

ERYX_TEST(a_released_session_is_reset_before_it_is_lent_again)
{
    eryx_pool *p = pool_with(1, 1, 1000, 0);
    eryx_session *s = NULL;
    ASSERT_EQ(eryx_pool_acquire(p, &s, NULL), ERYX_OK);
    eryx_result *r = session_run(s, "import tomllib\nsecret = 42");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    eryx_result_free(r);
    eryx_pool_release(p, s);
    eryx_session *t = NULL;
    ASSERT_EQ(eryx_pool_acquire(p, &t, NULL), ERYX_OK);
    r = session_run(t,
                    "import sys\n"
                    "print('secret' in globals(), 'tomllib' in sys.modules)");
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False False\n");
    ASSERT_EQ(eryx_session_execution_count(t), 1);
    eryx_result_free(r);
    eryx_pool_release(p, t);
    eryx_pool_stats st;
    eryx_pool_get_stats(p, &st);
    ASSERT_EQ(st.creations, 1);
    ASSERT_EQ(st.resets, 2);
    eryx_pool_free(p);
}

/* A release starts the next interpreter and runs its first execute
   (`pass`) at once, so that the next user's runs as a second one: what
   that user sees must be what a new session's first execute sees. */
ERYX_TEST(a_reset_session_starts_as_a_new_one_does)
{
    const char *look =
        "import sys, os\n"
        "print(sorted(globals()), os.getcwd(),\n"
        "      sorted(sys.modules) == sorted(set(sys.modules)))\n"
        "print(len(sys.modules))\n";
    eryx_session *fresh = new_session(NULL);
    eryx_result *want = session_run(fresh, look);
    ASSERT_EQ(eryx_result_status(want), ERYX_OK);
    eryx_pool *p = pool_with(1, 1, 1000, 0);
    eryx_session *s = NULL;
    ASSERT_EQ(eryx_pool_acquire(p, &s, NULL), ERYX_OK);
    eryx_result_free(session_run(s, "import tomllib, os\nos.chdir('/tmp')"));
    eryx_pool_release(p, s);
    ASSERT_EQ(eryx_pool_acquire(p, &s, NULL), ERYX_OK);
    ASSERT_EQ(eryx_session_execution_count(s), 0);
    eryx_result *got = session_run(s, look);
    ASSERT_EQ(eryx_result_status(got), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(got, NULL),
                  eryx_result_stdout(want, NULL));
    ASSERT_EQ(eryx_session_execution_count(s), 1);
    eryx_result_free(got);
    eryx_result_free(want);
    eryx_pool_release(p, s);
    eryx_pool_free(p);
    eryx_session_free(fresh);
}

static void
count_event(void *userdata,
            eryx_trace_kind kind,
            uint32_t lineno,
            const char *json,
            size_t len)
{
    (void)kind, (void)lineno, (void)json, (void)len;
    __atomic_add_fetch((int *)userdata, 1, __ATOMIC_RELAXED);
}

/* With a trace handler, the release runs nothing: the handler would get
   the events of an execute nobody asked for. */
ERYX_TEST(a_traced_pool_runs_nothing_at_release)
{
    int events = 0;
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    ASSERT_EQ(
        eryx_config_set_trace_handler(c, count_event, &events, NULL, NULL),
        ERYX_OK);
    eryx_pool_options o;
    eryx_pool_options_init(&o);
    o.max_size = 1;
    eryx_pool *p = NULL;
    ASSERT_EQ(eryx_pool_new(test_engine(), c, &o, &p, NULL), ERYX_OK);
    eryx_session *s = NULL;
    ASSERT_EQ(eryx_pool_acquire(p, &s, NULL), ERYX_OK);
    eryx_result_free(session_run(s, "x = 1"));
    int after_run = __atomic_load_n(&events, __ATOMIC_RELAXED);
    ASSERT(after_run > 0);
    eryx_pool_release(p, s);
    ASSERT_EQ(__atomic_load_n(&events, __ATOMIC_RELAXED), after_run);
    ASSERT_EQ(eryx_pool_acquire(p, &s, NULL), ERYX_OK);
    eryx_result_free(session_run(s, "x = 1"));
    ASSERT_EQ(__atomic_load_n(&events, __ATOMIC_RELAXED), 2 * after_run);
    eryx_pool_release(p, s);
    eryx_pool_free(p);
    eryx_config_free(c);
}

struct waiter {
    eryx_pool *pool;
    eryx_session *got;
    eryx_status status;
};

static void *
acquire_thread(void *arg)
{
    struct waiter *w = arg;
    w->status = eryx_pool_acquire(w->pool, &w->got, NULL);
    return NULL;
}

ERYX_TEST(a_waiting_acquire_gets_the_released_session)
{
    eryx_pool *p = pool_with(1, 0, 60000, 0);
    eryx_session *s = NULL;
    ASSERT_EQ(eryx_pool_acquire(p, &s, NULL), ERYX_OK);
    struct waiter w = {p, NULL, ERYX_E_IO};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, acquire_thread, &w), 0);
    eryx_pool_stats st;
    do { /* until the other thread waits */
        sleep_ms(1);
        eryx_pool_get_stats(p, &st);
    } while (st.waits == 0);
    eryx_pool_release(p, s);
    pthread_join(t, NULL);
    ASSERT_EQ(w.status, ERYX_OK);
    ASSERT(w.got == s);
    eryx_pool_release(p, w.got);
    eryx_pool_free(p);
}

ERYX_TEST(idle_sessions_above_min_idle_are_evicted)
{
    eryx_pool *p = pool_with(4, 2, 1000, 1 /* ms */);
    eryx_session *s[4];
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(eryx_pool_acquire(p, &s[i], NULL), ERYX_OK);
    for (int i = 0; i < 4; i++)
        eryx_pool_release(p, s[i]);
    eryx_pool_stats st;
    eryx_pool_get_stats(p, &st);
    ASSERT_EQ(st.creations, 4);
    sleep_ms(20); /* every idle session is now past its 1 ms */
    eryx_session *x = NULL;
    ASSERT_EQ(eryx_pool_acquire(p, &x, NULL), ERYX_OK);
    eryx_pool_release(p, x);
    eryx_pool_get_stats(p, &st);
    ASSERT_EQ(st.evictions, 2); /* down to min_idle, never below */
    ASSERT_EQ(st.idle, 2);
    ASSERT_EQ(st.in_use, 0);
    eryx_pool_free(p);
}

struct worker {
    eryx_pool *pool;
    int id, failures;
};

static void *
work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 20; i++) {
        eryx_session *s = NULL;
        if (eryx_pool_acquire(w->pool, &s, NULL) != ERYX_OK) {
            w->failures++;
            continue;
        }
        char code[128];
        snprintf(code, sizeof code, "print('mine' in globals()); mine = %d",
                 w->id);
        eryx_result *r = NULL;
        eryx_session_execute(s, code, strlen(code), &r, NULL);
        if (r == NULL || eryx_result_status(r) != ERYX_OK ||
            strcmp(eryx_result_stdout(r, NULL), "False\n") != 0)
            w->failures++;
        eryx_result_free(r);
        eryx_pool_release(w->pool, s);
    }
    return NULL;
}

ERYX_TEST(threads_share_a_small_pool)
{
    eryx_pool *p = pool_with(2, 0, 60000, 0);
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){p, i, 0};
        ASSERT_EQ(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ASSERT_EQ(w[i].failures, 0);
    }
    eryx_pool_stats st;
    eryx_pool_get_stats(p, &st);
    ASSERT_EQ(st.acquisitions, 80);
    ASSERT(st.creations <= 2);
    ASSERT_EQ(st.in_use, 0);
    eryx_pool_free(p);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(defaults_and_bad_options),
        ERYX_TEST_ENTRY(lends_up_to_max_size_then_times_out),
        ERYX_TEST_ENTRY(a_released_session_is_reset_before_it_is_lent_again),
        ERYX_TEST_ENTRY(a_reset_session_starts_as_a_new_one_does),
        ERYX_TEST_ENTRY(a_traced_pool_runs_nothing_at_release),
        ERYX_TEST_ENTRY(a_waiting_acquire_gets_the_released_session),
        ERYX_TEST_ENTRY(idle_sessions_above_min_idle_are_evicted),
        ERYX_TEST_ENTRY(threads_share_a_small_pool),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
