/*
** checksum.c: the one fast checksum of liberyx (compiled code on disk,
** serialized images, the guest's identity).  Not a cryptographic hash: it
** catches corruption and mismatched files, not forgery; whoever can write
** those files can write code anyway.
*/
#include <string.h>

#include "core/internal.h"

uint64_t
eryx__fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Four independent lanes of multiply-rotate over 8-byte words, ~10 GB/s. */
uint64_t
eryx__checksum(const uint8_t *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t lane[4] = {k, k ^ 1, k ^ 2, k ^ 3};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; j++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * (size_t)j, 8);
            lane[j] = ((lane[j] ^ w) * k);
            lane[j] = (lane[j] << 29) | (lane[j] >> 35);
        }
    }
    uint64_t h = (uint64_t)n;
    for (int j = 0; j < 4; j++)
        h = (h ^ lane[j]) * k;
    return eryx__fnv1a(h, p + i, n - i);
}
