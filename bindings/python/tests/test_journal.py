"""Callback journals: record, replay, mismatch goes live, suspend and resume."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import eryx

CODE = """
import asyncio
a = await fetch(key="a")
b, c = await asyncio.gather(fetch(key="b"), fetch(key="c"))
d = await fetch(key="d")
print(a, b, c, d)
"""


def make(calls: list[str], suspend_on: str | None = None) -> list[Any]:
    def fetch(key: str) -> str:
        if key == suspend_on:
            raise eryx.SuspendCallback(f"needs approval for {key}")
        calls.append(key)
        return key.upper()

    return [{"name": "fetch", "fn": fetch}]


def test_record_then_replay_without_running() -> None:
    calls: list[str] = []
    sb = eryx.Sandbox(callbacks=make(calls))
    out = sb.execute_with_journal(CODE)
    assert out.error is None and out.suspended is None
    assert out.result is not None and out.result.stdout == b"A B C D\n"
    assert out.replayed_callbacks == 0
    j = out.journal
    assert j["code"] == CODE
    assert [(e["index"], e["name"], e["args"], e["result"]) for e in j["entries"]] == [
        (0, "fetch", {"key": "a"}, "A"),
        (1, "fetch", {"key": "b"}, "B"),
        (2, "fetch", {"key": "c"}, "C"),
        (3, "fetch", {"key": "d"}, "D"),
    ]
    assert all(len(e["args_hash"]) == 16 for e in j["entries"])
    assert calls == ["a", "b", "c", "d"] or sorted(calls) == ["a", "b", "c", "d"]
    # Plain JSON: it survives a round trip through text.
    j2 = json.loads(json.dumps(j))
    calls.clear()
    again = sb.execute_with_journal(CODE, journal=j2)
    assert again.result is not None and again.result.stdout == b"A B C D\n"
    assert again.replayed_callbacks == 4
    assert calls == []
    assert again.journal["entries"] == j["entries"]


def test_first_mismatch_goes_live_and_everything_after_it() -> None:
    calls: list[str] = []
    sb = eryx.Sandbox(callbacks=make(calls))
    j = sb.execute_with_journal(CODE).journal
    j["entries"][1]["args"] = {"key": "other"}
    del j["entries"][1]["args_hash"]
    calls.clear()
    out = sb.execute_with_journal(CODE, journal=j)
    assert out.replayed_callbacks == 1
    assert sorted(calls) == ["b", "c", "d"]
    assert out.result is not None and out.result.stdout == b"A B C D\n"


def test_recorded_errors_replay_as_errors() -> None:
    def boom() -> None:
        raise KeyError("recorded")

    sb = eryx.Sandbox(callbacks=[{"name": "boom", "fn": boom}])
    code = "try:\n    await boom()\nexcept Exception as e:\n    print('caught', 'recorded' in str(e))\n"
    out = sb.execute_with_journal(code)
    assert out.result is not None and out.result.stdout == b"caught True\n"
    assert "error" in out.journal["entries"][0]
    ran: list[int] = []
    sb2 = eryx.Sandbox(callbacks=[{"name": "boom", "fn": lambda: ran.append(1)}])
    out2 = sb2.execute_with_journal(code, journal=out.journal)
    assert out2.result is not None and out2.result.stdout == b"caught True\n"
    assert ran == [] and out2.replayed_callbacks == 1


def test_suspend_then_resume_by_replaying() -> None:
    calls: list[str] = []
    sb = eryx.Sandbox(callbacks=make(calls, suspend_on="d"))
    out = sb.execute_with_journal(CODE)
    assert out.suspended is not None
    assert out.suspended.name == "fetch"
    assert json.loads(out.suspended.args_json) == {"key": "d"}
    assert out.suspended.reason == "needs approval for d"
    assert out.result is None and isinstance(out.error, eryx.ExecutionError)
    assert [e["args"]["key"] for e in out.journal["entries"]] == ["a", "b", "c"]
    # Approved: resume with the journal; only the suspended call runs live.
    calls.clear()
    sb2 = eryx.Sandbox(callbacks=make(calls))
    done = sb2.execute_with_journal(CODE, journal=out.journal)
    assert done.result is not None and done.result.stdout == b"A B C D\n"
    assert done.replayed_callbacks == 3 and calls == ["d"]


def test_async_callbacks_are_journaled() -> None:
    async def slow(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))
        return n * 10

    sb = eryx.Sandbox(callbacks=[{"name": "slow", "fn": slow}])
    code = "import asyncio\nprint(await asyncio.gather(slow(n=0), slow(n=1), slow(n=2)))"
    out = sb.execute_with_journal(code)
    assert [e["result"] for e in out.journal["entries"]] == [0, 10, 20]
    again = sb.execute_with_journal(code, journal=out.journal)
    assert again.replayed_callbacks == 3
    assert again.result is not None and again.result.stdout == b"[0, 10, 20]\n"


def test_session_rolls_back_when_a_run_is_suspended() -> None:
    calls: list[str] = []
    ss = eryx.Session(callbacks=make(calls, suspend_on="d"))
    ss.execute("counter = 1")
    out = ss.execute_with_journal("counter += 1\n" + CODE)
    assert out.suspended is not None
    assert ss.execute("print(counter, 'a' in globals())").stdout == b"1 False\n"


def test_failures_are_outcomes_not_exceptions() -> None:
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(execution_timeout_ms=200))
    out = sb.execute_with_journal("1/0")
    assert out.result is None and isinstance(out.error, eryx.ExecutionError)
    out = sb.execute_with_journal("while True: pass")
    assert isinstance(out.error, eryx.TimeoutError)
    assert out.journal["entries"] == []


def test_malformed_journals_are_value_errors() -> None:
    sb = eryx.Sandbox(callbacks=make([]))
    bad: list[Any] = [
        "text",
        [],
        {"entries": "x"},
        {"entries": [1]},
        {"entries": [{"name": "fetch"}]},
        {"entries": [{"name": "fetch", "args": {}, "result": 1, "error": "e"}]},
        {"entries": [{"name": "fetch", "args": {}}]},
        {"entries": [{"name": "fetch", "args": {}, "result": 1, "index": 5}]},
        {"entries": [{"name": "fetch", "args": {}, "result": 1, "args_hash": "0"}]},
        {"version": 99, "entries": []},
        {"entries": [{"name": "fetch", "args": {}, "result": float("nan")}]},
        {"entries": [{"name": "fetch", "args": object(), "result": 1}]},
    ]
    for journal in bad:
        with pytest.raises(ValueError):
            sb.execute_with_journal("pass", journal=journal)
    assert sb.execute("print('fine')").stdout == b"fine\n"


def test_pooled_and_factory_sandboxes_journal() -> None:
    calls: list[str] = []
    f = eryx.SandboxFactory(setup_code="x = 1", callbacks=make(calls))
    with f.create_pool(max_size=1) as pool, pool.acquire() as p:
        out = p.execute_with_journal(CODE)
        assert out.result is not None and len(out.journal["entries"]) == 4
        again = p.execute_with_journal(CODE, journal=out.journal)
        assert again.replayed_callbacks == 4
