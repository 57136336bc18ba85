/*
** image.c: whole-interpreter images (eryx_image): a session's linear
** memory, kept as the 4 KiB pages that differ from the engine's
** pre-initialized image, plus the C stack pointer, the one mutable global
** of the guest.  Between executes nothing else of the interpreter lives
** outside memory (docs/design.md, "Whole-interpreter images").
*/
#include <string.h>

#include "core/wasm_error.h"
#include "instance/instance.h"

#define PAGE      4096u
#define WASM_PAGE 65536u

struct eryx_image {
    const eryx_engine *engine;
    uint64_t memory_size; /* bytes */
    uint32_t stack_pointer;
    uint64_t execution_count;
    size_t npages, cap;
    uint32_t *index; /* page numbers, ascending */
    uint8_t *data;   /* npages * PAGE bytes */
};

void
eryx_image_free(eryx_image *img)
{
    if (img == NULL)
        return;
    eryx__free(img->index);
    eryx__free(img->data);
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
    eryx_image *img = eryx__calloc(1, sizeof *img);
    if (img == NULL)
        return eryx__fail_nomem(err);
    img->engine = engine;
    img->execution_count = execution_count;
    wasmtime_val_t v;
    wasmtime_global_get(in->ctx, &sp, &v);
    img->stack_pointer = (uint32_t)v.of.i32;

    /* What a new session starts with: a fresh instance, mapped from the
       pre-initialized image (copy-on-write: reading it copies nothing). */
    eryx__instance base;
    s = eryx__instance_start(&base, engine, settings, NULL, err);
    if (s != ERYX_OK) {
        eryx_image_free(img);
        return s;
    }
    const uint8_t *mem = wasmtime_memory_data(in->ctx, &in->memory);
    size_t size = wasmtime_memory_data_size(in->ctx, &in->memory);
    const uint8_t *ref = wasmtime_memory_data(base.ctx, &base.memory);
    size_t ref_size = wasmtime_memory_data_size(base.ctx, &base.memory);
    static const uint8_t zero[PAGE];
    img->memory_size = size;
    for (size_t off = 0; off + PAGE <= size; off += PAGE) {
        const uint8_t *was = off + PAGE <= ref_size ? ref + off : zero;
        if (memcmp(mem + off, was, PAGE) != 0 &&
            !add_page(img, (uint32_t)(off / PAGE), mem + off)) {
            s = eryx__fail_nomem(err);
            break;
        }
    }
    eryx__instance_stop(&base);
    if (s != ERYX_OK) {
        eryx_image_free(img);
        return s;
    }
    *out = img;
    return ERYX_OK;
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
