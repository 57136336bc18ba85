"""Python-level rows of `make bench`: the same operations through the Python
API, run once with our package and once with the reference pyeryx (both
imported as `eryx`), each from its own venv, in the same `make bench` run.

    python bench/python_bench.py [--quick] > rows.jsonl

Prints a "meta" line, then one JSON line per row:
    {"row": "<id>", "median_ms": .., "p99_ms": .., "n": ..}
A row the package cannot run prints {"row": .., "missing": "<why>"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import eryx

pc = time.perf_counter


def percentile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    rank = max(1, -(-len(s) * q // 100))
    return s[min(len(s), int(rank)) - 1]


def median(samples: list[float]) -> float:
    s = sorted(samples)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def emit(row: str, samples_ms: list[float], **extra: Any) -> None:
    out: dict[str, Any] = {
        "row": row,
        "median_ms": round(median(samples_ms), 5),
        "p99_ms": round(percentile(samples_ms, 99), 5),
        "n": len(samples_ms),
    }
    out.update(extra)
    print(json.dumps(out), flush=True)


def missing(row: str, why: str) -> None:
    print(json.dumps({"row": row, "missing": why}), flush=True)


def timed(fn: Callable[[], Any], reps: int, warm: int = 3) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(reps):
        t = pc()
        fn()
        out.append((pc() - t) * 1e3)
    return out


def limits() -> Any:
    return eryx.ResourceLimits(execution_timeout_ms=None, max_callback_invocations=None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 20 if args.quick else 100
    print(
        json.dumps(
            {
                "row": "meta",
                "package": getattr(eryx, "__version__", "?"),
                "file": eryx.__file__,
            }
        ),
        flush=True,
    )

    eryx.Sandbox().execute("pass")  # load the engine before timing
    emit("py_sandbox_new", timed(lambda: eryx.Sandbox(resource_limits=limits()), reps))

    sb = eryx.Sandbox(resource_limits=limits())
    emit("py_execute_pass", timed(lambda: sb.execute("pass"), reps * 5))

    ss = eryx.Session()
    emit("py_session_execute", timed(lambda: ss.execute("x = 1"), reps * 5))

    def ping() -> int:
        return 1

    cb = eryx.Sandbox(
        resource_limits=limits(), callbacks=[{"name": "ping", "fn": ping}]
    )
    n = 200
    loop = f"for _ in range({n}):\n    await ping()\n"
    base = "for _ in range(200):\n    pass\nawait asyncio.sleep(0)\n"
    cb.execute("import asyncio")
    per_call = []
    for _ in range(max(5, reps // 10)):
        t0 = pc()
        cb.execute("import asyncio\n" + base)
        t1 = pc()
        cb.execute(loop)
        t2 = pc()
        per_call.append(((t2 - t1) - (t1 - t0)) * 1e3 / n)
    emit(
        "py_callback_roundtrip",
        per_call,
        note=f"per call, {n} awaited calls per execute",
    )

    async def wait10() -> int:
        await asyncio.sleep(0.01)
        return 1

    g = eryx.Sandbox(
        resource_limits=limits(), callbacks=[{"name": "wait10", "fn": wait10}]
    )
    code = "import asyncio\nawait asyncio.gather(*(wait10() for _ in range(5)))"
    emit("py_gather5_async_10ms", timed(lambda: g.execute(code), max(10, reps // 5)))

    if hasattr(eryx, "SandboxFactory"):
        try:
            made = timed(lambda: eryx.SandboxFactory(imports=["json"]), 3, warm=1)
            emit("py_factory_new", made, note="SandboxFactory(imports=['json'])")
            factory = eryx.SandboxFactory(imports=["json"])
            emit("py_factory_create_sandbox", timed(factory.create_sandbox, reps))
            pool = factory.create_pool(max_size=2, min_idle=1)

            def pooled() -> None:
                with pool.acquire() as p:
                    p.execute("pass")

            emit("py_pool_acquire_execute_release", timed(pooled, reps * 2))
            pool.close()
        except NotImplementedError as e:
            missing("py_factory_new", str(e))
            missing("py_factory_create_sandbox", str(e))
            missing("py_pool_acquire_execute_release", str(e))


if __name__ == "__main__":
    main()
