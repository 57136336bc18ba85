"""eryx: a sandbox for untrusted Python.

Full CPython compiled to WebAssembly, run by Wasmtime from a C library
(liberyx).  The code sees no host file, network, environment, process or
clock beyond what the host grants; it reaches the host through callbacks
it awaits.  The API is pyeryx 0.11's::

    >>> import eryx
    >>> sandbox = eryx.Sandbox()
    >>> sandbox.execute('print("Hello from the sandbox!")').stdout_text
    'Hello from the sandbox!\\n'
"""

from . import _eryx
from ._callbacks import CallbackDict, CallbackRegistry
from ._core import (
    CancelledError,
    EryxError,
    ExecuteResult,
    ExecutionError,
    InitializationError,
    MemoryLimitError,
    PoolClosedError,
    PoolError,
    PoolExhaustedError,
    PoolTimeoutError,
    ResourceLimitError,
    ResourceLimits,
    Sandbox,
    Session,
    SuspendCallback,
    TimeoutError,
)
from ._factory import PooledSandbox, PoolStats, SandboxFactory, SandboxPool
from ._journal import ReplayOutcome, SuspendedCallback
from ._net import NetConfig
from ._vfs import VfsStorage
from .mcp import MCPManager

__version__: str = _eryx.LIB_VERSION

__all__ = [
    # eryx's own additions
    "CallbackDict",
    # Classes
    "CallbackRegistry",
    "CancelledError",
    # Exceptions
    "EryxError",
    "ExecuteResult",
    "ExecutionError",
    "InitializationError",
    "MCPManager",
    "MemoryLimitError",
    "NetConfig",
    "PoolClosedError",
    "PoolError",
    "PoolExhaustedError",
    "PoolStats",
    "PoolTimeoutError",
    "PooledSandbox",
    "ReplayOutcome",
    "ResourceLimitError",
    "ResourceLimits",
    "Sandbox",
    "SandboxFactory",
    "SandboxPool",
    "Session",
    "SuspendCallback",
    "SuspendedCallback",
    "TimeoutError",
    "VfsStorage",
    "__version__",
]
