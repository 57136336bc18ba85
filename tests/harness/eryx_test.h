/*
** eryx_test.h: the tiny test harness (after libuv's test/task.h).  Each
** test binary holds a table of cases; ctest runs every case in its own
** process (`binary CASE`), so a crash or hang stays in one case.
*/
#ifndef ERYX_TEST_H
#define ERYX_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERYX_TEST(name)    static void test_##name(void)
#define ERYX_TEST_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ERYX_TEST_ENTRY(name) \
    {                         \
#name, test_##name    \
    }

struct eryx_test_case {
    const char *name;
    void (*fn)(void);
};

#define ERYX_TEST_FAIL_(...)                            \
    do {                                                \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                   \
        fputc('\n', stderr);                            \
        abort();                                        \
    } while (0)

#define ASSERT_BASE(a, op, b, type, fmt)                                    \
    do {                                                                    \
        type const eval_a_ = (type)(a);                                     \
        type const eval_b_ = (type)(b);                                     \
        if (!(eval_a_ op eval_b_))                                          \
            ERYX_TEST_FAIL_("assertion failed: %s %s %s (%" fmt " vs %" fmt \
                            ")",                                            \
                            #a, #op, #b, eval_a_, eval_b_);                 \
    } while (0)

#define ASSERT(x)                                        \
    do {                                                 \
        if (!(x))                                        \
            ERYX_TEST_FAIL_("assertion failed: %s", #x); \
    } while (0)
#define ASSERT_EQ(a, b)    ASSERT_BASE(a, ==, b, int64_t, PRId64)
#define ASSERT_NE(a, b)    ASSERT_BASE(a, !=, b, int64_t, PRId64)
#define ASSERT_LT(a, b)    ASSERT_BASE(a, <, b, int64_t, PRId64)
#define ASSERT_GE(a, b)    ASSERT_BASE(a, >=, b, int64_t, PRId64)
#define ASSERT_NULL(p)     ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)
#define ASSERT_STR_EQ(a, b)                                                \
    do {                                                                   \
        const char *sa_ = (a), *sb_ = (b);                                 \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0)           \
            ERYX_TEST_FAIL_("strings differ: %s vs %s\n--- got:\n%s\n--- " \
                            "expected:\n%s",                               \
                            #a, #b, sa_ ? sa_ : "(null)",                  \
                            sb_ ? sb_ : "(null)");                         \
    } while (0)
#define ASSERT_CONTAINS(hay, needle)                                     \
    do {                                                                 \
        const char *h_ = (hay), *n_ = (needle);                          \
        if (h_ == NULL || strstr(h_, n_) == NULL)                        \
            ERYX_TEST_FAIL_("%s does not contain \"%s\":\n%s", #hay, n_, \
                            h_ ? h_ : "(null)");                         \
    } while (0)

/* Runs the case named argv[1], or every case; prints "N passed, N failed".
   A name that matches no case fails, so a typo never passes. */
static inline int
eryx_test_main(int argc,
               char **argv,
               const struct eryx_test_case *cases,
               size_t n)
{
    size_t ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        cases[i].fn();
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "");
        return 1;
    }
    printf("%zu passed, 0 failed\n", ran);
    return 0;
}

#endif /* ERYX_TEST_H */
