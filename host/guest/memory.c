/*
** memory.c: the one place where bytes of guest memory enter the host
** (eryx__guest_check, _read, _write, _string).  Every offset and length is
** checked, without overflow, against the memory's size at the moment of
** the copy; the host then works on its copy.  The guest is treated as
** hostile: Python code that corrupts the guest's memory controls every
** byte read here.
*/
#include <string.h>

#include "guest/guest.h"

/* Check [off, off + len) against the current memory size; return the base. */
static uint8_t *
checked(wasmtime_context_t *ctx,
        const wasmtime_memory_t *memory,
        uint64_t off,
        uint64_t len)
{
    uint64_t end;
    size_t size = wasmtime_memory_data_size(ctx, memory);
    if (__builtin_add_overflow(off, len, &end) || end > (uint64_t)size)
        return NULL;
    return wasmtime_memory_data(ctx, memory);
}

bool
eryx__guest_check(wasmtime_context_t *ctx,
                  const wasmtime_memory_t *memory,
                  uint64_t off,
                  uint64_t len)
{
    return checked(ctx, memory, off, len) != NULL;
}

eryx_status
eryx__guest_read(wasmtime_context_t *ctx,
                 const wasmtime_memory_t *memory,
                 uint64_t off,
                 uint64_t len,
                 void *dst)
{
    uint8_t *base = checked(ctx, memory, off, len);
    if (base == NULL)
        return ERYX_E_ABI;
    if (len)
        memcpy(dst, base + off, (size_t)len);
    return ERYX_OK;
}

eryx_status
eryx__guest_write(wasmtime_context_t *ctx,
                  const wasmtime_memory_t *memory,
                  uint64_t off,
                  const void *src,
                  uint64_t len)
{
    uint8_t *base = checked(ctx, memory, off, len);
    if (base == NULL)
        return ERYX_E_ABI;
    if (len)
        memcpy(base + off, src, (size_t)len);
    return ERYX_OK;
}

eryx_status
eryx__guest_string(wasmtime_context_t *ctx,
                   const wasmtime_memory_t *memory,
                   eryx_abi_string s,
                   char **out,
                   size_t *len_out)
{
    *out = NULL;
    *len_out = 0;
    if (checked(ctx, memory, s.ptr, s.len) == NULL)
        return ERYX_E_ABI;
    char *copy = eryx__malloc((size_t)s.len + 1);
    if (copy == NULL)
        return ERYX_E_NOMEM;
    eryx__guest_read(ctx, memory, s.ptr, s.len, copy);
    copy[s.len] = '\0';
    *out = copy;
    *len_out = s.len;
    return ERYX_OK;
}
