/*
** test_volumes.c: host directories and files mounted into the guest, and
** every way out of them the threat model lists (docs/security.md, V1-V7):
** `..`, symlinks planted before the run (absolute, relative, to a
** directory), symlinks and hard links made by the guest, renames across
** mounts, a host thread swapping a directory for a symlink during the run,
** and read-only enforcement.  Each test checks the host filesystem after.
*/
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_fixture.h"

/* A scratch tree: root/vol (the volume) and root/outside (must stay
   empty), with a file vol/in.txt. */
typedef struct scratch {
    char root[64], vol[96], outside[96];
} scratch;

static void
put(const char *dir, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

static void
scratch_make(scratch *s)
{
    strcpy(s->root, "/tmp/eryx-vol-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(s->root));
    snprintf(s->vol, sizeof s->vol, "%s/vol", s->root);
    snprintf(s->outside, sizeof s->outside, "%s/outside", s->root);
    ASSERT_EQ(mkdir(s->vol, 0755), 0);
    ASSERT_EQ(mkdir(s->outside, 0755), 0);
    put(s->vol, "in.txt", "inside");
    put(s->outside, "secret.txt", "SECRET");
}

/* Entries of `dir` besides "." and "..". */
static int
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void
scratch_check_and_remove(scratch *s)
{
    /* Nothing was written outside the volume. */
    ASSERT_EQ(count_entries(s->outside), 1);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->root);
    ASSERT_EQ(system(cmd), 0);
}

static eryx_config *
volume_config(const char *host, const char *guest, int ro)
{
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    eryx_error err;
    if (eryx_config_add_volume(c, host, guest, ro, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("add_volume: %s", err.message);
    return c;
}

static void
expect_with(eryx_config *c, const char *code, const char *out)
{
    eryx_result *r = run_with(c, code);
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("execute failed: %s", eryx_result_error(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), out);
    eryx_result_free(r);
}

static const char attempt_py[] =
    "import errno, os, shutil\n"
    "def attempt(name, f):\n"
    "    try:\n        r = f()\n        print(name, 'ok', r if r else '')\n"
    "    except OSError as e:\n"
    "        print(name, errno.errorcode.get(e.errno, e.errno))\n";

ERYX_TEST(read_only_volume_reads_and_refuses_every_change)
{
    scratch s;
    scratch_make(&s);
    eryx_config *c = volume_config(s.vol, "/mnt/in", 1);
    char code[2048];
    snprintf(code, sizeof code,
             "%s"
             "attempt('read', lambda: open('/mnt/in/in.txt').read())\n"
             "attempt('list', lambda: sorted(os.listdir('/mnt')))\n"
             "attempt('write', lambda: open('/mnt/in/in.txt', 'a'))\n"
             "attempt('create', lambda: open('/mnt/in/new', 'w'))\n"
             "attempt('mkdir', lambda: os.mkdir('/mnt/in/d'))\n"
             "attempt('unlink', lambda: os.unlink('/mnt/in/in.txt'))\n"
             "attempt('rename', lambda: os.rename('/mnt/in/in.txt', "
             "'/mnt/in/x'))\n"
             "attempt('utime', lambda: os.utime('/mnt/in/in.txt', (1, 1)))\n"
             "attempt('truncate', lambda: os.truncate('/mnt/in/in.txt', 0))\n",
             attempt_py);
    expect_with(c, code,
                "read ok inside\nlist ok ['in']\nwrite EROFS\ncreate EROFS\n"
                "mkdir EROFS\nunlink EROFS\nrename EROFS\nutime EROFS\n"
                "truncate EROFS\n");
    char *text = NULL;
    size_t n = 0;
    char p[160];
    snprintf(p, sizeof p, "%s/in.txt", s.vol);
    FILE *f = fopen(p, "r");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(getline(&text, &n, f), 6);
    ASSERT_STR_EQ(text, "inside");
    free(text);
    fclose(f);
    ASSERT_EQ(count_entries(s.vol), 1);
    eryx_config_free(c);
    scratch_check_and_remove(&s);
}

ERYX_TEST(read_write_volume_lands_on_the_host)
{
    scratch s;
    scratch_make(&s);
    eryx_config *c = volume_config(s.vol, "/work", 0);
    char code[2048];
    snprintf(code, sizeof code,
             "%s"
             "os.makedirs('/work/out/sub')\n"
             "open('/work/out/sub/r.txt', 'w').write('from the guest')\n"
             "os.rename('/work/in.txt', '/work/out/moved.txt')\n"
             "attempt('symlink', lambda: os.symlink('/etc/passwd', "
             "'/work/l'))\n"
             "attempt('link', lambda: os.link('/work/out/moved.txt', "
             "'/work/h'))\n"
             "attempt('rename-out', lambda: os.rename('/work/out/moved.txt', "
             "'/data/m'))\n"
             "attempt('move', lambda: shutil.move('/work/out/sub/r.txt', "
             "'/data/r.txt'))\n"
             "attempt('rmroot', lambda: os.rmdir('/work'))\n"
             "print(sorted(os.listdir('/work/out')))\n",
             attempt_py);
    expect_with(c, code,
                "symlink EPERM\nlink EPERM\nrename-out EXDEV\n"
                "move ok /data/r.txt\nrmroot EBUSY\n['moved.txt', 'sub']\n");
    char p[200];
    snprintf(p, sizeof p, "%s/out/moved.txt", s.vol);
    struct stat st;
    ASSERT_EQ(stat(p, &st), 0);
    ASSERT_EQ(st.st_size, 6);
    snprintf(p, sizeof p, "%s/out/sub/r.txt", s.vol);
    ASSERT(stat(p, &st) != 0); /* moved into the guest's /data */
    snprintf(p, sizeof p, "%s/l", s.vol);
    ASSERT(lstat(p, &st) != 0);
    eryx_config_free(c);
    scratch_check_and_remove(&s);
}

ERYX_TEST(symlinks_planted_before_the_run_do_not_lead_out)
{
    scratch s;
    scratch_make(&s);
    char p[200], target[200];
    snprintf(p, sizeof p, "%s/abs", s.vol);
    snprintf(target, sizeof target, "%s/secret.txt", s.outside);
    ASSERT_EQ(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/rel", s.vol);
    ASSERT_EQ(symlink("../outside/secret.txt", p), 0);
    snprintf(p, sizeof p, "%s/dir", s.vol);
    ASSERT_EQ(symlink("../outside", p), 0);
    snprintf(p, sizeof p, "%s/up", s.vol);
    ASSERT_EQ(symlink("..", p), 0);
    snprintf(p, sizeof p, "%s/ok", s.vol);
    ASSERT_EQ(symlink("in.txt", p), 0); /* inside: followed */
    eryx_config *c = volume_config(s.vol, "/v", 0);
    char code[2048];
    snprintf(code, sizeof code,
             "%s"
             "attempt('abs', lambda: open('/v/abs').read())\n"
             "attempt('rel', lambda: open('/v/rel').read())\n"
             "attempt('dir-list', lambda: os.listdir('/v/dir'))\n"
             "attempt('dir-write', lambda: open('/v/dir/new', 'w'))\n"
             "attempt('up', lambda: os.listdir('/v/up/outside'))\n"
             "attempt('dotdot', lambda: os.listdir('/v/../outside'))\n"
             "attempt('ok', lambda: open('/v/ok').read())\n"
             "attempt('lstat', lambda: os.path.islink('/v/abs'))\n",
             attempt_py);
    expect_with(c, code,
                "abs EACCES\nrel EACCES\ndir-list EACCES\ndir-write EACCES\n"
                "up EACCES\ndotdot ENOENT\nok ok inside\nlstat ok True\n");
    eryx_config_free(c);
    scratch_check_and_remove(&s);
}

/* A host thread swaps vol/swap between a directory and a symlink to the
   outside while the guest writes into it as fast as it can. */
typedef struct swapper {
    const scratch *s;
    int stop; /* atomic */
} swapper;

static void *
swap_loop(void *arg)
{
    swapper *w = arg;
    char p[200], tmp[200];
    snprintf(p, sizeof p, "%s/swap", w->s->vol);
    snprintf(tmp, sizeof tmp, "%s/swap.tmp", w->s->vol);
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        (void)symlink(w->s->outside, tmp);
        (void)rename(tmp, p); /* now a symlink */
        (void)unlink(p);
        (void)mkdir(p, 0755); /* now a directory */
        char cmd[300];
        snprintf(cmd, sizeof cmd, "%s/swap", w->s->vol);
        (void)rmdir(cmd); /* fails while the guest's file is in it */
    }
    return NULL;
}

ERYX_TEST(a_directory_swapped_for_a_symlink_during_the_run)
{
    scratch s;
    scratch_make(&s);
    eryx_config *c = volume_config(s.vol, "/v", 0);
    swapper w = {&s, 0};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, swap_loop, &w), 0);
    eryx_result *r = run_with(c, "import os\nn = 0\n"
                                 "for i in range(3000):\n"
                                 "    try:\n"
                                 "        open(f'/v/swap/f{i}', 'w').close()\n"
                                 "        n += 1\n"
                                 "    except OSError:\n"
                                 "        pass\n"
                                 "print('done')\n");
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    eryx_result_free(r);
    eryx_config_free(c);
    scratch_check_and_remove(&s); /* outside/ still holds only secret.txt */
}

ERYX_TEST(a_single_file_volume)
{
    scratch s;
    scratch_make(&s);
    char p[200];
    snprintf(p, sizeof p, "%s/in.txt", s.vol);
    eryx_config *c = volume_config(p, "/etc/config.txt", 0);
    char code[2048];
    snprintf(code, sizeof code,
             "%s"
             "attempt('read', lambda: open('/etc/config.txt').read())\n"
             "attempt('list', lambda: os.listdir('/etc'))\n"
             "attempt('below', lambda: open('/etc/config.txt/x'))\n"
             "attempt('sibling', lambda: open('/etc/secret.txt'))\n"
             "with open('/etc/config.txt', 'a') as f:\n"
             "    f.write('+more')\n",
             attempt_py);
    expect_with(c, code,
                "read ok inside\nlist ok ['config.txt']\nbelow ENOTDIR\n"
                "sibling ENOENT\n");
    FILE *f = fopen(p, "r");
    char buf[64] = {0};
    ASSERT_NOT_NULL(f);
    ASSERT(fgets(buf, sizeof buf, f) != NULL);
    fclose(f);
    ASSERT_STR_EQ(buf, "inside+more");
    eryx_config_free(c);
    scratch_check_and_remove(&s);
}

ERYX_TEST(bad_volume_configurations_are_refused)
{
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    eryx_error err;
    ASSERT_EQ(eryx_config_add_volume(c, "/tmp", "relative", 1, &err),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_add_volume(c, "/tmp", "/a/../b", 1, &err),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_add_volume(c, "/tmp", "/data", 1, &err),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_add_volume(c, "/tmp", "/lib/x", 1, &err),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_add_volume(c, "/tmp", "/", 1, &err),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_add_volume(c, "/nonexistent-eryx", "/m", 1, &err),
              ERYX_OK);
    eryx_result *r = run_with(c, "print(1)");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_IO);
    ASSERT_CONTAINS(eryx_result_error(r, NULL), "/nonexistent-eryx");
    eryx_result_free(r);
    eryx_config_free(c);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(read_only_volume_reads_and_refuses_every_change),
        ERYX_TEST_ENTRY(read_write_volume_lands_on_the_host),
        ERYX_TEST_ENTRY(symlinks_planted_before_the_run_do_not_lead_out),
        ERYX_TEST_ENTRY(a_directory_swapped_for_a_symlink_during_the_run),
        ERYX_TEST_ENTRY(a_single_file_volume),
        ERYX_TEST_ENTRY(bad_volume_configurations_are_refused),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
