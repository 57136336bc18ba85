"""Time bench/kernels.py on the Python running this script (the native column
of `make bench`). One warm-up call per kernel, then --reps timed calls; one
JSON line per kernel:

    {"name": "nbody", "median_ms": 111.2, "p99_ms": 113.0, "n": 10, "python": "3.13.15", "ok": true}

"ok" says the kernel returned its expected value.  A last line, named
"gather5x10", times the gather row's work natively: an asyncio.gather over 5
calls that each sleep 10 ms on a worker thread of a warm pool, what the
machine allows that row (its wake-ups included).  And a line named
"throughput": executes/s of the throughput row's snippet (compiled and run
each time) in 1 and in 2 processes, in alternating slices as that row does,
what the machine allows for its 2-thread scaling.  With --serve it is
instead the native side of bench/kernels_interleaved.py: one timed call per
kernel name read from stdin (serve_kernels).  Runs on any Python >= 3.8;
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


def gather_times(reps):
    """Times (ms) of an asyncio.gather over 5 functions that sleep 10 ms on
    a warm thread pool, as the sandbox's callback handlers do."""
    import asyncio
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(5)

    async def run():
        loop = asyncio.get_running_loop()
        times = []
        for i in range(reps + 1):                     # the first warms up
            t0 = time.perf_counter()
            await asyncio.gather(*[loop.run_in_executor(pool, time.sleep, 0.01)
                                   for _ in range(5)])
            if i:
                times.append((time.perf_counter() - t0) * 1e3)
        return times

    try:
        return asyncio.run(run())
    finally:
        pool.shutdown()


# The same Python as bench_throughput.c's snippet.
THROUGHPUT_SNIPPET = """\
import json
data = {'items': [{'id': i, 'name': f'item{i}', 'tags': ['a', 'b']}
                  for i in range(50)]}
back = json.loads(json.dumps(data))
result = sum(len(x['name']) for x in back['items'] if x['id'] % 2)
"""


def throughput_counts(procs, seconds):
    """Executes of THROUGHPUT_SNIPPET done by `procs` forked processes in
    `seconds`, counted from when all have started."""
    pipes = []
    start = time.perf_counter() + 0.05
    for _ in range(procs):
        r, w = os.pipe()
        if os.fork() == 0:                              # the child
            os.close(r)
            n = 0
            while time.perf_counter() < start:
                pass
            until = start + seconds
            while time.perf_counter() < until:
                exec(THROUGHPUT_SNIPPET, {"__name__": "snippet"})
                n += 1
            os.write(w, str(n).encode())
            os._exit(0)
        os.close(w)
        pipes.append(r)
    total = 0
    for r in pipes:
        with os.fdopen(r, "rb") as f:
            total += int(f.read() or b"0")
        os.wait()
    return total


def throughput_line(seconds, version):
    """1 and 2 processes, in slices of 1, 2, 2, 1, 1, 2, 2, 1 processes."""
    total = [0, 0]
    for i in range(8):
        two = (i + 1) // 2 % 2
        total[two] += throughput_counts(1 + two, seconds / 4)
    one, both = total[0] / seconds, total[1] / seconds
    return {"name": "throughput", "one_per_s": round(one, 1),
            "two_per_s": round(both, 1),
            "scaling": round(both / one, 3) if one else None,
            "python": version, "ok": True}


def serve_kernels(ns, version):
    """The kernel server bench/kernels_interleaved.py drives: a line
    {"kernels": [...], "python": ...}, then for each kernel name read from
    stdin one timed call, answered {"ms": ..., "ok": ...}."""
    print(json.dumps({"kernels": list(ns["KERNELS"]), "python": version}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        fn = ns["KERNELS"].get(name)
        if fn is None:
            print(json.dumps({"error": f"no kernel {name!r}"}), flush=True)
            continue
        t0 = time.perf_counter()
        value = fn()
        ms = (time.perf_counter() - t0) * 1e3
        print(json.dumps({"ms": ms, "ok": ns["check"](name, value)}), flush=True)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=10, help="timed calls per kernel")
    ap.add_argument("--quick", action="store_true", help="3 timed calls per kernel")
    ap.add_argument("--only", action="append", help="run only this kernel (repeatable)")
    ap.add_argument("--serve", action="store_true",
                    help="be the native side of bench/kernels_interleaved.py")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else args.reps
    ns = load_kernels()
    version = platform.python_version()
    if args.serve:
        return serve_kernels(ns, version)
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
    if not args.only or "gather5x10" in args.only:
        times = gather_times(10 if args.quick else 30)
        print(json.dumps({"name": "gather5x10", "median_ms": round(median(times), 3),
                          "p99_ms": round(percentile(times, 99), 3),
                          "n": len(times), "python": version, "ok": True}),
              flush=True)
    if (not args.only or "throughput" in args.only) and hasattr(os, "fork"):
        print(json.dumps(throughput_line(0.5 if args.quick else 2.0, version)),
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
