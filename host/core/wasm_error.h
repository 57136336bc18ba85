/*
** wasm_error.h: Wasmtime's errors and traps as eryx errors (prefix
** eryx__wasm_).  Only the subsystems that call Wasmtime include it.
*/
#ifndef ERYX_WASM_ERROR_H
#define ERYX_WASM_ERROR_H

#include <wasmtime.h>

#include "core/internal.h"

/* Translate a Wasmtime error and/or trap (both consumed, either may be
   NULL) into `status` and a message prefixed by `what`. */
eryx_status eryx__wasm_fail(eryx_error *err,
                            eryx_status status,
                            wasmtime_error_t *error,
                            wasm_trap_t *trap,
                            const char *what);

#endif /* ERYX_WASM_ERROR_H */
