/*
** sandbox.c: eryx_sandbox (a fresh interpreter for every execute) and
** eryx_session (one interpreter whose namespace persists), both over
** eryx__instance.  Inputs are checked here before the guest sees them.
*/
#include <string.h>

#include "internal.h"

struct eryx_sandbox {
    eryx_engine *engine;
    char *result_variable;
};

struct eryx_session {
    eryx_engine *engine;
    char *result_variable;
    eryx__instance instance;
    uint64_t execution_count;
};

/* Common set-up of a sandbox or session. */
static eryx_status
init_common(eryx_engine *engine,
            const eryx_config *config,
            char **result_variable,
            eryx_error *err)
{
    if (engine == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "engine is NULL");
    *result_variable = eryx__strdup(eryx__config_result_variable(config));
    if (*result_variable == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    return ERYX_OK;
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
    eryx_status s = init_common(engine, config, &sb->result_variable, err);
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
    eryx__free(sb->result_variable);
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
    eryx_status s = init_common(engine, config, &ss->result_variable, err);
    if (s == ERYX_OK) {
        ss->engine = engine;
        s = eryx__instance_start(&ss->instance, engine, err);
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
    eryx__free(ss->result_variable);
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
    s = eryx__instance_start(&in, sb->engine, &e);
    if (s != ERYX_OK) {
        eryx__result_fail(*out, s, e.message);
        return finish(*out, err);
    }
    eryx__instance_execute(&in, code ? code : "", code_len, sb->result_variable,
                           *out);
    eryx__instance_stop(&in);
    return finish(*out, err);
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
    if (!ss->instance.live) {
        /* Reset after a failure, or by eryx_session_reset. */
        eryx_error e;
        ss->execution_count = 0;
        s = eryx__instance_start(&ss->instance, ss->engine, &e);
        if (s != ERYX_OK) {
            eryx__result_fail(*out, s, e.message);
            return finish(*out, err);
        }
    }
    ss->execution_count++;
    eryx__instance_execute(&ss->instance, code ? code : "", code_len,
                           ss->result_variable, *out);
    return finish(*out, err);
}
