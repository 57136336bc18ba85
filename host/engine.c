/*
** engine.c: eryx_engine, the Wasmtime engine plus the compiled guest,
** shared by every sandbox made from it.  Compiled code is cached on disk
** (serialized by Wasmtime, loaded with an mmap'd deserialize), so only the
** first engine on a machine pays for compiling the 9 MB guest.
*/
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
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
cache_path(const char *cache_dir, const struct stat *st, bool fuel)
{
    uint64_t h = fuel ? 0xf0e1d2c3b4a59687ull : 0xcbf29ce484222325ull;
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
            bool fuel,
            wasmtime_module_t **module,
            eryx_error *err)
{
    struct stat st;
    if (stat(runtime_path, &st) != 0)
        return eryx__fail(err, ERYX_E_IO, "cannot find the guest %s: %s",
                          runtime_path, strerror(errno));
    char *cached = cache_dir ? cache_path(cache_dir, &st, fuel) : NULL;
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

/* Build one variant of the engine: Wasmtime engine, compiled guest,
   linker with WASI and the eryx imports, and the instance_pre. */
static eryx_status
load_variant(eryx__variant *v,
             const char *runtime_path,
             const char *cache_dir,
             bool fuel,
             eryx_error *err)
{
    wasm_config_t *wc = wasm_config_new();
    if (wc == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    wasmtime_config_cranelift_opt_level_set(wc, WASMTIME_OPT_LEVEL_SPEED);
    wasmtime_config_epoch_interruption_set(wc, true);
    wasmtime_config_consume_fuel_set(wc, fuel);
    v->wasm = wasm_engine_new_with_config(wc); /* consumes wc */
    if (v->wasm == NULL)
        return eryx__fail(err, ERYX_E_ENGINE,
                          "cannot create the Wasmtime engine");
    wasmtime_module_t *module = NULL;
    eryx_status s =
        load_module(v->wasm, runtime_path, cache_dir, fuel, &module, err);
    if (s != ERYX_OK)
        return s;
    v->linker = wasmtime_linker_new(v->wasm);
    wasmtime_error_t *e = wasmtime_linker_define_wasi(v->linker);
    if (e == NULL) {
        /* eryx's own poll_oneoff and clock_time_get replace WASI's, so that
           sleeps end at the execution's deadline or cancellation. */
        wasmtime_linker_allow_shadowing(v->linker, true);
        s = eryx__hostcalls_define(v->linker, err);
        if (s == ERYX_OK)
            e = wasmtime_linker_instantiate_pre(v->linker, module, &v->pre);
    }
    wasmtime_module_delete(module); /* the instance_pre keeps its own */
    if (e != NULL)
        return eryx__fail_wasmtime(err, ERYX_E_ENGINE, e, NULL,
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
        eryx__cond_wait_until(&eng->cv, &eng->mu,
                              eryx__now_us() + TICK_MS * 1000u);
        wasmtime_engine_increment_epoch(eng->plain.wasm);
        if (eng->fuel.pre != NULL)
            wasmtime_engine_increment_epoch(eng->fuel.wasm);
    }
    pthread_mutex_unlock(&eng->mu);
    return NULL;
}

const eryx__variant *
eryx__engine_variant(eryx_engine *eng, bool fuel, eryx_error *err)
{
    if (!fuel)
        return &eng->plain;
    pthread_mutex_lock(&eng->mu);
    eryx_status s = ERYX_OK;
    if (eng->fuel.pre == NULL) {
        eryx__variant v;
        memset(&v, 0, sizeof v);
        s = load_variant(&v, eng->runtime_path, eng->cache_dir, true, err);
        if (s == ERYX_OK)
            eng->fuel = v;
        else
            free_variant(&v);
    }
    pthread_mutex_unlock(&eng->mu);
    return s == ERYX_OK ? &eng->fuel : NULL;
}

eryx_status
eryx_engine_new(const eryx_config *config, eryx_engine **out, eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    eryx_engine *eng = eryx__calloc(1, sizeof *eng);
    if (eng == NULL)
        return eryx__fail(err, ERYX_E_NOMEM, "out of memory");
    pthread_mutex_init(&eng->mu, NULL);
    eryx__cond_init(&eng->cv);
    eryx_status s = eryx__config_paths(config, &eng->runtime_path,
                                       &eng->stdlib_dir, &eng->cache_dir, err);
    if (s != ERYX_OK)
        goto fail;
    struct stat st;
    if (stat(eng->stdlib_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        s = eryx__fail(err, ERYX_E_IO, "stdlib directory %s not found",
                       eng->stdlib_dir);
        goto fail;
    }
    eng->pool = eryx__pool_new();
    if (eng->pool == NULL) {
        s = eryx__fail(err, ERYX_E_NOMEM, "out of memory");
        goto fail;
    }
    s = load_variant(&eng->plain, eng->runtime_path, eng->cache_dir, false,
                     err);
    if (s != ERYX_OK)
        goto fail;
    if (pthread_create(&eng->ticker, NULL, ticker, eng) != 0) {
        s = eryx__fail(err, ERYX_E_NOMEM, "cannot start the epoch ticker");
        goto fail;
    }
    eng->ticking = true;
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
    if (eng->ticking) {
        pthread_mutex_lock(&eng->mu);
        eng->stopping = true;
        pthread_cond_signal(&eng->cv);
        pthread_mutex_unlock(&eng->mu);
        pthread_join(eng->ticker, NULL);
    }
    eryx__pool_free(eng->pool); /* before the variants: handlers may run */
    free_variant(&eng->fuel);
    free_variant(&eng->plain);
    pthread_cond_destroy(&eng->cv);
    pthread_mutex_destroy(&eng->mu);
    eryx__free(eng->runtime_path);
    eryx__free(eng->stdlib_dir);
    eryx__free(eng->cache_dir);
    eryx__free(eng);
}
