/*
** test_journal.c: callback journals.  A run records every call; a later run
** given the journal replays the calls that match, in start order, without
** running their handlers, and the first mismatch goes live; a handler may
** suspend the run, and the journal then resumes it; a session rolls back
** when a run halts; malformed journals are refused whole.
*/
#include <stdlib.h>

#include "sandbox_fixture.h"

static int live_calls;

/* fetch(key): "KEY" upper-cased; suspends on "d" when `ud` is non-NULL. */
static void
fetch_handler(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)len;
    const char *k = strstr(args, "\"key\":");
    char key = 0;
    if (k != NULL) {
        k += 6;
        while (*k == ' ' || *k == '"')
            k++;
        key = *k;
    }
    if (ud != NULL && key == 'd') {
        eryx_call_suspend(call, "needs approval", 14);
        return;
    }
    __atomic_add_fetch(&live_calls, 1, __ATOMIC_RELAXED);
    char out[8];
    snprintf(out, sizeof out, "\"%c\"",
             key >= 'a' && key <= 'z' ? key - 32 : '?');
    eryx_call_return(call, out, strlen(out));
}

static const char CODE[] = "import asyncio\n"
                           "a = await fetch(key='a')\n"
                           "b, c = await asyncio.gather(fetch(key='b'), "
                           "fetch(key='c'))\n"
                           "d = await fetch(key='d')\n"
                           "print(a, b, c, d)\n";

static eryx_config *
fetch_config(int suspend)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "fetch", "",
                                       "{\"type\":\"object\",\"properties\":"
                                       "{\"key\":{\"type\":\"string\"}}}",
                                       fetch_handler,
                                       suspend ? (void *)1 : NULL, NULL, NULL),
              ERYX_OK);
    return cfg;
}

static eryx_status
run_journal(
    eryx_sandbox *sb, const char *code, eryx_journal *j, char *out, size_t cap)
{
    eryx_result *r = NULL;
    eryx_status s =
        eryx_sandbox_execute_journal(sb, code, strlen(code), j, &r, NULL);
    ASSERT_NOT_NULL(r);
    snprintf(out, cap, "%s", eryx_result_stdout(r, NULL));
    eryx_result_free(r);
    return s;
}

static eryx_journal *
journal_of(const char *text)
{
    eryx_journal *j = NULL;
    eryx_error err;
    if (eryx_journal_new(text, text ? strlen(text) : 0, &j, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("journal_new: %s", err.message);
    return j;
}

ERYX_TEST(record_then_replay_without_running_handlers)
{
    eryx_config *cfg = fetch_config(0);
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &sb, NULL), ERYX_OK);
    eryx_journal *j = journal_of(NULL);
    char out[64];
    live_calls = 0;
    ASSERT_EQ(run_journal(sb, CODE, j, out, sizeof out), ERYX_OK);
    ASSERT_STR_EQ(out, "A B C D\n");
    ASSERT_EQ(live_calls, 4);
    ASSERT_EQ(eryx_journal_replayed(j), 0u);
    ASSERT(eryx_journal_suspended(j, NULL, NULL) == NULL);
    size_t len;
    const char *text = eryx_journal_json(j, &len);
    ASSERT_NOT_NULL(text);
    ASSERT_EQ(strlen(text), len);
    ASSERT_CONTAINS(text, "\"entries\":[{");
    ASSERT_CONTAINS(text, "\"index\":3,\"name\":\"fetch\"");
    ASSERT_CONTAINS(text, "\"args\":{\"key\":\"d\"},\"result\":\"D\"");
    ASSERT_CONTAINS(text, "\"code\":\"import asyncio");

    eryx_journal *again = journal_of(text);
    live_calls = 0;
    ASSERT_EQ(run_journal(sb, CODE, again, out, sizeof out), ERYX_OK);
    ASSERT_STR_EQ(out, "A B C D\n");
    ASSERT_EQ(live_calls, 0);
    ASSERT_EQ(eryx_journal_replayed(again), 4u);
    eryx_journal_free(again);
    eryx_journal_free(j);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
}

ERYX_TEST(the_first_mismatch_goes_live_and_everything_after_it)
{
    eryx_config *cfg = fetch_config(0);
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &sb, NULL), ERYX_OK);
    eryx_journal *j = journal_of(NULL);
    char out[64];
    ASSERT_EQ(run_journal(sb, CODE, j, out, sizeof out), ERYX_OK);
    /* Same calls, except the second's argument. */
    static const char other[] = "import asyncio\n"
                                "a = await fetch(key='a')\n"
                                "b, c = await asyncio.gather(fetch(key='x'), "
                                "fetch(key='c'))\n"
                                "d = await fetch(key='d')\n"
                                "print(a, b, c, d)\n";
    eryx_journal *again = journal_of(eryx_journal_json(j, NULL));
    live_calls = 0;
    ASSERT_EQ(run_journal(sb, other, again, out, sizeof out), ERYX_OK);
    ASSERT_STR_EQ(out, "A X C D\n");
    ASSERT_EQ(eryx_journal_replayed(again), 1u);
    ASSERT_EQ(live_calls, 3);
    eryx_journal_free(again);
    eryx_journal_free(j);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
}

/* Arguments match by their canonical form: keyword order does not
   matter. */
ERYX_TEST(arguments_match_whatever_their_order)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "pair", "", NULL, echo_handler,
                                       NULL, NULL, NULL),
              ERYX_OK);
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &sb, NULL), ERYX_OK);
    eryx_journal *j = journal_of(NULL);
    char out[64];
    ASSERT_EQ(run_journal(sb, "print(await pair(b=1, a={'y': 2, 'x': 1}))", j,
                          out, sizeof out),
              ERYX_OK);
    eryx_journal *again = journal_of(eryx_journal_json(j, NULL));
    ASSERT_EQ(run_journal(sb, "print(await pair(a={'x': 1, 'y': 2}, b=1))",
                          again, out, sizeof out),
              ERYX_OK);
    ASSERT_EQ(eryx_journal_replayed(again), 1u);
    eryx_journal_free(again);
    eryx_journal_free(j);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
}

ERYX_TEST(a_suspended_run_resumes_from_its_journal)
{
    eryx_config *cfg = fetch_config(1);
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &sb, NULL), ERYX_OK);
    eryx_journal *j = journal_of(NULL);
    char out[64];
    live_calls = 0;
    ASSERT_EQ(run_journal(sb, CODE, j, out, sizeof out), ERYX_E_SUSPENDED);
    const char *args = NULL, *reason = NULL;
    const char *name = eryx_journal_suspended(j, &args, &reason);
    ASSERT_NOT_NULL(name);
    ASSERT_STR_EQ(name, "fetch");
    ASSERT_STR_EQ(args, "{\"key\":\"d\"}");
    ASSERT_STR_EQ(reason, "needs approval");
    const char *text = eryx_journal_json(j, NULL);
    ASSERT_CONTAINS(text, "\"index\":2");
    ASSERT(strstr(text, "\"index\":3") == NULL); /* not journaled */

    /* Approved: a handler that no longer suspends, the journal replayed. */
    eryx_config *live = fetch_config(0);
    eryx_sandbox *sb2 = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), live, &sb2, NULL), ERYX_OK);
    eryx_journal *again = journal_of(text);
    live_calls = 0;
    ASSERT_EQ(run_journal(sb2, CODE, again, out, sizeof out), ERYX_OK);
    ASSERT_STR_EQ(out, "A B C D\n");
    ASSERT_EQ(eryx_journal_replayed(again), 3u);
    ASSERT_EQ(live_calls, 1);
    eryx_journal_free(again);
    eryx_sandbox_free(sb2);
    eryx_config_free(live);
    eryx_journal_free(j);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
}

/* A suspension stops code that goes on computing instead of waiting, and
   works without a journal too. */
ERYX_TEST(suspension_stops_busy_code_and_plain_executes)
{
    eryx_config *cfg = fetch_config(1);
    eryx_result *r = run_with(cfg, "import asyncio\n"
                                   "t = asyncio.ensure_future(fetch(key='d'))\n"
                                   "await asyncio.sleep(0)\n"
                                   "while True:\n"
                                   "    pass\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_SUSPENDED);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "suspended");
    eryx_result_free(r);
    eryx_config_free(cfg);
}

ERYX_TEST(a_session_rolls_back_when_its_run_is_suspended)
{
    eryx_config *cfg = fetch_config(1);
    eryx_session *ss = new_session(cfg);
    session_expect(ss, "counter = 1", "");
    eryx_journal *j = journal_of(NULL);
    static const char code[] = "counter += 1\n"
                               "a = await fetch(key='a')\n"
                               "d = await fetch(key='d')\n";
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_session_execute_journal(ss, code, strlen(code), j, &r, NULL),
              ERYX_E_SUSPENDED);
    eryx_result_free(r);
    session_expect(ss, "print(counter, 'a' in globals())", "1 False\n");
    eryx_journal_free(j);
    eryx_session_free(ss);
    eryx_config_free(cfg);
}

ERYX_TEST(malformed_journals_are_refused)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"entries\":1}",
        "{\"version\":2,\"entries\":[]}",
        "{\"code\":3,\"entries\":[]}",
        "{\"entries\":[1]}",
        "{\"entries\":[{\"args\":{},\"result\":1}]}",
        "{\"entries\":[{\"name\":\"f\",\"result\":1}]}",
        "{\"entries\":[{\"name\":\"f\",\"args\":{}}]}",
        "{\"entries\":[{\"name\":\"f\",\"args\":{},\"result\":1,\"error\":"
        "\"e\"}]}",
        "{\"entries\":[{\"name\":\"f\",\"args\":{},\"error\":5}]}",
        "{\"entries\":[{\"name\":\"f\",\"args\":{},\"result\":1,\"index\":4}]}",
        "{\"entries\":[{\"name\":\"f\",\"args\":{},\"result\":1,"
        "\"args_hash\":\"0\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eryx_journal *j = NULL;
        eryx_error err;
        ASSERT_EQ(eryx_journal_new(bad[i], strlen(bad[i]), &j, &err),
                  ERYX_E_INVALID_INPUT);
        ASSERT(j == NULL);
        ASSERT_CONTAINS(err.message, "invalid journal");
    }
    eryx_journal *j = NULL;
    ASSERT_EQ(eryx_journal_new("{\"entries\":[]}", 14, &j, NULL), ERYX_OK);
    ASSERT(eryx_journal_json(j, NULL) == NULL); /* no run yet */
    eryx_journal_free(j);
    eryx_journal_free(NULL);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(record_then_replay_without_running_handlers),
        ERYX_TEST_ENTRY(the_first_mismatch_goes_live_and_everything_after_it),
        ERYX_TEST_ENTRY(arguments_match_whatever_their_order),
        ERYX_TEST_ENTRY(a_suspended_run_resumes_from_its_journal),
        ERYX_TEST_ENTRY(suspension_stops_busy_code_and_plain_executes),
        ERYX_TEST_ENTRY(a_session_rolls_back_when_its_run_is_suspended),
        ERYX_TEST_ENTRY(malformed_journals_are_refused),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
