/*
** store.c: the host-side state of one store (eryx__store_*): the current
** execute's output, kept within its limit, its stop conditions, and the
** faults the imports record for the execute to report.
*/
#include <stdio.h>
#include <string.h>

#include "imports/imports.h"

eryx__store *
eryx__store_new(const eryx__settings *settings, eryx__workers *workers)
{
    eryx__store *st = eryx__calloc(1, sizeof *st);
    if (st == NULL || (st->hub = eryx__hub_new()) == NULL) {
        eryx__free(st);
        return NULL;
    }
    st->settings = settings;
    st->workers = workers;
    st->stop.deadline_us = UINT64_MAX;
    return st;
}

void
eryx__store_free(void *data)
{
    eryx__store *st = data;
    if (st == NULL)
        return;
    eryx__hub_release(st->hub);
    eryx__vfs_free(st->vfs);
    eryx__free(st->out[0].data);
    eryx__free(st->out[1].data);
    eryx__free(st);
}

void
eryx__store_arm(eryx__store *st, uint32_t timeout_ms, const int *cancel)
{
    for (int i = 0; i < 2; i++) {
        eryx__free(st->out[i].data);
        memset(&st->out[i], 0, sizeof st->out[i]);
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

bool
eryx__store_output(eryx__store *st, int stream, const char *data, size_t len)
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

char *
eryx__store_take_output(eryx__store *st,
                        int stream,
                        size_t *len,
                        bool *truncated)
{
    eryx__outbuf *b = &st->out[stream == ERYX_STDERR];
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
