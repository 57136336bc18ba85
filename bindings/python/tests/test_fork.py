"""A process that made sandboxes and then forks (a pre-forking server,
multiprocessing's fork start method) has children whose sandboxes still
time out, still run callbacks, sync and async, and keep their sessions."""

from __future__ import annotations

import os
import signal
import warnings

import pytest

import eryx

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork()")


async def slow_double(x: int) -> int:
    return 2 * x


def _fork() -> int:
    with warnings.catch_warnings():
        # Python warns that forking a threaded process may deadlock the
        # child: what this file checks does not.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def test_a_forked_child_keeps_timeouts_callbacks_and_sessions() -> None:
    sb = eryx.Sandbox(
        callbacks=[
            {"name": "double", "fn": lambda x: 2 * x},
            {"name": "adouble", "fn": slow_double},
        ],
        resource_limits=eryx.ResourceLimits(execution_timeout_ms=300),
    )
    # The parent uses everything first: worker threads, the async loop's
    # thread, the ticker, a session's state.
    assert sb.execute("print(await double(x=1), await adouble(x=2))").stdout_text == "2 4\n"
    session = eryx.Session()
    session.execute("n = 41")
    rfd, wfd = os.pipe()
    pid = _fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            signal.alarm(60)
            os.close(rfd)
            try:
                sb.execute("while True: pass")
            except eryx.TimeoutError:
                os.write(wfd, b"timeout\n")
            out = sb.execute("print(await double(x=4), await adouble(x=5))").stdout
            out += session.execute("n += 1\nprint(n)").stdout
            os.write(wfd, out)
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    got = b""
    while chunk := os.read(rfd, 4096):
        got += chunk
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert got == b"timeout\n8 10\n42\n"
    # The parent is as it was.
    assert session.execute("n += 1\nprint(n)").stdout == b"42\n"
    assert sb.execute("print(await adouble(x=7))").stdout == b"14\n"
