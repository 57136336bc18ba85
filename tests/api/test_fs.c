/*
** test_fs.c: the guest's filesystem: what the stdlib needs
** (tests/fs/stdlib_suite.py, the same assertions natively), lifetimes
** (a sandbox's /data is fresh every execute, a session's persists across
** executes and reset), the quota, storages shared, snapshotted, restored
** and forked, the data path, and bad input: deep directories, long and
** NUL paths, corrupt snapshots.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "sandbox_fixture.h"

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        ERYX_TEST_FAIL_("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ASSERT_NOT_NULL(buf);
    ASSERT_EQ(fread(buf, 1, (size_t)n, f), n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static eryx_config *
config(void)
{
    eryx_config *c = NULL;
    ASSERT_EQ(eryx_config_new(&c, NULL), ERYX_OK);
    return c;
}

static void
expect_ok(eryx_result *r, const char *out)
{
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("execute failed: %s", eryx_result_error(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), out);
    eryx_result_free(r);
}

ERYX_TEST(stdlib_suite)
{
    char *code = read_file(ERYX_TEST_SOURCE_DIR "/fs/stdlib_suite.py");
    eryx_result *r = run(code);
    free(code);
    expect_ok(r, "stdlib suite: 58 checks passed\n");
}

ERYX_TEST(layout_and_working_directory)
{
    run_expect("import os, sys, tempfile\n"
               "print(os.getcwd(), sorted(os.listdir('/')))\n"
               "print(os.listdir('.'), tempfile.gettempdir())\n"
               "print(os.path.isdir('/lib'), os.path.exists('/etc'))\n",
               "/data ['data', 'lib', 'tmp']\n[] /tmp\nTrue False\n");
}

ERYX_TEST(sandbox_data_is_fresh_every_execute)
{
    eryx_sandbox *sb = NULL;
    ASSERT_EQ(eryx_sandbox_new(test_engine(), NULL, &sb, NULL), ERYX_OK);
    const char *code = "import os\nprint(sorted(os.listdir('/data')), "
                       "sorted(os.listdir('/tmp')))\n"
                       "open('/data/a', 'w').write('x')\n"
                       "open('/tmp/b', 'w').write('y')\n";
    for (int i = 0; i < 2; i++) {
        eryx_result *r = NULL;
        eryx_sandbox_execute(sb, code, strlen(code), &r, NULL);
        expect_ok(r, "[] []\n");
    }
    eryx_sandbox_free(sb);
}

ERYX_TEST(session_keeps_files_across_executes_and_reset)
{
    eryx_session *ss = new_session(NULL);
    session_expect(ss,
                   "open('notes.txt', 'w').write('kept')\n"
                   "open('/tmp/t', 'w').write('tmp')\n",
                   "");
    session_expect(ss, "print(open('/data/notes.txt').read())", "kept\n");
    eryx_session_reset(ss);
    session_expect(ss,
                   "import os\nprint(os.getcwd(), open('notes.txt').read(), "
                   "open('/tmp/t').read())",
                   "/data kept tmp\n");
    eryx_session_free(ss);
}

ERYX_TEST(quota_stops_writes_with_enospc_and_loses_nothing)
{
    eryx_config *c = config();
    ASSERT_EQ(eryx_config_set_vfs_limit(c, 1u << 20, NULL), ERYX_OK);
    eryx_session *ss = new_session(c);
    session_expect(ss,
                   "import errno\n"
                   "open('keep', 'wb').write(b'k' * 300000)\n"
                   "try:\n"
                   "    with open('/tmp/big', 'wb') as f:\n"
                   "        f.write(b'x' * 2000000)\n"
                   "except OSError as e:\n"
                   "    print(errno.errorcode[e.errno])\n"
                   "try:\n"
                   "    open('/tmp/half', 'wb').write(b'y' * 800000)\n"
                   "except OSError as e:\n"
                   "    print('shared quota', errno.errorcode[e.errno])\n"
                   "print(open('keep', 'rb').read() == b'k' * 300000)\n"
                   "import os\nos.unlink('keep')\n"
                   "open('/tmp/half', 'wb').write(b'y' * 800000)\n"
                   "print('after freeing', os.path.getsize('/tmp/half'))\n",
                   "ENOSPC\nshared quota ENOSPC\nTrue\nafter freeing 800000\n");
    /* Many empty files cost too: a file-count bomb ends in ENOSPC. */
    session_expect(ss,
                   "import errno\nn = 0\n"
                   "try:\n"
                   "    while True:\n"
                   "        open(f'/tmp/e{n}', 'w').close()\n"
                   "        n += 1\n"
                   "except OSError as e:\n"
                   "    print(errno.errorcode[e.errno], n < 2000)\n",
                   "ENOSPC True\n");
    eryx_session_free(ss);
    eryx_config_free(c);
}

ERYX_TEST(data_path_is_configurable)
{
    eryx_config *c = config();
    ASSERT_EQ(eryx_config_set_data_path(c, "/work/space", NULL), ERYX_OK);
    eryx_result *r =
        run_with(c, "import os\nopen('f', 'w').write('1')\n"
                    "print(os.getcwd(), os.listdir('/work/space'), "
                    "sorted(os.listdir('/')), os.path.exists('/data'))\n");
    expect_ok(r, "/work/space ['f'] ['lib', 'tmp', 'work'] False\n");
    eryx_error err;
    ASSERT_EQ(eryx_config_set_data_path(c, "/tmp", &err), ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_set_data_path(c, "relative", &err),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_set_data_path(c, "/a/../b", &err),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx_config_set_data_path(c, "/", &err), ERYX_E_INVALID_ARG);
    eryx_config_free(c);
}

/* Two sessions share one storage from two threads: each sees the other's
   files, and nothing is lost to a race. */
static void *
writer(void *arg)
{
    eryx_session *ss = arg;
    const char *code = "import os\n"
                       "os.makedirs('shared', exist_ok=True)\n"
                       "for i in range(200):\n"
                       "    with open(f'shared/{me}-{i}', 'w') as f:\n"
                       "        f.write(str(i))\n"
                       "    with open('shared/log', 'a') as f:\n"
                       "        f.write('x')\n";
    eryx_result *r = NULL;
    eryx_session_execute(ss, code, strlen(code), &r, NULL);
    int ok = r != NULL && eryx_result_status(r) == ERYX_OK;
    eryx_result_free(r);
    return ok ? arg : NULL;
}

ERYX_TEST(a_storage_shared_by_sessions_on_two_threads)
{
    eryx_storage *st = NULL;
    ASSERT_EQ(eryx_storage_new(0, &st, NULL), ERYX_OK);
    eryx_config *c = config();
    ASSERT_EQ(eryx_config_set_storage(c, st, NULL), ERYX_OK);
    eryx_session *a = new_session(c), *b = new_session(c);
    session_expect(a, "me = 'a'", "");
    session_expect(b, "me = 'b'", "");
    pthread_t ta, tb;
    ASSERT_EQ(pthread_create(&ta, NULL, writer, a), 0);
    ASSERT_EQ(pthread_create(&tb, NULL, writer, b), 0);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    ASSERT(ra == a && rb == b);
    session_expect(a,
                   "import os\nprint(len(os.listdir('shared')), "
                   "len(open('shared/log').read()))",
                   "401 400\n");
    eryx_session_free(a);
    eryx_session_free(b);
    eryx_config_free(c);
    ASSERT(eryx_storage_used(st) > 400 * 256);
    eryx_storage_free(st);
}

ERYX_TEST(storage_snapshot_restore_and_fork)
{
    eryx_storage *st = NULL;
    ASSERT_EQ(eryx_storage_new(0, &st, NULL), ERYX_OK);
    eryx_config *c = config();
    ASSERT_EQ(eryx_config_set_storage(c, st, NULL), ERYX_OK);
    eryx_session *ss = new_session(c);
    session_expect(ss,
                   "import os\nos.makedirs('d/e')\n"
                   "open('d/e/f.bin', 'wb').write(bytes(range(256)) * 100)\n"
                   "os.symlink('d/e/f.bin', 'link')\n",
                   "");
    uint8_t *snap = NULL;
    size_t len = 0;
    ASSERT_EQ(eryx_storage_snapshot(st, &snap, &len, NULL), ERYX_OK);
    eryx_storage *fork = NULL;
    ASSERT_EQ(eryx_storage_fork(st, &fork, NULL), ERYX_OK);
    session_expect(ss, "import shutil\nshutil.rmtree('d')\n", "");
    /* The fork is independent: it still has the files. */
    eryx_config *fc = config();
    ASSERT_EQ(eryx_config_set_storage(fc, fork, NULL), ERYX_OK);
    eryx_result *r = run_with(fc, "print(len(open('d/e/f.bin', 'rb').read()), "
                                  "__import__('os').readlink('link'))");
    expect_ok(r, "25600 d/e/f.bin\n");
    /* Restore brings the files back into the live session's storage. */
    ASSERT_EQ(eryx_storage_restore(st, snap, len, NULL), ERYX_OK);
    session_expect(ss, "print(open('link', 'rb').read()[255:258])",
                   "b'\\xff\\x00\\x01'\n");
    /* Corrupt or foreign bytes are refused, and the storage is unchanged. */
    eryx_error err;
    snap[len / 2] ^= 1;
    ASSERT_EQ(eryx_storage_restore(st, snap, len, &err), ERYX_E_INVALID_INPUT);
    ASSERT_CONTAINS(err.message, "corrupt");
    ASSERT_EQ(eryx_storage_restore(st, snap, 10, &err), ERYX_E_INVALID_INPUT);
    ASSERT_EQ(eryx_storage_restore(st, (const uint8_t *)"not a snapshot at all",
                                   21, &err),
              ERYX_E_INVALID_INPUT);
    session_expect(ss, "import os\nprint(os.listdir('d/e'))", "['f.bin']\n");
    /* A snapshot larger than a storage's limit does not fit it. */
    snap[len / 2] ^= 1;
    eryx_storage *small = NULL;
    ASSERT_EQ(eryx_storage_new(4096, &small, NULL), ERYX_OK);
    ASSERT_EQ(eryx_storage_restore(small, snap, len, &err),
              ERYX_E_INVALID_INPUT);
    ASSERT_CONTAINS(err.message, "limit");
    ASSERT_EQ(eryx_storage_used(small), 0);
    eryx_storage_free(small);
    eryx_free(snap);
    eryx_session_free(ss);
    eryx_config_free(c);
    eryx_config_free(fc);
    eryx_storage_free(fork);
    eryx_storage_free(st);
}

ERYX_TEST(bad_paths_and_deep_trees_fail_cleanly)
{
    run_expect(
        "import errno, os\n"
        "def err(f):\n"
        "    try:\n        f()\n        return 'ok'\n"
        "    except (OSError, ValueError) as e:\n"
        "        return errno.errorcode.get(getattr(e, 'errno', None), "
        "type(e).__name__)\n"
        "print(err(lambda: open('a\\0b', 'w')))\n"
        "print(err(lambda: open('x' * 300, 'w')))\n"
        "print(err(lambda: open('/data/' + 'd/' * 3000 + 'f', 'w')))\n"
        /* 100,000 levels: each mkdir + chdir until the depth limit. */
        "n = 0\n"
        "try:\n"
        "    for n in range(100000):\n"
        "        os.mkdir('d')\n        os.chdir('d')\n"
        "except OSError as e:\n"
        "    print('deep', errno.errorcode[e.errno], n < 3000)\n"
        "os.chdir('/data')\n"
        "import shutil\nshutil.rmtree('d')\n"
        "print(os.listdir('.'))\n",
        "ValueError\nENAMETOOLONG\nENAMETOOLONG\ndeep ENAMETOOLONG True\n[]\n");
}

ERYX_TEST(a_session_image_carries_its_files)
{
    eryx_session *a = new_session(NULL);
    session_expect(a,
                   "import os\nos.mkdir('d')\n"
                   "open('d/f.txt', 'w').write('captured')\n"
                   "open('/tmp/t', 'w').write('tmp too')\n"
                   "handle = 7\n",
                   "");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    session_expect(a, "import os\nos.remove('d/f.txt')", "");
    uint8_t *bytes = NULL;
    size_t len = 0;
    ASSERT_EQ(eryx_image_serialize(img, &bytes, &len, NULL), ERYX_OK);
    eryx_image *back = NULL;
    ASSERT_EQ(eryx_image_deserialize(test_engine(), bytes, len, &back, NULL),
              ERYX_OK);
    const char *check = "print(handle, open('d/f.txt').read(), "
                        "open('/tmp/t').read())\n"
                        "open('d/f.txt', 'w').write('changed')\n";
    for (int i = 0; i < 2; i++) {
        /* Each session gets its own copy: the first one's change is not
           seen by the second. */
        eryx_session *b = NULL;
        ASSERT_EQ(eryx_session_new_from_image(test_engine(), NULL,
                                              i ? back : img, &b, NULL),
                  ERYX_OK);
        session_expect(b, check, "7 captured tmp too\n");
        eryx_session_free(b);
    }
    eryx_image_free(back);
    /* Bytes after the memory that are not intact files are refused. */
    eryx_error err;
    eryx_image *bad = NULL;
    bytes[len - 6] ^= 0x40;
    ASSERT_EQ(eryx_image_deserialize(test_engine(), bytes, len, &bad, &err),
              ERYX_E_INVALID_INPUT);
    ASSERT_EQ(eryx_image_deserialize(test_engine(), bytes, len - 3, &bad, &err),
              ERYX_E_INVALID_INPUT);
    ASSERT_NULL(bad);
    eryx_free(bytes);
    eryx_image_free(img);
    eryx_session_free(a);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(stdlib_suite),
        ERYX_TEST_ENTRY(layout_and_working_directory),
        ERYX_TEST_ENTRY(sandbox_data_is_fresh_every_execute),
        ERYX_TEST_ENTRY(session_keeps_files_across_executes_and_reset),
        ERYX_TEST_ENTRY(quota_stops_writes_with_enospc_and_loses_nothing),
        ERYX_TEST_ENTRY(data_path_is_configurable),
        ERYX_TEST_ENTRY(a_storage_shared_by_sessions_on_two_threads),
        ERYX_TEST_ENTRY(storage_snapshot_restore_and_fork),
        ERYX_TEST_ENTRY(bad_paths_and_deep_trees_fail_cleanly),
        ERYX_TEST_ENTRY(a_session_image_carries_its_files),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
