/*
** imports.c: every function the guest imports, defined in a linker from
** the tables of calls.c, report.c and wasi.c (eryx__imports_define), and
** what those functions share: their environment and their traps.
*/
#include <stdio.h>
#include <string.h>

#include "core/wasm_error.h"
#include "imports/imports.h"

bool
eryx__imports_env(wasmtime_caller_t *caller, eryx__import_env *env)
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

/* Define one import; `params` and `results` are type-code strings:
   'i' for i32, 'I' for i64. */
static eryx_status
define(wasmtime_linker_t *linker,
       const char *module,
       const char *name,
       const char *params,
       const char *results,
       wasmtime_func_callback_t fn,
       eryx_error *err)
{
    wasm_valtype_vec_t p, r;
    size_t np = strlen(params), nr = strlen(results);
    wasm_valtype_vec_new_uninitialized(&p, np);
    wasm_valtype_vec_new_uninitialized(&r, nr);
    for (size_t i = 0; i < np; i++)
        p.data[i] = wasm_valtype_new(params[i] == 'I' ? WASM_I64 : WASM_I32);
    for (size_t i = 0; i < nr; i++)
        r.data[i] = wasm_valtype_new(results[i] == 'I' ? WASM_I64 : WASM_I32);
    wasm_functype_t *ty = wasm_functype_new(&p, &r);
    wasmtime_error_t *e = wasmtime_linker_define_func(
        linker, module, strlen(module), name, strlen(name), ty, fn, NULL, NULL);
    wasm_functype_delete(ty);
    return e ? eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL, name) : ERYX_OK;
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
    };
    for (size_t t = 0; t < ERYX__COUNT(tables); t++) {
        for (size_t i = 0; i < *tables[t].count; i++) {
            const eryx__import *im = &tables[t].table[i];
            eryx_status s = define(linker, im->module, im->name, im->params,
                                   im->results, im->fn, err);
            if (s != ERYX_OK)
                return s;
        }
    }
    return ERYX_OK;
}
