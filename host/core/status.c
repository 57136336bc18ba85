/*
** status.c: status codes and their texts (eryx_status_str), version
** queries, and filling eryx_error (eryx__fail).
*/
#include <stdio.h>

#include "core/internal.h"

#ifndef ERYX_PYTHON_VERSION
#define ERYX_PYTHON_VERSION "unknown"
#endif

int
eryx_version_number(void)
{
    return ERYX_VERSION_NUMBER;
}

const char *
eryx_version(void)
{
    return ERYX_VERSION_STRING;
}

const char *
eryx_python_version(void)
{
    return ERYX_PYTHON_VERSION;
}

const char *
eryx_status_str(eryx_status status)
{
    switch (status) {
#define ERYX_STATUS_CASE_(name, value, text) \
    case name:                               \
        return text;
        ERYX_STATUS_MAP(ERYX_STATUS_CASE_)
#undef ERYX_STATUS_CASE_
    }
    return "unknown status";
}

eryx_status
eryx__fail(eryx_error *err, eryx_status status, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

eryx_status
eryx__fail_nomem(eryx_error *err)
{
    return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
}
