/*
** instance.c: one store and instance of the guest, and the calls into its
** exports (eryx__instance_*).  Sandboxes and sessions are built on it.
** What the guest returns is read and decoded by guest/ only.
*/
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/wasm_error.h"
#include "instance/instance.h"

#define STDLIB_GUEST_DIR "/lib/python" ERYX_PYTHON_MAJOR_MINOR

static bool
get_func(eryx__instance *in, const char *name, wasmtime_func_t *out)
{
    wasmtime_extern_t ext;
    if (!wasmtime_instance_export_get(in->ctx, &in->instance, name,
                                      strlen(name), &ext) ||
        ext.kind != WASMTIME_EXTERN_FUNC)
        return false;
    *out = ext.of.func;
    return true;
}

/* Run a call into the guest to its end.  Every call runs on a stack of
   Wasmtime's own (a fiber, on the calling thread) of ERYX__WASM_STACK plus
   room for the host's imports: the guest gets the stack CPython expects
   whatever the caller's thread, and a deep recursion ends at that limit,
   never in the caller's stack guard.  eryx defines no async import, so the
   first poll runs the call to completion. */
#if ERYX__FIBERS
static void
finish(wasmtime_call_future_t *future)
{
    while (!wasmtime_call_future_poll(future)) {
    }
    wasmtime_call_future_delete(future);
}
#endif

/* Why the store's execute was stopped (or ran out of host memory). */
static eryx_status
stopped(const eryx__store *st, eryx_error *err)
{
    switch (st->stopped) {
    case ERYX_E_TIMEOUT:
        return eryx__fail(err, ERYX_E_TIMEOUT,
                          "execution timeout: the limit of %u ms was reached",
                          st->settings->timeout_ms);
    case ERYX_E_CANCELLED:
        return eryx__fail(err, ERYX_E_CANCELLED, "the execution was cancelled");
    case ERYX_E_SUSPENDED:
        return eryx__fail(err, ERYX_E_SUSPENDED,
                          "the execution was suspended by a callback");
    case ERYX_E_OUTPUT_LIMIT:
        return eryx__fail(err, ERYX_E_OUTPUT_LIMIT,
                          "output limit: a stream passed its limit of %llu "
                          "bytes",
                          (unsigned long long)st->settings->output_limit_bytes);
    default:
        return eryx__fail(err, ERYX_E_NOMEM,
                          "out of memory: the host could not serve the guest");
    }
}

/* Call `fn` with i32 arguments; store its one i32 result (if `ret`). */
static eryx_status
call_i32(eryx__instance *in,
         const wasmtime_func_t *fn,
         const uint32_t *args,
         size_t nargs,
         uint32_t *ret,
         eryx_error *err,
         const char *what)
{
    wasmtime_val_t argv[8], result;
    if (nargs > 8)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "too many arguments");
    for (size_t i = 0; i < nargs; i++) {
        argv[i].kind = WASMTIME_I32;
        argv[i].of.i32 = (int32_t)args[i];
    }
    wasm_trap_t *trap = NULL;
    wasmtime_error_t *e = NULL;
#if ERYX__FIBERS
    finish(wasmtime_func_call_async(in->ctx, fn, argv, nargs, &result,
                                    ret ? 1 : 0, &trap, &e));
#else
    e = wasmtime_func_call(in->ctx, fn, argv, nargs, &result, ret ? 1 : 0,
                           &trap);
#endif
    if (e != NULL || trap != NULL) {
        int exit_status;
        wasmtime_trap_code_t code;
        eryx__store *st = in->st;
        if (st != NULL && (st->stopped != ERYX_OK || st->nomem)) {
            if (e != NULL)
                wasmtime_error_delete(e);
            if (trap != NULL)
                wasm_trap_delete(trap);
            return stopped(st, err);
        }
        if (st != NULL && st->abi_violation)
            return eryx__wasm_fail(err, ERYX_E_ABI, e, trap, what);
        if (st != NULL && trap != NULL && wasmtime_trap_code(trap, &code) &&
            code == WASMTIME_TRAP_CODE_OUT_OF_FUEL) {
            wasm_trap_delete(trap);
            if (e != NULL)
                wasmtime_error_delete(e);
            return eryx__fail(err, ERYX_E_FUEL,
                              "fuel exhausted: consumed %llu of the budget "
                              "of %llu",
                              (unsigned long long)st->settings->fuel,
                              (unsigned long long)st->settings->fuel);
        }
        if (e != NULL && wasmtime_error_exit_status(e, &exit_status)) {
            wasmtime_error_delete(e);
            return eryx__fail(err, ERYX_E_TRAP,
                              "%s: the guest exited with status %d", what,
                              exit_status);
        }
        return eryx__wasm_fail(err, ERYX_E_TRAP, e, trap, what);
    }
    if (ret != NULL) {
        if (result.kind != WASMTIME_I32)
            return eryx__fail(err, ERYX_E_ABI, "%s: result is not an i32",
                              what);
        *ret = (uint32_t)result.of.i32;
    }
    return ERYX_OK;
}

/* Called by Wasmtime at every epoch tick while the guest runs. */
static wasmtime_error_t *
on_epoch(wasmtime_context_t *ctx,
         void *data,
         uint64_t *delta,
         wasmtime_update_deadline_kind_t *kind)
{
    if (eryx__store_check_stop(data) != ERYX_OK)
        return wasmtime_error_new("eryx: the execution was stopped");
    (void)eryx__store_keyboard(data, ctx);
    *delta = 1;
    *kind = WASMTIME_UPDATE_DEADLINE_CONTINUE;
    return NULL;
}

/* Arm the stop conditions for the next call into the guest (in a fork's
   child, the engine's ticker is started first: it enforces them). */
static eryx_status
arm(eryx__instance *in, uint32_t timeout_ms, eryx_error *err)
{
    eryx_status s = eryx__engine_resume(in->engine, err);
    if (s != ERYX_OK)
        return s;
    eryx__store_arm(in->st, timeout_ms,
                    in->interrupt ? &in->interrupt->cancel : NULL,
                    in->interrupt ? &in->interrupt->keyboard : NULL);
    wasmtime_context_set_epoch_deadline(in->ctx, 1);
    return ERYX_OK;
}

/* Initialization is ours, not the user's: it gets its own generous limit,
   so that a tiny execution timeout cannot make a sandbox unusable. */
#define INIT_TIMEOUT_MS 120000u

/* What Wasmtime's WASI still serves: a program name, and no environment.
   The filesystem and stdio are eryx's own (imports/fs.c, vfs/). */
static wasi_config_t *
make_wasi(void)
{
    wasi_config_t *wasi = wasi_config_new();
    if (wasi == NULL)
        return NULL;
    const char *argv[] = {"python"};
    wasi_config_set_argv(wasi, 1, argv);
    return wasi;
}

/* The instance's filesystem, from the engine's stdlib, the settings and
   the owner's storages. */
static eryx_status
make_vfs(eryx__store *st,
         const eryx_engine *engine,
         const eryx__settings *settings,
         const eryx__instance_fs *fs,
         eryx_error *err)
{
    eryx__vfs_spec spec = {
        .stdlib_fd = engine->stdlib_fd,
        .stdlib_path = STDLIB_GUEST_DIR,
        .data_path = settings->data_path,
        .data = settings->storage ? settings->storage
                : fs              ? fs->data
                                  : NULL,
        .tmp = fs ? fs->tmp : NULL,
        .quota_bytes = settings->vfs_limit_bytes,
        .packages = settings->packages,
        .packages_dir = settings->packages_dir,
        .volumes = settings->volumes,
        .nvolumes = settings->nvolumes,
    };
    return eryx__vfs_new(&spec, &st->vfs, err);
}

/* Where KeyboardInterrupt is written (a guest without the export cannot be
   interrupted, only cancelled). */
static eryx_status
find_keyboard(eryx__instance *in, eryx_error *err)
{
    wasmtime_func_t fn;
    if (!get_func(in, ERYX_ABI_EXPORT_INTERRUPT, &fn))
        return ERYX_OK;
    uint32_t ret = 0;
    eryx_status s = call_i32(in, &fn, NULL, 0, &ret, err, "interrupt target");
    uint8_t area[ERYX_ABI_INTERRUPT_TARGET_SIZE];
    if (s != ERYX_OK)
        return s;
    if (eryx__guest_read(in->ctx, &in->memory, ret, sizeof area, area) !=
        ERYX_OK)
        return eryx__fail(err, ERYX_E_ABI,
                          "eryx_interrupt_target returned a bad pointer");
    eryx__guest_decode_interrupt(area, &in->st->keyboard);
    return ERYX_OK;
}

/* Make `in` the owner's: attach its interrupt, so that a cancel wakes the
   instance's waits. */
static void
attach(eryx__instance *in, eryx__interrupt *interrupt)
{
    in->interrupt = interrupt;
    if (interrupt != NULL) {
        pthread_mutex_lock(&interrupt->mu);
        interrupt->hub = in->st->hub;
        pthread_mutex_unlock(&interrupt->mu);
    }
}

eryx_status
eryx__instance_start(eryx__instance *in,
                     eryx_engine *engine,
                     const eryx__settings *settings,
                     const eryx__instance_fs *fs,
                     eryx__interrupt *interrupt,
                     eryx_error *err)
{
    memset(in, 0, sizeof *in);
    const eryx__variant *variant =
        eryx__engine_variant(engine, settings->fuel != 0, err);
    if (variant == NULL)
        return err ? err->status : ERYX_E_ENGINE;
    eryx__store *st = eryx__store_new(settings, engine->workers);
    if (st == NULL)
        return eryx__fail_nomem(err);
    in->store = wasmtime_store_new(variant->wasm, st, eryx__store_free);
    if (in->store == NULL) {
        eryx__store_free(st);
        return eryx__fail(err, ERYX_E_NOMEM, "cannot create a store");
    }
    /* The memory limit: growing past it fails, and malloc in the guest
       returns NULL, so Python raises MemoryError. */
    wasmtime_store_limiter(in->store, (int64_t)settings->memory_limit_bytes, -1,
                           -1, -1, -1);
    wasmtime_store_epoch_deadline_callback(in->store, on_epoch, st, NULL);
    in->st = st;
    in->ctx = wasmtime_store_context(in->store);
    in->engine = engine;
    attach(in, interrupt);
    eryx_status s = arm(in, INIT_TIMEOUT_MS, err);
    if (s != ERYX_OK)
        goto fail;
    if (settings->fuel != 0)
        wasmtime_context_set_fuel(in->ctx, UINT64_MAX / 2); /* init: free */

    s = make_vfs(st, engine, settings, fs, err);
    if (s != ERYX_OK)
        goto fail;
    wasi_config_t *wasi = make_wasi();
    if (wasi == NULL) {
        s = eryx__fail_nomem(err);
        goto fail;
    }
    wasmtime_error_t *e = wasmtime_context_set_wasi(in->ctx, wasi);
    if (e != NULL) {
        s = eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL, "wasi");
        goto fail;
    }
    wasm_trap_t *trap = NULL;
#if ERYX__FIBERS
    wasmtime_instance_pre_t *pre =
        fs && fs->pre && settings->fuel == 0 ? fs->pre : variant->pre;
    finish(wasmtime_instance_pre_instantiate_async(pre, in->ctx, &in->instance,
                                                   &trap, &e));
#else
    wasmtime_instance_pre_t *pre =
        fs && fs->pre && settings->fuel == 0 ? fs->pre : variant->pre;
    e = wasmtime_instance_pre_instantiate(pre, in->ctx, &in->instance, &trap);
#endif
    if (e != NULL || trap != NULL) {
        s = eryx__wasm_fail(err, ERYX_E_ENGINE, e, trap,
                            "cannot instantiate the guest");
        goto fail;
    }
    in->guest_image = pre == engine->plain.pre;

    wasmtime_extern_t mem;
    wasmtime_func_t ctors, version, init, post_init;
    if (!wasmtime_instance_export_get(in->ctx, &in->instance,
                                      ERYX_ABI_EXPORT_MEMORY,
                                      strlen(ERYX_ABI_EXPORT_MEMORY), &mem) ||
        mem.kind != WASMTIME_EXTERN_MEMORY ||
        !get_func(in, ERYX_ABI_EXPORT_REALLOC, &in->realloc_fn) ||
        !get_func(in, ERYX_ABI_EXPORT_EXECUTE, &in->execute_fn) ||
        !get_func(in, ERYX_ABI_EXPORT_POST_EXECUTE, &in->post_execute_fn) ||
        !get_func(in, ERYX_ABI_EXPORT_VERSION, &version) ||
        !get_func(in, ERYX_ABI_EXPORT_INITIALIZE, &init) ||
        !get_func(in, ERYX_ABI_EXPORT_POST_INITIALIZE, &post_init)) {
        s = eryx__fail(err, ERYX_E_ABI, "the guest lacks an eryx export");
        goto fail;
    }
    in->memory = in->st->memory = mem.of.memory;
    /* Before the guest first runs, so that no read of its maps 16 pages. */
    eryx__instance_exact_faults(in);

    uint32_t abi = 0, ret = 0;
    s = call_i32(in, &version, NULL, 0, &abi, err, "eryx_abi_version");
    if (s != ERYX_OK)
        goto fail;
    if (abi != ERYX_ABI_VERSION) {
        s = eryx__fail(err, ERYX_E_ABI, "guest ABI %u, host ABI %u", abi,
                       ERYX_ABI_VERSION);
        goto fail;
    }
    /* A WASI reactor runs its C constructors from _initialize. */
    if (get_func(in, "_initialize", &ctors) &&
        (s = call_i32(in, &ctors, NULL, 0, NULL, err, "_initialize")) !=
            ERYX_OK)
        goto fail;
    s = call_i32(in, &init, NULL, 0, &ret, err, "initialize");
    if (s != ERYX_OK)
        goto fail;

    uint8_t area[ERYX_ABI_UNIT_RET_SIZE], tag;
    eryx_abi_string why;
    if (eryx__guest_read(in->ctx, &in->memory, ret, sizeof area, area) !=
            ERYX_OK ||
        eryx__guest_decode_unit(area, &tag, &why) != ERYX_OK) {
        s = eryx__fail(err, ERYX_E_ABI, "initialize returned a bad pointer");
        goto fail;
    }
    if (tag == ERYX_ABI_ERR) {
        char *text = NULL;
        size_t len;
        eryx__guest_string(in->ctx, &in->memory, why, &text, &len);
        s = eryx__fail(err, ERYX_E_ENGINE, "guest initialization failed: %s",
                       text ? text : "(unreadable message)");
        eryx__free(text);
        goto fail;
    }
    s = call_i32(in, &post_init, &ret, 1, NULL, err, "cabi_post_initialize");
    if (s != ERYX_OK)
        goto fail;
    s = find_keyboard(in, err);
    if (s != ERYX_OK)
        goto fail;
    in->live = true;
    return ERYX_OK;

fail:
    eryx__instance_stop(in);
    return s;
}

void
eryx__instance_exact_faults(eryx__instance *in)
{
    in->exact_faults = eryx__engine_exact_faults(
        in->engine, wasmtime_memory_data(in->ctx, &in->memory),
        wasmtime_memory_data_size(in->ctx, &in->memory));
}

bool
eryx__instance_pagemap(const eryx__instance *in, size_t npages, uint64_t *ent)
{
    const uint8_t *base = wasmtime_memory_data(in->ctx, &in->memory);
    size_t page = 4096, want = npages * sizeof *ent;
    if ((uintptr_t)base % page != 0 ||
        npages > wasmtime_memory_data_size(in->ctx, &in->memory) / page)
        return false;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok =
        pread(fd, ent, want, (off_t)((uintptr_t)base / page * sizeof *ent)) ==
        (ssize_t)want;
    close(fd);
    return ok;
}

eryx_status
eryx__instance_adopt(eryx__instance *in,
                     eryx_engine *engine,
                     const eryx__settings *settings,
                     const eryx__instance_fs *fs,
                     eryx__interrupt *interrupt,
                     eryx_error *err)
{
    /* Nothing of the settings reached the guest yet (its initialize found
       the work done); what the host made from them is made again. */
    if (wasmtime_memory_data_size(in->ctx, &in->memory) >
        settings->memory_limit_bytes)
        return eryx__fail(err, ERYX_E_MEMORY_LIMIT,
                          "the guest's memory exceeds the memory limit");
    eryx__vfs *old = in->st->vfs;
    in->st->vfs = NULL;
    eryx_status s = make_vfs(in->st, engine, settings, fs, err);
    if (s != ERYX_OK) {
        eryx__vfs_free(in->st->vfs);
        in->st->vfs = old;
        return s;
    }
    eryx__vfs_free(old);
    wasmtime_store_limiter(in->store, (int64_t)settings->memory_limit_bytes, -1,
                           -1, -1, -1);
    eryx__store_bind(in->st, settings);
    in->engine = engine;
    attach(in, interrupt);
    return ERYX_OK;
}

wasmtime_store_t *
eryx__instance_release(eryx__instance *in)
{
    eryx__interrupt *intr = in->interrupt;
    if (intr != NULL && in->st != NULL) {
        pthread_mutex_lock(&intr->mu);
        if (intr->hub == in->st->hub)
            intr->hub = NULL;
        pthread_mutex_unlock(&intr->mu);
    }
    if (in->st != NULL)
        eryx__store_bind(in->st, NULL);
    /* An image's mapping that cannot be put back: the store is given up
       rather than its slot handed to the next instance. */
    wasmtime_store_t *store =
        in->store != NULL && eryx__image_unmap(in) ? in->store : NULL;
    memset(in, 0, sizeof *in);
    return store;
}

void
eryx__instance_stop(eryx__instance *in)
{
    wasmtime_store_t *store = eryx__instance_release(in);
    if (store != NULL)
        wasmtime_store_delete(store);
}

/* Place `len` bytes in guest memory through cabi_realloc. */
static eryx_status
put_bytes(eryx__instance *in,
          const char *data,
          size_t len,
          uint32_t *ptr,
          eryx_error *err)
{
    if (len > UINT32_MAX - 1)
        return eryx__fail(err, ERYX_E_INVALID_INPUT, "input exceeds 4 GiB");
    uint32_t args[4] = {0, 0, 1, (uint32_t)(len ? len : 1)};
    eryx_status s =
        call_i32(in, &in->realloc_fn, args, 4, ptr, err, "cabi_realloc");
    if (s != ERYX_OK)
        return s;
    if (*ptr == 0)
        return eryx__fail(err, ERYX_E_MEMORY_LIMIT,
                          "the guest has no memory for the %zu-byte input",
                          len);
    if (eryx__guest_write(in->ctx, &in->memory, *ptr, data, len) != ERYX_OK)
        return eryx__fail(err, ERYX_E_ABI,
                          "cabi_realloc returned %u for %zu "
                          "bytes, outside memory",
                          *ptr, len);
    return ERYX_OK;
}

/* Copy guest string `s` into *dst / *dst_len. */
static eryx_status
take_string(eryx__instance *in,
            eryx_abi_string s,
            char **dst,
            size_t *dst_len,
            eryx_error *err,
            const char *what)
{
    eryx_status st = eryx__guest_string(in->ctx, &in->memory, s, dst, dst_len);
    if (st == ERYX_E_ABI)
        return eryx__fail(err, st, "the guest's %s lies outside its memory",
                          what);
    if (st != ERYX_OK)
        return eryx__fail(err, st, "out of memory copying the guest's %s",
                          what);
    return ERYX_OK;
}

eryx_status
eryx__instance_execute(eryx__instance *in,
                       eryx_journal *journal,
                       const char *code,
                       size_t code_len,
                       bool interactive,
                       eryx_result *r)
{
    eryx__store *st = in->st;
    eryx_error err = {ERYX_OK, ""};
    const char *var = st->settings->result_variable;
    uint32_t args[5], ret;
    eryx_status s = arm(in, st->settings->timeout_ms, &err);
    if (s != ERYX_OK) {
        eryx__result_fail(r, s, err.message);
        return s;
    }
    bool journal_nomem = false;
    if (journal != NULL) {
        journal_nomem = eryx__journal_begin(journal, code, code_len) != ERYX_OK;
        eryx__hub_set_journal(st->hub, journal);
    }
    uint64_t fuel = st->settings->fuel;
    if (fuel != 0)
        wasmtime_context_set_fuel(in->ctx, fuel);

    s = put_bytes(in, code, code_len, &args[0], &err);
    args[1] = (uint32_t)code_len;
    if (s == ERYX_OK)
        s = put_bytes(in, var, strlen(var), &args[2], &err);
    args[3] = (uint32_t)strlen(var);
    args[4] = (st->settings->trace ? ERYX_ABI_EXEC_TRACE : 0) |
              (interactive ? ERYX_ABI_EXEC_INTERACTIVE : 0);
    if (s == ERYX_OK) { /* counted for instance/ready.c */
        __atomic_add_fetch(&in->engine->executing, 1, __ATOMIC_RELAXED);
        s = call_i32(in, &in->execute_fn, args, 5, &ret, &err, "execute");
        __atomic_sub_fetch(&in->engine->executing, 1, __ATOMIC_RELAXED);
    }

    uint8_t area[ERYX_ABI_EXECUTE_RET_SIZE];
    eryx__execute_ret d;
    memset(&d, 0, sizeof d);
    if (s == ERYX_OK && (eryx__guest_read(in->ctx, &in->memory, ret,
                                          sizeof area, area) != ERYX_OK ||
                         eryx__guest_decode_execute(area, &d) != ERYX_OK))
        s = eryx__fail(&err, ERYX_E_ABI, "execute returned a bad result");
    if (s == ERYX_OK && d.tag == ERYX_ABI_ERR_INCOMPLETE && !interactive)
        s = eryx__fail(&err, ERYX_E_ABI,
                       "execute answered 'incomplete' to a plain execute");
    /* The code's own ending: an exception, or running out of memory. */
    eryx_status raised = ERYX_OK;
    if (s == ERYX_OK && d.tag != ERYX_ABI_OK) {
        s = take_string(in, d.message, &r->error, &r->error_len, &err,
                        "error message");
        if (s == ERYX_OK)
            s = raised = d.tag == ERYX_ABI_ERR_MEMORY ? ERYX_E_MEMORY_LIMIT
                         : d.tag == ERYX_ABI_ERR_INCOMPLETE ? ERYX_E_INCOMPLETE
                                                            : ERYX_E_PYTHON;
    }
    if (s == ERYX_OK && d.has_json)
        s = take_string(in, d.json, &r->json, &r->json_len, &err, "result");
    if (s == ERYX_OK && d.has_json_error)
        s = take_string(in, d.json_error, &r->json_error, &r->json_error_len,
                        &err, "result error");
    /* Secrets: the traceback as stderr, the result when asked. */
    unsigned scrub = st->settings->secrets ? st->settings->scrub : 0;
    if (r->error && (scrub & ERYX_SCRUB_STDERR))
        (void)eryx__store_scrub(st, &r->error, &r->error_len);
    if (r->json && (scrub & ERYX_SCRUB_RESULT))
        (void)eryx__store_scrub(st, &r->json, &r->json_len);
    if (r->json_error && (scrub & ERYX_SCRUB_RESULT))
        (void)eryx__store_scrub(st, &r->json_error, &r->json_error_len);
    if (s == ERYX_OK || s == raised) {
        eryx_status post = call_i32(in, &in->post_execute_fn, &ret, 1, NULL,
                                    &err, "cabi_post_execute");
        if (post != ERYX_OK)
            s = post;
    }
    r->stdout_text = eryx__store_take_output(st, ERYX_STDOUT, &r->stdout_len,
                                             &r->stdout_truncated);
    r->stderr_text = eryx__store_take_output(st, ERYX_STDERR, &r->stderr_len,
                                             &r->stderr_truncated);
    bool lost;
    r->callback_invocations = eryx__hub_invocations(st->hub, &lost);
    if ((s == ERYX_OK || s == raised) && (st->nomem || lost))
        s = eryx__fail(&err, ERYX_E_NOMEM,
                       "out of memory: the host lost part of the execute's "
                       "output or callback results");
    eryx__hub_reset(st->hub); /* calls still running are abandoned */
    if (journal != NULL &&
        (eryx__journal_finish(journal) != ERYX_OK || journal_nomem) &&
        (s == ERYX_OK || s == raised))
        s = eryx__fail(&err, ERYX_E_NOMEM,
                       "out of memory: the host could not build the journal");
    if (in->ctx != NULL)
        r->peak_memory_bytes = wasmtime_memory_data_size(in->ctx, &in->memory);
    if (fuel != 0) {
        uint64_t left = 0;
        wasmtime_error_t *fe = wasmtime_context_get_fuel(in->ctx, &left);
        if (fe != NULL)
            wasmtime_error_delete(fe);
        r->fuel_consumed = fuel - left;
    }
    r->status = s;
    if (s != ERYX_OK && s != raised) {
        eryx__result_fail(r, s, err.message);
        /* The instance may be mid-update; it is never used again. */
        eryx__instance_stop(in);
    }
    return s;
}

/* Call a state export with no arguments or with one byte string placed in
   the guest; returns the return area's offset in *ret (when `ret`). */
static eryx_status
call_state(eryx__instance *in,
           const char *export_name,
           const void *data,
           size_t len,
           uint32_t *ret,
           eryx_error *err)
{
    wasmtime_func_t fn;
    if (!get_func(in, export_name, &fn))
        return eryx__fail(err, ERYX_E_ABI, "the guest lacks %s", export_name);
    eryx_status s = arm(in, in->st->settings->timeout_ms, err);
    if (s != ERYX_OK)
        return s;
    if (in->st->settings->fuel != 0)
        wasmtime_context_set_fuel(in->ctx, UINT64_MAX / 2); /* not metered */
    uint32_t args[2] = {0, (uint32_t)len};
    if (data != NULL)
        s = put_bytes(in, data, len, &args[0], err);
    if (s == ERYX_OK)
        s = call_i32(in, &fn, args, data ? 2 : 0, ret, err, export_name);
    return s;
}

/* Read a return area of `size` bytes at `ret`. */
static eryx_status
read_area(eryx__instance *in,
          uint32_t ret,
          uint8_t *area,
          size_t size,
          eryx_error *err)
{
    if (eryx__guest_read(in->ctx, &in->memory, ret, size, area) != ERYX_OK)
        return eryx__fail(err, ERYX_E_ABI, "a return area lies outside memory");
    return ERYX_OK;
}

/* After a failure that leaves the guest unusable, stop the instance. */
static eryx_status
stop_if_broken(eryx__instance *in, eryx_status s)
{
    if (s == ERYX_E_TRAP || s == ERYX_E_ABI)
        eryx__instance_stop(in);
    return s;
}

/* The guest's own failure: its message in `err` with `status`. */
static eryx_status
guest_failed(eryx__instance *in,
             eryx_abi_string message,
             eryx_status status,
             eryx_error *err)
{
    char *text = NULL;
    size_t n;
    eryx_status s = take_string(in, message, &text, &n, err, "error message");
    if (s == ERYX_OK)
        s = eryx__fail(err, status, "%s", text);
    eryx__free(text);
    return s;
}

/* Release a return area with the export's cabi_post_ function, when the
   call got as far as `s` says (ERYX_OK or the guest's own `failed`). */
static eryx_status
post_call(eryx__instance *in,
          const char *post_name,
          uint32_t ret,
          eryx_status s,
          eryx_status failed,
          eryx_error *err)
{
    if (s != ERYX_OK && s != failed)
        return s;
    wasmtime_func_t post;
    eryx_status p =
        get_func(in, post_name, &post)
            ? call_i32(in, &post, &ret, 1, NULL, err, post_name)
            : eryx__fail(err, ERYX_E_ABI, "the guest lacks %s", post_name);
    return p != ERYX_OK ? p : s;
}

eryx_status
eryx__instance_snapshot(eryx__instance *in,
                        char **data,
                        size_t *data_len,
                        char **skipped,
                        eryx_error *err)
{
    *data = *skipped = NULL;
    uint32_t ret = 0;
    uint8_t area[ERYX_ABI_SNAPSHOT_RET_SIZE], tag;
    eryx_abi_string a, b;
    size_t skipped_len;
    eryx_status s =
        call_state(in, ERYX_ABI_EXPORT_SNAPSHOT, NULL, 0, &ret, err);
    if (s == ERYX_OK)
        s = read_area(in, ret, area, sizeof area, err);
    if (s == ERYX_OK &&
        eryx__guest_decode_snapshot(area, &tag, &a, &b) != ERYX_OK)
        s = eryx__fail(err, ERYX_E_ABI, "snapshot-state returned a bad result");
    if (s == ERYX_OK && tag == ERYX_ABI_ERR) {
        s = guest_failed(in, a, ERYX_E_PYTHON, err);
    } else if (s == ERYX_OK) {
        s = take_string(in, a, data, data_len, err, "snapshot");
        if (s == ERYX_OK)
            s = take_string(in, b, skipped, &skipped_len, err, "skipped names");
    }
    s = post_call(in, ERYX_ABI_EXPORT_POST_SNAPSHOT, ret, s, ERYX_E_PYTHON,
                  err);
    if (s != ERYX_OK) {
        eryx__free(*data);
        eryx__free(*skipped);
        *data = *skipped = NULL;
    }
    return stop_if_broken(in, s);
}

eryx_status
eryx__instance_restore(eryx__instance *in,
                       const void *data,
                       size_t len,
                       eryx_error *err)
{
    uint32_t ret = 0;
    uint8_t area[ERYX_ABI_UNIT_RET_SIZE], tag;
    eryx_abi_string msg;
    eryx_status s =
        call_state(in, ERYX_ABI_EXPORT_RESTORE, data, len, &ret, err);
    if (s == ERYX_OK)
        s = read_area(in, ret, area, sizeof area, err);
    if (s == ERYX_OK && eryx__guest_decode_unit(area, &tag, &msg) != ERYX_OK)
        s = eryx__fail(err, ERYX_E_ABI, "restore-state returned a bad result");
    if (s == ERYX_OK && tag == ERYX_ABI_ERR)
        s = guest_failed(in, msg, ERYX_E_INVALID_INPUT, err);
    s = post_call(in, ERYX_ABI_EXPORT_POST_RESTORE, ret, s,
                  ERYX_E_INVALID_INPUT, err);
    return stop_if_broken(in, s);
}

eryx_status
eryx__instance_clear(eryx__instance *in, eryx_error *err)
{
    return stop_if_broken(
        in, call_state(in, ERYX_ABI_EXPORT_CLEAR, NULL, 0, NULL, err));
}
