"""Put the guest stdlib's compiled bytecode into the wheel.

scikit-build-core drops every .pyc from wheels, which is right for the host
package but not for the guest's stdlib (eryx/_data/lib/pythonX.Y): without
its __pycache__ the sandbox compiles every stdlib module it imports, about
8x slower.  This adds them (and their RECORD lines) after the build.

    python scripts/wheel-add-pyc.py WHEEL STDLIB_DIR PYTHON_VERSION
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import zipfile


def main() -> None:
    wheel, stdlib, version = sys.argv[1:4]
    prefix = f"eryx/_data/lib/python{version}/"
    added: list[tuple[str, bytes]] = []
    for d, _dirs, files in os.walk(stdlib):
        if os.path.basename(d) != "__pycache__":
            continue
        for f in sorted(files):
            if f.endswith(".pyc"):
                path = os.path.join(d, f)
                with open(path, "rb") as fh:
                    added.append((prefix + os.path.relpath(path, stdlib), fh.read()))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
        record = z.read(record_name).decode()
        have = set(names)
    lines = [line for line in record.splitlines() if line]
    tmp = wheel + ".tmp"
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != record_name:
                dst.writestr(info, src.read(info))
        for name, data in added:
            if name in have:
                continue
            dst.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.insert(len(lines) - 1, f"{name},sha256={digest.decode()},{len(data)}")
        dst.writestr(record_name, "\n".join(lines) + "\n")
    os.replace(tmp, wheel)
    print(f"added {len(added)} compiled stdlib modules to {os.path.basename(wheel)}")


if __name__ == "__main__":
    main()
