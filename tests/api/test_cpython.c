/*
** test_cpython.c: the guest behaves like CPython where ordinary code
** notices (issue 10's defects, each with its case): text is UTF-8 as under
** native CPython, and the stdlib is loaded from its files, so modules have
** __file__, inspect finds their source and tracebacks show their lines;
** the standard event loops can be made.
*/
#include "sandbox_fixture.h"

/* It was ASCII: reading the stdlib's own UTF-8 files raised
   UnicodeDecodeError. */
ERYX_TEST(text_is_utf8)
{
    run_expect("import sys, locale\n"
               "print(sys.flags.utf8_mode, sys.getfilesystemencoding(),\n"
               "      locale.getpreferredencoding(False))\n"
               "text = open(locale.__file__).read()\n"
               "print(len(text) > 1000, '\\u00e9'.encode() == b'\\xc3\\xa9')\n",
               "1 utf-8 utf-8\nTrue True\n");
}

/* Frozen stdlib modules had no __file__ and sys._stdlib_dir was None. */
ERYX_TEST(stdlib_modules_have_their_files)
{
    run_expect("import os, sys, abc, inspect, posixpath\n"
               "print(os.__file__, sys._stdlib_dir)\n"
               "print('class ABCMeta' in inspect.getsource(abc.ABCMeta))\n"
               "print(posixpath.__file__.endswith('posixpath.py'))\n",
               "/lib/python" ERYX_TEST_PY_MM
               "/os.py /lib/python" ERYX_TEST_PY_MM "\nTrue\nTrue\n");
}

ERYX_TEST(tracebacks_through_the_stdlib_show_source_lines)
{
    eryx_result *r = run("import posixpath\nposixpath.join(1, 2)\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    const char *tb = eryx_result_error(r, NULL);
    ASSERT_CONTAINS(tb, "File \"/lib/python" ERYX_TEST_PY_MM "/posixpath.py\"");
    ASSERT_CONTAINS(tb, "    a = os.fspath(a)\n");
    ASSERT(strstr(tb, "<frozen") == NULL);
    eryx_result_free(r);
}

/* asyncio.EventLoop() and SelectorEventLoop() failed with OSError(58): no
   socketpair for their self-pipe.  Now they work, and wait on host calls
   like the loop of top-level await. */
ERYX_TEST(the_standard_event_loops_work)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(cfg, "echo", "", NULL, echo_handler,
                                       NULL, NULL, NULL),
              ERYX_OK);
    eryx_result *r = run_with(
        cfg, "import asyncio\n"
             "async def main(n):\n"
             "    await asyncio.sleep(0.01)\n"
             "    got = await asyncio.gather(echo(v=n), invoke('echo', v=n))\n"
             "    return got[0]['v'] + got[1]['v']\n"
             "print(asyncio.run(main(1), loop_factory=asyncio.EventLoop))\n"
             "loop = asyncio.SelectorEventLoop()\n"
             "print(loop.run_until_complete(main(2)))\n"
             "loop.close()\n"
             "with asyncio.Runner(loop_factory=asyncio.new_event_loop) as r:\n"
             "    print(r.run(main(3)))\n"
             "print(asyncio.run(main(4)))\n");
    if (eryx_result_status(r) != ERYX_OK)
        ERYX_TEST_FAIL_("%s", eryx_result_error(r, NULL));
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL), "2\n4\n6\n8\n");
    eryx_result_free(r);
    eryx_config_free(cfg);
}

/* Missing pieces that ordinary code uses: FTS3/FTS4 and R*Tree in sqlite
   (built now with Debian's sqlite options), time-zone data for zoneinfo
   (the tzdata package), locale.setlocale with any name, time.tzset. */
ERYX_TEST(sqlite_zoneinfo_locale_and_tzset)
{
    run_expect(
        "import sqlite3\n"
        "c = sqlite3.connect(':memory:')\n"
        "for m in ('fts3', 'fts4', 'fts5'):\n"
        "    c.execute(f'create virtual table {m}_t using {m}(body)')\n"
        "    c.execute(f'insert into {m}_t values (?)', ('hello world',))\n"
        "    n = c.execute(f'select count(*) from {m}_t where {m}_t match ?',\n"
        "                  ('hello',)).fetchone()[0]\n"
        "    print(m, n)\n"
        "c.execute('create virtual table r using rtree(id, a, b)')\n"
        "import zoneinfo, datetime\n"
        "paris = zoneinfo.ZoneInfo('Europe/Paris')\n"
        "print(datetime.datetime(2026, 7, 1, tzinfo=paris).utcoffset(),\n"
        "      datetime.datetime(2026, 1, 1, tzinfo=paris).utcoffset())\n"
        "print(len(zoneinfo.available_timezones()) > 400)\n"
        "import locale, time\n"
        "print(locale.setlocale(locale.LC_ALL, 'en_US.UTF-8'))\n"
        "print(locale.getpreferredencoding(False))\n"
        "time.tzset()\n"
        "print(time.tzname, time.localtime(0).tm_hour)\n",
        "fts3 1\nfts4 1\nfts5 1\n2:00:00 1:00:00\nTrue\nen_US.UTF-8\nutf-8\n"
        "('UTC', 'UTC') 0\n");
}

/* Local time followed no TZ: WASI's C library answered UTC for every
   zone, so time.tzset could not work.  guest/tz.c gives it POSIX rules and
   zone names (from the tzdata package); a bad or hostile TZ means UTC. */
ERYX_TEST(local_time_follows_tz)
{
    run_expect(
        "import os, time, datetime\n"
        "xmas = 1040774400\n"
        "def show(tz):\n"
        "    os.environ['TZ'] = tz\n"
        "    time.tzset()\n"
        "    lt = time.localtime(xmas)\n"
        "    print(time.tzname, time.timezone, time.altzone, time.daylight,\n"
        "          lt.tm_hour, lt.tm_isdst, time.strftime('%Z %z', lt),\n"
        "          time.mktime(lt) == xmas)\n"
        "for tz in ('EST+05EDT,M4.1.0,M10.5.0', "
        "'AEST-10AEDT-11,M10.5.0,M3.5.0',\n"
        "           'Europe/Kyiv', ':Asia/Tokyo', '<+0330>-3:30', 'UTC+0',\n"
        "           'No/Such_Zone', '../../../etc/passwd', 'X' * 5000, ''):\n"
        "    show(tz)\n"
        "os.environ['TZ'] = 'America/New_York'\n"
        "time.tzset()\n"
        "print(datetime.datetime(2024, 7, 1, 12).astimezone(),\n"
        "      time.localtime(4e9).tm_zone)\n"
        "del os.environ['TZ']\n"
        "time.tzset()\n"
        "print(time.tzname, time.localtime(0).tm_hour)\n",
        "('EST', 'EDT') 18000 14400 1 19 0 EST -0500 True\n"
        "('AEST', 'AEDT') -36000 -39600 1 11 1 AEDT +1100 True\n"
        "('EET', 'EEST') -7200 -10800 1 2 0 EET +0200 True\n"
        "('JST', 'JST') -32400 -32400 0 9 0 JST +0900 True\n"
        "('+0330', '+0330') -12600 -12600 0 3 0 +0330 +0330 True\n"
        "('UTC', 'UTC') 0 0 0 0 0 UTC +0000 True\n"
        "('UTC', 'UTC') 0 0 0 0 0 UTC +0000 True\n"
        "('UTC', 'UTC') 0 0 0 0 0 UTC +0000 True\n"
        "('UTC', 'UTC') 0 0 0 0 0 UTC +0000 True\n"
        "('UTC', 'UTC') 0 0 0 0 0 UTC +0000 True\n"
        "2024-07-01 12:00:00-04:00 EDT\n"
        "('UTC', 'UTC') 0\n");
}

/* There was no _uuid module (WASI has no libuuid).  CPython's own
   _uuidmodule.c now runs over guest/uuid.c: version-1 UUIDs, unique and
   time-ordered within a sandbox, with a random node that differs between
   sandboxes (it must not be baked into the pre-initialized image). */
ERYX_TEST(uuid_module_is_built)
{
    static const char code[] =
        "import uuid, _uuid\n"
        "a = [uuid.uuid1() for _ in range(2000)]\n"
        "print(len(set(a)), a[0].version, a[0].variant == uuid.RFC_4122,\n"
        "      a[0].is_safe, sorted(a, key=lambda u: u.time) == a,\n"
        "      all(u.node == a[0].node for u in a), a[0].node >> 40 & 1,\n"
        "      _uuid.has_stable_extractable_node)\n"
        "print('node', a[0].node)\n";
    char first[64] = "";
    for (int i = 0; i < 2; i++) {
        eryx_result *r = run(code);
        if (eryx_result_status(r) != ERYX_OK)
            ERYX_TEST_FAIL_("%s", eryx_result_error(r, NULL));
        const char *out = eryx_result_stdout(r, NULL);
        ASSERT_CONTAINS(out, "2000 1 True SafeUUID.unknown True True 1 0\n");
        const char *node = strstr(out, "node ");
        ASSERT_NOT_NULL(node);
        if (i == 0)
            snprintf(first, sizeof first, "%s", node);
        else
            ASSERT(strcmp(first, node) != 0);
        eryx_result_free(r);
    }
}

/* hashlib had no OpenSSL backend: no pbkdf2_hmac (pure Python's was
   removed in 3.12), no scrypt.  libcrypto is now built in; the values are
   RFC 6070-style and RFC 7914 vectors. */
ERYX_TEST(hashlib_has_openssl)
{
    run_expect(
        "import hashlib\n"
        "print(hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 1).hex())\n"
        "print(hashlib.scrypt(b'password', salt=b'NaCl', n=1024, r=8, p=16,\n"
        "                     dklen=64).hex()[:32])\n"
        "print(type(hashlib.new('md5')).__module__,\n"
        "      hashlib.new('ripemd160', b'').hexdigest()[:8])\n"
        "try:\n"
        "    hashlib.scrypt(b'p', salt=b's', n=3, r=8, p=1)\n"
        "except ValueError as e:\n"
        "    print('ValueError')\n",
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b\n"
        "fdbabe1c9d3472007856e7190d01e9fe\n"
        "_hashlib 9c1185a5\nValueError\n");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(text_is_utf8),
        ERYX_TEST_ENTRY(stdlib_modules_have_their_files),
        ERYX_TEST_ENTRY(tracebacks_through_the_stdlib_show_source_lines),
        ERYX_TEST_ENTRY(the_standard_event_loops_work),
        ERYX_TEST_ENTRY(sqlite_zoneinfo_locale_and_tzset),
        ERYX_TEST_ENTRY(local_time_follows_tz),
        ERYX_TEST_ENTRY(uuid_module_is_built),
        ERYX_TEST_ENTRY(hashlib_has_openssl),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
