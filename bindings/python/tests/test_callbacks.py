"""Callbacks: registry, dicts, schemas, sync and async, errors, concurrency."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import eryx


def test_registry_decorator_defaults_and_schema() -> None:
    reg = eryx.CallbackRegistry()

    @reg.callback(description="adds")
    def add(a: int, b: float = 1.5, *, c: str = "x", d: list = None, g=None) -> float:  # type: ignore[assignment]  # noqa: RUF013
        """Not this."""
        return a + b

    @reg.callback()
    def doc() -> None:
        """First line.

        More."""

    def plain(x):  # type: ignore[no-untyped-def]
        return x

    reg.add(plain, name="ns.plain")
    assert len(reg) == 3
    assert repr(reg) == "CallbackRegistry([add, doc, ns.plain])"
    items = list(reg)
    assert items[0]["name"] == "add" and items[0]["description"] == "adds"
    assert items[0]["fn"] is add
    assert items[0]["schema"] == {
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "number"},
            "c": {"type": "string"},
            "d": {"type": "array"},
            "g": {},
        },
        "required": ["a"],
        "type": "object",
    }
    assert items[1]["description"] == "First line."
    assert items[2]["schema"]["required"] == ["x"]


def test_callbacks_are_awaited_with_args_kwargs_and_invoke() -> None:
    reg = eryx.CallbackRegistry()

    @reg.callback()
    def add(a: int, b: int = 10) -> int:
        return a + b

    @reg.callback(name="math.mul")
    def mul(a: int, b: int) -> int:
        return a * b

    r = eryx.Sandbox(callbacks=reg).execute(
        "print(await add(1, 2), await add(a=5), await math.mul(3, 4),\n"
        "      await invoke('add', a=1, b=1))\n"
        "print(sorted(c['name'] for c in list_callbacks()))\n"
    )
    assert r.stdout_text == "3 15 12 2\n['add', 'math.mul']\n"
    assert r.callback_invocations == 4


def test_callback_dicts_and_mixed_lists() -> None:
    reg = eryx.CallbackRegistry()
    reg.add(lambda: "r", name="from_reg")
    cbs: list[Any] = [{"name": "d", "fn": lambda x: x * 2, "description": "double"}, reg]
    r = eryx.Sandbox(callbacks=cbs).execute("print(await d(x=21), await from_reg())")
    assert r.stdout_text == "42 r\n"


def test_callback_argument_validation_errors() -> None:
    with pytest.raises(TypeError, match="CallbackRegistry or list"):
        eryx.Sandbox(callbacks="nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dicts or CallbackRegistry"):
        eryx.Sandbox(callbacks=[42])  # type: ignore[list-item]
    with pytest.raises(KeyError, match="name"):
        eryx.Sandbox(callbacks=[{"fn": print}])  # type: ignore[typeddict-item]
    with pytest.raises(KeyError, match="fn"):
        eryx.Sandbox(callbacks=[{"name": "x"}])  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="Invalid schema"):
        eryx.Sandbox(callbacks=[{"name": "x", "fn": print, "schema": 3}])  # type: ignore[typeddict-item]
    with pytest.raises(ValueError):
        eryx.Sandbox(callbacks=[{"name": "not a name", "fn": print}])
    with pytest.raises(ValueError, match="unique"):
        eryx.Sandbox(callbacks=[{"name": "x", "fn": print}, {"name": "x", "fn": print}])


def test_schema_is_checked_before_the_callback_runs() -> None:
    ran = []

    def f(n: int) -> int:
        ran.append(n)
        return n

    r = eryx.Sandbox(callbacks=[{"name": "f", "fn": f}]).execute(
        "try:\n    await f()\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "print(await f(3))\n"
    )
    assert r.stdout_text.splitlines()[1] == "3"
    assert ran == [3]


def test_callback_exception_reaches_the_guest_with_type_and_message() -> None:
    def boom() -> None:
        raise KeyError("nope")

    r = eryx.Sandbox(callbacks=[{"name": "boom", "fn": boom}]).execute(
        "try:\n    await boom()\nexcept Exception as e:\n    print(type(e).__name__, str(e))\n"
    )
    assert "KeyError" in r.stdout_text and "nope" in r.stdout_text


def test_callback_result_that_json_cannot_carry_raises_in_the_guest() -> None:
    r = eryx.Sandbox(
        callbacks=[
            {"name": "obj", "fn": lambda: object()},
            {"name": "nan", "fn": lambda: float("nan")},
        ]
    ).execute(
        "for f in (obj, nan):\n"
        "    try:\n        await f()\n"
        "    except Exception as e:\n        print('raised', 'JSON' in str(e))\n"
        "print('alive')\n"
    )
    assert r.stdout_text == "raised True\nraised True\nalive\n"


def test_async_callbacks_run_concurrently_on_one_loop() -> None:
    loops: set[int] = set()

    async def slow(ms: int) -> dict[str, int]:
        loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(ms / 1000)
        return {"slept": ms}

    sb = eryx.Sandbox(callbacks=[{"name": "slow", "fn": slow}])
    t0 = time.monotonic()
    r = sb.execute("import asyncio\nprint(await asyncio.gather(slow(300), slow(300)))")
    elapsed = time.monotonic() - t0
    assert r.stdout_text == "[{'slept': 300}, {'slept': 300}]\n"
    assert elapsed < 0.55, f"two 0.3 s callbacks took {elapsed:.2f} s"
    sb.execute("await slow(1)")
    assert len(loops) == 1, "async callbacks must share one long-lived loop"


def test_five_async_callbacks_gathered() -> None:
    async def wait(i: int) -> int:
        await asyncio.sleep(0.05)
        return i

    r = eryx.Sandbox(callbacks=[{"name": "wait", "fn": wait}]).execute(
        "import asyncio\nprint(await asyncio.gather(*(wait(i) for i in range(5))))"
    )
    assert r.stdout_text == "[0, 1, 2, 3, 4]\n"


def test_sync_callbacks_run_on_other_threads_in_parallel() -> None:
    threads: set[int] = set()

    def block(ms: int) -> int:
        threads.add(threading.get_ident())
        time.sleep(ms / 1000)
        return ms

    sb = eryx.Sandbox(callbacks=[{"name": "block", "fn": block}])
    t0 = time.monotonic()
    r = sb.execute("import asyncio\nprint(await asyncio.gather(block(300), block(300)))")
    assert r.stdout_text == "[300, 300]\n"
    assert time.monotonic() - t0 < 0.55
    assert threading.get_ident() not in threads


def test_async_callback_exception() -> None:
    async def bad() -> None:
        await asyncio.sleep(0)
        raise ValueError("async nope")

    r = eryx.Sandbox(callbacks=[{"name": "bad", "fn": bad}]).execute(
        "try:\n    await bad()\nexcept Exception as e:\n    print('ValueError' in str(e), 'async nope' in str(e))\n"
    )
    assert r.stdout_text == "True True\n"


def test_callback_timeout() -> None:
    def sleepy() -> None:
        time.sleep(1.0)

    sb = eryx.Sandbox(
        callbacks=[{"name": "sleepy", "fn": sleepy}],
        resource_limits=eryx.ResourceLimits(callback_timeout_ms=100),
    )
    t0 = time.monotonic()
    r = sb.execute("try:\n    await sleepy()\nexcept Exception as e:\n    print('timed out')\n")
    assert r.stdout_text == "timed out\n"
    assert time.monotonic() - t0 < 0.9


def test_many_calls_from_one_worker_and_an_exit_while_a_thread_calls() -> None:
    # Handlers keep their worker's Python thread state between calls; an
    # interpreter that exits while a daemon thread's sandbox is calling
    # back stops entering Python, and exits cleanly.
    sb = eryx.Sandbox(
        callbacks=[{"name": "inc", "fn": lambda x: x + 1}],
        resource_limits=eryx.ResourceLimits(max_callback_invocations=None),
    )
    r = sb.execute("n = 0\nfor _ in range(2000):\n    n = await inc(x=n)\nprint(n)")
    assert r.stdout == b"2000\n"
    code = (
        "import threading, time, eryx\n"
        "sb = eryx.Sandbox(callbacks=[{'name': 'ping', 'fn': lambda: 1}])\n"
        "def spin():\n"
        "    while True:\n"
        "        try:\n"
        "            sb.execute('for _ in range(100): await ping()')\n"
        "        except eryx.EryxError:\n"
        "            pass\n"
        "threading.Thread(target=spin, daemon=True).start()\n"
        "time.sleep(0.3)\n"
        "print('bye')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "bye\n"
