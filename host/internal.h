/*
** internal.h: declarations shared inside liberyx only (prefix eryx__).
** Nothing here is API; the public contract is include/eryx.h.
*/
#ifndef ERYX_INTERNAL_H
#define ERYX_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wasi.h>
#include <wasmtime.h>

#include "eryx.h"
#include "eryx_abi.h"

#define ERYX__PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- alloc.c: the one allocation funnel ---- */
void *eryx__malloc(size_t size);
void *eryx__calloc(size_t count, size_t size);
void *eryx__realloc(void *ptr, size_t size);
void eryx__free(void *ptr);
char *eryx__strdup(const char *s);
char *eryx__memdup(const void *data, size_t len); /* adds a NUL */

/* ---- status.c ---- */
/* Fill `err` (may be NULL) and return `status`. */
eryx_status
eryx__fail(eryx_error *err, eryx_status status, const char *fmt, ...)
    ERYX__PRINTF(3, 4);
/* Translate a Wasmtime error and/or trap (both consumed, either may be NULL)
   into a status and message prefixed by `what`. */
eryx_status eryx__fail_wasmtime(eryx_error *err,
                                eryx_status status,
                                wasmtime_error_t *error,
                                wasm_trap_t *trap,
                                const char *what);
uint64_t eryx__now_us(void); /* CLOCK_MONOTONIC */
/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
void eryx__cond_init(pthread_cond_t *cv);
/* Wait on `cv` (with `mu` held) until woken or until `wake_us` on
   eryx__now_us's clock; UINT64_MAX waits without a time limit. */
void eryx__cond_wait_until(pthread_cond_t *cv,
                           pthread_mutex_t *mu,
                           uint64_t wake_us);

/* How long a thread that expects news within microseconds (a guest waiting
   for a callback, a worker just done with one) polls before it sleeps on a
   condition variable: waking a sleeping thread costs more than this on a
   busy machine. */
#define ERYX__SPIN_US 50u
/* Poll `*word` (atomic) until it differs from `seen` or `max_us` pass;
   true when it changed. */
bool eryx__spin_while(const unsigned *word, unsigned seen, uint64_t max_us);

/* ---- hooks: a handler plus its userdata, shared by reference ---- */
typedef struct eryx__hook {
    void (*fn)(void); /* cast to the handler's real type at the call */
    void *userdata;
    void (*free_userdata)(void *);
    int refs; /* atomic */
} eryx__hook;

eryx__hook *
eryx__hook_new(void (*fn)(void), void *userdata, void (*free_userdata)(void *));
eryx__hook *eryx__hook_ref(eryx__hook *hook); /* NULL-safe */
void eryx__hook_unref(eryx__hook *hook);      /* NULL-safe */

/* ---- callbacks.c ---- */
typedef struct eryx__callback eryx__callback; /* immutable, refcounted */
typedef struct eryx__registry {
    eryx__callback **items;
    size_t count;
    char *list_json; /* list-callbacks' answer, built on first use */
} eryx__registry;

eryx_status eryx__registry_add(eryx__registry *reg,
                               const char *name,
                               const char *description,
                               const char *schema,
                               eryx__hook *hook,
                               eryx_error *err);
eryx_status eryx__registry_copy(eryx__registry *dst,
                                const eryx__registry *src,
                                eryx_error *err);
void eryx__registry_clear(eryx__registry *reg);
/* The JSON list of the callbacks (owned by the registry), or NULL. */
const char *eryx__registry_json(const eryx__registry *reg);

/* ---- config.c: what a sandbox or session keeps of its config ---- */
typedef struct eryx__settings {
    char *result_variable; /* never NULL */
    eryx__registry callbacks;
    eryx__hook *trace;  /* eryx_trace_fn, or NULL */
    eryx__hook *output; /* eryx_output_fn, or NULL */
    uint32_t callback_timeout_ms;
    uint32_t max_callback_invocations;
    uint64_t output_limit_bytes;
    uint64_t snapshot_limit_bytes;
    uint64_t memory_limit_bytes;
    uint32_t timeout_ms; /* 0: none */
    uint64_t fuel;       /* 0: none */
} eryx__settings;

struct eryx_config {
    char *runtime_path;     /* NULL: default */
    char *stdlib_dir;       /* NULL: default */
    char *cache_dir;        /* NULL: default; "": off */
    uint32_t max_instances; /* per engine variant; 0: the default */
    eryx__settings settings;
};
/* The effective values of the engine options, each a new string or NULL
   (cache off) on success. */
eryx_status eryx__config_paths(const eryx_config *config,
                               char **runtime_path,
                               char **stdlib_dir,
                               char **cache_dir,
                               eryx_error *err);
/* A deep copy of `config`'s settings (the defaults when it is NULL). */
eryx_status eryx__settings_copy(eryx__settings *dst,
                                const eryx_config *config,
                                eryx_error *err);
void eryx__settings_clear(eryx__settings *s);

/* ---- workers.c: the engine's worker threads for callback handlers ---- */
typedef struct eryx__workers eryx__workers;
eryx__workers *eryx__workers_new(void);
/* Joins every worker; handlers still running are waited for. */
void eryx__workers_free(eryx__workers *workers);
/* Run fn(arg) on a worker; a new worker starts when none is idle.  Returns
   false when no thread could be had. */
bool
eryx__workers_submit(eryx__workers *workers, void (*fn)(void *), void *arg);

/* ---- check.c: pure checks of untrusted bytes ---- */
bool eryx__utf8_valid(const char *s, size_t len);
/* The header a session state snapshot starts with (docs/design.md). */
#define ERYX__SNAP_HEADER 28u
void eryx__snapshot_header(uint8_t *header, const uint8_t *payload, size_t len);
/* Check a snapshot's size, header and checksum; on success, *payload is
   the pickle inside it. */
eryx_status eryx__snapshot_parse(const uint8_t *data,
                                 size_t len,
                                 uint64_t limit,
                                 const uint8_t **payload,
                                 size_t *payload_len,
                                 eryx_error *err);

/* ---- engine.c ---- */
/* One compilation of the guest: with or without fuel metering. */
typedef struct eryx__variant {
    wasm_engine_t *wasm;
    wasmtime_linker_t *linker;
    wasmtime_instance_pre_t *pre;
    char *info; /* where the compiled code came from (eryx_engine_info) */
} eryx__variant;

struct eryx_engine {
    eryx__variant plain;
    eryx__variant fuel; /* built on first use, under mu */
    char *runtime_path, *stdlib_dir, *cache_dir;
    uint32_t max_instances; /* 0: the default */
    eryx__workers *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the ticker to stop */
    pthread_t ticker;
    bool ticking, stopping;
};

/* The variant for sandboxes with (or without) fuel; NULL with `err` when
   the fuel variant cannot be built. */
const eryx__variant *
eryx__engine_variant(eryx_engine *engine, bool fuel, eryx_error *err);

/* ---- guest.c: every byte from the guest is checked here ---- */
/* Does [off, off + len) lie inside the guest's current memory? */
bool eryx__guest_check(wasmtime_context_t *ctx,
                       const wasmtime_memory_t *memory,
                       uint64_t off,
                       uint64_t len);
/* Copy `len` bytes at guest offset `off` into `dst`, after checking that
   [off, off + len) lies inside the current memory. */
eryx_status eryx__guest_read(wasmtime_context_t *ctx,
                             const wasmtime_memory_t *memory,
                             uint64_t off,
                             uint64_t len,
                             void *dst);
/* Write `len` bytes at guest offset `off`, checked likewise. */
eryx_status eryx__guest_write(wasmtime_context_t *ctx,
                              const wasmtime_memory_t *memory,
                              uint64_t off,
                              const void *src,
                              uint64_t len);
/* A checked copy of a guest string (NUL added); `*out` owned by the caller. */
eryx_status eryx__guest_string(wasmtime_context_t *ctx,
                               const wasmtime_memory_t *memory,
                               eryx_abi_string s,
                               char **out,
                               size_t *len_out);

/* The decoded return area of `execute`. */
typedef struct eryx__execute_ret {
    uint8_t tag;
    eryx_abi_string message; /* when tag is ERYX_ABI_ERR */
    bool has_json, has_json_error;
    eryx_abi_string json, json_error;
} eryx__execute_ret;
/* Decode the ERYX_ABI_EXECUTE_RET_SIZE bytes of a return area. */
eryx_status eryx__decode_execute_ret(const uint8_t *bytes,
                                     eryx__execute_ret *out);
/* Decode a result<state-snapshot, string> return area: on ok, `a` is the
   data and `b` the skipped names; on error, `a` is the message. */
eryx_status eryx__decode_snapshot_ret(const uint8_t *bytes,
                                      uint8_t *tag,
                                      eryx_abi_string *a,
                                      eryx_abi_string *b);
/* Decode a result<_, string> return area. */
eryx_status eryx__decode_unit_ret(const uint8_t *bytes,
                                  uint8_t *tag,
                                  eryx_abi_string *err_text);

/* ---- hostcalls.c: the functions the guest imports ---- */
eryx_status eryx__hostcalls_define(wasmtime_linker_t *linker, eryx_error *err);

/* ---- the per-stream output of one execute (instance.c) ---- */
typedef struct eryx__outbuf {
    char *data;
    size_t len, cap;
    bool truncated;
} eryx__outbuf;

/* ---- result.c ---- */
struct eryx_result {
    eryx_status status;
    char *stdout_text, *stderr_text, *json, *json_error, *error;
    size_t stdout_len, stderr_len, json_len, json_error_len, error_len;
    bool stdout_truncated, stderr_truncated;
    uint32_t callback_invocations;
    uint64_t fuel_consumed;
    uint64_t duration_us;
    uint64_t peak_memory_bytes;
};
eryx_result *eryx__result_new(void);
/* Set the failure of `r` (message copied; on allocation failure the
   message is a static text). */
void eryx__result_fail(eryx_result *r, eryx_status status, const char *message);

/* ---- callbacks.c: the calls of one instance ---- */
typedef struct eryx__hub eryx__hub;
eryx__hub *eryx__hub_new(void);
/* Drop the instance's reference; calls still running keep the hub alive
   until their handlers complete them. */
void eryx__hub_release(eryx__hub *hub);
/* Abandon every unfinished call and reset the invocation count (a new
   execute begins). */
void eryx__hub_reset(eryx__hub *hub);
uint32_t eryx__hub_invocations(eryx__hub *hub);
/* invoke-start: returns the handle of a new call (finished at once if it
   cannot start). */
uint32_t eryx__hub_start(eryx__hub *hub,
                         const eryx__settings *settings,
                         eryx__workers *workers,
                         const char *name,
                         size_t name_len,
                         const char *args,
                         size_t args_len);
/* When a wait must give up early: the execution's deadline and the
   cancellation flag (atomic), checked whenever the wait wakes. */
typedef struct eryx__stop {
    uint64_t deadline_us; /* UINT64_MAX: none */
    const int *cancel;    /* non-zero: cancelled */
} eryx__stop;
/* invoke-wait: an ERYX_ABI_WAIT_* code; on DONE, *out is the call.
   ERYX_ABI_WAIT_STOP when `stop` says so. */
int32_t eryx__hub_wait(eryx__hub *hub,
                       int64_t timeout_ns,
                       const eryx__stop *stop,
                       eryx_abi_call_done *out);
/* Sleep until `until_us` (monotonic); false when `stop` cut it short. */
bool eryx__hub_sleep(eryx__hub *hub, uint64_t until_us, const eryx__stop *stop);
/* Wake every wait and sleep of `hub`, so that they check their stop. */
void eryx__hub_wake(eryx__hub *hub);
/* invoke-read: take the payload of a finished call (handed out by wait),
   which is then released.  false for an unknown handle.  *payload is the
   caller's to free. */
bool
eryx__hub_take(eryx__hub *hub, uint32_t handle, char **payload, size_t *len);

/* ---- sandbox.c: cancellation from other threads ---- */
typedef struct eryx__interrupt {
    pthread_mutex_t mu;
    bool running;   /* an execute of the owner is under way */
    int cancel;     /* atomic: the running execute must stop */
    eryx__hub *hub; /* the running execute's, to wake; NULL when idle */
} eryx__interrupt;

/* ---- instance.c: one store + instance of the guest ---- */
/* The host-side state of one instance, the store's data: what hostcalls
   reach through their caller. */
typedef struct eryx__state {
    const eryx__settings *settings;
    eryx__workers *workers;
    eryx__hub *hub;
    eryx__outbuf out[2]; /* stdout, stderr of the current execute */
    bool abi_violation;  /* a hostcall caught the guest breaking the ABI */
    eryx__interrupt *interrupt; /* the owner's; outlives the instance */
    eryx__stop stop;            /* deadline and cancel flag of this execute */
    eryx_status stopped; /* ERYX_E_TIMEOUT or ERYX_E_CANCELLED once stopped */
} eryx__state;

/* Should the running execute stop?  Records and returns ERYX_E_TIMEOUT or
   ERYX_E_CANCELLED, or ERYX_OK to go on. */
eryx_status eryx__state_check_stop(eryx__state *st);

typedef struct eryx__instance {
    wasmtime_store_t *store;
    wasmtime_context_t *ctx;
    wasmtime_instance_t instance;
    wasmtime_memory_t memory;
    wasmtime_func_t realloc_fn, execute_fn, post_execute_fn;
    eryx__state *state;
    bool live;
} eryx__instance;

eryx_status eryx__instance_start(eryx__instance *in,
                                 eryx_engine *engine,
                                 const eryx__settings *settings,
                                 eryx__interrupt *interrupt,
                                 eryx_error *err);
void eryx__instance_stop(eryx__instance *in);
/* Run `code` (already checked) and fill `r`.  Returns r->status.  When the
   guest trapped or broke the ABI, the instance is stopped. */
eryx_status eryx__instance_execute(eryx__instance *in,
                                   const char *code,
                                   size_t code_len,
                                   eryx_result *r);
/* Session state: snapshot (*data / *skipped new, the caller frees),
   restore, clear.  On ERYX_E_TRAP or ERYX_E_ABI the instance is stopped. */
eryx_status eryx__instance_snapshot(eryx__instance *in,
                                    char **data,
                                    size_t *data_len,
                                    char **skipped,
                                    eryx_error *err);
eryx_status eryx__instance_restore(eryx__instance *in,
                                   const void *data,
                                   size_t len,
                                   eryx_error *err);
eryx_status eryx__instance_clear(eryx__instance *in, eryx_error *err);

/* ---- image.c: whole-interpreter images ---- */
/* Capture live instance `in` (started with `settings` from `engine`). */
eryx_status eryx__image_capture(eryx__instance *in,
                                eryx_engine *engine,
                                const eryx__settings *settings,
                                uint64_t execution_count,
                                eryx_image **out,
                                eryx_error *err);
/* Make freshly started `in` the image's interpreter. */
eryx_status eryx__image_apply(eryx__instance *in,
                              const eryx_image *img,
                              uint64_t *execution_count,
                              eryx_error *err);
const eryx_engine *eryx__image_engine(const eryx_image *img);

/* ---- sandbox.c, for pool.c ---- */
/* Give `session` a new interpreter now (not at its next execute). */
eryx_status eryx__session_renew(eryx_session *session, eryx_error *err);

/* Append guest output to stream 1 or 2 of `st`, within the output limit,
   and pass it to the output handler. */
void
eryx__state_output(eryx__state *st, int stream, const char *data, size_t len);

#endif /* ERYX_INTERNAL_H */
