/*
** test_delivery.c: how output reaches the embedder: on the thread that
** runs the execute, whatever level the guest wrote it at, and cut at the
** output limit without splitting a UTF-8 character.
*/
#include <pthread.h>

#include "sandbox_fixture.h"

static pthread_t executing;
static int calls, foreign; /* handler calls, and those on another thread */

static void
on_output(void *ud, int stream, const char *data, size_t len)
{
    (void)ud, (void)stream, (void)data, (void)len;
    calls++;
    if (!pthread_equal(pthread_self(), executing))
        foreign++;
}

/* Descriptor-level writes (os.write) once reached the handler from one of
   Wasmtime's background threads; print() from the executing one. */
ERYX_TEST(every_write_reaches_the_handler_on_the_executing_thread)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_output_handler(cfg, on_output, NULL, NULL, NULL),
              ERYX_OK);
    executing = pthread_self();
    calls = foreign = 0;
    eryx_result *r =
        run_with(cfg, "import os, sys\nprint('text')\nos.write(1, b'fd1\\n')\n"
                      "os.write(2, b'fd2\\n')\nsys.stderr.write('err\\n')\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "text\nfd1\n");
    ASSERT_STR_EQ(eryx_result_stderr(r, NULL), "fd2\nerr\n");
    ASSERT(calls >= 4);
    ASSERT_EQ(foreign, 0);
    eryx_result_free(r);
    eryx_config_free(cfg);
}

ERYX_TEST(descriptor_writes_to_other_descriptors_fail_cleanly)
{
    run_expect("import os\ntry:\n    os.write(0, b'x')\n"
               "except OSError as e:\n    print(e.errno == 8)\n",
               "True\n");
}

/* The cap once cut a two-byte character in half. */
ERYX_TEST(the_output_cap_keeps_characters_whole)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_output_limit(cfg, 1024, NULL), ERYX_OK);
    /* 'x' then 'é' (2 bytes) * 700: the limit falls inside a character. */
    eryx_result *r = run_with(cfg, "print('x' + '\\u00e9' * 700, end='')");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT(eryx_result_output_truncated(r, ERYX_STDOUT));
    size_t n;
    const char *out = eryx_result_stdout(r, &n);
    const char *marker = strstr(out, "\n[eryx: output truncated");
    ASSERT_NOT_NULL(marker);
    size_t kept = (size_t)(marker - out);
    ASSERT_EQ(kept, 1023); /* 1 + 2 * 511: the 512th character left out */
    for (size_t i = 1; i < kept; i += 2)
        ASSERT(memcmp(out + i, "\xc3\xa9", 2) == 0);
    eryx_result_free(r);
    eryx_config_free(cfg);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(
            every_write_reaches_the_handler_on_the_executing_thread),
        ERYX_TEST_ENTRY(descriptor_writes_to_other_descriptors_fail_cleanly),
        ERYX_TEST_ENTRY(the_output_cap_keeps_characters_whole),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
