/*
** wasm_error.c: Wasmtime's errors and traps as eryx statuses and messages
** (eryx__wasm_fail).
*/
#include <string.h>

#include "core/wasm_error.h"

/* What a trap code means, for the traps Python code can provoke. */
static const char *
trap_text(wasmtime_trap_code_t code)
{
    switch (code) {
    case WASMTIME_TRAP_CODE_STACK_OVERFLOW:
        return "stack overflow: the guest's call stack is exhausted";
    case WASMTIME_TRAP_CODE_MEMORY_OUT_OF_BOUNDS:
        return "out-of-bounds memory access (a stack overflow in the guest, "
               "or a corrupt heap)";
    case WASMTIME_TRAP_CODE_UNREACHABLE_CODE_REACHED:
        return "the guest aborted (unreachable code reached)";
    case WASMTIME_TRAP_CODE_INTERRUPT:
        return "interrupted";
    case WASMTIME_TRAP_CODE_OUT_OF_FUEL:
        return "out of fuel";
    default:
        return NULL;
    }
}

eryx_status
eryx__wasm_fail(eryx_error *err,
                eryx_status status,
                wasmtime_error_t *error,
                wasm_trap_t *trap,
                const char *what)
{
    wasmtime_trap_code_t code;
    const char *known = trap != NULL && wasmtime_trap_code(trap, &code)
                            ? trap_text(code)
                            : NULL;
    wasm_byte_vec_t msg;
    wasm_byte_vec_new_empty(&msg);
    if (known == NULL && error != NULL)
        wasmtime_error_message(error, &msg);
    else if (known == NULL && trap != NULL)
        wasm_trap_message(trap, &msg);
    /* Wasmtime's messages carry a backtrace; keep the cause: the text
       after the last "Caused by:", else the first line. */
    const char *text = msg.size ? msg.data : "";
    size_t n = msg.size;
    while (n > 0 && (text[n - 1] == '\0' || text[n - 1] == '\n'))
        n--;
    for (size_t i = 0; i + 10 <= n; i++) {
        if (memcmp(text + i, "Caused by:", 10) == 0) {
            size_t start = i + 10;
            while (start < n && (text[start] == ' ' || text[start] == '\n'))
                start++;
            text += start;
            n -= start;
            i = 0;
        }
    }
    const char *nl = memchr(text, '\n', n);
    if (nl != NULL)
        n = (size_t)(nl - text);
    if (known != NULL)
        eryx__fail(err, status, "%s: %s", what, known);
    else
        eryx__fail(err, status, "%s: %.*s", what, (int)(n > 200 ? 200 : n),
                   text);
    wasm_byte_vec_delete(&msg);
    if (error != NULL)
        wasmtime_error_delete(error);
    if (trap != NULL)
        wasm_trap_delete(trap);
    return status;
}
