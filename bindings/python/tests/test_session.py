"""Session: state between executes, reset, snapshots, settable limits."""

from __future__ import annotations

import pytest

import eryx


def test_state_persists_and_counts() -> None:
    s = eryx.Session()
    assert s.execution_count == 0
    s.execute("x = 41")
    assert s.execute("x += 1\nprint(x)").stdout == b"42\n"
    assert s.execution_count == 2
    assert repr(s) == "Session(execution_count=2)"
    assert s.vfs is None and s.vfs_mount_path is None


def test_reset_and_clear_state() -> None:
    s = eryx.Session()
    s.execute("import json\nx = 1")
    s.clear_state()
    with pytest.raises(eryx.ExecutionError, match="NameError"):
        s.execute("x")
    s.execute("y = 2")
    s.reset()
    with pytest.raises(eryx.ExecutionError, match="NameError"):
        s.execute("y")


def test_snapshot_and_restore() -> None:
    s = eryx.Session()
    s.execute("data = {'k': [1, 2]}\ncount = 7")
    snap = s.snapshot_state()
    assert isinstance(snap, bytes) and len(snap) > 8
    other = eryx.Session()
    other.restore_state(snap)
    assert other.execute("print(data['k'], count)").stdout == b"[1, 2] 7\n"


def test_corrupt_snapshot_is_value_error() -> None:
    s = eryx.Session()
    for bad in (b"", b"garbage", b"\x00" * 64):
        with pytest.raises(ValueError):
            s.restore_state(bad)
    with pytest.raises(TypeError):
        s.restore_state("text")  # type: ignore[arg-type]
    assert s.execute("print('still fine')").stdout == b"still fine\n"


def test_execution_timeout_is_settable_and_keeps_state() -> None:
    s = eryx.Session(execution_timeout_ms=5000)
    assert s.execution_timeout_ms == 5000
    s.execute("kept = 'yes'")
    s.execution_timeout_ms = 200
    assert s.execution_timeout_ms == 200
    with pytest.raises(eryx.TimeoutError):
        s.execute("while True: pass")
    s.execution_timeout_ms = None
    assert s.execution_timeout_ms is None


def test_fuel_limit_property() -> None:
    s = eryx.Session(max_fuel=5_000_000)
    assert s.fuel_limit == 5_000_000
    with pytest.raises(eryx.ResourceLimitError):
        s.execute("while True: pass")
    s.fuel_limit = None
    assert s.execute("print(sum(range(10)))").stdout == b"45\n"


def test_session_callbacks_and_result() -> None:
    s = eryx.Session(callbacks=[{"name": "two", "fn": lambda: 2}], result_variable="out")
    s.execute("base = await two()")
    r = s.execute("out = base * 21")
    assert r.result == 42
