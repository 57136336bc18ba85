/*
** test_threads.c: the host's own threading, without the engine: the
** worker pool, the call hub, handlers completing from other threads while
** a guest-side thread waits, timeouts, and wake-ups for cancellation.  It
** needs no Wasmtime code on its paths, so ThreadSanitizer sees all of it
** (make test-tsan).
*/
#include <pthread.h>
#include <stdio.h>

#include "config/config.h"
#include "core/sync.h"
#include "eryx_test.h"

/* Answers from a thread of its own, as a host event loop would. */
static void *
answer(void *arg)
{
    eryx_call_return(arg, "{\"ok\": true}", 12);
    return NULL;
}

static void
handler(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args;
    if (len % 2 == 0) { /* half answer here, half from another thread */
        eryx_call_return(call, "1", 1);
        return;
    }
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, answer, call), 0);
    pthread_detach(t);
}

static eryx__settings
settings_with_handler(void)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "cb", "", NULL, handler, NULL, NULL,
                                       NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_set_max_callback_invocations(cfg, 0, NULL), ERYX_OK);
    eryx__settings s;
    ASSERT_EQ(eryx__settings_copy(&s, cfg, NULL), ERYX_OK);
    eryx_config_free(cfg);
    return s;
}

struct guest {
    eryx__hub *hub;
    eryx__workers *pool;
    const eryx__settings *settings;
    int done;
};

/* One simulated guest: starts many calls, waits for them all. */
static void *
guest(void *arg)
{
    struct guest *g = arg;
    eryx__stop stop = {UINT64_MAX, NULL, NULL, NULL};
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 8; i++) {
            const char *args = i % 2 ? "{\"a\":1}" : "{\"a\":12}";
            bool nomem;
            eryx__hub_start(g->hub, &g->settings->callbacks, &g->settings->hub,
                            g->pool, "cb", 2, args, strlen(args), &nomem);
        }
        for (int got = 0; got < 8; got++) {
            eryx_abi_call_done d;
            ASSERT_EQ(eryx__hub_wait(g->hub, -1, &stop, &d),
                      ERYX_ABI_WAIT_DONE);
            ASSERT_EQ(d.ok, ERYX_ABI_CALL_OK);
            char *payload = NULL;
            size_t len;
            ASSERT(eryx__hub_take(g->hub, d.handle, &payload, &len));
            eryx__free(payload);
            g->done++;
        }
    }
    return NULL;
}

ERYX_TEST(hubs_and_pool_under_concurrent_guests)
{
    eryx__settings s = settings_with_handler();
    eryx__workers *pool = eryx__workers_new();
    struct guest g[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        g[i] = (struct guest){eryx__hub_new(), pool, &s, 0};
        ASSERT_EQ(pthread_create(&t[i], NULL, guest, &g[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ASSERT_EQ(g[i].done, 400);
        eryx__hub_release(g[i].hub);
    }
    eryx__workers_free(pool);
    eryx__settings_clear(&s);
}

static int cancel_flag;

static void *
cancel_later(void *arg)
{
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    __atomic_store_n(&cancel_flag, 1, __ATOMIC_RELEASE);
    eryx__hub_wake(arg);
    return NULL;
}

ERYX_TEST(wake_ends_waits_and_sleeps_for_a_cancel)
{
    eryx__hub *hub = eryx__hub_new();
    eryx__stop stop = {UINT64_MAX, &cancel_flag, NULL, NULL};
    pthread_t t;
    cancel_flag = 0;
    ASSERT_EQ(pthread_create(&t, NULL, cancel_later, hub), 0);
    ASSERT(!eryx__hub_sleep(hub, eryx__clock_now_us() + 60u * 1000000u, &stop));
    pthread_join(t, NULL);
    cancel_flag = 0;
    ASSERT_EQ(pthread_create(&t, NULL, cancel_later, hub), 0);
    eryx_abi_call_done d;
    ASSERT_EQ(eryx__hub_wait(hub, 60 * 1000000000ll, &stop, &d),
              ERYX_ABI_WAIT_STOP);
    pthread_join(t, NULL);
    eryx__hub_release(hub);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(hubs_and_pool_under_concurrent_guests),
        ERYX_TEST_ENTRY(wake_ends_waits_and_sleeps_for_a_cancel),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
