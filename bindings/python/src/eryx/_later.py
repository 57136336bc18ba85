"""Names of the reference's API whose capabilities come with later work.

They exist so that code importing them keeps importing; making one raises
NotImplementedError naming the capability, so nothing is silently ignored.
"""

from __future__ import annotations

from typing import NoReturn

__all__ = [
    "MCPManager",
]


def _not_yet(what: str) -> NoReturn:
    raise NotImplementedError(f"{what} is not available in this version of eryx yet")


class MCPManager:
    """MCP servers' tools as callbacks (not available yet: MCP)."""

    def __init__(self) -> None:
        _not_yet("MCP servers (MCPManager)")
