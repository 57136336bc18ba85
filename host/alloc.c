/*
** alloc.c: the one funnel every allocation of liberyx goes through
** (eryx__malloc and friends), so that tests can count or fail them.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *
eryx__malloc(size_t size)
{
    return size ? malloc(size) : NULL;
}

void *
eryx__calloc(size_t count, size_t size)
{
    return count && size ? calloc(count, size) : NULL;
}

void *
eryx__realloc(void *ptr, size_t size)
{
    if (size == 0) {
        eryx__free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
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
