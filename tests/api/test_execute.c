/*
** test_execute.c: the execute contract of sandboxes and sessions, through
** the public API: output capture, errors, the result variable, state,
** invalid input, and large output.
*/
#include <stdio.h>

#include "sandbox_fixture.h"

ERYX_TEST(print_goes_to_stdout_and_stderr_separately)
{
    eryx_result *r =
        run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n"
            "sys.stdout.write('x')\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "out\nx");
    ASSERT_STR_EQ(eryx_result_stderr(r, NULL), "err\n");
    ASSERT_NULL(eryx_result_error(r, NULL));
    eryx_result_free(r);
}

ERYX_TEST(multi_line_output_is_kept_in_order)
{
    run_expect("for i in range(3):\n    print('line', i)\n",
               "line 0\nline 1\nline 2\n");
}

/* The trailing-newline rule: output is exactly what the code wrote;
   print() adds its newline, write() adds none, nothing is stripped. */
ERYX_TEST(output_is_exactly_what_was_written)
{
    run_expect("print('a', end='')", "a");
    run_expect("print('a\\n')", "a\n\n");
    run_expect("import sys; sys.stdout.write('no newline')", "no newline");
}

ERYX_TEST(zero_division_is_a_script_error_with_traceback)
{
    eryx_result *r = run("x = 1\n\ny = x / 0\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    const char *tb = eryx_result_error(r, NULL);
    ASSERT_CONTAINS(tb, "Traceback (most recent call last):");
    ASSERT_CONTAINS(tb, "File \"<user>\", line 3");
    ASSERT_CONTAINS(tb, "ZeroDivisionError: division by zero");
    ASSERT(strstr(tb, "_eryx_runtime") == NULL);
    eryx_result_free(r);
}

ERYX_TEST(error_in_function_names_each_user_line)
{
    eryx_result *r = run("def f():\n    raise ValueError('bad')\n\nf()\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    const char *tb = eryx_result_error(r, NULL);
    ASSERT_CONTAINS(tb, "File \"<user>\", line 4, in <module>");
    ASSERT_CONTAINS(tb, "File \"<user>\", line 2, in f");
    ASSERT_CONTAINS(tb, "ValueError: bad");
    eryx_result_free(r);
}

ERYX_TEST(output_before_an_exception_is_kept)
{
    eryx_result *r = run("print('before')\nraise KeyError('k')\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "before\n");
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "KeyError: 'k'");
    eryx_result_free(r);
}

ERYX_TEST(syntax_error_is_a_script_error_with_line)
{
    eryx_result *r = run("x = 1\ny = (\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    const char *tb = eryx_result_error(r, NULL);
    ASSERT_CONTAINS(tb, "File \"<user>\", line 2");
    ASSERT_CONTAINS(tb, "SyntaxError");
    eryx_result_free(r);
}

ERYX_TEST(top_level_await_sleep)
{
    run_expect("import asyncio\nawait asyncio.sleep(0)\nprint('awake')\n",
               "awake\n");
}

ERYX_TEST(asyncio_gather_of_plain_coroutines)
{
    run_expect("import asyncio\n"
               "async def twice(x):\n"
               "    await asyncio.sleep(0.001)\n"
               "    return 2 * x\n"
               "print(await asyncio.gather(*(twice(i) for i in range(4))))\n",
               "[0, 2, 4, 6]\n");
}

ERYX_TEST(asyncio_run_from_user_code)
{
    run_expect("import asyncio\n"
               "async def main():\n"
               "    await asyncio.sleep(0.001)\n"
               "    return 'done'\n"
               "print(asyncio.run(main()))\n",
               "done\n");
}

ERYX_TEST(result_variable_round_trips_a_dict)
{
    eryx_result *r = run("result = {'a': [1, 2.5, None, True], 'b': 'é'}");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_json(r, NULL),
                  "{\"a\": [1, 2.5, null, true], \"b\": \"\\u00e9\"}");
    ASSERT_NULL(eryx_result_json_error(r, NULL));
    eryx_result_free(r);
}

ERYX_TEST(unserializable_result_sets_result_error_and_succeeds)
{
    eryx_result *r = run("result = {1, 2}\nprint('ran')");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "ran\n");
    ASSERT_NULL(eryx_result_json(r, NULL));
    ASSERT_CONTAINS(eryx_result_json_error(r, NULL),
                    "result is not JSON-serializable: ");
    eryx_result_free(r);
}

ERYX_TEST(no_result_variable_means_no_json)
{
    eryx_result *r = run("x = 5");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_NULL(eryx_result_json(r, NULL));
    ASSERT_NULL(eryx_result_json_error(r, NULL));
    eryx_result_free(r);
}

ERYX_TEST(result_variable_is_consumed_each_run)
{
    eryx_session *ss = new_session(NULL);
    eryx_result *r = session_run(ss, "result = 42");
    ASSERT_STR_EQ(eryx_result_json(r, NULL), "42");
    eryx_result_free(r);
    r = session_run(ss, "print('result' in globals())");
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False\n");
    ASSERT_NULL(eryx_result_json(r, NULL));
    eryx_result_free(r);
    eryx_session_free(ss);
}

ERYX_TEST(result_variable_name_is_configurable)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_result_variable(cfg, "not valid", NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_set_result_variable(cfg, "answer", NULL), ERYX_OK);
    eryx_session *ss = new_session(cfg);
    eryx_config_free(cfg); /* the session keeps its own copy */
    eryx_result *r = session_run(ss, "answer = [1]\nresult = 2");
    ASSERT_STR_EQ(eryx_result_json(r, NULL), "[1]");
    eryx_result_free(r);
    eryx_session_free(ss);
}

ERYX_TEST(sandbox_forgets_state_between_executes)
{
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), NULL, &sb, NULL), ERYX_OK);
    eryx_result *r = NULL;
    const char *set = "x = 41\nimport json";
    ASSERT_EQ(eryx_sandbox_execute(sb, set, strlen(set), &r, NULL), ERYX_OK);
    eryx_result_free(r);
    const char *get = "print('x' in globals())\nprint(x)";
    ASSERT_EQ(eryx_sandbox_execute(sb, get, strlen(get), &r, NULL),
              ERYX_E_PYTHON);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False\n");
    ASSERT_CONTAINS(eryx_result_error(r, NULL),
                    "NameError: name 'x' is not defined");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
}

ERYX_TEST(session_keeps_state_between_executes)
{
    eryx_session *ss = new_session(NULL);
    eryx_result *r = session_run(ss, "x = 41\ndef inc(v):\n    return v + 1");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    eryx_result_free(r);
    r = session_run(ss, "print(inc(x))");
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "42\n");
    eryx_result_free(r);
    ASSERT_EQ(eryx_session_execution_count(ss), 2);
    eryx_session_reset(ss);
    r = session_run(ss, "print('x' in globals())");
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False\n");
    eryx_result_free(r);
    ASSERT_EQ(eryx_session_execution_count(ss), 1);
    eryx_session_free(ss);
}

ERYX_TEST(nul_byte_is_invalid_input_before_the_guest_runs)
{
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), NULL, &sb, NULL), ERYX_OK);
    static const char code[] = "print('a')\0print('b')";
    eryx_result *r = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_sandbox_execute(sb, code, sizeof code - 1, &r, &err),
              ERYX_E_INVALID_INPUT);
    ASSERT_EQ(err.status, ERYX_E_INVALID_INPUT);
    ASSERT_CONTAINS(err.message, "NUL byte");
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(eryx_result_status(r), ERYX_E_INVALID_INPUT);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "");
    eryx_result_free(r);
    /* The sandbox still works. */
    ASSERT_EQ(eryx_sandbox_execute(sb, "print(1)", 8, &r, NULL), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "1\n");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
}

ERYX_TEST(invalid_utf8_is_invalid_input)
{
    eryx_result *r = run("print('\xff')");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_INVALID_INPUT);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "UTF-8");
    eryx_result_free(r);
    r = run("s = '\xed\xa0\x80'"); /* an encoded surrogate */
    ASSERT_EQ(eryx_result_status(r), ERYX_E_INVALID_INPUT);
    eryx_result_free(r);
}

ERYX_TEST(empty_code_succeeds_with_empty_output)
{
    eryx_result *r = run("");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "");
    ASSERT_STR_EQ(eryx_result_stderr(r, NULL), "");
    eryx_result_free(r);
}

ERYX_TEST(one_megabyte_of_output_is_captured_intact)
{
    eryx_result *r = run("import sys\n"
                         "for i in range(16384):\n"
                         "    sys.stdout.write('%063d\\n' % i)\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    size_t n;
    const char *out = eryx_result_stdout(r, &n);
    ASSERT_EQ(n, 16384 * 64);
    char line[65];
    for (int i = 0; i < 16384; i += 1021) {
        snprintf(line, sizeof line, "%063d\n", i);
        ASSERT(memcmp(out + (size_t)i * 64, line, 64) == 0);
    }
    eryx_result_free(r);
}

ERYX_TEST(sys_exit_is_a_script_error_with_its_code)
{
    eryx_result *r = run("import sys\nprint('bye')\nsys.exit(3)\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "bye\n");
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "SystemExit: 3");
    eryx_result_free(r);
    r = run("raise SystemExit");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "SystemExit");
    eryx_result_free(r);
    /* The host keeps running, and so does a session. */
    eryx_session *ss = new_session(NULL);
    r = session_run(ss, "y = 7\nraise SystemExit(5)");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "SystemExit: 5");
    eryx_result_free(r);
    r = session_run(ss, "print(y)");
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "7\n");
    eryx_result_free(r);
    eryx_session_free(ss);
}

ERYX_TEST(os_exit_is_a_sandbox_failure_and_the_session_resets)
{
    eryx_session *ss = new_session(NULL);
    eryx_result *r = session_run(ss, "y = 7\nimport os\nos._exit(4)");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_TRAP);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "exited with status 4");
    eryx_result_free(r);
    r = session_run(ss, "print('y' in globals())");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False\n");
    eryx_result_free(r);
    eryx_session_free(ss);
}

ERYX_TEST(user_code_cannot_redirect_the_runtime)
{
    eryx_session *ss = new_session(NULL);
    eryx_result *r = session_run(ss, "import _eryx_runtime as rt\n"
                                     "rt.begin = rt.finish = None\n"
                                     "rt.format_exception = None\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    eryx_result_free(r);
    r = session_run(ss, "print('still captured')\n1/0");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "still captured\n");
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "ZeroDivisionError");
    eryx_result_free(r);
    eryx_session_free(ss);
}

ERYX_TEST(thousand_session_executes_grow_rss_under_20_mb)
{
    eryx_session *ss = new_session(NULL);
    const char *code = "x = [i * i for i in range(100)]\n"
                       "result = {'n': len(x)}\nprint(sum(x))";
    /* Warm up first, so the allocator and the guest's heap settle. */
    for (int i = 0; i < 50; i++)
        eryx_result_free(session_run(ss, code));
    long before = rss_kib();
    for (int i = 0; i < 1000; i++) {
        eryx_result *r = session_run(ss, code);
        ASSERT_EQ(eryx_result_status(r), ERYX_OK);
        eryx_result_free(r);
    }
    long growth = rss_kib() - before;
    printf("RSS growth over 1000 executes: %ld KiB\n", growth);
    ASSERT_LT(growth, 20 * 1024);
    eryx_session_free(ss);
}

ERYX_TEST(api_misuse_is_reported_not_crashed)
{
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_execute(NULL, "1", 1, &r, NULL), ERYX_E_INVALID_ARG);
    ASSERT_NULL(r);
    ASSERT_EQ(eryx_engine_new(NULL, NULL, NULL), ERYX_E_INVALID_ARG);
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    eryx_error err;
    ASSERT_EQ(
        eryx_config_set_runtime_path(cfg, "/nonexistent/runtime.wasm", NULL),
        ERYX_OK);
    eryx_engine *eng = NULL;
    ASSERT_EQ(eryx_engine_new(cfg, &eng, &err), ERYX_E_IO);
    ASSERT_NULL(eng);
    ASSERT_CONTAINS(err.message, "/nonexistent/runtime.wasm");
    eryx_config_free(cfg);
    eryx_sandbox_free(NULL);
    eryx_session_free(NULL);
    eryx_result_free(NULL);
    eryx_engine_free(NULL);
    eryx_config_free(NULL);
    ASSERT_STR_EQ(eryx_status_str(ERYX_E_PYTHON), "python exception");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(print_goes_to_stdout_and_stderr_separately),
        ERYX_TEST_ENTRY(multi_line_output_is_kept_in_order),
        ERYX_TEST_ENTRY(output_is_exactly_what_was_written),
        ERYX_TEST_ENTRY(zero_division_is_a_script_error_with_traceback),
        ERYX_TEST_ENTRY(error_in_function_names_each_user_line),
        ERYX_TEST_ENTRY(output_before_an_exception_is_kept),
        ERYX_TEST_ENTRY(syntax_error_is_a_script_error_with_line),
        ERYX_TEST_ENTRY(top_level_await_sleep),
        ERYX_TEST_ENTRY(asyncio_gather_of_plain_coroutines),
        ERYX_TEST_ENTRY(asyncio_run_from_user_code),
        ERYX_TEST_ENTRY(result_variable_round_trips_a_dict),
        ERYX_TEST_ENTRY(unserializable_result_sets_result_error_and_succeeds),
        ERYX_TEST_ENTRY(no_result_variable_means_no_json),
        ERYX_TEST_ENTRY(result_variable_is_consumed_each_run),
        ERYX_TEST_ENTRY(result_variable_name_is_configurable),
        ERYX_TEST_ENTRY(sandbox_forgets_state_between_executes),
        ERYX_TEST_ENTRY(session_keeps_state_between_executes),
        ERYX_TEST_ENTRY(nul_byte_is_invalid_input_before_the_guest_runs),
        ERYX_TEST_ENTRY(invalid_utf8_is_invalid_input),
        ERYX_TEST_ENTRY(empty_code_succeeds_with_empty_output),
        ERYX_TEST_ENTRY(one_megabyte_of_output_is_captured_intact),
        ERYX_TEST_ENTRY(sys_exit_is_a_script_error_with_its_code),
        ERYX_TEST_ENTRY(os_exit_is_a_sandbox_failure_and_the_session_resets),
        ERYX_TEST_ENTRY(user_code_cannot_redirect_the_runtime),
        ERYX_TEST_ENTRY(thousand_session_executes_grow_rss_under_20_mb),
        ERYX_TEST_ENTRY(api_misuse_is_reported_not_crashed),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
