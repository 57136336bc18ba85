"""Sandbox, ExecuteResult, ResourceLimits and the errors."""

from __future__ import annotations

import builtins
import gc
import json
import resource
import threading
import time
import tracemalloc

import pytest

import eryx


def test_execute_prints_bytes_and_text() -> None:
    r = eryx.Sandbox().execute("print('héllo')")
    assert r.stdout == "héllo\n".encode()
    assert r.stdout_text == "héllo\n"
    assert r.stderr == b""
    assert str(r) == "héllo\n"
    assert r.duration_ms > 0
    assert r.callback_invocations == 0
    assert r.peak_memory_bytes and r.peak_memory_bytes > 1 << 20
    assert r.fuel_consumed is None  # no fuel budget, no metering
    assert "ExecuteResult(stdout=" in repr(r)


def test_lone_surrogates_survive_as_surrogateescape() -> None:
    r = eryx.Sandbox().execute(
        "import sys; sys.stdout.buffer.write(b'a\\xffb'); sys.stdout.flush()"
    )
    assert r.stdout == b"a\xffb"
    assert r.stdout_text == "a\udcffb"


def test_each_execute_is_fresh() -> None:
    sb = eryx.Sandbox()
    sb.execute("x = 1")
    with pytest.raises(eryx.ExecutionError, match="NameError"):
        sb.execute("print(x)")


def test_result_is_frozen() -> None:
    r = eryx.Sandbox().execute("pass")
    with pytest.raises(AttributeError):
        r.stdout = b"x"  # type: ignore[misc]


def test_exception_hierarchy() -> None:
    assert issubclass(eryx.ExecutionError, eryx.EryxError)
    assert issubclass(eryx.InitializationError, eryx.EryxError)
    assert issubclass(eryx.ResourceLimitError, eryx.EryxError)
    assert issubclass(eryx.TimeoutError, eryx.EryxError)
    assert issubclass(eryx.TimeoutError, builtins.TimeoutError)
    for cls in (eryx.PoolExhaustedError, eryx.PoolTimeoutError, eryx.PoolClosedError):
        assert issubclass(cls, eryx.PoolError)
    assert issubclass(eryx.PoolError, eryx.EryxError)
    assert issubclass(eryx.EryxError, Exception)
    assert issubclass(eryx.SuspendCallback, Exception)


def test_python_exception_is_execution_error_with_traceback() -> None:
    with pytest.raises(eryx.ExecutionError) as info:
        eryx.Sandbox().execute("def f():\n    1/0\nf()")
    text = str(info.value)
    assert "Traceback" in text and "ZeroDivisionError: division by zero" in text
    assert 'File "<user>", line 2, in f' in text


def test_syntax_error_and_system_exit() -> None:
    with pytest.raises(eryx.ExecutionError, match="SyntaxError"):
        eryx.Sandbox().execute("def (:")
    with pytest.raises(eryx.ExecutionError, match="SystemExit"):
        eryx.Sandbox().execute("raise SystemExit(3)")


def test_bad_code_arguments() -> None:
    sb = eryx.Sandbox()
    with pytest.raises(TypeError):
        sb.execute(b"print(1)")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sb.execute(None)  # type: ignore[arg-type]
    with pytest.raises(eryx.ExecutionError):
        sb.execute("print('a')\0")
    with pytest.raises(eryx.ExecutionError):
        sb.execute("x = '\udcff'")
    assert sb.execute("print(2)").stdout == b"2\n"  # still usable


def test_timeout_is_both_kinds_of_timeout() -> None:
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(execution_timeout_ms=200))
    t0 = time.monotonic()
    with pytest.raises(builtins.TimeoutError) as info:
        sb.execute("while True: pass")
    assert isinstance(info.value, eryx.EryxError)
    assert "200" in str(info.value)
    assert time.monotonic() - t0 < 5
    assert sb.execute("print('ok')").stdout == b"ok\n"


def test_memory_limit() -> None:
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(max_memory_bytes=64 << 20))
    with pytest.raises(eryx.ResourceLimitError) as info:
        sb.execute("x = bytearray(200 << 20)")
    assert isinstance(info.value, eryx.ExecutionError)  # as the reference reports it
    assert "MemoryError" in str(info.value)


def test_fuel_limit_and_fuel_consumed() -> None:
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(max_fuel=10_000_000))
    r = sb.execute("sum(range(1000))")
    assert r.fuel_consumed is not None and 0 < r.fuel_consumed < 10_000_000
    with pytest.raises(eryx.ResourceLimitError):
        sb.execute("while True: pass")


def test_callback_invocation_limit() -> None:
    calls = []
    sb = eryx.Sandbox(
        callbacks=[{"name": "tick", "fn": lambda: calls.append(1)}],
        resource_limits=eryx.ResourceLimits(max_callback_invocations=3),
    )
    r = sb.execute(
        "n = 0\n"
        "try:\n"
        "    for _ in range(10):\n"
        "        await tick()\n"
        "        n += 1\n"
        "except Exception as e:\n"
        "    print(n, type(e).__name__)\n"
    )
    assert r.stdout_text.startswith("3 ")
    assert len(calls) == 3


def test_resource_limits_defaults_and_unlimited() -> None:
    d = eryx.ResourceLimits()
    assert (
        d.execution_timeout_ms,
        d.callback_timeout_ms,
        d.max_memory_bytes,
        d.max_callback_invocations,
        d.max_fuel,
        d.max_vfs_bytes,
    ) == (30000, 10000, 134217728, 1000, None, None)
    u = eryx.ResourceLimits.unlimited()
    assert u.execution_timeout_ms is None and u.max_memory_bytes is None
    assert eryx.Sandbox(resource_limits=u).execute("print(1)").stdout == b"1\n"
    with pytest.raises(TypeError):
        eryx.ResourceLimits(execution_timeout_ms=-1)
    with pytest.raises(TypeError):
        eryx.ResourceLimits(max_fuel="lots")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        eryx.Sandbox(resource_limits={"execution_timeout_ms": 1})  # type: ignore[arg-type]


def test_result_variable() -> None:
    r = eryx.Sandbox().execute("result = {'a': [1, 2.5, None]}")
    assert r.result == {"a": [1, 2.5, None]}
    assert json.loads(r.result_json or "") == r.result
    assert r.result_error is None
    r = eryx.Sandbox(result_variable="answer").execute("answer = 42\nresult = 1")
    assert r.result == 42
    r = eryx.Sandbox().execute("result = object()")
    assert r.result is None
    assert r.result_error == "result is not JSON-serializable: object (TypeError)"
    r = eryx.Sandbox().execute("result = float('nan')")
    assert r.result_error == "result is not JSON-serializable: float (ValueError)"
    assert eryx.Sandbox().execute("pass").result is None


def test_streaming_output_as_bytes() -> None:
    out: list[bytes] = []
    err: list[bytes] = []
    sb = eryx.Sandbox(on_stdout=out.append, on_stderr=err.append)
    r = sb.execute("import sys\nprint('a', flush=True)\nprint('b', file=sys.stderr)\nprint('c')")
    assert b"".join(out) == b"a\nc\n"
    assert b"".join(err) == b"b\n"
    assert r.stdout == b"a\nc\n"
    with pytest.raises(TypeError):
        eryx.Sandbox(on_stdout=42)  # type: ignore[arg-type]


def test_capability_arguments_are_checked_not_ignored() -> None:
    with pytest.raises(TypeError, match="mcp must be an MCPManager"):
        eryx.Sandbox(mcp=object())
    with pytest.raises(TypeError, match="mcp must be an MCPManager"):
        eryx.Session(mcp=object())
    with pytest.raises(TypeError, match="network must be a NetConfig"):
        eryx.Sandbox(network=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="network must be a NetConfig"):
        eryx.Session(network=object())  # type: ignore[arg-type]


def test_threads_run_sandboxes_at_once() -> None:
    barrier = threading.Barrier(2)
    done: list[float] = []

    def run() -> None:
        sb = eryx.Sandbox()
        barrier.wait()
        sb.execute("import time; time.sleep(0.2)")
        done.append(time.monotonic())

    threads = [threading.Thread(target=run) for _ in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 2
    assert max(done) - t0 < 0.35, "the GIL was held while a sandbox ran"


def test_one_sandbox_shared_by_threads_serializes() -> None:
    sb = eryx.Sandbox()
    outs: list[bytes] = []

    def run(i: int) -> None:
        outs.append(sb.execute(f"print({i})").stdout)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outs) == sorted(f"{i}\n".encode() for i in range(8))


def test_version() -> None:
    assert isinstance(eryx.__version__, str) and eryx.__version__.count(".") == 2


def test_no_growth_over_many_executes() -> None:
    sb = eryx.Sandbox()
    for _ in range(200):
        sb.execute("pass")
    gc.collect()
    tracemalloc.start()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    snap0 = tracemalloc.take_snapshot()
    for _ in range(10_000):
        sb.execute("pass")
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    assert grown < 64 * 1024, f"tracemalloc grew by {grown} bytes"
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert rss1 - rss0 < 32 * 1024, f"max RSS grew by {rss1 - rss0} KiB"


CTRL_C = """
import os, signal, threading, time
import eryx
sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(execution_timeout_ms=None))
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t0 = time.monotonic()
try:
    sb.execute("while True: pass")
except KeyboardInterrupt:
    print("KeyboardInterrupt", round(time.monotonic() - t0, 1) < 3)
print(sb.execute("print('again')").stdout)
"""


def test_ctrl_c_cancels_the_run_and_raises_keyboard_interrupt() -> None:
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-c", CTRL_C], check=False, capture_output=True, text=True, timeout=60
    )
    assert p.stdout == "KeyboardInterrupt True\nb'again\\n'\n", p.stderr
