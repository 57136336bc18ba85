/*
** store.c: the host-side state of one store (eryx__store_*): the current
** execute's output, kept within its limit, its stop conditions, and the
** faults the imports record for the execute to report.
*/
#include <stdio.h>
#include <string.h>

#include "imports/imports.h"

static char *
scrub_filter(
    const void *ctx, const char *in, size_t len, size_t *out_len, bool *nomem)
{
    return eryx__secrets_scrub(ctx, in, len, out_len, nomem);
}

bool
eryx__store_scrub(eryx__store *st, char **buf, size_t *len)
{
    bool nomem;
    size_t n;
    char *s =
        eryx__secrets_scrub(st->settings->secrets, *buf, *len, &n, &nomem);
    if (nomem) {
        st->nomem = true;
        return false;
    }
    if (s != NULL) {
        eryx__free(*buf);
        *buf = s;
        *len = n;
    }
    return true;
}

eryx__store *
eryx__store_new(const eryx__settings *settings, eryx__workers *workers)
{
    eryx__store *st = eryx__calloc(1, sizeof *st);
    if (st == NULL || (st->hub = eryx__hub_new()) == NULL) {
        eryx__free(st);
        return NULL;
    }
    st->workers = workers;
    eryx__store_bind(st, settings);
    st->stop.deadline_us = UINT64_MAX;
    return st;
}

void
eryx__store_bind(eryx__store *st, const eryx__settings *settings)
{
    st->settings = settings;
    if (settings != NULL && settings->secrets != NULL)
        eryx__hub_set_filter(st->hub, scrub_filter, settings->secrets);
    else
        eryx__hub_set_filter(st->hub, NULL, NULL);
}

void
eryx__store_free(void *data)
{
    eryx__store *st = data;
    if (st == NULL)
        return;
    eryx__net_free(st->net); /* before the hub: it lets go of its fd */
    /* Calls still running finish without the settings' secrets. */
    eryx__hub_set_filter(st->hub, NULL, NULL);
    eryx__hub_release(st->hub);
    eryx__vfs_free(st->vfs);
    eryx__free(st->hold[0]);
    eryx__free(st->hold[1]);
    eryx__free(st->out[0].data);
    eryx__free(st->out[1].data);
    eryx__free(st);
}

void
eryx__store_arm(eryx__store *st,
                uint32_t timeout_ms,
                const int *cancel,
                int *keyboard)
{
    for (int i = 0; i < 2; i++) {
        eryx__free(st->out[i].data);
        memset(&st->out[i], 0, sizeof st->out[i]);
        st->held[i] = 0;
    }
    eryx__hub_reset(st->hub);
    st->abi_violation = false;
    st->nomem = false;
    st->stopped = ERYX_OK;
    st->stop.deadline_us =
        timeout_ms ? eryx__clock_now_us() + (uint64_t)timeout_ms * 1000u
                   : UINT64_MAX;
    st->stop.cancel = cancel;
    st->stop.suspended = eryx__hub_suspend_flag(st->hub);
    st->stop.keyboard = keyboard;
}

bool
eryx__store_keyboard(eryx__store *st, wasmtime_context_t *ctx)
{
    if (!eryx__stop_keyboard(&st->stop) ||
        !__atomic_exchange_n(st->stop.keyboard, 0, __ATOMIC_ACQ_REL))
        return false;
    const eryx_abi_interrupt_target *t = &st->keyboard;
    if (t->breaker == 0 || t->slot == 0)
        return false;
    /* The addresses are the guest's word: a bad one is refused by the
       bounds checks and the interrupt is lost, nothing else. */
    uint8_t word[4], value[4];
    eryx__le_put(value, t->value, 4);
    if (eryx__guest_read(ctx, &st->memory, t->breaker, 4, word) != ERYX_OK ||
        eryx__guest_write(ctx, &st->memory, t->slot, value, 4) != ERYX_OK)
        return false;
    eryx__le_put(word, (uint32_t)eryx__le_get(word, 4) | t->mask, 4);
    return eryx__guest_write(ctx, &st->memory, t->breaker, word, 4) == ERYX_OK;
}

eryx_status
eryx__store_check_stop(eryx__store *st)
{
    if (st->stopped != ERYX_OK)
        return st->stopped;
    if (st->stop.cancel != NULL &&
        __atomic_load_n(st->stop.cancel, __ATOMIC_ACQUIRE) != 0)
        st->stopped = ERYX_E_CANCELLED;
    else if (__atomic_load_n(st->stop.suspended, __ATOMIC_ACQUIRE) != 0)
        st->stopped = ERYX_E_SUSPENDED;
    else if (eryx__clock_now_us() >= st->stop.deadline_us)
        st->stopped = ERYX_E_TIMEOUT;
    return st->stopped;
}

/* Append to `b`, growing it; false when memory runs out. */
static bool
append(eryx__outbuf *b, const char *data, size_t len)
{
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < len)
            cap *= 2;
        char *p = eryx__realloc(b->data, cap);
        if (p == NULL)
            return false;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return true;
}

static bool
emit_output(eryx__store *st, int stream, const char *data, size_t len)
{
    eryx__outbuf *b = &st->out[stream == ERYX_STDERR];
    if (b->truncated || len == 0)
        return !b->truncated || !st->settings->output_limit_fails;
    uint64_t limit = st->settings->output_limit_bytes;
    size_t room = b->len < limit ? (size_t)(limit - b->len) : 0;
    size_t take = len < room ? len : room;
    char marker[96];
    size_t marker_len = 0;
    if (take < len) {
        b->truncated = true;
        /* Keep characters whole: drop a sequence the cut would split. */
        take -= eryx__utf8_incomplete_tail(data, take);
        marker_len = (size_t)snprintf(
            marker, sizeof marker,
            "\n[eryx: output truncated at the limit of %llu bytes]\n",
            (unsigned long long)limit);
    }
    if (!append(b, data, take) ||
        (marker_len && !append(b, marker, marker_len))) {
        b->truncated = true; /* keep what we have; the execute reports it */
        st->nomem = true;
    }
    eryx__hook *hook = st->settings->output;
    if (hook != NULL) {
        eryx_output_fn fn = (eryx_output_fn)hook->fn;
        if (take)
            fn(hook->userdata, stream, data, take);
        if (marker_len)
            fn(hook->userdata, stream, marker, marker_len);
    }
    if (b->truncated && st->settings->output_limit_fails) {
        st->stopped = ERYX_E_OUTPUT_LIMIT;
        return false;
    }
    return true;
}

/* Secrets in output: each write is scrubbed together with what the last
   one held back, and the end of it that could begin a placeholder or a
   value is held back in turn, so that a secret split across writes is
   still caught; eryx__store_take_output lets the rest go. */
bool
eryx__store_output(eryx__store *st, int stream, const char *data, size_t len)
{
    const eryx__secrets *sec = st->settings->secrets;
    unsigned flag =
        stream == ERYX_STDERR ? ERYX_SCRUB_STDERR : ERYX_SCRUB_STDOUT;
    if (sec == NULL || (st->settings->scrub & flag) == 0)
        return emit_output(st, stream, data, len);
    int i = stream == ERYX_STDERR;
    char *joined = NULL;
    const char *text = data;
    size_t n = len;
    if (st->held[i] > 0) {
        joined = eryx__malloc(st->held[i] + len);
        if (joined == NULL) {
            st->nomem = true;
            return emit_output(st, stream, ERYX__REDACTED, ERYX__REDACTED_LEN);
        }
        memcpy(joined, st->hold[i], st->held[i]);
        memcpy(joined + st->held[i], data, len);
        text = joined;
        n = st->held[i] + len;
        st->held[i] = 0;
    }
    bool nomem;
    size_t slen = 0;
    char *scrubbed = eryx__secrets_scrub(sec, text, n, &slen, &nomem);
    if (nomem) {
        /* Nothing unscrubbed leaves: say so instead. */
        eryx__free(joined);
        st->nomem = true;
        return emit_output(st, stream, ERYX__REDACTED, ERYX__REDACTED_LEN);
    }
    if (scrubbed != NULL) {
        text = scrubbed;
        n = slen;
    }
    size_t tail = eryx__secrets_tail(sec, text, n);
    bool ok = true;
    if (tail > 0) {
        char *h = eryx__realloc(st->hold[i], tail);
        if (h == NULL) {
            st->nomem = true;
            tail = 0; /* let it go now rather than lose it */
        } else {
            memcpy(h, text + n - tail, tail);
            st->hold[i] = h;
            st->held[i] = tail;
        }
    }
    ok = emit_output(st, stream, text, n - tail);
    eryx__free(scrubbed);
    eryx__free(joined);
    return ok;
}

char *
eryx__store_take_output(eryx__store *st,
                        int stream,
                        size_t *len,
                        bool *truncated)
{
    int i = stream == ERYX_STDERR;
    if (st->held[i] > 0) {
        size_t n = st->held[i];
        st->held[i] = 0;
        (void)emit_output(st, stream, st->hold[i], n);
    }
    eryx__outbuf *b = &st->out[i];
    char *text = b->data;
    *len = b->len;
    *truncated = b->truncated;
    if (text == NULL || b->len == b->cap) {
        /* Make room for the NUL the accessors promise. */
        char *p = eryx__realloc(text, b->len + 1);
        if (p == NULL) {
            eryx__free(text);
            st->nomem = true;
            *len = 0;
        }
        text = p;
    }
    if (text != NULL)
        text[*len] = '\0';
    memset(b, 0, sizeof *b);
    return text;
}
