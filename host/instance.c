/*
** instance.c: one store and instance of the guest, and the calls into its
** exports (eryx__instance_*).  Sandboxes and sessions are built on it.
** What the guest returns is decoded and checked in guest.c only.
*/
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define STDLIB_GUEST_DIR "/lib/python" ERYX_PYTHON_MAJOR_MINOR

static bool
get_func(eryx__instance *in, const char *name, wasmtime_func_t *out)
{
    wasmtime_extern_t ext;
    if (!wasmtime_instance_export_get(in->ctx, &in->instance, name,
                                      strlen(name), &ext) ||
        ext.kind != WASMTIME_EXTERN_FUNC)
        return false;
    *out = ext.of.func;
    return true;
}

/* Call `fn` with i32 arguments; store its one i32 result (if `ret`). */
static eryx_status
call_i32(eryx__instance *in,
         const wasmtime_func_t *fn,
         const uint32_t *args,
         size_t nargs,
         uint32_t *ret,
         eryx_error *err,
         const char *what)
{
    wasmtime_val_t argv[4], result;
    if (nargs > 4)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "too many arguments");
    for (size_t i = 0; i < nargs; i++) {
        argv[i].kind = WASMTIME_I32;
        argv[i].of.i32 = (int32_t)args[i];
    }
    wasm_trap_t *trap = NULL;
    wasmtime_error_t *e = wasmtime_func_call(in->ctx, fn, argv, nargs, &result,
                                             ret ? 1 : 0, &trap);
    if (e != NULL || trap != NULL) {
        int exit_status;
        if (e != NULL && wasmtime_error_exit_status(e, &exit_status)) {
            wasmtime_error_delete(e);
            return eryx__fail(err, ERYX_E_TRAP,
                              "%s: the guest exited with status %d", what,
                              exit_status);
        }
        return eryx__fail_wasmtime(err, ERYX_E_TRAP, e, trap, what);
    }
    if (ret != NULL) {
        if (result.kind != WASMTIME_I32)
            return eryx__fail(err, ERYX_E_ABI, "%s: result is not an i32",
                              what);
        *ret = (uint32_t)result.of.i32;
    }
    return ERYX_OK;
}

static ptrdiff_t
discard_output(void *data, const unsigned char *buf, size_t len)
{
    (void)data;
    (void)buf;
    return (ptrdiff_t)len;
}

/* The guest's WASI view of the host: the stdlib, read-only, and nothing
   else: no environment, no arguments beyond a program name, no stdin, and
   descriptor-level writes to 1 and 2 go nowhere (Python's sys.stdout and
   sys.stderr are captured inside the guest). */
static wasi_config_t *
make_wasi(const eryx_engine *engine)
{
    wasi_config_t *wasi = wasi_config_new();
    if (wasi == NULL)
        return NULL;
    const char *argv[] = {"python"};
    wasi_config_set_argv(wasi, 1, argv);
    wasi_config_set_stdout_custom(wasi, discard_output, NULL, NULL);
    wasi_config_set_stderr_custom(wasi, discard_output, NULL, NULL);
    if (!wasi_config_preopen_dir(wasi, engine->stdlib_dir, STDLIB_GUEST_DIR,
                                 false)) {
        wasi_config_delete(wasi);
        return NULL;
    }
    return wasi;
}

eryx_status
eryx__instance_start(eryx__instance *in,
                     const eryx_engine *engine,
                     eryx_error *err)
{
    memset(in, 0, sizeof *in);
    in->store = wasmtime_store_new(engine->wasm, NULL, NULL);
    if (in->store == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "cannot create a store");
    in->ctx = wasmtime_store_context(in->store);

    eryx_status s;
    wasi_config_t *wasi = make_wasi(engine);
    if (wasi == NULL) {
        s = eryx__fail(err, ERYX_E_IO, "cannot mount the stdlib %s",
                       engine->stdlib_dir);
        goto fail;
    }
    wasmtime_error_t *e = wasmtime_context_set_wasi(in->ctx, wasi);
    if (e != NULL) {
        s = eryx__fail_wasmtime(err, ERYX_E_ENGINE, e, NULL, "wasi");
        goto fail;
    }
    wasm_trap_t *trap = NULL;
    e = wasmtime_instance_pre_instantiate(engine->pre, in->ctx, &in->instance,
                                          &trap);
    if (e != NULL || trap != NULL) {
        s = eryx__fail_wasmtime(err, ERYX_E_ENGINE, e, trap,
                                "cannot instantiate the guest");
        goto fail;
    }

    wasmtime_extern_t mem;
    wasmtime_func_t ctors, version, init, post_init;
    if (!wasmtime_instance_export_get(in->ctx, &in->instance,
                                      ERYX_ABI_EXPORT_MEMORY,
                                      strlen(ERYX_ABI_EXPORT_MEMORY), &mem) ||
        mem.kind != WASMTIME_EXTERN_MEMORY ||
        !get_func(in, ERYX_ABI_EXPORT_REALLOC, &in->realloc_fn) ||
        !get_func(in, ERYX_ABI_EXPORT_EXECUTE, &in->execute_fn) ||
        !get_func(in, ERYX_ABI_EXPORT_POST_EXECUTE, &in->post_execute_fn) ||
        !get_func(in, ERYX_ABI_EXPORT_VERSION, &version) ||
        !get_func(in, ERYX_ABI_EXPORT_INITIALIZE, &init) ||
        !get_func(in, ERYX_ABI_EXPORT_POST_INITIALIZE, &post_init)) {
        s = eryx__fail(err, ERYX_E_ABI, "the guest lacks an eryx export");
        goto fail;
    }
    in->memory = mem.of.memory;

    uint32_t abi = 0, ret = 0;
    s = call_i32(in, &version, NULL, 0, &abi, err, "eryx_abi_version");
    if (s != ERYX_OK)
        goto fail;
    if (abi != ERYX_ABI_VERSION) {
        s = eryx__fail(err, ERYX_E_ABI, "guest ABI %u, host ABI %u", abi,
                       ERYX_ABI_VERSION);
        goto fail;
    }
    /* A WASI reactor runs its C constructors from _initialize. */
    if (get_func(in, "_initialize", &ctors) &&
        (s = call_i32(in, &ctors, NULL, 0, NULL, err, "_initialize")) !=
            ERYX_OK)
        goto fail;
    s = call_i32(in, &init, NULL, 0, &ret, err, "initialize");
    if (s != ERYX_OK)
        goto fail;

    uint8_t area[ERYX_ABI_UNIT_RET_SIZE], tag;
    eryx_abi_string why;
    if (eryx__guest_read(in->ctx, &in->memory, ret, sizeof area, area) !=
            ERYX_OK ||
        eryx__decode_unit_ret(area, &tag, &why) != ERYX_OK) {
        s = eryx__fail(err, ERYX_E_ABI, "initialize returned a bad pointer");
        goto fail;
    }
    if (tag == ERYX_ABI_ERR) {
        char *text = NULL;
        size_t len;
        eryx__guest_string(in->ctx, &in->memory, why, &text, &len);
        s = eryx__fail(err, ERYX_E_ENGINE, "guest initialization failed: %s",
                       text ? text : "(unreadable message)");
        eryx__free(text);
        goto fail;
    }
    s = call_i32(in, &post_init, &ret, 1, NULL, err, "cabi_post_initialize");
    if (s != ERYX_OK)
        goto fail;
    in->live = true;
    return ERYX_OK;

fail:
    eryx__instance_stop(in);
    return s;
}

void
eryx__instance_stop(eryx__instance *in)
{
    if (in->store != NULL)
        wasmtime_store_delete(in->store);
    memset(in, 0, sizeof *in);
}

/* Place `len` bytes in guest memory through cabi_realloc. */
static eryx_status
put_bytes(eryx__instance *in,
          const char *data,
          size_t len,
          uint32_t *ptr,
          eryx_error *err)
{
    if (len > UINT32_MAX - 1)
        return eryx__fail(err, ERYX_E_INVALID_INPUT, "input exceeds 4 GiB");
    uint32_t args[4] = {0, 0, 1, (uint32_t)(len ? len : 1)};
    eryx_status s =
        call_i32(in, &in->realloc_fn, args, 4, ptr, err, "cabi_realloc");
    if (s != ERYX_OK)
        return s;
    if (*ptr == 0)
        return eryx__fail(err, ERYX_E_MEMORY_LIMIT,
                          "the guest has no memory for the %zu-byte input",
                          len);
    if (eryx__guest_write(in->ctx, &in->memory, *ptr, data, len) != ERYX_OK)
        return eryx__fail(err, ERYX_E_ABI,
                          "cabi_realloc returned %u for %zu "
                          "bytes, outside memory",
                          *ptr, len);
    return ERYX_OK;
}

/* Copy guest string `s` into *dst / *dst_len. */
static eryx_status
take_string(eryx__instance *in,
            eryx_abi_string s,
            char **dst,
            size_t *dst_len,
            eryx_error *err,
            const char *what)
{
    eryx_status st = eryx__guest_string(in->ctx, &in->memory, s, dst, dst_len);
    if (st == ERYX_E_ABI)
        return eryx__fail(err, st, "the guest's %s lies outside its memory",
                          what);
    if (st != ERYX_OK)
        return eryx__fail(err, st, "out of memory copying the guest's %s",
                          what);
    return ERYX_OK;
}

eryx_status
eryx__instance_execute(eryx__instance *in,
                       const char *code,
                       size_t code_len,
                       const char *result_variable,
                       eryx_result *r)
{
    eryx_error err = {ERYX_OK, ""};
    uint32_t args[4], ret;
    eryx_status s = put_bytes(in, code, code_len, &args[0], &err);
    args[1] = (uint32_t)code_len;
    if (s == ERYX_OK)
        s = put_bytes(in, result_variable, strlen(result_variable), &args[2],
                      &err);
    args[3] = (uint32_t)strlen(result_variable);
    if (s == ERYX_OK)
        s = call_i32(in, &in->execute_fn, args, 4, &ret, &err, "execute");

    uint8_t area[ERYX_ABI_EXECUTE_RET_SIZE];
    eryx__execute_ret d;
    if (s == ERYX_OK && (eryx__guest_read(in->ctx, &in->memory, ret,
                                          sizeof area, area) != ERYX_OK ||
                         eryx__decode_execute_ret(area, &d) != ERYX_OK))
        s = eryx__fail(&err, ERYX_E_ABI, "execute returned a bad result");
    if (s == ERYX_OK)
        s = take_string(in, d.stdout_text, &r->stdout_text, &r->stdout_len,
                        &err, "stdout");
    if (s == ERYX_OK)
        s = take_string(in, d.stderr_text, &r->stderr_text, &r->stderr_len,
                        &err, "stderr");
    if (s == ERYX_OK && d.tag == ERYX_ABI_ERR) {
        s = take_string(in, d.message, &r->error, &r->error_len, &err,
                        "error message");
        if (s == ERYX_OK)
            s = ERYX_E_PYTHON;
    }
    if (s == ERYX_OK && d.has_json)
        s = take_string(in, d.json, &r->json, &r->json_len, &err, "result");
    if (s == ERYX_OK && d.has_json_error)
        s = take_string(in, d.json_error, &r->json_error, &r->json_error_len,
                        &err, "result error");
    if (s == ERYX_OK || s == ERYX_E_PYTHON) {
        eryx_status post = call_i32(in, &in->post_execute_fn, &ret, 1, NULL,
                                    &err, "cabi_post_execute");
        if (post != ERYX_OK)
            s = post;
    }
    r->status = s;
    if (s != ERYX_OK && s != ERYX_E_PYTHON) {
        eryx__result_fail(r, s, err.message);
        /* The instance may be mid-update; it is never used again. */
        eryx__instance_stop(in);
    }
    return s;
}
