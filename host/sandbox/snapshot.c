/*
** snapshot.c: eryx_snapshot, a session's pickled namespace, and its wire
** format (eryx__snapshot_*): a header the host writes and checks around
** the guest's pickle.  The format code is pure, so that tests/fuzz drives
** it directly.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/snapshot.h"

struct eryx_snapshot {
    uint8_t *data;
    size_t len;
    char *skipped;
};

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


static uint16_t
python_part(int which)
{
    char *end;
    unsigned long major = strtoul(eryx_python_version(), &end, 10);
    unsigned long minor = *end == '.' ? strtoul(end + 1, NULL, 10) : 0;
    return (uint16_t)(which == 0 ? major : minor);
}


void
eryx__snapshot_header(uint8_t *h, const uint8_t *payload, size_t len)
{
    memcpy(h, SNAP_MAGIC, 8);
    eryx__le_put(h + 8, SNAP_VERSION, 4);
    eryx__le_put(h + 12, python_part(0), 2);
    eryx__le_put(h + 14, python_part(1), 2);
    eryx__le_put(h + 16, len, 8);
    eryx__le_put(h + 24, crc32_ieee(payload, len), 4);
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
    if (len < ERYX__SNAPSHOT_HEADER || memcmp(h, SNAP_MAGIC, 8) != 0)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "not an eryx state snapshot");
    if (eryx__le_get(h + 8, 4) != SNAP_VERSION)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "snapshot format %u is not supported",
                          (unsigned)eryx__le_get(h + 8, 4));
    if (eryx__le_get(h + 12, 2) != python_part(0) ||
        eryx__le_get(h + 14, 2) != python_part(1))
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot was made by Python %u.%u, this is %s",
                          (unsigned)eryx__le_get(h + 12, 2),
                          (unsigned)eryx__le_get(h + 14, 2),
                          eryx_python_version());
    if (eryx__le_get(h + 16, 8) != len - ERYX__SNAPSHOT_HEADER)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot is truncated or padded");
    if (eryx__le_get(h + 24, 4) !=
        crc32_ieee(h + ERYX__SNAPSHOT_HEADER, len - ERYX__SNAPSHOT_HEADER))
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the snapshot is corrupt (checksum mismatch)");
    *payload = h + ERYX__SNAPSHOT_HEADER;
    *payload_len = len - ERYX__SNAPSHOT_HEADER;
    return ERYX_OK;
}

const uint8_t *
eryx_snapshot_data(const eryx_snapshot *snap, size_t *len)
{
    if (len != NULL)
        *len = snap ? snap->len : 0;
    return snap ? snap->data : NULL;
}

const char *
eryx_snapshot_skipped(const eryx_snapshot *snap)
{
    return snap && snap->skipped ? snap->skipped : "[]";
}

void
eryx_snapshot_free(eryx_snapshot *snap)
{
    if (snap == NULL)
        return;
    eryx__free(snap->data);
    eryx__free(snap->skipped);
    eryx__free(snap);
}

eryx_status
eryx__snapshot_new(const char *payload,
                   size_t len,
                   uint64_t limit,
                   char *skipped,
                   eryx_snapshot **out,
                   eryx_error *err)
{
    *out = NULL;
    eryx_snapshot *snap = NULL;
    eryx_status s = ERYX_OK;
    if ((uint64_t)len + ERYX__SNAPSHOT_HEADER > limit) {
        s = eryx__fail(err, ERYX_E_INVALID_INPUT,
                       "the snapshot would be %zu bytes, over the limit of "
                       "%llu bytes",
                       len + ERYX__SNAPSHOT_HEADER, (unsigned long long)limit);
    } else if ((snap = eryx__calloc(1, sizeof *snap)) == NULL ||
               (snap->data = eryx__malloc(len + ERYX__SNAPSHOT_HEADER)) ==
                   NULL) {
        s = eryx__fail_nomem(err);
    } else {
        eryx__snapshot_header(snap->data, (const uint8_t *)payload, len);
        if (len)
            memcpy(snap->data + ERYX__SNAPSHOT_HEADER, payload, len);
        snap->len = len + ERYX__SNAPSHOT_HEADER;
        snap->skipped = skipped;
        skipped = NULL;
        *out = snap;
        snap = NULL;
    }
    eryx_snapshot_free(snap);
    eryx__free(skipped);
    return s;
}
