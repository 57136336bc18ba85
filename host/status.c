/*
** status.c: status codes and their texts (eryx_status_str), version
** queries, and filling eryx_error, including from Wasmtime's errors.
*/
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#ifndef ERYX_PYTHON_VERSION
#define ERYX_PYTHON_VERSION "unknown"
#endif

int
eryx_version_number(void)
{
    return ERYX_VERSION_NUMBER;
}

const char *
eryx_version(void)
{
    return ERYX_VERSION_STRING;
}

const char *
eryx_python_version(void)
{
    return ERYX_PYTHON_VERSION;
}

const char *
eryx_status_str(eryx_status status)
{
    switch (status) {
#define ERYX_STATUS_CASE_(name, value, text) \
    case name:                               \
        return text;
        ERYX_STATUS_MAP(ERYX_STATUS_CASE_)
#undef ERYX_STATUS_CASE_
    }
    return "unknown status";
}

eryx_status
eryx__fail(eryx_error *err, eryx_status status, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

eryx_status
eryx__fail_wasmtime(eryx_error *err,
                    eryx_status status,
                    wasmtime_error_t *error,
                    wasm_trap_t *trap,
                    const char *what)
{
    wasm_byte_vec_t msg;
    wasm_byte_vec_new_empty(&msg);
    if (error != NULL)
        wasmtime_error_message(error, &msg);
    else if (trap != NULL)
        wasm_trap_message(trap, &msg);
    /* The trap message may or may not count its terminating NUL. */
    int n = (int)(msg.size > 200 ? 200 : msg.size);
    while (n > 0 && msg.data[n - 1] == '\0')
        n--;
    eryx__fail(err, status, "%s: %.*s", what, n, n ? msg.data : "");
    wasm_byte_vec_delete(&msg);
    if (error != NULL)
        wasmtime_error_delete(error);
    if (trap != NULL)
        wasm_trap_delete(trap);
    return status;
}

uint64_t
eryx__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
