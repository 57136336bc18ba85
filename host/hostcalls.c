/*
** hostcalls.c: the functions the guest imports (module "eryx", the lowering
** of runtime.wit's imports).  Each begins by checking what the guest passed:
** pointers and lengths against the current memory (through guest.c), enum
** values against their range.  A violation traps the guest and marks the
** instance as having broken the ABI (ERYX_E_ABI); the host carries on.
*/
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "internal.h"

static wasm_trap_t *
stop_trap(eryx__state *st)
{
    (void)eryx__state_check_stop(st);
    static const char msg[] = "eryx: the execution was stopped";
    return wasmtime_trap_new(msg, sizeof msg - 1);
}

/* What a hostcall works with: the instance's state and memory. */
typedef struct call_env {
    eryx__state *st;
    wasmtime_context_t *ctx;
    wasmtime_memory_t memory;
} call_env;

static wasm_trap_t *
violation(eryx__state *st, const char *what)
{
    if (st != NULL)
        st->abi_violation = true;
    char msg[160];
    snprintf(msg, sizeof msg, "eryx: the guest broke the ABI: %s", what);
    return wasmtime_trap_new(msg, strlen(msg));
}

static bool
get_env(wasmtime_caller_t *caller, call_env *env)
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

/* A checked copy of guest bytes [ptr, ptr + len), NUL added. */
static eryx_status
copy_in(call_env *env, int32_t ptr, int32_t len, char **out)
{
    eryx_abi_string s = {(uint32_t)ptr, (uint32_t)len};
    size_t n;
    return eryx__guest_string(env->ctx, &env->memory, s, out, &n);
}

/* invoke-start(name_ptr, name_len, args_ptr, args_len) -> handle */
static wasm_trap_t *
invoke_start(void *data,
             wasmtime_caller_t *caller,
             const wasmtime_val_t *args,
             size_t nargs,
             wasmtime_val_t *results,
             size_t nresults)
{
    (void)data, (void)nargs, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
    char *name = NULL, *json = NULL;
    eryx_status s = copy_in(&env, args[0].of.i32, args[1].of.i32, &name);
    if (s == ERYX_OK)
        s = copy_in(&env, args[2].of.i32, args[3].of.i32, &json);
    if (s != ERYX_OK) {
        eryx__free(name);
        return s == ERYX_E_ABI ? violation(env.st, "invoke-start bounds")
                               : wasmtime_trap_new("eryx: out of memory", 19);
    }
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 =
        (int32_t)eryx__hub_start(env.st->hub, env.st->settings, env.st->workers,
                                 name, (size_t)(uint32_t)args[1].of.i32, json,
                                 (size_t)(uint32_t)args[3].of.i32);
    eryx__free(name);
    eryx__free(json);
    return NULL;
}

/* invoke-wait(timeout_ns, out_ptr) -> ERYX_ABI_WAIT_* */
static wasm_trap_t *
invoke_wait(void *data,
            wasmtime_caller_t *caller,
            const wasmtime_val_t *args,
            size_t nargs,
            wasmtime_val_t *results,
            size_t nresults)
{
    (void)data, (void)nargs, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
    uint32_t out_ptr = (uint32_t)args[1].of.i32;
    /* Check the out record before blocking, and again when writing it:
       the memory cannot shrink, so the first check holds. */
    uint8_t probe[ERYX_ABI_CALL_DONE_SIZE];
    if (eryx__guest_read(env.ctx, &env.memory, out_ptr, sizeof probe, probe) !=
        ERYX_OK)
        return violation(env.st, "invoke-wait out pointer");
    eryx_abi_call_done done = {0, 0, 0};
    int32_t r =
        eryx__hub_wait(env.st->hub, args[0].of.i64, &env.st->stop, &done);
    if (r == ERYX_ABI_WAIT_STOP)
        return stop_trap(env.st); /* no user code runs after a stop */
    if (r == ERYX_ABI_WAIT_DONE) {
        uint8_t rec[ERYX_ABI_CALL_DONE_SIZE];
        uint32_t fields[3] = {done.handle, done.ok, done.len};
        for (int i = 0; i < 3; i++) {
            for (int b = 0; b < 4; b++)
                rec[i * 4 + b] = (uint8_t)(fields[i] >> (8 * b));
        }
        if (eryx__guest_write(env.ctx, &env.memory, out_ptr, rec, sizeof rec) !=
            ERYX_OK)
            return violation(env.st, "invoke-wait out pointer");
    }
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = r;
    return NULL;
}

/* invoke-read(handle, buf_ptr, buf_len) -> 0, or -1 for an unknown handle.
   Copies at most buf_len bytes of the payload. */
static wasm_trap_t *
invoke_read(void *data,
            wasmtime_caller_t *caller,
            const wasmtime_val_t *args,
            size_t nargs,
            wasmtime_val_t *results,
            size_t nresults)
{
    (void)data, (void)nargs, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
    char *payload = NULL;
    size_t len = 0;
    uint32_t buf = (uint32_t)args[1].of.i32, cap = (uint32_t)args[2].of.i32;
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = -1;
    /* The whole buffer the guest declares must be its own. */
    if (!eryx__guest_check(env.ctx, &env.memory, buf, cap))
        return violation(env.st, "invoke-read buffer");
    if (!eryx__hub_take(env.st->hub, (uint32_t)args[0].of.i32, &payload, &len))
        return NULL;
    eryx_status s = eryx__guest_write(env.ctx, &env.memory, buf, payload,
                                      len < cap ? len : cap);
    eryx__free(payload);
    if (s != ERYX_OK)
        return violation(env.st, "invoke-read buffer");
    results[0].of.i32 = 0;
    return NULL;
}

/* list-callbacks(buf_ptr, buf_len) -> the JSON's full length; copies at
   most buf_len bytes. */
static wasm_trap_t *
list_callbacks(void *data,
               wasmtime_caller_t *caller,
               const wasmtime_val_t *args,
               size_t nargs,
               wasmtime_val_t *results,
               size_t nresults)
{
    (void)data, (void)nargs, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
    const char *json = eryx__registry_json(&env.st->settings->callbacks);
    size_t len = strlen(json);
    uint32_t buf = (uint32_t)args[0].of.i32, cap = (uint32_t)args[1].of.i32;
    /* The whole buffer the guest declares must be its own. */
    if (!eryx__guest_check(env.ctx, &env.memory, buf, cap) ||
        eryx__guest_write(env.ctx, &env.memory, buf, json,
                          len < cap ? len : cap) != ERYX_OK)
        return violation(env.st, "list-callbacks buffer");
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = (int32_t)len;
    return NULL;
}

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
report_trace(void *data,
             wasmtime_caller_t *caller,
             const wasmtime_val_t *args,
             size_t nargs,
             wasmtime_val_t *results,
             size_t nresults)
{
    (void)data, (void)nargs, (void)results, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
    eryx__hook *hook = env.st->settings->trace;
    if (hook == NULL)
        return NULL; /* tracing was not asked for; ignore */
    char *json = NULL;
    if (copy_in(&env, args[1].of.i32, args[2].of.i32, &json) != ERYX_OK)
        return violation(env.st, "report-trace bounds");
    size_t len = (size_t)(uint32_t)args[2].of.i32;
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
report_output(void *data,
              wasmtime_caller_t *caller,
              const wasmtime_val_t *args,
              size_t nargs,
              wasmtime_val_t *results,
              size_t nresults)
{
    (void)data, (void)nargs, (void)results, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
    int32_t stream = args[0].of.i32;
    if (stream != 1 && stream != 2)
        return violation(env.st, "report-output stream");
    uint32_t ptr = (uint32_t)args[1].of.i32, len = (uint32_t)args[2].of.i32;
    uint64_t end;
    size_t size = wasmtime_memory_data_size(env.ctx, &env.memory);
    if (__builtin_add_overflow((uint64_t)ptr, (uint64_t)len, &end) ||
        end > size)
        return violation(env.st, "report-output bounds");
    /* Output is passed on straight from guest memory: the handler runs
       before the guest continues, so the bytes cannot change under it. */
    const uint8_t *base = wasmtime_memory_data(env.ctx, &env.memory);
    eryx__state_output(env.st, stream, (const char *)base + ptr, len);
    return NULL;
}

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
le_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void
le_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

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
clock_time_get(void *data,
               wasmtime_caller_t *caller,
               const wasmtime_val_t *args,
               size_t nargs,
               wasmtime_val_t *results,
               size_t nresults)
{
    (void)data, (void)nargs, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
    results[0].kind = WASMTIME_I32;
    uint32_t id = (uint32_t)args[0].of.i32;
    if (id > 3) {
        results[0].of.i32 = WASI_ERRNO_INVAL;
        return NULL;
    }
    uint8_t out[8];
    le_put(out, clock_ns(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC), 8);
    if (eryx__guest_write(env.ctx, &env.memory, (uint32_t)args[2].of.i32, out,
                          8) != ERYX_OK)
        return violation(env.st, "clock_time_get out pointer");
    results[0].of.i32 = 0;
    return NULL;
}

/* poll_oneoff(in, out, nsubscriptions, nevents_ptr) -> errno.  Descriptor
   subscriptions are ready at once (stdin is empty, stdout and stderr always
   take writes); clock subscriptions sleep interruptibly. */
static wasm_trap_t *
poll_oneoff(void *data,
            wasmtime_caller_t *caller,
            const wasmtime_val_t *args,
            size_t nargs,
            wasmtime_val_t *results,
            size_t nresults)
{
    (void)data, (void)nargs, (void)nresults;
    call_env env;
    if (!get_env(caller, &env))
        return violation(NULL, "no memory export");
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
        trap = wasmtime_trap_new("eryx: out of memory", 19);
        goto done;
    }
    if (eryx__guest_read(env.ctx, &env.memory, in, (uint64_t)n * WASI_SUB_SIZE,
                         sub) != ERYX_OK) {
        trap = violation(env.st, "poll_oneoff subscriptions");
        goto done;
    }
    uint64_t now = eryx__now_us(), until = UINT64_MAX;
    bool fd_ready = false;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *s = sub + (size_t)i * WASI_SUB_SIZE;
        if (s[8] != 0) {
            fd_ready = true;
            continue;
        }
        uint32_t clock = (uint32_t)le_get(s + 16, 4);
        uint64_t timeout = le_get(s + 24, 8), at;
        if ((le_get(s + 40, 2) & 1) == 0) /* relative */
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
        !eryx__hub_sleep(env.st->hub, until, &env.st->stop)) {
        trap = stop_trap(env.st);
        goto done;
    }
    now = eryx__now_us();
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
    le_put(cnt, count, 4);
    if (eryx__guest_write(env.ctx, &env.memory, out, ev,
                          (uint64_t)count * WASI_EVENT_SIZE) != ERYX_OK ||
        eryx__guest_write(env.ctx, &env.memory, nevents_ptr, cnt, 4) !=
            ERYX_OK) {
        trap = violation(env.st, "poll_oneoff events");
        goto done;
    }
    results[0].of.i32 = 0;
done:
    if (sub != subs)
        eryx__free(sub);
    eryx__free(ev);
    return trap;
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
    return e ? eryx__fail_wasmtime(err, ERYX_E_ENGINE, e, NULL, name) : ERYX_OK;
}

eryx_status
eryx__hostcalls_define(wasmtime_linker_t *linker, eryx_error *err)
{
    static const struct {
        const char *module, *name, *params, *results;
        wasmtime_func_callback_t fn;
    } calls[] = {
        {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_INVOKE_START, "iiii", "i",
         invoke_start},
        {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_INVOKE_WAIT, "Ii", "i",
         invoke_wait},
        {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_INVOKE_READ, "iii", "i",
         invoke_read},
        {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_LIST_CALLBACKS, "ii", "i",
         list_callbacks},
        {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_REPORT_TRACE, "iii", "",
         report_trace},
        {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_REPORT_OUTPUT, "iii", "",
         report_output},
        {"wasi_snapshot_preview1", "poll_oneoff", "iiii", "i", poll_oneoff},
        {"wasi_snapshot_preview1", "clock_time_get", "iIi", "i",
         clock_time_get},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        eryx_status s =
            define(linker, calls[i].module, calls[i].name, calls[i].params,
                   calls[i].results, calls[i].fn, err);
        if (s != ERYX_OK)
            return s;
    }
    return ERYX_OK;
}
