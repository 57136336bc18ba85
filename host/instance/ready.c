/*
** ready.c: the engine's ready interpreters (eryx__instance_obtain,
** eryx__instance_retire, eryx_engine_ready_stats).  A new instance of the
** pre-initialized guest costs little to start (its memory is a
** copy-on-write mapping) but its first execute then takes a page fault for
** every page it writes (about 100) and for the pages it reads (each, or
** each 64 KiB where the kernel maps around a fault): most of that
** execute's time.
** One background thread per engine keeps a small stock of instances
** started and with those pages already faulted in, so that a sandbox's
** execute, a new session or a session's reset takes one instead; the same
** thread deletes the instances executes are done with.
**
** Which pages a first execute touches is recorded once per engine: the
** thread runs three small first executes (`pass`; one that awaits a
** coroutine, a callback and a gather, defines a class and sets a JSON
** result; one that imports a module the snapshot lacks and fails with a
** NameError), each in an instance of its own, and reads their pages in
** /proc/self/pagemap (present: touched; no longer file-backed: written).
** Ready instances then fault the written ones in with MADV_POPULATE_WRITE
** (or a write of each page's own first byte) and the others with a read of
** each (one per 64 KiB window where the kernel's fault-around maps the
** window: memory the engine could not register, eryx__engine_exact_faults).
**
** A ready instance has run nothing but the pre-initialized guest's
** initialize, which finds its work done, and it is started for the
** engine's default settings: the taker gives it its own
** (eryx__instance_adopt), so nothing of one owner reaches another.
*/
#define _GNU_SOURCE /* MADV_POPULATE_WRITE, SCHED_IDLE */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/sync.h"
#include "instance/instance.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define PAGE 4096u
/* Stores waiting to be deleted; past this the owner deletes its own, so
   the thread's backlog stays bounded. */
#define RETIRE_MAX 16u
/* How long a fork() waits for the thread to finish its work. */
#define FORK_WAIT_US 2000000u

typedef struct eryx__ready eryx__ready;

/* Guest pages [first, first + count), written or only read by a first
   execute. */
typedef struct page_run {
    uint32_t first, count;
    uint8_t kind; /* PAGE_READ, PAGE_WRITTEN or PAGE_WRITTEN_BY_PASS */
} page_run;

struct eryx__ready {
    eryx_engine *engine;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stopping, wanted, failing;
    /* An owner could not start an instance while the stock held some
       (a process short of address space): the stock stays empty from
       then on.  busy: the thread is starting, recording or deleting one
       (idle_cv signals its end). */
    bool starved, busy;
    pthread_cond_t idle_cv;
    bool forking; /* a fork() is under way: the thread starts nothing */
    eryx__settings defaults; /* what the stock's instances start with */
    eryx__instance stock[ERYX__READY_MAX];
    uint32_t nstock;
    wasmtime_store_t *retired[RETIRE_MAX];
    uint32_t nretired;
    /* The pages a first execute writes: not yet recorded (recorded 0),
       recorded (1), or not knowable here (-1). */
    int recorded;
    page_run *runs;
    size_t nruns;
    uint64_t run_bytes;
    uint64_t taken, made;
};

/* ------------------------------------------------------------ pages */

/* What the recording learns of each guest page: untouched, only read,
   written, or written by `pass` (which every execute writes); merged over
   the recorded executes (the larger wins). */
enum { PAGE_UNTOUCHED, PAGE_READ, PAGE_WRITTEN, PAGE_WRITTEN_BY_PASS };

/* Merge into `state` (npages entries) the pages of `in`'s memory that are
   present in /proc/self/pagemap (bit 63): written (no longer file-backed:
   bit 61 clear; marked `written`) or only read.  Pages beyond the image that
   were only read count as written (the zero page is not file-backed); a few,
   harmless. */
static bool
scan_pages(eryx__instance *in, uint8_t *state, size_t npages, uint8_t written)
{
    size_t n = wasmtime_memory_data_size(in->ctx, &in->memory) / PAGE;
    if (n > npages)
        n = npages;
    uint64_t *ent = n ? eryx__malloc(n * sizeof *ent) : NULL;
    bool ok = ent != NULL && eryx__instance_pagemap(in, n, ent);
    for (size_t i = 0; ok && i < n; i++) {
        if (!(ent[i] >> 63 & 1))
            continue; /* not present: untouched */
        uint8_t st = ent[i] >> 61 & 1 ? PAGE_READ : written;
        if (st > state[i])
            state[i] = st;
    }
    eryx__free(ent);
    return ok;
}

/* `state` as runs of written or only-read pages. */
static bool
runs_of(const uint8_t *state,
        size_t npages,
        page_run **out,
        size_t *out_n,
        uint64_t *out_bytes)
{
    size_t nruns = 0, cap = 0;
    page_run *runs = NULL;
    uint64_t bytes = 0;
    for (size_t i = 0; i < npages; i++) {
        if (state[i] == PAGE_UNTOUCHED)
            continue;
        uint8_t kind = state[i];
        bool written = kind >= PAGE_WRITTEN;
        if (written)
            bytes += PAGE;
        page_run *last = nruns ? &runs[nruns - 1] : NULL;
        if (last && last->first + last->count == (uint32_t)i &&
            last->kind == kind) {
            last->count++;
            continue;
        }
        if (nruns == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            page_run *n = eryx__realloc(runs, ncap * sizeof *runs);
            if (n == NULL) {
                eryx__free(runs);
                return false;
            }
            runs = n;
            cap = ncap;
        }
        runs[nruns++] = (page_run){(uint32_t)i, 1, kind};
    }
    *out = runs;
    *out_n = nruns;
    *out_bytes = bytes;
    return true;
}

/* Fault in the recorded pages of `in` (its memory holds the same data
   afterwards).  Written pages: one populating write fault each, which
   copies the page.  Pages only read: a read of each, or, where the memory
   has fault-around (not registered), one read per 64 KiB window, because
   the kernel then maps a read fault's neighbours that are in the page
   cache with it (MADV_POPULATE_READ page by page cost 3x more).
   `reads` false: the written pages only; `wmin`: the written ones of that
   kind or above (PAGE_WRITTEN: all; PAGE_WRITTEN_BY_PASS: `pass`'s). */
#define READ_WINDOW ((size_t)64 * 1024)
static void
prefault(const eryx__ready *r, eryx__instance *in, bool reads, uint8_t wmin)
{
    if (r->recorded != 1)
        return;
    uint8_t *base = wasmtime_memory_data(in->ctx, &in->memory);
    size_t size = wasmtime_memory_data_size(in->ctx, &in->memory);
    size_t step = in->exact_faults ? PAGE : READ_WINDOW;
    for (int pass = 0; pass < (reads ? 2 : 1); pass++) { /* writes first */
        size_t window = SIZE_MAX;
        for (size_t i = 0; i < r->nruns; i++) {
            const page_run *run = &r->runs[i];
            bool written = run->kind >= PAGE_WRITTEN;
            if (written != (pass == 0) || (written && run->kind < wmin))
                continue;
            size_t off = (size_t)run->first * PAGE;
            size_t len = (size_t)run->count * PAGE;
            if (off >= size)
                break;
            if (len > size - off)
                len = size - off;
            if (written && madvise(base + off, len, MADV_POPULATE_WRITE) == 0)
                continue;
            for (size_t p = off; p < off + len; p += PAGE) {
                volatile uint8_t *b = base + p;
                if (written) /* an older kernel */
                    *b = *b;
                else if (p / step != window) {
                    window = p / step;
                    (void)*b;
                }
            }
        }
    }
}

/* An instance as the stock keeps them, for the engine's defaults. */
static bool
make_ready(eryx__ready *r, eryx__instance *in)
{
    eryx_error err;
    if (eryx__instance_start(in, r->engine, &r->defaults, NULL, NULL, &err) !=
        ERYX_OK)
        return false;
    prefault(r, in, true, PAGE_WRITTEN);
    return true;
}

/* What the recorded first executes run, each in an instance of its own:
   `pass` (as the engine's default settings run it; first, as its pages are
   PAGE_WRITTEN_BY_PASS), and what a first execute
   commonly does besides (an await of a coroutine, of a callback that answers at
   once and of a gather of callbacks; a class; a comprehension; print; a JSON
   result), so that the event loop, tasks, the callback proxies and call path,
   the compiler's and the result's pages are in the set; and an import of a
   module the snapshot does not hold and an uncaught error, for importlib's
   finders, loaders and caches and the traceback's pages (a fresh sandbox's
   first `import colorsys` took 69 page faults and 1.55 ms, `1/0` 60 and 1.58
   ms; with them recorded, 0 and 0.55 ms, 2 and 0.85 ms; 123 more pages per
   ready instance, 342 in all).  The allocator lays out each execute's memory
   differently: a page that one only reads, another writes, so the set is the
   union of all three. */
static const struct {
    const char *code;
    bool noop; /* with the `noop` callback it awaits, else the defaults */
    eryx_status status; /* what it ends with */
} record_codes[] = {
    {"pass", false, ERYX_OK},
    {"import asyncio\n"
     "class _A:\n"
     "    def m(self, n):\n"
     "        return [str(i) for i in range(n)]\n"
     "async def _f():\n"
     "    await asyncio.sleep(0)\n"
     "    return _A().m(3)\n"
     "await _f()\n"
     "await noop()\n"
     "await asyncio.gather(noop(), noop())\n"
     "print('')\n"
     "result = {'a': [1, 2.5, 'x']}\n",
     true, ERYX_OK},
    {"import colorsys\n"
     "print(colorsys.rgb_to_hsv(0.2, 0.4, 0.4), undefined_name)\n",
     false, ERYX_E_PYTHON},
};

static void
record_noop(void *userdata, const char *args, size_t len, eryx_call *call)
{
    (void)userdata, (void)args, (void)len;
    eryx_call_return(call, "null", 4);
}

/* The settings of the recording instance: the engine's defaults and one
   callback. */
static bool
record_settings(eryx__settings *s)
{
    eryx_config *c = NULL;
    bool ok = eryx_config_new(&c, NULL) == ERYX_OK &&
              eryx_config_add_callback(c, "noop", "", NULL, record_noop, NULL,
                                       NULL, NULL) == ERYX_OK &&
              eryx__settings_copy(s, c, NULL) == ERYX_OK;
    eryx_config_free(c);
    return ok;
}

/* Run each of record_codes in an instance of the thread's own and record
   what they touched (published under r->mu: eryx__instance_obtain reads
   it). */
static void
record(eryx__ready *r)
{
    eryx__instance in;
    eryx__settings settings;
    eryx_error err;
    page_run *runs = NULL;
    size_t nruns = 0, npages = 0;
    uint64_t bytes = 0;
    uint8_t *state = NULL;
    bool ok = record_settings(&settings);
    if (!ok)
        goto out;
    for (size_t i = 0; ok && i < ERYX__COUNT(record_codes); i++) {
        ok = eryx__instance_start(&in, r->engine,
                                  record_codes[i].noop ? &settings
                                                       : &r->defaults,
                                  NULL, NULL, &err) == ERYX_OK;
        if (!ok)
            break;
        if (state == NULL) {
            npages = wasmtime_memory_data_size(in.ctx, &in.memory) / PAGE;
            state = eryx__calloc(npages ? npages : 1, 1);
        }
        eryx_result *res = eryx__result_new();
        ok = state != NULL && res != NULL &&
             eryx__instance_execute(&in, NULL, record_codes[i].code,
                                    strlen(record_codes[i].code), false,
                                    res) == record_codes[i].status &&
             scan_pages(&in, state, npages,
                        i == 0 ? PAGE_WRITTEN_BY_PASS : PAGE_WRITTEN);
        eryx_result_free(res);
        eryx__instance_stop(&in);
    }
    ok = ok && runs_of(state, npages, &runs, &nruns, &bytes);
    eryx__free(state);
    eryx__settings_clear(&settings);
out:
    pthread_mutex_lock(&r->mu);
    r->runs = runs;
    r->nruns = nruns;
    r->run_bytes = bytes;
    r->recorded = ok ? 1 : -1;
    pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------ thread */

static uint64_t
stock_bytes(const eryx__ready *r, uint32_t n)
{
    /* Where the pages could not be recorded, an instance counts a page. */
    return (uint64_t)n * (r->run_bytes ? r->run_bytes : PAGE);
}

/* Under r->mu: the thread leaves it for work of its own (busy), or comes
   back from it. */
static void
set_busy(eryx__ready *r, bool busy)
{
    if (busy) {
        r->busy = true;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->busy = false;
    pthread_cond_broadcast(&r->idle_cv);
}

/* The thread runs at the scheduler's idle policy: its work is for later
   requests, and a thread that wakes for a request now (an execute's
   callback handler, a guest waking from its wait) takes the CPU from it at
   once instead of after its time slice.  At the normal policy, a worker
   woken on the CPU where the thread was faulting an instance in started
   its handler 0.4-1.3 ms late, and the bench's gather of 5 x 10 ms took
   12.3-12.7 ms against 11.7 (docs/design.md, Ready interpreters).
   Best-effort: where the policy is refused the thread runs as before. */
static void
run_in_idle_time(void)
{
#ifdef SCHED_IDLE
    struct sched_param sp = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
#endif
}

static void *
ready_main(void *arg)
{
    eryx__ready *r = arg;
    eryx_engine *eng = r->engine;
    bool idle = false; /* at the idle policy */
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        if (r->forking) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        if (r->nretired > 0) {
            wasmtime_store_t *store = r->retired[--r->nretired];
            set_busy(r, true);
            wasmtime_store_delete(store);
            set_busy(r, false);
            continue;
        }
        bool produce = r->wanted && !r->starved;
        if (produce && r->recorded == 0) {
            set_busy(r, true);
            record(r);
            set_busy(r, false);
            continue;
        }
        if (produce && !idle) {
            /* Not before: threads this one starts inherit the policy (a
               thread cannot take the normal one back unprivileged), and
               the recording's executes start callback workers, as an
               instance's first start in a fork's child starts the epoch
               ticker. */
            pthread_mutex_unlock(&r->mu);
            (void)eryx__engine_resume(eng, NULL);
            run_in_idle_time();
            idle = true;
            pthread_mutex_lock(&r->mu);
            continue;
        }
        if (produce && !r->failing && r->nstock < eng->ready_count &&
            stock_bytes(r, r->nstock + 1) <= eng->ready_max_bytes) {
            set_busy(r, true);
            eryx__instance in;
            bool ok = make_ready(r, &in);
            set_busy(r, false);
            if (ok && r->starved)
                eryx__instance_stop(&in); /* an owner needs the room */
            else if (ok) {
                r->stock[r->nstock++] = in;
                r->made++;
            } else {
                r->failing = true; /* e.g. the engine's instances are all
                                      in use: try again after a take */
            }
            continue;
        }
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void
ready_free(eryx__ready *r)
{
    if (r->running) {
        pthread_mutex_lock(&r->mu);
        r->stopping = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    while (r->nstock > 0)
        eryx__instance_stop(&r->stock[--r->nstock]);
    while (r->nretired > 0)
        wasmtime_store_delete(r->retired[--r->nretired]);
    eryx__settings_clear(&r->defaults);
    eryx__free(r->runs);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->idle_cv);
    pthread_mutex_destroy(&r->mu);
    eryx__free(r);
}

/* A phase of fork() (engine.c calls it for every live engine).  The
   thread finishes what it is doing (an instance half made or deleted must
   not be copied) and waits; the child's copy of the stock and of the
   instances waiting to be deleted is the child's own, and its next take
   starts a thread for them.  The wait is bounded: a child forked while the
   thread was still at work keeps its stock but makes no more. */
static void
ready_fork(eryx__ready *r, int phase)
{
    switch (phase) {
    case ERYX__FORK_PREPARE: {
        /* Bounded: should the thread wait on something the forking thread
           holds, the fork goes on. */
        uint64_t until = eryx__clock_now_us() + FORK_WAIT_US;
        pthread_mutex_lock(&r->mu);
        r->forking = true;
        while (r->busy && eryx__clock_now_us() < until)
            eryx__sync_cond_wait_until(&r->idle_cv, &r->mu, until);
        return;
    }
    case ERYX__FORK_PARENT:
        r->forking = false;
        pthread_cond_signal(&r->cv);
        break;
    default:
        r->forking = false;
        r->running = false;
        if (r->busy) { /* the instance it was making or deleting is lost */
            r->busy = false;
            r->starved = true;
        }
        pthread_cond_init(&r->cv, NULL);
        eryx__sync_cond_init(&r->idle_cv);
        /* The stock's memories lost their registration at the fork: with
           the child's own userfaultfd (the engine's child phase, before
           this one), so that they too map only the pages touched. */
        for (uint32_t i = 0; i < r->nstock; i++)
            eryx__instance_exact_faults(&r->stock[i]);
        break;
    }
    pthread_mutex_unlock(&r->mu);
}

/* The engine's stock, made on first use (NULL: the stock is off, or no
   memory). */
static eryx__ready *
get_ready(eryx_engine *eng)
{
    eryx__ready *r = __atomic_load_n(&eng->ready, __ATOMIC_ACQUIRE);
    if (r != NULL || eng->ready_count == 0)
        return r;
    r = eryx__calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if (eryx__settings_copy(&r->defaults, NULL, NULL) != ERYX_OK) {
        eryx__free(r);
        return NULL;
    }
    r->engine = eng;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    eryx__sync_cond_init(&r->idle_cv);
    /* Set before the stock is published (by every thread that gets here,
       to the same values), read by eryx_engine_free and the fork
       handlers. */
    __atomic_store_n(&eng->ready_free, ready_free, __ATOMIC_RELEASE);
    __atomic_store_n(&eng->ready_fork, ready_fork, __ATOMIC_RELEASE);
    eryx__ready *none = NULL;
    if (!__atomic_compare_exchange_n(&eng->ready, &none, r, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        ready_free(r); /* another thread's won */
        return none;
    }
    return r;
}

/* Wake the thread, starting it first if needed (under r->mu). */
static void
wake(eryx__ready *r)
{
    if (!r->running && !r->stopping)
        r->running = pthread_create(&r->thread, NULL, ready_main, r) == 0;
    pthread_cond_signal(&r->cv);
}

/* ------------------------------------------------------------ API */

/* An owner failed to start an instance: when the stock holds any, the
   thread is at work, or finished instances wait to be deleted, the stock
   is given up for good (its instances stopped, the waiting ones deleted,
   the thread's work waited for) and true says to try again. */
static bool
give_up_stock(eryx__ready *r)
{
    eryx__instance freed[ERYX__READY_MAX];
    pthread_mutex_lock(&r->mu);
    bool had = r->nstock > 0 || r->busy;
    r->starved = true;
    while (r->busy)
        pthread_cond_wait(&r->idle_cv, &r->mu);
    uint32_t n = r->nstock, nr = r->nretired;
    wasmtime_store_t *stores[RETIRE_MAX];
    memcpy(freed, r->stock, n * sizeof *freed);
    memcpy(stores, r->retired, nr * sizeof *stores);
    r->nstock = r->nretired = 0;
    pthread_mutex_unlock(&r->mu);
    for (uint32_t i = 0; i < n; i++)
        eryx__instance_stop(&freed[i]);
    for (uint32_t i = 0; i < nr; i++) /* finished ones hold room too */
        wasmtime_store_delete(stores[i]);
    return had || n > 0 || nr > 0;
}

eryx_status
eryx__instance_obtain(eryx__instance *in,
                      eryx_engine *engine,
                      const eryx__settings *settings,
                      const eryx__instance_fs *fs,
                      eryx__interrupt *interrupt,
                      unsigned how,
                      eryx_error *err)
{
    bool take = settings->fuel == 0 && (fs == NULL || fs->pre == NULL) &&
                !(how & ERYX__OBTAIN_FRESH);
    eryx__ready *r = take ? get_ready(engine)
                          : __atomic_load_n(&engine->ready, __ATOMIC_ACQUIRE);
    if (r != NULL && take) {
        bool have = false;
        pthread_mutex_lock(&r->mu);
        r->wanted = true;
        r->failing = false;
        if (r->nstock > 0) {
            *in = r->stock[--r->nstock];
            have = true;
        }
        wake(r); /* refill */
        pthread_mutex_unlock(&r->mu);
        if (have && eryx__instance_adopt(in, engine, settings, fs, interrupt,
                                         NULL) == ERYX_OK) {
            __atomic_add_fetch(&r->taken, 1, __ATOMIC_RELAXED);
            return ERYX_OK;
        }
        if (have) /* over the owner's memory limit: start as usual */
            eryx__instance_stop(in);
    }
    eryx_status s =
        eryx__instance_start(in, engine, settings, fs, interrupt, err);
    if (s != ERYX_OK && r != NULL && give_up_stock(r))
        s = eryx__instance_start(in, engine, settings, fs, interrupt, err);
    /* Started here for an execute: the pages `pass` writes (every execute
       writes them) are faulted in before it runs, and those the richer
       recording writes too while another execute is under way; all its
       pages when the owner asks (a pool's reset).  Otherwise many of its writes
       land on pages that its reads mapped read-only (the kernel maps 16 around
       each read fault), each a copy that must flush the TLB of every
       other CPU running this process: with another execute running, an
       interrupt per page, which made two threads of fresh sandboxes
       slower than one.  A page written first faults once, with no flush.
       Alone, the larger set costs an execute more than its faults would
       (docs/design.md, Ready interpreters). */
    bool all = (how & ERYX__OBTAIN_PREFAULT) != 0;
    if (s == ERYX_OK && r != NULL &&
        ((take && (how & ERYX__OBTAIN_EXECUTE)) || all)) {
        pthread_mutex_lock(&r->mu);
        bool known = r->recorded == 1;
        pthread_mutex_unlock(&r->mu);
        bool busy = __atomic_load_n(&engine->executing, __ATOMIC_RELAXED) > 0;
        if (known)
            prefault(r, in, all,
                     all || busy ? PAGE_WRITTEN : PAGE_WRITTEN_BY_PASS);
    }
    return s;
}

void
eryx__instance_retire(eryx__instance *in, eryx_engine *engine)
{
    eryx__ready *r =
        engine ? __atomic_load_n(&engine->ready, __ATOMIC_ACQUIRE) : NULL;
    /* An image's mapping is put back here, before the next session can
       map one (both take the process's mmap lock). */
    wasmtime_store_t *store = eryx__instance_release(in);
    if (store == NULL)
        return;
    bool queued = false;
    if (r != NULL) {
        pthread_mutex_lock(&r->mu);
        queued = r->running && r->nretired < RETIRE_MAX;
        if (queued) {
            r->retired[r->nretired++] = store;
            pthread_cond_signal(&r->cv);
        }
        pthread_mutex_unlock(&r->mu);
    }
    if (!queued)
        wasmtime_store_delete(store);
}

void
eryx_engine_ready_stats(eryx_engine *engine, eryx_ready_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    eryx__ready *r =
        engine ? __atomic_load_n(&engine->ready, __ATOMIC_ACQUIRE) : NULL;
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    out->ready = r->nstock;
    out->made = r->made;
    out->instance_bytes = r->recorded == 1 ? r->run_bytes : 0;
    pthread_mutex_unlock(&r->mu);
    out->taken = __atomic_load_n(&r->taken, __ATOMIC_RELAXED);
}
