"""Callback journals: record each callback call of a run, replay them on a
later run, suspend a run from a callback (pyeryx 0.11's
``execute_with_journal``).

A journal is a plain JSON-compatible dict::

    {"version": 1, "code": "<the code>",
     "entries": [{"index": 0, "name": "fetch", "args_hash": "<sha256>",
                  "args": {...}, "result": ...}          # or "error": "..."
                 , ...]}

Calls are matched by the order in which the code started them
(``eryx_call_index``), not by the order their handlers happen to run in:
call ``i`` is replayed when every call before it was and entry ``i`` has
the same name and the same canonical arguments (JSON with sorted keys);
the first call that does not match runs live, and so does every call after
it.  Replayed results are trusted input: they reach the code verbatim.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

__all__ = ["Journal", "ReplayOutcome", "SuspendedCallback", "canonical"]

VERSION = 1


def canonical(args_json: str) -> str:
    """The canonical JSON text of a call's arguments."""
    return json.dumps(
        json.loads(args_json), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def _bad(why: str) -> ValueError:
    return ValueError(f"invalid journal: {why}")


def parse(journal: Any) -> list[dict[str, Any]]:
    """The entries of a journal, checked; ValueError when it is not one."""
    if journal is None:
        return []
    if not isinstance(journal, dict):
        raise _bad("must be a dict")
    try:
        json.dumps(journal, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise _bad(f"not JSON: {e}") from None
    if journal.get("version", VERSION) != VERSION:
        raise _bad(f"unknown version {journal.get('version')!r}")
    if "code" in journal and not isinstance(journal["code"], str):
        raise _bad("code must be a string")
    entries = journal.get("entries")
    if not isinstance(entries, list):
        raise _bad("entries must be a list")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise _bad(f"entry {i} is not a dict")
        if not isinstance(e.get("name"), str):
            raise _bad(f"entry {i} has no name")
        if "args" not in e:
            raise _bad(f"entry {i} has no args")
        if ("result" in e) == ("error" in e):
            raise _bad(f"entry {i} must have exactly one of result and error")
        if "error" in e and not isinstance(e["error"], str):
            raise _bad(f"entry {i}'s error must be a string")
        if "index" in e and (not isinstance(e["index"], int) or e["index"] != i):
            raise _bad(f"entry {i} has index {e.get('index')!r}")
        canon = json.dumps(e["args"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        h = e.get("args_hash")
        if h is not None and h != hashlib.sha256(canon.encode()).hexdigest():
            raise _bad(f"entry {i}'s args_hash does not match its args")
        out.append({**e, "_canon": canon})
    return out


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


class Journal:
    """The journal of one run, shared by the callbacks' handlers (they run
    on several threads at once)."""

    # A call waits for the decisions of the calls started before it; their
    # handlers are already on their way, so the wait is short.  Past this,
    # the call runs live rather than hang.
    ORDER_WAIT_S = 10.0

    def __init__(self, code: str, entries: list[dict[str, Any]], cancel: Any) -> None:
        self.code = code
        self.replay = entries
        self.cancel = cancel
        self.cv = threading.Condition()
        self.next_index = 0  # the next call to decide, in start order
        self.live = False
        self.records: dict[int, dict[str, Any]] = {}
        self.replayed = 0
        self.suspended: SuspendedCallback | None = None

    def decide(self, index: int, name: str, canon: str) -> dict[str, Any] | None:
        """The entry to replay for call ``index``, or None: run it live."""
        with self.cv:
            if not self.cv.wait_for(lambda: self.next_index >= index, self.ORDER_WAIT_S):
                self.live = True
            entry = None
            if not self.live and index < len(self.replay):
                e = self.replay[index]
                if e["name"] == name and e["_canon"] == canon:
                    entry = e
            if entry is None:
                self.live = True
            else:
                self.replayed += 1
                self.records[index] = self._entry(index, name, canon, entry)
            self.next_index = max(self.next_index, index + 1)
            self.cv.notify_all()
            return entry

    @staticmethod
    def _entry(index: int, name: str, canon: str, outcome: dict[str, Any]) -> dict[str, Any]:
        e: dict[str, Any] = {
            "index": index,
            "name": name,
            "args_hash": hashlib.sha256(canon.encode()).hexdigest(),
            "args": json.loads(canon),
        }
        if "error" in outcome:
            e["error"] = outcome["error"]
        else:
            e["result"] = outcome["result"]
        return e

    def record(self, index: int, name: str, canon: str, outcome: dict[str, Any]) -> None:
        """A live call finished with {"result": ...} or {"error": ...}."""
        with self.cv:
            if self.suspended is None:
                self.records[index] = self._entry(index, name, canon, outcome)

    def suspend(self, name: str, canon: str, reason: str) -> None:
        """A callback raised SuspendCallback: stop the run."""
        with self.cv:
            if self.suspended is None:
                self.suspended = SuspendedCallback(name, canon, reason)
        self.cancel()

    def to_dict(self) -> dict[str, Any]:
        """The journal so far: the calls recorded, in start order, up to the
        first one that did not finish (later ones are left to run again)."""
        with self.cv:
            entries = []
            for i in sorted(self.records):
                if i != len(entries):
                    break
                entries.append(self.records[i])
            return {"version": VERSION, "code": self.code, "entries": entries}
