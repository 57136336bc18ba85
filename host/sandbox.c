/*
** sandbox.c: eryx_sandbox (a fresh interpreter for every execute) and
** eryx_session (one interpreter whose namespace persists), both over
** eryx__instance.  Inputs are checked here before the guest sees them.
*/
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct eryx_sandbox {
    eryx_engine *engine;
    eryx__settings settings;
    eryx__interrupt interrupt;
};

struct eryx_session {
    eryx_engine *engine;
    eryx__settings settings;
    eryx__interrupt interrupt;
    eryx__instance instance;
    uint64_t execution_count;
};

/* An execute of the owner of `intr` begins or ends: a cancel only ever
   reaches the execute that is running. */
static void
interrupt_running(eryx__interrupt *intr, bool running)
{
    pthread_mutex_lock(&intr->mu);
    __atomic_store_n(&intr->cancel, 0, __ATOMIC_RELEASE);
    intr->running = running;
    pthread_mutex_unlock(&intr->mu);
}

static void
interrupt_cancel(eryx__interrupt *intr)
{
    pthread_mutex_lock(&intr->mu);
    if (intr->running) {
        __atomic_store_n(&intr->cancel, 1, __ATOMIC_RELEASE);
        if (intr->hub != NULL)
            eryx__hub_wake(intr->hub); /* cut a wait or a sleep at once */
    }
    pthread_mutex_unlock(&intr->mu);
}

/* Common set-up of a sandbox or session. */
static eryx_status
init_common(eryx_engine *engine,
            const eryx_config *config,
            eryx__settings *settings,
            eryx_error *err)
{
    if (engine == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "engine is NULL");
    return eryx__settings_copy(settings, config, err);
}

eryx_status
eryx_sandbox_new(eryx_engine *engine,
                 const eryx_config *config,
                 eryx_sandbox **out,
                 eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    eryx_sandbox *sb = eryx__calloc(1, sizeof *sb);
    if (sb == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    pthread_mutex_init(&sb->interrupt.mu, NULL);
    eryx_status s = init_common(engine, config, &sb->settings, err);
    if (s != ERYX_OK) {
        eryx_sandbox_free(sb);
        return s;
    }
    sb->engine = engine;
    *out = sb;
    return ERYX_OK;
}

void
eryx_sandbox_free(eryx_sandbox *sb)
{
    if (sb == NULL)
        return;
    eryx__settings_clear(&sb->settings);
    pthread_mutex_destroy(&sb->interrupt.mu);
    eryx__free(sb);
}

eryx_status
eryx_session_new(eryx_engine *engine,
                 const eryx_config *config,
                 eryx_session **out,
                 eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    eryx_session *ss = eryx__calloc(1, sizeof *ss);
    if (ss == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    pthread_mutex_init(&ss->interrupt.mu, NULL);
    eryx_status s = init_common(engine, config, &ss->settings, err);
    if (s == ERYX_OK) {
        ss->engine = engine;
        s = eryx__instance_start(&ss->instance, engine, &ss->settings,
                                 &ss->interrupt, err);
    }
    if (s != ERYX_OK) {
        eryx_session_free(ss);
        return s;
    }
    *out = ss;
    return ERYX_OK;
}

void
eryx_session_free(eryx_session *ss)
{
    if (ss == NULL)
        return;
    eryx__instance_stop(&ss->instance);
    eryx__settings_clear(&ss->settings);
    pthread_mutex_destroy(&ss->interrupt.mu);
    eryx__free(ss);
}

void
eryx_session_reset(eryx_session *ss)
{
    if (ss == NULL)
        return;
    eryx__instance_stop(&ss->instance);
    ss->execution_count = 0;
}

uint64_t
eryx_session_execution_count(const eryx_session *ss)
{
    return ss ? ss->execution_count : 0;
}

/* Start an execute: check the arguments and the code, make the result.
   Returns ERYX_OK with *out set when the guest should run; otherwise the
   status to return, with *out set when it holds the reason. */
static eryx_status
begin(const char *code, size_t code_len, eryx_result **out, eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (code == NULL && code_len != 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "code is NULL");
    eryx_result *r = eryx__result_new();
    if (r == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    r->duration_us = eryx__now_us();
    *out = r;
    const char *why = NULL;
    if (code_len && memchr(code, '\0', code_len) != NULL)
        why = "code contains a NUL byte";
    else if (code_len && !eryx__utf8_valid(code, code_len))
        why = "code is not valid UTF-8";
    if (why == NULL)
        return ERYX_OK;
    eryx__result_fail(r, ERYX_E_INVALID_INPUT, why);
    r->duration_us = 0;
    return eryx__fail(err, ERYX_E_INVALID_INPUT, "%s", why);
}

/* Finish an execute: timing and the caller's error. */
static eryx_status
finish(eryx_result *r, eryx_error *err)
{
    r->duration_us = eryx__now_us() - r->duration_us;
    if (r->status != ERYX_OK)
        eryx__fail(err, r->status, "%.240s", r->error ? r->error : "");
    return r->status;
}

eryx_status
eryx_sandbox_execute(eryx_sandbox *sb,
                     const char *code,
                     size_t code_len,
                     eryx_result **out,
                     eryx_error *err)
{
    if (sb == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "sandbox is NULL");
    eryx_status s = begin(code, code_len, out, err);
    if (s != ERYX_OK || *out == NULL)
        return s;
    /* A fresh interpreter for every execute: nothing carries over. */
    eryx__instance in;
    eryx_error e;
    interrupt_running(&sb->interrupt, true);
    s = eryx__instance_start(&in, sb->engine, &sb->settings, &sb->interrupt,
                             &e);
    if (s == ERYX_OK) {
        eryx__instance_execute(&in, code ? code : "", code_len, *out);
        eryx__instance_stop(&in);
    } else {
        eryx__result_fail(*out, s, e.message);
    }
    interrupt_running(&sb->interrupt, false);
    return finish(*out, err);
}

void
eryx_sandbox_cancel(eryx_sandbox *sb)
{
    if (sb != NULL)
        interrupt_cancel(&sb->interrupt);
}

void
eryx_session_cancel(eryx_session *ss)
{
    if (ss != NULL)
        interrupt_cancel(&ss->interrupt);
}

/* Start a new interpreter when the last one was reset (by a failure or by
   eryx_session_reset). */
static eryx_status
ensure_live(eryx_session *ss, eryx_error *err)
{
    if (ss->instance.live)
        return ERYX_OK;
    ss->execution_count = 0;
    return eryx__instance_start(&ss->instance, ss->engine, &ss->settings,
                                &ss->interrupt, err);
}

eryx_status
eryx_session_execute(eryx_session *ss,
                     const char *code,
                     size_t code_len,
                     eryx_result **out,
                     eryx_error *err)
{
    if (ss == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session is NULL");
    eryx_status s = begin(code, code_len, out, err);
    if (s != ERYX_OK || *out == NULL)
        return s;
    eryx_error e;
    interrupt_running(&ss->interrupt, true);
    s = ensure_live(ss, &e);
    if (s == ERYX_OK) {
        ss->execution_count++;
        eryx__instance_execute(&ss->instance, code ? code : "", code_len, *out);
    } else {
        eryx__result_fail(*out, s, e.message);
    }
    interrupt_running(&ss->interrupt, false);
    return finish(*out, err);
}
/* ------------------------------------------------------------ state */

/* A snapshot on the wire: a header the host writes and checks, then the
   guest's pickle.  All fields little-endian.
     0  8  magic "ERYXSNAP"
     8  4  format version (1)
    12  2  Python major, 2 Python minor: pickled code is version-bound
    16  8  payload length
    24  4  CRC-32 (IEEE) of the payload
    28     payload                                                       */
#define SNAP_MAGIC   "ERYXSNAP"
#define SNAP_VERSION 1u
#define SNAP_HEADER  28u

struct eryx_snapshot {
    uint8_t *data;
    size_t len;
    char *skipped;
};

static uint32_t
crc32_ieee(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static int ready; /* benign race: every thread computes equal values */
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void
put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint16_t
python_part(int which)
{
    unsigned major = 0, minor = 0;
    sscanf(eryx_python_version(), "%u.%u", &major, &minor);
    return (uint16_t)(which == 0 ? major : minor);
}

eryx_status
eryx_session_snapshot_state(eryx_session *ss,
                            eryx_snapshot **out,
                            eryx_error *err)
{
    if (ss == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session or out is NULL");
    *out = NULL;
    eryx_status s = ensure_live(ss, err);
    if (s != ERYX_OK)
        return s;
    char *payload = NULL, *skipped = NULL;
    size_t len = 0;
    s = eryx__instance_snapshot(&ss->instance, &payload, &len, &skipped, err);
    if (s != ERYX_OK)
        return s;
    uint64_t limit = ss->settings.snapshot_limit_bytes;
    eryx_snapshot *snap = NULL;
    if ((uint64_t)len + SNAP_HEADER > limit) {
        s = eryx__fail(err, ERYX_E_INVALID_INPUT,
                       "the snapshot would be %zu bytes, over the limit of "
                       "%llu bytes",
                       len + SNAP_HEADER, (unsigned long long)limit);
    } else if ((snap = eryx__calloc(1, sizeof *snap)) == NULL ||
               (snap->data = eryx__malloc(len + SNAP_HEADER)) == NULL) {
        s = eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    } else {
        uint8_t *h = snap->data;
        memcpy(h, SNAP_MAGIC, 8);
        put_le(h + 8, SNAP_VERSION, 4);
        put_le(h + 12, python_part(0), 2);
        put_le(h + 14, python_part(1), 2);
        put_le(h + 16, len, 8);
        put_le(h + 24, crc32_ieee((const uint8_t *)payload, len), 4);
        memcpy(h + SNAP_HEADER, payload, len);
        snap->len = len + SNAP_HEADER;
        snap->skipped = skipped;
        skipped = NULL;
        *out = snap;
        snap = NULL;
    }
    eryx_snapshot_free(snap);
    eryx__free(payload);
    eryx__free(skipped);
    return s;
}

const uint8_t *
eryx_snapshot_data(const eryx_snapshot *snap, size_t *len)
{
    if (len != NULL)
        *len = snap ? snap->len : 0;
    return snap ? snap->data : NULL;
}

const char *
eryx_snapshot_skipped(const eryx_snapshot *snap)
{
    return snap && snap->skipped ? snap->skipped : "[]";
}

void
eryx_snapshot_free(eryx_snapshot *snap)
{
    if (snap == NULL)
        return;
    eryx__free(snap->data);
    eryx__free(snap->skipped);
    eryx__free(snap);
}

eryx_status
eryx_session_restore_state(eryx_session *ss,
                           const void *data,
                           size_t len,
                           eryx_error *err)
{
    if (ss == NULL || (data == NULL && len != 0))
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session or data is NULL");
    const uint8_t *h = data;
    if (len > ss->settings.snapshot_limit_bytes)
        return eryx__fail(
            err, ERYX_E_INVALID_INPUT,
            "the snapshot is %zu bytes, over the limit of %llu", len,
            (unsigned long long)ss->settings.snapshot_limit_bytes);
    if (len < SNAP_HEADER || memcmp(h, SNAP_MAGIC, 8) != 0)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "not an eryx state snapshot");
    if (get_le(h + 8, 4) != SNAP_VERSION)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "snapshot format %u is not supported",
                          (unsigned)get_le(h + 8, 4));
    if (get_le(h + 12, 2) != python_part(0) ||
        get_le(h + 14, 2) != python_part(1))
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot was made by Python %u.%u, this is %s",
                          (unsigned)get_le(h + 12, 2),
                          (unsigned)get_le(h + 14, 2), eryx_python_version());
    if (get_le(h + 16, 8) != len - SNAP_HEADER)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot is truncated or padded");
    if (get_le(h + 24, 4) != crc32_ieee(h + SNAP_HEADER, len - SNAP_HEADER))
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot is corrupt (checksum mismatch)");
    eryx_status s = ensure_live(ss, err);
    if (s != ERYX_OK)
        return s;
    return eryx__instance_restore(&ss->instance, h + SNAP_HEADER,
                                  len - SNAP_HEADER, err);
}

eryx_status
eryx_session_clear_state(eryx_session *ss, eryx_error *err)
{
    if (ss == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session is NULL");
    eryx_status s = ensure_live(ss, err);
    return s == ERYX_OK ? eryx__instance_clear(&ss->instance, err) : s;
}
