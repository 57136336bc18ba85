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
import glob
import http.client
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
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
            factory.create_sandbox()
            # eryx compiles a factory's image in the background once it is
            # used: time the steady state.
            wait = getattr(factory, "_wait_compiled", None)
            if wait is not None:
                wait()
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
    files_and_packages(reps)
    network(reps)


def guest_ms(sb: Any, code: str) -> float:
    """Run ``code``, which prints a float of milliseconds it measured."""
    return float(sb.execute(code).stdout_text.split()[-1])


FS_WRITE = """
import time
blob = b'x' * 50_000_000
t = time.perf_counter()
with open('/data/big.bin', 'wb') as f:
    f.write(blob)
print((time.perf_counter() - t) * 1e3)
"""
FS_READ = """
import time
t = time.perf_counter()
with open('/data/big.bin', 'rb') as f:
    n = len(f.read())
assert n == 50_000_000
print((time.perf_counter() - t) * 1e3)
"""
FS_FILES = """
import os, time
t = time.perf_counter()
os.mkdir('/data/many')
for i in range(10000):
    with open(f'/data/many/f{i}', 'w') as f:
        f.write('x')
for i in range(10000):
    os.stat(f'/data/many/f{i}')
for i in range(10000):
    os.unlink(f'/data/many/f{i}')
os.rmdir('/data/many')
print((time.perf_counter() - t) * 1e3)
"""
IMPORTS = "import email, http.client, xml.dom.minidom, csv, sqlite3"
RENDER = """
import time
t = time.perf_counter()
tpl = jinja2.Environment(autoescape=True).from_string(
    '<ul>{% for u in users %}<li>{{ u.name|title }}: {{ u.score }}</li>{% endfor %}</ul>')
users = [{'name': f'user {i}', 'score': i * 7} for i in range(20)]
for _ in range(1000):
    out = tpl.render(users=users)
print((time.perf_counter() - t) * 1e3)
"""


def jinja2_site() -> str | None:
    """A site-packages directory with jinja2 and markupsafe's pure-Python
    code, from the pinned packages (both packages get the same)."""
    d = os.environ.get("ERYX_TEST_PACKAGES_DIR", "")
    jin = glob.glob(os.path.join(d, "jinja2-*.whl"))
    mks = glob.glob(os.path.join(d, "markupsafe-*.tar.gz"))
    if not jin or not mks:
        return None
    site = tempfile.mkdtemp(prefix="eryx-bench-site-")
    with zipfile.ZipFile(jin[0]) as z:
        z.extractall(site)
    with tarfile.open(mks[0]) as t:
        for m in t.getmembers():
            if "/src/markupsafe/" in m.name and m.isfile() and m.name.endswith(".py"):
                m.name = m.name.split("/src/", 1)[1]
                t.extract(m, site, filter="data")
    return site


def files_and_packages(reps: int) -> None:
    sb = eryx.Sandbox(resource_limits=limits())
    try:
        s = eryx.Session()
        writes, reads = [], []
        for _ in range(max(3, reps // 20)):
            writes.append(guest_ms(s, FS_WRITE))
            reads.append(guest_ms(s, FS_READ))
            s.execute("import os\nos.remove('/data/big.bin')")
        emit("py_fs_write_50mb", writes, note="guest-timed")
        emit("py_fs_read_50mb", reads, note="guest-timed")
    except Exception as e:
        missing("py_fs_write_50mb", str(e)[:80])
        missing("py_fs_read_50mb", str(e)[:80])
    try:
        emit(
            "py_fs_10k_files",
            [guest_ms(sb, FS_FILES) for _ in range(max(3, reps // 20))],
            note="guest-timed",
        )
    except Exception as e:
        missing("py_fs_10k_files", str(e)[:80])
    emit(
        "py_import_5_stdlib",
        timed(lambda: eryx.Sandbox(resource_limits=limits()).execute(IMPORTS), reps // 2),
        note="a new sandbox each",
    )
    site = jinja2_site()
    if site is None:
        for row in ("py_jinja2_factory_ready", "py_jinja2_create_sandbox", "py_jinja2_render"):
            missing(row, "ERYX_TEST_PACKAGES_DIR has no jinja2")
        return
    factory = eryx.SandboxFactory(site_packages=site, imports=["jinja2"])
    # eryx compiles a factory's image in the background once it is used:
    # measure sandboxes of the compiled image (the steady state), as
    # pyeryx's is compiled at construction.
    wait = getattr(factory, "_wait_compiled", None)
    if wait is not None:
        wait()
    emit(
        "py_jinja2_factory_ready",
        timed(lambda: factory.create_sandbox().execute("pass"), reps),
        note="create_sandbox() + execute('pass')",
    )
    emit("py_jinja2_create_sandbox", timed(factory.create_sandbox, reps))
    fs = factory.create_sandbox()
    emit(
        "py_jinja2_render",
        [guest_ms(fs, RENDER) for _ in range(max(3, reps // 20))],
        note="1,000 renders, guest-timed",
    )


NET_GET = """
import http.client, time
c = http.client.HTTPConnection("127.0.0.1", {port})
for _ in range(20):
    c.request("GET", "/"); c.getresponse().read()
t = time.perf_counter()
for _ in range({n}):
    c.request("GET", "/"); c.getresponse().read()
print((time.perf_counter() - t) * 1e3 / {n})
"""
NET_BIG = """
import socket, time
s = socket.create_connection(("127.0.0.1", {port}))
t = time.perf_counter()
s.sendall(b"GET /big?n=100000000 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
buf = bytearray(1 << 20)
got = 0
while got < 100_000_000:
    n = s.recv_into(buf)
    if not n:
        break
    got += n
assert got >= 100_000_000, got
print((time.perf_counter() - t) * 1e3)
"""
NET_GATHER = """
import asyncio
async def fetch():
    r, w = await asyncio.open_connection("127.0.0.1", {port})
    w.write(b"GET /slow HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
    await w.drain()
    await r.read()
    w.close()
await asyncio.gather(*[fetch() for _ in range(5)])
"""


def network(reps: int) -> None:
    """Loopback HTTP against a server in another process: the guest's GET
    round trip beside native Python's on the same server, a 100 MB
    download, and five 100 ms fetches gathered."""
    srv = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), "netserver.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(srv.stdout.readline())  # type: ignore[union-attr]
        c = http.client.HTTPConnection("127.0.0.1", port)

        def get() -> None:
            c.request("GET", "/")
            c.getresponse().read()

        emit("py_net_native_get", timed(get, reps * 5, warm=20), note="native Python")
        net = eryx.NetConfig.permissive()

        def row(name: str, measure: Callable[[], list[float]], note: str) -> None:
            try:
                emit(name, measure(), note=note)
            except Exception as e:
                missing(name, str(e).strip().splitlines()[-1][:80])

        ss = eryx.Session(network=net)
        n = reps * 2
        row(
            "py_net_get",
            lambda: [guest_ms(ss, NET_GET.format(port=port, n=n)) for _ in range(5)],
            "guest-timed, keep-alive",
        )
        row(
            "py_net_download_100mb",
            lambda: [guest_ms(ss, NET_BIG.format(port=port)) for _ in range(3)],
            "guest-timed",
        )
        sb = eryx.Sandbox(network=net, resource_limits=limits())
        row(
            "py_net_gather5_100ms",
            lambda: timed(lambda: sb.execute(NET_GATHER.format(port=port)), 10, warm=2),
            "whole execute",
        )
    finally:
        srv.stdin.close()  # type: ignore[union-attr]
        srv.wait(timeout=10)


if __name__ == "__main__":
    main()
