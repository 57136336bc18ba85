"""The outcome types of ``execute_with_journal``.  liberyx records,
replays and suspends (eryx_journal, include/eryx.h); this is its Python
face (pyeryx 0.11's names).

The journal is plain JSON (eryx_journal_json's text as a dict)::

    {"version": 1, "code": "<the code>",
     "entries": [{"index": 0, "name": "fetch", "args_hash": "<16 hex>",
                  "args": {...}, "result": ...}          # or "error": "..."
                 , ...]}
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReplayOutcome", "SuspendedCallback"]


class SuspendedCallback:
    """The callback that suspended a run by raising ``SuspendCallback``."""

    __slots__ = ("_args_json", "_name", "_reason")

    def __init__(self, name: str, args_json: str, reason: str) -> None:
        self._name, self._args_json, self._reason = name, args_json, reason

    @property
    def name(self) -> str:
        """Name of the callback that suspended."""
        return self._name

    @property
    def args_json(self) -> str:
        """Canonical JSON arguments it was called with."""
        return self._args_json

    @property
    def reason(self) -> str:
        """The reason given to ``SuspendCallback``."""
        return self._reason

    def __repr__(self) -> str:
        return (
            f"SuspendedCallback(name={self._name!r}, args_json={self._args_json!r}, "
            f"reason={self._reason!r})"
        )


class ReplayOutcome:
    """Result of ``execute_with_journal``: exactly one of ``result`` and
    ``error`` is set; ``journal`` always is.  When ``suspended`` is set,
    ``error`` holds the resulting ExecutionError: branch on ``suspended``
    first."""

    __slots__ = ("_error", "_journal", "_replayed", "_result", "_suspended")

    def __init__(
        self,
        result: Any,
        error: BaseException | None,
        journal: dict[str, Any],
        replayed: int,
        suspended: SuspendedCallback | None,
    ) -> None:
        self._result, self._error, self._journal = result, error, journal
        self._replayed, self._suspended = replayed, suspended

    @property
    def result(self) -> Any:
        """The ExecuteResult, or None when the run failed or suspended."""
        return self._result

    @property
    def error(self) -> Any:
        """The exception ``execute`` would have raised, or None."""
        return self._error

    @property
    def journal(self) -> dict[str, Any]:
        """The journal of this run (JSON-compatible): pass it back as
        ``journal=`` to replay."""
        return self._journal

    @property
    def replayed_callbacks(self) -> int:
        """How many calls were served from the given journal."""
        return self._replayed

    @property
    def suspended(self) -> SuspendedCallback | None:
        """The callback that suspended the run, or None."""
        return self._suspended

    def __repr__(self) -> str:
        return (
            f"ReplayOutcome(result={self._result!r}, error={self._error!r}, "
            f"replayed_callbacks={self._replayed}, suspended={self._suspended!r}, "
            f"entries={len(self._journal.get('entries', []))})"
        )
