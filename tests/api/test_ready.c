/*
** test_ready.c: the engine's ready interpreters
** (eryx_config_set_ready_instances, eryx_engine_ready_stats).  The stock
** fills in the background; executes, new sessions and pool resets take
** from it; what one owner did never reaches the next; each taker's own
** settings (volumes, result variable, memory limit, timeout,
** cancellation, callbacks) apply; a
** stock of 0 is off; a process short of address space gives it up; guest
** memories map only the pages they touch, with the stock or without, and
** in a forked child.
*/
#define _GNU_SOURCE /* syscall */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_fixture.h"


static eryx_result *
sandbox_run(eryx_engine *e, const eryx_config *c, const char *code)
{
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    if (eryx_sandbox_new(e, c, &sb, NULL) != ERYX_OK)
        ERYX_TEST_FAIL_("eryx_sandbox_new");
    eryx_sandbox_execute(sb, code, strlen(code), &r, NULL);
    eryx_sandbox_free(sb);
    return r;
}

static void
expect_stdout(eryx_result *r, const char *out)
{
    ASSERT_NOT_NULL(r);
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("%s: %s", eryx_status_str(eryx_result_status(r)),
                        eryx_result_error(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), out);
    eryx_result_free(r);
}

ERYX_TEST(bad_counts_and_the_defaults)
{
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_ready_instances(c, 65, 1 << 20, NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_set_ready_instances(NULL, 1, 1 << 20, NULL),
              ERYX_E_INVALID_ARG);
    eryx_config_free(c);
    eryx_ready_stats st;
    eryx_engine_ready_stats(NULL, &st); /* no engine: all 0 */
    ASSERT_EQ(st.ready, 0);
    /* The default engine keeps 2 once something executed. */
    eryx_engine *e = engine_with(2, (uint64_t)64 << 20);
    eryx_engine_ready_stats(e, &st);
    ASSERT_EQ(st.made, 0); /* nothing started before the first use */
    expect_stdout(sandbox_run(e, NULL, "print(1)"), "1\n");
    st = wait_ready(e, 2);
    ASSERT_EQ(st.ready, 2);
    ASSERT(st.instance_bytes > 0); /* what a first execute writes */
    ASSERT(st.instance_bytes < (uint64_t)16 << 20);
    eryx_engine_free(e);
}

ERYX_TEST(executes_take_ready_interpreters_and_leave_nothing_behind)
{
    eryx_engine *e = engine_with(2, (uint64_t)64 << 20);
    expect_stdout(sandbox_run(e, NULL, "print('warm')"), "warm\n");
    for (int i = 0; i < 6; i++) {
        eryx_ready_stats before = wait_ready(e, 1);
        /* Each leaves traces everywhere it can: the namespace, builtins,
           a module, sys.modules, a file in /tmp and /data. */
        char code[512];
        snprintf(code, sizeof code,
                 "import builtins, json, sys, os\n"
                 "print(hasattr(builtins, 'mark'), 'x' in dir(), "
                 "hasattr(json, 'mark'), 'planted' in sys.modules, "
                 "os.path.exists('/tmp/t'), os.path.exists('/data/d'))\n"
                 "builtins.mark = x = json.mark = %d\n"
                 "sys.modules['planted'] = json\n"
                 "open('/tmp/t', 'w').write('t'); open('/data/d', 'w')\n",
                 i);
        expect_stdout(sandbox_run(e, NULL, code),
                      "False False False False False False\n");
        eryx_ready_stats after;
        eryx_engine_ready_stats(e, &after);
        ASSERT_EQ(after.taken, before.taken + 1);
    }
    eryx_engine_free(e);
}

ERYX_TEST(the_takers_own_settings_apply)
{
    eryx_engine *e = engine_with(1, (uint64_t)64 << 20);
    expect_stdout(sandbox_run(e, NULL, "pass"), "");
    /* A volume of the taker's own. */
    char dir[] = "/tmp/eryx-ready-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/hello.txt", dir);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs("from the host", f);
    fclose(f);
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_volume(c, dir, "/mnt/host", 1, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_result_variable(c, "answer", NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_timeout_ms(c, 300, NULL), ERYX_OK);
    eryx_ready_stats before = wait_ready(e, 1);
    eryx_result *r = sandbox_run(
        e, c, "print(open('/mnt/host/hello.txt').read()); answer = 42");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "from the host\n");
    ASSERT_STR_EQ(eryx_result_json(r, NULL), "42");
    eryx_result_free(r);
    /* Its timeout. */
    wait_ready(e, 1);
    r = sandbox_run(e, c, "while True: pass");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_TIMEOUT);
    eryx_result_free(r);
    eryx_ready_stats after;
    eryx_engine_ready_stats(e, &after);
    ASSERT_EQ(after.taken, before.taken + 2);
    /* Its memory limit (the stock's are made with the default 128 MiB). */
    eryx_config *small = NULL;
    ASSERT_EQ(eryx_config_new(&small, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_memory_limit(small, 32u << 20, NULL), ERYX_OK);
    wait_ready(e, 1);
    expect_stdout(
        sandbox_run(e, small,
                    "try:\n    b = bytearray(64 << 20)\n"
                    "except MemoryError:\n    print('MemoryError')\n"),
        "MemoryError\n");
    eryx_config_free(small);
    eryx_config_free(c);
    unlink(path);
    rmdir(dir);
    eryx_engine_free(e);
}

/* The stock's page set is recorded by a first execute that awaits a
   callback of its own (`noop`); takers get their own callbacks, awaited in
   the same first execute, and never that one. */
ERYX_TEST(takers_await_their_own_callbacks_and_no_other)
{
    eryx_engine *e = engine_with(2, (uint64_t)64 << 20);
    expect_stdout(sandbox_run(e, NULL, "pass"), "");
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    add_double_callback(c);
    for (int i = 0; i < 4; i++) {
        eryx_ready_stats before = wait_ready(e, 1);
        char code[256];
        snprintf(code, sizeof code,
                 "print(await double(%d), await double(x=%d), "
                 "'noop' in dir(), [c['name'] for c in list_callbacks()])\n",
                 i, i + 1);
        char want[64];
        snprintf(want, sizeof want, "%d %d False ['double']\n", 2 * i,
                 2 * (i + 1));
        expect_stdout(sandbox_run(e, c, code), want);
        /* and a sandbox without callbacks has none */
        wait_ready(e, 1);
        expect_stdout(sandbox_run(e, NULL, "print(list_callbacks())"), "[]\n");
        eryx_ready_stats after;
        eryx_engine_ready_stats(e, &after);
        ASSERT_EQ(after.taken, before.taken + 2);
    }
    eryx_config_free(c);
    eryx_engine_free(e);
}

struct canceller {
    eryx_session *ss;
};

static void *
cancel_later(void *arg)
{
    struct canceller *c = arg;
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    eryx_session_cancel(c->ss);
    return NULL;
}

ERYX_TEST(sessions_take_them_too_and_are_cancellable)
{
    eryx_engine *e = engine_with(1, (uint64_t)64 << 20);
    expect_stdout(sandbox_run(e, NULL, "pass"), "");
    eryx_ready_stats before = wait_ready(e, 1);
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(e, NULL, &ss, NULL), ERYX_OK);
    eryx_ready_stats after;
    eryx_engine_ready_stats(e, &after);
    ASSERT_EQ(after.taken, before.taken + 1);
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_session_execute(ss, "n = 41", 6, &r, NULL), ERYX_OK);
    eryx_result_free(r);
    ASSERT_EQ(eryx_session_execute(ss, "print(n + 1)", 12, &r, NULL), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "42\n");
    eryx_result_free(r);
    /* A cancel wakes a sleep in the adopted interpreter at once. */
    struct canceller c = {ss};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, cancel_later, &c), 0);
    const char *code = "import time; time.sleep(60)";
    ASSERT_EQ(eryx_session_execute(ss, code, strlen(code), &r, NULL),
              ERYX_E_CANCELLED);
    eryx_result_free(r);
    pthread_join(t, NULL);
    /* Reset: a new interpreter (from the stock again when one is ready). */
    wait_ready(e, 1);
    ASSERT_EQ(eryx_session_execute(ss, "print('n' in dir())", 19, &r, NULL),
              ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False\n");
    eryx_result_free(r);
    eryx_session_free(ss);
    eryx_engine_free(e);
}

ERYX_TEST(a_stock_of_zero_is_off_and_the_cap_holds)
{
    eryx_engine *e = engine_with(0, (uint64_t)64 << 20);
    for (int i = 0; i < 3; i++)
        expect_stdout(sandbox_run(e, NULL, "print(2 + 2)"), "4\n");
    eryx_ready_stats st;
    eryx_engine_ready_stats(e, &st);
    ASSERT_EQ(st.made, 0);
    ASSERT_EQ(st.taken, 0);
    eryx_engine_free(e);
    /* A cap of one page: instances are never kept. */
    e = engine_with(4, 4096);
    for (int i = 0; i < 3; i++)
        expect_stdout(sandbox_run(e, NULL, "print(3)"), "3\n");
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    eryx_engine_ready_stats(e, &st);
    ASSERT_EQ(st.ready, 0);
    ASSERT_EQ(st.taken, 0);
    eryx_engine_free(e);
}

static void *
run_session_code(void *arg)
{
    eryx_session *ss = arg;
    const char *code = "import time\n"
                       "t = time.monotonic()\n"
                       "while time.monotonic() - t < 0.3:\n"
                       "    pass\n";
    eryx_result *r = NULL;
    (void)eryx_session_execute(ss, code, strlen(code), &r, NULL);
    eryx_result_free(r);
    return NULL;
}

/* With the stock's cap at one page no instance is kept, so every execute
   starts its own, and faults in the recorded pages first: `pass`'s alone,
   or all that a first execute writes while another execute runs.  Either
   way each starts as the pre-initialized interpreter, and runs as one. */
ERYX_TEST(interpreters_started_beside_a_running_execute_start_fresh)
{
    eryx_engine *e = engine_with(2, 4096);
    const char *code = "assert 'mine' not in dir()\n"
                       "mine = 1\n"
                       "import json\n"
                       "class A:\n"
                       "    x = [str(i) for i in range(50)]\n"
                       "print(json.loads(json.dumps({'n': len(A.x)}))['n'])\n";
    expect_stdout(sandbox_run(e, NULL, code), "50\n");
    eryx_ready_stats st = {0};
    for (int i = 0; i < 3000 && st.instance_bytes == 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        eryx_engine_ready_stats(e, &st);
    }
    ASSERT(st.instance_bytes > 0); /* the pages are recorded */
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(e, NULL, &ss, NULL), ERYX_OK);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, run_session_code, ss), 0);
    for (int i = 0; i < 5; i++)
        expect_stdout(sandbox_run(e, NULL, code), "50\n");
    pthread_join(t, NULL);
    expect_stdout(sandbox_run(e, NULL, code), "50\n");
    eryx_engine_ready_stats(e, &st);
    ASSERT_EQ(st.taken, 0);
    eryx_session_free(ss);
    eryx_engine_free(e);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define THREAD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define THREAD_SANITIZED 1
#endif
#endif
#ifndef THREAD_SANITIZED
#define THREAD_SANITIZED 0
#endif

#ifndef SANITIZED
/* In a child limited to 9 GB of address space (two 4 GiB instances at
   most): the stock must never cost an owner its instance. */
static int
short_of_address_space(void)
{
    struct rlimit rl = {(rlim_t)9 << 30, (rlim_t)9 << 30};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 10;
    eryx_engine *e = NULL;
    if (eryx_engine_new(NULL, &e, NULL) != ERYX_OK)
        return 11;
    for (int i = 0; i < 8; i++) {
        eryx_result *r = sandbox_run(e, NULL, "print(6 * 7)");
        int ok = eryx_result_status(r) == ERYX_OK &&
                 strcmp(eryx_result_stdout(r, NULL), "42\n") == 0;
        eryx_result_free(r);
        if (!ok)
            return 12;
    }
    eryx_session *a = NULL, *b = NULL;
    eryx_image *img = NULL;
    eryx_result *r = NULL;
    if (eryx_session_new(e, NULL, &a, NULL) != ERYX_OK ||
        eryx_session_execute(a, "v = 5", 5, &r, NULL) != ERYX_OK)
        return 13;
    eryx_result_free(r);
    if (eryx_session_capture(a, &img, NULL) != ERYX_OK)
        return 14;
    eryx_session_free(a);
    if (eryx_session_new_from_image(e, NULL, img, &b, NULL) != ERYX_OK)
        return 15;
    eryx_session_free(b);
    eryx_image_free(img);
    eryx_engine_free(e);
    return 0;
}
#endif

ERYX_TEST(a_process_short_of_address_space_gives_the_stock_up)
{
#ifdef SANITIZED
    printf("skipped: sanitizer runtimes need more address space\n");
#else
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0)
        _exit(short_of_address_space());
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
#endif
}

/* Whether this system lets a process register memory for asynchronous
   write-protect faults (Linux 6.7, userfaultfd allowed), which is what
   turns the kernel's fault-around off for guest memories. */
static bool
system_offers_exact_faults(void)
{
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (fd < 0)
        return false;
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_WP_ASYNC};
    bool ok = ioctl(fd, UFFDIO_API, &api) == 0;
    close(fd);
    return ok;
}

/* VmRSS growth (KiB) per session of `n` new sessions of `e`, each after
   one execute of a little code, kept alive; the stock (if any) full at
   both ends. */
static long
rss_per_session(eryx_engine *e, uint32_t stock, int n)
{
    eryx_session *ss[16];
    ASSERT(n <= 16);
    if (stock > 0)
        wait_ready(e, stock);
    long before = rss_kib();
    for (int i = 0; i < n; i++) {
        eryx_result *r = NULL;
        const char *code = "x = [str(i) for i in range(50)]\nprint(len(x))";
        ASSERT_EQ(eryx_session_new(e, NULL, &ss[i], NULL), ERYX_OK);
        ASSERT_EQ(eryx_session_execute(ss[i], code, strlen(code), &r, NULL),
                  ERYX_OK);
        ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "50\n");
        eryx_result_free(r);
    }
    if (stock > 0)
        wait_ready(e, stock);
    long per = (rss_kib() - before) / n;
    for (int i = 0; i < n; i++)
        eryx_session_free(ss[i]);
    return per;
}

ERYX_TEST(guest_memories_map_only_the_pages_they_touch)
{
    /* About 1 MiB each where the kernel maps only what is touched; about
       5 MiB where each page read maps its 15 neighbours too.  The stock's
       thread makes and deletes instances (about 2 MiB each) while this
       measures, so the figure moves by 2 MiB / n; sanitizers' allocators
       add theirs. */
    const long bound = 3072;
    bool exact = system_offers_exact_faults();
    for (uint32_t stock = 0; stock <= 2; stock += 2) {
        eryx_engine *e = engine_with(stock, (uint64_t)64 << 20);
        /* The first execute's own growth, and the stock's thread started. */
        expect_stdout(sandbox_run(e, NULL, "print(1)"), "1\n");
        rss_per_session(e, stock, 2);
        long per = rss_per_session(e, stock, 16);
        printf("stock %u: %ld KiB per session\n", stock, per);
        if (exact)
            ASSERT_LT(per, bound);
        if (stock == 2 && !THREAD_SANITIZED) {
            /* A forked child opens a userfaultfd of its own.  (Not under
               ThreadSanitizer: it cannot start threads in the child of a
               multi-threaded process.) */
            pid_t pid = fork();
            ASSERT(pid >= 0);
            if (pid == 0) {
                alarm(60);
                long child = rss_per_session(e, stock, 16);
                /* stderr: _exit flushes no stdio buffer. */
                fprintf(stderr, "stock %u, forked child: %ld KiB per session\n",
                        stock, child);
                _exit(!exact || child < bound ? 0 : 1);
            }
            int status = 0;
            ASSERT_EQ(waitpid(pid, &status, 0), pid);
            ASSERT(WIFEXITED(status));
            ASSERT_EQ(WEXITSTATUS(status), 0);
        }
        eryx_engine_free(e);
    }
    if (!exact)
        printf("this system has no asynchronous userfaultfd: sizes shown, "
               "not checked\n");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(bad_counts_and_the_defaults),
        ERYX_TEST_ENTRY(
            executes_take_ready_interpreters_and_leave_nothing_behind),
        ERYX_TEST_ENTRY(the_takers_own_settings_apply),
        ERYX_TEST_ENTRY(takers_await_their_own_callbacks_and_no_other),
        ERYX_TEST_ENTRY(sessions_take_them_too_and_are_cancellable),
        ERYX_TEST_ENTRY(a_stock_of_zero_is_off_and_the_cap_holds),
        ERYX_TEST_ENTRY(
            interpreters_started_beside_a_running_execute_start_fresh),
        ERYX_TEST_ENTRY(a_process_short_of_address_space_gives_the_stock_up),
        ERYX_TEST_ENTRY(guest_memories_map_only_the_pages_they_touch),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
