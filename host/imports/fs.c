/*
** fs.c: the WASI preview-1 filesystem functions, eryx's own (Wasmtime's
** WASI keeps only arguments, environment, randomness and exit).  Each
** checks the guest's pointers, copies paths into host buffers, turns
** iovecs into checked host pointers, and hands the operation to the
** instance's filesystem (vfs/); writes to descriptors 1 and 2 are the
** execute's output.  A bad pointer is an ABI violation (a trap);
** everything else the guest asks gets a WASI errno.
*/
#include <string.h>

#include "imports/imports.h"

#define IOVEC_SIZE 8
#define MAX_IOVS   1024 /* IOV_MAX */

#define ARG_I(k) ((uint32_t)args[k].of.i32)
#define ARG_L(k) ((uint64_t)args[k].of.i64)

static wasm_trap_t *
ret(wasmtime_val_t *results, int e)
{
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = e;
    return NULL;
}

/* Write `len` bytes to guest `ptr`, or the violation trap. */
static wasm_trap_t *
put(eryx__import_env *env,
    uint32_t ptr,
    const void *src,
    size_t len,
    const char *what)
{
    if (eryx__guest_write(env->ctx, &env->memory, ptr, src, len) != ERYX_OK)
        return eryx__imports_violation(env->st, what);
    return NULL;
}

static wasm_trap_t *
put_u(eryx__import_env *env,
      uint32_t ptr,
      uint64_t v,
      unsigned bytes,
      const char *what)
{
    uint8_t b[8];
    eryx__le_put(b, v, bytes);
    return put(env, ptr, b, bytes, what);
}

/* A guest path into `buf` (ERYX__VFS_PATH_MAX + 1 bytes).  Returns the
   trap, or NULL with *e an errno (too long) or EOK. */
static wasm_trap_t *
path_in(eryx__import_env *env, uint32_t ptr, uint32_t len, char *buf, int *e)
{
    *e = ERYX__EOK;
    if (len > ERYX__VFS_PATH_MAX) {
        *e = ERYX__ENAMETOOLONG;
        return NULL;
    }
    if (eryx__guest_read(env->ctx, &env->memory, ptr, len, buf) != ERYX_OK)
        return eryx__imports_violation(env->st, "filesystem path");
    buf[len] = '\0';
    return NULL;
}

/* The guest's iovecs as checked host pointers into its memory: EOK with
   all `n` in `out`, a WASI errno, or -1 with the violation's trap in *t. */
static int
iovs_in(eryx__import_env *env,
        uint32_t iovs,
        uint32_t n,
        eryx__iov *out,
        wasm_trap_t **t)
{
    if (n > MAX_IOVS)
        return ERYX__EINVAL;
    uint8_t raw[IOVEC_SIZE * 64];
    uint8_t *base = wasmtime_memory_data(env->ctx, &env->memory);
    for (uint32_t i = 0; i < n; i += 64) {
        uint32_t k = n - i < 64 ? n - i : 64;
        if (eryx__guest_read(env->ctx, &env->memory,
                             iovs + (uint64_t)i * IOVEC_SIZE,
                             (uint64_t)k * IOVEC_SIZE, raw) != ERYX_OK) {
            *t = eryx__imports_violation(env->st, "iovec array");
            return -1;
        }
        for (uint32_t j = 0; j < k; j++) {
            const uint8_t *v = raw + (size_t)j * IOVEC_SIZE;
            uint32_t p = (uint32_t)eryx__le_get(v, 4);
            uint32_t l = (uint32_t)eryx__le_get(v + 4, 4);
            if (!eryx__guest_check(env->ctx, &env->memory, p, l)) {
                *t = eryx__imports_violation(env->st, "iovec buffer");
                return -1;
            }
            out[i + j] = (eryx__iov){base + p, l};
        }
    }
    return ERYX__EOK;
}

static eryx__vfs *
vfs(eryx__import_env *env)
{
    return env->st->vfs;
}

/* ---- descriptors ---- */

static wasm_trap_t *
fd_close(eryx__import_env *env,
         const wasmtime_val_t *args,
         wasmtime_val_t *results)
{
    return ret(results, eryx__vfs_close(vfs(env), ARG_I(0)));
}

static wasm_trap_t *
fd_sync(eryx__import_env *env,
        const wasmtime_val_t *args,
        wasmtime_val_t *results)
{
    return ret(results, eryx__vfs_sync(vfs(env), ARG_I(0)));
}

static wasm_trap_t *
fd_advise(eryx__import_env *env,
          const wasmtime_val_t *args,
          wasmtime_val_t *results)
{
    uint8_t st[24];
    return ret(results, eryx__vfs_fdstat(vfs(env), ARG_I(0), st));
}

static wasm_trap_t *
fd_fdstat_get(eryx__import_env *env,
              const wasmtime_val_t *args,
              wasmtime_val_t *results)
{
    uint8_t st[24];
    int e = eryx__vfs_fdstat(vfs(env), ARG_I(0), st);
    if (e == ERYX__EOK) {
        wasm_trap_t *t = put(env, ARG_I(1), st, sizeof st, "fdstat pointer");
        if (t)
            return t;
    }
    return ret(results, e);
}

static wasm_trap_t *
fd_fdstat_set_flags(eryx__import_env *env,
                    const wasmtime_val_t *args,
                    wasmtime_val_t *results)
{
    return ret(results,
               eryx__vfs_set_fdflags(vfs(env), ARG_I(0), (uint16_t)ARG_I(1)));
}

static wasm_trap_t *
fd_filestat_get(eryx__import_env *env,
                const wasmtime_val_t *args,
                wasmtime_val_t *results)
{
    uint8_t st[64];
    int e = eryx__vfs_fstat(vfs(env), ARG_I(0), st);
    if (e == ERYX__EOK) {
        wasm_trap_t *t = put(env, ARG_I(1), st, sizeof st, "filestat pointer");
        if (t)
            return t;
    }
    return ret(results, e);
}

static wasm_trap_t *
fd_filestat_set_size(eryx__import_env *env,
                     const wasmtime_val_t *args,
                     wasmtime_val_t *results)
{
    return ret(results, eryx__vfs_set_size(vfs(env), ARG_I(0), ARG_L(1)));
}

static wasm_trap_t *
fd_filestat_set_times(eryx__import_env *env,
                      const wasmtime_val_t *args,
                      wasmtime_val_t *results)
{
    return ret(results,
               eryx__vfs_set_times(vfs(env), ARG_I(0), 0, NULL, 0, ARG_L(1),
                                   ARG_L(2), (uint16_t)ARG_I(3)));
}

static wasm_trap_t *
fd_prestat_get(eryx__import_env *env,
               const wasmtime_val_t *args,
               wasmtime_val_t *results)
{
    uint32_t n;
    int e = eryx__vfs_prestat(vfs(env), ARG_I(0), &n);
    if (e == ERYX__EOK) {
        uint8_t b[8] = {0};
        eryx__le_put(b + 4, n, 4);
        wasm_trap_t *t = put(env, ARG_I(1), b, sizeof b, "prestat pointer");
        if (t)
            return t;
    }
    return ret(results, e);
}

static wasm_trap_t *
fd_prestat_dir_name(eryx__import_env *env,
                    const wasmtime_val_t *args,
                    wasmtime_val_t *results)
{
    char name[8];
    uint32_t len = ARG_I(2);
    int e = eryx__vfs_prestat_name(vfs(env), ARG_I(0), name,
                                   len < sizeof name ? len : sizeof name);
    if (e == ERYX__EOK) {
        wasm_trap_t *t = put(env, ARG_I(1), name, 1, "prestat name");
        if (t)
            return t;
    }
    return ret(results, e);
}

/* Writes to descriptors 1 and 2: the guest's output at the descriptor
   level (os.write, C code), joining the same streams as sys.stdout and
   sys.stderr, on the thread that runs the execute.  NULL, or the trap of
   a stop at the output limit. */
static wasm_trap_t *
output(eryx__import_env *env,
       int stream,
       const eryx__iov *iov,
       size_t n,
       uint64_t *done)
{
    for (size_t i = 0; i < n; i++) {
        if (!eryx__store_output(env->st, stream, (const char *)iov[i].p,
                                iov[i].n))
            return eryx__imports_stop(env->st);
        *done += iov[i].n;
    }
    return NULL;
}

/* A write with secrets scrubbed (ERYX_SCRUB_FILES): the iovecs joined
   and scrubbed, written as one; *done counts the guest's bytes.  -1 when
   nothing needed scrubbing (write as given). */
static int
scrubbed_write(eryx__import_env *env,
               uint32_t fd,
               const eryx__iov *iov,
               size_t n,
               bool at,
               uint64_t off,
               uint64_t *done)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].n > SIZE_MAX / 2 - total)
            return -1;
        total += iov[i].n;
    }
    char *joined = eryx__malloc(total ? total : 1);
    if (joined == NULL)
        return ERYX__ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(joined + k, iov[i].p, iov[i].n);
        k += iov[i].n;
    }
    size_t len = total;
    char *before = joined;
    if (!eryx__store_scrub(env->st, &joined, &len)) {
        eryx__free(joined);
        return ERYX__ENOMEM;
    }
    if (joined == before) {
        eryx__free(joined);
        return -1;
    }
    eryx__iov one = {(uint8_t *)joined, len};
    uint64_t wrote = 0;
    int e = eryx__vfs_write(vfs(env), fd, &one, 1, at, off, &wrote);
    *done = wrote == len ? total : (wrote < total ? wrote : total);
    eryx__free(joined);
    return e;
}

/* read, pread, write, pwrite.  Writes to 1 and 2 are output. */
static wasm_trap_t *
rw(eryx__import_env *env,
   const wasmtime_val_t *args,
   wasmtime_val_t *results,
   bool write,
   bool at)
{
    eryx__iov iov[MAX_IOVS];
    wasm_trap_t *t = NULL;
    int e = iovs_in(env, ARG_I(1), ARG_I(2), iov, &t);
    if (e < 0)
        return t;
    if (e != ERYX__EOK)
        return ret(results, e);
    uint32_t fd = ARG_I(0);
    uint64_t off = at ? ARG_L(3) : 0, done = 0;
    if (write && !at && (fd == ERYX_STDOUT || fd == ERYX_STDERR)) {
        if ((t = output(env, (int)fd, iov, ARG_I(2), &done)) != NULL)
            return t;
    } else {
        const eryx__settings *set = env->st->settings;
        e = -1;
        if (write && set->secrets && (set->scrub & ERYX_SCRUB_FILES))
            e = scrubbed_write(env, fd, iov, ARG_I(2), at, off, &done);
        if (e < 0)
            e = write ? eryx__vfs_write(vfs(env), fd, iov, ARG_I(2), at, off,
                                        &done)
                      : eryx__vfs_read(vfs(env), fd, iov, ARG_I(2), at, off,
                                       &done);
    }
    if (e == ERYX__EOK &&
        (t = put_u(env, ARG_I(at ? 4 : 3), done, 4, "byte count pointer")))
        return t;
    return ret(results, e);
}

static wasm_trap_t *
fd_read(eryx__import_env *env,
        const wasmtime_val_t *args,
        wasmtime_val_t *results)
{
    return rw(env, args, results, false, false);
}

static wasm_trap_t *
fd_pread(eryx__import_env *env,
         const wasmtime_val_t *args,
         wasmtime_val_t *results)
{
    return rw(env, args, results, false, true);
}

static wasm_trap_t *
fd_pwrite(eryx__import_env *env,
          const wasmtime_val_t *args,
          wasmtime_val_t *results)
{
    return rw(env, args, results, true, true);
}

static wasm_trap_t *
fd_write(eryx__import_env *env,
         const wasmtime_val_t *args,
         wasmtime_val_t *results)
{
    return rw(env, args, results, true, false);
}

static wasm_trap_t *
fd_seek(eryx__import_env *env,
        const wasmtime_val_t *args,
        wasmtime_val_t *results)
{
    uint64_t pos;
    int e = eryx__vfs_seek(vfs(env), ARG_I(0), (int64_t)ARG_L(1),
                           (uint8_t)ARG_I(2), &pos);
    wasm_trap_t *t;
    if (e == ERYX__EOK && (t = put_u(env, ARG_I(3), pos, 8, "seek pointer")))
        return t;
    return ret(results, e);
}

static wasm_trap_t *
fd_tell(eryx__import_env *env,
        const wasmtime_val_t *args,
        wasmtime_val_t *results)
{
    uint64_t pos;
    int e = eryx__vfs_seek(vfs(env), ARG_I(0), 0, 1, &pos);
    wasm_trap_t *t;
    if (e == ERYX__EOK && (t = put_u(env, ARG_I(1), pos, 8, "tell pointer")))
        return t;
    return ret(results, e);
}

static wasm_trap_t *
fd_readdir(eryx__import_env *env,
           const wasmtime_val_t *args,
           wasmtime_val_t *results)
{
    uint32_t buf = ARG_I(1), len = ARG_I(2);
    if (!eryx__guest_check(env->ctx, &env->memory, buf, len))
        return eryx__imports_violation(env->st, "readdir buffer");
    uint8_t *base = wasmtime_memory_data(env->ctx, &env->memory);
    size_t used;
    int e =
        eryx__vfs_readdir(vfs(env), ARG_I(0), base + buf, len, ARG_L(3), &used);
    wasm_trap_t *t;
    if (e == ERYX__EOK &&
        (t = put_u(env, ARG_I(4), used, 4, "readdir count pointer")))
        return t;
    return ret(results, e);
}

/* ---- paths ---- */

#define PATH(k, buf)                                                          \
    char buf[ERYX__VFS_PATH_MAX + 1];                                         \
    do {                                                                      \
        int pe_;                                                              \
        wasm_trap_t *pt_ = path_in(env, ARG_I(k), ARG_I((k) + 1), buf, &pe_); \
        if (pt_ != NULL)                                                      \
            return pt_;                                                       \
        if (pe_ != ERYX__EOK)                                                 \
            return ret(results, pe_);                                         \
    } while (0)

static wasm_trap_t *
path_open(eryx__import_env *env,
          const wasmtime_val_t *args,
          wasmtime_val_t *results)
{
    PATH(2, p);
    uint32_t fd;
    int e =
        eryx__vfs_open(vfs(env), ARG_I(0), ARG_I(1), p, ARG_I(3),
                       (uint16_t)ARG_I(4), ARG_L(5), (uint16_t)ARG_I(7), &fd);
    wasm_trap_t *t;
    if (e == ERYX__EOK &&
        (t = put_u(env, ARG_I(8), fd, 4, "open fd pointer"))) {
        eryx__vfs_close(vfs(env), fd);
        return t;
    }
    return ret(results, e);
}

static wasm_trap_t *
path_filestat_get(eryx__import_env *env,
                  const wasmtime_val_t *args,
                  wasmtime_val_t *results)
{
    PATH(2, p);
    uint8_t st[64];
    int e = eryx__vfs_stat(vfs(env), ARG_I(0), ARG_I(1), p, ARG_I(3), st);
    wasm_trap_t *t;
    if (e == ERYX__EOK && (t = put(env, ARG_I(4), st, 64, "filestat pointer")))
        return t;
    return ret(results, e);
}

static wasm_trap_t *
path_filestat_set_times(eryx__import_env *env,
                        const wasmtime_val_t *args,
                        wasmtime_val_t *results)
{
    PATH(2, p);
    return ret(results,
               eryx__vfs_set_times(vfs(env), ARG_I(0), ARG_I(1), p, ARG_I(3),
                                   ARG_L(4), ARG_L(5), (uint16_t)ARG_I(6)));
}

static wasm_trap_t *
path_create_directory(eryx__import_env *env,
                      const wasmtime_val_t *args,
                      wasmtime_val_t *results)
{
    PATH(1, p);
    return ret(results, eryx__vfs_mkdir(vfs(env), ARG_I(0), p, ARG_I(2)));
}

static wasm_trap_t *
path_remove_directory(eryx__import_env *env,
                      const wasmtime_val_t *args,
                      wasmtime_val_t *results)
{
    PATH(1, p);
    return ret(results, eryx__vfs_rmdir(vfs(env), ARG_I(0), p, ARG_I(2)));
}

static wasm_trap_t *
path_unlink_file(eryx__import_env *env,
                 const wasmtime_val_t *args,
                 wasmtime_val_t *results)
{
    PATH(1, p);
    return ret(results, eryx__vfs_unlink(vfs(env), ARG_I(0), p, ARG_I(2)));
}

static wasm_trap_t *
path_rename(eryx__import_env *env,
            const wasmtime_val_t *args,
            wasmtime_val_t *results)
{
    PATH(1, a);
    PATH(4, b);
    return ret(results, eryx__vfs_rename(vfs(env), ARG_I(0), a, ARG_I(2),
                                         ARG_I(3), b, ARG_I(5)));
}

static wasm_trap_t *
path_link(eryx__import_env *env,
          const wasmtime_val_t *args,
          wasmtime_val_t *results)
{
    PATH(2, a);
    PATH(5, b);
    return ret(results, eryx__vfs_link(vfs(env), ARG_I(0), ARG_I(1), a,
                                       ARG_I(3), ARG_I(4), b, ARG_I(6)));
}

static wasm_trap_t *
path_symlink(eryx__import_env *env,
             const wasmtime_val_t *args,
             wasmtime_val_t *results)
{
    PATH(0, target);
    PATH(3, p);
    return ret(results, eryx__vfs_symlink(vfs(env), target, ARG_I(1), ARG_I(2),
                                          p, ARG_I(4)));
}

static wasm_trap_t *
path_readlink(eryx__import_env *env,
              const wasmtime_val_t *args,
              wasmtime_val_t *results)
{
    PATH(1, p);
    uint32_t buf = ARG_I(3), len = ARG_I(4);
    if (!eryx__guest_check(env->ctx, &env->memory, buf, len))
        return eryx__imports_violation(env->st, "readlink buffer");
    uint8_t *base = wasmtime_memory_data(env->ctx, &env->memory);
    size_t used;
    int e = eryx__vfs_readlink(vfs(env), ARG_I(0), p, ARG_I(2),
                               (char *)base + buf, len, &used);
    wasm_trap_t *t;
    if (e == ERYX__EOK &&
        (t = put_u(env, ARG_I(5), used, 4, "readlink count pointer")))
        return t;
    return ret(results, e);
}

/* workdir(buf_ptr, buf_len) -> the path's full length; copies at most
   buf_len bytes. */
static wasm_trap_t *
workdir(eryx__import_env *env,
        const wasmtime_val_t *args,
        wasmtime_val_t *results)
{
    const char *dir = eryx__vfs_workdir(vfs(env));
    size_t len = strlen(dir);
    uint32_t buf = ARG_I(0), cap = ARG_I(1);
    if (!eryx__guest_check(env->ctx, &env->memory, buf, cap))
        return eryx__imports_violation(env->st, "workdir buffer");
    wasm_trap_t *t = put(env, buf, dir, len < cap ? len : cap, "workdir");
    return t ? t : ret(results, (int)len);
}

#define W "wasi_snapshot_preview1"
const eryx__import eryx__fs_imports[] = {
    {W, "fd_advise", "iIIi", "i", fd_advise},
    {W, "fd_close", "i", "i", fd_close},
    {W, "fd_datasync", "i", "i", fd_sync},
    {W, "fd_sync", "i", "i", fd_sync},
    {W, "fd_fdstat_get", "ii", "i", fd_fdstat_get},
    {W, "fd_fdstat_set_flags", "ii", "i", fd_fdstat_set_flags},
    {W, "fd_filestat_get", "ii", "i", fd_filestat_get},
    {W, "fd_filestat_set_size", "iI", "i", fd_filestat_set_size},
    {W, "fd_filestat_set_times", "iIIi", "i", fd_filestat_set_times},
    {W, "fd_pread", "iiiIi", "i", fd_pread},
    {W, "fd_prestat_get", "ii", "i", fd_prestat_get},
    {W, "fd_prestat_dir_name", "iii", "i", fd_prestat_dir_name},
    {W, "fd_pwrite", "iiiIi", "i", fd_pwrite},
    {W, "fd_read", "iiii", "i", fd_read},
    {W, "fd_readdir", "iiiIi", "i", fd_readdir},
    {W, "fd_seek", "iIii", "i", fd_seek},
    {W, "fd_tell", "ii", "i", fd_tell},
    {W, "fd_write", "iiii", "i", fd_write},
    {W, "path_create_directory", "iii", "i", path_create_directory},
    {W, "path_filestat_get", "iiiii", "i", path_filestat_get},
    {W, "path_filestat_set_times", "iiiiIIi", "i", path_filestat_set_times},
    {W, "path_link", "iiiiiii", "i", path_link},
    {W, "path_open", "iiiiiIIii", "i", path_open},
    {W, "path_readlink", "iiiiii", "i", path_readlink},
    {W, "path_remove_directory", "iii", "i", path_remove_directory},
    {W, "path_rename", "iiiiii", "i", path_rename},
    {W, "path_symlink", "iiiii", "i", path_symlink},
    {W, "path_unlink_file", "iii", "i", path_unlink_file},
    {ERYX_ABI_IMPORT_MODULE, ERYX_ABI_IMPORT_WORKDIR, "ii", "i", workdir},
};
const size_t eryx__fs_count = ERYX__COUNT(eryx__fs_imports);
