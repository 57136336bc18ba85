#!/usr/bin/env python3
"""Write expected-failures.txt from the output of a conformance run.

    conformance.py ... > run.txt
    triage.py run.txt > tests/conformance/expected-failures.txt

Each UNEXPECTED line of the run gets the reason whose pattern matches its
outcome (the message the sandbox gave); what no rule explains is written
as "not yet triaged" with that message, for a person to explain or fix.
"""

from __future__ import annotations

import re
import sys

RULES: list[tuple[str, str]] = [
    (
        r"database is locked",
        "documented difference: SQLite locks with a dot-file here (WASI has no fcntl locks), so one connection at a time holds any lock: a second connection cannot read while the first has a write transaction open (docs/filesystem.md)",
    ),
    (
        r"requires subprocess|test requires subprocess|os\.fork|pty and signal|multiprocessing",
        "sandbox policy: no subprocesses",
    ),
    (
        r"threading support|can't start new thread|thread_time|pthread_getcpuclockid",
        "sandbox policy: no threads",
    ),
    (
        r"socket support|socket\.accept|requires ip|requires ifconfig",
        "capability to come: sockets through the host (issue 13)",
    ),
    (
        r"No module named 'pwd'",
        "documented difference: WASI has no user database, so no pwd module (CPython's own WASI build has none either)",
    ),
    (
        r"uuid_generate_time_safe",
        "documented difference: the guest's _uuid has libuuid's uuid_generate_time, not the _safe variant (no uuidd or clock file shared between sandboxes), so uuid1().is_safe is unknown, as with the pure-Python uuid",
    ),
    (
        r"IEE+ 754-2008",
        "documented difference: WASI's C library is musl, whose fma() loses the sign of a result that underflows to zero; CPython skips this test on WASI and musl (gh-131032)",
    ),
    (
        r"/usr/share/zoneinfo",
        "documented difference: no system time-zone directory in the sandbox (zoneinfo uses the tzdata package)",
    ),
    (
        r"exhausts limited stack on WASI|process_time not available on WASI|clock_settime|requires \d+bit platform|utf-8 mode is enabled|not an external binary module|IEEE 754-2008",
        "documented difference: a WASI platform limit that CPython's own tests skip on WASI",
    ),
]


# Tests whose outcome says too little, by id prefix.
ID_RULES: list[tuple[str, str]] = [
    (
        "test.test_exceptions.AssertionErrorTests.",
        "sandbox policy: no subprocesses (each subtest starts a child interpreter, so the sandbox reports only the skipped subtests)",
    ),
    (
        "enum_rst",
        "documented difference: the doctests of Doc/library/enum.rst are read from the source tree beside Lib/; the sandbox mounts the stdlib and Lib/test only",
    ),
    (
        "test.datetimetester.ExtensionModuleTests_Fast.test_gh_120161",
        "sandbox policy: no subprocesses (each subtest starts a child interpreter, so the sandbox reports only the skipped subtests)",
    ),
]


def main(path: str) -> None:
    out: dict[str, str] = {}
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        m = re.match(r"  UNEXPECTED (\S+): (.*)$", line)
        if not m:
            continue
        test, outcome = m.groups()
        reason = None
        for pat, why in RULES:
            if re.search(pat, outcome):
                reason = why
                break
        for prefix, why in ID_RULES:
            if reason is None and test.startswith(prefix):
                reason = why
        if reason is None and outcome == "missing" and "ZoneInfoTest[" in test:
            reason = "documented difference: no system time-zone directory in the sandbox (these classes are made per zone of /usr/share/zoneinfo, so none is collected)"
        if reason is None:
            reason = "not yet triaged (issue 10): " + outcome[:140]
        out[test] = reason
    by = {}
    for t, r in out.items():
        by.setdefault(r, []).append(t)
    print("# Natively passing CPython tests that do not pass in the sandbox, each with")
    print("# its reason (tests/conformance/conformance.py reads this file).  Format:")
    print("# TEST_ID  # reason.  Grouped by reason; 'not yet triaged' entries are")
    print("# differences still to be explained or fixed under issue 10.")
    for r in sorted(by, key=lambda r: (r.startswith("not yet"), r)):
        print()
        print("# --- " + r.split(":")[0])
        for t in sorted(by[r]):
            print(f"{t}  # {r}")


if __name__ == "__main__":
    main(sys.argv[1])
