/*
** test_engine.c: the engine's compiled-code cache: written once, reused
** by the next engine, and a corrupt or foreign file is replaced, never
** trusted.
*/
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_fixture.h"

/* The one .cwasm file in `dir`, as a new path. */
static char *
cached_file(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_NOT_NULL(d);
    char *found = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 6 && strcmp(e->d_name + n - 6, ".cwasm") == 0) {
            ASSERT_NULL(found);
            found = malloc(strlen(dir) + n + 2);
            sprintf(found, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return found;
}

static eryx_engine *
engine_with_cache(const char *dir)
{
    eryx_config *cfg = NULL;
    eryx_engine *eng = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_cache_dir(cfg, dir, NULL), ERYX_OK);
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

ERYX_TEST(compiled_code_is_cached_and_reused_by_the_next_engine)
{
    char dir[] = "/tmp/eryx-cache-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    eryx_engine *first = engine_with_cache(dir);
    char *file = cached_file(dir);
    ASSERT_NOT_NULL(file);
    struct stat before, after;
    ASSERT_EQ(stat(file, &before), 0);
    /* A second engine in the same process loads the file, leaving it be. */
    eryx_engine *second = engine_with_cache(dir);
    ASSERT_EQ(stat(file, &after), 0);
    ASSERT_EQ(before.st_ino, after.st_ino);
    ASSERT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    expect_prints(second);
    eryx_engine_free(second);
    eryx_engine_free(first);
    unlink(file);
    rmdir(dir);
    free(file);
}

ERYX_TEST(corrupt_cache_file_is_replaced_not_trusted)
{
    char dir[] = "/tmp/eryx-cache-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    eryx_engine_free(engine_with_cache(dir));
    char *file = cached_file(dir);
    ASSERT_NOT_NULL(file);
    FILE *f = fopen(file, "wb");
    ASSERT_NOT_NULL(f);
    fputs("\x7f"
          "ELF this is not a compiled module",
          f);
    fclose(f);
    eryx_engine *eng = engine_with_cache(dir);
    expect_prints(eng);
    eryx_engine_free(eng);
    struct stat st;
    ASSERT_EQ(stat(file, &st), 0);
    ASSERT(st.st_size > 1000000); /* rewritten with real compiled code */
    unlink(file);
    rmdir(dir);
    free(file);
}

ERYX_TEST(stale_cache_files_are_pruned_fresh_ones_kept)
{
    char dir[] = "/tmp/eryx-cache-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char stale[512], fresh[512];
    snprintf(stale, sizeof stale, "%s/runtime-0000000000000001.cwasm", dir);
    snprintf(fresh, sizeof fresh, "%s/runtime-0000000000000002.cwasm", dir);
    FILE *f = fopen(stale, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    f = fopen(fresh, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    struct timespec old[2] = {{0, UTIME_OMIT}, {time(NULL) - 2 * 86400, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, stale, old, 0), 0);
    eryx_engine_free(engine_with_cache(dir)); /* compiles, writes, prunes */
    ASSERT(access(stale, F_OK) != 0);
    ASSERT_EQ(access(fresh, F_OK), 0);
    unlink(fresh);
    char *file = cached_file(dir);
    ASSERT_NOT_NULL(file);
    unlink(file);
    free(file);
    rmdir(dir);
}

ERYX_TEST(cache_can_be_turned_off)
{
    char dir[] = "/tmp/eryx-cache-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    ASSERT_EQ(setenv("ERYX_CACHE", dir, 1), 0);
    eryx_engine *eng = engine_with_cache("");
    expect_prints(eng);
    eryx_engine_free(eng);
    char *file = cached_file(dir);
    ASSERT_NULL(file);
    rmdir(dir);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(compiled_code_is_cached_and_reused_by_the_next_engine),
        ERYX_TEST_ENTRY(corrupt_cache_file_is_replaced_not_trusted),
        ERYX_TEST_ENTRY(stale_cache_files_are_pruned_fresh_ones_kept),
        ERYX_TEST_ENTRY(cache_can_be_turned_off),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
