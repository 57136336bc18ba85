/*
** engine.c: eryx_engine (eryx__engine_*): the Wasmtime engines of the two
** variants of the guest, linked with every import, shared by every
** sandbox made from the engine; and the epoch ticker.
*/
#define _GNU_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, O_PATH */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/userfaultfd.h>
#endif

#include "core/sync.h"
#include "core/wasm_error.h"
#include "engine/engine.h"
#include "imports/imports.h"

/* Default number of instances alive at once per engine variant: the
   pooling allocator reserves address space (not memory) for each. */
#define DEFAULT_MAX_INSTANCES 1000u

/* Address space one pooled instance slot reserves: 4 GiB of linear memory
   (so that compiled code needs no bounds checks) plus guard regions. */
#define SLOT_RESERVATION     (((uint64_t)4 << 30) + ((uint64_t)64 << 20))
#define MIN_POOLED_INSTANCES 16u
/* Table bytes a slot keeps resident (above the guest's table, 56,720). */
#define TABLE_KEEP_RESIDENT ((size_t)64 << 10)

/* How many slots this process can reserve now, up to `want`: halving
   until a probe reservation fits.  Some processes cannot reserve terabytes
   (a ulimit -v, vm.overcommit_memory=2, ThreadSanitizer's fixed layout);
   Wasmtime would abort on the failed mapping, so eryx asks first.  0: not
   even MIN_POOLED_INSTANCES fit. */
static uint32_t
reservable_slots(uint32_t want)
{
    for (uint32_t n = want; n >= MIN_POOLED_INSTANCES; n /= 2) {
        size_t len = (size_t)(SLOT_RESERVATION * n);
        void *p = mmap(NULL, len, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            munmap(p, len);
            return n;
        }
    }
    return 0;
}

/* A Wasmtime engine configured as every eryx engine is: compiled files are
   only interchangeable between identical configurations (the pool's size
   is not part of that). */
static wasm_engine_t *
new_wasm_engine(bool fuel, uint32_t max_instances)
{
    wasm_config_t *wc = wasm_config_new();
    if (wc == NULL)
        return NULL;
    wasmtime_config_cranelift_opt_level_set(wc, WASMTIME_OPT_LEVEL_SPEED);
    wasmtime_config_epoch_interruption_set(wc, true);
    wasmtime_config_consume_fuel_set(wc, fuel);
    /* Instances come from a pool of pre-reserved slots, and linear memory
       starts as a copy-on-write mapping of the compiled file's image (the
       pre-initialized interpreter), so creating one copies nothing. */
    wasmtime_config_memory_init_cow_set(wc, true);
    /* The guest's stack: what CPython's WASI build expects (its own runner
       passes max-wasm-stack=8388608), on a stack of Wasmtime's with room
       for the host's imports below it. */
#if ERYX__FIBERS
    wasmtime_config_max_wasm_stack_set(wc, ERYX__WASM_STACK);
    wasmtime_config_async_stack_size_set(wc,
                                         ERYX__WASM_STACK + ERYX__HOST_STACK);
    const uint32_t max_calls = ERYX__MAX_CALLS;
#else
    const uint32_t max_calls = 0;
#endif
    uint32_t n =
        reservable_slots(max_instances ? max_instances : DEFAULT_MAX_INSTANCES);
    if (n == 0) /* instances are then mapped one by one, still CoW */
        return wasm_engine_new_with_config(wc);
    wasmtime_pooling_allocation_config_t *pc =
        wasmtime_pooling_allocation_config_new();
    if (pc == NULL) {
        wasm_config_delete(wc);
        return NULL;
    }
    wasmtime_pooling_allocation_config_total_core_instances_set(pc, n);
    wasmtime_pooling_allocation_config_total_memories_set(pc, n);
    wasmtime_pooling_allocation_config_total_tables_set(pc, n);
    /* Any memory limit up to wasm32's 4 GiB fits a slot. */
    wasmtime_pooling_allocation_config_max_memory_size_set(pc, (size_t)1 << 32);
    wasmtime_pooling_allocation_config_table_elements_set(pc, 1u << 16);
    /* A slot's table (the guest's 7,090 function pointers, 55 KiB) is
       zeroed in place when its instance goes, not given back to the
       kernel: Wasmtime fills it lazily, so a new instance's first execute
       otherwise took a fresh-page fault for each of a dozen table pages
       (half of a ready interpreter's execute on a VM). */
    wasmtime_pooling_allocation_config_table_keep_resident_set(
        pc, TABLE_KEEP_RESIDENT);
    /* One stack per call running at once (instance/instance.c runs every
       call on one); each costs an mprotect at engine creation. */
    wasmtime_pooling_allocation_config_total_stacks_set(
        pc, n < max_calls ? n : max_calls);
    wasmtime_pooling_allocation_strategy_set(wc, pc);
    wasmtime_pooling_allocation_config_delete(pc);
    return wasm_engine_new_with_config(wc); /* consumes wc */
}

/* Build one variant of the engine: Wasmtime engine, compiled guest,
   linker with WASI and the eryx imports, and the instance_pre. */
static eryx_status
load_variant(eryx__variant *v,
             const eryx_engine *eng,
             bool fuel,
             eryx_error *err)
{
    v->wasm = new_wasm_engine(fuel, eng->max_instances);
    if (v->wasm == NULL)
        return eryx__fail(err, ERYX_E_ENGINE,
                          "cannot create the Wasmtime engine");
    wasmtime_module_t *module = NULL;
    eryx_status s =
        eryx__cache_load(v->wasm, eng->paths.runtime_path, eng->paths.cache_dir,
                         fuel, &module, &v->info, err);
    if (s != ERYX_OK) {
        if (module != NULL)
            wasmtime_module_delete(module);
        return s;
    }
    v->linker = wasmtime_linker_new(v->wasm);
    wasmtime_error_t *e = wasmtime_linker_define_wasi(v->linker);
    if (e == NULL) {
        /* eryx's own poll_oneoff and clock_time_get replace WASI's, so that
           sleeps end at the execution's deadline or cancellation. */
        wasmtime_linker_allow_shadowing(v->linker, true);
        s = eryx__imports_define(v->linker, err);
        if (s == ERYX_OK)
            e = wasmtime_linker_instantiate_pre(v->linker, module, &v->pre);
    }
    wasmtime_module_delete(module); /* the instance_pre keeps its own */
    if (e != NULL)
        return eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL,
                               "cannot link the guest");
    return s;
}

static void
free_variant(eryx__variant *v)
{
    if (v->pre != NULL)
        wasmtime_instance_pre_delete(v->pre);
    if (v->linker != NULL)
        wasmtime_linker_delete(v->linker);
    if (v->wasm != NULL)
        wasm_engine_delete(v->wasm);
    eryx__free(v->info);
    memset(v, 0, sizeof *v);
}

/* The epoch ticker: every tick, running guests check their deadline and
   cancellation (through the store's epoch callback). */
#define TICK_MS 10

static void *
ticker(void *arg)
{
    eryx_engine *eng = arg;
    pthread_mutex_lock(&eng->mu);
    while (!eng->stopping) {
        eryx__sync_cond_wait_until(&eng->cv, &eng->mu,
                                   eryx__clock_now_us() +
                                       (uint64_t)TICK_MS * 1000u);
        wasmtime_engine_increment_epoch(eng->plain.wasm);
        if (__atomic_load_n(&eng->fuel_ready, __ATOMIC_ACQUIRE))
            wasmtime_engine_increment_epoch(eng->fuel.wasm);
    }
    pthread_mutex_unlock(&eng->mu);
    return NULL;
}

eryx_status
eryx__engine_resume(eryx_engine *eng, eryx_error *err)
{
    if (__atomic_load_n(&eng->ticking, __ATOMIC_ACQUIRE))
        return ERYX_OK;
    pthread_mutex_lock(&eng->mu);
    bool ok = __atomic_load_n(&eng->ticking, __ATOMIC_RELAXED) ||
              pthread_create(&eng->ticker, NULL, ticker, eng) == 0;
    if (ok)
        __atomic_store_n(&eng->ticking, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&eng->mu);
    return ok ? ERYX_OK
              : eryx__fail(err, ERYX_E_NOMEM, "cannot start the epoch ticker");
}

/* ----------------------------------------------------- exact faults */

/* Older kernel headers lack these (Linux 5.11 and 6.7). */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* A userfaultfd whose write-protect faults the kernel resolves itself
   (WP_ASYNC, which also allows any kind of memory to be registered), or
   -1.  Registered memory gets no fault-around (the kernel's
   uffd_disable_fault_around).  User-mode faults only: an unprivileged
   process may open it whatever vm.unprivileged_userfaultfd says, and the
   descriptor never reports a fault anyway. */
static int
open_fault_fd(void)
{
#if defined(__linux__) && defined(SYS_userfaultfd)
    int fd = (int)syscall(SYS_userfaultfd,
                          O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0)
        return -1;
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_WP_ASYNC};
    if (ioctl(fd, UFFDIO_API, &api) != 0 ||
        !(api.features & UFFD_FEATURE_WP_ASYNC)) {
        close(fd);
        return -1;
    }
    return fd;
#else
    return -1;
#endif
}

bool
eryx__engine_exact_faults(eryx_engine *eng, void *base, size_t len)
{
#ifdef __linux__
    int fd = eng->fault_fd;
    if (fd < 0 || len == 0)
        return false;
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)base, .len = len},
        .mode = UFFDIO_REGISTER_MODE_WP,
    };
    return ioctl(fd, UFFDIO_REGISTER, &reg) == 0;
#else
    (void)eng;
    (void)base;
    (void)len;
    return false;
#endif
}

/* ------------------------------------------------------------ fork */

/* The engines alive in the process, so that fork() finds each one's
   threads: a process that makes engines and then forks (a server's
   workers, multiprocessing) gets a child whose engines work. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static eryx_engine *live_head;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void
fork_phase(int phase)
{
    for (eryx_engine *e = live_head; e != NULL; e = e->live_next) {
        void (*ready_fork)(struct eryx__ready *, int) =
            __atomic_load_n(&e->ready_fork, __ATOMIC_ACQUIRE);
        struct eryx__ready *ready =
            __atomic_load_n(&e->ready, __ATOMIC_ACQUIRE);
        if (phase == ERYX__FORK_PREPARE) {
            /* The ready thread first: what it finishes may run handlers. */
            if (ready != NULL)
                ready_fork(ready, phase);
            eryx__workers_fork(e->workers, phase);
            pthread_mutex_lock(&e->image_src_mu);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        if (phase == ERYX__FORK_CHILD) {
            /* No ticker here: the next call into a guest starts one. */
            __atomic_store_n(&e->ticking, false, __ATOMIC_RELAXED);
            eryx__sync_cond_init(&e->cv);
            /* Held only while the fuel variant compiles: a compile under
               way in another thread is not in the child; it starts again. */
            pthread_mutex_init(&e->build_mu, NULL);
            /* Executes of the parent's other threads are not here. */
            __atomic_store_n(&e->executing, 0, __ATOMIC_RELAXED);
            /* The inherited userfaultfd registers in the parent's memory,
               and the child's memories lost their registration: a new
               one for the instances started here. */
            if (e->fault_fd >= 0) {
                close(e->fault_fd);
                e->fault_fd = open_fault_fd();
            }
        }
        pthread_mutex_unlock(&e->mu);
        pthread_mutex_unlock(&e->image_src_mu);
        eryx__workers_fork(e->workers, phase);
        if (ready != NULL)
            ready_fork(ready, phase);
    }
}

static void
fork_prepare(void)
{
    pthread_mutex_lock(&live_mu);
    fork_phase(ERYX__FORK_PREPARE);
}

static void
fork_parent(void)
{
    fork_phase(ERYX__FORK_PARENT);
    pthread_mutex_unlock(&live_mu);
}

static void
fork_child(void)
{
    fork_phase(ERYX__FORK_CHILD);
    pthread_mutex_unlock(&live_mu);
}

static void
fork_register(void)
{
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void
live_add(eryx_engine *eng)
{
    pthread_once(&fork_once, fork_register);
    pthread_mutex_lock(&live_mu);
    eng->live_next = live_head;
    if (live_head != NULL)
        live_head->live_prev = eng;
    live_head = eng;
    pthread_mutex_unlock(&live_mu);
}

static void
live_remove(eryx_engine *eng)
{
    pthread_mutex_lock(&live_mu);
    if (eng->live_prev != NULL)
        eng->live_prev->live_next = eng->live_next;
    else if (live_head == eng)
        live_head = eng->live_next;
    if (eng->live_next != NULL)
        eng->live_next->live_prev = eng->live_prev;
    eng->live_prev = eng->live_next = NULL;
    pthread_mutex_unlock(&live_mu);
}

const eryx__variant *
eryx__engine_variant(eryx_engine *eng, bool fuel, eryx_error *err)
{
    if (!fuel)
        return &eng->plain;
    if (__atomic_load_n(&eng->fuel_ready, __ATOMIC_ACQUIRE))
        return &eng->fuel;
    /* Built under its own lock: the ticker's lock stays free, so running
       sandboxes keep their deadlines during a compile of seconds. */
    pthread_mutex_lock(&eng->build_mu);
    eryx_status s = ERYX_OK;
    if (!__atomic_load_n(&eng->fuel_ready, __ATOMIC_ACQUIRE)) {
        eryx__variant v;
        memset(&v, 0, sizeof v);
        s = load_variant(&v, eng, true, err);
        if (s == ERYX_OK) {
            eng->fuel = v;
            __atomic_store_n(&eng->fuel_ready, 1, __ATOMIC_RELEASE);
        } else {
            free_variant(&v);
        }
    }
    pthread_mutex_unlock(&eng->build_mu);
    return s == ERYX_OK ? &eng->fuel : NULL;
}

eryx_status
eryx_engine_new(const eryx_config *config, eryx_engine **out, eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    eryx__alloc_init();
    eryx_engine *eng = eryx__calloc(1, sizeof *eng);
    if (eng == NULL)
        return eryx__fail_nomem(err);
    eng->stdlib_fd = -1;
    eng->image_src_fd = -1;
    eng->fault_fd = open_fault_fd();
    pthread_mutex_init(&eng->image_src_mu, NULL);
    pthread_mutex_init(&eng->build_mu, NULL);
    pthread_mutex_init(&eng->mu, NULL);
    eryx__sync_cond_init(&eng->cv);
    eryx_status s = eryx__paths_find(config, &eng->paths, err);
    if (s != ERYX_OK)
        goto fail;
    eng->max_instances = config ? config->max_instances : 0;
    eng->ready_count = config ? config->ready_count : ERYX__READY_DEFAULT_COUNT;
    eng->ready_max_bytes =
        config ? config->ready_max_bytes : ERYX__READY_DEFAULT_BYTES;
    eng->stdlib_fd =
        open(eng->paths.stdlib_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (eng->stdlib_fd < 0) {
        s = eryx__fail(err, ERYX_E_IO, "the stdlib %s is not a directory",
                       eng->paths.stdlib_dir);
        goto fail;
    }
    eng->workers = eryx__workers_new();
    if (eng->workers == NULL) {
        s = eryx__fail_nomem(err);
        goto fail;
    }
    s = load_variant(&eng->plain, eng, false, err);
    if (s != ERYX_OK)
        goto fail;
    s = eryx__engine_resume(eng, err); /* starts the ticker */
    if (s != ERYX_OK)
        goto fail;
    live_add(eng);
    *out = eng;
    return ERYX_OK;

fail:
    eryx_engine_free(eng);
    return s;
}

void
eryx_engine_free(eryx_engine *eng)
{
    if (eng == NULL)
        return;
    live_remove(eng);
    /* First: its thread may be starting or deleting an instance. */
    if (eng->ready != NULL)
        __atomic_load_n(&eng->ready_free, __ATOMIC_ACQUIRE)(eng->ready);
    if (__atomic_load_n(&eng->ticking, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&eng->mu);
        eng->stopping = true;
        pthread_cond_signal(&eng->cv);
        pthread_mutex_unlock(&eng->mu);
        pthread_join(eng->ticker, NULL);
    }
    /* Before the variants: handlers may still run. */
    eryx__workers_free(eng->workers);
    free_variant(&eng->fuel);
    free_variant(&eng->plain);
    pthread_cond_destroy(&eng->cv);
    pthread_mutex_destroy(&eng->mu);
    pthread_mutex_destroy(&eng->build_mu);
    pthread_mutex_destroy(&eng->image_src_mu);
    if (eng->image_src_fd >= 0)
        close(eng->image_src_fd);
    if (eng->fault_fd >= 0)
        close(eng->fault_fd);
    eryx__paths_free(&eng->paths);
    if (eng->stdlib_fd >= 0)
        close(eng->stdlib_fd);
    eryx__free(eng);
}

const char *
eryx_engine_info(const eryx_engine *engine)
{
    return engine && engine->plain.info ? engine->plain.info : "";
}


eryx_status
eryx_engine_precompile(const eryx_config *config,
                       const char *out_path,
                       int fuel,
                       eryx_error *err)
{
    eryx__alloc_init();
    eryx__paths paths;
    eryx_status s = eryx__paths_find(config, &paths, err);
    if (s != ERYX_OK)
        return s;
    wasm_engine_t *wasm =
        new_wasm_engine(fuel != 0, config ? config->max_instances : 0);
    if (wasm == NULL)
        s = eryx__fail(err, ERYX_E_ENGINE, "cannot create the Wasmtime engine");
    else
        s = eryx__cache_precompile(wasm, paths.runtime_path, out_path,
                                   fuel != 0, err);
    if (wasm != NULL)
        wasm_engine_delete(wasm);
    eryx__paths_free(&paths);
    return s;
}

eryx_status
eryx__engine_image_pre(eryx_engine *eng,
                       const uint8_t *bytes,
                       size_t len,
                       wasmtime_instance_pre_t **pre,
                       eryx_error *err)
{
    wasmtime_module_t *module = NULL;
    eryx_status s = eryx__cache_module(eng->plain.wasm, eng->paths.cache_dir,
                                       bytes, len, &module, err);
    if (s != ERYX_OK)
        return s;
    wasmtime_error_t *e =
        wasmtime_linker_instantiate_pre(eng->plain.linker, module, pre);
    wasmtime_module_delete(module);
    return e ? eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL,
                               "cannot link the image")
             : ERYX_OK;
}
