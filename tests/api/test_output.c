/*
** test_output.c: output streaming and capture: chunks reach the output
** handler as the code writes them (before execute returns), sys.stdout is
** a proper text stream, descriptor-level writes are captured in order, and
** each stream is capped.
*/
#include "sandbox_fixture.h"

static char streamed[2][4096];
static char seen_at_mark[4096];

static void
on_output(void *ud, int stream, const char *data, size_t len)
{
    (void)ud;
    ASSERT(stream == 1 || stream == 2);
    char *buf = streamed[stream - 1];
    size_t have = strlen(buf);
    size_t n = len < sizeof streamed[0] - 1 - have
                   ? len
                   : sizeof streamed[0] - 1 - have;
    memcpy(buf + have, data, n);
    buf[have + n] = '\0';
}

/* A callback in the middle of the code: what has streamed by then? */
static void
mark(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    strcpy(seen_at_mark, streamed[0]);
    eryx_call_return(call, "null", 4);
}

ERYX_TEST(chunks_stream_before_execute_returns)
{
    memset(streamed, 0, sizeof streamed);
    seen_at_mark[0] = '\0';
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_output_handler(cfg, on_output, NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(
        eryx_config_add_callback(cfg, "mark", "", NULL, mark, NULL, NULL, NULL),
        ERYX_OK);
    eryx_result *r = run_with(cfg, "import sys\nprint('first')\n"
                                   "print('oops', file=sys.stderr)\n"
                                   "await mark()\nprint('second')\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(seen_at_mark, "first\n");
    ASSERT_STR_EQ(streamed[0], "first\nsecond\n");
    ASSERT_STR_EQ(streamed[1], "oops\n");
    /* The result still holds the whole text. */
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "first\nsecond\n");
    ASSERT_STR_EQ(eryx_result_stderr(r, NULL), "oops\n");
    eryx_result_free(r);
    eryx_config_free(cfg);
}

ERYX_TEST(stdout_behaves_like_a_text_stream)
{
    run_expect(
        "import io, sys\nn = sys.stdout.write('abc')\nsys.stdout.flush()\n"
        "print('', n, sys.stdout.isatty(), sys.stdout.writable())\n"
        "try:\n    sys.stdout.fileno()\n"
        "except io.UnsupportedOperation:\n    print('no fileno')\n"
        "sys.stdout.buffer.write(b'bytes\\n')\n"
        "print(isinstance(sys.stdout, io.TextIOBase))\n",
        "abc 3 False True\nno fileno\nbytes\nTrue\n");
}

ERYX_TEST(descriptor_writes_are_captured_in_order)
{
    eryx_result *r = run("import os\nprint('a')\nos.write(1, b'b\\n')\n"
                         "print('c')\nos.write(2, b'err\\n')\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "a\nb\nc\n");
    ASSERT_STR_EQ(eryx_result_stderr(r, NULL), "err\n");
    eryx_result_free(r);
}

ERYX_TEST(output_past_the_limit_is_cut_with_a_marker)
{
    memset(streamed, 0, sizeof streamed);
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_output_limit(cfg, 100, NULL), ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_set_output_limit(cfg, 1024, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_output_handler(cfg, on_output, NULL, NULL, NULL),
              ERYX_OK);
    eryx_result *r = run_with(cfg, "import sys\nfor i in range(30):\n"
                                   "    print('x' * 99)\n"
                                   "print('small', file=sys.stderr)\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    size_t n;
    const char *out = eryx_result_stdout(r, &n);
    static const char marker[] =
        "\n[eryx: output truncated at the limit of 1024 bytes]\n";
    ASSERT_EQ(n, 1024 + strlen(marker));
    ASSERT_STR_EQ(out + 1024, marker);
    ASSERT(eryx_result_output_truncated(r, 1));
    ASSERT(!eryx_result_output_truncated(r, 2));
    ASSERT_STR_EQ(eryx_result_stderr(r, NULL), "small\n");
    ASSERT_STR_EQ(streamed[0], out); /* the handler saw the same */
    eryx_result_free(r);
    eryx_config_free(cfg);
}

ERYX_TEST(default_limit_is_ten_mebibytes)
{
    eryx_result *r = run("import sys\nsys.stdout.write('y' * (11 << 20))\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    size_t n;
    eryx_result_stdout(r, &n);
    ASSERT(n > (10u << 20) && n < (10u << 20) + 100);
    ASSERT(eryx_result_output_truncated(r, 1));
    eryx_result_free(r);
}

ERYX_TEST(results_report_duration_invocations_and_memory)
{
    eryx_result *r = run("import time\nx = bytearray(30 << 20)\n"
                         "time.sleep(0.01)\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT(eryx_result_duration_us(r) >= 10000);
    ASSERT_EQ(eryx_result_callback_invocations(r), 0);
    ASSERT(eryx_result_peak_memory_bytes(r) >= (30u << 20));
    eryx_result_free(r);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(chunks_stream_before_execute_returns),
        ERYX_TEST_ENTRY(stdout_behaves_like_a_text_stream),
        ERYX_TEST_ENTRY(descriptor_writes_are_captured_in_order),
        ERYX_TEST_ENTRY(output_past_the_limit_is_cut_with_a_marker),
        ERYX_TEST_ENTRY(default_limit_is_ten_mebibytes),
        ERYX_TEST_ENTRY(results_report_duration_invocations_and_memory),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
