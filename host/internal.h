/*
** internal.h: declarations shared inside liberyx only (prefix eryx__).
** Nothing here is API; the public contract is include/eryx.h.
*/
#ifndef ERYX_INTERNAL_H
#define ERYX_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wasi.h>
#include <wasmtime.h>

#include "eryx.h"
#include "eryx_abi.h"

#define ERYX__PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- alloc.c: the one allocation funnel ---- */
void *eryx__malloc(size_t size);
void *eryx__calloc(size_t count, size_t size);
void *eryx__realloc(void *ptr, size_t size);
void eryx__free(void *ptr);
char *eryx__strdup(const char *s);
char *eryx__memdup(const void *data, size_t len); /* adds a NUL */

/* ---- status.c ---- */
/* Fill `err` (may be NULL) and return `status`. */
eryx_status
eryx__fail(eryx_error *err, eryx_status status, const char *fmt, ...)
    ERYX__PRINTF(3, 4);
/* Translate a Wasmtime error and/or trap (both consumed, either may be NULL)
   into a status and message prefixed by `what`. */
eryx_status eryx__fail_wasmtime(eryx_error *err,
                                eryx_status status,
                                wasmtime_error_t *error,
                                wasm_trap_t *trap,
                                const char *what);
uint64_t eryx__now_us(void);

/* ---- config.c ---- */
struct eryx_config {
    char *runtime_path;    /* NULL: default */
    char *stdlib_dir;      /* NULL: default */
    char *cache_dir;       /* NULL: default; "": off */
    char *result_variable; /* never NULL */
};
/* The effective values of the engine options, each a new string or NULL
   (cache off) on success. */
eryx_status eryx__config_paths(const eryx_config *config,
                               char **runtime_path,
                               char **stdlib_dir,
                               char **cache_dir,
                               eryx_error *err);
const char *eryx__config_result_variable(const eryx_config *config);
bool eryx__utf8_valid(const char *s, size_t len);

/* ---- engine.c ---- */
struct eryx_engine {
    wasm_engine_t *wasm;
    wasmtime_linker_t *linker;
    wasmtime_instance_pre_t *pre;
    char *stdlib_dir;
};

/* ---- guest.c: every byte from the guest is checked here ---- */
/* Copy `len` bytes at guest offset `off` into `dst`, after checking that
   [off, off + len) lies inside the current memory. */
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
/* A checked copy of a guest string (NUL added); `*out` owned by the caller. */
eryx_status eryx__guest_string(wasmtime_context_t *ctx,
                               const wasmtime_memory_t *memory,
                               eryx_abi_string s,
                               char **out,
                               size_t *len_out);

/* The decoded return area of `execute`. */
typedef struct eryx__execute_ret {
    uint8_t tag;
    eryx_abi_string stdout_text, stderr_text, message;
    bool has_json, has_json_error;
    eryx_abi_string json, json_error;
} eryx__execute_ret;
/* Decode the ERYX_ABI_EXECUTE_RET_SIZE bytes of a return area. */
eryx_status eryx__decode_execute_ret(const uint8_t *bytes,
                                     eryx__execute_ret *out);
/* Decode a result<_, string> return area. */
eryx_status eryx__decode_unit_ret(const uint8_t *bytes,
                                  uint8_t *tag,
                                  eryx_abi_string *err_text);

/* ---- result.c ---- */
struct eryx_result {
    eryx_status status;
    char *stdout_text, *stderr_text, *json, *json_error, *error;
    size_t stdout_len, stderr_len, json_len, json_error_len, error_len;
    uint64_t duration_us;
};
eryx_result *eryx__result_new(void);
/* Set the failure of `r` (message copied; on allocation failure the
   message is a static text). */
void eryx__result_fail(eryx_result *r, eryx_status status, const char *message);

/* ---- instance.c: one store + instance of the guest ---- */
typedef struct eryx__instance {
    wasmtime_store_t *store;
    wasmtime_context_t *ctx;
    wasmtime_instance_t instance;
    wasmtime_memory_t memory;
    wasmtime_func_t realloc_fn, execute_fn, post_execute_fn;
    bool live;
} eryx__instance;

eryx_status eryx__instance_start(eryx__instance *in,
                                 const eryx_engine *engine,
                                 eryx_error *err);
void eryx__instance_stop(eryx__instance *in);
/* Run `code` (already checked) and fill `r`.  Returns r->status.  When the
   guest trapped or broke the ABI, the instance is stopped. */
eryx_status eryx__instance_execute(eryx__instance *in,
                                   const char *code,
                                   size_t code_len,
                                   const char *result_variable,
                                   eryx_result *r);

#endif /* ERYX_INTERNAL_H */
