/*
** test_status.c: every status code of eryx.h, produced the way its
** documentation says, each with its own text.
*/
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "sandbox_fixture.h"

/* Run `code` with `cfg`; the execute must end with `want`, and the result
   must say why when it failed. */
static void
expect_status(const eryx_config *cfg, const char *code, eryx_status want)
{
    eryx_result *r = run_with(cfg, code);
    if (eryx_result_status(r) != want)
        ERYX_TEST_FAIL_("wanted %s, got %s: %s", eryx_status_str(want),
                        eryx_status_str(eryx_result_status(r)),
                        eryx_result_error(r, NULL));
    if (want != ERYX_OK) {
        ASSERT_NOT_NULL(eryx_result_error(r, NULL));
        ASSERT(eryx_result_error(r, NULL)[0] != '\0');
    }
    eryx_result_free(r);
}

static eryx_config *
config(void)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    return cfg;
}

ERYX_TEST(every_code_has_its_own_text)
{
    const eryx_status all[] = {
#define ERYX_STATUS_LIST_(name, value, text) name,
        ERYX_STATUS_MAP(ERYX_STATUS_LIST_)
#undef ERYX_STATUS_LIST_
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        ASSERT(strcmp(eryx_status_str(all[i]), "unknown status") != 0);
        for (size_t j = 0; j < i; j++)
            ASSERT(strcmp(eryx_status_str(all[i]), eryx_status_str(all[j])) !=
                   0);
    }
    ASSERT_STR_EQ(eryx_status_str((eryx_status)99), "unknown status");
}

ERYX_TEST(ok_python_invalid_input)
{
    expect_status(NULL, "pass", ERYX_OK);
    expect_status(NULL, "1/0", ERYX_E_PYTHON);
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), NULL, &sb, NULL), ERYX_OK);
    ASSERT_EQ(eryx_sandbox_execute(sb, "a\0b", 3, &r, NULL),
              ERYX_E_INVALID_INPUT);
    eryx_result_free(r);
    eryx_sandbox_free(sb);
}

ERYX_TEST(nomem)
{
    eryx_config *cfg = NULL;
    eryx_error err;
    eryx__alloc_fail_nth(1);
    ASSERT_EQ(eryx_config_new(&cfg, &err), ERYX_E_NOMEM);
    ASSERT_EQ(err.status, ERYX_E_NOMEM);
    ASSERT_STR_EQ(err.message, "out of memory");
    ASSERT_NULL(cfg);
}

ERYX_TEST(invalid_arg)
{
    eryx_sandbox *sb = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_sandbox_new(NULL, NULL, &sb, &err), ERYX_E_INVALID_ARG);
    ASSERT_CONTAINS(err.message, "engine is NULL");
}

/* An engine over the guest file holding `bytes`, with no code cache. */
static eryx_status
engine_over(const void *bytes, size_t len, eryx_engine **eng, eryx_error *err)
{
    char dir[] = "/tmp/eryx-status-XXXXXX", path[64];
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/runtime.wasm", dir);
    FILE *f = fopen(path, "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fwrite(bytes, 1, len, f), len);
    ASSERT_EQ(fclose(f), 0);
    eryx_config *cfg = config();
    ASSERT_EQ(eryx_config_set_runtime_path(cfg, path, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_cache_dir(cfg, "", NULL), ERYX_OK);
    eryx_status s = eryx_engine_new(cfg, eng, err);
    eryx_config_free(cfg);
    unlink(path);
    rmdir(dir);
    return s;
}

ERYX_TEST(io_and_engine)
{
    eryx_engine *eng = NULL;
    eryx_error err;
    eryx_config *cfg = config();
    ASSERT_EQ(
        eryx_config_set_runtime_path(cfg, "/nonexistent/runtime.wasm", NULL),
        ERYX_OK);
    ASSERT_EQ(eryx_engine_new(cfg, &eng, &err), ERYX_E_IO);
    ASSERT_CONTAINS(err.message, "/nonexistent/runtime.wasm");
    eryx_config_free(cfg);
    /* Not WebAssembly: Wasmtime cannot compile it. */
    ASSERT_EQ(engine_over("not wasm", 8, &eng, &err), ERYX_E_ENGINE);
    ASSERT_CONTAINS(err.message, "cannot compile the guest");
    ASSERT_NULL(eng);
}

ERYX_TEST(abi)
{
    /* A valid module that exports a memory and nothing of eryx's. */
    static const unsigned char module[] = {
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, /* magic, v1 */
        0x05, 0x03, 0x01, 0x00, 0x01,                   /* memory 1 */
        0x07, 0x0a, 0x01, 0x06, 'm',  'e',  'm',  'o',  'r', 'y', 0x02, 0x00};
    eryx_engine *eng = NULL;
    eryx_error err;
    ASSERT_EQ(engine_over(module, sizeof module, &eng, &err), ERYX_OK);
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_new(eng, NULL, &sb, NULL), ERYX_OK);
    ASSERT_EQ(eryx_sandbox_execute(sb, "pass", 4, &r, &err), ERYX_E_ABI);
    ASSERT_CONTAINS(err.message, "lacks an eryx export");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    eryx_engine_free(eng);
}

ERYX_TEST(busy)
{
    eryx_pool_options opt;
    eryx_pool_options_init(&opt);
    opt.max_size = 1;
    opt.acquire_timeout_ms = 0;
    eryx_pool *pool = NULL;
    eryx_session *a = NULL, *b = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_pool_new(test_engine(), NULL, &opt, &pool, NULL), ERYX_OK);
    ASSERT_EQ(eryx_pool_acquire(pool, &a, NULL), ERYX_OK);
    ASSERT_EQ(eryx_pool_acquire(pool, &b, &err), ERYX_E_BUSY);
    ASSERT_CONTAINS(err.message, "no pooled session came free");
    eryx_pool_release(pool, a);
    eryx_pool_free(pool);
}

ERYX_TEST(limits)
{
    eryx_config *cfg = config();
    ASSERT_EQ(eryx_config_set_timeout_ms(cfg, 200, NULL), ERYX_OK);
    expect_status(cfg, "while True: pass", ERYX_E_TIMEOUT);
    eryx_config_free(cfg);

    cfg = config();
    ASSERT_EQ(eryx_config_set_fuel(cfg, 100000, NULL), ERYX_OK);
    expect_status(cfg, "while True: pass", ERYX_E_FUEL);
    eryx_config_free(cfg);

    cfg = config();
    ASSERT_EQ(eryx_config_set_memory_limit(cfg, 64u << 20, NULL), ERYX_OK);
    expect_status(cfg, "x = bytearray(100 << 20)", ERYX_E_MEMORY_LIMIT);
    /* Caught, it is an ordinary exception again. */
    expect_status(cfg,
                  "try:\n    x = bytearray(100 << 20)\n"
                  "except MemoryError:\n    raise ValueError('caught')\n",
                  ERYX_E_PYTHON);
    eryx_config_free(cfg);

    cfg = config();
    ASSERT_EQ(eryx_config_set_output_limit(cfg, 1024, NULL), ERYX_OK);
    expect_status(cfg, "print('x' * 5000)", ERYX_OK); /* truncated */
    ASSERT_EQ(eryx_config_set_output_overflow(cfg, ERYX_OUTPUT_FAIL, NULL),
              ERYX_OK);
    expect_status(cfg, "print('x' * 5000)\nwhile True: pass",
                  ERYX_E_OUTPUT_LIMIT);
    ASSERT_EQ(
        eryx_config_set_output_overflow(cfg, (eryx_output_overflow)7, NULL),
        ERYX_E_INVALID_ARG);
    eryx_config_free(cfg);
}

ERYX_TEST(trap)
{
    expect_status(NULL, "import os\nos._exit(3)", ERYX_E_TRAP);
}

static eryx_sandbox *victim; /* the sandbox the callback cancels */

static void
cancel_me(void *ud, const char *args, size_t len, eryx_call *call)
{
    (void)ud, (void)args, (void)len;
    eryx_sandbox_cancel(victim);
    eryx_call_return(call, "null", 4);
}

ERYX_TEST(cancelled)
{
    eryx_config *cfg = config();
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_config_add_callback(cfg, "stop", "", NULL, cancel_me, NULL,
                                       NULL, NULL),
              ERYX_OK);
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &victim, NULL), ERYX_OK);
    const char *code = "await stop()\nwhile True: pass";
    ASSERT_EQ(eryx_sandbox_execute(victim, code, strlen(code), &r, NULL),
              ERYX_E_CANCELLED);
    eryx_result_free(r);
    eryx_sandbox_free(victim);
    eryx_config_free(cfg);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(every_code_has_its_own_text),
        ERYX_TEST_ENTRY(ok_python_invalid_input),
        ERYX_TEST_ENTRY(nomem),
        ERYX_TEST_ENTRY(invalid_arg),
        ERYX_TEST_ENTRY(io_and_engine),
        ERYX_TEST_ENTRY(abi),
        ERYX_TEST_ENTRY(busy),
        ERYX_TEST_ENTRY(limits),
        ERYX_TEST_ENTRY(trap),
        ERYX_TEST_ENTRY(cancelled),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
