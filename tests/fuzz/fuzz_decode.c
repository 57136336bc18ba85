/*
** fuzz_decode.c: libFuzzer entry point over the host's decoding of data
** the guest or a caller controls: the return areas of execute,
** snapshot-state and the unit results (host/guest/decode.c), the UTF-8
** checks of code and of output cuts (host/core/utf8.c) and the snapshot
** header parser (host/sandbox/snapshot.c), and the serialized-image
** parser (host/instance/image_format.c), raw and with a valid checksum
** written over the input so that its field checks are reached, and the
** storage snapshot parser (host/vfs/storage_format.c), likewise; a valid
** storage snapshot written back from its records is the same bytes.
** Besides "no
*crash,
** no sanitizer report", it checks one property: a header written over any
** payload parses back to exactly that payload.
*/
#include <stdlib.h>
#include <string.h>

#include "guest/guest.h"
#include "instance/image_format.h"
#include "sandbox/snapshot.h"
#include "vfs/vfs.h"

/* Writes every record it is fed back into a buffer. */
typedef struct rewrite {
    eryx__vfs_buf buf;
    int depth;
} rewrite;

static bool
rewrite_record(void *ctx,
               int type,
               const char *name,
               size_t name_len,
               uint64_t mtime,
               const uint8_t *content,
               uint64_t len)
{
    rewrite *r = ctx;
    if (type == 0 && r->depth-- == 0)
        return true; /* the root's end: eryx__storage_format_end writes it */
    if (type == ERYX__FT_DIR)
        r->depth++;
    eryx__storage_format_record(&r->buf, type, name, name_len, mtime, content,
                                len);
    return true;
}

static void
storage_format(const uint8_t *data, size_t size)
{
    eryx_error err;
    (void)eryx__storage_format_parse(data, size, NULL, &err);
    /* The same payload behind a valid header. */
    uint8_t *framed = malloc(size + 24);
    if (framed == NULL)
        return;
    memcpy(framed, "ERYXVFS1", 8);
    eryx__le_put(framed + 8, size, 8);
    eryx__le_put(framed + 16, eryx__checksum(data, size), 8);
    if (size)
        memcpy(framed + 24, data, size);
    rewrite r = {.depth = 0};
    eryx__storage_format_begin(&r.buf);
    eryx__vfs_sink sink = {rewrite_record, &r};
    if (eryx__storage_format_parse(framed, size + 24, &sink, &err) == ERYX_OK) {
        if (!eryx__storage_format_end(&r.buf) || r.buf.len != size + 24 ||
            memcmp(r.buf.data, framed, size + 24) != 0)
            __builtin_trap();
    }
    free(r.buf.data);
    free(framed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eryx__execute_ret d;
    uint8_t tag;
    eryx_abi_string a, b;
    if (size >= ERYX_ABI_EXECUTE_RET_SIZE)
        (void)eryx__guest_decode_execute(data, &d);
    if (size >= ERYX_ABI_SNAPSHOT_RET_SIZE)
        (void)eryx__guest_decode_snapshot(data, &tag, &a, &b);
    if (size >= ERYX_ABI_UNIT_RET_SIZE)
        (void)eryx__guest_decode_unit(data, &tag, &a);
    (void)eryx__utf8_valid((const char *)data, size);
    /* Cutting off the incomplete tail of valid UTF-8 leaves valid UTF-8. */
    size_t tail = eryx__utf8_incomplete_tail((const char *)data, size);
    if (tail > 3 || tail > size)
        __builtin_trap();
    if (eryx__utf8_valid((const char *)data, size) && tail != 0)
        __builtin_trap();

    const uint8_t *payload;
    size_t len;
    eryx_error err;
    (void)eryx__snapshot_parse(data, size, 1u << 20, &payload, &len, &err);

    uint8_t *framed = malloc(size + ERYX__SNAPSHOT_HEADER);
    if (framed == NULL)
        return 0;
    eryx__snapshot_header(framed, data, size);
    if (size)
        memcpy(framed + ERYX__SNAPSHOT_HEADER, data, size);
    if (eryx__snapshot_parse(framed, size + ERYX__SNAPSHOT_HEADER, SIZE_MAX,
                             &payload, &len, &err) != ERYX_OK ||
        len != size || (size && memcmp(payload, data, size) != 0))
        __builtin_trap();
    free(framed);

    storage_format(data, size);

    eryx__image_view v;
    (void)eryx__image_format_parse(data, size, &v, &err);
    if (size >= ERYX__IMAGE_HEADER + 8) {
        uint8_t *img = malloc(size);
        if (img == NULL)
            return 0;
        memcpy(img, data, size);
        memcpy(img, ERYX__IMAGE_MAGIC, 8);
        eryx__le_put(img + size - 8, eryx__checksum(img, size - 8), 8);
        if (eryx__image_format_parse(img, size, &v, &err) == ERYX_OK &&
            (v.index + 4 * v.npages != v.pages ||
             v.pages + v.npages * ERYX__IMAGE_PAGE + 8 != img + size))
            __builtin_trap();
        free(img);
    }
    return 0;
}
