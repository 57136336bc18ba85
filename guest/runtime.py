# The Python half of the guest runtime, compiled into runtime.wasm and run
# once as module `_eryx_runtime` by guest/runtime.c at initialize.  C does
# the ABI, compiling and evaluating; this file does what is easier said in
# Python: output capture, the WASI event loop, traceback text, result JSON.
import asyncio
import io
import json
import linecache
import sys
import traceback

USER_FILENAME = "<user>"


class _BinaryOut:
    """sys.stdout.buffer: bytes written here join the text stream."""

    def __init__(self, text):
        self._text = text

    def write(self, data):
        data = bytes(data)
        self._text.write(data.decode("utf-8", "replace"))
        return len(data)

    def flush(self):
        pass

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno")


class _Capture(io.TextIOBase):
    """A text stream that keeps what is written for the host."""

    encoding = "utf-8"
    errors = "strict"
    newlines = None

    def __init__(self, name):
        self._parts = []
        self._name = name
        self.buffer = _BinaryOut(self)

    @property
    def name(self):
        return self._name

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(
                f"write() argument must be str, not {type(s).__name__}")
        self._parts.append(s)
        return len(s)

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno")

    def flush(self):
        pass

    def take(self):
        text = "".join(self._parts)
        self._parts.clear()
        return text


class WasiEventLoop(asyncio.SelectorEventLoop):
    """The selector loop without its self-pipe: WASI preview 1 has no
    socketpair, and a single-threaded guest never needs a cross-thread
    wake-up.  Timers work through poll_oneoff."""

    def _make_self_pipe(self):
        self._ssock = self._csock = None

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        pass


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return WasiEventLoop()


asyncio.set_event_loop_policy(_Policy())

_stdout = _Capture("<stdout>")
_stderr = _Capture("<stderr>")
_loop = None


def begin(code):
    """Prepare one execution of `code`."""
    sys.stdout = sys.__stdout__ = _stdout
    sys.stderr = sys.__stderr__ = _stderr
    # Tracebacks show the user's source lines.
    linecache.cache[USER_FILENAME] = (
        len(code), None, code.splitlines(True), USER_FILENAME)


def run_coroutine(coro):
    """Drive a top-level-await coroutine to completion on the guest loop."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = WasiEventLoop()
    asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(coro)


def format_exception(exc):
    """Traceback text starting at the first frame of the user's code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != USER_FILENAME:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def finish(namespace, result_variable):
    """Collect one execution's output: (stdout, stderr, json, json_error).
    The result variable is consumed."""
    result_json = result_error = None
    if result_variable and result_variable in namespace:
        value = namespace.pop(result_variable)
        try:
            result_json = json.dumps(value, allow_nan=False)
        except Exception as e:  # noqa: BLE001 - any failure is reported
            result_error = f"{type(e).__name__}: {e}"
    return _stdout.take(), _stderr.take(), result_json, result_error
