/*
** guest.h: the host's only ways into guest memory, and the decoders of
** what the guest's exports return (prefix eryx__guest_).  Everything the
** guest hands over is untrusted; it is checked here, once, and the rest of
** the host works on checked copies.
*/
#ifndef ERYX_GUEST_H
#define ERYX_GUEST_H

#include "core/internal.h"
#include "eryx_abi.h"

/* The memory half needs Wasmtime; the decoders (decode.c) do not, so that
   pure users (the fuzz targets) can leave Wasmtime out. */
#ifndef ERYX__GUEST_DECODE_ONLY
#include <wasmtime.h>

/* Does [off, off + len) lie inside the guest's current memory? */
bool eryx__guest_check(wasmtime_context_t *ctx,
                       const wasmtime_memory_t *memory,
                       uint64_t off,
                       uint64_t len);
/* Copy `len` bytes at guest offset `off` into `dst`, after checking that
   [off, off + len) lies inside the current memory; ERYX_E_ABI if not. */
eryx_status eryx__guest_read(wasmtime_context_t *ctx,
                             const wasmtime_memory_t *memory,
                             uint64_t off,
                             uint64_t len,
                             void *dst);
/* Write `len` bytes at guest offset `off`, checked likewise. */
eryx_status eryx__guest_write(wasmtime_context_t *ctx,
                              const wasmtime_memory_t *memory,
                              uint64_t off,
                              const void *src,
                              uint64_t len);
/* A checked copy of a guest string (NUL added); `*out` owned by the caller.
   ERYX_E_ABI out of bounds, ERYX_E_NOMEM. */
eryx_status eryx__guest_string(wasmtime_context_t *ctx,
                               const wasmtime_memory_t *memory,
                               eryx_abi_string s,
                               char **out,
                               size_t *len_out);
#endif

/* The decoded return area of `execute`. */
typedef struct eryx__execute_ret {
    uint8_t tag;
    eryx_abi_string message; /* when tag is ERYX_ABI_ERR */
    bool has_json, has_json_error;
    eryx_abi_string json, json_error;
} eryx__execute_ret;
/* Decode the ERYX_ABI_EXECUTE_RET_SIZE bytes of a return area. */
eryx_status eryx__guest_decode_execute(const uint8_t *bytes,
                                       eryx__execute_ret *out);
/* Decode a result<state-snapshot, string> return area: on ok, `a` is the
   data and `b` the skipped names; on error, `a` is the message. */
eryx_status eryx__guest_decode_snapshot(const uint8_t *bytes,
                                        uint8_t *tag,
                                        eryx_abi_string *a,
                                        eryx_abi_string *b);
/* Decode eryx_interrupt_target's record (anything decodes: the addresses
   are checked when the host writes to them). */
void eryx__guest_decode_interrupt(const uint8_t *bytes,
                                  eryx_abi_interrupt_target *out);
/* Decode a result<_, string> return area. */
eryx_status eryx__guest_decode_unit(const uint8_t *bytes,
                                    uint8_t *tag,
                                    eryx_abi_string *err_text);

#endif /* ERYX_GUEST_H */
