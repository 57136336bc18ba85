/*
** test_trace.c: trace events of the user's code, in exact order, with the
** runtime, the stdlib and exec'd strings left out; events go on after an
** await; without a handler, no hook runs.
*/
#include <cjson/cJSON.h>

#include "sandbox_fixture.h"

static char events[8192];

/* Each event becomes one compact JSON line; callback_end's duration is
   checked and dropped, so that the expected text can be exact. */
static void
collect(void *ud,
        eryx_trace_kind kind,
        uint32_t lineno,
        const char *json,
        size_t len)
{
    (void)ud;
    cJSON *e = cJSON_ParseWithLength(json, len);
    ASSERT_NOT_NULL(e);
    ASSERT_EQ(cJSON_GetObjectItem(e, "lineno")->valueint, lineno);
    if (kind == ERYX_TRACE_CALLBACK_END) {
        ASSERT(cJSON_GetObjectItem(e, "duration_ms")->valuedouble >= 0);
        cJSON_DeleteItemFromObject(e, "duration_ms");
    }
    char *text = cJSON_PrintUnformatted(e);
    strncat(events, text, sizeof events - strlen(events) - 2);
    strcat(events, "\n");
    cJSON_free(text);
    cJSON_Delete(e);
}

static void
fail(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    eryx_call_fail(call, "no", 2);
}

static void
expect_trace(const char *code, const char *expected)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_trace_handler(cfg, collect, NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "echo", "", NULL, echo_handler,
                                       NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(
        eryx_config_add_callback(cfg, "fail", "", NULL, fail, NULL, NULL, NULL),
        ERYX_OK);
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &sb, NULL), ERYX_OK);
    events[0] = '\0';
    eryx_result *r = NULL;
    eryx_sandbox_execute(sb, code, strlen(code), &r, NULL);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(events, expected);
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
}

#define LINE(n) "{\"event\":\"line\",\"lineno\":" #n "}\n"

ERYX_TEST(three_line_script)
{
    expect_trace("x = 1\ny = 2\nz = x + y\n", LINE(1) LINE(2) LINE(3));
}

ERYX_TEST(function_call_and_return)
{
    expect_trace(
        "def f(a):\n    return a + 1\nf(1)\n",
        LINE(1)
            LINE(3) "{\"event\":\"call\",\"lineno\":1,\"name\":\"f\"}\n" LINE(
                2) "{\"event\":\"return\",\"lineno\":2,\"name\":\"f\"}\n");
}

ERYX_TEST(caught_exception)
{
    expect_trace(
        "try:\n    1/0\nexcept ZeroDivisionError:\n    pass\n",
        LINE(1) LINE(
            2) "{\"event\":\"exception\",\"lineno\":2,\"type\":"
               "\"ZeroDivisionError\",\"message\":\"division by zero\"}\n" LINE(
                   3) LINE(4));
}

ERYX_TEST(loop_of_three)
{
    expect_trace("for i in range(3):\n    pass\n",
                 LINE(1) LINE(2) LINE(1) LINE(2) LINE(1) LINE(2) LINE(1));
}

ERYX_TEST(awaited_callback_and_lines_after_the_await)
{
    expect_trace(
        "r = await echo(message='hi')\n"
        "try:\n    await fail()\nexcept Exception:\n    pass\n",
        LINE(1) "{\"event\":\"callback_start\",\"lineno\":1,\"name\":\"echo\","
                "\"arguments\":{\"message\":\"hi\"}}\n"
                "{\"event\":\"callback_end\",\"lineno\":1,\"name\":\"echo\","
                "\"error\":null}\n" LINE(2)
                    LINE(3) "{\"event\":\"callback_start\",\"lineno\":3,"
                            "\"name\":\"fail\","
                            "\"arguments\":{}}\n"
                            "{\"event\":\"callback_end\",\"lineno\":3,\"name\":"
                            "\"fail\","
                            "\"error\":\"no\"}\n"
                            "{\"event\":\"exception\",\"lineno\":3,\"type\":"
                            "\"CallbackError\","
                            "\"message\":\"no\"}\n"
        /* CPython reports the await's line again as the exception leaves
           it for the handler. */
        LINE(3) LINE(4) LINE(5));
}

ERYX_TEST(stdlib_runtime_and_exec_frames_are_left_out)
{
    expect_trace("import json\njson.dumps({'a': [1]})\nexec('b = [i for i in "
                 "range(3)]')\n",
                 LINE(1) LINE(2) LINE(3));
}

ERYX_TEST(without_a_handler_no_hook_runs)
{
    run_expect("import sys\nprint(sys.monitoring.get_tool(4), sys.gettrace())",
               "None None\n");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(three_line_script),
        ERYX_TEST_ENTRY(function_call_and_return),
        ERYX_TEST_ENTRY(caught_exception),
        ERYX_TEST_ENTRY(loop_of_three),
        ERYX_TEST_ENTRY(awaited_callback_and_lines_after_the_await),
        ERYX_TEST_ENTRY(stdlib_runtime_and_exec_frames_are_left_out),
        ERYX_TEST_ENTRY(without_a_handler_no_hook_runs),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
