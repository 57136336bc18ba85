/*
** test_engine.c: where an engine's compiled guest comes from.  The build's
** runtime.cwasm is mapped by default; eryx_engine_precompile writes one; a
** corrupt, stale or foreign file is passed over (and said so by
** eryx_engine_info), the guest is compiled into the cache instead, and
** nothing crashes.  The cache itself: reused, pruned, can be turned off.
*/
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_fixture.h"

/* The build's guest and its precompiled files. */
static char built_wasm[4096], built_cwasm[4096], built_fuel_cwasm[4096];

static void
find_build(void)
{
    snprintf(built_wasm, sizeof built_wasm, "%s", ERYX_TEST_RUNTIME_WASM);
    size_t n = strlen(built_wasm) - 5; /* ".wasm" */
    snprintf(built_cwasm, sizeof built_cwasm, "%.*s.cwasm", (int)n, built_wasm);
    snprintf(built_fuel_cwasm, sizeof built_fuel_cwasm, "%.*s.fuel.cwasm",
             (int)n, built_wasm);
}

/* Copy `src` to `dst`, keeping its modification time (as cp -p does). */
static void
copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    ASSERT_NOT_NULL(in);
    ASSERT_NOT_NULL(out);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ASSERT_EQ(fwrite(buf, 1, n, out), n);
    fclose(in);
    ASSERT_EQ(fclose(out), 0);
    struct stat st;
    ASSERT_EQ(stat(src, &st), 0);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(utimensat(AT_FDCWD, dst, times, 0), 0);
}

/* A scratch directory holding a copy of the build's runtime.wasm and, if
   `cwasm_src` is not NULL, a copy of that file as its runtime.cwasm. */
typedef struct scratch {
    char dir[64], wasm[128], cwasm[128], cache[128];
} scratch;

static void
scratch_new(scratch *s, const char *cwasm_src)
{
    find_build();
    snprintf(s->dir, sizeof s->dir, "/tmp/eryx-engine-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(s->dir));
    snprintf(s->wasm, sizeof s->wasm, "%s/runtime.wasm", s->dir);
    snprintf(s->cwasm, sizeof s->cwasm, "%s/runtime.cwasm", s->dir);
    snprintf(s->cache, sizeof s->cache, "%s/cache", s->dir);
    copy_file(built_wasm, s->wasm);
    if (cwasm_src != NULL)
        copy_file(cwasm_src, s->cwasm);
}

static void
scratch_free(scratch *s)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    ASSERT_EQ(system(cmd), 0);
}

static eryx_engine *
engine_for(const char *runtime, const char *cache_dir)
{
    eryx_config *cfg = NULL;
    eryx_engine *eng = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    if (runtime != NULL)
        ASSERT_EQ(eryx_config_set_runtime_path(cfg, runtime, NULL), ERYX_OK);
    if (cache_dir != NULL)
        ASSERT_EQ(eryx_config_set_cache_dir(cfg, cache_dir, NULL), ERYX_OK);
    if (eryx_engine_new(cfg, &eng, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("eryx_engine_new: %s", err.message);
    eryx_config_free(cfg);
    return eng;
}

static void
expect_prints(eryx_engine *eng)
{
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_new(eng, NULL, &sb, NULL), ERYX_OK);
    ASSERT_EQ(eryx_sandbox_execute(sb, "print(6*7)", 10, &r, NULL), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "42\n");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
}

/* Does the engine's info start with `prefix` and contain `part`? */
static void
expect_info(eryx_engine *eng, const char *prefix, const char *part)
{
    const char *info = eryx_engine_info(eng);
    if (strncmp(info, prefix, strlen(prefix)) != 0 ||
        (part != NULL && strstr(info, part) == NULL))
        ERYX_TEST_FAIL_("engine info \"%s\": wanted \"%s\" ... \"%s\"", info,
                        prefix, part ? part : "");
}

/* The path of the one file in `dir` whose name starts with `prefix` and
   ends with `suffix` (NULL if none), as a new string. */
static char *
one_file(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char *found = NULL;
    struct dirent *e;
    size_t np = strlen(prefix), ns = strlen(suffix);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > np + ns && strncmp(e->d_name, prefix, np) == 0 &&
            strcmp(e->d_name + n - ns, suffix) == 0) {
            ASSERT_NULL(found);
            found = malloc(strlen(dir) + n + 2);
            sprintf(found, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return found;
}

/* The one .cwasm file in `dir`, as a new path (NULL if none). */
static char *
cached_file(const char *dir)
{
    return one_file(dir, "", ".cwasm");
}

ERYX_TEST(the_builds_precompiled_guest_is_mapped_by_default)
{
    find_build();
    eryx_engine *eng = engine_for(NULL, "");
    char want[4200];
    snprintf(want, sizeof want, "precompiled %s", built_cwasm);
    ASSERT_STR_EQ(eryx_engine_info(eng), want);
    expect_prints(eng);
    eryx_engine_free(eng);
}

ERYX_TEST(a_copied_pair_keeps_working_and_fuel_uses_its_own_file)
{
    scratch s;
    scratch_new(&s, built_cwasm);
    char fuel[160];
    snprintf(fuel, sizeof fuel, "%s/runtime.fuel.cwasm", s.dir);
    copy_file(built_fuel_cwasm, fuel);
    eryx_engine *eng = engine_for(s.wasm, "");
    expect_info(eng, "precompiled ", s.cwasm);
    /* The fuel variant maps runtime.fuel.cwasm: with the cache off, a
       compile would still work, so check the budget is really metered. */
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_fuel(cfg, 1000000, NULL), ERYX_OK);
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_new(eng, cfg, &sb, NULL), ERYX_OK);
    ASSERT_EQ(eryx_sandbox_execute(sb, "while True: pass", 16, &r, NULL),
              ERYX_E_FUEL);
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
    eryx_engine_free(eng);
    scratch_free(&s);
}

ERYX_TEST(precompile_writes_the_file_engines_then_map)
{
    scratch s;
    scratch_new(&s, NULL);
    eryx_config *cfg = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_runtime_path(cfg, s.wasm, NULL), ERYX_OK);
    ASSERT_EQ(eryx_engine_precompile(cfg, NULL, 0, &err), ERYX_OK);
    eryx_config_free(cfg);
    ASSERT_EQ(access(s.cwasm, R_OK), 0);
    eryx_engine *eng = engine_for(s.wasm, "");
    expect_info(eng, "precompiled ", s.cwasm);
    expect_prints(eng);
    eryx_engine_free(eng);
    scratch_free(&s);
}

/* Damage a copy of runtime.cwasm in one of several ways; each time the
   engine says what it passed over, compiles (or takes the cache) and runs. */
ERYX_TEST(corrupt_stale_and_foreign_files_are_passed_over_not_trusted)
{
    scratch s;
    scratch_new(&s, built_cwasm);
    struct stat st;
    ASSERT_EQ(stat(s.cwasm, &st), 0);

    /* 1. One flipped byte in the middle of the code, after a first load
       verified the file and stamped it as verified: the write changes the
       file's ctime, so the stamp no longer vouches for it. */
    eryx_engine *eng = engine_for(s.wasm, s.cache);
    expect_info(eng, "precompiled ", NULL);
    eryx_engine_free(eng);
    eng = engine_for(s.wasm, s.cache); /* the stamp's fast path */
    expect_info(eng, "precompiled ", NULL);
    eryx_engine_free(eng);
    int fd = open(s.cwasm, O_RDWR);
    ASSERT(fd >= 0);
    unsigned char b;
    ASSERT_EQ(pread(fd, &b, 1, st.st_size / 2), 1);
    b ^= 0x40;
    ASSERT_EQ(pwrite(fd, &b, 1, st.st_size / 2), 1);
    close(fd);
    eng = engine_for(s.wasm, s.cache);
    expect_info(eng, "compiled ", "corrupt: checksum mismatch");
    expect_prints(eng);
    eryx_engine_free(eng);
    char *cached = cached_file(s.cache);
    ASSERT_NOT_NULL(cached); /* the compiled guest went to the cache */

    /* 2. Garbage with an ELF header; 3. cut short; 4. empty. */
    const char *garbage[] = {"\x7f"
                             "ELF this is not a compiled module",
                             NULL, ""};
    const char *why[] = {"not an eryx compiled file", "not an eryx compiled",
                         "too short"};
    for (int i = 0; i < 3; i++) {
        if (garbage[i] == NULL) {
            copy_file(built_cwasm, s.cwasm);
            ASSERT_EQ(truncate(s.cwasm, st.st_size - 1000), 0);
        } else {
            FILE *f = fopen(s.cwasm, "wb");
            ASSERT_NOT_NULL(f);
            fputs(garbage[i], f);
            fclose(f);
        }
        eng = engine_for(s.wasm, s.cache);
        expect_info(eng, "cached ", why[i]);
        expect_prints(eng);
        eryx_engine_free(eng);
    }

    /* 5. Foreign: made for the fuel configuration. */
    copy_file(built_fuel_cwasm, s.cwasm);
    eng = engine_for(s.wasm, s.cache);
    expect_info(eng, "cached ", "stale");
    eryx_engine_free(eng);

    /* 6. A copy with new modification times (as a wheel's install or a
       package manager makes) is the same guest: the precompiled file is
       used.  Identity is content, not mtime. */
    copy_file(built_cwasm, s.cwasm);
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    ASSERT_EQ(utimensat(AT_FDCWD, s.wasm, now, 0), 0);
    ASSERT_EQ(utimensat(AT_FDCWD, s.cwasm, now, 0), 0);
    eng = engine_for(s.wasm, "");
    expect_info(eng, "precompiled ", NULL);
    eryx_engine_free(eng);

    /* 6b. Stale: runtime.wasm's bytes changed after the file was made (an
       empty custom section appended keeps it a valid module). */
    FILE *w = fopen(s.wasm, "ab");
    ASSERT_NOT_NULL(w);
    static const unsigned char custom[] = {0x00, 0x05, 0x04, 'e',
                                           'r',  'y',  'x'};
    ASSERT_EQ(fwrite(custom, 1, sizeof custom, w), sizeof custom);
    ASSERT_EQ(fclose(w), 0);
    eng = engine_for(s.wasm, "");
    expect_info(eng, "compiled ", "stale");
    expect_prints(eng);
    eryx_engine_free(eng);

    /* 7. No runtime.wasm at all: the precompiled file is enough; without
       it there is a clear error. */
    copy_file(built_cwasm, s.cwasm);
    ASSERT_EQ(unlink(s.wasm), 0);
    eng = engine_for(s.wasm, "");
    expect_info(eng, "precompiled ", NULL);
    eryx_engine_free(eng);
    ASSERT_EQ(unlink(s.cwasm), 0);
    eryx_config *cfg = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_runtime_path(cfg, s.wasm, NULL), ERYX_OK);
    ASSERT_EQ(eryx_engine_new(cfg, &eng, &err), ERYX_E_IO);
    ASSERT(strstr(err.message, "cannot find or read the guest") != NULL);
    eryx_config_free(cfg);
    free(cached);
    scratch_free(&s);
}

ERYX_TEST(the_guests_stamped_sum_is_used_only_while_the_file_is_unchanged)
{
    /* An engine checksums runtime.wasm (to know which compiled files fit
       it) once, and keeps the sum in a source-* stamp in the cache, taken
       while the file's device, inode, size, mtime and ctime are the same. */
    scratch s;
    scratch_new(&s, built_cwasm);
    eryx_engine *eng = engine_for(s.wasm, s.cache);
    expect_info(eng, "precompiled ", NULL);
    eryx_engine_free(eng);
    char *stamp = one_file(s.cache, "source-", "");
    ASSERT_NOT_NULL(stamp);
    eng = engine_for(s.wasm, s.cache); /* the stamp's sum */
    expect_info(eng, "precompiled ", NULL);
    expect_prints(eng);
    eryx_engine_free(eng);

    /* A stamp cut short is not read: the sum is taken again. */
    ASSERT_EQ(truncate(stamp, 3), 0);
    eng = engine_for(s.wasm, s.cache);
    expect_info(eng, "precompiled ", NULL);
    eryx_engine_free(eng);

    /* Other bytes of the same size and modification time (the write still
       changes the ctime): not the stamped guest.  These are no module at
       all, so the precompiled file is stale and compiling them fails,
       where a trusted stamp would have mapped the file made for other
       bytes. */
    struct stat st;
    ASSERT_EQ(stat(s.wasm, &st), 0);
    int fd = open(s.wasm, O_WRONLY);
    ASSERT(fd >= 0);
    ASSERT_EQ(pwrite(fd, "not wasm", 8, 0), 8);
    close(fd);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(utimensat(AT_FDCWD, s.wasm, times, 0), 0);
    eryx_config *cfg = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_runtime_path(cfg, s.wasm, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_cache_dir(cfg, s.cache, NULL), ERYX_OK);
    ASSERT(eryx_engine_new(cfg, &eng, &err) != ERYX_OK);
    ASSERT(strstr(err.message, "cannot compile the guest") != NULL);
    eryx_config_free(cfg);
    free(stamp);
    scratch_free(&s);
}

/* A new file of `size` bytes that takes no room (sparse). */
static int
truncate_new(const char *path, off_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int rc = ftruncate(fd, size);
    close(fd);
    return rc;
}

ERYX_TEST(the_cache_is_reused_and_stale_or_surplus_files_are_pruned)
{
    scratch s;
    scratch_new(&s, NULL); /* nothing precompiled: the cache is used */
    ASSERT_EQ(mkdir(s.cache, 0755), 0);
    char stale[256], fresh[256];
    snprintf(stale, sizeof stale, "%s/runtime-0000000000000001.cwasm", s.cache);
    snprintf(fresh, sizeof fresh, "%s/runtime-0000000000000002.cwasm", s.cache);
    FILE *f = fopen(stale, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    f = fopen(fresh, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    char stale_stamp[256];
    snprintf(stale_stamp, sizeof stale_stamp, "%s/source-0000000000000001",
             s.cache);
    f = fopen(stale_stamp, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    struct timespec old[2] = {{0, UTIME_OMIT}, {time(NULL) - 2 * 86400, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, stale, old, 0), 0);
    ASSERT_EQ(utimensat(AT_FDCWD, stale_stamp, old, 0), 0);
    /* Two compiled images of 600 MB (sparse), written an hour apart today:
       with the new guest's file they pass the cache's 1 GiB, and the older
       goes. */
    char older[256], newer[256];
    snprintf(older, sizeof older, "%s/image-0000000000000003.cwasm", s.cache);
    snprintf(newer, sizeof newer, "%s/image-0000000000000004.cwasm", s.cache);
    ASSERT_EQ(truncate_new(older, 600L << 20), 0);
    ASSERT_EQ(truncate_new(newer, 600L << 20), 0);
    struct timespec hours[2] = {{0, UTIME_OMIT}, {time(NULL) - 7200, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, older, hours, 0), 0);
    hours[1].tv_sec += 3600;
    ASSERT_EQ(utimensat(AT_FDCWD, newer, hours, 0), 0);
    eryx_engine *first = engine_for(s.wasm, s.cache); /* compiles, prunes */
    expect_info(first, "compiled ", NULL);
    ASSERT(access(stale, F_OK) != 0);
    ASSERT(access(stale_stamp, F_OK) != 0);
    ASSERT(access(older, F_OK) != 0);
    ASSERT_EQ(access(newer, F_OK), 0);
    ASSERT_EQ(unlink(newer), 0);
    ASSERT_EQ(access(fresh, F_OK), 0);
    ASSERT_EQ(unlink(fresh), 0);
    char *file = cached_file(s.cache);
    ASSERT_NOT_NULL(file);
    struct stat before, after;
    ASSERT_EQ(stat(file, &before), 0);
    /* A second engine maps the file, leaving it be. */
    eryx_engine *second = engine_for(s.wasm, s.cache);
    expect_info(second, "cached ", file);
    ASSERT_EQ(stat(file, &after), 0);
    ASSERT_EQ(before.st_ino, after.st_ino);
    ASSERT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    expect_prints(second);
    eryx_engine_free(second);
    eryx_engine_free(first);
    free(file);
    scratch_free(&s);
}

ERYX_TEST(cache_can_be_turned_off)
{
    scratch s;
    scratch_new(&s, NULL);
    ASSERT_EQ(setenv("ERYX_CACHE", s.cache, 1), 0);
    eryx_engine *eng = engine_for(s.wasm, "");
    expect_info(eng, "compiled ", NULL);
    expect_prints(eng);
    eryx_engine_free(eng);
    ASSERT_NULL(cached_file(s.cache));
    scratch_free(&s);
}

/* The first fuel-metered execute of an engine whose fuel variant is in no
   file: it compiles the guest, which takes seconds. */
static int fuel_done; /* atomic */

static void *
first_fuel_execute(void *arg)
{
    eryx_config *cfg = NULL;
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_fuel(cfg, 1000000000, NULL), ERYX_OK);
    ASSERT_EQ(eryx_sandbox_new(arg, cfg, &sb, NULL), ERYX_OK);
    ASSERT_EQ(eryx_sandbox_execute(sb, "print(1)", 8, &r, NULL), ERYX_OK);
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
    __atomic_store_n(&fuel_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Compiling the fuel variant once held the engine's lock, which the epoch
   ticker needs: every running sandbox's timeout stalled until the compile
   ended.  Now a 300 ms timeout stops `while True: pass` on time while the
   compile runs in another thread. */
ERYX_TEST(deadlines_hold_while_the_fuel_variant_compiles)
{
    scratch s;
    scratch_new(&s, built_cwasm); /* no fuel file, and no cache below */
    eryx_engine *eng = engine_for(s.wasm, "");
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, first_fuel_execute, eng), 0);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL); /* the compile is under way */
    eryx_config *cfg = NULL;
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_timeout_ms(cfg, 300, NULL), ERYX_OK);
    ASSERT_EQ(eryx_sandbox_new(eng, cfg, &sb, NULL), ERYX_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ASSERT_EQ(eryx_sandbox_execute(sb, "while True: pass", 16, &r, NULL),
              ERYX_E_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int compiled = __atomic_load_n(&fuel_done, __ATOMIC_ACQUIRE);
    double took = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* Generous: on time means well before the compile (seconds) ends. */
    if (compiled)
        ERYX_TEST_FAIL_("the compile ended before the timeout was checked "
                        "(%.2f s): the test proved nothing",
                        took);
    ASSERT(took < 1.5);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_EQ(__atomic_load_n(&fuel_done, __ATOMIC_ACQUIRE), 1);
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    eryx_config_free(cfg);
    eryx_engine_free(eng);
    scratch_free(&s);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(the_builds_precompiled_guest_is_mapped_by_default),
        ERYX_TEST_ENTRY(a_copied_pair_keeps_working_and_fuel_uses_its_own_file),
        ERYX_TEST_ENTRY(precompile_writes_the_file_engines_then_map),
        ERYX_TEST_ENTRY(
            corrupt_stale_and_foreign_files_are_passed_over_not_trusted),
        ERYX_TEST_ENTRY(
            the_guests_stamped_sum_is_used_only_while_the_file_is_unchanged),
        ERYX_TEST_ENTRY(
            the_cache_is_reused_and_stale_or_surplus_files_are_pruned),
        ERYX_TEST_ENTRY(cache_can_be_turned_off),
        ERYX_TEST_ENTRY(deadlines_hold_while_the_fuel_variant_compiles),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
