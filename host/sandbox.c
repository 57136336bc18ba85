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

eryx_status
eryx__session_renew(eryx_session *ss, eryx_error *err)
{
    eryx__instance_stop(&ss->instance);
    return ensure_live(ss, err);
}

/* ------------------------------------------------------------ images */

eryx_status
eryx_session_capture(eryx_session *ss, eryx_image **out, eryx_error *err)
{
    if (ss == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session or out is NULL");
    *out = NULL;
    eryx_status s = ensure_live(ss, err);
    if (s != ERYX_OK)
        return s;
    return eryx__image_capture(&ss->instance, ss->engine, &ss->settings,
                               ss->execution_count, out, err);
}

eryx_status
eryx_session_new_from_image(eryx_engine *engine,
                            const eryx_config *config,
                            const eryx_image *image,
                            eryx_session **out,
                            eryx_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (image == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "image is NULL");
    if (eryx__image_engine(image) != engine)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the image belongs to another engine");
    eryx_session *ss = NULL;
    eryx_status s = eryx_session_new(engine, config, &ss, err);
    if (s != ERYX_OK)
        return s;
    s = eryx__image_apply(&ss->instance, image, &ss->execution_count, err);
    if (s != ERYX_OK) {
        eryx_session_free(ss);
        return s;
    }
    *out = ss;
    return ERYX_OK;
}

/* ------------------------------------------------------------ state */

struct eryx_snapshot {
    uint8_t *data;
    size_t len;
    char *skipped;
};

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
    if ((uint64_t)len + ERYX__SNAP_HEADER > limit) {
        s = eryx__fail(err, ERYX_E_INVALID_INPUT,
                       "the snapshot would be %zu bytes, over the limit of "
                       "%llu bytes",
                       len + ERYX__SNAP_HEADER, (unsigned long long)limit);
    } else if ((snap = eryx__calloc(1, sizeof *snap)) == NULL ||
               (snap->data = eryx__malloc(len + ERYX__SNAP_HEADER)) == NULL) {
        s = eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    } else {
        uint8_t *h = snap->data;
        eryx__snapshot_header(h, (const uint8_t *)payload, len);
        memcpy(h + ERYX__SNAP_HEADER, payload, len);
        snap->len = len + ERYX__SNAP_HEADER;
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
    const uint8_t *payload;
    size_t payload_len;
    eryx_status c =
        eryx__snapshot_parse(data, len, ss->settings.snapshot_limit_bytes,
                             &payload, &payload_len, err);
    if (c != ERYX_OK)
        return c;
    eryx_status s = ensure_live(ss, err);
    if (s != ERYX_OK)
        return s;
    return eryx__instance_restore(&ss->instance, payload, payload_len, err);
}

eryx_status
eryx_session_clear_state(eryx_session *ss, eryx_error *err)
{
    if (ss == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session is NULL");
    eryx_status s = ensure_live(ss, err);
    return s == ERYX_OK ? eryx__instance_clear(&ss->instance, err) : s;
}
