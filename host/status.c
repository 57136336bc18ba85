/*
** status.c: status codes and their texts (eryx_status_str), version
** queries, filling eryx_error (including from Wasmtime's errors), and the
** monotonic clock that every deadline and timed wait uses.
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
eryx__fail_wasmtime(eryx_error *err,
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

uint64_t
eryx__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
eryx__cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

void
eryx__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t wake_us)
{
    if (wake_us == UINT64_MAX) {
        pthread_cond_wait(cv, mu);
        return;
    }
    struct timespec ts;
    ts.tv_sec = (time_t)(wake_us / 1000000u);
    ts.tv_nsec = (long)(wake_us % 1000000u) * 1000;
    pthread_cond_timedwait(cv, mu, &ts);
}

bool
eryx__spin_while(const unsigned *word, unsigned seen, uint64_t max_us)
{
    uint64_t until = eryx__now_us() + max_us;
    for (unsigned i = 0;; i++) {
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
            return true;
        if ((i & 63u) == 63u && eryx__now_us() >= until)
            return false;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}
