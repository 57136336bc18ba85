"""The CPU kernel rows of `make bench`, with eryx, native CPython and pyeryx
timed in turn: each side is a kernel server in a process of its own
(`bench_speed --kernel-serve`, `native_kernels.py --serve`,
`pyeryx_bench.py --serve-kernels`), and for every kernel each round asks
each side for one call, the sides' order turning every round.  A drift of
the machine (its kernel times move 20-70 % between runs, the native baseline
as much as the sandboxes) then falls on all three sides alike, so the ratios
are measured in the same seconds rather than minutes apart.

    python3 bench/kernels_interleaved.py --eryx build/host/bench_speed \\
        [--native PYTHON] [--pyeryx VENV_PYTHON] [--rounds 7] \\
        --out-eryx E.jsonl [--out-native N.jsonl] [--out-pyeryx P.jsonl]

Appends to each output file one JSON line per kernel in that side's own
schema (bench_speed's and pyeryx_bench.py's "kernel_NAME" rows,
native_kernels.py's "NAME" lines), which bench/table.py reads as before.  A
side that cannot start is left out, with a message on stderr.  Every call
is checked against kernels.py's EXPECTED on its side.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent


def median(samples: list[float]) -> float:
    s = sorted(samples)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def percentile(samples: list[float], q: int) -> float:
    """Nearest rank: the ceil(n * q / 100)-th smallest."""
    s = sorted(samples)
    rank = max(1, -(-len(s) * q // 100))
    return s[min(len(s), rank) - 1]


class Side:
    """One kernel server: a process that answers a kernel name with one
    timed call, {"ms": ..., "ok": ...}."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        hello = self._read()
        if "kernels" not in hello:
            self.close()
            raise RuntimeError(hello.get("error", "no kernel list"))
        self.kernels: list[str] = list(hello["kernels"])
        self.python: str = str(hello.get("python", "?"))
        self.times: dict[str, list[float]] = {}
        self.ok: dict[str, bool] = {}
        self.dead = False

    def _read(self) -> dict[str, Any]:
        out: IO[str] | None = self.proc.stdout
        line = out.readline() if out is not None else ""
        if not line:
            raise RuntimeError("the server exited")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise TypeError(f"not a JSON object: {line[:200]!r}")
        return reply

    def call(self, kernel: str, timed: bool = True) -> None:
        """One call of `kernel`; its time is kept when `timed`."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(kernel + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "ms" not in reply:
            raise RuntimeError(f"{kernel}: {reply.get('error', reply)}")
        self.ok[kernel] = self.ok.get(kernel, True) and bool(reply.get("ok"))
        if timed:
            self.times.setdefault(kernel, []).append(float(reply["ms"]))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(name: str, argv: list[str]) -> Side | None:
    try:
        return Side(name, argv)
    except (OSError, RuntimeError, TypeError, ValueError) as e:
        print(f"kernels_interleaved: {name} side not started: {e}", file=sys.stderr)
        return None


def run(sides: list[Side], rounds: int) -> list[str]:
    """Every kernel all sides know: one warm-up call per side, then `rounds`
    timed rounds of one call per side, the order turning each round.  A side
    other than eryx (the first) that fails is dropped, with a message."""
    kernels = [k for k in sides[0].kernels if all(k in s.kernels for s in sides)]
    for k in kernels:
        for i in range(rounds + 1):
            for j in range(len(sides)):
                side = sides[(i + j) % len(sides)]
                if side.dead:
                    continue
                try:
                    side.call(k, timed=i > 0)
                except (OSError, RuntimeError, TypeError, ValueError) as e:
                    if side is sides[0]:
                        raise
                    print(f"kernels_interleaved: {side.name} side dropped: {e}",
                          file=sys.stderr)
                    side.close()
                    side.dead = True
            sides[:] = [s for s in sides if not s.dead]
    return kernels

NOTE = ("timed inside the sandbox, one call at a time interleaved with native "
        "CPython's and the other sandbox's (bench/kernels_interleaved.py), "
        "after one warm-up call; every call checked against EXPECTED")


def write(side: Side, path: str, kernels: list[str], order: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for k in kernels:
            t = side.times[k]
            stats = {"median_ms": round(median(t), 4), "p99_ms": round(percentile(t, 99), 4),
                     "n": len(t), "ok": side.ok[k]}
            if side.name == "native":
                line = {"name": k, **stats, "python": side.python, "interleaved": order}
            else:
                line = {"row": "kernel_" + k, **stats, "interleaved": order, "note": NOTE}
            f.write(json.dumps(line) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--eryx", required=True, help="bench_speed")
    ap.add_argument("--native", help="the native CPython (the baseline)")
    ap.add_argument("--pyeryx", help="the python of pyeryx's venv")
    ap.add_argument("--kernels", default=str(HERE / "kernels.py"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 rounds")
    ap.add_argument("--out-eryx", required=True)
    ap.add_argument("--out-native")
    ap.add_argument("--out-pyeryx")
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else args.rounds

    wanted = [("eryx", [args.eryx, "--kernel-serve", args.kernels], args.out_eryx)]
    if args.native and args.out_native:
        wanted.append(("native", [args.native, str(HERE / "native_kernels.py"), "--serve"],
                       args.out_native))
    if args.pyeryx and args.out_pyeryx:
        wanted.append(("pyeryx", [args.pyeryx, str(HERE / "pyeryx_bench.py"),
                                  "--serve-kernels"], args.out_pyeryx))
    sides: list[tuple[Side, str]] = []
    for name, cmd, out in wanted:
        side = start(name, cmd)
        if side is not None:
            sides.append((side, out))
    if not sides or sides[0][0].name != "eryx":
        for side, _ in sides:
            side.close()
        return 1
    try:
        live = [s for s, _ in sides]
        kernels = run(live, rounds)
        order = [s.name for s in live]
        for side, out in sides:
            if side.dead:
                continue
            write(side, out, kernels, order)
            if not all(side.ok[k] for k in kernels):
                print(f"kernels_interleaved: {side.name} returned a wrong value",
                      file=sys.stderr)
    finally:
        for side, _ in sides:
            side.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
