# install.py: installs packages into /site-packages, run inside a sandbox
# by eryx_image_build (host/sandbox/factory.c), so that archives from the
# outside are parsed by sandboxed code.  Each package is mounted read-only
# at /eryx-package (a file) or /eryx-package-dir (a directory); the host
# runs install(kind, label, name) once per package (name: the file or
# directory's own name).
import os
import posixpath
import shutil
import tarfile
import zipfile

DEST = "/site-packages"
NATIVE = (".so", ".pyd", ".dylib", ".dll")


class PackageError(Exception):
    pass


def _native(name):
    base = posixpath.basename(name).lower()
    return base.endswith(NATIVE) or ".so." in base


def _safe(name, label):
    """A member path that stays inside DEST, or PackageError."""
    norm = name.replace("\\", "/")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if norm.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise PackageError(f"{label}: unsafe path in the archive: {name!r}")
    return "/".join(parts)


def _write(rel, data):
    path = posixpath.join(DEST, rel)
    os.makedirs(posixpath.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _check_native(names, label):
    for n in names:
        if _native(n):
            raise PackageError(
                f"{label} carries native code: {n} (only pure-Python "
                "packages run in the sandbox)")


def _wheel(path, label):
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        names = [_safe(i.filename, label) for i in infos]
        _check_native(names, label)
        for info, rel in zip(infos, names):
            top = rel.split("/", 1)[0]
            if top.endswith(".data"):
                # name.data/purelib|platlib/... belongs in site-packages;
                # scripts, headers and data do not.
                sub = rel.split("/")
                if len(sub) < 3 or sub[1] not in ("purelib", "platlib"):
                    continue
                rel = "/".join(sub[2:])
            _write(rel, z.read(info))


def _roots(names):
    """Where an sdist keeps its code: src/ if it has one, else its root."""
    first = {n.split("/", 1)[0] for n in names}
    prefix = first.pop() + "/" if len(first) == 1 else ""
    if any(n.startswith(prefix + "src/") for n in names):
        prefix += "src/"
    return prefix


def _from_tree(names, read, label):
    """Pure-Python packages and modules of a source tree: directories with
    __init__.py at the top of its code root, and top-level .py files."""
    _check_native(names, label)
    prefix = _roots(names)
    files = [n[len(prefix):] for n in names if n.startswith(prefix)]
    tops = {f.split("/", 1)[0] for f in files
            if "/" in f and f.split("/", 1)[1] == "__init__.py"}
    skip = {"setup.py", "conftest.py", "noxfile.py", "fabfile.py"}
    count = 0
    for f in files:
        head = f.split("/", 1)[0]
        if (head in tops and "/" in f) or (
                "/" not in f and f.endswith(".py") and f not in skip):
            _write(f, read(prefix + f))
            count += 1
    if count == 0:
        raise PackageError(f"{label}: no Python package or module found")


def _sdist(path, label):
    with tarfile.open(path) as t:
        members = [m for m in t.getmembers() if m.isfile()]
        names = [_safe(m.name, label) for m in members]
        by_name = dict(zip(names, members))
        _from_tree(names, lambda n: t.extractfile(by_name[n]).read(), label)


def _directory(path, label, name):
    names = []
    for d, dirs, files in os.walk(path):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        for f in files:
            names.append(posixpath.relpath(posixpath.join(d, f), path))
    _check_native(names, label)
    if "__init__.py" in names:
        # the directory is a package itself
        for n in names:
            with open(posixpath.join(path, n), "rb") as f:
                _write(posixpath.join(name, n), f.read())
        return
    if any(n.endswith(".dist-info/METADATA") for n in names) or any(
            n.endswith("/__init__.py") and n.count("/") == 1 for n in names):
        # already laid out like site-packages
        for n in names:
            with open(posixpath.join(path, n), "rb") as f:
                _write(n, f.read())
        return

    def read(n):
        with open(posixpath.join(path, n), "rb") as f:
            return f.read()
    _from_tree(names, read, label)


def install(kind, label, name):
    try:
        if kind == "dir":
            _directory("/eryx-package-dir", label, name)
        elif kind == "wheel":
            _wheel("/eryx-package", label)
        elif kind == "sdist":
            _sdist("/eryx-package", label)
        else:
            raise PackageError(f"{label}: not a .whl, .tar.gz, .tgz or "
                               "directory")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise PackageError(f"{label}: not a valid archive ({e})") from None
    shutil.rmtree(posixpath.join(DEST, "__pycache__"), ignore_errors=True)
