/*
** guest.c: the one place where bytes from the guest enter the host.
** Every offset and length is checked, without overflow, against the
** memory's size at the moment of the copy; the host then works on its copy.
** The guest is treated as hostile: Python code that corrupts the guest's
** memory controls every byte decoded here.
*/
#include <string.h>

#include "internal.h"

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

/* Little-endian fields, read byte by byte: the host may be big-endian and
   the return area need not be aligned in host terms. */
static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static eryx_abi_string
str_at(const uint8_t *p)
{
    eryx_abi_string s = {le32(p), le32(p + 4)};
    return s;
}

/* option<string> at p: a discriminant byte, then the string at p + 4. */
static eryx_status
option_at(const uint8_t *p, bool *is_some, eryx_abi_string *s)
{
    if (p[0] > ERYX_ABI_SOME)
        return ERYX_E_ABI;
    *is_some = p[0] == ERYX_ABI_SOME;
    *s = str_at(p + 4);
    return ERYX_OK;
}

eryx_status
eryx__decode_execute_ret(const uint8_t *b, eryx__execute_ret *out)
{
    memset(out, 0, sizeof *out);
    out->tag = b[0];
    const uint8_t *payload = b + offsetof(eryx_abi_execute_ret, u);
    if (out->tag == ERYX_ABI_OK) {
        if (option_at(payload, &out->has_json, &out->json) != ERYX_OK ||
            option_at(payload + 12, &out->has_json_error, &out->json_error) !=
                ERYX_OK)
            return ERYX_E_ABI;
        return ERYX_OK;
    }
    if (out->tag == ERYX_ABI_ERR) {
        out->message = str_at(payload);
        return ERYX_OK;
    }
    return ERYX_E_ABI;
}

eryx_status
eryx__decode_snapshot_ret(const uint8_t *b,
                          uint8_t *tag,
                          eryx_abi_string *a,
                          eryx_abi_string *c)
{
    *tag = b[0];
    *a = str_at(b + 4);
    *c = str_at(b + 12);
    return b[0] <= ERYX_ABI_ERR ? ERYX_OK : ERYX_E_ABI;
}

eryx_status
eryx__decode_unit_ret(const uint8_t *b, uint8_t *tag, eryx_abi_string *err_text)
{
    *tag = b[0];
    *err_text = str_at(b + 4);
    return b[0] <= ERYX_ABI_ERR ? ERYX_OK : ERYX_E_ABI;
}
