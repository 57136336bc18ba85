/*
** uuid.c: uuid_generate_time for CPython's _uuid module (compiled from
** CPython's own Modules/_uuidmodule.c by the Makefile).
**
** The sandbox has no hardware address and no libuuid clock file, so the
** node is 47 random bits with the multicast bit set (RFC 9562, 6.10), drawn
** on first use (never during pre-initialization, which would bake one node
** into every sandbox), and the clock sequence is drawn afresh for every
** UUID.  The 100 ns timestamp is strictly increasing within an instance.
** _uuid then reports is_safe as unknown, as CPython's pure-Python uuid1
** does; has_stable_extractable_node is 0, so uuid.getnode() does not take
** this random node for a MAC address.
*/
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uuid/uuid.h"

/* 100 ns intervals between 1582-10-15 and 1970-01-01. */
#define GREGORIAN_OFFSET 0x01B21DD213814000ULL

static unsigned char node[6];
static int have_node;
static uint64_t last_ts;

static void
random_bytes(void *buf, size_t len)
{
    if (getentropy(buf, len) != 0) { /* WASI's random_get failed */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x =
            (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)ts.tv_sec;
        memcpy(buf, &x, len < sizeof x ? len : sizeof x);
    }
}

void
uuid_generate_time(uuid_t out)
{
    struct timespec now;
    if (!have_node) {
        random_bytes(node, sizeof node);
        node[0] |= 0x01;
        have_node = 1;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ts = (uint64_t)now.tv_sec * 10000000ULL +
                  (uint64_t)now.tv_nsec / 100 + GREGORIAN_OFFSET;
    if (ts <= last_ts)
        ts = last_ts + 1;
    last_ts = ts;
    unsigned char seq[2];
    random_bytes(seq, sizeof seq);

    uint32_t time_low = (uint32_t)ts;
    uint16_t time_mid = (uint16_t)(ts >> 32);
    uint16_t time_hi = (uint16_t)((ts >> 48) & 0x0FFF) | 0x1000; /* version 1 */
    out[0] = (unsigned char)(time_low >> 24);
    out[1] = (unsigned char)(time_low >> 16);
    out[2] = (unsigned char)(time_low >> 8);
    out[3] = (unsigned char)time_low;
    out[4] = (unsigned char)(time_mid >> 8);
    out[5] = (unsigned char)time_mid;
    out[6] = (unsigned char)(time_hi >> 8);
    out[7] = (unsigned char)time_hi;
    out[8] = (unsigned char)((seq[0] & 0x3F) | 0x80); /* variant RFC 4122 */
    out[9] = seq[1];
    memcpy(out + 10, node, sizeof node);
}
