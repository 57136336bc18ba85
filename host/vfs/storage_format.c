/*
** storage_format.c: the byte form of an in-memory tree (vfs.h describes
** it): a writer into a growing buffer, and a parser that checks every byte
** before a record reaches its sink.  Pure: no Wasmtime, no threads.
*/
#include <string.h>

#include "vfs/vfs.h"

static const char MAGIC[8] = {'E', 'R', 'Y', 'X', 'V', 'F', 'S', '1'};
#define HEADER 24 /* magic, payload length, checksum */

static void
buf_put(eryx__vfs_buf *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *d = eryx__realloc(b->data, cap);
        if (d == NULL) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void
buf_le(eryx__vfs_buf *b, uint64_t v, unsigned bytes)
{
    uint8_t t[8];
    eryx__le_put(t, v, bytes);
    buf_put(b, t, bytes);
}

void
eryx__storage_format_begin(eryx__vfs_buf *b)
{
    memset(b, 0, sizeof *b);
    uint8_t h[HEADER] = {0};
    buf_put(b, h, sizeof h);
}

void
eryx__storage_format_record(eryx__vfs_buf *b,
                            int type,
                            const char *name,
                            size_t name_len,
                            uint64_t mtime,
                            const uint8_t *content,
                            uint64_t len)
{
    buf_le(b, (uint64_t)type, 1);
    if (type == 0)
        return;
    buf_le(b, name_len, 2);
    buf_put(b, name, name_len);
    buf_le(b, mtime, 8);
    buf_le(b, len, 8);
    if (len)
        buf_put(b, content, (size_t)len);
}

bool
eryx__storage_format_end(eryx__vfs_buf *b)
{
    buf_le(b, 0, 1); /* the root's end */
    if (b->failed) {
        eryx__free(b->data);
        memset(b, 0, sizeof *b);
        b->failed = true;
        return false;
    }
    memcpy(b->data, MAGIC, 8);
    eryx__le_put(b->data + 8, b->len - HEADER, 8);
    eryx__le_put(b->data + 16,
                 eryx__checksum(b->data + HEADER, b->len - HEADER), 8);
    return true;
}

/* A name as a directory entry may hold. */
static bool
name_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > ERYX__VFS_NAME_MAX || memchr(p, '/', n) ||
        memchr(p, '\0', n))
        return false;
    return !(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.');
}

/* The names seen in each open directory, to refuse duplicates: a sorted
   insert would cost as much as the builder's own; a per-level hash set is
   kept small by storing (offset, length) into `data`. */
typedef struct seen_set {
    uint32_t *slots; /* offset + 1 of a record's name; 0 empty */
    uint16_t *lens;
    size_t cap, count;
} seen_set;

static bool
seen_add(
    seen_set *s, const uint8_t *data, uint32_t off, uint16_t len, bool *dup)
{
    *dup = false;
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        uint32_t *slots = eryx__calloc(cap, sizeof *slots);
        uint16_t *lens = eryx__calloc(cap, sizeof *lens);
        if (slots == NULL || lens == NULL) {
            eryx__free(slots);
            eryx__free(lens);
            return false;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i] == 0)
                continue;
            uint64_t h = eryx__fnv1a(0xcbf29ce484222325ull,
                                     data + s->slots[i] - 1, s->lens[i]);
            size_t j = (size_t)h & (cap - 1);
            while (slots[j] != 0)
                j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
            lens[j] = s->lens[i];
        }
        eryx__free(s->slots);
        eryx__free(s->lens);
        s->slots = slots;
        s->lens = lens;
        s->cap = cap;
    }
    uint64_t h = eryx__fnv1a(0xcbf29ce484222325ull, data + off, len);
    size_t j = (size_t)h & (s->cap - 1);
    while (s->slots[j] != 0) {
        if (s->lens[j] == len &&
            memcmp(data + s->slots[j] - 1, data + off, len) == 0) {
            *dup = true;
            return true;
        }
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = off + 1;
    s->lens[j] = len;
    s->count++;
    return true;
}

static void
seen_clear(seen_set *s)
{
    eryx__free(s->slots);
    eryx__free(s->lens);
    memset(s, 0, sizeof *s);
}

/* Two passes: the first checks everything with no sink, so that a sink
   never sees a record of a tree that turns out to be broken. */
static eryx_status
parse(const uint8_t *data,
      size_t len,
      const eryx__vfs_sink *sink,
      eryx_error *err)
{
    const uint8_t *p = data + HEADER;
    size_t left = len - HEADER;
    /* One set of names per open directory; depth bounded. */
    seen_set *seen = eryx__calloc(ERYX__VFS_DEPTH_MAX + 1, sizeof *seen);
    if (seen == NULL)
        return eryx__fail_nomem(err);
    size_t depth = 0;
    eryx_status s = ERYX_OK;
    const char *why = NULL;
    for (;;) {
        if (left < 1) {
            why = "it ends inside a directory";
            break;
        }
        int type = p[0];
        p++, left--;
        if (type == 0) {
            if (sink == NULL)
                seen_clear(&seen[depth]);
            if (sink && !sink->record(sink->ctx, 0, NULL, 0, 0, NULL, 0)) {
                s = ERYX_E_INVALID_INPUT;
                break;
            }
            if (depth == 0) {
                if (left != 0)
                    why = "bytes follow the tree";
                break;
            }
            depth--;
            continue;
        }
        if (type != ERYX__FT_DIR && type != ERYX__FT_FILE &&
            type != ERYX__FT_SYMLINK) {
            why = "a record has an unknown type";
            break;
        }
        if (left < 2) {
            why = "a record is cut short";
            break;
        }
        size_t nlen = (size_t)eryx__le_get(p, 2);
        p += 2, left -= 2;
        if (left < nlen + 16) {
            why = "a record is cut short";
            break;
        }
        const uint8_t *name = p;
        if (!name_ok(name, nlen)) {
            why = "a name is not a valid file name";
            break;
        }
        p += nlen, left -= nlen;
        uint64_t mtime = eryx__le_get(p, 8);
        uint64_t clen = eryx__le_get(p + 8, 8);
        p += 16, left -= 16;
        if (clen > left || (type == ERYX__FT_DIR && clen != 0) ||
            (type == ERYX__FT_SYMLINK &&
             (clen == 0 || clen > ERYX__VFS_PATH_MAX ||
              memchr(p, '\0', (size_t)clen)))) {
            why = "a record's content has a bad length";
            break;
        }
        if (sink == NULL) {
            bool dup;
            if (!seen_add(&seen[depth], data, (uint32_t)(name - data),
                          (uint16_t)nlen, &dup)) {
                s = eryx__fail_nomem(err);
                break;
            }
            if (dup) {
                why = "a directory holds one name twice";
                break;
            }
        } else if (!sink->record(sink->ctx, type, (const char *)name, nlen,
                                 mtime, p, clen)) {
            s = ERYX_E_INVALID_INPUT;
            break;
        }
        p += clen, left -= (size_t)clen;
        if (type == ERYX__FT_DIR) {
            if (depth == ERYX__VFS_DEPTH_MAX) {
                why = "directories nest too deep";
                break;
            }
            depth++;
        }
    }
    for (size_t i = 0; i <= ERYX__VFS_DEPTH_MAX; i++)
        seen_clear(&seen[i]);
    eryx__free(seen);
    if (why != NULL)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "not a valid storage snapshot: %s", why);
    if (s == ERYX_E_INVALID_INPUT)
        return eryx__fail(err, s, "the storage snapshot does not fit");
    return s;
}

eryx_status
eryx__storage_format_parse(const uint8_t *data,
                           size_t len,
                           const eryx__vfs_sink *sink,
                           eryx_error *err)
{
    if (data == NULL || len < HEADER || memcmp(data, MAGIC, 8) != 0)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "not a storage snapshot (no ERYXVFS1 header)");
    if (eryx__le_get(data + 8, 8) != len - HEADER)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the storage snapshot is truncated or has bytes "
                          "after its end");
    if (eryx__le_get(data + 16, 8) !=
        eryx__checksum(data + HEADER, len - HEADER))
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the storage snapshot is corrupt (checksum)");
    eryx_status s = parse(data, len, NULL, err);
    if (s == ERYX_OK && sink != NULL)
        s = parse(data, len, sink, err);
    return s;
}
