/*
** test_hostcalls.c: every host import, called by a hostile guest
** (tests/fixtures/hostile.wat) with out-of-range, overflowing and negative
** pointers and lengths.  The host must trap the guest (marking the ABI
** violation) or return an error code, and never crash or touch memory
** outside the guest's.
*/
#include "eryx_test.h"
#include "imports/imports.h"

#ifndef HOSTILE_WASM
#error "HOSTILE_WASM must name the compiled tests/fixtures/hostile.wat"
#endif

static void
ignore_trace(
    void *ud, eryx_trace_kind k, uint32_t line, const char *j, size_t n)
{
    (void)ud, (void)k, (void)line, (void)j, (void)n;
}

typedef struct world {
    wasm_engine_t *engine;
    wasmtime_store_t *store;
    wasmtime_context_t *ctx;
    wasmtime_instance_t instance;
    eryx__store *st;
    eryx__settings settings;
    eryx__workers *pool;
} world;

static void
setup(world *w)
{
    memset(w, 0, sizeof *w);
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(
        eryx_config_set_trace_handler(cfg, ignore_trace, NULL, NULL, NULL),
        ERYX_OK);
    ASSERT_EQ(eryx__settings_copy(&w->settings, cfg, NULL), ERYX_OK);
    eryx_config_free(cfg);
    w->engine = wasm_engine_new();
    w->pool = eryx__workers_new();
    w->st = eryx__store_new(&w->settings, w->pool);
    ASSERT_NOT_NULL(w->st);
    eryx__vfs_spec spec = {.stdlib_fd = -1,
                           .stdlib_path = "/lib/python3.13",
                           .data_path = "/data",
                           .quota_bytes = 1 << 20};
    ASSERT_EQ(eryx__vfs_new(&spec, &w->st->vfs, NULL), ERYX_OK);
    w->store = wasmtime_store_new(w->engine, w->st, NULL);
    w->ctx = wasmtime_store_context(w->store);

    FILE *f = fopen(HOSTILE_WASM, "rb");
    ASSERT_NOT_NULL(f);
    static uint8_t bytes[1 << 16];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    wasmtime_module_t *module = NULL;
    ASSERT_NULL(wasmtime_module_new(w->engine, bytes, n, &module));
    wasmtime_linker_t *linker = wasmtime_linker_new(w->engine);
    ASSERT_EQ(eryx__imports_define(linker, NULL), ERYX_OK);
    wasm_trap_t *trap = NULL;
    wasmtime_error_t *e = wasmtime_linker_instantiate(linker, w->ctx, module,
                                                      &w->instance, &trap);
    if (e != NULL) {
        wasm_byte_vec_t msg;
        wasmtime_error_message(e, &msg);
        ERYX_TEST_FAIL_("instantiate: %.*s", (int)msg.size, msg.data);
    }
    ASSERT_NULL(trap);
    wasmtime_linker_delete(linker);
    wasmtime_module_delete(module);
}

static void
teardown(world *w)
{
    wasmtime_store_delete(w->store);
    eryx__store_free(w->st);
    eryx__workers_free(w->pool);
    eryx__settings_clear(&w->settings);
    wasm_engine_delete(w->engine);
}

/* Call export `name`; returns whether it trapped (the trap's or error's
   message in `why`), and its i32 result otherwise. */
static bool
call(world *w, const char *name, int32_t *result, char *why, size_t why_len)
{
    wasmtime_extern_t ext;
    ASSERT(wasmtime_instance_export_get(w->ctx, &w->instance, name,
                                        strlen(name), &ext));
    wasmtime_val_t out;
    wasm_trap_t *trap = NULL;
    wasmtime_error_t *e = wasmtime_func_call(w->ctx, &ext.of.func, NULL, 0,
                                             &out, result ? 1 : 0, &trap);
    if (e == NULL && trap == NULL) {
        if (result != NULL)
            *result = out.of.i32;
        return false;
    }
    wasm_byte_vec_t msg;
    if (e != NULL)
        wasmtime_error_message(e, &msg);
    else
        wasm_trap_message(trap, &msg);
    snprintf(why, why_len, "%.*s", (int)msg.size, msg.data);
    wasm_byte_vec_delete(&msg);
    if (e != NULL)
        wasmtime_error_delete(e);
    if (trap != NULL)
        wasm_trap_delete(trap);
    return true;
}

/* Each attack must trap the guest as an ABI violation. */
static void
expect_violation(const char *name)
{
    world w;
    setup(&w);
    char why[4096];
    if (!call(&w, name, NULL, why, sizeof why))
        ERYX_TEST_FAIL_("%s: the host did not trap", name);
    if (strstr(why, "broke the ABI") == NULL)
        ERYX_TEST_FAIL_("%s: unexpected trap %s", name, why);
    ASSERT(w.st->abi_violation);
    teardown(&w);
}

/* The call must return `expected` without trapping. */
static void
expect_result(const char *name, int32_t expected)
{
    world w;
    setup(&w);
    char why[4096];
    int32_t r = 0;
    if (call(&w, name, &r, why, sizeof why))
        ERYX_TEST_FAIL_("%s trapped: %s", name, why);
    ASSERT_EQ(r, expected);
    ASSERT(!w.st->abi_violation);
    teardown(&w);
}

ERYX_TEST(invoke_start_rejects_bad_pointers)
{
    expect_violation("start_name_past_the_end");
    expect_violation("start_length_overflows");
    expect_violation("start_negative_pointer");
    expect_violation("start_args_past_the_end");
}

ERYX_TEST(invoke_wait_rejects_bad_record_pointers)
{
    expect_violation("wait_record_past_the_end");
    expect_violation("wait_record_negative");
}

ERYX_TEST(invoke_read_rejects_bad_buffers_and_unknown_handles)
{
    expect_violation("read_buffer_past_the_end");
    expect_result("read_unknown_handle", -1);
}

ERYX_TEST(list_callbacks_rejects_bad_buffers)
{
    expect_violation("list_buffer_past_the_end");
}

ERYX_TEST(report_trace_rejects_bad_pointers)
{
    expect_violation("trace_negative_pointer");
}

ERYX_TEST(report_output_rejects_bad_streams_and_pointers)
{
    expect_violation("output_bad_stream");
    expect_violation("output_past_the_end");
    expect_violation("output_length_overflows");
}

ERYX_TEST(poll_oneoff_rejects_bad_pointers_and_counts)
{
    expect_violation("poll_subscriptions_past_the_end");
    expect_violation("poll_events_past_the_end");
    expect_result("poll_too_many_subscriptions", 28); /* EINVAL */
}

ERYX_TEST(clock_time_get_rejects_bad_pointers_and_ids)
{
    expect_violation("clock_out_past_the_end");
    expect_result("clock_bad_id", 28); /* EINVAL */
}

ERYX_TEST(filesystem_imports_reject_bad_pointers)
{
    expect_violation("open_path_past_the_end");
    expect_violation("open_fd_out_past_the_end");
    expect_violation("read_iovecs_past_the_end");
    expect_violation("read_iovec_buffer_past_the_end");
    expect_violation("readdir_buffer_past_the_end");
    expect_violation("filestat_out_past_the_end");
    expect_result("open_path_too_long", 37); /* ENAMETOOLONG */
    expect_result("close_unknown_fd", 8);    /* EBADF */
}

ERYX_TEST(network_imports_reject_bad_pointers)
{
    expect_violation("net_connect_host_past_the_end");
    expect_violation("net_send_past_the_end");
    expect_violation("net_recv_past_the_end");
    expect_violation("net_tls_name_past_the_end");
    expect_violation("net_poll_entries_past_the_end");
    expect_violation("net_info_buffer_past_the_end");
    expect_violation("net_error_buffer_past_the_end");
    expect_violation("environment_buffer_past_the_end");
    expect_result("net_poll_too_many", -28);           /* -EINVAL */
    expect_result("net_send_unknown_handle", -8);      /* -EBADF */
    expect_result("net_recv_unknown_handle", -8);      /* -EBADF */
    expect_result("net_connect_without_a_policy", -2); /* -EACCES */
    expect_result("net_connect_host_with_nul", -28);   /* -EINVAL */
    expect_result("net_connect_host_too_long", -28);   /* -EINVAL */
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(invoke_start_rejects_bad_pointers),
        ERYX_TEST_ENTRY(invoke_wait_rejects_bad_record_pointers),
        ERYX_TEST_ENTRY(invoke_read_rejects_bad_buffers_and_unknown_handles),
        ERYX_TEST_ENTRY(list_callbacks_rejects_bad_buffers),
        ERYX_TEST_ENTRY(report_trace_rejects_bad_pointers),
        ERYX_TEST_ENTRY(report_output_rejects_bad_streams_and_pointers),
        ERYX_TEST_ENTRY(poll_oneoff_rejects_bad_pointers_and_counts),
        ERYX_TEST_ENTRY(clock_time_get_rejects_bad_pointers_and_ids),
        ERYX_TEST_ENTRY(filesystem_imports_reject_bad_pointers),
        ERYX_TEST_ENTRY(network_imports_reject_bad_pointers),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
