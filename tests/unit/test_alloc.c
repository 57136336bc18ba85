/*
** test_alloc.c: allocation-failure injection.  For each scenario (engine
** creation, sandbox and session creation, execute, a callback round trip,
** a state snapshot and restore, an image capture and start, and freeing
** them all) the Nth allocation of liberyx (cJSON's included) is made to
** fail, for every N until the scenario runs through without reaching it.
** Each failure must come back as ERYX_E_NOMEM with a message; nothing may
** crash, and under ASan/LSan nothing may leak.
*/
/* The engine's ready interpreters off: its background thread would
   allocate at moments of its own, and the Nth allocation of a scenario
   would not be the scenario's. */
#define ERYX_FIXTURE_READY_INSTANCES 0
#include "core/internal.h"
#include "sandbox_fixture.h"

/* One scenario: returns the first status that is not ERYX_OK (with its
   message in err), or ERYX_OK.  Frees whatever it made either way. */
typedef eryx_status (*scenario)(eryx_error *err);

static eryx_status
engine_create(eryx_error *err)
{
    eryx_engine *eng = NULL;
    eryx_status s = eryx_engine_new(NULL, &eng, err);
    eryx_engine_free(eng);
    return s;
}

static eryx_status
sandbox_and_session_create(eryx_error *err)
{
    eryx_config *cfg = NULL;
    eryx_sandbox *sb = NULL;
    eryx_session *ss = NULL;
    eryx_status s = eryx_config_new(&cfg, err);
    if (s == ERYX_OK)
        s = eryx_config_set_result_variable(cfg, "answer", err);
    if (s == ERYX_OK)
        s = eryx_sandbox_new(test_engine(), cfg, &sb, err);
    if (s == ERYX_OK)
        s = eryx_session_new(test_engine(), cfg, &ss, err);
    eryx_session_free(ss);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
    return s;
}

static eryx_status
execute(eryx_error *err)
{
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    eryx_status s = eryx_sandbox_new(test_engine(), NULL, &sb, err);
    const char *code = "import sys\nprint('out')\nprint('err', file=sys.stderr)"
                       "\nresult = {'a': [1, 2]}\n";
    if (s == ERYX_OK)
        s = eryx_sandbox_execute(sb, code, strlen(code), &r, err);
    if (s == ERYX_OK && strcmp(eryx_result_json(r, NULL), "{\"a\": [1, 2]}"))
        ERYX_TEST_FAIL_("wrong result: %s", eryx_result_json(r, NULL));
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    return s;
}

static eryx_status
callback_round_trip(eryx_error *err)
{
    eryx_config *cfg = NULL;
    eryx_session *ss = NULL;
    eryx_result *r = NULL;
    eryx_status s = eryx_config_new(&cfg, err);
    if (s == ERYX_OK)
        s = eryx_config_add_callback(
            cfg, "echo", "Echo.",
            "{\"properties\": {\"x\": {\"type\": \"integer\"}}}", echo_handler,
            NULL, NULL, err);
    if (s == ERYX_OK)
        s = eryx_session_new(test_engine(), cfg, &ss, err);
    const char *code = "print((await echo(x=1))['x'])";
    if (s == ERYX_OK)
        s = eryx_session_execute(ss, code, strlen(code), &r, err);
    if (s == ERYX_OK)
        ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "1\n");
    eryx_result_free(r);
    eryx_session_free(ss);
    eryx_config_free(cfg);
    return s;
}

static eryx_status
snapshot_and_restore(eryx_error *err)
{
    eryx_session *ss = NULL, *other = NULL;
    eryx_result *r = NULL;
    eryx_snapshot *snap = NULL;
    eryx_status s = eryx_session_new(test_engine(), NULL, &ss, err);
    if (s == ERYX_OK)
        s = eryx_session_execute(ss, "x = [1, 2]", 10, &r, err);
    eryx_result_free(r);
    r = NULL;
    if (s == ERYX_OK)
        s = eryx_session_snapshot_state(ss, &snap, err);
    if (s == ERYX_OK)
        s = eryx_session_new(test_engine(), NULL, &other, err);
    size_t len = 0;
    const uint8_t *data = eryx_snapshot_data(snap, &len);
    if (s == ERYX_OK)
        s = eryx_session_restore_state(other, data, len, err);
    if (s == ERYX_OK)
        s = eryx_session_execute(other, "print(x)", 8, &r, err);
    if (s == ERYX_OK)
        ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "[1, 2]\n");
    eryx_result_free(r);
    eryx_snapshot_free(snap);
    eryx_session_free(other);
    eryx_session_free(ss);
    return s;
}

static eryx_status
image_capture_and_start(eryx_error *err)
{
    eryx_session *ss = NULL, *fork = NULL;
    eryx_result *r = NULL;
    eryx_image *img = NULL;
    eryx_status s = eryx_session_new(test_engine(), NULL, &ss, err);
    if (s == ERYX_OK)
        s = eryx_session_execute(ss, "y = 41", 6, &r, err);
    eryx_result_free(r);
    r = NULL;
    if (s == ERYX_OK)
        s = eryx_session_capture(ss, &img, err);
    if (s == ERYX_OK)
        s = eryx_session_new_from_image(test_engine(), NULL, img, &fork, err);
    if (s == ERYX_OK)
        s = eryx_session_execute(fork, "print(y + 1)", 12, &r, err);
    if (s == ERYX_OK)
        ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "42\n");
    eryx_result_free(r);
    eryx_session_free(fork);
    eryx_image_free(img);
    eryx_session_free(ss);
    return s;
}

/* Fail the 1st, 2nd, ... allocation of `run` until it makes no more. */
static void
sweep(const char *name, scenario scene)
{
    eryx_error err;
    if (scene(&err) != ERYX_OK) /* warm: the fixture's engine, caches */
        ERYX_TEST_FAIL_("%s fails without injection: %s", name, err.message);
    uint64_t n;
    for (n = 1;; n++) {
        eryx__alloc_fail_nth(n);
        memset(&err, 0, sizeof err);
        eryx_status s = scene(&err);
        uint64_t made = eryx__alloc_fail_nth(0);
        if (made < n) { /* never reached: it ran through */
            if (s != ERYX_OK)
                ERYX_TEST_FAIL_("%s: %s without a failure", name, err.message);
            break;
        }
        if (s != ERYX_E_NOMEM)
            ERYX_TEST_FAIL_("%s, allocation %" PRIu64 " of %" PRIu64
                            " failed: got %s (%s), not out of memory",
                            name, n, made, eryx_status_str(s), err.message);
        if (err.status != ERYX_E_NOMEM || err.message[0] == '\0')
            ERYX_TEST_FAIL_("%s, allocation %" PRIu64 ": no message", name, n);
    }
    printf("%s: %" PRIu64 " allocations, each failed once\n", name, n - 1);
}

ERYX_TEST(engine_creation)
{
    sweep("engine creation", engine_create);
}
ERYX_TEST(creation)
{
    sweep("sandbox and session creation", sandbox_and_session_create);
}
ERYX_TEST(execute)
{
    sweep("execute", execute);
}
ERYX_TEST(callback)
{
    sweep("callback round trip", callback_round_trip);
}
ERYX_TEST(snapshot)
{
    sweep("snapshot and restore", snapshot_and_restore);
}
ERYX_TEST(image)
{
    sweep("image capture and start", image_capture_and_start);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(engine_creation), ERYX_TEST_ENTRY(creation),
        ERYX_TEST_ENTRY(execute),         ERYX_TEST_ENTRY(callback),
        ERYX_TEST_ENTRY(snapshot),        ERYX_TEST_ENTRY(image),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
