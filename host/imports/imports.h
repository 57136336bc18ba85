/*
** imports.h: the host side of the guest's imports, private to liberyx.
** The state of one store as the imports see it (store.c: output, stop
** conditions, faults), and the functions the guest imports: the eryx
** ABI's callbacks (calls.c) and reports (report.c), and the WASI
** functions eryx replaces (wasi.c).  imports.c defines them all in a
** linker.  Each import checks what the guest passes through guest/ before
** using it.  A new capability (a filesystem, sockets) adds its own table
** here and its own block to the store's state.
*/
#ifndef ERYX_IMPORTS_H
#define ERYX_IMPORTS_H

#include <wasmtime.h>

#include "callbacks/callbacks.h"
#include "config/config.h"
#include "core/internal.h"
#include "guest/guest.h"
#include "net/net.h"
#include "vfs/vfs.h"

/* ---- store.c: the host-side state of one store (the store's data) ---- */

/* The output of one stream during one execute. */
typedef struct eryx__outbuf {
    char *data;
    size_t len, cap;
    bool truncated;
} eryx__outbuf;

typedef struct eryx__store {
    const eryx__settings *settings; /* the owner's; outlives the store */
    eryx__workers *workers;         /* the engine's */
    eryx__hub *hub;                 /* callback calls */
    eryx__outbuf out[2];            /* stdout, stderr of the current execute */
    eryx__vfs *vfs;                 /* the filesystem (the store's own) */
    eryx__net *net;                 /* connections (made on first use) */
    size_t held[2]; /* stdout, stderr: bytes held back by scrubbing */
    char *hold[2];
    eryx__stop stop; /* deadline and cancel flag of the execute */
    /* Where a KeyboardInterrupt is written (all 0: nowhere), and the
       memory it is written in: set once the instance is initialized. */
    eryx_abi_interrupt_target keyboard;
    wasmtime_memory_t memory;
    eryx_status stopped; /* why the execute was stopped, or ERYX_OK */
    bool abi_violation;  /* an import caught the guest breaking the ABI */
    bool nomem;          /* the host ran out of memory serving the guest */
} eryx__store;

/* A store's state for `settings` (borrowed); NULL when memory runs out. */
eryx__store *eryx__store_new(const eryx__settings *settings,
                             eryx__workers *workers);
/* Serve `settings` (borrowed) from now on: an instance that has run
   nothing changes owner; NULL when the owner lets go of a store that is
   deleted later (callbacks still running lose the secrets' filter). */
void eryx__store_bind(eryx__store *st, const eryx__settings *settings);
/* Frees the state (the store's finalizer: takes void *). */
void eryx__store_free(void *store);
/* A new execute begins: output, faults and calls start empty, and the stop
   conditions are armed (timeout_ms 0: none; cancel and keyboard, the
   owner's flags, may be NULL). */
void eryx__store_arm(eryx__store *st,
                     uint32_t timeout_ms,
                     const int *cancel,
                     int *keyboard);
/* On the guest's thread, while it is paused (an epoch check, the end of
   every import):
   when a KeyboardInterrupt was asked for, consume the request and write
   it into the guest (st->keyboard, checked against the memory's bounds).
   True when one was delivered. */
bool eryx__store_keyboard(eryx__store *st, wasmtime_context_t *ctx);
/* Should the running execute stop?  Records and returns ERYX_E_TIMEOUT or
   ERYX_E_CANCELLED, or ERYX_OK to go on. */
eryx_status eryx__store_check_stop(eryx__store *st);
/* Guest output to stream ERYX_STDOUT or ERYX_STDERR: kept within the
   output limit (cut where no UTF-8 character is split) and passed to the
   output handler on the calling thread.  false when the limit stops the
   execute (ERYX_OUTPUT_FAIL): the caller traps. */
bool
eryx__store_output(eryx__store *st, int stream, const char *data, size_t len);
/* Replace the secrets in *buf (len bytes, NUL added, eryx__malloc'd) by
   [REDACTED], in place; false when memory ran out (st->nomem set). */
bool eryx__store_scrub(eryx__store *st, char **buf, size_t *len);
/* Move one stream's output out: a NUL-terminated buffer the caller owns
   (NULL when memory runs out, which sets st->nomem). */
char *eryx__store_take_output(eryx__store *st,
                              int stream,
                              size_t *len,
                              bool *truncated);

/* ---- imports.c: the table of imports, and what every import shares ---- */

/* What an import works with: the store's state and the guest's memory. */
typedef struct eryx__import_env {
    eryx__store *st;
    wasmtime_context_t *ctx;
    wasmtime_memory_t memory;
} eryx__import_env;

/* An import's body: its arguments are of the types its entry declares
   (Wasmtime checks them), and `env` is ready. */
typedef wasm_trap_t *(*eryx__import_fn)(eryx__import_env *env,
                                        const wasmtime_val_t *args,
                                        wasmtime_val_t *results);

/* One host function the guest imports.  `params` and `results` are type
   codes: 'i' an i32, 'I' an i64. */
typedef struct eryx__import {
    const char *module, *name, *params, *results;
    eryx__import_fn fn;
} eryx__import;

/* Define every import in `linker` (shadowing WASI's where eryx replaces
   them). */
eryx_status eryx__imports_define(wasmtime_linker_t *linker, eryx_error *err);
/* A checked copy of guest bytes [ptr, ptr + len), NUL added, into *out (the
   caller frees it) and its length into *len (may be NULL).  On failure the
   trap to return: a violation named `what`, or the host out of memory. */
wasm_trap_t *eryx__imports_copy(eryx__import_env *env,
                                int32_t ptr,
                                int32_t len,
                                char **out,
                                size_t *out_len,
                                const char *what);
/* Guest bytes [ptr, ptr + len) as output to `stream`, passed on straight
   from guest memory (the handler runs before the guest continues, so they
   cannot change under it).  NULL, or the trap to return: a violation named
   `what`, or a stop at the output limit. */
wasm_trap_t *eryx__imports_output(eryx__import_env *env,
                                  int stream,
                                  uint32_t ptr,
                                  uint32_t len,
                                  const char *what);
/* Trap: the guest broke the ABI (recorded in `st`, which may be NULL). */
wasm_trap_t *eryx__imports_violation(eryx__store *st, const char *what);
/* Trap: the execute was stopped (timeout, cancel, output limit). */
wasm_trap_t *eryx__imports_stop(eryx__store *st);
/* Trap: the host ran out of memory serving the guest. */
wasm_trap_t *eryx__imports_nomem(eryx__store *st);

/* The tables, one per file. */
extern const eryx__import eryx__calls_imports[];
extern const size_t eryx__calls_count;
extern const eryx__import eryx__report_imports[];
extern const size_t eryx__report_count;
extern const eryx__import eryx__wasi_imports[];
extern const size_t eryx__wasi_count;
extern const eryx__import eryx__fs_imports[];
extern const size_t eryx__fs_count;
extern const eryx__import eryx__net_imports[];
extern const size_t eryx__net_count;

#endif /* ERYX_IMPORTS_H */
