/*
** image_format.c: parse and seal serialized images (image_format.h).
** Everything in a serialized image is untrusted input: a file a program
** read back, bytes from a network.  It is checked here, whole, before any
** of it is used.
*/
#include <string.h>

#include "instance/image_format.h"

#define MAX_MEMORY ((uint64_t)1 << 32) /* wasm32 */

size_t
eryx__image_format_size(uint64_t npages)
{
    if (npages > MAX_MEMORY / ERYX__IMAGE_PAGE)
        return 0;
    return (size_t)(ERYX__IMAGE_HEADER + npages * (4 + ERYX__IMAGE_PAGE) + 8);
}

static eryx_status
bad(eryx_error *err, const char *what)
{
    return eryx__fail(err, ERYX_E_INVALID_INPUT, "not a valid eryx image: %s",
                      what);
}

eryx_status
eryx__image_format_parse(const uint8_t *data,
                         size_t len,
                         eryx__image_view *v,
                         eryx_error *err)
{
    memset(v, 0, sizeof *v);
    if (data == NULL || len < ERYX__IMAGE_HEADER + 8)
        return bad(err, "too short");
    if (memcmp(data, ERYX__IMAGE_MAGIC, 8) != 0)
        return bad(err, "wrong magic (not an image, or another version)");
    v->guest = eryx__le_get(data + 8, 8);
    v->memory_size = eryx__le_get(data + 16, 8);
    v->execution_count = eryx__le_get(data + 24, 8);
    v->npages = eryx__le_get(data + 32, 8);
    v->stack_pointer = (uint32_t)eryx__le_get(data + 40, 4);
    if (eryx__le_get(data + 44, 4) != 0)
        return bad(err, "reserved field is not zero");
    if (v->memory_size == 0 || v->memory_size > MAX_MEMORY ||
        v->memory_size % 65536 != 0)
        return bad(err, "memory size out of range");
    if (v->npages > v->memory_size / ERYX__IMAGE_PAGE)
        return bad(err, "more pages than memory");
    size_t want = eryx__image_format_size(v->npages);
    if (want == 0 || want != len)
        return bad(err, "length does not match the page count");
    if (eryx__checksum(data, len - 8) != eryx__le_get(data + len - 8, 8))
        return bad(err, "checksum mismatch (corrupt)");
    if (v->stack_pointer == 0 || v->stack_pointer > v->memory_size)
        return bad(err, "stack pointer out of memory");
    v->index = data + ERYX__IMAGE_HEADER;
    v->pages = v->index + 4 * v->npages;
    uint64_t limit = v->memory_size / ERYX__IMAGE_PAGE;
    for (uint64_t i = 0; i < v->npages; i++) {
        uint64_t n = eryx__le_get(v->index + 4 * i, 4);
        if (n >= limit ||
            (i > 0 && n <= eryx__le_get(v->index + 4 * (i - 1), 4)))
            return bad(err, "page numbers out of order or out of memory");
    }
    return ERYX_OK;
}

void
eryx__image_format_seal(uint8_t *out, const eryx__image_view *v)
{
    size_t len = eryx__image_format_size(v->npages);
    memcpy(out, ERYX__IMAGE_MAGIC, 8);
    eryx__le_put(out + 8, v->guest, 8);
    eryx__le_put(out + 16, v->memory_size, 8);
    eryx__le_put(out + 24, v->execution_count, 8);
    eryx__le_put(out + 32, v->npages, 8);
    eryx__le_put(out + 40, v->stack_pointer, 4);
    eryx__le_put(out + 44, 0, 4);
    eryx__le_put(out + len - 8, eryx__checksum(out, len - 8), 8);
}

size_t
eryx__image_format_block(const uint8_t *data, size_t len)
{
    if (data == NULL || len < ERYX__IMAGE_HEADER)
        return len;
    size_t n = eryx__image_format_size(eryx__le_get(data + 32, 8));
    return n != 0 && n <= len ? n : len;
}
