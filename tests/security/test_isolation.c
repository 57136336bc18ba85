/*
** test_isolation.c: what the guest must not reach on the host.  Each case
** names the threat it covers (docs/security.md lists them).
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_fixture.h"

/* T1: reading host files by absolute path. */
ERYX_TEST(host_files_cannot_be_read)
{
    run_expect(
        "for p in ('/etc/passwd', '/proc/self/environ', '/root', '/tmp/x'):\n"
        "    try:\n"
        "        open(p).read()\n"
        "        print('READ', p)\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n",
        "FileNotFoundError\nFileNotFoundError\nFileNotFoundError\n"
        "FileNotFoundError\n");
}

/* T2: the stdlib mount is read-only and has no way up. */
ERYX_TEST(stdlib_mount_is_read_only_and_closed_above)
{
    run_expect("import errno, os, sys\nlib = sys.path[0]\nprint(lib)\n"
               "try:\n    open(lib + '/evil.py', 'w')\nexcept OSError as e:\n"
               "    print('write', errno.errorcode[e.errno])\n"
               "print('up', sorted(os.listdir(lib + '/../../..')))\n",
               "/lib/python" ERYX_TEST_PY_MM "\nwrite EROFS\n"
               "up ['data', 'lib', 'tmp']\n");
}

/* T3: host environment variables and arguments leaking in. */
ERYX_TEST(host_environment_and_argv_are_invisible)
{
    setenv("ERYX_TEST_SECRET", "hunter2", 1);
    run_expect("import os, sys\nprint(dict(os.environ))\n"
               "print('hunter2' in repr(sys.argv) + repr(sys.orig_argv))",
               "{}\nFalse\n");
}

/* T4: network access.  create_connection fails before any socket exists
   (WASI preview 1 has no getaddrinfo), and a raw socket cannot be made. */
ERYX_TEST(sockets_cannot_connect)
{
    run_expect("import errno, socket\n"
               "try:\n"
               "    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
               "    print('CONNECTED')\n"
               "except Exception as e:\n"
               "    print('blocked', type(e).__name__)\n"
               "try:\n"
               "    socket.socket().connect(('127.0.0.1', 22))\n"
               "    print('CONNECTED')\n"
               "except OSError as e:\n"
               "    print('blocked', e.errno == errno.EACCES, e)\n",
               "blocked PermissionError\nblocked True [Errno 2] the sandbox "
               "has no network (no network policy is set)\n");
}

/* T5: processes. */
ERYX_TEST(subprocesses_cannot_start)
{
    run_expect(
        "import os\n"
        "try:\n    os.system('true')\n    print('RAN')\n"
        "except (OSError, AttributeError) as e:\n    print('no system')\n"
        "try:\n    import subprocess\n    subprocess.run(['true'])\n    "
        "print('RAN')\n"
        "except (OSError, ImportError, RuntimeError) as e:\n    print('no "
        "subprocess')\n",
        "no system\nno subprocess\n");
}

/* T6: a host file handle left open by initialization (it would be frozen
   into a pre-initialized snapshot).  Only stdio and the stdlib preopen may
   be open when user code starts. */
ERYX_TEST(no_stray_file_descriptors_after_initialization)
{
    run_expect("import os\nopen_fds = []\nfor fd in range(64):\n"
               "    try:\n        os.fstat(fd)\n        open_fds.append(fd)\n"
               "    except OSError:\n        pass\nprint(open_fds)\n",
               "[0, 1, 2, 3]\n");
}

/* T7: a guest that floods the host with callback starts and never reads
   the answers: the host's table stays bounded and the host unharmed. */
ERYX_TEST(callback_start_flood_is_bounded)
{
    run_expect("import _eryx_host\n"
               "for i in range(70000):\n"
               "    h = _eryx_host.start('nope', '{}')\n"
               "print(h)\n",
               "0\n");
}

/* T8: escapes from the stdlib mount by `..`, symlinks, O_CREAT, mkdir, and
   loading code from host paths; the host filesystem is checked after
   (the guest's /tmp is its own, in memory). */
ERYX_TEST(filesystem_escapes_fail_and_create_nothing)
{
    unlink("/tmp/eryx_pwned");
    run_expect(
        "import errno, os, sys, importlib.util\nlib = sys.path[0]\n"
        "def attempt(name, f):\n"
        "    try:\n        f()\n        print(name, 'ran')\n"
        "    except OSError as e:\n"
        "        print(name, errno.errorcode[e.errno])\n"
        "    except (ImportError, AttributeError) as e:\n"
        "        print(name, type(e).__name__)\n"
        "attempt('dotdot', lambda: open(lib + '/../../../etc/passwd').read())\n"
        "print('dotdot-list', sorted(os.listdir(lib + '/../../../..')))\n"
        "attempt('proc', lambda: open('/proc/self/environ').read())\n"
        "attempt('creat', lambda: os.open('/tmp/eryx_pwned', os.O_CREAT | "
        "os.O_WRONLY))\n"
        "attempt('creat-in-lib', lambda: os.open(lib + '/pwned', os.O_CREAT "
        "| os.O_WRONLY))\n"
        "attempt('mkdir', lambda: os.mkdir(lib + '/d'))\n"
        "attempt('symlink', lambda: os.symlink('/etc/passwd', lib + '/x'))\n"
        "attempt('rename', lambda: os.rename(lib + '/os.py', lib + '/o.py'))\n"
        "attempt('spec', lambda: importlib.util.spec_from_file_location("
        "'p', '/etc/passwd').loader)\n"
        "sys.path.insert(0, '/usr/lib/python3/dist-packages')\n"
        "attempt('import', lambda: __import__('apt'))\n",
        "dotdot ENOENT\ndotdot-list ['data', 'lib', 'tmp']\n"
        "proc ENOENT\ncreat ran\ncreat-in-lib EROFS\n"
        "mkdir EROFS\nsymlink EROFS\nrename EROFS\nspec AttributeError\n"
        "import ModuleNotFoundError\n");
    struct stat st;
    ASSERT(stat("/tmp/eryx_pwned", &st) != 0);
}

/* T8b: symlinks inside a mount that point out of it, absolute and
   relative, are not followed.  The stdlib is copied to a temporary
   directory, the links are planted there, and that copy is mounted. */
ERYX_TEST(symlinks_out_of_a_mount_are_not_followed)
{
    char dir[] = "/tmp/eryx-stdlib-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char cmd[1024], path[600];
    snprintf(cmd, sizeof cmd, "cp -r '%s/.' '%s' && chmod -R u+w '%s'",
             ERYX_TEST_STDLIB_DIR, dir, dir);
    ASSERT_EQ(system(cmd), 0);
    snprintf(path, sizeof path, "%s/passwd", dir);
    ASSERT_EQ(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof path, "%s/etc", dir);
    ASSERT_EQ(symlink("../../../../../../../../etc", path), 0);
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_stdlib_dir(cfg, dir, NULL), ERYX_OK);
    eryx_engine *eng = NULL;
    eryx_sandbox *sb = NULL;
    eryx_error err;
    if (eryx_engine_new(cfg, &eng, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("engine: %s", err.message);
    ASSERT_EQ(eryx_sandbox_new(eng, NULL, &sb, NULL), ERYX_OK);
    const char *code =
        "import os, sys\nlib = sys.path[0]\n"
        "print(os.path.islink(lib + '/passwd'), os.path.islink(lib + '/etc'))\n"
        "for p in ('/passwd', '/etc/passwd', '/etc'):\n"
        "    try:\n"
        "        f = open(lib + p) if p != '/etc' else os.listdir(lib + p)\n"
        "        print(p, 'FOLLOWED')\n"
        "    except OSError as e:\n        print(p, type(e).__name__)\n";
    eryx_result *r = NULL;
    eryx_sandbox_execute(sb, code, strlen(code), &r, NULL);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_STR_EQ(eryx_result_stdout(r, NULL),
                  "True True\n/passwd PermissionError\n"
                  "/etc/passwd PermissionError\n/etc PermissionError\n");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
    eryx_engine_free(eng);
    eryx_config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* T4b: HTTP and asyncio connections to a real listener on loopback, which
   must see no connection at all. */
ERYX_TEST(loopback_listener_receives_no_connection)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ASSERT_EQ(listen(fd, 4), 0);
    socklen_t alen = sizeof addr;
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
    char code[1024];
    snprintf(code, sizeof code,
             "import asyncio, urllib.request\n"
             "try:\n"
             "    urllib.request.urlopen('http://127.0.0.1:%d/', timeout=2)\n"
             "    print('CONNECTED')\n"
             "except Exception as e:\n    print('urllib', type(e).__name__)\n"
             "try:\n"
             "    await asyncio.open_connection('127.0.0.1', %d)\n"
             "    print('CONNECTED')\n"
             "except Exception as e:\n    print('asyncio', type(e).__name__)\n",
             ntohs(addr.sin_port), ntohs(addr.sin_port));
    eryx_result *r = run(code);
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT(strstr(eryx_result_stdout(r, NULL), "CONNECTED") == NULL);
    ASSERT_CONTAINS(eryx_result_stdout(r, NULL), "urllib ");
    ASSERT_CONTAINS(eryx_result_stdout(r, NULL), "asyncio ");
    eryx_result_free(r);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int c = accept(fd, NULL, NULL);
    ASSERT_EQ(c, -1); /* nothing ever knocked */
    ASSERT(errno == EAGAIN || errno == EWOULDBLOCK);
    close(fd);
}

/* T5b: processes, threads, signals and native code fail cleanly or are
   harmless (docs/security.md lists which). */
ERYX_TEST(processes_threads_signals_and_natives_are_contained)
{
    run_expect(
        "import os, signal, threading\n"
        "def attempt(name, f):\n"
        "    try:\n        f()\n        print(name, 'ran')\n"
        "    except Exception as e:\n        print(name, type(e).__name__)\n"
        "attempt('fork', lambda: os.fork())\n"
        "attempt('kill', lambda: os.kill(os.getpid(), 9))\n"
        "attempt('thread', lambda: threading.Thread(target=print).start())\n"
        "attempt('ctypes', lambda: __import__('ctypes'))\n"
        "attempt('signal', lambda: signal.signal(signal.SIGINT, "
        "signal.SIG_IGN))\n",
        "fork AttributeError\nkill AttributeError\nthread RuntimeError\n"
        "ctypes ModuleNotFoundError\nsignal ran\n");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(host_files_cannot_be_read),
        ERYX_TEST_ENTRY(stdlib_mount_is_read_only_and_closed_above),
        ERYX_TEST_ENTRY(host_environment_and_argv_are_invisible),
        ERYX_TEST_ENTRY(sockets_cannot_connect),
        ERYX_TEST_ENTRY(subprocesses_cannot_start),
        ERYX_TEST_ENTRY(no_stray_file_descriptors_after_initialization),
        ERYX_TEST_ENTRY(callback_start_flood_is_bounded),
        ERYX_TEST_ENTRY(filesystem_escapes_fail_and_create_nothing),
        ERYX_TEST_ENTRY(symlinks_out_of_a_mount_are_not_followed),
        ERYX_TEST_ENTRY(loopback_listener_receives_no_connection),
        ERYX_TEST_ENTRY(processes_threads_signals_and_natives_are_contained),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
