/*
** check.c: pure checks of untrusted bytes, with no engine behind them, so
** that tests/fuzz can drive them directly: UTF-8 of code, and the header
** of a session state snapshot (eryx__snapshot_*).
*/
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing past
   U+10FFFF. */
bool
eryx__utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        unsigned cp = c & (0x3Fu >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* A snapshot on the wire: a header the host writes and checks, then the
   guest's pickle.  All fields little-endian.
     0  8  magic "ERYXSNAP"
     8  4  format version (1)
    12  2  Python major, 2 Python minor: pickled code is version-bound
    16  8  payload length
    24  4  CRC-32 (IEEE) of the payload
    28     payload                                                       */
#define SNAP_MAGIC   "ERYXSNAP"
#define SNAP_VERSION 1u

static uint32_t
crc32_ieee(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static int ready; /* benign race: every thread computes equal values */
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void
put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint16_t
python_part(int which)
{
    unsigned major = 0, minor = 0;
    sscanf(eryx_python_version(), "%u.%u", &major, &minor);
    return (uint16_t)(which == 0 ? major : minor);
}


void
eryx__snapshot_header(uint8_t *h, const uint8_t *payload, size_t len)
{
    memcpy(h, SNAP_MAGIC, 8);
    put_le(h + 8, SNAP_VERSION, 4);
    put_le(h + 12, python_part(0), 2);
    put_le(h + 14, python_part(1), 2);
    put_le(h + 16, len, 8);
    put_le(h + 24, crc32_ieee(payload, len), 4);
}

eryx_status
eryx__snapshot_parse(const uint8_t *h,
                     size_t len,
                     uint64_t limit,
                     const uint8_t **payload,
                     size_t *payload_len,
                     eryx_error *err)
{
    if (len > limit)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot is %zu bytes, over the limit of %llu",
                          len, (unsigned long long)limit);
    if (len < ERYX__SNAP_HEADER || memcmp(h, SNAP_MAGIC, 8) != 0)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "not an eryx state snapshot");
    if (get_le(h + 8, 4) != SNAP_VERSION)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "snapshot format %u is not supported",
                          (unsigned)get_le(h + 8, 4));
    if (get_le(h + 12, 2) != python_part(0) ||
        get_le(h + 14, 2) != python_part(1))
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot was made by Python %u.%u, this is %s",
                          (unsigned)get_le(h + 12, 2),
                          (unsigned)get_le(h + 14, 2), eryx_python_version());
    if (get_le(h + 16, 8) != len - ERYX__SNAP_HEADER)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot is truncated or padded");
    if (get_le(h + 24, 4) !=
        crc32_ieee(h + ERYX__SNAP_HEADER, len - ERYX__SNAP_HEADER))
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot is corrupt (checksum mismatch)");
    *payload = h + ERYX__SNAP_HEADER;
    *payload_len = len - ERYX__SNAP_HEADER;
    return ERYX_OK;
}
