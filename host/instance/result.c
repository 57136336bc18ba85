/*
** result.c: eryx_result, what one execute produced, and its accessors.
*/
#include <string.h>

#include "instance/instance.h"

static char empty[1];

eryx_result *
eryx__result_new(void)
{
    return eryx__calloc(1, sizeof(eryx_result));
}

void
eryx__result_fail(eryx_result *r, eryx_status status, const char *message)
{
    eryx__free(r->error);
    r->status = status;
    r->error = eryx__strdup(message);
    r->error_len = r->error ? strlen(r->error) : 0;
}

void
eryx_result_free(eryx_result *r)
{
    if (r == NULL)
        return;
    eryx__free(r->stdout_text);
    eryx__free(r->stderr_text);
    eryx__free(r->json);
    eryx__free(r->json_error);
    eryx__free(r->error);
    eryx__free(r);
}

eryx_status
eryx_result_status(const eryx_result *r)
{
    return r ? r->status : ERYX_E_INVALID_ARG;
}

/* A view of one text field: `text` may be NULL when `or_empty` says to
   return "" instead. */
static const char *
view(const char *text, size_t text_len, size_t *len, bool or_empty)
{
    if (text == NULL) {
        if (len)
            *len = 0;
        return or_empty ? empty : NULL;
    }
    if (len)
        *len = text_len;
    return text;
}

const char *
eryx_result_stdout(const eryx_result *r, size_t *len)
{
    return r ? view(r->stdout_text, r->stdout_len, len, true)
             : view(NULL, 0, len, true);
}

const char *
eryx_result_stderr(const eryx_result *r, size_t *len)
{
    return r ? view(r->stderr_text, r->stderr_len, len, true)
             : view(NULL, 0, len, true);
}

const char *
eryx_result_json(const eryx_result *r, size_t *len)
{
    return view(r ? r->json : NULL, r ? r->json_len : 0, len, false);
}

const char *
eryx_result_json_error(const eryx_result *r, size_t *len)
{
    return view(r ? r->json_error : NULL, r ? r->json_error_len : 0, len,
                false);
}

const char *
eryx_result_error(const eryx_result *r, size_t *len)
{
    if (r != NULL && r->error == NULL && r->status != ERYX_OK) {
        /* The message could not be copied: say at least what failed. */
        const char *text = eryx_status_str(r->status);
        return view(text, strlen(text), len, false);
    }
    return view(r ? r->error : NULL, r ? r->error_len : 0, len, false);
}

uint64_t
eryx_result_duration_us(const eryx_result *r)
{
    return r ? r->duration_us : 0;
}

uint32_t
eryx_result_callback_invocations(const eryx_result *r)
{
    return r ? r->callback_invocations : 0;
}

uint64_t
eryx_result_peak_memory_bytes(const eryx_result *r)
{
    return r ? r->peak_memory_bytes : 0;
}

int
eryx_result_output_truncated(const eryx_result *r, int stream)
{
    if (r == NULL)
        return 0;
    return stream == ERYX_STDERR ? r->stderr_truncated : r->stdout_truncated;
}

uint64_t
eryx_result_fuel_consumed(const eryx_result *r)
{
    return r ? r->fuel_consumed : 0;
}
