"""python -m eryx: the C CLI's flags and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "eryx", *args],
        check=False,
        input=stdin,
        capture_output=True,
        timeout=60,
    )


def test_code_file_and_stdin(tmp_path: Path) -> None:
    p = run("-c", "print(6 * 7)")
    assert (p.returncode, p.stdout) == (0, b"42\n")
    f = tmp_path / "prog.py"
    f.write_text("import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    p = run(str(f))
    assert (p.returncode, p.stdout, p.stderr) == (0, b"out\n", b"err\n")
    p = run("-", stdin=b"print('piped')")
    assert (p.returncode, p.stdout) == (0, b"piped\n")


def test_exit_codes() -> None:
    p = run("-c", "1/0")
    assert p.returncode == 1 and b"ZeroDivisionError" in p.stderr
    p = run("--timeout", "100", "-c", "while True: pass")
    assert p.returncode == 1 and b"timed out" in p.stderr
    p = run("--max-memory", str(64 << 20), "-c", "x = bytearray(200 << 20)")
    assert p.returncode == 1 and b"memory limit" in p.stderr
    p = run("--bogus")
    assert p.returncode == 2
    p = run(stdin=b"print('no args: stdin is the script')")  # not a terminal
    assert (p.returncode, p.stdout) == (0, b"no args: stdin is the script\n")
    p = run("-c", "1", "file.py")
    assert p.returncode == 2
    p = run("/no/such/file.py")
    assert p.returncode == 1 and b"cannot open" in p.stderr


def test_trace_version_and_info() -> None:
    p = run("--trace", "-c", "def f():\n    return 1\nf()")
    assert p.returncode == 0
    events = [json.loads(line) for line in p.stderr.decode().splitlines()]
    assert {"event": "call", "lineno": 1, "name": "f"} in [
        {k: e[k] for k in ("event", "lineno", "name") if k in e} for e in events
    ] or any(e.get("event") == "call" for e in events)
    p = run("--version")
    assert p.returncode == 0 and b"CPython 3." in p.stdout
    p = run("info")
    assert p.returncode == 0 and b"precompiled" in p.stdout


def test_precompile(tmp_path: Path) -> None:
    out = tmp_path / "guest.cwasm"
    p = run("precompile", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size > 1 << 20
    p = run("precompile", "--bogus")
    assert p.returncode == 2


def test_volumes_packages_and_imports(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.txt").write_text("from the host")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("NAME = 'pkg'\n")
    out = tmp_path / "out"
    out.mkdir()
    p = run(
        "-v",
        f"{tmp_path / 'in'}:/in",
        "--volume",
        f"{out}:/out:rw",
        "--package",
        str(tmp_path / "pkg"),
        "--import",
        "pkg",
        "-c",
        "open('/out/r.txt', 'w').write(open('/in/data.txt').read() + ' ' + pkg.NAME)",
    )
    assert p.returncode == 0, p.stderr
    assert (out / "r.txt").read_text() == "from the host pkg"
    p = run("-v", "no-colon", "-c", "pass")
    assert p.returncode == 2 and b"SRC:DST" in p.stderr
    p = run("-v", f"{tmp_path}:/in", "-c", "open('/in/x', 'w')")
    assert p.returncode == 1 and b"Read-only file system" in p.stderr


def test_network_flags() -> None:
    probe = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('10.1.2.3', 80), timeout=1)\n"
        "except OSError as e:\n"
        "    print(e)\n"
    )
    p = run("-c", probe)
    assert b"the sandbox has no network" in p.stdout
    p = run("--net", "-c", probe)
    assert b"in the blocked network 10.0.0.0/8" in p.stdout
    p = run("--allow-host", "*.example.com", "-c", probe)
    assert b"not among the network policy's allowed hosts" in p.stdout
    p = run("--secret", "TOKEN=s3cr3t-v@api.example.com", "-c",
            "import os\nprint(os.environ['TOKEN'][:24], 's3cr3t-v')")  # fmt: skip
    assert p.stdout == b"ERYX_SECRET_PLACEHOLDER_ [REDACTED]\n"
    assert run("--secret", "NOVALUE", "-c", "pass").returncode == 2
    assert run("--allow-network", "10.0.0.0/33", "-c", "pass").returncode == 2


def test_repl_on_a_terminal(tmp_path: Path) -> None:
    """python -m eryx on a terminal: prompts, a block, echo, Ctrl-C in a
    busy loop keeping the state, Ctrl-D leaving, history written."""
    import os
    import pty
    import select
    import time

    history = tmp_path / "history"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        env = dict(os.environ, ERYX_HISTORY=str(history), TERM="dumb")
        os.execve(sys.executable, [sys.executable, "-m", "eryx"], env)
    seen = b""

    def expect(token: bytes) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + 60
        while token not in seen:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            assert ready, f"no {token!r}; got {seen[-300:]!r}"
            seen += os.read(fd, 65536)
        i = seen.index(token) + len(token)
        out, seen = seen[:i], seen[i:]
        return out

    def line(text: bytes) -> bytes:
        os.write(fd, text + b"\r")
        return expect(b">>> ")

    try:
        expect(b">>> ")
        line(b"x = 20")
        os.write(fd, b"def f(y):\r")
        expect(b"... ")
        os.write(fd, b"    return x + y\r")
        expect(b"... ")
        line(b"")
        assert b"\n22\r\n" in line(b"f(2)")
        os.write(fd, b"while True: pass\r")
        expect(b"... ")
        os.write(fd, b"\r")
        time.sleep(0.5)
        os.write(fd, b"\x03")
        assert b"KeyboardInterrupt" in expect(b">>> ")
        assert b"\n22\r\n" in line(b"f(2)")  # the state survived
        time.sleep(0.3)  # once readline has the terminal again
        os.write(fd, b"\x04")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:  # keep the pty drained (EIO once the child is gone)
                if select.select([fd], [], [], 0.1)[0]:
                    os.read(fd, 65536)
            except OSError:
                pass
        else:
            raise AssertionError("Ctrl-D did not end the REPL")
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"f(2)" in history.read_bytes()
