"""SandboxFactory (pre-initialized images) and SandboxPool."""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _eryx
from ._callbacks import _normalize_callbacks
from ._core import (
    CallbacksArg,
    ExecuteResult,
    InitializationError,
    PoolClosedError,
    PoolExhaustedError,
    PoolTimeoutError,
    ResourceLimits,
    Sandbox,
    Session,
    _configure,
    _init_error,
    _make_handler,
    _schema_text,
)
from ._journal import ReplayOutcome
from ._net import NetConfig, net_args
from ._vfs import VfsStorage, fs_args

__all__ = ["PoolStats", "PooledSandbox", "SandboxFactory", "SandboxPool"]

PathLike = str | Path


class InvalidFactoryError(InitializationError, ValueError):
    """Bytes or a file that are not a saved SandboxFactory (an
    InitializationError, as in the reference, and a ValueError)."""


def _module_name(name: Any) -> str:
    if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
        raise ValueError(f"invalid module name in imports: {name!r}")
    return name


_compile_queue: queue.SimpleQueue[tuple[Any, threading.Event]] = queue.SimpleQueue()
_compile_lock = threading.Lock()
_compile_thread: threading.Thread | None = None


def _compile_worker() -> None:
    while True:
        image, done = _compile_queue.get()
        try:
            image.compile()
        except RuntimeError:
            pass  # its sandboxes keep copying the image in
        finally:
            done.set()
        del image, done


class SandboxFactory:
    """Sandboxes that start with packages installed, imports done and
    setup code run.

    ``packages`` (wheels, pure-Python sdists ``.tar.gz``/``.tgz``, and
    directories) are installed at ``/site-packages``, on ``sys.path``, by
    sandboxed code; one carrying native code (``.so``, ``.pyd``) is refused
    with an error naming the file.  ``site_packages`` is a host directory
    laid out as site-packages, mounted there read-only (installed along
    with ``packages`` when both are given).  The factory then runs
    ``import`` of each of ``imports`` and ``setup_code`` once, and keeps
    that whole interpreter, packages included, as an image.  Every sandbox,
    session or pooled sandbox made from it starts from the image.
    ``callbacks`` are the defaults of what it makes.  ``save``/``load``/
    ``to_bytes`` carry the image (and the packages) to another process of
    the same eryx; an image of another guest build is refused.
    """

    def __init__(
        self,
        *,
        site_packages: PathLike | None = None,
        packages: Sequence[PathLike] | None = None,
        imports: Sequence[str] | None = None,
        setup_code: str | None = None,
        callbacks: CallbacksArg = None,
        cache: bool = True,
    ) -> None:
        if setup_code is not None and not isinstance(setup_code, str):
            raise TypeError("setup_code must be a str")
        if isinstance(imports, str):
            raise TypeError("imports must be a sequence of module names")
        if isinstance(packages, (str, Path)):
            raise TypeError("packages must be a sequence of paths")
        names = [_module_name(m) for m in (imports or [])]
        paths = [str(p) for p in (packages or [])]
        self._callbacks = callbacks
        self._site = None if site_packages is None else str(site_packages)
        specs = [
            (cb["name"], cb.get("description", ""), _schema_text(cb), _make_handler(cb["fn"]))
            for cb in _normalize_callbacks(callbacks)
        ]
        _configure()
        limits = ResourceLimits(execution_timeout_ms=None, max_callback_invocations=None)
        try:
            self._image = _eryx.build_image(
                limits._tuple(), None, specs, None, paths, names, setup_code, self._site
            )
        except ValueError as e:
            raise InitializationError(f"pre-initialization failed: {e}") from None
        except RuntimeError as e:
            raise _init_error(e) from None
        self._compile()

    def _compile(self) -> None:
        # Compiled on first use, not here: a factory that is never used
        # costs no compile.
        self._compiled = threading.Event()
        self._compile_queued = False

    def _use(self) -> None:
        """A sandbox, session or pool is being made: queue the image's
        compile (once).  One background thread compiles images one at a
        time (seconds each; cached on disk by the module's bytes); until
        an image is done its sandboxes copy it in, then they map it
        copy-on-write.  Either way they start from the same state."""
        if self._compile_queued:
            return
        with _compile_lock:
            if self._compile_queued:
                return
            self._compile_queued = True
            global _compile_thread
            _compile_queue.put((self._image, self._compiled))
            if _compile_thread is None:
                _compile_thread = threading.Thread(
                    target=_compile_worker, name="eryx-image-compile", daemon=True
                )
                _compile_thread.start()

    def _wait_compiled(self, timeout: float | None = None) -> bool:
        """Queue the compile if it is not, and wait for it; True when the
        image is compiled (sandboxes then start by mapping it)."""
        self._use()
        return self._compiled.wait(timeout)

    @classmethod
    def _from_image(cls, image: Any) -> SandboxFactory:
        self = cls.__new__(cls)
        self._image = image
        self._callbacks = None
        self._site = None
        self._compile()
        return self

    @property
    def size_bytes(self) -> int:
        """The size of the factory as bytes (``len(to_bytes())``): the
        pages that differ from a fresh interpreter, and a small header."""
        size = self.__dict__.get("_size")
        if size is None:
            size = self._size = len(self._image.to_bytes())
        return int(size)

    def to_bytes(self) -> bytes:
        """The factory as bytes (``load_bytes`` and ``load`` read them)."""
        return bytes(self._image.to_bytes())

    @staticmethod
    def load_bytes(data: bytes) -> SandboxFactory:
        """A factory from ``to_bytes()``'s bytes; InvalidFactoryError (a
        ValueError) when they are not one of this eryx's guest."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes")
        _configure()
        try:
            image = _eryx.image_from_bytes(bytes(data))
        except ValueError as e:
            raise InvalidFactoryError(f"failed to load factory: {e}") from None
        except RuntimeError as e:
            raise _init_error(e) from None
        return SandboxFactory._from_image(image)

    def save(self, path: PathLike) -> None:
        """Write the factory to ``path`` (atomically: a reader never sees
        half a file)."""
        target = Path(path)
        try:
            data = self.to_bytes()
            fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=".eryx-factory-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as e:
            raise InitializationError(f"failed to save factory to {path}: {e}") from None

    @staticmethod
    def load(
        path: PathLike, *, site_packages: PathLike | None = None, cache: bool = False
    ) -> SandboxFactory:
        """Read a factory that ``save`` wrote (its packages come with it;
        ``site_packages`` mounts a host directory instead)."""
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise InitializationError(f"failed to load factory from {path}: {e}") from None
        try:
            factory = SandboxFactory.load_bytes(data)
        except InvalidFactoryError as e:
            raise InvalidFactoryError(f"failed to load factory from {path}: {e}") from None
        if site_packages is not None:
            factory._site = str(site_packages)
        return factory

    def create_sandbox(
        self,
        *,
        site_packages: PathLike | None = None,
        resource_limits: ResourceLimits | None = None,
        network: NetConfig | None = None,
        callbacks: CallbacksArg = None,
        secrets: dict[str, Any] | None = None,
        scrub_stdout: bool | None = None,
        scrub_stderr: bool | None = None,
        scrub_files: bool | None = None,
        volumes: Sequence[tuple[str, str, bool]] | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
        result_variable: str | None = None,
        scrub_result: bool | None = None,
    ) -> Sandbox:
        """A sandbox each execute of which starts from the factory's state."""
        if not self._compile_queued:
            self._use()
        if (
            resource_limits is None
            and callbacks is None
            and on_stdout is None
            and on_stderr is None
            and result_variable is None
            and self._callbacks is None
            and site_packages is network is secrets is volumes is None
            and scrub_stdout is scrub_stderr is scrub_files is scrub_result is None
        ):
            # The common case, made from a template: nothing to check, and
            # the core is made at the first execute.
            template = self.__dict__.get("_plain")
            if template is None:
                template = self._plain = self._make_sandbox(
                    None, None, None, None, None, None, self._site
                ).__dict__
            sb = Sandbox.__new__(Sandbox)
            sb.__dict__.update(template)
            return sb
        net = net_args(network, secrets, scrub_stdout, scrub_stderr, scrub_files, scrub_result)
        site = site_packages if site_packages is not None else self._site
        return self._make_sandbox(
            resource_limits, callbacks, on_stdout, on_stderr, result_variable, volumes, site, net
        )

    def _make_sandbox(
        self,
        resource_limits: ResourceLimits | None,
        callbacks: CallbacksArg,
        on_stdout: Callable[[bytes], None] | None,
        on_stderr: Callable[[bytes], None] | None,
        result_variable: str | None,
        volumes: Sequence[tuple[str, str, bool]] | None = None,
        site_packages: PathLike | None = None,
        net: Any = None,
    ) -> Sandbox:
        limits = resource_limits if resource_limits is not None else ResourceLimits()
        fs = fs_args(
            volumes=volumes, max_vfs_bytes=limits.max_vfs_bytes, site_packages=site_packages
        )
        sb = Sandbox.__new__(Sandbox)
        sb._start(
            False,
            limits,
            callbacks if callbacks is not None else self._callbacks,
            on_stdout,
            on_stderr,
            result_variable,
            None,
            image=self._image,
            fs=fs,
            net=net,
        )
        return sb

    def create_session(
        self,
        *,
        vfs: VfsStorage | None = None,
        vfs_mount_path: str | None = None,
        resource_limits: ResourceLimits | None = None,
        network: NetConfig | None = None,
        callbacks: CallbacksArg = None,
        volumes: Sequence[tuple[str, str, bool]] | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
        result_variable: str | None = None,
        secrets: dict[str, Any] | None = None,
        scrub_stdout: bool | None = None,
        scrub_stderr: bool | None = None,
        scrub_result: bool | None = None,
        scrub_files: bool | None = None,
    ) -> Session:
        """A session that starts (and, after ``reset``, starts again) from
        the factory's state."""
        self._use()
        net = net_args(network, secrets, scrub_stdout, scrub_stderr, scrub_files, scrub_result)
        limits = resource_limits if resource_limits is not None else ResourceLimits()
        ss = Session.__new__(Session)
        ss._net = net
        ss._args = (
            callbacks if callbacks is not None else self._callbacks,
            on_stdout,
            on_stderr,
            result_variable,
            None,
        )
        ss._base = limits
        ss._image = self._image
        ss._set_fs(vfs, vfs_mount_path, volumes, self._site)
        ss._make(limits.execution_timeout_ms, limits.max_fuel)
        return ss

    def create_pool(
        self,
        *,
        max_size: int = 10,
        min_idle: int = 1,
        acquire_timeout_ms: int = 30000,
        idle_timeout_ms: int = 300000,
    ) -> SandboxPool:
        """A pool of sandboxes of this factory, lent one user at a time."""
        self._use()
        return SandboxPool._make(self, max_size, min_idle, acquire_timeout_ms, idle_timeout_ms)

    def __repr__(self) -> str:
        site = "None" if self._site is None else f"Some({self._site!r})"
        return f"SandboxFactory(size_bytes={self.size_bytes}, site_packages={site})"


class PoolStats:
    """A snapshot of a pool's counts."""

    __slots__ = (
        "available",
        "average_wait_time_ms",
        "idle",
        "in_use",
        "total",
        "total_acquisitions",
        "total_creations",
        "total_wait_time_ms",
        "wait_count",
    )

    def __init__(self, **values: Any) -> None:
        for k in self.__slots__:
            object.__setattr__(self, k, values[k])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("PoolStats is immutable")

    def __repr__(self) -> str:
        return "PoolStats(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


class PooledSandbox:
    """A sandbox lent by a SandboxPool: each execute starts from the
    factory's state.  ``release()`` (or leaving the ``with`` block) gives
    it back; using it afterwards raises ValueError."""

    def __init__(self, pool: SandboxPool, sandbox: Sandbox, plain: bool) -> None:
        self._pool: SandboxPool | None = pool
        self._sandbox: Sandbox | None = sandbox
        self._plain = plain

    def _live(self) -> Sandbox:
        if self._sandbox is None:
            raise ValueError("this PooledSandbox was released")
        return self._sandbox

    def execute(self, code: str) -> ExecuteResult:
        """Run code, as Sandbox.execute."""
        return self._live().execute(code)

    def execute_with_journal(
        self, code: str, journal: dict[str, Any] | None = None
    ) -> ReplayOutcome:
        """Sandbox.execute_with_journal."""
        return self._live().execute_with_journal(code, journal)

    def release(self) -> None:
        """Give the sandbox back to its pool (once; later calls do nothing)."""
        pool, sb = self._pool, self._sandbox
        self._pool = self._sandbox = None
        if pool is not None and sb is not None:
            pool._give_back(sb, self._plain)

    def __enter__(self) -> PooledSandbox:  # noqa: PYI034 - final class
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit
            pass


class SandboxPool:
    """Warm sandboxes of a SandboxFactory, lent one user at a time (made by
    ``SandboxFactory.create_pool``).  ``max_size`` bounds those lent at
    once; ``acquire`` waits up to ``acquire_timeout_ms`` for one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("make a SandboxPool with SandboxFactory.create_pool()")

    @classmethod
    def _make(
        cls,
        factory: SandboxFactory,
        max_size: int,
        min_idle: int,
        acquire_timeout_ms: int,
        idle_timeout_ms: int,
    ) -> SandboxPool:
        for name, v in (
            ("max_size", max_size),
            ("min_idle", min_idle),
            ("acquire_timeout_ms", acquire_timeout_ms),
            ("idle_timeout_ms", idle_timeout_ms),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise TypeError(f"{name} must be a non-negative int")
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self = cls.__new__(cls)
        self._factory = factory
        self._max = max_size
        self._min_idle = min(min_idle, max_size)
        self._timeout = acquire_timeout_ms / 1000.0
        self._idle_timeout = idle_timeout_ms / 1000.0
        self._cv = threading.Condition()
        self._idle: list[tuple[Sandbox, float]] = []
        self._in_use = 0
        self._closed = False
        self._acquisitions = self._creations = self._waits = 0
        self._wait_ms = 0.0
        try:
            for _ in range(self._min_idle):
                self._idle.append((self._new(None, None, None, None), time.monotonic()))
        except InitializationError:
            raise
        except Exception as e:  # noqa: BLE001
            raise InitializationError(f"pool pre-warming failed: {e}") from None
        return self

    def _new(
        self,
        resource_limits: ResourceLimits | None,
        callbacks: CallbacksArg,
        on_stdout: Callable[[bytes], None] | None,
        on_stderr: Callable[[bytes], None] | None,
    ) -> Sandbox:
        sb = self._factory.create_sandbox(
            resource_limits=resource_limits,
            callbacks=callbacks,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )
        self._creations += 1
        return sb

    def _take(self, wait: bool) -> bool:
        """Reserve a slot; False when none came (try_acquire)."""
        with self._cv:
            if self._closed:
                raise PoolClosedError("the pool is closed")
            if self._in_use < self._max:
                self._in_use += 1
                return True
            if not wait:
                return False
            if self._timeout <= 0:
                raise PoolExhaustedError(f"all {self._max} sandboxes of the pool are in use")
            self._waits += 1
            t0 = time.monotonic()
            deadline = t0 + self._timeout
            while self._in_use >= self._max and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._wait_ms += (time.monotonic() - t0) * 1e3
                    raise PoolTimeoutError(
                        f"no sandbox came free within {int(self._timeout * 1000)} ms"
                    )
                self._cv.wait(left)
            self._wait_ms += (time.monotonic() - t0) * 1e3
            if self._closed:
                raise PoolClosedError("the pool is closed")
            self._in_use += 1
            return True

    def _lend(
        self,
        resource_limits: ResourceLimits | None,
        callbacks: CallbacksArg,
        on_stdout: Callable[[bytes], None] | None,
        on_stderr: Callable[[bytes], None] | None,
    ) -> PooledSandbox:
        plain = resource_limits is None and callbacks is None and on_stdout is None
        plain = plain and on_stderr is None
        sb = None
        if plain:
            with self._cv:
                if self._idle:
                    sb = self._idle.pop()[0]
        try:
            if sb is None:
                sb = self._new(resource_limits, callbacks, on_stdout, on_stderr)
        except BaseException:
            with self._cv:
                self._in_use -= 1
                self._cv.notify()
            raise
        with self._cv:
            self._acquisitions += 1
        return PooledSandbox(self, sb, plain)

    def acquire(
        self,
        resource_limits: ResourceLimits | None = None,
        callbacks: CallbacksArg = None,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
    ) -> PooledSandbox:
        """Lend a sandbox, waiting up to the acquire timeout
        (PoolTimeoutError) for one to come free; PoolClosedError once the
        pool is closed.  Per-request state (limits, callbacks, output
        handlers) belongs to this lease only."""
        self._take(True)
        return self._lend(resource_limits, callbacks, on_stdout, on_stderr)

    def try_acquire(
        self,
        resource_limits: ResourceLimits | None = None,
        callbacks: CallbacksArg = None,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
    ) -> PooledSandbox | None:
        """acquire without waiting: None when every sandbox is lent."""
        if not self._take(False):
            return None
        return self._lend(resource_limits, callbacks, on_stdout, on_stderr)

    def _give_back(self, sb: Sandbox, plain: bool) -> None:
        with self._cv:
            self._in_use -= 1
            if plain and not self._closed and len(self._idle) + self._in_use < self._max:
                self._idle.append((sb, time.monotonic()))
            self._cv.notify()

    def stats(self) -> PoolStats:
        """The pool's counts now."""
        with self._cv:
            idle, in_use = len(self._idle), self._in_use
            return PoolStats(
                total=idle + in_use,
                idle=idle,
                available=0 if self._closed else self._max - in_use,
                in_use=in_use,
                total_acquisitions=self._acquisitions,
                total_creations=self._creations,
                wait_count=self._waits,
                total_wait_time_ms=self._wait_ms,
                average_wait_time_ms=self._wait_ms / self._waits if self._waits else 0.0,
            )

    def evict_idle(self) -> int:
        """Drop idle sandboxes older than the idle timeout, above min_idle;
        returns how many."""
        now = time.monotonic()
        with self._cv:
            keep, dropped = [], 0
            for sb, since in sorted(self._idle, key=lambda x: -x[1]):
                if len(keep) >= self._min_idle and now - since > self._idle_timeout:
                    dropped += 1
                else:
                    keep.append((sb, since))
            self._idle = keep
            return dropped

    def close(self) -> None:
        """Refuse new acquisitions, drop the idle sandboxes and wake every
        waiting acquire (it raises PoolClosedError)."""
        with self._cv:
            self._closed = True
            self._idle.clear()
            self._cv.notify_all()

    def is_closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def __enter__(self) -> SandboxPool:  # noqa: PYI034 - final class
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.stats()
        return f"SandboxPool(max_size={self._max}, idle={s.idle}, in_use={s.in_use})"
