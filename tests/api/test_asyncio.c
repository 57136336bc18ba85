/*
** test_asyncio.c: full asyncio inside the sandbox: timers, timeouts,
** tasks, queues and asyncio.run from user code, on the guest's event loop.
*/
#include "sandbox_fixture.h"

#define PY_TEST(name, code, expected) \
    ERYX_TEST(name)                   \
    {                                 \
        run_expect(code, expected);   \
    }

PY_TEST(sleep_waits_for_its_time,
        "import asyncio, time\nt = time.monotonic()\n"
        "await asyncio.sleep(0.05)\nprint(time.monotonic() - t >= 0.05)",
        "True\n")
PY_TEST(wait_for_times_out,
        "import asyncio\n"
        "try:\n    await asyncio.wait_for(asyncio.sleep(10), timeout=0.02)\n"
        "except TimeoutError:\n    print('timed out')",
        "timed out\n")
PY_TEST(call_later_runs_its_callback,
        "import asyncio\nloop = asyncio.get_running_loop()\n"
        "fut = loop.create_future()\n"
        "loop.call_later(0.01, fut.set_result, 'later')\nprint(await fut)",
        "later\n")
PY_TEST(create_task_runs_alongside,
        "import asyncio\nseen = []\n"
        "async def worker(n):\n    await asyncio.sleep(0.01 * n)\n"
        "    seen.append(n)\n"
        "tasks = [asyncio.create_task(worker(n)) for n in (3, 1, 2)]\n"
        "await asyncio.wait(tasks)\nprint(seen)",
        "[1, 2, 3]\n")
PY_TEST(queue_passes_items_between_tasks,
        "import asyncio\nq = asyncio.Queue()\n"
        "async def producer():\n    for i in range(3):\n"
        "        await q.put(i)\n        await asyncio.sleep(0)\n"
        "    await q.put(None)\n"
        "async def consumer():\n    got = []\n"
        "    while (item := await q.get()) is not None:\n"
        "        got.append(item)\n    return got\n"
        "_, got = await asyncio.gather(producer(), consumer())\nprint(got)",
        "[0, 1, 2]\n")
PY_TEST(timeout_context_manager_cancels,
        "import asyncio\n"
        "try:\n    async with asyncio.timeout(0.02):\n"
        "        await asyncio.sleep(10)\n"
        "except TimeoutError:\n    print('cancelled in time')",
        "cancelled in time\n")
PY_TEST(asyncio_run_from_user_code,
        "import asyncio\n"
        "async def main():\n    await asyncio.sleep(0.01)\n"
        "    return await asyncio.gather(asyncio.sleep(0, 'a'), "
        "asyncio.sleep(0, 'b'))\n"
        "print(asyncio.run(main()))",
        "['a', 'b']\n")
/* Nothing can ever resolve the future: no callback runs, no timer is
   set, and the guest has no threads.  The execution fails with a clear
   error instead of hanging, and a session stays usable. */
ERYX_TEST(a_future_nobody_resolves_is_a_clear_error)
{
    eryx_session *ss = NULL;
    ASSERT_EQ(eryx_session_new(test_engine(), NULL, &ss, NULL), ERYX_OK);
    const char *code = "import asyncio\n"
                       "await asyncio.get_running_loop().create_future()\n";
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_session_execute(ss, code, strlen(code), &r, NULL),
              ERYX_E_PYTHON);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "RuntimeError: deadlock");
    eryx_result_free(r);
    code = "import asyncio\nawait asyncio.sleep(0)\nprint('fine')";
    ASSERT_EQ(eryx_session_execute(ss, code, strlen(code), &r, NULL), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "fine\n");
    eryx_result_free(r);
    eryx_session_free(ss);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(sleep_waits_for_its_time),
        ERYX_TEST_ENTRY(wait_for_times_out),
        ERYX_TEST_ENTRY(call_later_runs_its_callback),
        ERYX_TEST_ENTRY(create_task_runs_alongside),
        ERYX_TEST_ENTRY(queue_passes_items_between_tasks),
        ERYX_TEST_ENTRY(timeout_context_manager_cancels),
        ERYX_TEST_ENTRY(asyncio_run_from_user_code),
        ERYX_TEST_ENTRY(a_future_nobody_resolves_is_a_clear_error),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
