/*
** report.c: the imports through which the guest reports as it runs:
** trace events (report-trace) and output (report-output).
*/
#include <string.h>

#include <cjson/cJSON.h>

#include "imports/imports.h"

static const struct {
    const char *name;
    eryx_trace_kind kind;
} trace_kinds[] = {
    {"line", ERYX_TRACE_LINE},
    {"call", ERYX_TRACE_CALL},
    {"return", ERYX_TRACE_RETURN},
    {"exception", ERYX_TRACE_EXCEPTION},
    {"callback_start", ERYX_TRACE_CALLBACK_START},
    {"callback_end", ERYX_TRACE_CALLBACK_END},
};

/* report-trace(lineno, json_ptr, json_len) */
static wasm_trap_t *
report_trace(eryx__import_env *env,
             const wasmtime_val_t *args,
             wasmtime_val_t *results)
{
    (void)results;
    eryx__hook *hook = env->st->settings->trace;
    if (hook == NULL)
        return NULL; /* tracing was not asked for; ignore */
    char *json = NULL;
    size_t len;
    wasm_trap_t *trap = eryx__imports_copy(env, args[1].of.i32, args[2].of.i32,
                                           &json, &len, "report-trace bounds");
    if (trap != NULL)
        return trap;
    if (!eryx__store_scrub(env->st, &json, &len)) {
        eryx__free(json);
        return eryx__imports_nomem(env->st);
    }
    cJSON *event = cJSON_ParseWithLength(json, len);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(event, "event");
    for (size_t i = 0;
         cJSON_IsString(name) && i < sizeof trace_kinds / sizeof trace_kinds[0];
         i++) {
        if (strcmp(name->valuestring, trace_kinds[i].name) == 0) {
            ((eryx_trace_fn)hook->fn)(hook->userdata, trace_kinds[i].kind,
                                      (uint32_t)args[0].of.i32, json, len);
            break;
        }
    }
    cJSON_Delete(event);
    eryx__free(json);
    return NULL;
}

/* report-output(stream, ptr, len) */
static wasm_trap_t *
report_output(eryx__import_env *env,
              const wasmtime_val_t *args,
              wasmtime_val_t *results)
{
    (void)results;
    int32_t stream = args[0].of.i32;
    if (stream != ERYX_STDOUT && stream != ERYX_STDERR)
        return eryx__imports_violation(env->st, "report-output stream");
    return eryx__imports_output(env, stream, (uint32_t)args[1].of.i32,
                                (uint32_t)args[2].of.i32,
                                "report-output bounds");
}

const eryx__import eryx__report_imports[] = {
    {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_REPORT_TRACE, "iii", "",
     report_trace},
    {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_REPORT_OUTPUT, "iii", "",
     report_output},
};
const size_t eryx__report_count = ERYX__COUNT(eryx__report_imports);
