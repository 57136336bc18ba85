/*
** engine.c: eryx_engine, the Wasmtime engine plus the compiled guest,
** shared by every sandbox made from it.  Compiled code is cached on disk
** (serialized by Wasmtime, loaded with an mmap'd deserialize), so only the
** first engine on a machine pays for compiling the 9 MB guest.
*/
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

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

static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The cache file for `runtime`: keyed by the file's identity (device,
   inode, size, mtime), the Wasmtime version and the ABI version.  Wasmtime
   itself rejects a file made by another engine configuration. */
static char *
cache_path(const char *cache_dir, const struct stat *st)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint64_t fields[] = {
        (uint64_t)st->st_dev,          (uint64_t)st->st_ino,
        (uint64_t)st->st_size,         (uint64_t)st->st_mtim.tv_sec,
        (uint64_t)st->st_mtim.tv_nsec, ERYX_ABI_VERSION};
    h = fnv1a(h, fields, sizeof fields);
    h = fnv1a(h, WASMTIME_VERSION, strlen(WASMTIME_VERSION));
    size_t n = strlen(cache_dir) + 64;
    char *path = eryx__malloc(n);
    if (path != NULL)
        snprintf(path, n, "%s/runtime-%016llx.cwasm", cache_dir,
                 (unsigned long long)h);
    return path;
}

static eryx_status
read_file(const char *path, wasm_byte_vec_t *out, eryx_error *err)
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

/* Compiled files older than this are removed when a new one is written,
   so that rebuilt guests do not pile up.  A process still using one keeps
   its mapping; one that looks for it later compiles again. */
#define CACHE_MAX_AGE_S (24 * 60 * 60)

static void
prune_cache(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "runtime-", 8) != 0 || n < 6 ||
            strcmp(e->d_name + n - 6, ".cwasm") != 0)
            continue;
        struct stat st;
        int len = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (len > 0 && (size_t)len < sizeof path && strcmp(path, keep) != 0 &&
            stat(path, &st) == 0 && now - st.st_mtime > CACHE_MAX_AGE_S)
            (void)unlink(path);
    }
    closedir(d);
}

/* Write atomically: a reader sees the old file or the whole new one. */
static void
write_cache(const char *path, const wasm_byte_vec_t *bytes)
{
    size_t n = strlen(path) + 32;
    char *tmp = eryx__malloc(n);
    if (tmp == NULL)
        return;
    snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok =
        f != NULL && fwrite(bytes->data, 1, bytes->size, f) == bytes->size;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0)
        (void)unlink(tmp);
    eryx__free(tmp);
}

static eryx_status
load_module(wasm_engine_t *wasm,
            const char *runtime_path,
            const char *cache_dir,
            wasmtime_module_t **module,
            eryx_error *err)
{
    struct stat st;
    if (stat(runtime_path, &st) != 0)
        return eryx__fail(err, ERYX_E_IO, "cannot find the guest %s: %s",
                          runtime_path, strerror(errno));
    char *cached = cache_dir ? cache_path(cache_dir, &st) : NULL;
    if (cached != NULL && access(cached, R_OK) == 0) {
        wasmtime_error_t *e =
            wasmtime_module_deserialize_file(wasm, cached, module);
        if (e == NULL) {
            eryx__free(cached);
            return ERYX_OK;
        }
        /* Stale or foreign: compile again and replace it. */
        wasmtime_error_delete(e);
    }
    wasm_byte_vec_t wasm_bytes;
    eryx_status s = read_file(runtime_path, &wasm_bytes, err);
    if (s != ERYX_OK) {
        eryx__free(cached);
        return s;
    }
    wasmtime_error_t *e = wasmtime_module_new(
        wasm, (const uint8_t *)wasm_bytes.data, wasm_bytes.size, module);
    wasm_byte_vec_delete(&wasm_bytes);
    if (e != NULL) {
        eryx__free(cached);
        return eryx__fail_wasmtime(err, ERYX_E_ENGINE, e, NULL,
                                   "cannot compile the guest");
    }
    if (cached != NULL) {
        wasm_byte_vec_t ser;
        if (wasmtime_module_serialize(*module, &ser) == NULL) {
            make_dirs(cache_dir);
            write_cache(cached, &ser);
            prune_cache(cache_dir, cached);
            wasm_byte_vec_delete(&ser);
        }
    }
    eryx__free(cached);
    return ERYX_OK;
}

eryx_status
eryx_engine_new(const eryx_config *config, eryx_engine **out, eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    char *runtime_path, *cache_dir;
    eryx_engine *eng = eryx__calloc(1, sizeof *eng);
    if (eng == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    eryx_status s = eryx__config_paths(config, &runtime_path, &eng->stdlib_dir,
                                       &cache_dir, err);
    if (s != ERYX_OK)
        goto fail;

    struct stat st;
    if (stat(eng->stdlib_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        s = eryx__fail(err, ERYX_E_IO, "stdlib directory %s not found",
                       eng->stdlib_dir);
        goto fail;
    }

    wasm_config_t *wc = wasm_config_new();
    if (wc == NULL) {
        s = eryx__fail(err, ERYX_E_NOMEM, "out of memory");
        goto fail;
    }
    wasmtime_config_cranelift_opt_level_set(wc, WASMTIME_OPT_LEVEL_SPEED);
    eng->wasm = wasm_engine_new_with_config(wc); /* consumes wc */
    if (eng->wasm == NULL) {
        s = eryx__fail(err, ERYX_E_ENGINE, "cannot create the Wasmtime engine");
        goto fail;
    }

    wasmtime_module_t *module = NULL;
    s = load_module(eng->wasm, runtime_path, cache_dir, &module, err);
    if (s != ERYX_OK)
        goto fail;

    eng->pool = eryx__pool_new();
    if (eng->pool == NULL) {
        wasmtime_module_delete(module);
        s = eryx__fail(err, ERYX_E_NOMEM, "out of memory");
        goto fail;
    }
    eng->linker = wasmtime_linker_new(eng->wasm);
    s = eryx__hostcalls_define(eng->linker, err);
    if (s != ERYX_OK) {
        wasmtime_module_delete(module);
        goto fail;
    }
    wasmtime_error_t *e = wasmtime_linker_define_wasi(eng->linker);
    if (e == NULL)
        e = wasmtime_linker_instantiate_pre(eng->linker, module, &eng->pre);
    wasmtime_module_delete(module); /* the instance_pre keeps its own */
    if (e != NULL) {
        s = eryx__fail_wasmtime(err, ERYX_E_ENGINE, e, NULL,
                                "cannot link the guest");
        goto fail;
    }
    eryx__free(runtime_path);
    eryx__free(cache_dir);
    *out = eng;
    return ERYX_OK;

fail:
    eryx__free(runtime_path);
    eryx__free(cache_dir);
    eryx_engine_free(eng);
    return s;
}

void
eryx_engine_free(eryx_engine *eng)
{
    if (eng == NULL)
        return;
    if (eng->pre != NULL)
        wasmtime_instance_pre_delete(eng->pre);
    if (eng->linker != NULL)
        wasmtime_linker_delete(eng->linker);
    if (eng->wasm != NULL)
        wasm_engine_delete(eng->wasm);
    eryx__pool_free(eng->pool);
    eryx__free(eng->stdlib_dir);
    eryx__free(eng);
}
