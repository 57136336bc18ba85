/*
** hub.c: the calls of one instance (eryx__hub_*).  The guest starts them,
** handlers complete them from any thread (eryx_call_return,
** eryx_call_fail), and the guest waits for them with its deadline and
** cancellation in force.
*/
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "callbacks/callbacks.h"
#include "core/sync.h"

enum slot_state { SLOT_RUNNING, SLOT_DONE, SLOT_TAKEN };

typedef struct slot {
    uint32_t handle;
    uint8_t state;
    bool ok;
    bool timed_out;
    char *payload; /* JSON result, or error message */
    size_t len;
    uint64_t deadline_us; /* UINT64_MAX: none */
    uint32_t timeout_ms;
    char *name;
} slot;

struct eryx__hub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* the instance, plus one per call still with its handler */
    slot *slots;
    size_t count, cap;
    uint32_t next_handle;
    uint32_t invocations;
    unsigned finished; /* calls ever finished (atomic), for spinning waits */
    /* Handlers ever handed to a worker, and ever begun there (atomic): a
       wait polls only while every one has begun (docs/design.md). */
    unsigned handed, begun;
    bool nomem;            /* a call lost its answer for want of memory */
    eryx_journal *journal; /* the execute's journal, or NULL */
    int suspended;         /* atomic: a handler suspended the execute */
    int notify_fd; /* an eventfd told of finished calls and wakes, or -1 */
    eryx__hub_filter filter; /* applied to every payload, or NULL */
    const void *filter_ctx;
};

struct eryx_call {
    eryx__hub *hub;
    uint32_t handle;
    uint32_t index; /* order of start among this execute's handled calls */
    eryx__callback *cb;
    char *args;
    size_t args_len;
    eryx_journal *journal; /* recording this call, or NULL */
    char *canon;           /* its canonical arguments, when journaled */
};

eryx__hub *
eryx__hub_new(void)
{
    eryx__hub *hub = eryx__calloc(1, sizeof *hub);
    if (hub == NULL)
        return NULL;
    eryx__sync_cond_init(&hub->cv);
    pthread_mutex_init(&hub->mu, NULL);
    hub->refs = 1;
    hub->next_handle = 1;
    hub->notify_fd = -1;
    return hub;
}

static void
free_slots(eryx__hub *hub)
{
    for (size_t i = 0; i < hub->count; i++) {
        eryx__free(hub->slots[i].payload);
        eryx__free(hub->slots[i].name);
    }
    hub->count = 0;
}

void
eryx__hub_release(eryx__hub *hub)
{
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    int left = --hub->refs;
    pthread_mutex_unlock(&hub->mu);
    if (left != 0)
        return;
    free_slots(hub);
    eryx__free(hub->slots);
    pthread_cond_destroy(&hub->cv);
    pthread_mutex_destroy(&hub->mu);
    eryx__free(hub);
}

void
eryx__hub_reset(eryx__hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    free_slots(hub); /* handlers still running complete into nothing */
    hub->invocations = 0;
    hub->nomem = false;
    hub->journal = NULL;
    __atomic_store_n(&hub->suspended, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&hub->mu);
}

void
eryx__hub_set_journal(eryx__hub *hub, eryx_journal *journal)
{
    pthread_mutex_lock(&hub->mu);
    hub->journal = journal;
    pthread_mutex_unlock(&hub->mu);
}

const int *
eryx__hub_suspend_flag(eryx__hub *hub)
{
    return &hub->suspended;
}

uint32_t
eryx__hub_invocations(eryx__hub *hub, bool *nomem)
{
    pthread_mutex_lock(&hub->mu);
    uint32_t n = hub->invocations;
    *nomem = hub->nomem;
    pthread_mutex_unlock(&hub->mu);
    return n;
}

static slot *
find_slot(eryx__hub *hub, uint32_t handle)
{
    for (size_t i = 0; i < hub->count; i++) {
        if (hub->slots[i].handle == handle)
            return &hub->slots[i];
    }
    return NULL;
}

/* Calls a guest may have started and not yet read back.  A guest that
   starts calls without ever waiting for them cannot grow the host's table
   past this: further starts get handle 0, which never finishes. */
#define HUB_MAX_SLOTS 65536

/* A new slot (hub locked); NULL when the table is full or memory runs out
   (*nomem set). */
static slot *
add_slot(eryx__hub *hub, const char *name, size_t name_len, bool *nomem)
{
    if (hub->count >= HUB_MAX_SLOTS)
        return NULL;
    if (hub->count == hub->cap) {
        size_t cap = hub->cap ? hub->cap * 2 : 8;
        slot *s = eryx__realloc(hub->slots, cap * sizeof *s);
        if (s == NULL) {
            *nomem = true;
            return NULL;
        }
        hub->slots = s;
        hub->cap = cap;
    }
    slot *s = &hub->slots[hub->count];
    memset(s, 0, sizeof *s);
    s->name = eryx__memdup(name, name_len);
    if (s->name == NULL) {
        *nomem = true;
        return NULL;
    }
    s->handle = hub->next_handle++;
    s->deadline_us = UINT64_MAX;
    hub->count++;
    return s;
}

/* Tell the notify fd (hub locked), if there is one. */
static void
notify(eryx__hub *hub)
{
    if (hub->notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(hub->notify_fd, &one, sizeof one);
        (void)w; /* a full counter is already a wake-up */
    }
}

void
eryx__hub_set_notify_fd(eryx__hub *hub, int fd)
{
    pthread_mutex_lock(&hub->mu);
    hub->notify_fd = fd;
    pthread_mutex_unlock(&hub->mu);
}

bool
eryx__hub_has_done(eryx__hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    bool done = false;
    uint64_t now = eryx__clock_now_us();
    for (size_t i = 0; i < hub->count && !done; i++) {
        done = hub->slots[i].state == SLOT_DONE ||
               (hub->slots[i].state == SLOT_RUNNING &&
                hub->slots[i].deadline_us <= now);
    }
    pthread_mutex_unlock(&hub->mu);
    return done;
}

void
eryx__hub_set_filter(eryx__hub *hub, eryx__hub_filter filter, const void *ctx)
{
    pthread_mutex_lock(&hub->mu);
    hub->filter = filter;
    hub->filter_ctx = ctx;
    pthread_mutex_unlock(&hub->mu);
}

/* Finish `s` (hub locked) with a copy of `text` (through the filter). */
static void
finish_slot(eryx__hub *hub, slot *s, bool ok, const char *text, size_t len)
{
    s->state = SLOT_DONE;
    s->ok = ok;
    bool nomem = false;
    size_t flen = 0;
    char *filtered =
        hub->filter ? hub->filter(hub->filter_ctx, text, len, &flen, &nomem)
                    : NULL;
    if (filtered != NULL) {
        s->payload = filtered;
        len = flen;
    } else {
        s->payload = nomem ? NULL : eryx__memdup(text, len);
    }
    s->len = s->payload ? len : 0;
    if (s->payload == NULL) {
        s->ok = false; /* an empty error: out of memory */
        hub->nomem = true;
    }
    __atomic_add_fetch(&hub->finished, 1u, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&hub->cv);
    notify(hub);
}

static void finish_slotf(eryx__hub *hub, slot *s, const char *fmt, ...)
    ERYX__PRINTF(3, 4);

static void
finish_slotf(eryx__hub *hub, slot *s, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    finish_slot(hub, s, false, msg,
                n < 0                    ? 0
                : (size_t)n < sizeof msg ? (size_t)n
                                         : sizeof msg - 1);
}

static void
run_call(void *arg)
{
    eryx_call *call = arg;
    __atomic_add_fetch(&call->hub->begun, 1u, __ATOMIC_RELEASE);
    eryx__hook *hook = eryx__callback_hook(call->cb);
    ((eryx_callback_fn)hook->fn)(hook->userdata, call->args, call->args_len,
                                 call);
}

/* Complete a call from its handler; frees `call`. */
static void
complete(eryx_call *call, bool ok, const char *text, size_t len)
{
    if (call == NULL)
        return;
    eryx__hub *hub = call->hub;
    pthread_mutex_lock(&hub->mu);
    slot *s = find_slot(hub, call->handle);
    if (s != NULL && s->state == SLOT_RUNNING) { /* else: timed out, reset */
        if (call->journal != NULL && call->journal == hub->journal)
            eryx__journal_record(call->journal, call->index, s->name,
                                 call->canon, ok, text, len);
        finish_slot(hub, s, ok, text, len);
    }
    pthread_mutex_unlock(&hub->mu);
    eryx__hub_release(hub);
    eryx__callback_unref(call->cb);
    cJSON_free(call->canon);
    eryx__free(call->args);
    eryx__free(call);
}

void
eryx_call_return(eryx_call *call, const char *json, size_t len)
{
    unsigned failed = eryx__alloc_failures();
    cJSON *parsed = json ? cJSON_ParseWithLength(json, len) : NULL;
    if (parsed == NULL) {
        bool nomem = eryx__alloc_failures() != failed;
        static const char msg[] = "the callback returned invalid JSON";
        if (nomem && call != NULL) {
            pthread_mutex_lock(&call->hub->mu);
            call->hub->nomem = true;
            pthread_mutex_unlock(&call->hub->mu);
        }
        complete(call, false, nomem ? "" : msg, nomem ? 0 : sizeof msg - 1);
        return;
    }
    cJSON_Delete(parsed);
    complete(call, true, json, len);
}

void
eryx_call_fail(eryx_call *call, const char *message, size_t len)
{
    complete(call, false, message ? message : "", message ? len : 0);
}

void
eryx_call_suspend(eryx_call *call, const char *reason, size_t len)
{
    if (call == NULL)
        return;
    eryx__hub *hub = call->hub;
    pthread_mutex_lock(&hub->mu);
    slot *s = find_slot(hub, call->handle);
    bool current = s != NULL && s->state == SLOT_RUNNING;
    if (current && hub->journal != NULL)
        eryx__journal_suspend(hub->journal, s->name, call->canon, reason,
                              reason ? len : 0);
    if (current) /* the execute stops at its next wait or epoch tick */
        __atomic_store_n(&hub->suspended, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&hub->mu);
    static const char msg[] = "the run was suspended by a callback";
    complete(call, false, msg, sizeof msg - 1);
}

/* A call of a journaled execute (hub locked; calls start in the code's
   order, so the journal sees them in that order).  true when the call is
   finished already: replayed from the journal, or out of memory.  false
   when it runs live: *canon then holds its canonical arguments for the
   record (the caller's to free with cJSON_free). */
static bool
journal_start(eryx__hub *hub,
              slot *s,
              const char *args,
              size_t args_len,
              char **canon,
              bool *nomem)
{
    *canon = eryx__json_canonical(args, args_len, nomem);
    bool ok = false, replay_nomem = false;
    char *payload = NULL;
    if (*canon != NULL &&
        eryx__journal_decide(hub->journal, hub->invocations, s->name, *canon,
                             &ok, &payload, &replay_nomem)) {
        hub->invocations++;
        finish_slot(hub, s, ok, payload, strlen(payload));
        eryx__free(payload);
    } else if (*canon == NULL || replay_nomem) {
        *nomem = true;
        finish_slotf(hub, s, "out of memory starting callback '%.64s'",
                     s->name);
    } else {
        return false;
    }
    cJSON_free(*canon);
    *canon = NULL;
    return true;
}

uint32_t
eryx__hub_start(eryx__hub *hub,
                const eryx__registry *callbacks,
                const eryx__hub_limits *limits,
                eryx__workers *workers,
                const char *name,
                size_t name_len,
                const char *args,
                size_t args_len,
                bool *nomem)
{
    *nomem = false;
    pthread_mutex_lock(&hub->mu);
    slot *s = add_slot(hub, name, name_len, nomem);
    if (s == NULL) {
        pthread_mutex_unlock(&hub->mu);
        return 0; /* handle 0 is never valid: the guest's read fails */
    }
    uint32_t handle = s->handle;
    eryx__callback *cb = eryx__registry_find(callbacks, name, name_len);
    char why[200];
    eryx_call *call = NULL;
    char *canon = NULL; /* journaled calls: their canonical arguments */
    if (cb == NULL) {
        finish_slotf(hub, s, "unknown callback '%.64s'", s->name);
    } else if (limits->max_callback_invocations != 0 &&
               hub->invocations >= limits->max_callback_invocations) {
        finish_slotf(hub, s,
                     "callback invocation limit reached (%u per execution)",
                     limits->max_callback_invocations);
    } else if (!eryx__schema_check(args, args_len, eryx__callback_schema(cb),
                                   why, sizeof why, nomem)) {
        finish_slotf(hub, s, "invalid arguments for callback '%.64s': %s",
                     s->name, why);
    } else if (hub->journal != NULL &&
               journal_start(hub, s, args, args_len, &canon, nomem)) {
        /* answered from the journal, or failed for want of memory */
    } else if ((call = eryx__calloc(1, sizeof *call)) == NULL ||
               (call->args = eryx__memdup(args, args_len)) == NULL) {
        eryx__free(call);
        cJSON_free(canon);
        call = NULL;
        *nomem = true;
        finish_slotf(hub, s, "out of memory starting callback '%.64s'",
                     s->name);
    } else {
        call->index = hub->invocations;
        hub->invocations++;
        hub->refs++;
        s->state = SLOT_RUNNING;
        s->timeout_ms = limits->callback_timeout_ms;
        if (s->timeout_ms != 0)
            s->deadline_us =
                eryx__clock_now_us() + (uint64_t)s->timeout_ms * 1000u;
        call->hub = hub;
        call->handle = handle;
        call->cb = eryx__callback_ref(cb);
        call->args_len = args_len;
        call->journal = canon != NULL ? hub->journal : NULL;
        call->canon = canon;
    }
    pthread_mutex_unlock(&hub->mu);
    unsigned failed = eryx__alloc_failures();
    if (call != NULL)
        __atomic_add_fetch(&hub->handed, 1u, __ATOMIC_RELEASE);
    if (call != NULL && !eryx__workers_submit(workers, run_call, call)) {
        static const char msg[] = "no worker thread for the callback";
        __atomic_add_fetch(&hub->begun, 1u, __ATOMIC_RELEASE);
        *nomem = eryx__alloc_failures() != failed;
        complete(call, false, msg, sizeof msg - 1);
    }
    return handle;
}

bool
eryx__stop_due(const eryx__stop *stop, uint64_t now)
{
    return now >= stop->deadline_us ||
           (stop->cancel != NULL &&
            __atomic_load_n(stop->cancel, __ATOMIC_ACQUIRE) != 0) ||
           (stop->suspended != NULL &&
            __atomic_load_n(stop->suspended, __ATOMIC_ACQUIRE) != 0);
}

bool
eryx__stop_keyboard(const eryx__stop *stop)
{
    return stop->keyboard != NULL &&
           __atomic_load_n(stop->keyboard, __ATOMIC_ACQUIRE) != 0;
}

int32_t
eryx__hub_wait(eryx__hub *hub,
               int64_t timeout_ns,
               const eryx__stop *stop,
               eryx_abi_call_done *out)
{
    uint64_t start = eryx__clock_now_us();
    uint64_t until =
        timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns / 1000u;
    bool spun = false;
    pthread_mutex_lock(&hub->mu);
    for (;;) {
        uint64_t now = eryx__clock_now_us(), wake = until;
        if (eryx__stop_due(stop, now)) {
            pthread_mutex_unlock(&hub->mu);
            return ERYX_ABI_WAIT_STOP;
        }
        if (eryx__stop_keyboard(stop)) { /* the guest raises it on return */
            pthread_mutex_unlock(&hub->mu);
            return ERYX_ABI_WAIT_TIMEOUT;
        }
        if (stop->deadline_us < wake)
            wake = stop->deadline_us;
        bool running = false;
        slot *done = NULL;
        for (size_t i = 0; i < hub->count; i++) {
            slot *s = &hub->slots[i];
            if (s->state == SLOT_RUNNING && s->deadline_us <= now) {
                finish_slotf(hub, s,
                             "timeout: callback '%.64s' gave no answer "
                             "within %u ms",
                             s->name, s->timeout_ms);
                s->timed_out = true;
            }
            if (s->state == SLOT_DONE && done == NULL)
                done = s;
            if (s->state == SLOT_RUNNING) {
                running = true;
                if (s->deadline_us < wake)
                    wake = s->deadline_us;
            }
        }
        if (done != NULL) {
            done->state = SLOT_TAKEN;
            out->handle = done->handle;
            out->ok = done->timed_out ? ERYX_ABI_CALL_TIMEOUT
                      : done->ok      ? ERYX_ABI_CALL_OK
                                      : ERYX_ABI_CALL_ERROR;
            out->len = (uint32_t)done->len;
            pthread_mutex_unlock(&hub->mu);
            return ERYX_ABI_WAIT_DONE;
        }
        if (!running && timeout_ns < 0) {
            pthread_mutex_unlock(&hub->mu);
            return ERYX_ABI_WAIT_IDLE;
        }
        if (now >= until) {
            pthread_mutex_unlock(&hub->mu);
            return ERYX_ABI_WAIT_TIMEOUT;
        }
        if (running && !spun) {
            /* A quick handler answers within microseconds: poll for it
               before sleeping; but only a few while a handler has not
               begun: its worker is then not running beside this thread
               (asleep, or behind it on this CPU), and polling on would
               only keep it off. */
            spun = true;
            unsigned seen = __atomic_load_n(&hub->finished, __ATOMIC_ACQUIRE);
            pthread_mutex_unlock(&hub->mu);
            uint64_t budget =
                wake - now < ERYX__SPIN_US ? wake - now : ERYX__SPIN_US;
            uint64_t first =
                budget < ERYX__SPIN_START_US ? budget : ERYX__SPIN_START_US;
            if (!eryx__sync_spin_while(&hub->finished, seen, first)) {
                if (__atomic_load_n(&hub->begun, __ATOMIC_ACQUIRE) ==
                    __atomic_load_n(&hub->handed, __ATOMIC_ACQUIRE))
                    eryx__sync_spin_while(&hub->finished, seen, budget - first);
                else if (until - now <= ERYX__SPIN_US)
                    /* A short wait (a call's start looking for a quick
                       answer) is over: sleeping out its rest would wait
                       for a timer, not for the answer. */
                    return ERYX_ABI_WAIT_TIMEOUT;
            }
            pthread_mutex_lock(&hub->mu);
            continue;
        }
        eryx__sync_cond_wait_until(&hub->cv, &hub->mu, wake);
    }
}

bool
eryx__hub_sleep(eryx__hub *hub, uint64_t until_us, const eryx__stop *stop)
{
    pthread_mutex_lock(&hub->mu);
    bool ok = true;
    for (;;) {
        uint64_t now = eryx__clock_now_us();
        if (eryx__stop_due(stop, now)) {
            ok = false;
            break;
        }
        if (now >= until_us || eryx__stop_keyboard(stop))
            break;
        eryx__sync_cond_wait_until(
            &hub->cv, &hub->mu,
            until_us < stop->deadline_us ? until_us : stop->deadline_us);
    }
    pthread_mutex_unlock(&hub->mu);
    return ok;
}

void
eryx__hub_wake(eryx__hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    pthread_cond_broadcast(&hub->cv);
    notify(hub);
    pthread_mutex_unlock(&hub->mu);
}

bool
eryx__hub_take(eryx__hub *hub, uint32_t handle, char **payload, size_t *len)
{
    pthread_mutex_lock(&hub->mu);
    slot *s = find_slot(hub, handle);
    bool found = s != NULL && s->state == SLOT_TAKEN;
    if (found) {
        *payload = s->payload;
        *len = s->len;
        eryx__free(s->name);
        *s = hub->slots[--hub->count]; /* order of slots does not matter */
    }
    pthread_mutex_unlock(&hub->mu);
    return found;
}

uint32_t
eryx_call_index(const eryx_call *call)
{
    return call != NULL ? call->index : 0;
}
