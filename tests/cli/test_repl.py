"""The REPL of `eryx` through a real terminal (a pty): prompts, a multi-line
function, expression echo, top-level await, tracebacks, Ctrl-C during
`while True: pass` (back at the prompt, state kept), Ctrl-C discarding
input, Ctrl-D leaving, and the history recalled by a second run.

usage: test_repl.py ERYX_BINARY
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import tempfile
import time

UP = b"\x1b[A"
TIMEOUT = 60.0


class Terminal:
    """`eryx` on the slave side of a pty; we type on the master side."""

    def __init__(self, exe: str, history: str) -> None:
        env = dict(os.environ, ERYX_HISTORY=history, TERM="xterm")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            os.execve(exe, [exe], env)
        self.seen = b""

    def expect(self, token: bytes) -> bytes:
        """Read until `token`; returns what came before it, inclusive."""
        end = time.monotonic() + TIMEOUT
        while token not in self.seen:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                raise AssertionError(
                    f"no {token!r} within {TIMEOUT} s; got {self.seen[-400:]!r}")
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"eryx ended; got {self.seen[-400:]!r}")
            self.seen += chunk
        i = self.seen.index(token) + len(token)
        out, self.seen = self.seen[:i], self.seen[i:]
        return out

    def line(self, text: bytes) -> bytes:
        """Type a line and return everything up to the next prompt."""
        os.write(self.fd, text + b"\r")
        return self.expect(b">>> ")

    def close(self) -> int:
        time.sleep(0.3)  # once libedit has the terminal (see Ctrl-C below)
        os.write(self.fd, b"\x04")  # Ctrl-D
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:  # keep the pty drained
                if select.select([self.fd], [], [], 0.1)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                pass
        os.kill(self.pid, 9)
        raise AssertionError("Ctrl-D did not end eryx")


def check(cond: bool, what: str, got: bytes = b"") -> None:
    if not cond:
        raise AssertionError(f"{what}; got {got!r}")


def main() -> int:
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="eryx-repl-")
    history = os.path.join(tmp, "history")

    t = Terminal(exe, history)
    banner = t.expect(b">>> ")
    check(b"Ctrl-D" in banner, "a banner", banner)
    out = t.line(b"x = 41")
    # (Typed ahead of libedit, a line is echoed twice: by the kernel, then
    # by libedit, as in Python's REPL.)
    check(out.replace(b"x = 41\r\n", b"") == b">>> ", "an assignment echoes nothing", out)
    out = t.line(b"x + 1")
    check(b"\r\n42\r\n" in out, "an expression is echoed", out)
    out = t.line(b"_ * 2")
    check(b"\r\n84\r\n" in out, "`_` is the last value", out)

    # A function over several lines: "... " until an empty line.
    os.write(t.fd, b"def twice(s):\r")
    t.expect(b"... ")
    os.write(t.fd, b"    return s * 2\r")
    t.expect(b"... ")
    out = t.line(b"")
    out = t.line(b"twice('ab')")
    check(b"'abab'" in out, "the function works", out)

    out = t.line(b"import asyncio")
    out = t.line(b"await asyncio.sleep(0.01, 'awaited')")
    check(b"'awaited'" in out, "top-level await", out)

    out = t.line(b"1 / 0")
    check(b"ZeroDivisionError" in out and b"Traceback" in out,
          "a traceback", out)

    # Ctrl-C during a busy loop: back at the prompt, with the state kept.
    os.write(t.fd, b"while True: pass\r")
    t.expect(b"... ")
    os.write(t.fd, b"\r")
    time.sleep(0.5)  # the loop is running
    start = time.monotonic()
    os.write(t.fd, b"\x03")
    out = t.expect(b">>> ")
    took = time.monotonic() - start
    check(b"KeyboardInterrupt" in out, "KeyboardInterrupt", out)
    print(f"Ctrl-C during while True: pass -> prompt in {took * 1e3:.1f} ms")
    check(took < 5.0, "Ctrl-C ends the loop (not a timeout)")
    out = t.line(b"x")
    check(b"\r\n41\r\n" in out, "the state survives Ctrl-C", out)

    # Ctrl-C while typing discards the input.  (Typed once libedit has the
    # terminal: before that, in the instant between two statements, the
    # terminal is the kernel's and ^C is a signal that no statement takes.)
    time.sleep(0.3)
    os.write(t.fd, b"y = 'never'")
    time.sleep(0.1)
    os.write(t.fd, b"\x03")
    out = t.expect(b">>> ")
    check(b"KeyboardInterrupt" in out, "Ctrl-C discards the input", out)
    out = t.line(b"'y' in dir()")
    check(b"False" in out, "the discarded line did not run", out)

    out = t.line(b"marker = 'from the first run'")
    check(t.close() == 0, "Ctrl-D leaves with status 0")

    # A second run: the history holds the first run's lines.
    t = Terminal(exe, history)
    t.expect(b">>> ")
    os.write(t.fd, UP + b"; print(marker)\r")  # redraws the prompt
    t.expect(b"\nfrom the first run\r\n")  # printed: the recalled line ran
    t.expect(b">>> ")
    check(t.close() == 0, "Ctrl-D leaves again")
    with open(history, "rb") as f:
        check(b"twice" in f.read(), "the history file holds the lines")
    check(os.stat(history).st_mode & 0o077 == 0, "the history is private")

    # Not a terminal: standard input is a script, as before.
    p = subprocess.run([exe], input=b"print(6 * 7)\n", capture_output=True,
                       timeout=TIMEOUT, check=False)
    check(p.returncode == 0 and p.stdout == b"42\n",
          "piped stdin runs as a script", p.stdout + p.stderr)
    print("repl: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
