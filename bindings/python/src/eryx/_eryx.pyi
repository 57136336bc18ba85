"""Type stubs of the extension module eryx._eryx (internal: the low layer
over liberyx; the public API is the eryx package)."""

from collections.abc import Callable
from typing import TypeAlias

LIB_VERSION: str
PYTHON_VERSION: str
ERYX_OK: int
ERYX_E_NOMEM: int
ERYX_E_INVALID_ARG: int
ERYX_E_IO: int
ERYX_E_ENGINE: int
ERYX_E_ABI: int
ERYX_E_INVALID_INPUT: int
ERYX_E_BUSY: int
ERYX_E_PYTHON: int
ERYX_E_TIMEOUT: int
ERYX_E_FUEL: int
ERYX_E_MEMORY_LIMIT: int
ERYX_E_OUTPUT_LIMIT: int
ERYX_E_TRAP: int
ERYX_E_CANCELLED: int
ERYX_E_SUSPENDED: int
ERYX_E_INCOMPLETE: int

def configure(runtime: str, stdlib: str, cache: str | None, /) -> None: ...
def engine_info() -> str: ...
def finalizing() -> None: ...
def precompile(out_path: str | None, fuel: bool, /) -> None: ...

class Call:
    index: int
    def ok(self, json: str, /) -> None: ...
    def fail(self, message: str, /) -> None: ...
    def suspend(self, reason: str, /) -> None: ...

class Journal:
    replayed: int
    def __init__(self, text: str | None = ..., /) -> None: ...
    def json(self) -> str | None: ...
    def suspended(self) -> tuple[str, str, str] | None: ...

class Image:
    stored_size: int
    memory_size: int
    def to_bytes(self) -> bytes: ...

def image_from_bytes(data: bytes, /) -> Image: ...

Outcome: TypeAlias = tuple[
    int, bytes, bytes, str | None, str | None, str | None, int, int, int, int
]

class Core:
    execution_count: int
    def __init__(
        self,
        session: bool,
        limits: tuple[int, int, int, int, int],
        result_variable: str | None,
        callbacks: list[tuple[str, str, str | None, Callable[[Call, str], None]]],
        on_output: Callable[[int, bytes], None] | None,
        on_trace: Callable[[int, int, str], None] | None = ...,
        image: Image | None = ...,
        /,
    ) -> None: ...
    def execute(
        self, code: str, journal: Journal | None = ..., interactive: bool = ..., /
    ) -> Outcome: ...
    def cancel(self) -> None: ...
    def interrupt(self) -> None: ...
    def reset(self) -> None: ...
    def capture(self) -> Image: ...
    def clear_state(self) -> None: ...
    def snapshot_state(self) -> bytes: ...
    def restore_state(self, snapshot: bytes, /) -> None: ...
