/*
** internal.h: the core every subsystem of liberyx shares (prefix eryx__):
** the allocation funnel, errors, the monotonic clock, a checksum,
** little-endian byte order and UTF-8.  It includes nothing but the public
*header and the C
** library: Wasmtime, WASI and pthreads belong to the subsystems that use
** them (docs/design.md, "Layers").  Nothing here is API.
*/
#ifndef ERYX_INTERNAL_H
#define ERYX_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eryx.h"

#define ERYX__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ERYX__COUNT(a)     (sizeof(a) / sizeof((a)[0]))

/* ---- alloc.c: the one allocation funnel (cJSON goes through it too) ---- */
void *eryx__malloc(size_t size);
void *eryx__calloc(size_t count, size_t size);
void *eryx__realloc(void *ptr, size_t size);
void eryx__free(void *ptr);
char *eryx__strdup(const char *s);
char *eryx__memdup(const void *data, size_t len); /* adds a NUL */
/* Allocations that failed on this thread so far: compare two readings to
   learn whether a library call in between (cJSON's) ran out of memory. */
unsigned eryx__alloc_failures(void);
/* Route cJSON's allocations through the funnel (once per process). */
void eryx__alloc_init(void);
/* Test hook: the `n`th allocation from now on fails (1: the next one), and
   every allocation after it succeeds again; 0 turns failures off.  Returns
   how many allocations were made since the previous call while a failure
   was armed: fewer than its `n` when the failure was never reached, `n`
   when it was.  Thread-safe. */
uint64_t eryx__alloc_fail_nth(uint64_t n);

/* ---- status.c ---- */
/* Fill `err` (may be NULL) and return `status`. */
eryx_status
eryx__fail(eryx_error *err, eryx_status status, const char *fmt, ...)
    ERYX__PRINTF(3, 4);
/* eryx__fail with ERYX_E_NOMEM and the standard message. */
eryx_status eryx__fail_nomem(eryx_error *err);

/* ---- clock.c ---- */
uint64_t eryx__clock_now_us(void); /* CLOCK_MONOTONIC, microseconds */

/* ---- checksum.c ---- */
/* FNV-1a over `len` bytes, continuing from `h` (start: 0xcbf29ce484222325). */
uint64_t eryx__fnv1a(uint64_t h, const void *data, size_t len);
/* A fast checksum of `n` bytes (~10 GB/s); not cryptographic. */
uint64_t eryx__checksum(const uint8_t *p, size_t n);

/* ---- utf8.c ---- */
/* Strict UTF-8 (RFC 3629). */
bool eryx__utf8_valid(const char *s, size_t len);
/* How many of the last bytes of data[0, len) begin a UTF-8 sequence that
   data does not finish (0 to 3): cutting there keeps characters whole. */
size_t eryx__utf8_incomplete_tail(const char *data, size_t len);

/* ---- little-endian fields: the guest's byte order, and every on-disk
   format's; read and written byte by byte, so that neither the host's
   byte order nor alignment matters. ---- */
static inline uint64_t
eryx__le_get(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = bytes; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static inline void
eryx__le_put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif /* ERYX_INTERNAL_H */
