/*
** test_isolation.c: what the guest must not reach on the host.  Each case
** names the threat it covers (docs/security.md lists them).
*/
#include <stdlib.h>

#include "sandbox_fixture.h"

/* T1: reading host files by absolute path. */
ERYX_TEST(host_files_cannot_be_read)
{
    run_expect(
        "for p in ('/etc/passwd', '/proc/self/environ', '/root', '/tmp'):\n"
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
    run_expect(
        "import os, sys\nlib = sys.path[0]\nprint(lib)\n"
        "try:\n    open(lib + '/evil.py', 'w')\nexcept OSError as e:\n"
        "    print('write', type(e).__name__)\n"
        "try:\n    print(os.listdir(lib + '/../../..'))\nexcept OSError as e:\n"
        "    print('up', type(e).__name__)\n",
        "/lib/python" ERYX_TEST_PY_MM "\nwrite PermissionError\n"
        "up PermissionError\n");
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
    run_expect("import socket\n"
               "try:\n"
               "    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
               "    print('CONNECTED')\n"
               "except Exception as e:\n"
               "    print('blocked', type(e).__name__)\n"
               "try:\n"
               "    socket.socket().connect(('127.0.0.1', 22))\n"
               "    print('CONNECTED')\n"
               "except OSError as e:\n"
               "    print('blocked', e.errno)\n",
               "blocked AttributeError\nblocked 58\n");
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
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
