/*
** image_module.c: an image as a module of its own (eryx__image_module_*):
** the engine's guest with its memory section, stack pointer and data
** section rewritten so that instantiating it starts exactly where the
** image is, as Wizer makes the pre-initialized guest.  Wasmtime then maps
** the image's memory copy-on-write instead of copying it into every new
** interpreter.  Pure bytes: no Wasmtime.
*/
#include <string.h>

#include "eryx_abi.h"
#include "instance/image_format.h"

#define WASM_PAGE     65536u
#define SEC_IMPORT    2
#define SEC_MEMORY    5
#define SEC_GLOBAL    6
#define SEC_EXPORT    7
#define SEC_DATA      11
#define SEC_DATACOUNT 12

typedef struct reader {
    const uint8_t *p, *end;
    bool bad;
} reader;

static uint64_t
rd_leb(reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static void
skip(reader *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) {
        r->bad = true;
        r->p = r->end;
    } else
        r->p += n;
}

typedef struct writer {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} writer;

static void
put(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 1 << 20;
        while (cap - w->len < n)
            cap *= 2;
        uint8_t *d = eryx__realloc(w->data, cap);
        if (d == NULL) {
            w->failed = true;
            return;
        }
        w->data = d;
        w->cap = cap;
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void
put_byte(writer *w, uint8_t b)
{
    put(w, &b, 1);
}

static void
put_uleb(writer *w, uint64_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        put_byte(w, (uint8_t)(b | (v ? 0x80 : 0)));
    } while (v);
}

static void
put_sleb(writer *w, int64_t v)
{
    for (;;) {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7; /* arithmetic */
        bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
        put_byte(w, (uint8_t)(b | (done ? 0 : 0x80)));
        if (done)
            return;
    }
}

/* A section: id, then its payload from `body` (length-prefixed). */
static void
put_section(writer *w, uint8_t id, const writer *body)
{
    put_byte(w, id);
    put_uleb(w, body->len);
    put(w, body->data, body->len);
}

static bool
page_zero(const uint8_t *p)
{
    static const uint8_t zero[ERYX__IMAGE_PAGE];
    return memcmp(p, zero, ERYX__IMAGE_PAGE) == 0;
}

/* The index of the global exported as __stack_pointer, counting imported
   globals, or -1. */
static int64_t
find_sp(const uint8_t *p, size_t n)
{
    reader r = {p, p + n, false};
    uint64_t count = rd_leb(&r);
    for (uint64_t i = 0; i < count && !r.bad; i++) {
        uint64_t len = rd_leb(&r);
        const uint8_t *name = r.p;
        skip(&r, len);
        if (r.bad)
            return -1;
        uint8_t kind = r.p < r.end ? *r.p++ : 0xff;
        uint64_t idx = rd_leb(&r);
        if (kind == 3 && len == strlen(ERYX_ABI_EXPORT_STACK_POINTER) &&
            memcmp(name, ERYX_ABI_EXPORT_STACK_POINTER, len) == 0)
            return (int64_t)idx;
    }
    return -1;
}

/* Imported globals (they come before the module's own in the index). */
static uint64_t
imported_globals(const uint8_t *p, size_t n, bool *bad)
{
    reader r = {p, p + n, false};
    uint64_t count = rd_leb(&r), globals = 0;
    for (uint64_t i = 0; i < count && !r.bad; i++) {
        skip(&r, rd_leb(&r)); /* module */
        skip(&r, rd_leb(&r)); /* name */
        uint8_t kind = r.p < r.end ? *r.p++ : 0xff;
        switch (kind) {
        case 0:
            rd_leb(&r);
            break; /* function: type index */
        case 1:    /* table: reftype, limits */
            skip(&r, 1);
            /* fallthrough */
        case 2: { /* memory: limits */
            uint8_t f = r.p < r.end ? *r.p++ : 0;
            rd_leb(&r);
            if (f & 1)
                rd_leb(&r);
            break;
        }
        case 3:
            skip(&r, 2);
            globals++;
            break; /* global: type, mut */
        default:
            r.bad = true;
        }
    }
    *bad = r.bad;
    return globals;
}

/* The global section with global `idx` initialized to i32 `sp`. */
static bool
rewrite_globals(
    const uint8_t *p, size_t n, uint64_t idx, uint32_t sp, writer *out)
{
    reader r = {p, p + n, false};
    uint64_t count = rd_leb(&r);
    put_uleb(out, count);
    bool done = false;
    for (uint64_t i = 0; i < count && !r.bad; i++) {
        const uint8_t *start = r.p;
        skip(&r, 2); /* valtype, mutability */
        /* The init expression ends with 0x0b; constant expressions hold
           no nested blocks, but their immediates may contain 0x0b. */
        const uint8_t *expr = r.p;
        uint8_t op = r.p < r.end ? *r.p++ : 0;
        /* i32/i64.const, global.get, ref.func: one LEB immediate */
        if (op == 0x41 || op == 0x42 || op == 0x23 || op == 0xd2)
            rd_leb(&r);
        else if (op == 0x43 || op == 0x44) /* f32/f64.const */
            skip(&r, op == 0x43 ? 4 : 8);
        else if (op == 0xd0) /* ref.null */
            skip(&r, 1);
        else
            return false;
        if (r.p >= r.end || *r.p != 0x0b)
            return false;
        r.p++;
        if (i == idx) {
            if (start[0] != 0x7f || op != 0x41)
                return false; /* not an i32 const */
            put(out, start, 2);
            put_byte(out, 0x41);
            put_sleb(out, (int32_t)sp);
            put_byte(out, 0x0b);
            done = true;
        } else {
            (void)expr;
            put(out, start, (size_t)(r.p - start));
        }
    }
    return !r.bad && done;
}

/* The memory section with the first memory's minimum raised to `pages`. */
static bool
rewrite_memory(const uint8_t *p, size_t n, uint64_t pages, writer *out)
{
    reader r = {p, p + n, false};
    uint64_t count = rd_leb(&r);
    if (count < 1 || r.p >= r.end)
        return false;
    uint8_t flags = *r.p++;
    uint64_t min = rd_leb(&r), max = (flags & 1) ? rd_leb(&r) : 0;
    if (r.bad || (flags & ~1u) != 0)
        return false; /* shared or 64-bit memories: not ours */
    if (pages < min)
        pages = min;
    if ((flags & 1) && max < pages)
        return false;
    put_uleb(out, count);
    put_byte(out, flags);
    put_uleb(out, pages);
    if (flags & 1)
        put_uleb(out, max);
    put(out, r.p, (size_t)(r.end - r.p)); /* further memories as they are */
    return true;
}

/* The data section: the passive segments as they were (nothing refers to
   them by index without a data count section), then the memory as active
   segments, one per run of non-zero pages. */
static bool
rewrite_data(
    const uint8_t *p, size_t n, const uint8_t *mem, size_t size, writer *out)
{
    reader r = {p, p + n, false};
    uint64_t count = rd_leb(&r);
    writer passive = {0};
    uint64_t npassive = 0;
    for (uint64_t i = 0; i < count && !r.bad; i++) {
        const uint8_t *start = r.p;
        uint64_t flags = rd_leb(&r);
        if (flags == 1) {
            skip(&r, rd_leb(&r));
            put(&passive, start, (size_t)(r.p - start));
            npassive++;
            continue;
        }
        if (flags == 2)
            rd_leb(&r); /* memory index */
        else if (flags != 0) {
            r.bad = true;
            break;
        }
        /* offset expression: i32.const N end (what Wizer writes) */
        if (r.p >= r.end || *r.p != 0x41) {
            r.bad = true;
            break;
        }
        r.p++;
        rd_leb(&r);
        if (r.p >= r.end || *r.p != 0x0b) {
            r.bad = true;
            break;
        }
        r.p++;
        skip(&r, rd_leb(&r));
    }
    uint64_t nactive = 0;
    writer active = {0};
    for (size_t off = 0; off < size && !r.bad;) {
        if (page_zero(mem + off)) {
            off += ERYX__IMAGE_PAGE;
            continue;
        }
        size_t end = off + ERYX__IMAGE_PAGE;
        while (end < size && !page_zero(mem + end))
            end += ERYX__IMAGE_PAGE;
        put_byte(&active, 0);
        put_byte(&active, 0x41);
        put_sleb(&active, (int32_t)(uint32_t)off);
        put_byte(&active, 0x0b);
        put_uleb(&active, end - off);
        put(&active, mem + off, end - off);
        nactive++;
        off = end;
    }
    bool ok = !r.bad && !passive.failed && !active.failed;
    if (ok) {
        put_uleb(out, npassive + nactive);
        put(out, passive.data, passive.len);
        put(out, active.data, active.len);
    }
    eryx__free(passive.data);
    eryx__free(active.data);
    return ok;
}

eryx_status
eryx__image_module(const uint8_t *wasm,
                   size_t len,
                   const uint8_t *mem,
                   size_t size,
                   uint32_t sp,
                   uint8_t **out,
                   size_t *out_len,
                   eryx_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (len < 8 || memcmp(wasm, "\0asm\1\0\0\0", 8) != 0 ||
        size % WASM_PAGE != 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the guest is not a wasm module");
    /* First pass: where the sections are, and which global is the stack
       pointer. */
    const uint8_t *sec[13] = {NULL};
    size_t sec_len[13] = {0};
    reader r = {wasm + 8, wasm + len, false};
    while (r.p < r.end && !r.bad) {
        uint8_t id = *r.p++;
        uint64_t n = rd_leb(&r);
        if (r.bad || (uint64_t)(r.end - r.p) < n)
            break;
        if (id != 0 && id < 13) {
            sec[id] = r.p;
            sec_len[id] = (size_t)n;
        }
        r.p += n;
    }
    bool bad = r.bad || r.p != r.end || !sec[SEC_MEMORY] || !sec[SEC_GLOBAL] ||
               !sec[SEC_EXPORT] || !sec[SEC_DATA] || sec[SEC_DATACOUNT];
    int64_t sp_index = bad ? -1 : find_sp(sec[SEC_EXPORT], sec_len[SEC_EXPORT]);
    uint64_t imported =
        sec[SEC_IMPORT] && sp_index >= 0
            ? imported_globals(sec[SEC_IMPORT], sec_len[SEC_IMPORT], &bad)
            : 0;
    if (bad || sp_index < (int64_t)imported)
        return eryx__fail(err, ERYX_E_ENGINE,
                          "the guest's layout is not one eryx can rewrite");

    /* Second pass: copy, rewriting three sections. */
    writer w = {0}, body = {0};
    put(&w, wasm, 8);
    r = (reader){wasm + 8, wasm + len, false};
    bool ok = true;
    while (ok && r.p < r.end) {
        const uint8_t *start = r.p;
        uint8_t id = *r.p++;
        uint64_t n = rd_leb(&r);
        const uint8_t *payload = r.p;
        r.p += n;
        body.len = 0;
        switch (id) {
        case SEC_MEMORY:
            ok = rewrite_memory(payload, (size_t)n, size / WASM_PAGE, &body);
            break;
        case SEC_GLOBAL:
            ok = rewrite_globals(payload, (size_t)n,
                                 (uint64_t)sp_index - imported, sp, &body);
            break;
        case SEC_DATA:
            ok = rewrite_data(payload, (size_t)n, mem, size, &body);
            break;
        default:
            put(&w, start, (size_t)(r.p - start));
            continue;
        }
        ok = ok && !body.failed;
        if (ok)
            put_section(&w, id, &body);
    }
    eryx__free(body.data);
    if (!ok || w.failed) {
        eryx__free(w.data);
        return ok ? eryx__fail_nomem(err)
                  : eryx__fail(err, ERYX_E_ENGINE,
                               "the guest's layout is not one eryx can "
                               "rewrite");
    }
    *out = w.data;
    *out_len = w.len;
    return ERYX_OK;
}
