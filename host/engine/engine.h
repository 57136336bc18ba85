/*
** engine.h: the engine, private to liberyx (prefix eryx__engine_ in
** engine.c, eryx__cache_ in cache.c): a Wasmtime engine per variant of the
** guest (plain, and with fuel metering), the compiled guest, the linker
** holding every import, the epoch ticker that enforces deadlines, and the
** worker threads of callback handlers.  Depends on core, callbacks,
** config and imports; knows nothing of instances.
*/
#ifndef ERYX_ENGINE_H
#define ERYX_ENGINE_H

#include <pthread.h>

#include <wasmtime.h>

#include "callbacks/callbacks.h"
#include "config/config.h"
#include "core/internal.h"

/* The guest's stack, and the stack left below it for the host's imports
   (handlers of callbacks run on worker threads, not here; output and trace
   handlers do run here). */
#define ERYX__WASM_STACK ((size_t)8 << 20)
#define ERYX__HOST_STACK ((size_t)2 << 20)
/* Calls into guests that may run at once per engine variant, pooled: one
   stack each (virtual memory; only the pages touched are real).  Past it a
   call fails with ERYX_E_TRAP. */
#define ERYX__MAX_CALLS 128u

/* Whether calls run on Wasmtime's stacks (fibers).  Not under
   ThreadSanitizer: it cannot see Wasmtime hand a pooled stack from one
   thread to the next (uninstrumented Rust) and reports the reuse as a race.
   The TSan job therefore runs the synchronous path, on the caller's stack
   with Wasmtime's default limit, and checks the host's threading only
   (docs/security.md). */
#if defined(__SANITIZE_THREAD__)
#define ERYX__FIBERS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ERYX__FIBERS 0
#endif
#endif
#ifndef ERYX__FIBERS
#define ERYX__FIBERS 1
#endif

/* One compilation of the guest: with or without fuel metering. */
typedef struct eryx__variant {
    wasm_engine_t *wasm;
    wasmtime_linker_t *linker;
    wasmtime_instance_pre_t *pre;
    char *info; /* where the compiled code came from (eryx_engine_info) */
} eryx__variant;

struct eryx_engine {
    eryx__variant plain;
    eryx__variant fuel;       /* built on first use, under build_mu */
    int fuel_ready;           /* atomic: `fuel` is built and published */
    eryx__paths paths;        /* guest, stdlib, cache */
    int stdlib_fd;            /* the stdlib directory (O_PATH), for every vfs */
    uint32_t max_instances;   /* 0: the default */
    uint32_t ready_count;     /* ready interpreters to keep (config's) */
    uint64_t ready_max_bytes; /* the most memory they may hold */
    /* The stock of ready interpreters (instance/ready.c), made on first
       use, and how the engine frees it: the engine knows nothing of
       instances. */
    struct eryx__ready *ready;
    void (*ready_free)(struct eryx__ready *ready);
    void (*ready_fork)(struct eryx__ready *ready, int phase);
    eryx__workers *workers;
    /* Executes under way in the engine's guests (atomic): instance.c
       counts them, ready.c asks whether another runs. */
    uint32_t executing;
    pthread_mutex_t build_mu; /* held while the fuel variant is built */
    pthread_mutex_t mu;       /* the ticker's; never held while compiling */
    pthread_cond_t cv;        /* wakes the ticker to stop */
    pthread_t ticker;
    bool ticking; /* atomic: the ticker runs (false in a fork's child
                     until eryx__engine_resume starts it again) */
    bool stopping;
    /* The process's live engines (engine.c), for the fork handlers. */
    struct eryx_engine *live_prev, *live_next;
    /* Where Wasmtime maps the plain guest's memory image from, so that
       images can be mapped over it and the mapping put back
       (instance/image.c): probed once under image_src_mu (state 0: not
       yet, 1: a regular file at image_src_fd, -1: not usable). */
    pthread_mutex_t image_src_mu;
    int image_src_state;
    int image_src_fd;
    uint64_t image_src_start, image_src_off, image_src_len;
    /* Identity of the pre-initialized guest memory (serialized images carry
       it); 0 until first needed (instance/image.c), then set atomically. */
    uint64_t guest_id;
    /* A userfaultfd that guest memories are registered with so that the
       kernel maps only the pages they touch (eryx__engine_exact_faults);
       -1 where this system offers none.  Reopened in a fork's child. */
    int fault_fd;
};

/* The variant for sandboxes with (or without) fuel; NULL with `err` when
   the fuel variant cannot be built.  The first fuel request compiles (or
   loads) it; running sandboxes keep their deadlines meanwhile. */
const eryx__variant *
eryx__engine_variant(eryx_engine *engine, bool fuel, eryx_error *err);

/* Start the epoch ticker (deadlines, cancellation, Ctrl-C) unless it runs:
   at engine creation, and before each call into a guest, where only a
   fork's child finds it stopped.  Fails only when no thread can be made. */
eryx_status eryx__engine_resume(eryx_engine *engine, eryx_error *err);

/* Make the kernel map only the pages that are touched in the guest memory
   at [base, base + len) (page-aligned), where it otherwise maps the page
   cache's neighbours of each page read (fault-around: 16 pages).  Done by
   registering the range, write-protect mode, with the engine's
   userfaultfd, asynchronous and never protecting a page: nothing else
   changes, and no fault is ever delivered to it.  Again after anything
   maps over the range.  False where this system cannot (before Linux 6.7,
   or userfaultfd forbidden): the pages are then faulted in as before.
   Thread-safe. */
bool eryx__engine_exact_faults(eryx_engine *engine, void *base, size_t len);

/* ---- cache.c ---- */
/* Find or make the compiled guest; `info` (may be NULL) receives a new
   string telling where it came from and what was passed over. */
eryx_status eryx__cache_load(wasm_engine_t *wasm,
                             const char *runtime_path,
                             const char *cache_dir,
                             bool fuel,
                             wasmtime_module_t **module,
                             char **info,
                             eryx_error *err);
/* Compile the guest and write it, with its trailer, to `out_path` (NULL:
   next to runtime.wasm). */
eryx_status eryx__cache_precompile(wasm_engine_t *wasm,
                                   const char *runtime_path,
                                   const char *out_path,
                                   bool fuel,
                                   eryx_error *err);

/* ---- images as modules ---- */
/* The whole file at `path` (the caller deletes *out). */
eryx_status
eryx__cache_read_file(const char *path, wasm_byte_vec_t *out, eryx_error *err);
/* The compiled module of `bytes` (an image's rewritten guest), from the
   cache directory when it is there (keyed by the bytes), else compiled
   and stored there. */
eryx_status eryx__cache_module(wasm_engine_t *wasm,
                               const char *cache_dir,
                               const uint8_t *bytes,
                               size_t len,
                               wasmtime_module_t **module,
                               eryx_error *err);
/* `bytes` compiled (as eryx__cache_module) and linked for the engine's
   plain variant: *pre instantiates it (the caller deletes it). */
eryx_status eryx__engine_image_pre(eryx_engine *engine,
                                   const uint8_t *bytes,
                                   size_t len,
                                   wasmtime_instance_pre_t **pre,
                                   eryx_error *err);

#endif /* ERYX_ENGINE_H */
