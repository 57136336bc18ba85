"""The sandbox, the session, their results and errors, over eryx._eryx."""

from __future__ import annotations

import asyncio
import atexit
import builtins
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import _eryx
from ._callbacks import CallbackDict, CallbackRegistry, _normalize_callbacks
from ._journal import ReplayOutcome, SuspendedCallback
from ._net import NetConfig, net_args
from ._vfs import VfsStorage, fs_args

__all__ = [
    "CancelledError",
    "EryxError",
    "ExecuteResult",
    "ExecutionError",
    "InitializationError",
    "MemoryLimitError",
    "PoolClosedError",
    "PoolError",
    "PoolExhaustedError",
    "PoolTimeoutError",
    "ResourceLimitError",
    "ResourceLimits",
    "Sandbox",
    "Session",
    "SuspendCallback",
    "TimeoutError",
]

# ----------------------------------------------------------------- errors


class EryxError(Exception):
    """Base exception for all Eryx errors."""


class ExecutionError(EryxError):
    """Error during Python code execution in the sandbox."""


class InitializationError(EryxError):
    """Error during sandbox initialization."""


class ResourceLimitError(EryxError):
    """Resource limit exceeded during execution."""


class TimeoutError(builtins.TimeoutError, EryxError):
    """Execution timed out.

    Both Python's built-in TimeoutError and an EryxError (the reference's
    is only the former), so it can be caught with either.
    """


class PoolError(EryxError):
    """Base exception for pool operations."""


class PoolExhaustedError(PoolError):
    """All sandboxes in the pool are in use."""


class PoolTimeoutError(PoolError):
    """Timed out waiting for an available sandbox."""


class PoolClosedError(PoolError):
    """Pool has been closed."""


class SuspendCallback(Exception):
    """Raise from a callback to suspend execution (journals)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CancelledError(EryxError):
    """The execution was cancelled (``Ctrl-C`` in the host included)."""


class MemoryLimitError(ResourceLimitError, ExecutionError):
    """The code ran out of guest memory (an uncaught ``MemoryError``).

    Both a ResourceLimitError and, as in the reference (which reports it as
    a Python exception), an ExecutionError.
    """


def _init_error(exc: RuntimeError) -> EryxError:
    text = str(exc)
    if text.startswith("eryx-init: "):
        return InitializationError(text[len("eryx-init: ") :])
    return EryxError(text)


# ------------------------------------------------------------------ paths

_configured = False


def _configure() -> None:
    """Point liberyx at the guest's files installed in the wheel."""
    global _configured
    if _configured:
        return
    data = Path(__file__).with_name("_data")
    runtime = data / "runtime.wasm"
    mm = ".".join(_eryx.PYTHON_VERSION.split(".")[:2])
    stdlib = data / "lib" / f"python{mm}"
    if runtime.is_file() and stdlib.is_dir():
        _eryx.configure(str(runtime), str(stdlib), None)
    _configured = True


# ----------------------------------------------------------------- limits

_DEFAULT = object()


class ResourceLimits:
    """Limits of one execute.  ``None`` turns a limit off.

    Defaults: execution_timeout_ms=30000, callback_timeout_ms=10000,
    max_memory_bytes=128 MiB, max_callback_invocations=1000, max_fuel=None,
    max_vfs_bytes=None.
    """

    __slots__ = (
        "callback_timeout_ms",
        "execution_timeout_ms",
        "max_callback_invocations",
        "max_fuel",
        "max_memory_bytes",
        "max_vfs_bytes",
    )

    def __init__(
        self,
        *,
        execution_timeout_ms: int | None = 30000,
        callback_timeout_ms: int | None = 10000,
        max_memory_bytes: int | None = 134217728,
        max_callback_invocations: int | None = 1000,
        max_fuel: int | None = None,
        max_vfs_bytes: int | None = None,
    ) -> None:
        values = (
            execution_timeout_ms,
            callback_timeout_ms,
            max_memory_bytes,
            max_callback_invocations,
            max_fuel,
            max_vfs_bytes,
        )
        if values != _DEFAULT_LIMIT_VALUES:
            for name, value in zip(self.__slots__, values, strict=True):
                if value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 0
                ):
                    raise TypeError(f"{name} must be a non-negative int or None")
        set_ = object.__setattr__
        set_(self, "execution_timeout_ms", execution_timeout_ms)
        set_(self, "callback_timeout_ms", callback_timeout_ms)
        set_(self, "max_memory_bytes", max_memory_bytes)
        set_(self, "max_callback_invocations", max_callback_invocations)
        set_(self, "max_fuel", max_fuel)
        set_(self, "max_vfs_bytes", max_vfs_bytes)

    @staticmethod
    def unlimited() -> ResourceLimits:
        """No limit at all."""
        return ResourceLimits(
            execution_timeout_ms=None,
            callback_timeout_ms=None,
            max_memory_bytes=None,
            max_callback_invocations=None,
            max_fuel=None,
            max_vfs_bytes=None,
        )

    def __repr__(self) -> str:
        return (
            "ResourceLimits(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourceLimits):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def _tuple(self) -> tuple[int, int, int, int, int]:
        mem = self.max_memory_bytes  # (immutable: computed anew is cheap)
        return (
            min(self.execution_timeout_ms or 0, 2**32 - 1),
            min(self.callback_timeout_ms or 0, 2**32 - 1),
            (1 << 32) if mem is None else max(mem, 32 << 20),
            2**32 - 1
            if self.max_callback_invocations is None
            else min(self.max_callback_invocations, 2**32 - 1),
            self.max_fuel or 0,
        )


# ----------------------------------------------------------------- result


# The defaults of ResourceLimits, in __slots__ order: arguments equal to
# them need no checking.
_DEFAULT_LIMIT_VALUES = tuple(
    ResourceLimits.__init__.__kwdefaults__[k] for k in ResourceLimits.__slots__
)


class ExecuteResult:
    """What one execute produced.  Output is bytes, as in pyeryx 0.11."""

    __slots__ = (
        "callback_invocations",
        "duration_ms",
        "fuel_consumed",
        "peak_memory_bytes",
        "result_error",
        "result_json",
        "stderr",
        "stdout",
    )

    def __init__(
        self,
        stdout: bytes,
        stderr: bytes,
        duration_ms: float,
        callback_invocations: int,
        peak_memory_bytes: int | None,
        fuel_consumed: int | None,
        result_json: str | None,
        result_error: str | None,
    ) -> None:
        s = object.__setattr__
        s(self, "stdout", stdout)
        s(self, "stderr", stderr)
        s(self, "duration_ms", duration_ms)
        s(self, "callback_invocations", callback_invocations)
        s(self, "peak_memory_bytes", peak_memory_bytes)
        s(self, "fuel_consumed", fuel_consumed)
        s(self, "result_json", result_json)
        s(self, "result_error", result_error)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ExecuteResult is immutable")

    @property
    def stdout_text(self) -> str:
        """stdout decoded as UTF-8 (lone surrogates kept, surrogateescape)."""
        return self.stdout.decode("utf-8", "surrogateescape")

    @property
    def stderr_text(self) -> str:
        """stderr decoded as UTF-8 (lone surrogates kept, surrogateescape)."""
        return self.stderr.decode("utf-8", "surrogateescape")

    @property
    def result(self) -> Any:
        """The result variable's value (``json.loads(result_json)``), or None."""
        if self.result_json is None:
            return None
        return json.loads(self.result_json)

    def __str__(self) -> str:
        return self.stdout_text

    def __repr__(self) -> str:
        def cut(v: Any) -> str:
            r = repr(v)
            return r if len(r) <= 50 else r[:47] + "..."

        return (
            f"ExecuteResult(stdout={cut(self.stdout)}, stderr={cut(self.stderr)}, "
            f"duration_ms={self.duration_ms:.2f}, "
            f"callback_invocations={self.callback_invocations}, "
            f"peak_memory_bytes={self.peak_memory_bytes}, "
            f"fuel_consumed={self.fuel_consumed}, result={cut(self.result_json)}, "
            f"result_error={cut(self.result_error)})"
        )


_E = _eryx


def _raise_for(status: int, message: str, timeout_ms: int | None) -> None:
    if status == _E.ERYX_E_TIMEOUT:
        after = f" after {timeout_ms}ms" if timeout_ms else ""
        raise TimeoutError(f"execution timed out{after}")
    if status == _E.ERYX_E_MEMORY_LIMIT:
        raise MemoryLimitError(message)
    if status in (_E.ERYX_E_FUEL, _E.ERYX_E_OUTPUT_LIMIT):
        raise ResourceLimitError(message)
    if status == _E.ERYX_E_SUSPENDED:
        raise ExecutionError(message or "the execution was suspended by a callback")
    if status == _E.ERYX_E_CANCELLED:
        raise CancelledError(message or "execution cancelled")
    if status in (
        _E.ERYX_E_PYTHON,
        _E.ERYX_E_TRAP,
        _E.ERYX_E_INVALID_INPUT,
        _E.ERYX_E_ABI,
        _E.ERYX_E_ENGINE,
    ):
        raise ExecutionError(message)
    raise EryxError(message)


# ---------------------------------------------------------- async loop


class _Loop:
    """One long-lived event loop on a daemon thread for async callbacks."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        loop = cls._loop
        if loop is not None:
            return loop
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="eryx-callbacks", daemon=True).start()
                ready.wait()
                cls._loop = loop
            return cls._loop

    @classmethod
    def _after_fork(cls) -> None:
        # A fork's child has no loop thread: the next async callback makes one.
        cls._lock = threading.Lock()
        cls._loop = None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _make_handler(fn: Callable[..., Any]) -> Callable[[Any, str], None]:
    """The function liberyx calls (on a worker thread, holding the GIL) with
    a Call and the arguments as JSON.  liberyx journals and replays calls
    itself (eryx_journal); a SuspendCallback raised here suspends the run."""
    is_async = asyncio.iscoroutinefunction(fn)
    dumps = json.dumps
    loads = json.loads

    def finish(call: Any, value: Any) -> None:
        try:
            text = dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            call.fail(f"TypeError: the callback's result cannot be sent as JSON: {e}")
            return
        call.ok(text)

    def fail(call: Any, exc: BaseException) -> None:
        if isinstance(exc, SuspendCallback):
            call.suspend(exc.reason)
        else:
            call.fail(_error_text(exc))

    def handler(call: Any, args: str) -> None:
        try:
            value = fn(**loads(args))
            if is_async:
                fut = asyncio.run_coroutine_threadsafe(value, _Loop.get())

                def done(f: Any) -> None:
                    try:
                        result = f.result()
                    except BaseException as e:  # noqa: BLE001 - reported to the guest
                        fail(call, e)
                        return
                    finish(call, result)

                fut.add_done_callback(done)
                return
        except BaseException as e:  # noqa: BLE001 - reported to the guest
            fail(call, e)
            return
        finish(call, value)

    return handler


# ------------------------------------------------------------- sandboxes

CallbacksArg = CallbackRegistry | Sequence[CallbackDict | CallbackRegistry] | None


def _with_mcp(callbacks: CallbacksArg, mcp: Any) -> CallbacksArg:
    """The callbacks plus the tools of an MCPManager's servers."""
    if mcp is None:
        return callbacks
    from .mcp import MCPManager

    if not isinstance(mcp, MCPManager):
        raise TypeError("mcp must be an MCPManager")
    tools: list[Any] = mcp.callbacks()
    if callbacks is None:
        return tools
    if isinstance(callbacks, CallbackRegistry):
        return [callbacks, *tools]
    return [*callbacks, *tools]


def _output_dispatch(
    on_stdout: Callable[[bytes], None] | None,
    on_stderr: Callable[[bytes], None] | None,
) -> Callable[[int, bytes], None] | None:
    if on_stdout is None and on_stderr is None:
        return None
    for name, f in (("on_stdout", on_stdout), ("on_stderr", on_stderr)):
        if f is not None and not callable(f):
            raise TypeError(f"{name} must be callable")

    def dispatch(stream: int, data: bytes) -> None:
        f = on_stdout if stream == 1 else on_stderr
        if f is not None:
            f(data)

    return dispatch


_core_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # liberyx restarts its own threads in a fork's child (docs/design.md);
    # these are the package's.
    global _core_lock
    _core_lock = threading.Lock()
    _Loop._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
# Handlers keep their worker thread's Python thread state between calls;
# once the interpreter exits, none enters it again (_eryx.c).
atexit.register(_eryx.finalizing)


class _Runner:
    """What Sandbox and Session share: the core and its execute."""

    def _start(
        self,
        session: bool,
        limits: ResourceLimits,
        callbacks: CallbacksArg,
        on_stdout: Callable[[bytes], None] | None,
        on_stderr: Callable[[bytes], None] | None,
        result_variable: str | None,
        on_trace: Callable[[dict[str, Any]], None] | None = None,
        image: Any = None,
        fs: Any = None,
        net: Any = None,
    ) -> None:
        if result_variable is not None and not isinstance(result_variable, str):
            raise TypeError("result_variable must be a str")
        specs = [
            (cb["name"], cb.get("description", ""), _schema_text(cb), _make_handler(cb["fn"]))
            for cb in _normalize_callbacks(callbacks)
        ]
        self._has_callbacks = bool(specs)
        output = _output_dispatch(on_stdout, on_stderr)
        trace = None
        if on_trace is not None:
            if not callable(on_trace):
                raise TypeError("on_trace must be callable")

            def trace(kind: int, lineno: int, event: str) -> None:
                on_trace(json.loads(event))

        _configure()
        self._limits = limits
        self._timeout_ms = limits.execution_timeout_ms
        self._core_args = (
            session,
            limits._tuple(),
            result_variable,
            specs,
            output,
            trace,
            image,
            fs,
            net,
        )
        self._core_obj: Any = None
        # A sandbox without callbacks has nothing liberyx could refuse, and
        # it instantiates nothing until it runs: its core is made at first
        # use.  Sessions and callbacks are checked (and started) now.
        if session or specs:
            self._make_core()

    def _make_core(self) -> Any:
        with _core_lock:
            if self._core_obj is None:
                try:
                    self._core_obj = _eryx.Core(*self._core_args)
                except RuntimeError as e:
                    raise _init_error(e) from None
            return self._core_obj

    @property
    def _core(self) -> Any:
        core = self._core_obj
        return core if core is not None else self._make_core()

    def execute(self, code: str) -> ExecuteResult:
        """Run ``code`` (top-level ``await`` allowed).  Releases the GIL
        while it runs.  Raises ExecutionError, TimeoutError,
        ResourceLimitError, CancelledError; ``Ctrl-C`` cancels it."""
        if not isinstance(code, str):
            raise TypeError(f"'{type(code).__name__}' object is not an instance of 'str'")
        result = self._run(code, None)
        assert result is not None
        return result

    def _run(self, code: str, journal: Any, interactive: bool = False) -> ExecuteResult | None:
        core = self._core
        try:
            (
                status,
                out,
                err,
                message,
                rjson,
                rerror,
                dur_us,
                calls,
                peak,
                fuel,
            ) = core.execute(code, journal, interactive)
        except KeyboardInterrupt:
            core.cancel()
            raise
        if status == _E.ERYX_E_INCOMPLETE:
            return None
        if status != 0:
            _raise_for(status, message or "", self._timeout_ms)
        return ExecuteResult(
            out,
            err,
            dur_us / 1000.0,
            calls,
            peak or None,
            fuel if self._limits.max_fuel else None,
            rjson,
            rerror,
        )

    def execute_with_journal(
        self, code: str, journal: dict[str, Any] | None = None
    ) -> ReplayOutcome:
        """Run ``code`` recording each callback call (name, canonical
        arguments, result or error), and replaying the calls of ``journal``
        that match, in the order the code starts them, without running
        them; the first call that does not match, and every one after it,
        runs live.  A callback that raises ``SuspendCallback(reason)``
        stops the run: ``outcome.suspended`` says which, and the journal so
        far lets a later run resume.  Never raises for the code's failures
        (they are ``outcome.error``); ValueError for a malformed journal.
        A session's globals roll back when the run is halted."""
        if not isinstance(code, str):
            raise TypeError(f"'{type(code).__name__}' object is not an instance of 'str'")
        j = _new_journal(journal)
        result: ExecuteResult | None = None
        error: EryxError | None = None
        try:
            result = self._run(code, j)
        except EryxError as e:
            error = e
        text = j.json()
        record = json.loads(text) if text else {"version": 1, "code": code, "entries": []}
        held = j.suspended()
        suspended = SuspendedCallback(*held) if held else None
        if suspended is not None:
            result = None
            error = ExecutionError(f"suspended by callback {suspended.name!r}: {suspended.reason}")
        return ReplayOutcome(result, error, record, j.replayed, suspended)


def _new_journal(journal: Any) -> Any:
    """The C journal for a journal dict (None: record only)."""
    if journal is None:
        return _eryx.Journal(None)
    if not isinstance(journal, dict):
        raise ValueError("invalid journal: must be a dict")  # noqa: TRY004 - as the reference
    try:
        text = json.dumps(journal, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"invalid journal: not JSON: {e}") from None
    return _eryx.Journal(text)


def _schema_text(cb: CallbackDict) -> str | None:
    schema = cb.get("schema")
    return None if schema is None else json.dumps(schema)


class Sandbox(_Runner):
    """Runs each execute in a fresh interpreter: nothing one execute defines
    is seen by the next.

    Example::

        sandbox = eryx.Sandbox()
        print(sandbox.execute("print(1 + 1)").stdout_text)
    """

    def __init__(
        self,
        *,
        resource_limits: ResourceLimits | None = None,
        network: NetConfig | None = None,
        callbacks: CallbacksArg = None,
        mcp: Any = None,
        secrets: dict[str, Any] | None = None,
        scrub_stdout: bool | None = None,
        scrub_stderr: bool | None = None,
        scrub_result: bool | None = None,
        scrub_files: bool | None = None,
        volumes: Sequence[tuple[str, str, bool]] | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
        result_variable: str | None = None,
        on_trace: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        callbacks = _with_mcp(callbacks, mcp)
        net = net_args(network, secrets, scrub_stdout, scrub_stderr, scrub_files, scrub_result)
        limits = resource_limits if resource_limits is not None else ResourceLimits()
        if not isinstance(limits, ResourceLimits):
            raise TypeError("resource_limits must be a ResourceLimits")
        fs = fs_args(volumes=volumes, max_vfs_bytes=limits.max_vfs_bytes)
        self._start(
            False,
            limits,
            callbacks,
            on_stdout,
            on_stderr,
            result_variable,
            on_trace,
            fs=fs,
            net=net,
        )

    def __repr__(self) -> str:
        return f"Sandbox(resource_limits={self._limits!r})"


class Session(_Runner):
    """Keeps one interpreter: its globals persist between executes."""

    def __init__(
        self,
        *,
        vfs: VfsStorage | None = None,
        vfs_mount_path: str | None = None,
        execution_timeout_ms: int | None = None,
        max_fuel: int | None = None,
        network: NetConfig | None = None,
        callbacks: CallbacksArg = None,
        mcp: Any = None,
        volumes: Sequence[tuple[str, str, bool]] | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
        result_variable: str | None = None,
        resource_limits: ResourceLimits | None = None,
        on_trace: Callable[[dict[str, Any]], None] | None = None,
        secrets: dict[str, Any] | None = None,
        scrub_stdout: bool | None = None,
        scrub_stderr: bool | None = None,
        scrub_result: bool | None = None,
        scrub_files: bool | None = None,
    ) -> None:
        callbacks = _with_mcp(callbacks, mcp)
        self._net = net_args(
            network, secrets, scrub_stdout, scrub_stderr, scrub_files, scrub_result
        )
        base = resource_limits if resource_limits is not None else ResourceLimits()
        self._args = (callbacks, on_stdout, on_stderr, result_variable, on_trace)
        self._base = base
        self._image: Any = None
        self._set_fs(vfs, vfs_mount_path, volumes)
        self._make(execution_timeout_ms, max_fuel)

    def _set_fs(
        self,
        vfs: VfsStorage | None,
        vfs_mount_path: str | None,
        volumes: Sequence[tuple[str, str, bool]] | None,
        site_packages: Any = None,
    ) -> None:
        self._vfs = vfs
        self._vfs_path = vfs_mount_path
        self._fs = fs_args(
            vfs=vfs,
            vfs_mount_path=vfs_mount_path,
            volumes=volumes,
            max_vfs_bytes=self._base.max_vfs_bytes,
            site_packages=site_packages,
        )

    def _make(self, timeout_ms: int | None, fuel: int | None) -> None:
        b = self._base
        limits = ResourceLimits(
            execution_timeout_ms=timeout_ms,
            callback_timeout_ms=b.callback_timeout_ms,
            max_memory_bytes=b.max_memory_bytes,
            max_callback_invocations=b.max_callback_invocations,
            max_fuel=fuel,
            max_vfs_bytes=b.max_vfs_bytes,
        )
        self._start(True, limits, *self._args, image=self._image, fs=self._fs, net=self._net)

    @property
    def execution_count(self) -> int:
        """Executes run in this session since it started or was reset."""
        return int(self._core.execution_count)

    @property
    def execution_timeout_ms(self) -> int | None:
        """The per-execute timeout (settable; None: no timeout)."""
        return self._limits.execution_timeout_ms

    @execution_timeout_ms.setter
    def execution_timeout_ms(self, value: int | None) -> None:
        self._rebuild(value, self._limits.max_fuel)

    @property
    def fuel_limit(self) -> int | None:
        """The per-execute fuel budget (settable; None: no budget)."""
        return self._limits.max_fuel

    @fuel_limit.setter
    def fuel_limit(self, value: int | None) -> None:
        self._rebuild(self._limits.execution_timeout_ms, value)

    def _rebuild(self, timeout_ms: int | None, fuel: int | None) -> None:
        # Limits belong to the session's config: carry the state across.
        state = self._core.snapshot_state() if self.execution_count else None
        self._make(timeout_ms, fuel)
        if state is not None:
            self._core.restore_state(state)

    @property
    def vfs(self) -> VfsStorage | None:
        """The storage given as ``vfs`` (None: the session's own files)."""
        return self._vfs

    @property
    def vfs_mount_path(self) -> str | None:
        """Where ``vfs`` is mounted ("/data" by default; None without it)."""
        if self._vfs is None:
            return self._vfs_path
        return self._vfs_path or "/data"

    def execute_interactive(self, code: str) -> ExecuteResult | None:
        """Run one statement as Python's REPL does: an expression's value is
        echoed to stdout (and kept as ``_``).  None, with nothing run, while
        the statement is unfinished (a block ends on an empty line): read
        another line and try the whole again."""
        if not isinstance(code, str):
            raise TypeError(f"'{type(code).__name__}' object is not an instance of 'str'")
        return self._run(code, None, True)

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the running execute, from another
        thread, as Ctrl-C does in Python: the code may catch it, and the
        session keeps its state.  Code in one long C call sees it when the
        call returns.  Does nothing when no execute runs."""
        core = self._core_obj
        if core is not None:
            core.interrupt()

    def reset(self) -> None:
        """A new interpreter: every global and import is gone (a session
        of a SandboxFactory starts again from the factory's state)."""
        self._core.reset()

    def clear_state(self) -> None:
        """Remove the user's globals (imports stay loaded)."""
        try:
            self._core.clear_state()
        except RuntimeError as e:
            raise ExecutionError(str(e)) from None

    def snapshot_state(self) -> bytes:
        """The user's globals, pickled, as bytes (restore_state takes them)."""
        try:
            return bytes(self._core.snapshot_state())
        except RuntimeError as e:
            raise ExecutionError(str(e)) from None

    def restore_state(self, snapshot: bytes) -> None:
        """Restore globals from snapshot_state's bytes; ValueError when the
        bytes are not a snapshot."""
        if not isinstance(snapshot, (bytes, bytearray, memoryview)):
            raise TypeError("snapshot must be bytes")
        try:
            self._core.restore_state(bytes(snapshot))
        except RuntimeError as e:
            raise ExecutionError(str(e)) from None

    def __repr__(self) -> str:
        if self._vfs is not None:
            return (
                f"Session(execution_count={self.execution_count}, "
                f'vfs_mount_path="{self.vfs_mount_path}")'
            )
        return f"Session(execution_count={self.execution_count})"
