/*
** image.c: whole-interpreter images (eryx_image): a session's linear
** memory, kept as the 4 KiB pages that differ from the engine's
** pre-initialized image, plus the C stack pointer, the one mutable global
** of the guest.  Between executes nothing else of the interpreter lives
** outside memory (docs/design.md, "Whole-interpreter images").
*/
#define _GNU_SOURCE /* memfd_create, MAP_FIXED */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/wasm_error.h"
#include "instance/image_format.h"
#include "instance/instance.h"

#define PAGE      4096u
#define WASM_PAGE 65536u

struct eryx_image {
    eryx_engine *engine;
    uint64_t guest;       /* the engine's guest_id */
    uint64_t memory_size; /* bytes */
    uint32_t stack_pointer;
    uint64_t execution_count;
    size_t npages, cap;
    uint32_t *index; /* page numbers, ascending */
    uint8_t *data;   /* npages * PAGE bytes */
    /* The files: copies of /data and /tmp as captured, and the packages
       (shared, read-only) and site-packages directory of the session. */
    eryx_storage *files[ERYX__IMAGE_FILES];
    char *packages_dir;
    /* The image as a module of its own (eryx_image_compile), published
       once under compile_mu: sessions then map its memory copy-on-write. */
    wasmtime_instance_pre_t *pre; /* atomic */
    pthread_mutex_t compile_mu;
    /* The image's pages in a sealed memfd, mapped copy-on-write into the
       sessions made from it: made at the first, a cache that sessions fill
       through a const image (hence a pointer to it). */
    struct image_map *map;
};

/* An image's memory from its first stored page to its last, in a sealed
   memfd: the stored pages, and the guest's own between them (zero pages
   left as holes).  One range, so one mmap per session: replacing part of
   a mapping costs tens of microseconds per call here (the mmap lock, TLB
   flushes across threads), so runs of stored pages mapped one by one (21
   for the bench's image) took 1.2 ms where one range takes 0.25 ms. */
struct eryx__overlay {
    int refs;            /* atomic */
    int fd;              /* the memfd */
    uint64_t start, len; /* the guest memory it covers */
    /* Where the guest's own image comes from (the engine's, which outlives
       every instance), to map it back: guest bytes [src_start, src_start +
       src_len) are the file's from src_off; the rest is anonymous. */
    int src_fd;
    uint64_t src_start, src_off, src_len;
};

struct image_map {
    pthread_mutex_t mu;
    eryx__overlay *overlay; /* atomic; NULL: not yet, or copies */
    bool failed;
};

/* A new image (NULL when memory runs out). */
static eryx_image *
image_new(void)
{
    eryx_image *img = eryx__calloc(1, sizeof *img);
    if (img == NULL)
        return NULL;
    if ((img->map = eryx__calloc(1, sizeof *img->map)) == NULL) {
        eryx__free(img);
        return NULL;
    }
    pthread_mutex_init(&img->compile_mu, NULL);
    pthread_mutex_init(&img->map->mu, NULL);
    return img;
}

void
eryx_image_free(eryx_image *img)
{
    if (img == NULL)
        return;
    eryx__free(img->index);
    eryx__free(img->data);
    for (int i = 0; i < ERYX__IMAGE_FILES; i++)
        eryx__storage_unref(img->files[i]);
    eryx__free(img->packages_dir);
    if (img->pre != NULL)
        wasmtime_instance_pre_delete(img->pre);
    eryx__overlay_unref(img->map->overlay);
    pthread_mutex_destroy(&img->map->mu);
    eryx__free(img->map);
    pthread_mutex_destroy(&img->compile_mu);
    eryx__free(img);
}

uint64_t
eryx_image_memory_size(const eryx_image *img)
{
    return img ? img->memory_size : 0;
}

uint64_t
eryx_image_stored_size(const eryx_image *img)
{
    return img ? (uint64_t)img->npages * PAGE : 0;
}

static bool
add_page(eryx_image *img, uint32_t n, const uint8_t *bytes)
{
    if (img->npages == img->cap) {
        size_t cap = img->cap ? img->cap * 2 : 256;
        uint32_t *index = eryx__realloc(img->index, cap * sizeof *index);
        if (index == NULL)
            return false;
        img->index = index;
        uint8_t *data = eryx__realloc(img->data, cap * PAGE);
        if (data == NULL)
            return false;
        img->data = data;
        img->cap = cap;
    }
    img->index[img->npages] = n;
    memcpy(img->data + img->npages * PAGE, bytes, PAGE);
    img->npages++;
    return true;
}

static eryx_status
stack_pointer(eryx__instance *in, wasmtime_global_t *out, eryx_error *err)
{
    wasmtime_extern_t ext;
    const char *name = ERYX_ABI_EXPORT_STACK_POINTER;
    if (!wasmtime_instance_export_get(in->ctx, &in->instance, name,
                                      strlen(name), &ext) ||
        ext.kind != WASMTIME_EXTERN_GLOBAL)
        return eryx__fail(err, ERYX_E_ABI,
                          "the guest does not export its stack pointer");
    *out = ext.of.global;
    return ERYX_OK;
}

/* The identity of the pre-initialized memory `ref` (`size` bytes): what a
   serialized image must match to be applied. */
static uint64_t
identity_of(const uint8_t *ref, size_t size)
{
    uint8_t n[8];
    eryx__le_put(n, size, 8);
    uint64_t id = eryx__fnv1a(eryx__checksum(ref, size), n, sizeof n);
    return id ? id : 1;
}

/* The engine's guest identity, computed once (racing threads compute the
   same value). */
static uint64_t
engine_identity(eryx_engine *engine, const uint8_t *ref, size_t size)
{
    uint64_t id = __atomic_load_n(&engine->guest_id, __ATOMIC_ACQUIRE);
    if (id == 0) {
        id = identity_of(ref, size);
        __atomic_store_n(&engine->guest_id, id, __ATOMIC_RELEASE);
    }
    return id;
}

/* A throwaway fresh instance of the engine's guest, with default settings
   (no volumes to open, no fuel variant to build): its memory is what every
   new session starts from, mapped copy-on-write, so reading it copies
   nothing.  The settings are the instance's (they must outlive it). */
typedef struct fresh {
    eryx__settings settings;
    eryx__instance in;
    const uint8_t *mem;
    size_t size;
} fresh;

static eryx_status
fresh_start(eryx_engine *engine, fresh *f, eryx_error *err)
{
    eryx_status s = eryx__settings_copy(&f->settings, NULL, err);
    if (s != ERYX_OK)
        return s;
    s = eryx__instance_obtain(&f->in, engine, &f->settings, NULL, NULL,
                              ERYX__OBTAIN_FRESH, err);
    if (s != ERYX_OK) {
        eryx__settings_clear(&f->settings);
        return s;
    }
    f->mem = wasmtime_memory_data(f->in.ctx, &f->in.memory);
    f->size = wasmtime_memory_data_size(f->in.ctx, &f->in.memory);
    return ERYX_OK;
}

static void
fresh_stop(fresh *f)
{
    eryx__instance_stop(&f->in);
    eryx__settings_clear(&f->settings);
}

/* The engine's guest identity, starting an instance to read it if no
   image has been captured yet. */
static eryx_status
engine_identity_fresh(eryx_engine *engine, uint64_t *out, eryx_error *err)
{
    *out = __atomic_load_n(&engine->guest_id, __ATOMIC_ACQUIRE);
    if (*out != 0)
        return ERYX_OK;
    fresh base;
    eryx_status s = fresh_start(engine, &base, err);
    if (s == ERYX_OK) {
        *out = engine_identity(engine, base.mem, base.size);
        fresh_stop(&base);
    }
    return s;
}

/* A pagemap entry of a page never written (not present, or present from
   the file it maps) and not swapped out: it holds what its mapping's file
   (or the zero page) holds there. */
static bool
unwritten(uint64_t ent)
{
    bool present = ent >> 63 & 1, swapped = ent >> 62 & 1, file = ent >> 61 & 1;
    return !swapped && (!present || file);
}

eryx_status
eryx__image_capture(eryx__instance *in,
                    eryx_engine *engine,
                    const eryx__settings *settings,
                    uint64_t execution_count,
                    eryx_image **out,
                    eryx_error *err)
{
    *out = NULL;
    wasmtime_global_t sp;
    eryx_status s = stack_pointer(in, &sp, err);
    if (s != ERYX_OK)
        return s;
    eryx_image *img = image_new();
    if (img == NULL)
        return eryx__fail_nomem(err);
    img->engine = engine;
    img->execution_count = execution_count;
    wasmtime_val_t v;
    wasmtime_global_get(in->ctx, &sp, &v);
    img->stack_pointer = (uint32_t)v.of.i32;

    /* The pages that differ from what a new session starts with. */
    fresh base;
    s = fresh_start(engine, &base, err);
    if (s != ERYX_OK) {
        eryx_image_free(img);
        return s;
    }
    const uint8_t *mem = wasmtime_memory_data(in->ctx, &in->memory);
    size_t size = wasmtime_memory_data_size(in->ctx, &in->memory);
    const uint8_t *ref = base.mem;
    size_t ref_size = base.size;
    static const uint8_t zero[PAGE];
    img->guest = engine_identity(engine, ref, ref_size);
    img->memory_size = size;
    size_t n = size / PAGE, ref_n = ref_size / PAGE;
    uint64_t *mine = n ? eryx__malloc(n * sizeof *mine) : NULL,
             *theirs = ref_n ? eryx__malloc(ref_n * sizeof *theirs) : NULL;
    if ((n && mine == NULL) || (ref_n && theirs == NULL))
        s = eryx__fail_nomem(err);
    bool known = s == ERYX_OK && mine != NULL && theirs != NULL &&
                 in->guest_image && base.in.guest_image &&
                 eryx__instance_pagemap(in, n, mine) &&
                 eryx__instance_pagemap(&base.in, ref_n, theirs);
    const eryx__overlay *ov = in->overlay;
    for (size_t off = 0; s == ERYX_OK && off + PAGE <= size; off += PAGE) {
        size_t i = off / PAGE;
        if (known && unwritten(mine[i]) &&
            (i >= ref_n || unwritten(theirs[i])) &&
            (ov == NULL || off + PAGE <= ov->start ||
             off >= ov->start + ov->len))
            continue; /* both still the guest image's (or zero) page */
        const uint8_t *was = off + PAGE <= ref_size ? ref + off : zero;
        if (memcmp(mem + off, was, PAGE) != 0 &&
            !add_page(img, (uint32_t)(off / PAGE), mem + off)) {
            s = eryx__fail_nomem(err);
            break;
        }
    }
    eryx__free(mine);
    eryx__free(theirs);
    fresh_stop(&base);
    for (int i = 0; i < 2 && s == ERYX_OK; i++)
        s = eryx__storage_fork(eryx__vfs_storage(in->st->vfs, i == 1), NULL,
                               &img->files[i], err);
    img->files[ERYX__IMAGE_PACKAGES] = eryx__storage_ref(settings->packages);
    if (s == ERYX_OK && settings->packages_dir != NULL &&
        (img->packages_dir = eryx__strdup(settings->packages_dir)) == NULL)
        s = eryx__fail_nomem(err);
    if (s != ERYX_OK) {
        eryx_image_free(img);
        return s;
    }
    *out = img;
    return ERYX_OK;
}

wasmtime_instance_pre_t *
eryx__image_pre(const eryx_image *img)
{
    return __atomic_load_n(&img->pre, __ATOMIC_ACQUIRE);
}

uint64_t
eryx__image_execution_count(const eryx_image *img)
{
    return img->execution_count;
}

eryx_status
eryx_image_compile(eryx_engine *engine, eryx_image *img, eryx_error *err)
{
    if (engine == NULL || img == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "engine or image is NULL");
    if (img->engine != engine)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the image belongs to another engine");
    pthread_mutex_lock(&img->compile_mu);
    eryx_status s = ERYX_OK;
    uint8_t *mem = NULL, *module = NULL;
    size_t module_len = 0;
    wasm_byte_vec_t wasm = {0, NULL};
    if (img->pre != NULL)
        goto done;
    /* The image's whole memory: a fresh instance's, and the image's pages
       over it. */
    fresh base;
    s = fresh_start(engine, &base, err);
    if (s == ERYX_OK) {
        mem = eryx__calloc(1, (size_t)img->memory_size);
        if (mem == NULL)
            s = eryx__fail_nomem(err);
        else {
            memcpy(mem, base.mem,
                   base.size < img->memory_size ? base.size
                                                : (size_t)img->memory_size);
            for (size_t i = 0; i < img->npages; i++)
                memcpy(mem + (size_t)img->index[i] * PAGE, img->data + i * PAGE,
                       PAGE);
        }
        fresh_stop(&base);
    }
    if (s == ERYX_OK)
        s = eryx__cache_read_file(engine->paths.runtime_path, &wasm, err);
    if (s == ERYX_OK)
        s = eryx__image_module((const uint8_t *)wasm.data, wasm.size, mem,
                               (size_t)img->memory_size, img->stack_pointer,
                               &module, &module_len, err);
    eryx__free(mem);
    mem = NULL;
    wasmtime_instance_pre_t *pre = NULL;
    if (s == ERYX_OK)
        s = eryx__engine_image_pre(engine, module, module_len, &pre, err);
    if (s == ERYX_OK)
        __atomic_store_n(&img->pre, pre, __ATOMIC_RELEASE);
done:
    wasm_byte_vec_delete(&wasm);
    eryx__free(module);
    eryx__free(mem);
    pthread_mutex_unlock(&img->compile_mu);
    return s;
}

eryx_storage *
eryx__image_files(const eryx_image *img, int which)
{
    return img->files[which];
}

const char *
eryx__image_packages_dir(const eryx_image *img)
{
    return img->packages_dir;
}

/* ------------------------------------------------------------ mapping */

void
eryx__overlay_unref(eryx__overlay *ov)
{
    if (ov == NULL || __atomic_sub_fetch(&ov->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    close(ov->fd);
    eryx__free(ov);
}

/* One line of /proc/self/maps: "lo-hi perms offset dev inode path". */
typedef struct maps_line {
    uintptr_t lo, hi;
    uint64_t offset, inode;
    bool private_;
    char *path; /* in the line; "" when anonymous */
} maps_line;

static bool
parse_maps_line(char *line, maps_line *out)
{
    char *p = line, *end;
    out->lo = (uintptr_t)strtoull(p, &end, 16);
    if (end == p || *end != '-')
        return false;
    p = end + 1;
    out->hi = (uintptr_t)strtoull(p, &end, 16);
    if (end == p || *end != ' ' || strlen(end + 1) < 5)
        return false;
    out->private_ = end[4] == 'p'; /* "rw-p" */
    p = end + 6;
    out->offset = strtoull(p, &end, 16);
    if (end == p || *end != ' ')
        return false;
    p = strchr(end + 1, ' '); /* past the device */
    if (p == NULL)
        return false;
    out->inode = strtoull(p + 1, &end, 10);
    if (end == p + 1)
        return false;
    while (*end == ' ')
        end++;
    end[strcspn(end, "\n")] = '\0';
    out->path = end;
    return true;
}

/* Find, in /proc/self/maps, the file and offset Wasmtime maps the guest's
   memory image from: the first mapping inside the memory [mem, mem +
   size) (the image starts at the guest's first non-zero page, after its
   stack; below and above it the memory is anonymous), a regular file (the
   precompiled guest) mapped private.  A memfd (a guest compiled in this
   process) does not do: it cannot be opened again. */
static bool
find_source(const uint8_t *mem,
            size_t size,
            int *fd,
            uint64_t *start,
            uint64_t *off,
            uint64_t *len)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return false;
    char line[4096 + 256];
    bool found = false;
    uintptr_t at = (uintptr_t)mem, end = at + size;
    maps_line m;
    while (fgets(line, sizeof line, f) != NULL) {
        if (!parse_maps_line(line, &m) || m.hi <= at || m.lo >= end ||
            m.inode == 0)
            continue; /* outside, or anonymous */
        struct stat st;
        if (m.lo >= at && m.path[0] == '/' && m.private_ &&
            (*fd = open(m.path, O_RDONLY | O_CLOEXEC)) >= 0) {
            if (fstat(*fd, &st) == 0 && S_ISREG(st.st_mode) &&
                st.st_ino == m.inode && (uint64_t)st.st_size >= m.offset) {
                *start = m.lo - at;
                *off = m.offset;
                *len = (m.hi < end ? m.hi : end) - m.lo;
                found = true;
            } else {
                close(*fd);
            }
        }
        break;
    }
    fclose(f);
    return found;
}

/* The engine's image source, probed once from `mem`, a fresh instance's. */
static bool
engine_source(eryx_engine *eng, const uint8_t *mem, size_t size)
{
    pthread_mutex_lock(&eng->image_src_mu);
    int state = eng->image_src_state;
    pthread_mutex_unlock(&eng->image_src_mu);
    if (state != 0)
        return state == 1;
    /* Probed outside the lock (it reads a file); the first to finish
       publishes, the others keep what they found to themselves. */
    int fd = -1;
    uint64_t start = 0, off = 0, len = 0;
    bool found = find_source(mem, size, &fd, &start, &off, &len);
    pthread_mutex_lock(&eng->image_src_mu);
    if (eng->image_src_state == 0) {
        eng->image_src_state = found ? 1 : -1;
        if (found) {
            eng->image_src_fd = fd;
            eng->image_src_start = start;
            eng->image_src_off = off;
            eng->image_src_len = len;
            fd = -1;
        }
    }
    bool ok = eng->image_src_state == 1;
    pthread_mutex_unlock(&eng->image_src_mu);
    if (fd >= 0)
        close(fd);
    return ok;
}

static bool
all_zero(const uint8_t *p)
{
    for (size_t i = 0; i < PAGE; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* The image's memfd (NULL: not possible here, or *nomem). */
static eryx__overlay *
overlay_build(const eryx_image *img, const eryx_engine *eng, bool *nomem)
{
    if (img->npages == 0)
        return NULL;
    eryx__overlay *ov = eryx__calloc(1, sizeof *ov);
    if (ov == NULL) {
        *nomem = true;
        return NULL;
    }
    ov->refs = 1;
    ov->src_fd = eng->image_src_fd;
    ov->src_start = eng->image_src_start;
    ov->src_off = eng->image_src_off;
    ov->src_len = eng->image_src_len;
    ov->start = (uint64_t)img->index[0] * PAGE;
    ov->len = (uint64_t)img->index[img->npages - 1] * PAGE + PAGE - ov->start;
    ov->fd = memfd_create("eryx-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    uint8_t *out = MAP_FAILED;
    if (ov->fd < 0 || ftruncate(ov->fd, (off_t)ov->len) != 0 ||
        (out = mmap(NULL, ov->len, PROT_READ | PROT_WRITE, MAP_SHARED, ov->fd,
                    0)) == MAP_FAILED)
        goto fail;
    uint8_t page[PAGE];
    size_t next = 0; /* the next stored page */
    bool ok = true;
    for (uint64_t a = ov->start; a < ov->start + ov->len && ok; a += PAGE) {
        const uint8_t *from = page;
        if (next < img->npages && (uint64_t)img->index[next] * PAGE == a)
            from = img->data + next++ * PAGE;
        else if (a < ov->src_start || a - ov->src_start >= ov->src_len)
            continue; /* anonymous in the guest: zero */
        else
            ok = pread(ov->src_fd, page, PAGE,
                       (off_t)(ov->src_off + (a - ov->src_start))) ==
                 (ssize_t)PAGE;
        if (ok && !all_zero(from))
            memcpy(out + (a - ov->start), from, PAGE);
    }
    munmap(out, ov->len);
    if (!ok ||
        fcntl(ov->fd, F_ADD_SEALS,
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        goto fail;
    return ov;
fail:
    if (ov->fd >= 0)
        close(ov->fd);
    eryx__free(ov);
    return NULL;
}

/* Map the guest's own image (anonymous memory outside it) back over the
   range of `ov` at `mem`. */
static bool
restore(const eryx__overlay *ov, uint8_t *mem)
{
    bool ok = true;
    uint64_t fs = ov->src_start, fe = ov->src_start + ov->src_len;
    uint64_t a = ov->start, e = ov->start + ov->len;
    while (a < e) { /* anonymous below the file, the file, above it */
        uint64_t m = a < fs   ? (e < fs ? e : fs)
                     : a < fe ? (e < fe ? e : fe)
                              : e;
        bool file = a >= fs && a < fe;
        if (mmap(mem + a, m - a, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_FIXED | (file ? 0 : MAP_ANONYMOUS),
                 file ? ov->src_fd : -1,
                 file ? (off_t)(ov->src_off + (a - fs)) : 0) == MAP_FAILED)
            ok = false;
        a = m;
    }
    return ok;
}

bool
eryx__image_unmap(eryx__instance *in)
{
    eryx__overlay *ov = in->overlay;
    if (ov == NULL)
        return true;
    in->overlay = NULL;
    bool ok = restore(ov, wasmtime_memory_data(in->ctx, &in->memory));
    eryx__overlay_unref(ov);
    return ok;
}

/* Map `img`'s pages over `in`'s memory (grown to the image's size).
   ERYX_OK with *mapped false when it cannot be done here (the caller
   copies instead); ERYX_E_NOMEM when memory ran out making the memfd. */
static eryx_status
map_image(eryx__instance *in, const eryx_image *img, bool *mapped)
{
    struct image_map *m = img->map;
    uint8_t *mem = wasmtime_memory_data(in->ctx, &in->memory);
    size_t size = wasmtime_memory_data_size(in->ctx, &in->memory);
    *mapped = false;
    eryx__overlay *ov = __atomic_load_n(&m->overlay, __ATOMIC_ACQUIRE);
    if (ov == NULL) {
        /* Made outside the lock (it reads files); the first to finish
           publishes it, the others drop theirs. */
        pthread_mutex_lock(&m->mu);
        bool failed = m->failed;
        pthread_mutex_unlock(&m->mu);
        if (failed)
            return ERYX_OK;
        bool nomem = false, usable = engine_source(img->engine, mem, size);
        eryx__overlay *made =
            usable ? overlay_build(img, img->engine, &nomem) : NULL;
        pthread_mutex_lock(&m->mu);
        if (m->overlay == NULL && made != NULL) {
            __atomic_store_n(&m->overlay, made, __ATOMIC_RELEASE);
            made = NULL;
        }
        if (m->overlay == NULL && !nomem)
            m->failed = true; /* for good: not this system's way */
        ov = m->overlay;
        pthread_mutex_unlock(&m->mu);
        eryx__overlay_unref(made);
        if (nomem)
            return ERYX_E_NOMEM;
        if (ov == NULL)
            return ERYX_OK;
    }
    if (ov->start + ov->len > size)
        return ERYX_OK;
    if (mmap(mem + ov->start, ov->len, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_FIXED, ov->fd, 0) == MAP_FAILED) {
        /* MAP_FIXED failing may have unmapped the range: put the guest's
           own mapping back, or give the instance up. */
        if (!restore(ov, mem)) {
            __atomic_add_fetch(&ov->refs, 1, __ATOMIC_RELAXED);
            in->overlay = ov; /* eryx__instance_stop gives the slot up */
            return ERYX_E_ENGINE;
        }
        return ERYX_OK;
    }
    __atomic_add_fetch(&ov->refs, 1, __ATOMIC_RELAXED);
    in->overlay = ov;
    *mapped = true;
    /* The new mapping is not registered as the one it replaced was. */
    (void)eryx__engine_exact_faults(in->engine, mem + ov->start, ov->len);
    return ERYX_OK;
}

eryx_status
eryx__image_apply(eryx__instance *in,
                  const eryx_image *img,
                  bool map,
                  uint64_t *execution_count,
                  eryx_error *err)
{
    wasmtime_global_t sp;
    eryx_status s = stack_pointer(in, &sp, err);
    if (s != ERYX_OK)
        return s;
    size_t size = wasmtime_memory_data_size(in->ctx, &in->memory);
    if (img->memory_size < size || img->memory_size % WASM_PAGE != 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the image does not fit this engine's guest");
    if (img->memory_size > size) {
        uint64_t prev;
        wasmtime_error_t *e = wasmtime_memory_grow(
            in->ctx, &in->memory, (img->memory_size - size) / WASM_PAGE, &prev);
        if (e != NULL) {
            wasmtime_error_delete(e);
            return eryx__fail(err, ERYX_E_MEMORY_LIMIT,
                              "the image's %llu bytes of memory exceed the "
                              "session's memory limit",
                              (unsigned long long)img->memory_size);
        }
    }
    bool mapped = false;
    if (map && (s = map_image(in, img, &mapped)) != ERYX_OK)
        return s == ERYX_E_NOMEM
                   ? eryx__fail_nomem(err)
                   : eryx__fail(err, s, "cannot map the image's memory");
    if (!mapped) {
        uint8_t *mem = wasmtime_memory_data(in->ctx, &in->memory);
        for (size_t i = 0; i < img->npages; i++)
            memcpy(mem + (size_t)img->index[i] * PAGE, img->data + i * PAGE,
                   PAGE);
    }
    wasmtime_val_t v;
    v.kind = WASMTIME_I32;
    v.of.i32 = (int32_t)img->stack_pointer;
    wasmtime_error_t *e = wasmtime_global_set(in->ctx, &sp, &v);
    if (e != NULL)
        return eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL,
                               "cannot set the stack pointer");
    *execution_count = img->execution_count;
    return ERYX_OK;
}

const eryx_engine *
eryx__image_engine(const eryx_image *img)
{
    return img->engine;
}

/* ------------------------------------------------------------ bytes */

/* The files after an image's memory block: "ERYXFIL1", for each storage a
   u64 length and its bytes (0: none), a u32 length and the site-packages
   path.  Nothing at all: an image without files. */
static eryx_status
parse_files(const uint8_t *p,
            size_t left,
            eryx_storage **files,
            char **packages_dir,
            eryx_error *err)
{
    if (left == 0)
        return ERYX_OK;
    const char *why = NULL;
    eryx_status s = ERYX_OK;
    if (left < 8 || memcmp(p, ERYX__IMAGE_FILES_MAGIC, 8) != 0) {
        why = "bytes after the memory are not its files";
        goto fail;
    }
    p += 8, left -= 8;
    for (int i = 0; i < ERYX__IMAGE_FILES; i++) {
        if (left < 8 || eryx__le_get(p, 8) > left - 8) {
            why = "the files are truncated";
            goto fail;
        }
        size_t n = (size_t)eryx__le_get(p, 8);
        p += 8, left -= 8;
        if (n == 0)
            continue;
        /* Files as big as the bytes say: the quota is no limit here. */
        eryx_storage *st = eryx__storage_new(NULL, UINT64_MAX);
        if (st == NULL) {
            s = eryx__fail_nomem(err);
            goto fail;
        }
        files[i] = st;
        if ((s = eryx_storage_restore(st, p, n, err)) != ERYX_OK)
            goto fail;
        if (i == ERYX__IMAGE_PACKAGES)
            eryx__storage_set_read_only(st, true);
        p += n, left -= n;
    }
    if (left < 4 || eryx__le_get(p, 4) != left - 4 ||
        memchr(p + 4, '\0', left - 4) != NULL) {
        why = "the site-packages path is malformed";
        goto fail;
    }
    if (left > 4 && (*packages_dir = eryx__memdup(p + 4, left - 4)) == NULL)
        s = eryx__fail_nomem(err);
    if (s == ERYX_OK)
        return ERYX_OK;
fail:
    for (int i = 0; i < ERYX__IMAGE_FILES; i++) {
        eryx__storage_unref(files[i]);
        files[i] = NULL;
    }
    if (why != NULL)
        return eryx__fail(err, ERYX_E_INVALID_INPUT, "not a valid image: %s",
                          why);
    return s;
}

eryx_status
eryx_image_serialize(const eryx_image *img,
                     uint8_t **out,
                     size_t *len,
                     eryx_error *err)
{
    if (img == NULL || out == NULL || len == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "image, out or len is NULL");
    *out = NULL;
    *len = 0;
    /* The files follow the memory: each storage's bytes (self-checking),
       then the site-packages path. */
    uint8_t *blob[ERYX__IMAGE_FILES] = {NULL};
    size_t blen[ERYX__IMAGE_FILES] = {0};
    eryx_status s = ERYX_OK;
    for (int i = 0; i < ERYX__IMAGE_FILES && s == ERYX_OK; i++)
        if (img->files[i] != NULL)
            s = eryx__storage_serialize(img->files[i], &blob[i], &blen[i], err);
    size_t plen = img->packages_dir ? strlen(img->packages_dir) : 0;
    size_t n = eryx__image_format_size(img->npages), total = n + 8 + 4 + plen;
    for (int i = 0; i < ERYX__IMAGE_FILES; i++)
        total += 8 + blen[i];
    uint8_t *buf = s == ERYX_OK && n ? eryx__malloc(total) : NULL;
    if (buf == NULL) {
        for (int i = 0; i < ERYX__IMAGE_FILES; i++)
            eryx__free(blob[i]);
        return s != ERYX_OK ? s : eryx__fail_nomem(err);
    }
    uint8_t *t = buf + n;
    memcpy(t, ERYX__IMAGE_FILES_MAGIC, 8);
    t += 8;
    for (int i = 0; i < ERYX__IMAGE_FILES; i++) {
        eryx__le_put(t, blen[i], 8);
        if (blen[i])
            memcpy(t + 8, blob[i], blen[i]);
        t += 8 + blen[i];
        eryx__free(blob[i]);
    }
    eryx__le_put(t, plen, 4);
    if (plen)
        memcpy(t + 4, img->packages_dir, plen);
    eryx__image_view v = {.guest = img->guest,
                          .memory_size = img->memory_size,
                          .execution_count = img->execution_count,
                          .npages = img->npages,
                          .stack_pointer = img->stack_pointer};
    for (size_t i = 0; i < img->npages; i++)
        eryx__le_put(buf + ERYX__IMAGE_HEADER + 4 * i, img->index[i], 4);
    if (img->npages)
        memcpy(buf + ERYX__IMAGE_HEADER + 4 * img->npages, img->data,
               img->npages * PAGE);
    eryx__image_format_seal(buf, &v);
    *out = buf;
    *len = total;
    return ERYX_OK;
}

eryx_status
eryx_image_deserialize(eryx_engine *engine,
                       const uint8_t *data,
                       size_t len,
                       eryx_image **out,
                       eryx_error *err)
{
    if (engine == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "engine or out is NULL");
    *out = NULL;
    eryx__image_view v;
    size_t block = eryx__image_format_block(data, len);
    eryx_status s = eryx__image_format_parse(data, block, &v, err);
    if (s != ERYX_OK)
        return s;
    eryx_storage *files[ERYX__IMAGE_FILES] = {NULL};
    char *packages_dir = NULL;
    s = parse_files(data + block, len - block, files, &packages_dir, err);
    if (s != ERYX_OK)
        return s;
    uint64_t id;
    s = engine_identity_fresh(engine, &id, err);
    if (s != ERYX_OK)
        return s;
    if (v.guest != id)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "the image was made by another guest (another "
                          "runtime.wasm)");
    eryx_image *img = image_new();
    if (img == NULL) {
        for (int i = 0; i < ERYX__IMAGE_FILES; i++)
            eryx__storage_unref(files[i]);
        eryx__free(packages_dir);
        return eryx__fail_nomem(err);
    }
    memcpy(img->files, files, sizeof files);
    img->packages_dir = packages_dir;
    img->engine = engine;
    img->guest = v.guest;
    img->memory_size = v.memory_size;
    img->stack_pointer = v.stack_pointer;
    img->execution_count = v.execution_count;
    img->npages = img->cap = (size_t)v.npages;
    if (v.npages) {
        img->index = eryx__malloc((size_t)v.npages * sizeof *img->index);
        img->data = eryx__malloc((size_t)v.npages * PAGE);
        if (img->index == NULL || img->data == NULL) {
            eryx_image_free(img);
            return eryx__fail_nomem(err);
        }
        for (size_t i = 0; i < img->npages; i++)
            img->index[i] = (uint32_t)eryx__le_get(v.index + 4 * i, 4);
        memcpy(img->data, v.pages, img->npages * PAGE);
    }
    *out = img;
    return ERYX_OK;
}

void
eryx_free(void *ptr)
{
    eryx__free(ptr);
}
