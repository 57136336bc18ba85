#!/usr/bin/env python3
"""CPython's own regression tests, in the sandbox and on the native CPython
built from the same source (make conformance).

For each module of Lib/test, both sides run the same driver (DRIVER below):
unittest loads test.<module>, runs it, and prints each test's outcome as
one JSON line.  A test counts when it passes natively; it is conformant
when it also passes in the sandbox.  A natively passing test that fails in
the sandbox must be listed in tests/conformance/expected-failures.txt with
its reason, or the run fails (exit status 1).

    conformance.py --eryx PATH/eryx --native PATH/python --stdlib DIR
                   --tests DIR/Lib/test --work DIR [--modules FILE]
                   [--only NAME ...]

Prints a table (module, natively passing, passing in the sandbox) and a
last line "conformance: P of N natively passing tests pass in the sandbox".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

MARK = "@@eryx-conformance@@ "

# Runs inside the sandbox and natively: load one test module, run it
# quietly, print one JSON line per test.
DRIVER = r"""
import io, json, sys, unittest
name = {name!r}
if not name.startswith("test_"):
    name = "test_" + name
stream = io.StringIO()
outcomes = {{}}

def why(err):
    text = "%s: %s" % (err[0].__name__, err[1])
    return text.splitlines()[0][:160] if text else ""

class Result(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test); outcomes[test.id()] = "pass"
    def addFailure(self, test, err):
        super().addFailure(test, err); outcomes[test.id()] = "fail: " + why(err)
    def addError(self, test, err):
        super().addError(test, err)
        outcomes[test.id()] = "error: " + why(err)
    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        outcomes[test.id()] = "skip: " + str(reason)[:160]
    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err); outcomes[test.id()] = "xfail"
    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test); outcomes[test.id()] = "xpass"
    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            outcomes[test.id()] = "fail: " + why(err)

try:
    suite = unittest.defaultTestLoader.loadTestsFromName("test." + name)
    unittest.TextTestRunner(stream=stream, resultclass=Result,
                            verbosity=0).run(suite)
except BaseException as e:
    outcomes["test." + name + ".<load>"] = "error: %s: %s" % (
        type(e).__name__, e)
sys.stdout.write({mark!r} + json.dumps(outcomes) + "\n")
"""


def run(cmd: list[str], env: dict[str, str], timeout: int) -> tuple[dict, str]:
    """Run one side; return its outcomes and, if it broke, why."""
    try:
        p = subprocess.run(
            cmd,
            check=False,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {timeout} s"
    for line in p.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :]), ""
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
    return {}, f"exit {p.returncode}: {tail[0][:200]}"


def load_expected(path: Path) -> dict[str, str]:
    """test id -> reason, from lines 'TEST_ID  # reason' (a trailing '*'
    on the id covers every test it prefixes)."""
    expected: dict[str, str] = {}
    if not path.exists():
        return expected
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        test, _, reason = line.partition("#")
        expected[test.strip()] = reason.strip()
    return expected


def is_expected(test: str, expected: dict[str, str]) -> bool:
    if test in expected:
        return True
    return any(k.endswith("*") and test.startswith(k[:-1]) for k in expected)


# (file under Lib/test, text, replacement): CPython's WASI skips that the
# sandbox does not need.
LIFTED_SKIPS = [
    (
        "test_asyncio/__init__.py",
        "support.requires_working_socket(module=True)",
        "pass  # eryx: the package-wide WASI skip is lifted",
    ),
    (
        "test_coroutines.py",
        (
            "support.is_emscripten or support.is_wasi,\n"
            '    "asyncio does not work under Emscripten/WASI yet."'
        ),
        'False,  # eryx: asyncio works in the sandbox\n    "lifted"',
    ),
    # The guest's system time-zone directory is the tzdata package (the C
    # library's local time reads it, guest/tz.c); test_datetime's per-zone
    # classes look for /usr/share/zoneinfo.
    (
        "datetimetester.py",
        "    zoneroot = '/usr/share/zoneinfo'",
        (
            "    zoneroot = os.path.join(os.path.dirname(os.__file__), 'tzdata',"
            " 'zoneinfo')  # eryx"
        ),
    ),
]


def stage(stdlib: Path, tests: Path, work: Path) -> Path:
    """A stdlib directory with Lib/test inside, for the sandbox's mount.
    (Symlinks planted in a mount are not followed out of it, so it is a
    copy, refreshed when the sources change.)"""
    out = work / "stdlib"
    stamp = work / "staged"
    key = (
        f"{stdlib}:{stdlib.stat().st_mtime}:{tests}:{tests.stat().st_mtime}:"
        f"{LIFTED_SKIPS!r}"
    )
    if stamp.exists() and stamp.read_text() == key:
        return out
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(stdlib, out)
    for p in out.rglob("*"):
        p.chmod(p.stat().st_mode | 0o200)
    shutil.copytree(tests, out / "test", ignore=shutil.ignore_patterns("__pycache__"))
    # CPython skips all of test_asyncio on WASI (no sockets), and one class
    # of test_coroutines because asyncio "does not work under WASI yet".
    # The sandbox's asyncio works: these skips are lifted here, and the
    # tests that do need sockets skip or are listed.
    for rel, old, new in LIFTED_SKIPS:
        path = out / "test" / rel
        text = path.read_text()
        if old not in text:
            raise SystemExit(f"conformance: {rel} no longer has {old!r}")
        path.write_text(text.replace(old, new))
    stamp.write_text(key)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eryx", required=True)
    ap.add_argument("--native", required=True)
    ap.add_argument("--stdlib", required=True, type=Path)
    ap.add_argument("--tests", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument(
        "--modules", type=Path, default=Path(__file__).with_name("modules.txt")
    )
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args()

    here = Path(__file__).parent
    expected = load_expected(here / "expected-failures.txt")
    modules = args.only or [
        m
        for m in (
            ln.split("#")[0].strip() for ln in args.modules.read_text().splitlines()
        )
        if m
    ]
    args.work.mkdir(parents=True, exist_ok=True)
    staged = stage(args.stdlib, args.tests, args.work)

    env = dict(os.environ, ERYX_STDLIB=str(staged))
    native_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    rows, unexpected, total_native, total_ok = [], [], 0, 0
    start = time.monotonic()
    for name in modules:
        t0 = time.monotonic()
        code = DRIVER.format(name=name, mark=MARK)
        native, why_n = run([args.native, "-E", "-c", code], native_env, args.timeout)
        boxed, why_s = run(
            [
                args.eryx,
                "--timeout",
                str(args.timeout * 1000),
                "--max-memory",
                str(1 << 30),
                "-c",
                code,
            ],
            env,
            args.timeout + 30,
        )
        passing = [t for t, o in native.items() if o == "pass"]
        ok = [t for t in passing if boxed.get(t) == "pass"]
        total_native += len(passing)
        total_ok += len(ok)
        for t in passing:
            if boxed.get(t) != "pass" and not is_expected(t, expected):
                unexpected.append((t, boxed.get(t, why_s or "missing")))
        for side, got in (("native", native), ("sandbox", boxed)):
            for t, o in got.items():
                if t.endswith("<load>"):
                    why_n, why_s = (o, why_s) if side == "native" else (why_n, o)
        note = why_s or why_n
        rows.append((name, len(passing), len(ok), note))
        print(
            f"  {name}: {len(ok)}/{len(passing)} in "
            f"{time.monotonic() - t0:.1f} s"
            f"{'  (' + note + ')' if note else ''}",
            file=sys.stderr,
            flush=True,
        )

    print("| module | natively passing | passing in the sandbox | ratio |")
    print("|---|---:|---:|---:|")
    for name, n, s, note in rows:
        ratio = f"{100 * s / n:.1f} %" if n else "n/a"
        print(f"| {name} | {n} | {s} | {ratio}{' ' + note if note else ''} |")
    print(
        f"\n{len(unexpected)} natively passing tests fail in the sandbox "
        f"without a listed reason ({time.monotonic() - start:.0f} s)"
    )
    for t, outcome in unexpected:
        print(f"  UNEXPECTED {t}: {outcome}")
    print(
        f"conformance: {total_ok} of {total_native} natively passing tests "
        f"pass in the sandbox"
    )
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
