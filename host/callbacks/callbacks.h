/*
** callbacks.h: host callbacks, private to liberyx.  Hooks (a handler and
** its userdata, shared by reference: hook.c), the registry of callbacks a
** sandbox offers (registry.c), the check of call arguments against each
** callback's JSON Schema (schema.c), the hub where the calls of one
** instance run and finish (hub.c), and the worker threads that run
** handlers (workers.c).  Depends on core only; knows nothing of Wasmtime.
*/
#ifndef ERYX_CALLBACKS_H
#define ERYX_CALLBACKS_H

#include "core/internal.h"
#include "eryx_abi.h"

/* ---- hook.c: a handler plus its userdata, shared by reference ---- */
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

/* ---- registry.c ---- */
typedef struct eryx__callback eryx__callback; /* immutable, refcounted */
typedef struct eryx__registry {
    eryx__callback **items;
    size_t count;
    char *list_json; /* list-callbacks' answer */
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
/* The JSON list of the callbacks (owned by the registry). */
const char *eryx__registry_json(const eryx__registry *reg);
/* The callback named name[0, len), or NULL. */
eryx__callback *
eryx__registry_find(const eryx__registry *reg, const char *name, size_t len);
eryx__callback *eryx__callback_ref(eryx__callback *cb);
void eryx__callback_unref(eryx__callback *cb); /* NULL-safe */
eryx__hook *eryx__callback_hook(const eryx__callback *cb);
/* The callback's parameters schema (a cJSON object), or NULL. */
const void *eryx__callback_schema(const eryx__callback *cb);

/* ---- schema.c ---- */
/* Check the JSON text args[0, len) (untrusted: from the guest) against
   `schema` (a cJSON object from eryx__callback_schema, or NULL: any
   object): it must be an object, hold the `required` names, match each
   property's `type`, and hold no other names when `additionalProperties`
   is false.  false with a message in why[0, why_len) otherwise, and also
   when memory runs out (*nomem then set). */
bool eryx__schema_check(const char *args,
                        size_t len,
                        const void *schema,
                        char *why,
                        size_t why_len,
                        bool *nomem);

/* ---- workers.c: the engine's worker threads for callback handlers ---- */
typedef struct eryx__workers eryx__workers;
eryx__workers *eryx__workers_new(void);
/* Joins every worker; handlers still running are waited for. */
void eryx__workers_free(eryx__workers *workers);
/* A phase of fork() (ERYX__FORK_*, core/sync.h): the lock is held across it;
   the child drops the parent's queued handlers (their executes are not in
   the child) and makes its own threads as handlers are submitted. */
void eryx__workers_fork(eryx__workers *workers, int phase);
/* Run fn(arg) on a worker; a new worker starts when none is idle.  Returns
   false when no thread could be had. */
bool
eryx__workers_submit(eryx__workers *workers, void (*fn)(void *), void *arg);

/* ---- hub.c: the calls of one instance ---- */
typedef struct eryx__hub eryx__hub;

/* What a hub's calls are allowed: from the sandbox's settings. */
typedef struct eryx__hub_limits {
    uint32_t callback_timeout_ms;      /* 0: none */
    uint32_t max_callback_invocations; /* 0: none */
} eryx__hub_limits;

eryx__hub *eryx__hub_new(void);
/* Drop the instance's reference; calls still running keep the hub alive
   until their handlers complete them. */
void eryx__hub_release(eryx__hub *hub);
/* Abandon every unfinished call and reset the invocation count (a new
   execute begins). */
void eryx__hub_reset(eryx__hub *hub);
/* Calls started since the last reset; *nomem: did one of them lose its
   answer for want of host memory? */
uint32_t eryx__hub_invocations(eryx__hub *hub, bool *nomem);
/* invoke-start: the handle of a new call, finished at once if it cannot
   start; 0 when the host has no room for it (*nomem set when memory ran
   out). */
uint32_t eryx__hub_start(eryx__hub *hub,
                         const eryx__registry *callbacks,
                         const eryx__hub_limits *limits,
                         eryx__workers *workers,
                         const char *name,
                         size_t name_len,
                         const char *args,
                         size_t args_len,
                         bool *nomem);
/* When a wait must give up early: the execution's deadline and the
   cancellation flag (atomic), checked whenever the wait wakes. */
typedef struct eryx__stop {
    uint64_t deadline_us; /* UINT64_MAX: none */
    const int *cancel;    /* non-zero: cancelled */
    const int *suspended; /* non-zero: a handler suspended the execute */
    int *keyboard; /* non-zero: raise KeyboardInterrupt (not a stop: waits
                      return early so that the guest sees it; may be NULL) */
} eryx__stop;
/* Has `stop`'s deadline passed (at `now`), or its cancel or suspend flag
   been raised? */
bool eryx__stop_due(const eryx__stop *stop, uint64_t now);
/* Is a KeyboardInterrupt waiting to reach the guest? */
bool eryx__stop_keyboard(const eryx__stop *stop);
/* invoke-wait: an ERYX_ABI_WAIT_* code; on DONE, *out is the call.
   ERYX_ABI_WAIT_STOP when `stop` says so. */
int32_t eryx__hub_wait(eryx__hub *hub,
                       int64_t timeout_ns,
                       const eryx__stop *stop,
                       eryx_abi_call_done *out);
/* Sleep until `until_us` (monotonic); false when `stop` cut it short.  A
   KeyboardInterrupt waiting ends it early (true). */
bool eryx__hub_sleep(eryx__hub *hub, uint64_t until_us, const eryx__stop *stop);
/* A rewrite of payloads (secrets scrubbing): a new buffer (NUL added,
   eryx__free) when it changed something, else NULL (*nomem set when
   memory ran out). */
typedef char *(*eryx__hub_filter)(
    const void *ctx, const char *in, size_t len, size_t *out_len, bool *nomem);
/* Pass every call's payload through `filter` (NULL: none); ctx must
   outlive the hub's use of it. */
void
eryx__hub_set_filter(eryx__hub *hub, eryx__hub_filter filter, const void *ctx);
/* An eventfd the hub writes to whenever a call finishes or a wake comes
   (the network's wait, which polls sockets too); -1: none. */
void eryx__hub_set_notify_fd(eryx__hub *hub, int fd);
/* Has a call finished (or passed its timeout) that no wait took yet? */
bool eryx__hub_has_done(eryx__hub *hub);
/* Wake every wait and sleep of `hub`, so that they check their stop. */
void eryx__hub_wake(eryx__hub *hub);
/* invoke-read: take the payload of a finished call (handed out by wait),
   which is then released.  false for an unknown handle.  *payload is the
   caller's to free. */
bool
eryx__hub_take(eryx__hub *hub, uint32_t handle, char **payload, size_t *len);

/* The journal the next calls of `hub` record into and replay from (NULL:
   none); eryx__hub_reset forgets it. */
void eryx__hub_set_journal(eryx__hub *hub, eryx_journal *journal);
/* The flag eryx_call_suspend raises (for the execute's stop conditions). */
const int *eryx__hub_suspend_flag(eryx__hub *hub);

/* ---- journal.c: callback journals (eryx_journal) ---- */
/* The canonical text of JSON `json` (object members sorted by key, no
   spaces), freed with cJSON_free; NULL when it is not JSON or memory ran
   out (*nomem set). */
char *eryx__json_canonical(const char *json, size_t len, bool *nomem);
/* An execute of `code` begins: forget the last run's record. */
eryx_status eryx__journal_begin(eryx_journal *j, const char *code, size_t len);
/* Call `index` (start order) of callback `name` with canonical arguments
   `canon`: true when the journal answers it (*ok, *payload: a new string);
   false when it runs live (and every later call does).  *nomem when the
   answer could not be copied (the call then fails). */
bool eryx__journal_decide(eryx_journal *j,
                          uint32_t index,
                          const char *name,
                          const char *canon,
                          bool *ok,
                          char **payload,
                          bool *nomem);
/* Live call `index` finished. */
void eryx__journal_record(eryx_journal *j,
                          uint32_t index,
                          const char *name,
                          const char *canon,
                          bool ok,
                          const char *payload,
                          size_t len);
/* A handler suspended the run at this call (the first suspension wins;
   later records are dropped).  true for the first. */
bool eryx__journal_suspend(eryx_journal *j,
                           const char *name,
                           const char *canon,
                           const char *reason,
                           size_t len);
/* The run ended: build eryx_journal_json's text. */
eryx_status eryx__journal_finish(eryx_journal *j);

#endif /* ERYX_CALLBACKS_H */
