"""What Python's stdlib needs of a filesystem, as assertions.

Runs natively (BASE: a fresh temporary directory) and in the sandbox
(BASE: "/data", the working directory): both must print the same lines.
tests/fs (ctest) and bindings/python/tests/test_fs.py run it.
"""
import csv
import errno
import glob
import io
import os
import pathlib
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import zipfile

BASE = globals().get("BASE") or os.getcwd()
os.chdir(BASE)
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def raises(exc, fn, *args, code=None):
    try:
        fn(*args)
    except exc as e:
        check(code is None or e.errno == code, f"{fn} errno {e.errno}")
        return
    raise AssertionError(f"{fn}{args} did not raise {exc.__name__}")


# open in every mode
with open("a.txt", "w") as f:
    f.write("hello\n")
with open("a.txt", "a") as f:
    f.write("world\n")
check(open("a.txt").read() == "hello\nworld\n", "w + a")
with open("a.txt", "r+") as f:
    f.seek(0, 2)
    check(f.tell() == 12, "tell at end")
    f.seek(0)
    f.write("HELLO")
    f.seek(0)
    check(f.read() == "HELLO\nworld\n", "r+")
with open("a.txt", "w+") as f:
    f.write("xyz")
    f.seek(0)
    check(f.read() == "xyz", "w+")
with open("a.txt", "a+") as f:
    f.write("!")
    f.seek(0)
    check(f.read() == "xyz!", "a+")
raises(FileExistsError, open, "a.txt", "x")
with open("b.bin", "xb") as f:
    f.write(bytes(range(256)) * 4)
with open("b.bin", "rb") as f:
    f.seek(1000)
    check(f.read(4) == bytes([232, 233, 234, 235]), "seek read")
    f.seek(-4, 2)
    check(f.read() == bytes([252, 253, 254, 255]), "seek from end")
with open("b.bin", "r+b") as f:
    f.truncate(10)
check(os.path.getsize("b.bin") == 10, "truncate")
os.truncate("b.bin", 3)
check(open("b.bin", "rb").read() == b"\0\1\2", "os.truncate")
with open("sparse", "wb") as f:
    f.seek(100)
    f.write(b"x")
check(open("sparse", "rb").read() == b"\0" * 100 + b"x", "write past end")
fd = os.open("raw", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
os.write(fd, b"12")
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b"34")
os.close(fd)
check(open("raw").read() == "1234", "O_APPEND")
fd = os.open("raw", os.O_RDWR)
check(os.pread(fd, 2, 1) == b"23", "pread")
os.pwrite(fd, b"ab", 2)
os.close(fd)
check(open("raw").read() == "12ab", "pwrite")
raises(FileNotFoundError, open, "missing.txt")
raises(IsADirectoryError, open, ".", "w")

# stat, utime, scandir, walk
st = os.stat("a.txt")
check(st.st_size == 4 and os.path.isfile("a.txt"), "stat")
os.utime("a.txt", (1_000_000_000, 1_500_000_000))
check(int(os.stat("a.txt").st_mtime) == 1_500_000_000, "utime")
with os.scandir(".") as it:
    names = sorted(e.name for e in it if e.is_file())
check(names == ["a.txt", "b.bin", "raw", "sparse"], f"scandir {names}")
os.makedirs("t/u/v")
raises(FileExistsError, os.mkdir, "t")
os.makedirs("t/u/v", exist_ok=True)
open("t/u/f", "w").close()
walked = [(os.path.relpath(d, BASE), sorted(ds), sorted(fs))
          for d, ds, fs in os.walk(os.path.join(BASE, "t"))]
check(walked == [("t", ["u"], []), ("t/u", ["v"], ["f"]),
                 ("t/u/v", [], [])], f"walk {walked}")
raises(OSError, os.rmdir, "t", code=errno.ENOTEMPTY)
raises(NotADirectoryError, os.listdir, "a.txt")
raises(IsADirectoryError, os.unlink, "t")

# rename, replace, unlink, rmdir
os.rename("raw", "raw2")
check(not os.path.exists("raw") and os.path.exists("raw2"), "rename")
open("other", "w").write("o")
os.replace("raw2", "other")
check(open("other").read() == "12ab", "replace over a file")
os.rename("t/u/v", "t/w")
check(os.path.isdir("t/w") and not os.path.exists("t/u/v"), "rename dir")
raises(OSError, os.rename, "t", "t/u/inside", code=errno.EINVAL)
os.unlink("other")
os.rmdir("t/w")

# shutil
shutil.copytree("t", "t2")
check(sorted(os.listdir("t2/u")) == ["f"], "copytree")
shutil.copy2("a.txt", "t2/a.txt")
check(int(os.stat("t2/a.txt").st_mtime) == 1_500_000_000, "copy2 keeps mtime")
shutil.move("t2", "t3")
shutil.rmtree("t3")
shutil.rmtree("t")
check(not os.path.exists("t3") and not os.path.exists("t"), "rmtree")

# tempfile
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "x")
    open(p, "w").write("tmp")
    check(open(p).read() == "tmp", "TemporaryDirectory")
check(not os.path.exists(d), "TemporaryDirectory removed")
with tempfile.NamedTemporaryFile("w+") as f:
    f.write("named")
    f.flush()
    check(open(f.name).read() == "named", "NamedTemporaryFile")
fd, name = tempfile.mkstemp(dir=BASE)
os.write(fd, b"m")
os.close(fd)
os.unlink(name)
with tempfile.SpooledTemporaryFile(max_size=10) as f:
    f.write(b"x" * 100)
    f.seek(0)
    check(len(f.read()) == 100, "SpooledTemporaryFile rolled over")

# zipfile, tarfile, csv
with zipfile.ZipFile("z.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("dir/one.txt", "1" * 1000)
    z.write("a.txt")
with zipfile.ZipFile("z.zip") as z:
    check(z.read("dir/one.txt") == b"1" * 1000, "zip read")
    z.extractall("unz")
check(open("unz/a.txt").read() == "xyz!", "zip extractall")
with tarfile.open("t.tar.gz", "w:gz") as t:
    t.add("unz", arcname="unz")
with tarfile.open("t.tar.gz") as t:
    t.extractall("untar", filter="data")
check(open("untar/unz/dir/one.txt").read() == "1" * 1000, "tar round trip")
with open("c.csv", "w", newline="") as f:
    csv.writer(f).writerows([["a", "b"], [1, 2], ["x,y", 'q"']])
with open("c.csv", newline="") as f:
    rows = list(csv.reader(f))
check(rows == [["a", "b"], ["1", "2"], ["x,y", 'q"']], f"csv {rows}")

# pathlib, glob
root = pathlib.Path("p")
(root / "q").mkdir(parents=True)
(root / "q" / "r.py").write_text("print(1)")
(root / "s.py").write_bytes(b"#")
(root / "t.txt").touch()
check(sorted(str(x) for x in root.rglob("*.py")) == ["p/q/r.py", "p/s.py"],
      "rglob")
check(sorted(glob.glob("p/*")) == ["p/q", "p/s.py", "p/t.txt"], "glob")
check(sorted(glob.glob("**/*.py", recursive=True)) == ["p/q/r.py", "p/s.py"],
      "glob recursive")
(root / "t.txt").rename(root / "u.txt")
check([x.name for x in sorted(root.iterdir())] == ["q", "s.py", "u.txt"],
      "iterdir")
check(pathlib.Path("p/q/r.py").resolve() == pathlib.Path(BASE, "p/q/r.py"),
      "resolve")

# symlinks and hard links inside the writable mount
os.symlink("a.txt", "link")
check(os.readlink("link") == "a.txt" and open("link").read() == "xyz!",
      "symlink")
check(os.path.islink("link") and os.lstat("link").st_size == 5, "lstat")
os.symlink("p", "plink")
check(sorted(os.listdir("plink")) == ["q", "s.py", "u.txt"], "dir symlink")
os.link("a.txt", "hard")
check(os.stat("hard").st_nlink == 2, "nlink")
open("hard", "a").write("+")
check(open("a.txt").read() == "xyz!+", "hard link shares data")
os.unlink("hard")
os.unlink("link")
os.unlink("plink")

# dir_fd operations (CPython for WASI has these, not listdir(fd))
dfd = os.open("p", os.O_RDONLY)
check(os.stat("s.py", dir_fd=dfd).st_size == 1, "stat dir_fd")
fd = os.open("new", os.O_CREAT | os.O_WRONLY, dir_fd=dfd)
os.close(fd)
check(os.path.exists("p/new"), "open dir_fd")
os.unlink("new", dir_fd=dfd)
os.close(dfd)

# an open file survives its unlinking
f = open("gone", "w+")
f.write("still here")
os.unlink("gone")
f.seek(0)
check(f.read() == "still here", "unlinked open file")
f.close()

# sqlite3: rollback journal, and WAL (exclusive locking: no shared memory)
for mode in ("delete", "wal"):
    db = sqlite3.connect(f"{mode}.db")
    if mode == "wal":
        db.execute("pragma locking_mode=exclusive")
    check(db.execute(f"pragma journal_mode={mode}").fetchone()[0] == mode,
          f"journal mode {mode}")
    db.execute("create table t(k integer primary key, v text)")
    db.executemany("insert into t(v) values (?)",
                   [(str(i) * 10,) for i in range(2000)])
    db.commit()
    db.execute("update t set v = 'x' where k % 2 = 0")
    db.rollback()
    check(db.execute("select count(*), sum(length(v)) from t").fetchone()
          == (2000, sum(len(str(i)) * 10 for i in range(2000))), "sqlite")
    db.close()
    db = sqlite3.connect(f"{mode}.db")
    if mode == "wal":
        db.execute("pragma locking_mode=exclusive")
    check(db.execute("select count(*) from t").fetchone()[0] == 2000,
          "sqlite reopened")
    db.close()

print("stdlib suite:", checks, "checks passed")
