/*
** image_format.h: the byte format of a serialized eryx_image, private to
** liberyx (prefix eryx__image_format_ in image_format.c).  It depends on the
** core only, so that the fuzzer can run the parser without Wasmtime.
**
**   offset  size      field
**   0       8         magic "ERYXIMG1"
**   8       8         guest: identity of the pre-initialized guest memory
**   16      8         memory_size (bytes; a multiple of 64 KiB, <= 4 GiB)
**   24      8         execution_count
**   32      8         npages
**   40      4         stack_pointer
**   44      4         reserved, 0
**   48      4*npages  page numbers, strictly ascending, < memory_size/4096
**   ...     4096*npages  the pages
**   end-8   8         eryx__checksum of everything before it
**
** Little-endian throughout.
*/
#ifndef ERYX_IMAGE_FORMAT_H
#define ERYX_IMAGE_FORMAT_H

#include "core/internal.h"

#define ERYX__IMAGE_MAGIC  "ERYXIMG1"
#define ERYX__IMAGE_HEADER 48u
#define ERYX__IMAGE_PAGE   4096u
/* After the memory block, an image's files (instance/image.c). */
#define ERYX__IMAGE_FILES_MAGIC "ERYXFIL1"
#define ERYX__IMAGE_FILES       3

typedef struct eryx__image_view {
    uint64_t guest, memory_size, execution_count, npages;
    uint32_t stack_pointer;
    const uint8_t *index; /* npages little-endian u32 */
    const uint8_t *pages; /* npages * 4096 bytes */
} eryx__image_view;

/* Bytes a serialized image of `npages` pages takes (0 on overflow). */
size_t eryx__image_format_size(uint64_t npages);
/* How many of `len` bytes the memory block at `data` claims by its header:
   `len` itself when it is too short or claims more (the parse then says
   what is wrong). */
size_t eryx__image_format_block(const uint8_t *data, size_t len);

/* Check `data` completely (length, magic, checksum, fields, page numbers)
   and describe it in `v` (pointers into `data`).  ERYX_E_INVALID_INPUT with
   a message saying what is wrong. */
eryx_status eryx__image_format_parse(const uint8_t *data,
                                     size_t len,
                                     eryx__image_view *v,
                                     eryx_error *err);

/* Write the header and the checksum around pages already in place:
   `out` holds eryx__image_format_size(v->npages) bytes, with the index and
   the pages written at their offsets. */
void eryx__image_format_seal(uint8_t *out, const eryx__image_view *v);

/* ---- image_module.c ----
   The guest module `wasm` rewritten to start as an image: its memory
   `mem` (`size` bytes, a multiple of 64 KiB) as active data segments, its
   stack pointer `sp`.  `*out` (`*out_len` bytes) is the caller's. */
eryx_status eryx__image_module(const uint8_t *wasm,
                               size_t len,
                               const uint8_t *mem,
                               size_t size,
                               uint32_t sp,
                               uint8_t **out,
                               size_t *out_len,
                               eryx_error *err);

#endif /* ERYX_IMAGE_FORMAT_H */
