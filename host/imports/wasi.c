/*
** wasi.c: the WASI preview-1 functions eryx implements itself instead of
** Wasmtime's, beside the filesystem's (fs.c, fd_write among them):
** poll_oneoff and clock_time_get, so that every wait of the guest ends at
** its deadline or cancellation.
*/
#include <string.h>
#include <time.h>

#include "imports/imports.h"

/* ---- WASI replacements ----
   time.sleep and every other blocking wait of the guest's libc go through
   poll_oneoff.  WASI's own would block in the host beyond any deadline;
   this one sleeps on the instance's hub, so a timeout or cancellation ends
   it at once.  clock_time_get is replaced with it so that absolute
   deadlines are in the same clock. */

#define WASI_ERRNO_INVAL 28
#define WASI_SUB_SIZE    48
#define WASI_EVENT_SIZE  32
#define WASI_MAX_SUBS    1024

static uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* clock_time_get(id, precision, out_ptr) -> errno.  The process and
   thread CPU clocks read as the monotonic clock: the guest learns nothing
   of the host's processes. */
static wasm_trap_t *
clock_time_get(eryx__import_env *env,
               const wasmtime_val_t *args,
               wasmtime_val_t *results)
{
    results[0].kind = WASMTIME_I32;
    uint32_t id = (uint32_t)args[0].of.i32;
    if (id > 3) {
        results[0].of.i32 = WASI_ERRNO_INVAL;
        return NULL;
    }
    uint8_t out[8];
    eryx__le_put(out, clock_ns(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC), 8);
    if (eryx__guest_write(env->ctx, &env->memory, (uint32_t)args[2].of.i32, out,
                          8) != ERYX_OK)
        return eryx__imports_violation(env->st, "clock_time_get out pointer");
    results[0].of.i32 = 0;
    return NULL;
}

/* poll_oneoff(in, out, nsubscriptions, nevents_ptr) -> errno.  Descriptor
   subscriptions are ready at once (stdin is empty, stdout and stderr always
   take writes); clock subscriptions sleep interruptibly. */
static wasm_trap_t *
poll_oneoff(eryx__import_env *env,
            const wasmtime_val_t *args,
            wasmtime_val_t *results)
{
    uint32_t in = (uint32_t)args[0].of.i32, out = (uint32_t)args[1].of.i32;
    uint32_t n = (uint32_t)args[2].of.i32;
    uint32_t nevents_ptr = (uint32_t)args[3].of.i32;
    results[0].kind = WASMTIME_I32;
    if (n == 0 || n > WASI_MAX_SUBS) {
        results[0].of.i32 = WASI_ERRNO_INVAL;
        return NULL;
    }
    uint8_t subs[WASI_SUB_SIZE * 16];
    uint8_t *sub = n <= 16 ? subs : eryx__malloc((size_t)n * WASI_SUB_SIZE);
    uint8_t *ev = eryx__calloc(n, WASI_EVENT_SIZE);
    wasm_trap_t *trap = NULL;
    if (sub == NULL || ev == NULL) {
        trap = eryx__imports_nomem(env->st);
        goto done;
    }
    if (eryx__guest_read(env->ctx, &env->memory, in,
                         (uint64_t)n * WASI_SUB_SIZE, sub) != ERYX_OK) {
        trap = eryx__imports_violation(env->st, "poll_oneoff subscriptions");
        goto done;
    }
    uint64_t now = eryx__clock_now_us(), until = UINT64_MAX;
    bool fd_ready = false;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *s = sub + (size_t)i * WASI_SUB_SIZE;
        if (s[8] != 0) {
            fd_ready = true;
            continue;
        }
        uint32_t clock = (uint32_t)eryx__le_get(s + 16, 4);
        uint64_t timeout = eryx__le_get(s + 24, 8), at;
        if ((eryx__le_get(s + 40, 2) & 1) == 0) /* relative */
            at = now + timeout / 1000u;
        else if (clock == 0) { /* absolute, realtime */
            uint64_t real = clock_ns(CLOCK_REALTIME);
            at = now + (timeout > real ? (timeout - real) / 1000u : 0);
        } else /* absolute, in the monotonic clock of clock_time_get */
            at = timeout / 1000u;
        if (at < until)
            until = at;
    }
    if (!fd_ready && until != UINT64_MAX &&
        !eryx__hub_sleep(env->st->hub, until, &env->st->stop)) {
        trap = eryx__imports_stop(env->st);
        goto done;
    }
    now = eryx__clock_now_us();
    /* A KeyboardInterrupt ends the sleep: its clocks fire now, and the
       guest raises it at its next bytecode (the trampoline writes it). */
    if (eryx__stop_keyboard(&env->st->stop))
        until = now;
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *s = sub + (size_t)i * WASI_SUB_SIZE;
        bool is_clock = s[8] == 0;
        if (is_clock && (fd_ready || now < until))
            continue;
        uint8_t *e = ev + (size_t)count++ * WASI_EVENT_SIZE;
        memcpy(e, s, 8); /* userdata */
        e[10] = s[8];    /* type; error 0, nbytes 0 */
    }
    uint8_t cnt[4];
    eryx__le_put(cnt, count, 4);
    if (eryx__guest_write(env->ctx, &env->memory, out, ev,
                          (uint64_t)count * WASI_EVENT_SIZE) != ERYX_OK ||
        eryx__guest_write(env->ctx, &env->memory, nevents_ptr, cnt, 4) !=
            ERYX_OK) {
        trap = eryx__imports_violation(env->st, "poll_oneoff events");
        goto done;
    }
    results[0].of.i32 = 0;
done:
    if (sub != subs)
        eryx__free(sub);
    eryx__free(ev);
    return trap;
}


const eryx__import eryx__wasi_imports[] = {
    {"wasi_snapshot_preview1", "poll_oneoff", "iiii", "i", poll_oneoff},
    {"wasi_snapshot_preview1", "clock_time_get", "iIi", "i", clock_time_get},
};
const size_t eryx__wasi_count = ERYX__COUNT(eryx__wasi_imports);
