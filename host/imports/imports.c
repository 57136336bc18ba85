/*
** imports.c: every function the guest imports, defined in a linker from
** the tables of calls.c, report.c and wasi.c (eryx__imports_define), and
** what those functions share: their environment and their traps.
*/
#include <stdio.h>
#include <string.h>

#include "core/wasm_error.h"
#include "imports/imports.h"

/* The store's state and the guest's memory, from the caller; false if the
   guest has no memory export. */
static bool
import_env(wasmtime_caller_t *caller, eryx__import_env *env)
{
    env->ctx = wasmtime_caller_context(caller);
    env->st = wasmtime_context_get_data(env->ctx);
    wasmtime_extern_t mem;
    if (env->st == NULL ||
        !wasmtime_caller_export_get(caller, ERYX_ABI_EXPORT_MEMORY,
                                    strlen(ERYX_ABI_EXPORT_MEMORY), &mem) ||
        mem.kind != WASMTIME_EXTERN_MEMORY)
        return false;
    env->memory = mem.of.memory;
    return true;
}

wasm_trap_t *
eryx__imports_violation(eryx__store *st, const char *what)
{
    if (st != NULL)
        st->abi_violation = true;
    char msg[160];
    snprintf(msg, sizeof msg, "eryx: the guest broke the ABI: %s", what);
    return wasmtime_trap_new(msg, strlen(msg));
}

wasm_trap_t *
eryx__imports_stop(eryx__store *st)
{
    (void)eryx__store_check_stop(st);
    static const char msg[] = "eryx: the execution was stopped";
    return wasmtime_trap_new(msg, sizeof msg - 1);
}

wasm_trap_t *
eryx__imports_nomem(eryx__store *st)
{
    st->nomem = true;
    static const char msg[] = "eryx: the host ran out of memory";
    return wasmtime_trap_new(msg, sizeof msg - 1);
}

wasm_trap_t *
eryx__imports_copy(eryx__import_env *env,
                   int32_t ptr,
                   int32_t len,
                   char **out,
                   size_t *out_len,
                   const char *what)
{
    eryx_abi_string s = {(uint32_t)ptr, (uint32_t)len};
    size_t n;
    eryx_status c = eryx__guest_string(env->ctx, &env->memory, s, out, &n);
    if (out_len != NULL)
        *out_len = n;
    if (c == ERYX_OK)
        return NULL;
    return c == ERYX_E_ABI ? eryx__imports_violation(env->st, what)
                           : eryx__imports_nomem(env->st);
}

wasm_trap_t *
eryx__imports_output(eryx__import_env *env,
                     int stream,
                     uint32_t ptr,
                     uint32_t len,
                     const char *what)
{
    if (!eryx__guest_check(env->ctx, &env->memory, ptr, len))
        return eryx__imports_violation(env->st, what);
    const uint8_t *base = wasmtime_memory_data(env->ctx, &env->memory);
    if (!eryx__store_output(env->st, stream, (const char *)base + ptr, len))
        return eryx__imports_stop(env->st);
    return NULL;
}

/* What Wasmtime calls for every import: the shared prologue, the import's
   body (`data` is its table entry), then the shared epilogue: an
   interrupt asked for is written into the guest before it resumes (the
   waits return early for it). */
static wasm_trap_t *
trampoline(void *data,
           wasmtime_caller_t *caller,
           const wasmtime_val_t *args,
           size_t nargs,
           wasmtime_val_t *results,
           size_t nresults)
{
    (void)nargs, (void)nresults; /* Wasmtime checked them against the type */
    const eryx__import *im = data;
    eryx__import_env env;
    if (!import_env(caller, &env))
        return eryx__imports_violation(NULL, "no memory export");
    wasm_trap_t *trap = im->fn(&env, args, results);
    if (trap == NULL)
        (void)eryx__store_keyboard(env.st, env.ctx);
    return trap;
}

/* Define one import; its type comes from the type codes of its entry. */
static eryx_status
define(wasmtime_linker_t *linker, const eryx__import *im, eryx_error *err)
{
    wasm_valtype_vec_t p, r;
    size_t np = strlen(im->params), nr = strlen(im->results);
    wasm_valtype_vec_new_uninitialized(&p, np);
    wasm_valtype_vec_new_uninitialized(&r, nr);
    for (size_t i = 0; i < np; i++)
        p.data[i] =
            wasm_valtype_new(im->params[i] == 'I' ? WASM_I64 : WASM_I32);
    for (size_t i = 0; i < nr; i++)
        r.data[i] =
            wasm_valtype_new(im->results[i] == 'I' ? WASM_I64 : WASM_I32);
    wasm_functype_t *ty = wasm_functype_new(&p, &r);
    /* The entry is static and outlives every linker; Wasmtime's callback
       data is not const (the trampoline only reads it). */
    union {
        const eryx__import *entry;
        void *data;
    } pun = {.entry = im};
    void *data = pun.data;
    wasmtime_error_t *e = wasmtime_linker_define_func(
        linker, im->module, strlen(im->module), im->name, strlen(im->name), ty,
        trampoline, data, NULL);
    wasm_functype_delete(ty);
    return e ? eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL, im->name) : ERYX_OK;
}

eryx_status
eryx__imports_define(wasmtime_linker_t *linker, eryx_error *err)
{
    static const struct {
        const eryx__import *table;
        const size_t *count;
    } tables[] = {
        {eryx__calls_imports, &eryx__calls_count},
        {eryx__report_imports, &eryx__report_count},
        {eryx__wasi_imports, &eryx__wasi_count},
        {eryx__fs_imports, &eryx__fs_count},
        {eryx__net_imports, &eryx__net_count},
    };
    for (size_t t = 0; t < ERYX__COUNT(tables); t++) {
        for (size_t i = 0; i < *tables[t].count; i++) {
            eryx_status s = define(linker, &tables[t].table[i], err);
            if (s != ERYX_OK)
                return s;
        }
    }
    return ERYX_OK;
}
