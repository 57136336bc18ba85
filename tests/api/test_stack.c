/*
** test_stack.c: the guest's stack.  Every call into the guest runs on a
** stack of Wasmtime's (8 MiB for the guest, as CPython's WASI build
** expects, plus room for the host), whatever the caller's thread: code
** that recurses deeply behaves as on native CPython (it works, or raises
** RecursionError), and a caller on a thread with a small stack (128 or
** 256 KiB, common thread-pool sizes) is safe.  With Wasmtime's default
** 512 KiB each example below trapped with "stack overflow", and from a
** 256 KiB thread deep recursion took the whole process down.
*/
#include <pthread.h>

#include "sandbox_fixture.h"

static const struct {
    const char *code, *out;
} natively[] = {
    /* Deleting a linked list of 2,000 plain objects. */
    {"class N: pass\nh = None\nfor i in range(2000):\n"
     "    n = N(); n.next = h; h = n\ndel h, n\nprint('freed')",
     "freed\n"},
    {"import json\nprint(len(json.loads('[' * 1200 + ']' * 1200)))", "1\n"},
    {"import pickle\nx = []\nfor i in range(2000): x = [x]\n"
     "y = pickle.loads(pickle.dumps(x))\nprint(type(y).__name__)",
     "list\n"},
    /* Self-referential lists compared: CPython's own guard. */
    {"a = []; a.append(a); b = []; b.append(b)\n"
     "try:\n    a == b\nexcept RecursionError:\n    print('RecursionError')",
     "RecursionError\n"},
    {"class R:\n    def __repr__(self): return repr(self)\n"
     "try:\n    repr(R())\nexcept RecursionError:\n    print('RecursionError')",
     "RecursionError\n"},
    {"class G:\n    def __getattr__(self, name): return self.missing\n"
     "try:\n    G().x\nexcept RecursionError:\n    print('RecursionError')",
     "RecursionError\n"},
    {"def f(n): return f(n + 1)\n"
     "try:\n    f(0)\nexcept RecursionError:\n    print('RecursionError')",
     "RecursionError\n"},
};

ERYX_TEST(deep_recursion_behaves_as_natively)
{
    for (size_t i = 0; i < sizeof natively / sizeof natively[0]; i++)
        run_expect(natively[i].code, natively[i].out);
}

/* Recursion deeper than any stack: a clean error, never a crash. */
static const char unbounded[] = "x = []\nfor i in range(200000): x = [x]\n"
                                "repr(x)\n";

static void *
on_small_stack(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof natively / sizeof natively[0]; i++)
        run_expect(natively[i].code, natively[i].out);
    eryx_result *r = run(unbounded);
    eryx_status s = eryx_result_status(r);
    ASSERT(s == ERYX_E_PYTHON || s == ERYX_E_TRAP);
    if (s == ERYX_E_TRAP)
        ASSERT_CONTAINS(eryx_result_error(r, NULL), "stack overflow");
    else
        ASSERT_CONTAINS(eryx_result_error(r, NULL), "RecursionError");
    eryx_result_free(r);
    /* The session path too, and the session survives a RecursionError. */
    eryx_session *ss = new_session(NULL);
    session_expect(ss, natively[6].code, natively[6].out);
    session_expect(ss, "print('still here')", "still here\n");
    eryx_session_free(ss);
    return NULL;
}

static void
from_thread_with_stack(size_t bytes)
{
    (void)test_engine(); /* made on the main thread */
    pthread_attr_t attr;
    pthread_t t;
    ASSERT_EQ(pthread_attr_init(&attr), 0);
    ASSERT_EQ(pthread_attr_setstacksize(&attr, bytes), 0);
    ASSERT_EQ(pthread_create(&t, &attr, on_small_stack, NULL), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&attr);
}

ERYX_TEST(callers_on_a_128_kib_thread_are_safe)
{
    from_thread_with_stack(128 << 10);
}

ERYX_TEST(callers_on_a_256_kib_thread_are_safe)
{
    from_thread_with_stack(256 << 10);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(deep_recursion_behaves_as_natively),
        ERYX_TEST_ENTRY(callers_on_a_128_kib_thread_are_safe),
        ERYX_TEST_ENTRY(callers_on_a_256_kib_thread_are_safe),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
