/*
** test_preinit.c: sandboxes start from the pre-initialized snapshot
** (interpreter, runtime and the PREIMPORT modules already there), and a
** sandbox is still stateless: nothing one execute does reaches the next.
*/
#include "sandbox_fixture.h"

ERYX_TEST(preimported_modules_are_loaded_before_the_first_execute)
{
    /* Not imported by the user's code: already in sys.modules. */
    run_expect("import sys\n"
               "print([m in sys.modules for m in ('asyncio', 'json', 're', "
               "'datetime', 'pathlib', 'random', 'urllib.parse')])",
               "[True, True, True, True, True, True, True]\n");
}

ERYX_TEST(each_fresh_interpreter_draws_its_own_random_numbers)
{
    /* `random` is in the snapshot, seeded when it was made: each new
       instance reseeds it from the host's randomness (guest/init.c). */
    const char *code = "import random\nprint(random.getrandbits(64))";
    eryx_result *a = run(code);
    eryx_result *b = run(code);
    ASSERT_EQ(eryx_result_status(a), ERYX_OK);
    ASSERT_EQ(eryx_result_status(b), ERYX_OK);
    ASSERT(strcmp(eryx_result_stdout(a, NULL), eryx_result_stdout(b, NULL)) !=
           0);
    eryx_session *ss = NULL;
    eryx_result *c = NULL;
    ASSERT_EQ(eryx_session_new(test_engine(), NULL, &ss, NULL), ERYX_OK);
    ASSERT_EQ(eryx_session_execute(ss, code, strlen(code), &c, NULL), ERYX_OK);
    ASSERT(strcmp(eryx_result_stdout(a, NULL), eryx_result_stdout(c, NULL)) !=
           0);
    eryx_result_free(c);
    eryx_session_free(ss);
    eryx_result_free(a);
    eryx_result_free(b);
}

ERYX_TEST(every_instance_starts_from_the_same_snapshot)
{
    /* The hash seed is drawn once, when the snapshot is made (documented in
       docs/security.md): two fresh interpreters agree on it, which they
       would not if each had initialized itself. */
    eryx_result *a = run("print(hash('eryx'))");
    eryx_result *b = run("print(hash('eryx'))");
    ASSERT_EQ(eryx_result_status(a), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(a, NULL), eryx_result_stdout(b, NULL));
    eryx_result_free(a);
    eryx_result_free(b);
}

ERYX_TEST(sandbox_executes_share_nothing)
{
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), NULL, &sb, NULL), ERYX_OK);
    const char *first = "import sys, json, tomllib\n"
                        "x = 1\n"
                        "json.eryx_mark = 1\n"
                        "sys.path.append('/nowhere')\n";
    const char *second = "import sys, json\n"
                         "print('x' in globals(), hasattr(json, 'eryx_mark'),"
                         " 'tomllib' in sys.modules, '/nowhere' in sys.path)";
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_execute(sb, first, strlen(first), &r, NULL),
              ERYX_OK);
    eryx_result_free(r);
    ASSERT_EQ(eryx_sandbox_execute(sb, second, strlen(second), &r, NULL),
              ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False False False False\n");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
}

ERYX_TEST(modules_not_preimported_still_import)
{
    run_expect("import html, tomllib\n"
               "print(html.escape('<a>'), tomllib.loads('a = 1'))",
               "&lt;a&gt; {'a': 1}\n");
}

ERYX_TEST(a_first_execute_finds_the_event_loop_code_specialized)
{
    /* The snapshot rehearses an execute with callbacks (guest/runtime.py,
       rehearse_execute): CPython has specialized the event loop's code
       before any request.  This execute awaits nothing, so only the
       rehearsal can have run _run_once. */
    run_expect("import asyncio, dis, opcode\n"
               "spec = {n for v in opcode._specializations.values() "
               "for n in v}\n"
               "f = asyncio.base_events.BaseEventLoop._run_once\n"
               "n = sum(i.opname in spec "
               "for i in dis.get_instructions(f, adaptive=True))\n"
               "print(n > 5)",
               "True\n");
}

ERYX_TEST(the_rehearsal_leaves_nothing_behind)
{
    /* Its stand-in host is gone (rehearse is refused), its callback is
       neither offered nor known to the host, no call is pending, the
       modules it imported are not imported, and its function is gone. */
    run_expect("import sys, _eryx_host, _eryx_runtime as rt\n"
               "print('rehearsal' in globals(), rt.list_callbacks(), "
               "rt._pending, [m for m in rt._REHEARSED_IMPORTS "
               "if m in sys.modules], hasattr(rt, 'rehearse_execute'))\n"
               "try:\n"
               "    _eryx_host.rehearse(2)\n"
               "except RuntimeError as e:\n"
               "    print(e)\n"
               "try:\n"
               "    await invoke('rehearsal')\n"
               "except Exception as e:\n"
               "    print(type(e).__name__)",
               "False [] {} [] False\n"
               "rehearse: only during pre-initialization\n"
               "CallbackError\n");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(
            preimported_modules_are_loaded_before_the_first_execute),
        ERYX_TEST_ENTRY(each_fresh_interpreter_draws_its_own_random_numbers),
        ERYX_TEST_ENTRY(every_instance_starts_from_the_same_snapshot),
        ERYX_TEST_ENTRY(sandbox_executes_share_nothing),
        ERYX_TEST_ENTRY(modules_not_preimported_still_import),
        ERYX_TEST_ENTRY(a_first_execute_finds_the_event_loop_code_specialized),
        ERYX_TEST_ENTRY(the_rehearsal_leaves_nothing_behind),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
