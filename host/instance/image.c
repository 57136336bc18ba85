/*
** image.c: whole-interpreter images (eryx_image): a session's linear
** memory, kept as the 4 KiB pages that differ from the engine's
** pre-initialized image, plus the C stack pointer, the one mutable global
** of the guest.  Between executes nothing else of the interpreter lives
** outside memory (docs/design.md, "Whole-interpreter images").
*/
#include <pthread.h>
#include <string.h>

#include "core/wasm_error.h"
#include "instance/image_format.h"
#include "instance/instance.h"

#define PAGE      4096u
#define WASM_PAGE 65536u

struct eryx_image {
    const eryx_engine *engine;
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
};

/* A new image (NULL when memory runs out). */
static eryx_image *
image_new(void)
{
    eryx_image *img = eryx__calloc(1, sizeof *img);
    if (img != NULL)
        pthread_mutex_init(&img->compile_mu, NULL);
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
    s = eryx__instance_start(&f->in, engine, &f->settings, NULL, NULL, err);
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
    for (size_t off = 0; off + PAGE <= size; off += PAGE) {
        const uint8_t *was = off + PAGE <= ref_size ? ref + off : zero;
        if (memcmp(mem + off, was, PAGE) != 0 &&
            !add_page(img, (uint32_t)(off / PAGE), mem + off)) {
            s = eryx__fail_nomem(err);
            break;
        }
    }
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

eryx_status
eryx__image_apply(eryx__instance *in,
                  const eryx_image *img,
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
    uint8_t *mem = wasmtime_memory_data(in->ctx, &in->memory);
    for (size_t i = 0; i < img->npages; i++)
        memcpy(mem + (size_t)img->index[i] * PAGE, img->data + i * PAGE, PAGE);
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
