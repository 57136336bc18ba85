/*
** cache.c: compiled guest code on disk (eryx__cache_*).  Compiled code
** comes, in this order, from:
**   1. the precompiled file next to the guest (runtime.cwasm, or
**      runtime.fuel.cwasm for the fuel variant), made by the build or by
**      `eryx precompile`;
**   2. the compiled-code cache ($ERYX_CACHE/compiled);
**   3. compiling runtime.wasm, whose result then goes into the cache.
** Every compiled file carries an eryx trailer (below): a checksum of the
** whole file and the identity of the runtime.wasm it was made from.  A file
** that fails the checks (corrupt, stale, or made by another Wasmtime or
** configuration, which Wasmtime itself refuses) is passed over, and why is
** told by eryx_engine_info.  Good files are mapped, not read: Wasmtime's
** deserialize-from-file maps the code and the guest's memory image, so
** every instance of every process shares them copy-on-write.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/wasm_error.h"
#include "engine/engine.h"

/* mkdir -p; failures show up later when the file cannot be written. */
static void
make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            (void)mkdir(buf, 0755);
            buf[i] = saved;
        }
    }
}

/* ---- the trailer after Wasmtime's serialized module ---- */
#define TRAILER_MAGIC "eryxcw01"
#define TRAILER_SIZE  32u
typedef struct trailer {
    char magic[8];
    uint64_t payload_len; /* bytes before the trailer */
    uint64_t sum;         /* eryx__checksum(payload) */
    uint64_t source;      /* source_identity() of the runtime.wasm */
} trailer;

/* Why a compiled file was passed over, for eryx_engine_info. */
#define WHY_CAP 2048

static void
note(char *why, const char *path, const char *text, const char *detail)
{
    size_t used = strlen(why);
    if (used + 8 < WHY_CAP)
        snprintf(why + used, WHY_CAP - used, "%s%s: %s%s", used ? "; " : "",
                 path, text, detail ? detail : "");
}

/* Write `a` then `b` to `path` atomically (a temporary file, then a
   rename): a reader sees the old file or the whole new one.  On failure,
   false with errno set. */
static bool
write_atomically(
    const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f != NULL && fwrite(a, 1, alen, f) == alen &&
              fwrite(b, 1, blen, f) == blen;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        int saved = errno;
        (void)unlink(tmp);
        errno = saved;
    }
    return ok;
}

/* ---- verified stamps ----
   Checksumming 30 MB costs ~5 ms, most of a cold start.  Once a file has
   been verified, a stamp in the cache directory records its identity:
   device, inode, size, and mtime and ctime to the nanosecond.  Any write
   to the file changes its ctime, which no unprivileged process can set
   back, so a matching stamp means the bytes are the ones verified. */
typedef struct stamp {
    uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns, sum;
} stamp;

static void
stamp_of(const struct stat *st, uint64_t sum, stamp *out)
{
    memset(out, 0, sizeof *out);
    out->dev = (uint64_t)st->st_dev;
    out->ino = (uint64_t)st->st_ino;
    out->size = (uint64_t)st->st_size;
    out->mtime_s = (uint64_t)st->st_mtim.tv_sec;
    out->mtime_ns = (uint64_t)st->st_mtim.tv_nsec;
    out->ctime_s = (uint64_t)st->st_ctim.tv_sec;
    out->ctime_ns = (uint64_t)st->st_ctim.tv_nsec;
    out->sum = sum;
}

/* The stamp file (`kind` "verified-" or "source-") for the file at `path`,
   in `out` (PATH_MAX); false when there is no cache. */
static bool
stamp_path(const char *cache_dir, const char *kind, const char *path, char *out)
{
    if (cache_dir == NULL)
        return false;
    int n = snprintf(out, PATH_MAX, "%s/%s%016llx", cache_dir, kind,
                     (unsigned long long)eryx__fnv1a(0xcbf29ce484222325ull,
                                                     path, strlen(path)));
    return n > 0 && n < PATH_MAX;
}

/* The stamp at `spath` (may be NULL) if it exists and describes the file
   `want` describes (its sum left out of the comparison); its sum in *sum. */
static bool
stamp_read(const char *spath, const stamp *want, uint64_t *sum)
{
    stamp have;
    FILE *f = spath ? fopen(spath, "rb") : NULL;
    if (f == NULL)
        return false;
    bool ok = fread(&have, sizeof have, 1, f) == 1;
    fclose(f);
    if (!ok)
        return false;
    uint64_t s = have.sum;
    have.sum = want->sum;
    if (memcmp(&have, want, sizeof have) != 0)
        return false;
    *sum = s;
    return true;
}

static bool
stamp_matches(const char *spath, const stamp *want)
{
    uint64_t sum;
    return stamp_read(spath, want, &sum) && sum == want->sum;
}

static void
stamp_write(const char *cache_dir, const char *spath, const stamp *st)
{
    if (spath == NULL)
        return;
    make_dirs(cache_dir);
    (void)write_atomically(spath, st, sizeof *st, "", 0);
}

/* Who runtime.wasm is: its size and a checksum of its bytes, plus the
   versions that make compiled code incompatible.  Content, not the
   modification time, so that a copy (a wheel's install, a package
   manager's) still matches the runtime.cwasm shipped beside it.  The
   checksum runs at ~10 GB/s, but reading the 17 MB guest took 5-7 ms of
   a 9-10 ms cold start (its page faults more than the sum): with a cache
   directory the sum is kept in a stamp (source-*, as compiled files have
   verified-* stamps) and taken from it while the file's identity (device,
   inode, size, mtime, ctime) is unchanged.  0 when the file cannot be
   read. */
static uint64_t
source_identity(const char *runtime_path, bool fuel, const char *cache_dir)
{
    int fd = open(runtime_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    uint64_t sum = 0;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return 0;
    }
    stamp want;
    stamp_of(&st, 0, &want);
    char spath_buf[PATH_MAX];
    const char *spath =
        stamp_path(cache_dir, "source-", runtime_path, spath_buf) ? spath_buf
                                                                  : NULL;
    if (!stamp_read(spath, &want, &sum)) {
        void *map =
            mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        int saved = errno;
        if (map == MAP_FAILED) {
            close(fd);
            errno = saved;
            return 0;
        }
        sum = eryx__checksum(map, (size_t)st.st_size);
        munmap(map, (size_t)st.st_size);
        want.sum = sum;
        stamp_write(cache_dir, spath, &want);
    }
    close(fd);
    const uint64_t fields[] = {(uint64_t)st.st_size, sum, ERYX_ABI_VERSION,
                               fuel ? 1u : 0u};
    uint8_t bytes[sizeof fields];
    for (size_t i = 0; i < ERYX__COUNT(fields); i++)
        eryx__le_put(bytes + 8 * i, fields[i], 8);
    uint64_t h = eryx__fnv1a(0xcbf29ce484222325ull, bytes, sizeof bytes);
    return eryx__fnv1a(h, WASMTIME_VERSION, strlen(WASMTIME_VERSION));
}

/* Load the compiled file `path` if it is whole, made for `source`, and
   accepted by Wasmtime; otherwise say why in `why` and return false. */
static bool
load_compiled(wasm_engine_t *wasm,
              const char *path,
              uint64_t source,
              const char *cache_dir,
              wasmtime_module_t **module,
              char *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            note(why, path, "cannot open: ", strerror(errno));
        return false;
    }
    bool ok = false;
    size_t size = 0;
    struct stat st;
    void *map = MAP_FAILED;
    trailer t;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)TRAILER_SIZE) {
        note(why, path, "too short to be compiled code", NULL);
        goto done;
    }
    size = (size_t)st.st_size;
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        note(why, path, "cannot map: ", strerror(errno));
        goto done;
    }
    memcpy(&t, (const uint8_t *)map + size - TRAILER_SIZE, TRAILER_SIZE);
    if (memcmp(t.magic, TRAILER_MAGIC, 8) != 0 ||
        t.payload_len != size - TRAILER_SIZE) {
        note(why, path, "not an eryx compiled file (no trailer)", NULL);
        goto done;
    }
    if (source != 0 && t.source != source) {
        note(why, path,
             "stale: made from another runtime.wasm, Wasmtime or ABI", NULL);
        goto done;
    }
    stamp want;
    stamp_of(&st, t.sum, &want);
    char spath_buf[PATH_MAX];
    const char *spath =
        stamp_path(cache_dir, "verified-", path, spath_buf) ? spath_buf : NULL;
    bool verified = stamp_matches(spath, &want);
    if (!verified && eryx__checksum(map, (size_t)t.payload_len) != t.sum) {
        note(why, path, "corrupt: checksum mismatch", NULL);
        goto done;
    }
    if (!verified)
        stamp_write(cache_dir, spath, &want);
    /* Deserialize the very file checked above, even if the path is
       replaced meanwhile. */
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    wasmtime_error_t *e =
        wasmtime_module_deserialize_file(wasm, fdpath, module);
    if (e != NULL) {
        wasm_byte_vec_t msg;
        wasmtime_error_message(e, &msg);
        char text[400];
        snprintf(text, sizeof text, "%.*s",
                 (int)(msg.size < 380 ? msg.size : 380), msg.data);
        wasm_byte_vec_delete(&msg);
        wasmtime_error_delete(e);
        note(why, path, "rejected by Wasmtime: ", text);
        goto done;
    }
    ok = true;
done:
    if (map != MAP_FAILED)
        munmap(map, size);
    close(fd);
    return ok;
}

/* Write `module` with its trailer to `path`, atomically. */
static eryx_status
write_compiled(wasmtime_module_t *module,
               const char *path,
               uint64_t source,
               eryx_error *err)
{
    wasm_byte_vec_t ser;
    wasmtime_error_t *e = wasmtime_module_serialize(module, &ser);
    if (e != NULL)
        return eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL,
                               "cannot serialize the compiled guest");
    trailer t;
    memcpy(t.magic, TRAILER_MAGIC, 8);
    t.payload_len = ser.size;
    t.sum = eryx__checksum((const uint8_t *)ser.data, ser.size);
    t.source = source;
    eryx_status s = ERYX_OK;
    if (!write_atomically(path, ser.data, ser.size, &t, TRAILER_SIZE))
        s = eryx__fail(err, ERYX_E_IO, "cannot write %s: %s", path,
                       strerror(errno));
    wasm_byte_vec_delete(&ser);
    return s;
}

eryx_status
eryx__cache_read_file(const char *path, wasm_byte_vec_t *out, eryx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return eryx__fail(err, ERYX_E_IO, "cannot open %s: %s", path,
                          strerror(errno));
    eryx_status st = ERYX_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = eryx__fail(err, ERYX_E_IO, "cannot size %s", path);
    } else {
        wasm_byte_vec_new_uninitialized(out, (size_t)size);
        if (fread(out->data, 1, (size_t)size, f) != (size_t)size) {
            wasm_byte_vec_delete(out);
            st = eryx__fail(err, ERYX_E_IO, "cannot read %s", path);
        }
    }
    fclose(f);
    return st;
}

/* Compile runtime.wasm (seconds, not milliseconds). */
static eryx_status
compile(wasm_engine_t *wasm,
        const char *runtime_path,
        wasmtime_module_t **module,
        eryx_error *err)
{
    wasm_byte_vec_t bytes = {0, NULL};
    eryx_status s = eryx__cache_read_file(runtime_path, &bytes, err);
    if (s != ERYX_OK)
        return s;
    wasmtime_error_t *e = wasmtime_module_new(wasm, (const uint8_t *)bytes.data,
                                              bytes.size, module);
    wasm_byte_vec_delete(&bytes);
    if (e != NULL)
        return eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL,
                               "cannot compile the guest");
    return ERYX_OK;
}

/* `runtime_path` with its ".wasm" replaced by `ext`, in `out` (PATH_MAX);
   false when it does not fit. */
static bool
sibling_path(const char *runtime_path, const char *ext, char *out)
{
    size_t n = strlen(runtime_path);
    if (n >= 5 && strcmp(runtime_path + n - 5, ".wasm") == 0)
        n -= 5;
    int len = snprintf(out, PATH_MAX, "%.*s%s", (int)n, runtime_path, ext);
    return len > 0 && len < PATH_MAX;
}

static const char *
compiled_ext(bool fuel)
{
    return fuel ? ".fuel.cwasm" : ".cwasm";
}

/* The cache file for a source identity, in `out` (PATH_MAX); false when
   there is no cache or the path does not fit. */
static bool
cache_path(const char *cache_dir, uint64_t source, char *out)
{
    if (cache_dir == NULL || source == 0)
        return false;
    int n = snprintf(out, PATH_MAX, "%s/runtime-%016llx.cwasm", cache_dir,
                     (unsigned long long)source);
    return n > 0 && n < PATH_MAX;
}

/* Cache files (compiled guests, verified and source stamps) older than
   this are removed when a new compiled guest is written, so that rebuilt
   guests do not pile up.  A process still using one keeps its mapping;
   one that looks for it later compiles again. */
#define CACHE_MAX_AGE_S (24L * 60 * 60)
/* The compiled files of a cache together (a compiled guest or image is
   40-50 MB): past this, the oldest written go first when a new one is
   written.  Without a bound, a service that compiles an image per tenant,
   or a test suite run a few times a day, filled the disk by gigabytes a
   day (docs/design.md, Precompiled guest). */
#define CACHE_MAX_BYTES ((long long)1 << 30)

/* A compiled file that stays after the age pass. */
typedef struct kept_file {
    time_t mtime;
    long long size;
    char name[256];
} kept_file;

static int
older_first(const void *a, const void *b)
{
    const kept_file *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* The oldest-written compiled files of `dir` but `keep` (whose size counts)
   are removed until they fit CACHE_MAX_BYTES. */
static void
cap_cache(const char *dir, kept_file *files, size_t n, long long total)
{
    if (n == 0 || total <= CACHE_MAX_BYTES)
        return;
    qsort(files, n, sizeof *files, older_first);
    char path[4096];
    for (size_t i = 0; i < n && total > CACHE_MAX_BYTES; i++) {
        int len = snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        if (len > 0 && (size_t)len < sizeof path && unlink(path) == 0)
            total -= files[i].size;
    }
}

static void
prune_cache(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    char path[4096];
    kept_file *files = NULL;
    size_t nfiles = 0, cap = 0;
    long long total = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        bool compiled = (strncmp(e->d_name, "runtime-", 8) == 0 ||
                         strncmp(e->d_name, "image-", 6) == 0) &&
                        n > 6 && strcmp(e->d_name + n - 6, ".cwasm") == 0;
        bool ours = compiled || strncmp(e->d_name, "verified-", 9) == 0 ||
                    strncmp(e->d_name, "source-", 7) == 0;
        struct stat st;
        int len = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!ours || len <= 0 || (size_t)len >= sizeof path ||
            stat(path, &st) != 0)
            continue;
        bool kept = strcmp(path, keep) == 0;
        if (!kept && now - st.st_mtime > (time_t)CACHE_MAX_AGE_S) {
            (void)unlink(path);
            continue;
        }
        if (!compiled)
            continue;
        total += (long long)st.st_size;
        if (kept || n >= sizeof files->name)
            continue;
        if (nfiles == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            kept_file *more = eryx__realloc(files, ncap * sizeof *files);
            if (more == NULL)
                break; /* the age pass is done as far as it got */
            files = more;
            cap = ncap;
        }
        files[nfiles].mtime = st.st_mtime;
        files[nfiles].size = (long long)st.st_size;
        memcpy(files[nfiles].name, e->d_name, n + 1);
        nfiles++;
    }
    closedir(d);
    cap_cache(dir, files, nfiles, total);
    eryx__free(files);
}

eryx_status
eryx__cache_load(wasm_engine_t *wasm,
                 const char *runtime_path,
                 const char *cache_dir,
                 bool fuel,
                 wasmtime_module_t **module,
                 char **info,
                 eryx_error *err)
{
    char why[WHY_CAP] = "";
    char used[4200];
    uint64_t source = source_identity(runtime_path, fuel, cache_dir);
    char pre_buf[PATH_MAX], cached_buf[PATH_MAX];
    const char *pre = sibling_path(runtime_path, compiled_ext(fuel), pre_buf)
                          ? pre_buf
                          : NULL;
    const char *cached =
        cache_path(cache_dir, source, cached_buf) ? cached_buf : NULL;
    eryx_status s = ERYX_OK;
    if (pre != NULL &&
        load_compiled(wasm, pre, source, cache_dir, module, why)) {
        snprintf(used, sizeof used, "precompiled %s", pre);
    } else if (cached != NULL &&
               load_compiled(wasm, cached, source, cache_dir, module, why)) {
        snprintf(used, sizeof used, "cached %s", cached);
    } else if (source == 0) {
        s = eryx__fail(err, ERYX_E_IO, "cannot find the guest %s%s%s",
                       runtime_path, *why ? ": " : "", why);
    } else {
        s = compile(wasm, runtime_path, module, err);
        snprintf(used, sizeof used, "compiled %s", runtime_path);
        if (s == ERYX_OK && cached != NULL) {
            make_dirs(cache_dir);
            if (write_compiled(*module, cached, source, NULL) == ERYX_OK)
                prune_cache(cache_dir, cached);
        }
    }
    if (s == ERYX_OK && info != NULL) {
        size_t n = strlen(used) + strlen(why) + 32;
        *info = eryx__malloc(n);
        if (*info != NULL)
            snprintf(*info, n, "%s%s%s%s", used, *why ? " (passed over: " : "",
                     why, *why ? ")" : "");
        else
            s = eryx__fail_nomem(err); /* the caller frees the module */
    }
    return s;
}


eryx_status
eryx__cache_precompile(wasm_engine_t *wasm,
                       const char *runtime_path,
                       const char *out_path,
                       bool fuel,
                       eryx_error *err)
{
    uint64_t source = source_identity(runtime_path, fuel, NULL);
    if (source == 0) /* errno is open's, fstat's or mmap's */
        return eryx__fail(err, ERYX_E_IO, "cannot find the guest %s: %s",
                          runtime_path, strerror(errno));
    char sibling[PATH_MAX];
    const char *path = out_path;
    if (path == NULL && sibling_path(runtime_path, compiled_ext(fuel), sibling))
        path = sibling;
    if (path == NULL)
        return eryx__fail(err, ERYX_E_IO, "the path of %s is too long",
                          runtime_path);
    wasmtime_module_t *module = NULL;
    eryx_status s = compile(wasm, runtime_path, &module, err);
    if (s == ERYX_OK)
        s = write_compiled(module, path, source, err);
    if (module != NULL)
        wasmtime_module_delete(module);
    return s;
}

eryx_status
eryx__cache_module(wasm_engine_t *wasm,
                   const char *cache_dir,
                   const uint8_t *bytes,
                   size_t len,
                   wasmtime_module_t **module,
                   eryx_error *err)
{
    static const char tag[] = "eryx image module 1";
    uint64_t source = eryx__fnv1a(eryx__checksum(bytes, len), tag, sizeof tag);
    source = source ? source : 1;
    char path[PATH_MAX], why[WHY_CAP] = "";
    int n = cache_dir ? snprintf(path, sizeof path, "%s/image-%016llx.cwasm",
                                 cache_dir, (unsigned long long)source)
                      : -1;
    bool cached = n > 0 && n < (int)sizeof path;
    if (cached && load_compiled(wasm, path, source, cache_dir, module, why))
        return ERYX_OK;
    wasmtime_error_t *e = wasmtime_module_new(wasm, bytes, len, module);
    if (e != NULL)
        return eryx__wasm_fail(err, ERYX_E_ENGINE, e, NULL,
                               "cannot compile the image");
    if (cached) {
        make_dirs(cache_dir);
        if (write_compiled(*module, path, source, NULL) == ERYX_OK)
            prune_cache(cache_dir, path);
    }
    return ERYX_OK;
}
