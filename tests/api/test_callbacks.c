/*
** test_callbacks.c: host callbacks as Python sees them: proxies, invoke,
** list_callbacks, errors, limits, and concurrency (calls gathered in
** Python run on the host at the same time).
*/
#define _GNU_SOURCE /* sched_setaffinity */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "sandbox_fixture.h"

static void
fail(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    eryx_call_fail(call, "the database is on fire", 23);
}

/* Keeps its call unanswered until the test answers it, late. */
static eryx_call *held_call;

static void
never(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    __atomic_store_n(&held_call, call, __ATOMIC_RELEASE);
}

/* Answers from a thread of its own, after the handler has returned. */
static void *
answer_later(void *arg)
{
    eryx_call_return(arg, "\"from another thread\"", 21);
    return NULL;
}

static void
async_answer(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, answer_later, call), 0);
    pthread_detach(t);
}

/* Three handlers that each wait for the other two: they can only finish
   if the host runs them at the same time. */
static pthread_barrier_t barrier;

static void
meet(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud;
    pthread_barrier_wait(&barrier);
    eryx_call_return(call, args, len);
}

static int freed_userdata;

static void
count_free(void *ud)
{
    (void)ud;
    freed_userdata++;
}

static const char echo_schema[] =
    "{\"type\": \"object\", \"properties\": {\"message\": {\"type\": "
    "\"string\"}, \"times\": {\"type\": \"integer\"}}, \"required\": "
    "[\"message\"], \"additionalProperties\": false}";

static eryx_config *
callback_config(void)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "echo", "Echoes its arguments.",
                                       echo_schema, echo_handler, NULL,
                                       count_free, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "fail", "Always fails.", NULL, fail,
                                       NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "http.get", "A dotted name.",
                                       "{\"properties\": {\"url\": {}}}",
                                       echo_handler, NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "print", "Must not shadow print.",
                                       NULL, echo_handler, NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "later", "Answers from a thread.",
                                       NULL, async_answer, NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "meet", "A 3-party barrier.", NULL,
                                       meet, NULL, NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "never", "Never answers.", NULL,
                                       never, NULL, NULL, NULL),
              ERYX_OK);
    return cfg;
}

static void
expect_output(eryx_config *cfg, const char *code, const char *expected)
{
    eryx_result *r = run_with(cfg, code);
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("execute failed: %s", eryx_result_error(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), expected);
    eryx_result_free(r);
}

ERYX_TEST(callback_is_an_async_global)
{
    eryx_config *cfg = callback_config();
    expect_output(cfg,
                  "r = await echo(message='hi', times=2)\nprint(r)\n"
                  "print(await echo('positional'))\n",
                  "{'message': 'hi', 'times': 2}\n{'message': 'positional'}\n");
    eryx_config_free(cfg);
}

ERYX_TEST(invoke_reaches_any_callback_and_dotted_names_are_namespaces)
{
    eryx_config *cfg = callback_config();
    expect_output(cfg,
                  "print(await invoke('echo', message='x'))\n"
                  "print(await http.get('u'))\n"
                  "print(await invoke('http.get', url='v'))\n"
                  "print(await invoke('print', a=1))\n",
                  "{'message': 'x'}\n{'url': 'u'}\n{'url': 'v'}\n{'a': 1}\n");
    eryx_config_free(cfg);
}

ERYX_TEST(reserved_names_are_never_shadowed)
{
    eryx_config *cfg = callback_config();
    expect_output(cfg,
                  "import builtins\nprint(print is builtins.print)\n"
                  "print(callable(invoke), callable(list_callbacks))\n",
                  "True\nTrue True\n");
    eryx_config_free(cfg);
}

ERYX_TEST(list_callbacks_returns_names_descriptions_and_parsed_schemas)
{
    eryx_config *cfg = callback_config();
    expect_output(cfg,
                  "cbs = {c['name']: c for c in list_callbacks()}\n"
                  "print(sorted(cbs))\n"
                  "e = cbs['echo']\nprint(e['description'])\n"
                  "print(e['parameters_schema']['required'])\n"
                  "print(cbs['fail']['parameters_schema'])\n",
                  "['echo', 'fail', 'http.get', 'later', 'meet', 'never', "
                  "'print']\nEchoes its arguments.\n['message']\n{}\n");
    eryx_config_free(cfg);
}

ERYX_TEST(duplicate_argument_is_a_type_error)
{
    eryx_config *cfg = callback_config();
    expect_output(cfg,
                  "try:\n    await echo('a', message='b')\n"
                  "except TypeError as e:\n    print(e)\n"
                  "try:\n    await echo('a', 2, 3)\n"
                  "except TypeError as e:\n    print(e)\n",
                  "echo() got multiple values for argument 'message'\n"
                  "echo() takes 2 positional arguments but 3 were given\n");
    eryx_config_free(cfg);
}

ERYX_TEST(failures_are_catchable_exceptions_with_the_host_message)
{
    eryx_config *cfg = callback_config();
    expect_output(
        cfg,
        "async def attempt(coro):\n"
        "    try:\n        await coro\n"
        "    except Exception as e:\n"
        "        print(type(e).__name__ + ':', e)\n"
        "await attempt(fail())\n"
        "await attempt(invoke('nope'))\n"
        "await attempt(echo(times=1))\n"
        "await attempt(echo(message=5))\n"
        "await attempt(echo(message='m', extra=1))\n",
        "CallbackError: the database is on fire\n"
        "CallbackError: unknown callback 'nope'\n"
        "CallbackError: invalid arguments for callback 'echo': missing "
        "required argument 'message'\n"
        "CallbackError: invalid arguments for callback 'echo': argument "
        "'message' must be of type string\n"
        "CallbackError: invalid arguments for callback 'echo': unexpected "
        "argument 'extra'\n");
    eryx_config_free(cfg);
}

ERYX_TEST(handler_may_complete_later_from_another_thread)
{
    eryx_config *cfg = callback_config();
    expect_output(cfg, "print(await later())", "from another thread\n");
    eryx_config_free(cfg);
}

ERYX_TEST(gathered_calls_run_concurrently_and_keep_their_order)
{
    /* Sequential dispatch would block the first handler at the barrier
       forever, and the call would time out instead. */
    ASSERT_EQ(pthread_barrier_init(&barrier, NULL, 3), 0);
    eryx_config *cfg = callback_config();
    eryx_result *r = run_with(
        cfg, "import asyncio\n"
             "print(await asyncio.gather(meet(n=1), meet(n=2), meet(n=3)))\n");
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("%s", eryx_result_error(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL),
                  "[{'n': 1}, {'n': 2}, {'n': 3}]\n");
    ASSERT_EQ(eryx_result_callback_invocations(r), 3);
    eryx_result_free(r);
    eryx_config_free(cfg);
    pthread_barrier_destroy(&barrier);
}

/* A process confined to one CPU (a one-CPU container, taskset): no thread
   polls for one that could not run meanwhile, and every kind of answer
   still arrives: at once, many in a row, later from another thread, a
   failure, a gather. */
ERYX_TEST(a_process_on_one_cpu_gets_every_answer)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0); /* before the
                                                         engine's threads */
    eryx_config *cfg = callback_config();
    expect_output(cfg,
                  "import asyncio\n"
                  "n = 0\n"
                  "for i in range(300):\n"
                  "    n += (await echo(message='x', times=i))['times']\n"
                  "print(n, await later())\n"
                  "try:\n"
                  "    await fail()\n"
                  "except Exception as e:\n"
                  "    print(type(e).__name__)\n"
                  "print(await asyncio.gather(*(echo(message=str(i)) "
                  "for i in range(4))))\n",
                  "44850 from another thread\nCallbackError\n"
                  "[{'message': '0'}, {'message': '1'}, {'message': '2'}, "
                  "{'message': '3'}]\n");
    eryx_config_free(cfg);
}

ERYX_TEST(callback_timeout_raises_with_timeout_in_the_message)
{
    eryx_config *cfg = callback_config();
    ASSERT_EQ(eryx_config_set_callback_timeout_ms(cfg, 200, NULL), ERYX_OK);
    expect_output(cfg,
                  "try:\n    await never()\nexcept TimeoutError as e:\n"
                  "    print(type(e).__name__, e)\n"
                  "print(await echo('still works'))\n",
                  "CallbackTimeoutError timeout: callback 'never' gave no "
                  "answer within 200 ms\n"
                  "{'message': 'still works'}\n");
    /* Completing the call after its timeout, even after its sandbox is
       gone, is harmless: the answer goes nowhere. */
    eryx_call *late = __atomic_load_n(&held_call, __ATOMIC_ACQUIRE);
    ASSERT_NOT_NULL(late); /* it timed out, so its handler has run */
    eryx_call_return(late, "\"too late\"", 10);
    eryx_config_free(cfg);
}

ERYX_TEST(invocation_limit_raises_on_the_next_call)
{
    eryx_config *cfg = callback_config();
    ASSERT_EQ(eryx_config_set_max_callback_invocations(cfg, 3, NULL), ERYX_OK);
    eryx_result *r = run_with(cfg, "for i in range(3):\n"
                                   "    await echo('x')\n"
                                   "try:\n    await echo('one too many')\n"
                                   "except Exception as e:\n    print(e)\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL),
                  "callback invocation limit reached (3 per execution)\n");
    ASSERT_EQ(eryx_result_callback_invocations(r), 3);
    eryx_result_free(r);
    eryx_config_free(cfg);
}

ERYX_TEST(userdata_is_freed_once_when_the_last_holder_goes)
{
    freed_userdata = 0;
    eryx_config *cfg = callback_config();
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &sb, NULL), ERYX_OK);
    eryx_config_free(cfg);
    ASSERT_EQ(freed_userdata, 0); /* the sandbox still holds it */
    eryx_sandbox_free(sb);
    ASSERT_EQ(freed_userdata, 1);
    /* A failed registration frees the userdata at once. */
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "bad name", "", NULL, echo_handler,
                                       NULL, count_free, NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(freed_userdata, 2);
    ASSERT_EQ(eryx_config_add_callback(cfg, "ok", "", "[1, 2]", echo_handler,
                                       NULL, count_free, NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(freed_userdata, 3);
    eryx_config_free(cfg);
}

ERYX_TEST(session_clear_state_keeps_callbacks)
{
    eryx_config *cfg = callback_config();
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(test_engine(), cfg, &ss, NULL), ERYX_OK);
    eryx_result *r = NULL;
    const char *set = "x = 1";
    ASSERT_EQ(eryx_session_execute(ss, set, strlen(set), &r, NULL), ERYX_OK);
    eryx_result_free(r);
    ASSERT_EQ(eryx_session_clear_state(ss, NULL), ERYX_OK);
    const char *get = "print('x' in globals(), await echo('back'))";
    ASSERT_EQ(eryx_session_execute(ss, get, strlen(get), &r, NULL), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "False {'message': 'back'}\n");
    eryx_result_free(r);
    eryx_session_free(ss);
    eryx_config_free(cfg);
}

/* eryx_call_index is the order in which the code started the calls,
   whatever order the concurrent handlers run in. */
static int index_seen[8] = {-1, -1, -1, -1, -1, -1, -1, -1};

static void
index_handler(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud;
    (void)len;
    int v = -1;
    const char *p = strstr(args, "\"v\":");
    if (p != NULL)
        v = atoi(p + 4);
    uint32_t i = eryx_call_index(call);
    if (i < 8)
        index_seen[i] = v;
    eryx_call_return(call, "null", 4);
}

ERYX_TEST(call_index_is_the_order_of_start)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "rec", "", NULL, index_handler,
                                       NULL, NULL, NULL),
              ERYX_OK);
    eryx_result *r = run_with(cfg, "import asyncio\n"
                                   "await rec(v=100)\n"
                                   "await asyncio.gather(*(rec(v=i) for i in "
                                   "range(6)))\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_EQ(index_seen[0], 100);
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(index_seen[i + 1], i);
    ASSERT_EQ(eryx_call_index(NULL), 0u);
    eryx_result_free(r);
    eryx_config_free(cfg);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(callback_is_an_async_global),
        ERYX_TEST_ENTRY(
            invoke_reaches_any_callback_and_dotted_names_are_namespaces),
        ERYX_TEST_ENTRY(reserved_names_are_never_shadowed),
        ERYX_TEST_ENTRY(
            list_callbacks_returns_names_descriptions_and_parsed_schemas),
        ERYX_TEST_ENTRY(duplicate_argument_is_a_type_error),
        ERYX_TEST_ENTRY(
            failures_are_catchable_exceptions_with_the_host_message),
        ERYX_TEST_ENTRY(handler_may_complete_later_from_another_thread),
        ERYX_TEST_ENTRY(gathered_calls_run_concurrently_and_keep_their_order),
        ERYX_TEST_ENTRY(a_process_on_one_cpu_gets_every_answer),
        ERYX_TEST_ENTRY(callback_timeout_raises_with_timeout_in_the_message),
        ERYX_TEST_ENTRY(invocation_limit_raises_on_the_next_call),
        ERYX_TEST_ENTRY(userdata_is_freed_once_when_the_last_holder_goes),
        ERYX_TEST_ENTRY(session_clear_state_keeps_callbacks),
        ERYX_TEST_ENTRY(call_index_is_the_order_of_start),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
