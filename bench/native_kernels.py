"""Time bench/kernels.py on the Python running this script (the native column
of `make bench`). One warm-up call per kernel, then --reps timed calls; one
JSON line per kernel:

    {"name": "nbody", "median_ms": 111.2, "p99_ms": 113.0, "n": 10, "python": "3.13.15", "ok": true}

"ok" says the kernel returned its expected value. Runs on any Python >= 3.8;
for the comparison use the native CPython built from the guest's source:

    ${ERYX_CACHE:-~/.cache/eryx}/guest-py3.13.15-*/cpython/cross-build/build/python \\
        bench/native_kernels.py --reps 10
"""

import argparse
import json
import os
import platform
import sys
import time


def percentile(samples, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(samples)
    rank = max(1, -(-len(s) * q // 100))   # ceil(n * q / 100)
    return s[min(len(s), int(rank)) - 1]


def median(samples):
    s = sorted(samples)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def load_kernels():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels.py")
    ns = {"__name__": "eryx_bench_kernels"}
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), ns)   # as the sandboxes receive it
    return ns


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=10, help="timed calls per kernel")
    ap.add_argument("--quick", action="store_true", help="3 timed calls per kernel")
    ap.add_argument("--only", action="append", help="run only this kernel (repeatable)")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else args.reps
    ns = load_kernels()
    version = platform.python_version()
    failed = False
    for name, fn in ns["KERNELS"].items():
        if args.only and name not in args.only:
            continue
        ok = ns["check"](name, fn())                  # warm-up, and the check
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        failed |= not ok
        print(json.dumps({"name": name, "median_ms": round(median(times), 3),
                          "p99_ms": round(percentile(times, 99), 3), "n": reps,
                          "python": version, "ok": ok}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
