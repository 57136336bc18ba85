/*
** test_output.c: output streaming and capture: chunks reach the output
** handler as the code writes them (before execute returns), sys.stdout is
** a proper text stream, output is bytes (binary writes and escaped
** surrogates arrive unchanged), descriptor-level writes are captured in
** order, and each stream is capped.
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

/* The same, byte for byte: output need not be text. */
static char raw[2][256];
static size_t raw_len[2];

static void
on_output_raw(void *ud, int stream, const char *data, size_t len)
{
    (void)ud;
    ASSERT(stream == 1 || stream == 2);
    size_t *have = &raw_len[stream - 1];
    ASSERT(len <= sizeof raw[0] - *have);
    memcpy(raw[stream - 1] + *have, data, len);
    *have += len;
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
        "print(isinstance(sys.stdout, io.TextIOBase))\n"
        "print(sys.stdout.encoding, sys.stderr.errors)\n",
        "abc 3 False True\nno fileno\nbytes\nTrue\nutf-8 surrogateescape\n");
}

/* `n` bytes at `got` must be the `want_len` bytes at `want`. */
static void
assert_bytes(const char *got, size_t n, const char *want, size_t want_len)
{
    if (n != want_len || memcmp(got, want, n) != 0) {
        fprintf(stderr, "got %zu bytes:", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %02x", (unsigned char)got[i]);
        ERYX_TEST_FAIL_("expected %zu other bytes", want_len);
    }
}

ERYX_TEST(binary_writes_arrive_unchanged)
{
    eryx_result *r =
        run("import sys\n"
            "n = sys.stdout.buffer.write(b'\\xff\\xfe raw\\x00\\x01')\n"
            "sys.stdout.buffer.flush()\n"
            "assert n == 8, n\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    static const char want[] = "\xff\xfe raw\x00\x01";
    size_t n;
    const char *out = eryx_result_stdout(r, &n);
    assert_bytes(out, n, want, sizeof want - 1);
    ASSERT_EQ(out[n], '\0');
    eryx_result_free(r);
}

ERYX_TEST(escaped_surrogates_are_written_as_their_bytes)
{
    eryx_result *r = run("print('\\udcff', end='')");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    size_t n;
    const char *out = eryx_result_stdout(r, &n);
    assert_bytes(out, n, "\xff", 1);
    eryx_result_free(r);
    /* A surrogate that escapes no byte cannot be written, as in CPython. */
    run_expect("try:\n    print('\\ud800')\n"
               "except UnicodeEncodeError as e:\n    print(e.reason)\n",
               "surrogates not allowed\n");
}

/* Every way of writing, mixed: each reaches the result and the handler
   unchanged and in order. */
ERYX_TEST(handler_and_result_get_the_same_bytes)
{
    memset(raw_len, 0, sizeof raw_len);
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(
        eryx_config_set_output_handler(cfg, on_output_raw, NULL, NULL, NULL),
        ERYX_OK);
    eryx_result *r =
        run_with(cfg, "import os, sys\n"
                      "print('a\\udcff', end='')\n"
                      "sys.stdout.buffer.write(bytearray(b'\\x00\\x80'))\n"
                      "n = sys.stdout.buffer.write(memoryview(b'xyz')[::2])\n"
                      "os.write(1, b'\\xfe\\n')\n"
                      "sys.stderr.buffer.write(b'\\xc3')\n"
                      "print('\\udcc3\\udca9', end='', file=sys.stderr)\n"
                      "try:\n    sys.stdout.buffer.write('text')\n"
                      "except TypeError:\n    os.write(2, b'!')\n"
                      "assert n == 2, n\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    static const char out_want[] = "a\xff\x00\x80xz\xfe\n";
    static const char err_want[] = "\xc3\xc3\xa9!";
    size_t n;
    const char *out = eryx_result_stdout(r, &n);
    assert_bytes(out, n, out_want, sizeof out_want - 1);
    assert_bytes(raw[0], raw_len[0], out_want, sizeof out_want - 1);
    const char *err = eryx_result_stderr(r, &n);
    assert_bytes(err, n, err_want, sizeof err_want - 1);
    assert_bytes(raw[1], raw_len[1], err_want, sizeof err_want - 1);
    eryx_result_free(r);
    eryx_config_free(cfg);
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
        ERYX_TEST_ENTRY(binary_writes_arrive_unchanged),
        ERYX_TEST_ENTRY(escaped_surrogates_are_written_as_their_bytes),
        ERYX_TEST_ENTRY(handler_and_result_get_the_same_bytes),
        ERYX_TEST_ENTRY(descriptor_writes_are_captured_in_order),
        ERYX_TEST_ENTRY(output_past_the_limit_is_cut_with_a_marker),
        ERYX_TEST_ENTRY(default_limit_is_ten_mebibytes),
        ERYX_TEST_ENTRY(results_report_duration_invocations_and_memory),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
