/*
** calls.c: the imports through which the guest calls host callbacks
** (invoke-start, invoke-wait, invoke-read, list-callbacks), over the
** instance's hub (callbacks/).
*/
#include <string.h>

#include "imports/imports.h"

/* invoke-start(name_ptr, name_len, args_ptr, args_len) -> handle */
static wasm_trap_t *
invoke_start(eryx__import_env *env,
             const wasmtime_val_t *args,
             wasmtime_val_t *results)
{
    char *name = NULL, *json = NULL;
    size_t name_len, json_len;
    wasm_trap_t *trap =
        eryx__imports_copy(env, args[0].of.i32, args[1].of.i32, &name,
                           &name_len, "invoke-start bounds");
    if (trap == NULL)
        trap = eryx__imports_copy(env, args[2].of.i32, args[3].of.i32, &json,
                                  &json_len, "invoke-start bounds");
    if (trap == NULL && !eryx__store_scrub(env->st, &json, &json_len))
        trap = eryx__imports_nomem(env->st);
    if (trap != NULL) {
        eryx__free(name);
        eryx__free(json);
        return trap;
    }
    const eryx__settings *set = env->st->settings;
    bool nomem;
    uint32_t handle = eryx__hub_start(env->st->hub, &set->callbacks, &set->hub,
                                      env->st->workers, name, name_len, json,
                                      json_len, &nomem);
    eryx__free(name);
    eryx__free(json);
    if (nomem)
        return eryx__imports_nomem(env->st);
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = (int32_t)handle;
    return NULL;
}

/* invoke-wait(timeout_ns, out_ptr) -> ERYX_ABI_WAIT_* */
static wasm_trap_t *
invoke_wait(eryx__import_env *env,
            const wasmtime_val_t *args,
            wasmtime_val_t *results)
{
    uint32_t out_ptr = (uint32_t)args[1].of.i32;
    /* Check the out record before blocking, and again when writing it:
       the memory cannot shrink, so the first check holds. */
    uint8_t probe[ERYX_ABI_CALL_DONE_SIZE];
    if (eryx__guest_read(env->ctx, &env->memory, out_ptr, sizeof probe,
                         probe) != ERYX_OK)
        return eryx__imports_violation(env->st, "invoke-wait out pointer");
    eryx_abi_call_done done = {0, 0, 0};
    int32_t r =
        eryx__hub_wait(env->st->hub, args[0].of.i64, &env->st->stop, &done);
    if (r == ERYX_ABI_WAIT_STOP)
        return eryx__imports_stop(env->st); /* no user code runs after a stop */
    if (r == ERYX_ABI_WAIT_DONE) {
        uint8_t rec[ERYX_ABI_CALL_DONE_SIZE];
        eryx__le_put(rec, done.handle, 4);
        eryx__le_put(rec + 4, done.ok, 4);
        eryx__le_put(rec + 8, done.len, 4);
        if (eryx__guest_write(env->ctx, &env->memory, out_ptr, rec,
                              sizeof rec) != ERYX_OK)
            return eryx__imports_violation(env->st, "invoke-wait out pointer");
    }
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = r;
    return NULL;
}

/* invoke-read(handle, buf_ptr, buf_len) -> 0, or -1 for an unknown handle.
   Copies at most buf_len bytes of the payload. */
static wasm_trap_t *
invoke_read(eryx__import_env *env,
            const wasmtime_val_t *args,
            wasmtime_val_t *results)
{
    char *payload = NULL;
    size_t len = 0;
    uint32_t buf = (uint32_t)args[1].of.i32, cap = (uint32_t)args[2].of.i32;
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = -1;
    /* The whole buffer the guest declares must be its own. */
    if (!eryx__guest_check(env->ctx, &env->memory, buf, cap))
        return eryx__imports_violation(env->st, "invoke-read buffer");
    if (!eryx__hub_take(env->st->hub, (uint32_t)args[0].of.i32, &payload, &len))
        return NULL;
    eryx_status s = eryx__guest_write(env->ctx, &env->memory, buf, payload,
                                      len < cap ? len : cap);
    eryx__free(payload);
    if (s != ERYX_OK)
        return eryx__imports_violation(env->st, "invoke-read buffer");
    results[0].of.i32 = 0;
    return NULL;
}

/* list-callbacks(buf_ptr, buf_len) -> the JSON's full length; copies at
   most buf_len bytes. */
static wasm_trap_t *
list_callbacks(eryx__import_env *env,
               const wasmtime_val_t *args,
               wasmtime_val_t *results)
{
    const char *json = eryx__registry_json(&env->st->settings->callbacks);
    size_t len = strlen(json);
    uint32_t buf = (uint32_t)args[0].of.i32, cap = (uint32_t)args[1].of.i32;
    /* The whole buffer the guest declares must be its own. */
    if (!eryx__guest_check(env->ctx, &env->memory, buf, cap) ||
        eryx__guest_write(env->ctx, &env->memory, buf, json,
                          len < cap ? len : cap) != ERYX_OK)
        return eryx__imports_violation(env->st, "list-callbacks buffer");
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = (int32_t)len;
    return NULL;
}

const eryx__import eryx__calls_imports[] = {
    {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_INVOKE_START, "iiii", "i",
     invoke_start},
    {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_INVOKE_WAIT, "Ii", "i",
     invoke_wait},
    {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_INVOKE_READ, "iii", "i",
     invoke_read},
    {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_LIST_CALLBACKS, "ii", "i",
     list_callbacks},
};
const size_t eryx__calls_count = ERYX__COUNT(eryx__calls_imports);
