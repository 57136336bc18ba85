"""The reference column of `make bench`: the same operations measured with the
reference package pyeryx (imported as `eryx`). Run it with the python of the
venv that scripts/pyeryx-venv.sh makes:

    py=$(scripts/pyeryx-venv.sh) && "$py" bench/pyeryx_bench.py [--quick]

Prints one JSON line per row, first a "meta" row (versions, cache), then
    {"row": "<id>", "median_ms": .., "p99_ms": .., "n": .., ["note": ..]}
and for RSS rows {"row": "rss_idle", "value": .., "unit": "MB", "n": ..}.
Figures are taken with pyeryx's on-disk cache warm (a warm-up process runs
first); the create_cold row also carries the first construction with an
empty cache ("empty_cache_ms"), measured once in a fresh TMPDIR.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

import eryx

HERE = os.path.dirname(os.path.abspath(__file__))
pc = time.perf_counter


def percentile(samples, q):
    s = sorted(samples)
    rank = max(1, -(-len(s) * q // 100))   # nearest rank: ceil(n * q / 100)
    return s[min(len(s), int(rank)) - 1]


def median(samples):
    s = sorted(samples)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def emit(row, samples_ms=None, **extra):
    out = {"row": row}
    if samples_ms is not None:
        out.update(median_ms=round(median(samples_ms), 4),
                   p99_ms=round(percentile(samples_ms, 99), 4), n=len(samples_ms))
    out.update(extra)
    print(json.dumps(out), flush=True)


def unlimited():
    # Defaults cap callbacks at 1000 per execute and time at 30 s.
    return eryx.ResourceLimits(execution_timeout_ms=None, max_callback_invocations=None)


def child_python(code, env=None):
    """Run code in a fresh interpreter of this venv; return its stdout."""
    return subprocess.run([sys.executable, "-c", code], check=True, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True).stdout


FIRST_CREATE = ("import time, eryx\n"
                "t = time.perf_counter(); eryx.Sandbox()\n"
                "print((time.perf_counter() - t) * 1e3)\n")


def bench_create_cold(runs):
    samples = [float(child_python(FIRST_CREATE)) for _ in range(runs)]
    # pyeryx unpacks its precompiled runtime (.cwasm, ~47 MB) and stdlib into
    # $TMPDIR/eryx-embedded on first use; an empty TMPDIR shows that cost.
    with tempfile.TemporaryDirectory(prefix="pyeryx-cold-") as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        empty = float(child_python(FIRST_CREATE, env))
    emit("create_cold", samples, empty_cache_ms=round(empty, 2),
         note="first Sandbox() in a fresh process (import eryx not timed), "
              "warm $TMPDIR/eryx-embedded cache; empty_cache_ms: same with an empty one")


def bench_create_warm(reps):
    eryx.Sandbox()
    samples = []
    for _ in range(reps):
        t = pc()
        sb = eryx.Sandbox()
        samples.append((pc() - t) * 1e3)
        del sb
    emit("create_warm", samples, note="Sandbox() after a first one in the process; "
         "the drop (~4 ms, its tokio runtime) is not timed")


def bench_execute_pass_fresh(reps):
    eryx.Sandbox().execute("pass")
    samples, inner, lifecycle = [], [], []
    for _ in range(reps):
        t0 = pc()
        sb = eryx.Sandbox()
        t1 = pc()
        r = sb.execute("pass")
        t2 = pc()
        del sb                      # drops the instance and the tokio runtime
        t3 = pc()
        samples.append((t2 - t1) * 1e3)
        lifecycle.append((t3 - t0) * 1e3)
        inner.append(r.duration_ms)
    # Requests that find the sandbox's instance ready: Sandbox() instantiates
    # in the background; 1 ms later the execute is timed (bench_execute.c
    # waits for eryx's stock of ready interpreters the same way).
    ready = []
    for _ in range(reps):
        sb = eryx.Sandbox()
        time.sleep(0.001)
        t = pc()
        sb.execute("pass")
        ready.append((pc() - t) * 1e3)
        del sb
    sb = eryx.Sandbox()
    sb.execute("pass")
    same = []
    for _ in range(reps):
        t = pc()
        sb.execute("pass")
        same.append((pc() - t) * 1e3)
    emit("execute_pass_fresh", samples,
         duration_ms_median=round(median(inner), 4),
         create_execute_drop_ms=round(median(lifecycle), 4),
         same_sandbox_ms=round(median(same), 4),
         ready_ms=round(median(ready), 4),
         ready_p99_ms=round(sorted(ready)[max(0, -(-99 * len(ready) // 100) - 1)], 4),
         note="execute only, on a new Sandbox() (construction and drop not timed); "
              "create_execute_drop_ms: Sandbox() + execute + del; same_sandbox_ms: "
              "repeated execute on one Sandbox (pyeryx gives each execute a fresh "
              "instance)")


def bench_session_x1(reps):
    s = eryx.Session()
    s.execute("x = 1")
    samples = []
    for _ in range(reps):
        t = pc()
        s.execute("x = 1")
        samples.append((pc() - t) * 1e3)
    emit("session_x1", samples, note="after one warm-up execute on the session")


def bench_session_5(reps):
    eryx.Session().execute("x = 1")
    samples = []
    for _ in range(reps):
        t = pc()
        s = eryx.Session()
        for _ in range(5):
            s.execute("x = 1")
        samples.append((pc() - t) * 1e3)
        del s
    emit("session_5", samples, note="Session() + 5 executes of x = 1")


CALLBACK_LOOP = """
import time
pc = time.perf_counter
empty, calls = [], []
for _ in range({k}):
    t = pc()
    empty.append(pc() - t)
t0 = pc()
for _ in range({k}):
    t = pc()
    await noop()
    calls.append(pc() - t)
t1 = pc()
for _ in range({k}):
    pass
t2 = pc()
empty.sort()
result = {{"calls": calls, "clock": empty[len(empty) // 2],
          "loop_mean": ((t1 - t0) - (t2 - t1)) / {k}}}
"""


def bench_callback_rt(k, runs):
    def noop():
        return None

    sb = eryx.Sandbox(resource_limits=unlimited(),
                      callbacks=[{"name": "noop", "fn": noop}])
    code = CALLBACK_LOOP.format(k=k)
    sb.execute(code)                                   # warm-up
    samples, means = [], []
    for _ in range(runs):
        res = sb.execute(code).result
        samples += [(c - res["clock"]) * 1e3 for c in res["calls"]]
        means.append(res["loop_mean"] * 1e3)
    emit("callback_rt", samples, loop_mean_ms=round(median(means), 4),
         note="each `await noop()` timed inside the sandbox with perf_counter "
              "(minus the clock's own cost); loop_mean_ms: a %d-await loop minus "
              "an empty loop, divided by %d" % (k, k))


GATHER = """
import asyncio, time
t = time.perf_counter()
await asyncio.gather(*[sleep10() for _ in range(5)])
result = time.perf_counter() - t
"""


def bench_gather(reps):
    async def sleep10():
        await asyncio.sleep(0.01)

    def sleep10_sync():
        time.sleep(0.01)

    def measure(fn):
        sb = eryx.Sandbox(resource_limits=unlimited(),
                          callbacks=[{"name": "sleep10", "fn": fn}])
        sb.execute(GATHER)
        outer, inner = [], []
        for _ in range(reps):
            t = pc()
            r = sb.execute(GATHER)
            outer.append((pc() - t) * 1e3)
            inner.append(r.result * 1e3)
        return outer, inner

    outer, inner = measure(sleep10)
    sync_outer, _ = measure(sleep10_sync)
    emit("gather5x10", outer, in_sandbox_ms=round(median(inner), 4),
         time_sleep_callback_ms=round(median(sync_outer), 4),
         note="host-timed execute of gather over 5 calls of an async def callback "
              "doing asyncio.sleep(0.01) (pyeryx runs each with asyncio.run on its "
              "blocking pool); in_sandbox_ms: the gather alone; "
              "time_sleep_callback_ms: same with a plain def doing time.sleep(0.01)")


KERNEL_RUN = """
_f = KERNELS[{name!r}]
_ok = check({name!r}, _f())
_times = []
for _ in range({reps}):
    _t = time.perf_counter()
    _f()
    _times.append((time.perf_counter() - _t) * 1e3)
result = {{"times": _times, "ok": _ok}}
"""


# One timed call, checked: the same Python as bench_kernels.c's kernel_one.
KERNEL_ONE = """
_t = time.perf_counter()
_v = KERNELS[{name!r}]()
_t = (time.perf_counter() - _t) * 1e3
result = {{"ms": _t, "ok": check({name!r}, _v)}}
"""


def kernel_session():
    """A Session with bench/kernels.py loaded, and the kernels' names."""
    with open(os.path.join(HERE, "kernels.py"), encoding="utf-8") as f:
        source = f.read()
    s = eryx.Session(execution_timeout_ms=None)
    s.execute(source + "\nimport time\n")
    return s, s.execute("result = list(KERNELS)").result


def serve_kernels():
    """The pyeryx side of bench/kernels_interleaved.py: a line {"kernels":
    [...]}, then for each kernel name read from stdin one call timed inside
    the sandbox, answered {"ms": ..., "ok": ...}."""
    s, names = kernel_session()
    guest = s.execute("import sys\nresult = sys.version").result.split()[0]
    print(json.dumps({"kernels": names, "python": guest}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if name not in names:
            print(json.dumps({"error": f"no kernel {name!r}"}), flush=True)
            continue
        print(json.dumps(s.execute(KERNEL_ONE.format(name=name)).result), flush=True)
    return 0


def bench_kernels(reps):
    s, names = kernel_session()
    for name in names:
        res = s.execute(KERNEL_RUN.format(name=name, reps=reps)).result
        emit("kernel_" + name, res["times"], ok=res["ok"],
             note="in a Session, timed inside the sandbox, after one warm-up call")


RSS_CHILD = """
import eryx, json, sys
def field_kb(path, name):
    with open(path) as f:
        for line in f:
            if line.startswith(name):
                return int(line.split()[1])
def rss_kb():
    return field_kb('/proc/self/status', 'VmRSS:')
def pss_kb():
    return field_kb('/proc/self/smaps_rollup', 'Pss:')
count = int(sys.argv[1])
keep = [eryx.Sandbox()]
keep[0].execute('pass')
r0 = rss_kb()
for _ in range(count):
    keep.append(eryx.Sandbox())
r1, p1 = rss_kb(), pss_kb()
for sb in keep[1:]:
    sb.execute('pass')
r2, p2 = rss_kb(), pss_kb()
print(json.dumps([r0, r1, r2, p2 - p1]))
"""


def bench_rss(count):
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(count)], check=True,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True)
    r0, r1, r2, pss = json.loads(out.stdout)
    emit("rss_idle", value=round((r1 - r0) / count / 1024, 3), unit="MB", n=count,
         base_mb=round(r0 / 1024, 1),
         after_one_execute_each_mb=round((r2 - r0) / count / 1024, 3),
         pss_after_one_execute_each_mb=round(pss / count / 1024, 3),
         note="VmRSS growth per extra Sandbox() kept alive (fresh process, one "
              "sandbox already used); after_one_execute_each_mb: per sandbox once "
              "each has run `pass`")


def bench_cli(runs):
    cli = os.path.join(os.path.dirname(sys.executable), "eryx")
    cmd = [cli, "-c", "pass"]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)      # warm-up
    samples = []
    for _ in range(runs):
        t = pc()
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
        samples.append((pc() - t) * 1e3)
    emit("cli_pass", samples, note="wall time of `<venv>/bin/eryx -c pass`")


def meta():
    r = eryx.Sandbox().execute("import sys\nresult = sys.version")
    tmp = tempfile.gettempdir()
    emit("meta", pyeryx=eryx.__version__,
         host_python=sys.version.split()[0],
         guest_python=r.result.split()[0],
         cache_dir=os.path.join(tmp, "eryx-embedded"),
         cpus=os.cpu_count())


ROWS = ("create_cold", "create_warm", "execute_pass_fresh", "session_x1",
        "session_5", "callback_rt", "gather5x10", "kernels", "rss_idle", "cli_pass")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--reps", type=int, help="repetitions of the in-process rows")
    ap.add_argument("--kernel-reps", type=int, help="timed calls per kernel")
    ap.add_argument("--only", action="append", choices=ROWS,
                    help="run only this row (repeatable; 'kernels' = all kernel_*)")
    ap.add_argument("--skip", action="append", choices=ROWS, default=[],
                    help="leave this row out (repeatable)")
    ap.add_argument("--serve-kernels", action="store_true",
                    help="be the pyeryx side of bench/kernels_interleaved.py")
    args = ap.parse_args(argv)
    if args.serve_kernels:
        return serve_kernels()
    q = args.quick
    reps = args.reps or (10 if q else 50)
    kreps = args.kernel_reps or (3 if q else 10)
    want = set(args.only or ROWS) - set(args.skip)

    child_python("import eryx; eryx.Sandbox().execute('pass')")  # warm the cache
    meta()
    if "create_cold" in want:
        bench_create_cold(3 if q else 5)
    if "create_warm" in want:
        bench_create_warm(reps)
    if "execute_pass_fresh" in want:
        bench_execute_pass_fresh(reps)
    if "session_x1" in want:
        bench_session_x1(reps * 4)
    if "session_5" in want:
        bench_session_5(max(5, reps // 2))
    if "callback_rt" in want:
        bench_callback_rt(100 if q else 200, 2 if q else 5)
    if "gather5x10" in want:
        bench_gather(max(5, reps // 2))
    if "kernels" in want:
        bench_kernels(kreps)
    if "rss_idle" in want:
        bench_rss(50)
    if "cli_pass" in want:
        bench_cli(3 if q else 10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
