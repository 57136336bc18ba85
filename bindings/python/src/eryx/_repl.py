"""The interactive session of ``python -m eryx`` on a terminal (the C CLI
has its own, on libedit; this one serves ``eryx --mcp``, which the C CLI
hands to this package).  Same rules: Python's prompts and blocks, values
echoed, Ctrl-C raising KeyboardInterrupt in the running code (the session
kept; a second press cancels it), Ctrl-D leaving, history in
``$ERYX_HISTORY`` (default ``~/.eryx_history``) when readline exists."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from ._core import (
    CancelledError,
    EryxError,
    ExecuteResult,
    ExecutionError,
    MemoryLimitError,
    ResourceLimitError,
    Session,
    TimeoutError,
)


def _history() -> str | None:
    path = os.environ.get("ERYX_HISTORY")
    if path is not None:
        return path or None
    return os.path.join(os.path.expanduser("~"), ".eryx_history")


def _execute(session: Session, source: str) -> ExecuteResult | None:
    """Run `source` on a worker thread, so that Ctrl-C reaches this one:
    the first press interrupts the code, the next ones cancel it."""
    box: dict[str, Any] = {}
    done = threading.Event()  # (an interrupted Thread.join can lose track)

    def work() -> None:
        try:
            box["result"] = session.execute_interactive(source)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=work, daemon=True).start()
    presses = 0
    while not done.is_set():
        try:
            done.wait()
        except KeyboardInterrupt:
            presses += 1
            if presses == 1:
                session.interrupt()
            else:
                session._core.cancel()
    if "error" in box:
        raise box["error"]
    result: ExecuteResult | None = box.get("result")
    return result


def repl(session: Session) -> int:
    """Read statements until Ctrl-D; returns the exit status."""
    try:
        import readline
    except ImportError:  # pragma: no cover - readline is optional
        readline = None  # type: ignore[assignment]
    history = _history()
    if readline is not None and history:
        try:
            readline.read_history_file(history)
        except OSError:
            pass
        readline.set_history_length(1000)
    from . import _eryx

    sys.stderr.write(
        f"eryx {_eryx.LIB_VERSION} (CPython {_eryx.PYTHON_VERSION}), Python in a "
        "WebAssembly sandbox.\nCtrl-D leaves; Ctrl-C interrupts.\n"
    )
    lines: list[str] = []
    while True:
        try:
            line = input("... " if lines else ">>> ")
        except EOFError:
            sys.stdout.write("\n")
            break
        except KeyboardInterrupt:
            sys.stderr.write("\nKeyboardInterrupt\n")
            lines.clear()
            continue
        if not lines and not line.strip():
            continue
        lines.append(line)
        try:
            if _execute(session, "\n".join(lines)) is None:
                continue  # unfinished: read on
        except (ExecutionError, MemoryLimitError) as e:
            sys.stderr.write(str(e))
        except (TimeoutError, ResourceLimitError, CancelledError) as e:
            sys.stderr.write(f"eryx: {e}\neryx: the session was reset: its variables are gone\n")
        except EryxError as e:
            sys.stderr.write(f"eryx: {e}\n")
        lines.clear()
        sys.stdout.flush()
    if readline is not None and history:
        try:
            readline.write_history_file(history)
            os.chmod(history, 0o600)
        except OSError:
            pass
    return 0
