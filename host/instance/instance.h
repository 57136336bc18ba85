/*
** instance.h: one store and instance of the guest, private to liberyx
** (eryx__instance_* in instance.c), what an execute produced (struct
** eryx_result, eryx__result_* in result.c), and whole-interpreter images
** (eryx__image_* in image.c).  Depends on core, callbacks, config, guest,
** imports and engine.
*/
#ifndef ERYX_INSTANCE_H
#define ERYX_INSTANCE_H

#include <pthread.h>

#include <wasmtime.h>

#include "engine/engine.h"
#include "imports/imports.h"

/* Cancellation of a sandbox's or session's execute from other threads. */
typedef struct eryx__interrupt {
    pthread_mutex_t mu;
    bool running;   /* an execute of the owner is under way */
    int cancel;     /* atomic: the running execute must stop */
    int keyboard;   /* atomic: raise KeyboardInterrupt in it */
    eryx__hub *hub; /* the running instance's, to wake; NULL when idle */
} eryx__interrupt;

/* An image's pages mapped over an instance's memory (image.c),
   refcounted: the image and each instance it is mapped into hold one. */
typedef struct eryx__overlay eryx__overlay;
void eryx__overlay_unref(eryx__overlay *ov);

typedef struct eryx__instance {
    wasmtime_store_t *store;
    wasmtime_context_t *ctx;
    wasmtime_instance_t instance;
    wasmtime_memory_t memory;
    wasmtime_func_t realloc_fn, execute_fn, post_execute_fn;
    eryx__store *st;            /* the store's data */
    eryx__interrupt *interrupt; /* the owner's, or NULL; outlives us */
    eryx__overlay *overlay;     /* an image mapped over the memory, or NULL */
    eryx_engine *engine;        /* whose guest this is (borrowed) */
    bool live;
    /* Its memory maps only the pages touched (eryx__engine_exact_faults). */
    bool exact_faults;
    /* Its memory is a mapping of the engine's own guest image (not an
       image module's, nor the fuel variant's). */
    bool guest_image;
} eryx__instance;

/* Register `in`'s whole memory with its engine's userfaultfd
   (eryx__engine_exact_faults; again after a fork, which drops it), and
   note whether that took. */
void eryx__instance_exact_faults(eryx__instance *in);

/* The /proc/self/pagemap entries of the first `npages` pages of `in`'s
   memory into `ent` (bit 63: present, 62: swapped, 61: file-backed or
   shared: a page of a private mapping no longer is once written).  False
   where they cannot be read (not Linux, an unaligned memory). */
bool
eryx__instance_pagemap(const eryx__instance *in, size_t npages, uint64_t *ent);

/* The storages an owner keeps across its instances (a session's /data
   and /tmp; NULL members, or no struct: the instance's own), and the
   compiled image to start from instead of the engine's guest (NULL: the
   guest; only without fuel). */
typedef struct eryx__instance_fs {
    eryx_storage *data, *tmp;
    wasmtime_instance_pre_t *pre;
} eryx__instance_fs;

/* Start a new instance of `engine`'s guest for `settings` (borrowed: must
   outlive the instance). */
eryx_status eryx__instance_start(eryx__instance *in,
                                 eryx_engine *engine,
                                 const eryx__settings *settings,
                                 const eryx__instance_fs *fs,
                                 eryx__interrupt *interrupt,
                                 eryx_error *err);
void eryx__instance_stop(eryx__instance *in);
/* Give `in`, started for other settings and never executed in, to a new
   owner: its filesystem, memory limit and secrets are made from
   `settings`, its waits woken by `interrupt`.  Fails (the instance left as
   it was) when its memory is over the settings' limit. */
eryx_status eryx__instance_adopt(eryx__instance *in,
                                 eryx_engine *engine,
                                 const eryx__settings *settings,
                                 const eryx__instance_fs *fs,
                                 eryx__interrupt *interrupt,
                                 eryx_error *err);
/* The owner lets go of `in`: its interrupt and settings, and an image
   mapped over its memory (put back).  Returns the store for the caller to
   delete, on any thread (NULL: nothing to delete, or a store given up
   because its mapping could not be put back); `in` is cleared.
   eryx__instance_stop is this and the delete. */
wasmtime_store_t *eryx__instance_release(eryx__instance *in);

/* ---- ready.c: the engine's ready interpreters ---- */
/* A started instance for `settings` (borrowed), `fs` and `interrupt`, as
   eryx__instance_start makes: taken from the engine's stock when one is
   ready (not for fuel, nor a compiled image's), else started here.  `how`:
   ERYX__OBTAIN_EXECUTE: a call into the guest (an execute) follows at
   once, so an instance started here gets the pages a first execute writes
   faulted in first (those `pass` writes, when no other execute is under
   way);
   ERYX__OBTAIN_PREFAULT faults in all it writes and reads, as the stock's
   are (for an owner that pays now to be quick later: a pool's reset);
   ERYX__OBTAIN_FRESH takes none from the stock and faults in nothing (an
   image's pages are about to replace them).  When starting fails while the
   stock holds room (a process short of address space), the stock is given up
   and the start tried again. */
#define ERYX__OBTAIN_PREFAULT 1u
#define ERYX__OBTAIN_FRESH    2u
#define ERYX__OBTAIN_EXECUTE  4u
eryx_status eryx__instance_obtain(eryx__instance *in,
                                  eryx_engine *engine,
                                  const eryx__settings *settings,
                                  const eryx__instance_fs *fs,
                                  eryx__interrupt *interrupt,
                                  unsigned how,
                                  eryx_error *err);
/* Stop `in` (as eryx__instance_stop), deleting its store on the stock's
   thread when that runs, so that the owner does not wait for it. */
void eryx__instance_retire(eryx__instance *in, eryx_engine *engine);
/* (eryx_engine_ready_stats, public, reports the stock.) */
/* Run `code` (already checked) and fill `r`.  Returns r->status.  When the
   guest trapped or broke the ABI, the instance is stopped.  `journal` (may
   be NULL) records and replays the execute's callback calls; it is
   finished (its text built) before this returns. */
eryx_status eryx__instance_execute(eryx__instance *in,
                                   eryx_journal *journal,
                                   const char *code,
                                   size_t code_len,
                                   bool interactive,
                                   eryx_result *r);
/* Session state: snapshot (*data / *skipped new, the caller frees),
   restore, clear.  On ERYX_E_TRAP or ERYX_E_ABI the instance is stopped. */
eryx_status eryx__instance_snapshot(eryx__instance *in,
                                    char **data,
                                    size_t *data_len,
                                    char **skipped,
                                    eryx_error *err);
eryx_status eryx__instance_restore(eryx__instance *in,
                                   const void *data,
                                   size_t len,
                                   eryx_error *err);
eryx_status eryx__instance_clear(eryx__instance *in, eryx_error *err);

/* ---- result.c ---- */
struct eryx_result {
    eryx_status status;
    char *stdout_text, *stderr_text, *json, *json_error, *error;
    size_t stdout_len, stderr_len, json_len, json_error_len, error_len;
    bool stdout_truncated, stderr_truncated;
    uint32_t callback_invocations;
    uint64_t fuel_consumed;
    uint64_t duration_us;
    uint64_t peak_memory_bytes;
};
eryx_result *eryx__result_new(void);
/* Set the failure of `r` (message copied; on allocation failure the
   message is a static text). */
void eryx__result_fail(eryx_result *r, eryx_status status, const char *message);

/* ---- image.c: whole-interpreter images ---- */
/* Capture live instance `in` (started with `settings` from `engine`). */
eryx_status eryx__image_capture(eryx__instance *in,
                                eryx_engine *engine,
                                const eryx__settings *settings,
                                uint64_t execution_count,
                                eryx_image **out,
                                eryx_error *err);
/* Make freshly started `in` the image's interpreter.  For `map` (an
   instance of the plain guest) the image's pages are mapped copy-on-write
   where the system allows it, else copied. */
eryx_status eryx__image_apply(eryx__instance *in,
                              const eryx_image *img,
                              bool map,
                              uint64_t *execution_count,
                              eryx_error *err);
/* Put back the memory mapping Wasmtime made under an image mapped into
   `in`, before its store is deleted (Wasmtime resets the slot for the next
   instance by dropping pages, which must then fall back to the guest's
   image, not to ours).  False when the mapping could not be restored: the
   store must then never be deleted (its slot is given up). */
bool eryx__image_unmap(eryx__instance *in);
const eryx_engine *eryx__image_engine(const eryx_image *img);
/* The image's files: ERYX__IMAGE_DATA, _TMP (copies as captured: fork
   them), _PACKAGES (shared, read-only); NULL when none. */
enum { ERYX__IMAGE_DATA, ERYX__IMAGE_TMP, ERYX__IMAGE_PACKAGES };
eryx_storage *eryx__image_files(const eryx_image *img, int which);
const char *eryx__image_packages_dir(const eryx_image *img);
/* The image compiled as a module (eryx_image_compile), or NULL. */
wasmtime_instance_pre_t *eryx__image_pre(const eryx_image *img);
uint64_t eryx__image_execution_count(const eryx_image *img);

#endif /* ERYX_INSTANCE_H */
