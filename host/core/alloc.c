/*
** alloc.c: the one funnel every allocation of liberyx goes through
** (eryx__malloc and friends), cJSON's included, so that tests can fail
** the Nth allocation (eryx__alloc_fail_nth) and check that every path
** reports ERYX_E_NOMEM and leaks nothing.
*/
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/internal.h"

/* The count at which an allocation fails (0: none armed), and the
   allocations made while one is armed.  Both atomic; when none is armed
   the check is one load, and no allocation writes shared memory. */
static uint64_t made, fail_at;

static _Thread_local unsigned failures;

static bool
injected_failure(void)
{
    uint64_t at = __atomic_load_n(&fail_at, __ATOMIC_RELAXED);
    if (at == 0 || __atomic_add_fetch(&made, 1, __ATOMIC_RELAXED) != at ||
        !__atomic_compare_exchange_n(&fail_at, &at, 0, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return false;
    failures++;
    return true;
}

/* Count a real failure too. */
static void *
counted(void *p)
{
    if (p == NULL)
        failures++;
    return p;
}

unsigned
eryx__alloc_failures(void)
{
    return failures;
}

uint64_t
eryx__alloc_fail_nth(uint64_t n)
{
    uint64_t before = __atomic_exchange_n(&made, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fail_at, n, __ATOMIC_RELAXED);
    return before;
}

void *
eryx__malloc(size_t size)
{
    if (size == 0 || injected_failure())
        return NULL;
    return counted(malloc(size));
}

void *
eryx__calloc(size_t count, size_t size)
{
    if (count == 0 || size == 0 || injected_failure())
        return NULL;
    return counted(calloc(count, size));
}

void *
eryx__realloc(void *ptr, size_t size)
{
    if (size == 0) {
        eryx__free(ptr);
        return NULL;
    }
    if (injected_failure())
        return NULL;
    return counted(realloc(ptr, size));
}

void
eryx__free(void *ptr)
{
    int saved = errno; /* free may clobber errno; callers report it */
    free(ptr);
    errno = saved;
}

char *
eryx__memdup(const void *data, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *copy = eryx__malloc(len + 1);
    if (copy == NULL)
        return NULL;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    return copy;
}

char *
eryx__strdup(const char *s)
{
    return eryx__memdup(s, strlen(s));
}

static void
init_cjson(void)
{
    cJSON_Hooks hooks = {eryx__malloc, eryx__free};
    cJSON_InitHooks(&hooks);
}

void
eryx__alloc_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_cjson);
}
