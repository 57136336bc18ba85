"""The filesystem from Python: the stdlib suite natively and in the
sandbox, VfsStorage shared, snapshotted, restored and forked, volumes,
max_vfs_bytes, and SandboxFactory with real packages from PyPI."""

from __future__ import annotations

import os
import runpy
import threading
from pathlib import Path

import pytest
from pkgs import packages

import eryx

SUITE = Path(__file__).resolve().parents[3] / "tests" / "fs" / "stdlib_suite.py"


def test_stdlib_suite_prints_the_same_natively_and_in_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    here = os.getcwd()
    try:
        runpy.run_path(str(SUITE), init_globals={"BASE": str(tmp_path)})
    finally:
        os.chdir(here)
    native = capsys.readouterr().out
    assert native.startswith("stdlib suite:")
    assert eryx.Sandbox().execute(SUITE.read_text()).stdout_text == native


def test_sandbox_files_are_fresh_and_session_files_persist() -> None:
    sb = eryx.Sandbox()
    code = "import os\nprint(os.getcwd(), os.listdir('.'))\nopen('f', 'w').write('x')"
    assert sb.execute(code).stdout_text == "/data []\n"
    assert sb.execute(code).stdout_text == "/data []\n"
    s = eryx.Session()
    s.execute("open('notes', 'w').write('kept')")
    s.reset()
    assert s.execute("print(open('notes').read())").stdout_text == "kept\n"


def test_vfs_storage_shared_between_sessions_and_threads() -> None:
    st = eryx.VfsStorage()
    a, b = eryx.Session(vfs=st), eryx.Session(vfs=st, vfs_mount_path="/work")
    assert a.vfs is st and a.vfs_mount_path == "/data" and b.vfs_mount_path == "/work"
    assert repr(a) == 'Session(execution_count=0, vfs_mount_path="/data")'

    def writer(s: eryx.Session, tag: str) -> None:
        s.execute(f"for i in range(100):\n    open('{tag}%d' % i, 'w').write('{tag}')")

    threads = [threading.Thread(target=writer, args=(s, t)) for s, t in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = b.execute("import os\nprint(len(os.listdir('.')), open('a7').read())")
    assert out.stdout_text == "200 a\n"
    assert st.used_bytes > 200 * 256


def test_vfs_storage_snapshot_restore_fork() -> None:
    st = eryx.VfsStorage()
    s = eryx.Session(vfs=st)
    s.execute("import os\nos.makedirs('d/e')\nopen('d/e/f', 'wb').write(b'\\x00\\xff' * 1000)")
    snap = st.snapshot()
    fork = st.fork()
    s.execute("import shutil\nshutil.rmtree('d')")
    check = "print(len(open('d/e/f', 'rb').read()))"
    assert eryx.Session(vfs=fork).execute(check).stdout_text == "2000\n"
    st.restore(snap)
    assert s.execute(check).stdout_text == "2000\n"
    for bad in (b"", b"junk", snap[:-1], snap[:40] + bytes([snap[40] ^ 1]) + snap[41:]):
        with pytest.raises(ValueError, match="snapshot"):
            st.restore(bad)
    assert s.execute(check).stdout_text == "2000\n"  # unchanged
    small = eryx.VfsStorage(max_bytes=1000)
    with pytest.raises(ValueError, match="limit"):
        small.restore(snap)
    with pytest.raises(TypeError):
        eryx.Session(vfs=object())  # type: ignore[arg-type]


def test_max_vfs_bytes_is_the_quota() -> None:
    lim = eryx.ResourceLimits(max_vfs_bytes=100_000)
    code = (
        "import errno\ntry:\n    open('big', 'wb').write(b'x' * 200_000)\n"
        "except OSError as e:\n    print(errno.errorcode[e.errno])\n"
        "open('small', 'wb').write(b'x' * 50_000)\nprint('small ok')"
    )
    assert eryx.Sandbox(resource_limits=lim).execute(code).stdout_text == "ENOSPC\nsmall ok\n"


def test_volumes_read_only_and_read_write(tmp_path: Path) -> None:
    ro, rw, outside = tmp_path / "ro", tmp_path / "rw", tmp_path / "outside"
    for d in (ro, rw, outside):
        d.mkdir()
    (ro / "in.txt").write_text("input")
    (rw / "escape").symlink_to(outside)
    sb = eryx.Sandbox(volumes=[(str(ro), "/in", True), (str(rw), "/out", False)])
    out = sb.execute(
        "import errno, os\n"
        "data = open('/in/in.txt').read()\n"
        "open('/out/result.txt', 'w').write(data.upper())\n"
        "for f in (lambda: open('/in/new', 'w'), lambda: open('/out/escape/x', 'w'),\n"
        "          lambda: os.symlink('/etc', '/out/l')):\n"
        "    try:\n        f()\n    except OSError as e:\n"
        "        print(errno.errorcode[e.errno])\n"
    )
    assert out.stdout_text == "EROFS\nEACCES\nEPERM\n"
    assert (rw / "result.txt").read_text() == "INPUT"
    assert list(outside.iterdir()) == []
    with pytest.raises(TypeError):
        eryx.Sandbox(volumes=[("/tmp", "/x")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="not an absolute"):
        eryx.Session(volumes=[("/tmp", "relative", True)])


def test_factory_with_real_packages(tmp_path: Path) -> None:
    pkgs = packages()
    factory = eryx.SandboxFactory(
        packages=pkgs, imports=["jinja2", "tabulate"], setup_code="env = jinja2.Environment()"
    )
    code = (
        "import attrs, networkx as nx\nfrom dateutil import parser\n"
        "print(env.from_string('{{ x|upper }}').render(x='ok'),"
        " tabulate.tabulate([[1]], tablefmt='plain'),"
        " parser.parse('2024-01-02').day, nx.path_graph(4).number_of_edges())"
    )
    assert factory.create_sandbox().execute(code).stdout_text == "OK 1 2 3\n"
    # Once its image is compiled, sandboxes map it instead of copying it in:
    # the same state either way.
    assert factory._wait_compiled(timeout=300)
    assert factory.create_sandbox().execute(code).stdout_text == "OK 1 2 3\n"
    path = tmp_path / "factory.bin"
    factory.save(path)
    loaded = eryx.SandboxFactory.load(path)
    assert loaded.create_session().execute(code).stdout_text == "OK 1 2 3\n"
    assert repr(loaded).endswith("site_packages=None)")


def test_factory_refuses_native_code_and_traversal(tmp_path: Path) -> None:
    import zipfile

    native = tmp_path / "native-1.0-py3-none-any.whl"
    with zipfile.ZipFile(native, "w") as z:
        z.writestr("native/__init__.py", "")
        z.writestr("native/_speedups.so", "ELF")
    evil = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../pwned.py", "x")
    with pytest.raises(eryx.InitializationError, match="native/_speedups.so"):
        eryx.SandboxFactory(packages=[native])
    with pytest.raises(eryx.InitializationError, match="unsafe path"):
        eryx.SandboxFactory(packages=[evil])
    assert not (tmp_path.parent / "pwned.py").exists()


def test_factory_site_packages_directory(tmp_path: Path) -> None:
    (tmp_path / "sitepkg").mkdir()
    (tmp_path / "sitepkg" / "__init__.py").write_text("VALUE = 41 + 1\n")
    factory = eryx.SandboxFactory(site_packages=tmp_path, imports=["sitepkg"])
    assert factory.create_sandbox().execute("print(sitepkg.VALUE)").stdout_text == "42\n"
    assert "site_packages=Some(" in repr(factory)
