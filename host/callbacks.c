/*
** callbacks.c: host callbacks.  Hooks (a handler and its userdata, shared
** by reference), the registry of callbacks a sandbox offers, the checking
** of call arguments against each callback's JSON Schema, and the hub: the
** calls of one instance, which handlers complete from any thread and the
** guest waits for (eryx_call_*, eryx__hub_*).  JSON is parsed and built
** with cJSON only.
*/
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "internal.h"

/* ------------------------------------------------------------------ hooks */

eryx__hook *
eryx__hook_new(void (*fn)(void), void *userdata, void (*free_userdata)(void *))
{
    eryx__hook *h = eryx__malloc(sizeof *h);
    if (h == NULL)
        return NULL;
    h->fn = fn;
    h->userdata = userdata;
    h->free_userdata = free_userdata;
    h->refs = 1;
    return h;
}

eryx__hook *
eryx__hook_ref(eryx__hook *h)
{
    if (h != NULL)
        __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
    return h;
}

void
eryx__hook_unref(eryx__hook *h)
{
    if (h == NULL || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (h->free_userdata != NULL)
        h->free_userdata(h->userdata);
    eryx__free(h);
}

/* --------------------------------------------------------------- registry */

struct eryx__callback {
    char *name;
    char *description;
    cJSON *schema; /* an object, or NULL: no declared parameters */
    eryx__hook *hook;
    int refs; /* atomic */
};

static eryx__callback *
callback_ref(eryx__callback *cb)
{
    __atomic_add_fetch(&cb->refs, 1, __ATOMIC_RELAXED);
    return cb;
}

static void
callback_unref(eryx__callback *cb)
{
    if (cb == NULL || __atomic_sub_fetch(&cb->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    eryx__free(cb->name);
    eryx__free(cb->description);
    cJSON_Delete(cb->schema);
    eryx__hook_unref(cb->hook);
    eryx__free(cb);
}

/* A dotted Python name: identifiers joined by single dots. */
static bool
valid_name(const char *s)
{
    bool start = true;
    for (; *s; s++) {
        char c = *s;
        bool alpha =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (c == '.') {
            if (start)
                return false;
            start = true;
        } else if (alpha || (!start && c >= '0' && c <= '9')) {
            start = false;
        } else {
            return false;
        }
    }
    return !start;
}

/* Rebuild the list-callbacks answer. */
static eryx_status
build_json(eryx__registry *reg, eryx_error *err)
{
    eryx__free(reg->list_json);
    reg->list_json = NULL;
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; list != NULL && i < reg->count; i++) {
        const eryx__callback *cb = reg->items[i];
        cJSON *o = cJSON_CreateObject();
        cJSON *schema = cb->schema ? cJSON_Duplicate(cb->schema, true)
                                   : cJSON_CreateObject();
        if (o == NULL || schema == NULL || !cJSON_AddItemToArray(list, o) ||
            cJSON_AddStringToObject(o, "name", cb->name) == NULL ||
            cJSON_AddStringToObject(o, "description", cb->description) ==
                NULL ||
            !cJSON_AddItemToObject(o, "parameters_schema", schema)) {
            cJSON_Delete(schema);
            cJSON_Delete(list);
            list = NULL;
        }
    }
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    if (text == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    reg->list_json = eryx__strdup(text);
    cJSON_free(text);
    return reg->list_json ? ERYX_OK
                          : eryx__fail(err, ERYX_E_NOMEM, "out of memory");
}

eryx_status
eryx__registry_add(eryx__registry *reg,
                   const char *name,
                   const char *description,
                   const char *schema,
                   eryx__hook *hook,
                   eryx_error *err)
{
    if (!valid_name(name))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "callback name '%.64s' is not a dotted Python name",
                          name);
    for (size_t i = 0; i < reg->count; i++) {
        if (strcmp(reg->items[i]->name, name) == 0)
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "callback '%.64s' is registered already", name);
    }
    cJSON *parsed = NULL;
    if (schema != NULL) {
        parsed = cJSON_Parse(schema);
        if (!cJSON_IsObject(parsed)) {
            cJSON_Delete(parsed);
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "the schema of '%.64s' is not a JSON object",
                              name);
        }
    }
    eryx__callback *cb = eryx__calloc(1, sizeof *cb);
    eryx__callback **items =
        eryx__realloc(reg->items, (reg->count + 1) * sizeof *items);
    if (items != NULL)
        reg->items = items;
    if (cb == NULL || items == NULL ||
        (cb->name = eryx__strdup(name)) == NULL ||
        (cb->description = eryx__strdup(description)) == NULL) {
        if (cb != NULL) {
            eryx__free(cb->name);
            eryx__free(cb);
        }
        cJSON_Delete(parsed);
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    }
    cb->schema = parsed;
    cb->hook = eryx__hook_ref(hook);
    cb->refs = 1;
    reg->items[reg->count++] = cb;
    return build_json(reg, err);
}

eryx_status
eryx__registry_copy(eryx__registry *dst,
                    const eryx__registry *src,
                    eryx_error *err)
{
    dst->items = NULL;
    dst->count = 0;
    dst->list_json = NULL;
    if (src->count == 0)
        return ERYX_OK;
    dst->items = eryx__malloc(src->count * sizeof *dst->items);
    dst->list_json = eryx__strdup(src->list_json ? src->list_json : "[]");
    if (dst->items == NULL || dst->list_json == NULL) {
        eryx__registry_clear(dst);
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < src->count; i++)
        dst->items[i] = callback_ref(src->items[i]);
    dst->count = src->count;
    return ERYX_OK;
}

void
eryx__registry_clear(eryx__registry *reg)
{
    for (size_t i = 0; i < reg->count; i++)
        callback_unref(reg->items[i]);
    eryx__free(reg->items);
    eryx__free(reg->list_json);
    reg->items = NULL;
    reg->count = 0;
    reg->list_json = NULL;
}

const char *
eryx__registry_json(const eryx__registry *reg)
{
    return reg->list_json ? reg->list_json : "[]";
}

static eryx__callback *
find_callback(const eryx__registry *reg, const char *name, size_t len)
{
    for (size_t i = 0; i < reg->count; i++) {
        const char *n = reg->items[i]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return reg->items[i];
    }
    return NULL;
}

/* -------------------------------------------------- argument validation */

static bool
has_type(const cJSON *v, const char *type)
{
    if (strcmp(type, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(type, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(type, "integer") == 0) {
        double d = cJSON_IsNumber(v) ? v->valuedouble : 0.5;
        return d == (double)(long long)d;
    }
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(type, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(type, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(type, "null") == 0)
        return cJSON_IsNull(v);
    return true; /* a type we do not know does not reject */
}

/* Does `v` match the schema's "type" (a name or a list of names)? */
static bool
matches_type(const cJSON *v, const cJSON *prop_schema)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(prop_schema, "type");
    if (cJSON_IsString(type))
        return has_type(v, type->valuestring);
    if (cJSON_IsArray(type)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, type)
        {
            if (cJSON_IsString(t) && has_type(v, t->valuestring))
                return true;
        }
        return false;
    }
    return true;
}

/* Check `args` (a parsed object) against the schema's properties,
   required and additionalProperties; a message in `why` on failure. */
static bool
check_arguments(const cJSON *args,
                const cJSON *schema,
                char *why,
                size_t why_len)
{
    if (!cJSON_IsObject(args)) {
        snprintf(why, why_len, "the arguments are not a JSON object");
        return false;
    }
    if (schema == NULL)
        return true;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *required =
        cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *extra =
        cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    const cJSON *r;
    if (cJSON_IsArray(required)) {
        cJSON_ArrayForEach(r, required)
        {
            if (cJSON_IsString(r) &&
                !cJSON_HasObjectItem(args, r->valuestring)) {
                snprintf(why, why_len, "missing required argument '%.64s'",
                         r->valuestring);
                return false;
            }
        }
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, args)
    {
        const cJSON *p =
            cJSON_IsObject(props)
                ? cJSON_GetObjectItemCaseSensitive(props, a->string)
                : NULL;
        if (p == NULL) {
            if (cJSON_IsFalse(extra)) {
                snprintf(why, why_len, "unexpected argument '%.64s'",
                         a->string);
                return false;
            }
        } else if (!matches_type(a, p)) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
            snprintf(why, why_len, "argument '%.64s' must be of type %.64s",
                     a->string, cJSON_IsString(t) ? t->valuestring : "listed");
            return false;
        }
    }
    return true;
}

/* -------------------------------------------------------------------- hub */

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
};

struct eryx_call {
    eryx__hub *hub;
    uint32_t handle;
    eryx__callback *cb;
    char *args;
    size_t args_len;
};

eryx__hub *
eryx__hub_new(void)
{
    eryx__hub *hub = eryx__calloc(1, sizeof *hub);
    if (hub == NULL)
        return NULL;
    eryx__cond_init(&hub->cv);
    pthread_mutex_init(&hub->mu, NULL);
    hub->refs = 1;
    hub->next_handle = 1;
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
    pthread_mutex_unlock(&hub->mu);
}

uint32_t
eryx__hub_invocations(eryx__hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    uint32_t n = hub->invocations;
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

/* A new slot (hub locked); NULL when memory runs out or the table is full. */
static slot *
add_slot(eryx__hub *hub, const char *name, size_t name_len)
{
    if (hub->count >= HUB_MAX_SLOTS)
        return NULL;
    if (hub->count == hub->cap) {
        size_t cap = hub->cap ? hub->cap * 2 : 8;
        slot *s = eryx__realloc(hub->slots, cap * sizeof *s);
        if (s == NULL)
            return NULL;
        hub->slots = s;
        hub->cap = cap;
    }
    slot *s = &hub->slots[hub->count];
    memset(s, 0, sizeof *s);
    s->name = eryx__memdup(name, name_len);
    if (s->name == NULL)
        return NULL;
    s->handle = hub->next_handle++;
    s->deadline_us = UINT64_MAX;
    hub->count++;
    return s;
}

/* Finish `s` (hub locked) with a copy of `text`. */
static void
finish_slot(eryx__hub *hub, slot *s, bool ok, const char *text, size_t len)
{
    s->state = SLOT_DONE;
    s->ok = ok;
    s->payload = eryx__memdup(text, len);
    s->len = s->payload ? len : 0;
    if (s->payload == NULL)
        s->ok = false; /* an empty error: out of memory */
    __atomic_add_fetch(&hub->finished, 1u, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&hub->cv);
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
    eryx_callback_fn fn = (eryx_callback_fn)call->cb->hook->fn;
    fn(call->cb->hook->userdata, call->args, call->args_len, call);
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
    if (s != NULL && s->state == SLOT_RUNNING) /* else: timed out, reset */
        finish_slot(hub, s, ok, text, len);
    pthread_mutex_unlock(&hub->mu);
    eryx__hub_release(hub);
    callback_unref(call->cb);
    eryx__free(call->args);
    eryx__free(call);
}

void
eryx_call_return(eryx_call *call, const char *json, size_t len)
{
    cJSON *parsed = json ? cJSON_ParseWithLength(json, len) : NULL;
    if (parsed == NULL) {
        static const char msg[] = "the callback returned invalid JSON";
        complete(call, false, msg, sizeof msg - 1);
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

uint32_t
eryx__hub_start(eryx__hub *hub,
                const eryx__settings *settings,
                eryx__workers *workers,
                const char *name,
                size_t name_len,
                const char *args,
                size_t args_len)
{
    pthread_mutex_lock(&hub->mu);
    slot *s = add_slot(hub, name, name_len);
    if (s == NULL) {
        pthread_mutex_unlock(&hub->mu);
        return 0; /* handle 0 is never valid: the guest's read fails */
    }
    uint32_t handle = s->handle;
    eryx__callback *cb = find_callback(&settings->callbacks, name, name_len);
    char why[200];
    cJSON *parsed = NULL;
    eryx_call *call = NULL;
    if (cb == NULL) {
        finish_slotf(hub, s, "unknown callback '%.64s'", s->name);
    } else if (settings->max_callback_invocations != 0 &&
               hub->invocations >= settings->max_callback_invocations) {
        finish_slotf(hub, s,
                     "callback invocation limit reached (%u per execution)",
                     settings->max_callback_invocations);
    } else if ((parsed = cJSON_ParseWithLength(args, args_len)) == NULL ||
               !check_arguments(parsed, cb->schema, why, sizeof why)) {
        finish_slotf(hub, s, "invalid arguments for callback '%.64s': %s",
                     s->name, parsed ? why : "not valid JSON");
    } else if ((call = eryx__calloc(1, sizeof *call)) == NULL ||
               (call->args = eryx__memdup(args, args_len)) == NULL) {
        eryx__free(call);
        call = NULL;
        finish_slotf(hub, s, "out of memory starting callback '%.64s'",
                     s->name);
    } else {
        hub->invocations++;
        hub->refs++;
        s->state = SLOT_RUNNING;
        s->timeout_ms = settings->callback_timeout_ms;
        if (s->timeout_ms != 0)
            s->deadline_us = eryx__now_us() + (uint64_t)s->timeout_ms * 1000u;
        call->hub = hub;
        call->handle = handle;
        call->cb = callback_ref(cb);
        call->args_len = args_len;
    }
    cJSON_Delete(parsed);
    pthread_mutex_unlock(&hub->mu);
    if (call != NULL && !eryx__workers_submit(workers, run_call, call)) {
        static const char msg[] = "no worker thread for the callback";
        complete(call, false, msg, sizeof msg - 1);
    }
    return handle;
}

static bool
stopped(const eryx__stop *stop, uint64_t now)
{
    return now >= stop->deadline_us ||
           (stop->cancel != NULL &&
            __atomic_load_n(stop->cancel, __ATOMIC_ACQUIRE) != 0);
}

int32_t
eryx__hub_wait(eryx__hub *hub,
               int64_t timeout_ns,
               const eryx__stop *stop,
               eryx_abi_call_done *out)
{
    uint64_t start = eryx__now_us();
    uint64_t until =
        timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns / 1000u;
    bool spun = false;
    pthread_mutex_lock(&hub->mu);
    for (;;) {
        uint64_t now = eryx__now_us(), wake = until;
        if (stopped(stop, now)) {
            pthread_mutex_unlock(&hub->mu);
            return ERYX_ABI_WAIT_STOP;
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
               before sleeping. */
            spun = true;
            unsigned seen = __atomic_load_n(&hub->finished, __ATOMIC_ACQUIRE);
            pthread_mutex_unlock(&hub->mu);
            eryx__spin_while(&hub->finished, seen,
                             wake - now < ERYX__SPIN_US ? wake - now
                                                        : ERYX__SPIN_US);
            pthread_mutex_lock(&hub->mu);
            continue;
        }
        eryx__cond_wait_until(&hub->cv, &hub->mu, wake);
    }
}

bool
eryx__hub_sleep(eryx__hub *hub, uint64_t until_us, const eryx__stop *stop)
{
    pthread_mutex_lock(&hub->mu);
    bool ok = true;
    for (;;) {
        uint64_t now = eryx__now_us();
        if (stopped(stop, now)) {
            ok = false;
            break;
        }
        if (now >= until_us)
            break;
        eryx__cond_wait_until(&hub->cv, &hub->mu,
                              until_us < stop->deadline_us ? until_us
                                                           : stop->deadline_us);
    }
    pthread_mutex_unlock(&hub->mu);
    return ok;
}

void
eryx__hub_wake(eryx__hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    pthread_cond_broadcast(&hub->cv);
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
