/*
** snapshot.h: the session state snapshot (eryx_snapshot) and its wire
** format (prefix eryx__snapshot_).  Pure: it needs only the core, so that
** tests/fuzz can drive the parser without an engine.
*/
#ifndef ERYX_SNAPSHOT_H
#define ERYX_SNAPSHOT_H

#include "core/internal.h"

/* The header a session state snapshot starts with (docs/design.md). */
#define ERYX__SNAPSHOT_HEADER 28u
void eryx__snapshot_header(uint8_t *header, const uint8_t *payload, size_t len);
/* Check a snapshot's size, header and checksum; on success, *payload is
   the pickle inside it. */
eryx_status eryx__snapshot_parse(const uint8_t *data,
                                 size_t len,
                                 uint64_t limit,
                                 const uint8_t **payload,
                                 size_t *payload_len,
                                 eryx_error *err);
/* A new snapshot holding header + payload; takes `skipped`. */
eryx_status eryx__snapshot_new(const char *payload,
                               size_t len,
                               uint64_t limit,
                               char *skipped,
                               eryx_snapshot **out,
                               eryx_error *err);

#endif /* ERYX_SNAPSHOT_H */
