/*
** sandbox.c: eryx_sandbox, a fresh interpreter for every execute, and
** what sandboxes and sessions share (eryx__sandbox_*): the checks of code
** before the guest sees it, and cancellation from other threads.
*/
#include <pthread.h>
#include <string.h>

#include "sandbox/sandbox.h"

struct eryx_sandbox {
    eryx_engine *engine;
    eryx__settings settings;
    eryx__interrupt interrupt;
};

/* An execute of the owner of `intr` begins or ends: a cancel only ever
   reaches the execute that is running. */
void
eryx__sandbox_running(eryx__interrupt *intr, bool running)
{
    pthread_mutex_lock(&intr->mu);
    __atomic_store_n(&intr->cancel, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&intr->keyboard, 0, __ATOMIC_RELEASE);
    intr->running = running;
    pthread_mutex_unlock(&intr->mu);
}

void
eryx__sandbox_cancel(eryx__interrupt *intr, bool keyboard)
{
    pthread_mutex_lock(&intr->mu);
    if (intr->running) {
        __atomic_store_n(keyboard ? &intr->keyboard : &intr->cancel, 1,
                         __ATOMIC_RELEASE);
        if (intr->hub != NULL)
            eryx__hub_wake(intr->hub); /* cut a wait or a sleep at once */
    }
    pthread_mutex_unlock(&intr->mu);
}

eryx_status
eryx__sandbox_init(eryx_engine *engine,
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
        return eryx__fail_nomem(err);
    pthread_mutex_init(&sb->interrupt.mu, NULL);
    eryx_status s = eryx__sandbox_init(engine, config, &sb->settings, err);
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
eryx__sandbox_begin(const char *code,
                    size_t code_len,
                    eryx_result **out,
                    eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (code == NULL && code_len != 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "code is NULL");
    eryx_result *r = eryx__result_new();
    if (r == NULL)
        return eryx__fail_nomem(err);
    r->duration_us = eryx__clock_now_us();
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

eryx_status
eryx__sandbox_finish(eryx_result *r, eryx_error *err)
{
    r->duration_us = eryx__clock_now_us() - r->duration_us;
    if (r->status != ERYX_OK)
        eryx__fail(err, r->status, "%.240s", r->error ? r->error : "");
    return r->status;
}

static eryx_status
sandbox_run(eryx_sandbox *sb,
            eryx_journal *journal,
            const char *code,
            size_t code_len,
            eryx_result **out,
            eryx_error *err)
{
    if (sb == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "sandbox is NULL");
    eryx_status s = eryx__sandbox_begin(code, code_len, out, err);
    if (s != ERYX_OK || *out == NULL)
        return s;
    /* A fresh interpreter for every execute: nothing carries over. */
    eryx__instance in;
    eryx_error e;
    eryx__sandbox_running(&sb->interrupt, true);
    s = eryx__instance_obtain(&in, sb->engine, &sb->settings, NULL,
                              &sb->interrupt, ERYX__OBTAIN_EXECUTE, &e);
    if (s == ERYX_OK) {
        eryx__instance_execute(&in, journal, code ? code : "", code_len, false,
                               *out);
        eryx__instance_retire(&in, sb->engine);
    } else {
        eryx__result_fail(*out, s, e.message);
    }
    eryx__sandbox_running(&sb->interrupt, false);
    return eryx__sandbox_finish(*out, err);
}

eryx_status
eryx_sandbox_execute(eryx_sandbox *sb,
                     const char *code,
                     size_t code_len,
                     eryx_result **out,
                     eryx_error *err)
{
    return sandbox_run(sb, NULL, code, code_len, out, err);
}

eryx_status
eryx_sandbox_execute_journal(eryx_sandbox *sb,
                             const char *code,
                             size_t code_len,
                             eryx_journal *journal,
                             eryx_result **out,
                             eryx_error *err)
{
    if (journal == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "journal is NULL");
    return sandbox_run(sb, journal, code, code_len, out, err);
}

void
eryx_sandbox_cancel(eryx_sandbox *sb)
{
    if (sb != NULL)
        eryx__sandbox_cancel(&sb->interrupt, false);
}
