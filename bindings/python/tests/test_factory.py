"""SandboxFactory (images with imports and setup baked in) and SandboxPool."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import eryx


@pytest.fixture(scope="module")
def factory() -> eryx.SandboxFactory:
    return eryx.SandboxFactory(imports=["json", "decimal"], setup_code="base = 40\nunit = 'ms'")


def test_factory_sandbox_starts_from_the_image_every_execute(
    factory: eryx.SandboxFactory,
) -> None:
    sb = factory.create_sandbox()
    r = sb.execute("print(base + 2, 'json' in dir(), decimal.Decimal('1.5') * 2)")
    assert r.stdout == b"42 True 3.0\n"
    sb.execute("base = 0\nextra = 1")
    assert sb.execute("print(base, 'extra' in globals())").stdout == b"40 False\n"
    assert factory.size_bytes > 0
    assert repr(factory).startswith("SandboxFactory(size_bytes=")


def test_factory_session_resets_to_the_image(factory: eryx.SandboxFactory) -> None:
    ss = factory.create_session()
    ss.execute("seen = base + 1")
    assert ss.execute("print(seen)").stdout == b"41\n"
    ss.reset()
    assert ss.execute("print(base, 'seen' in globals())").stdout == b"40 False\n"


def test_factory_callbacks_are_defaults_and_can_be_overridden() -> None:
    f = eryx.SandboxFactory(
        setup_code="x = 1", callbacks=[{"name": "who", "fn": lambda: "factory"}]
    )
    assert f.create_sandbox().execute("print(await who())").stdout == b"factory\n"
    sb = f.create_sandbox(callbacks=[{"name": "who", "fn": lambda: "mine"}])
    assert sb.execute("print(await who())").stdout == b"mine\n"


def test_factory_limits_and_output_handlers(factory: eryx.SandboxFactory) -> None:
    out: list[bytes] = []
    sb = factory.create_sandbox(
        resource_limits=eryx.ResourceLimits(execution_timeout_ms=200), on_stdout=out.append
    )
    sb.execute("print('streamed', flush=True)")
    assert b"".join(out) == b"streamed\n"
    with pytest.raises(eryx.TimeoutError):
        sb.execute("while True: pass")


def test_save_load_and_bytes(factory: eryx.SandboxFactory, tmp_path: Path) -> None:
    path = tmp_path / "f.eryx"
    factory.save(path)
    loaded = eryx.SandboxFactory.load(path)
    assert loaded.create_sandbox().execute("print(base, unit)").stdout == b"40 ms\n"
    again = eryx.SandboxFactory.load_bytes(factory.to_bytes())
    assert again.size_bytes == factory.size_bytes


def test_corrupt_factory_files_are_refused(factory: eryx.SandboxFactory, tmp_path: Path) -> None:
    data = bytearray(factory.to_bytes())
    data[len(data) // 2] ^= 1
    bad = tmp_path / "bad.eryx"
    bad.write_bytes(bytes(data))
    with pytest.raises(eryx.InitializationError):
        eryx.SandboxFactory.load(bad)
    with pytest.raises(ValueError):
        eryx.SandboxFactory.load(bad)
    with pytest.raises(ValueError):
        eryx.SandboxFactory.load_bytes(b"not a factory")
    with pytest.raises(eryx.InitializationError):
        eryx.SandboxFactory.load(tmp_path / "missing.eryx")


def test_factory_argument_errors() -> None:
    with pytest.raises(eryx.InitializationError, match="pre-initialization failed"):
        eryx.SandboxFactory(setup_code="1/0")
    with pytest.raises(eryx.InitializationError):
        eryx.SandboxFactory(imports=["no_such_module_here"])
    with pytest.raises(ValueError):
        eryx.SandboxFactory(imports=["os; import sys"])
    with pytest.raises(TypeError):
        eryx.SandboxFactory(imports="json")
    with pytest.raises(eryx.InitializationError, match="cannot read it"):
        eryx.SandboxFactory(packages=["/nonexistent/x.whl"])


def test_pool_lends_fresh_sandboxes_and_counts(factory: eryx.SandboxFactory) -> None:
    with factory.create_pool(max_size=2, min_idle=1) as pool:
        assert pool.stats().idle == 1
        with pool.acquire() as p:
            p.execute("secret = 'user one'")
            assert p.execute("print(base)").stdout == b"40\n"
            assert pool.stats().in_use == 1
        with pool.acquire() as p:
            assert p.execute("print('secret' in globals())").stdout == b"False\n"
        released = pool.acquire()
        released.release()
        with pytest.raises(ValueError):
            released.execute("pass")
        s = pool.stats()
        assert s.total_acquisitions == 3 and s.in_use == 0 and s.available == 2
        assert s.total_creations >= 1
    assert pool.is_closed()
    with pytest.raises(eryx.PoolClosedError):
        pool.acquire()


def test_pool_per_lease_state(factory: eryx.SandboxFactory) -> None:
    pool = factory.create_pool(max_size=1, min_idle=0)
    with pool.acquire(callbacks=[{"name": "lease", "fn": lambda: 7}]) as p:
        assert p.execute("print(await lease())").stdout == b"7\n"
    with pool.acquire() as p, pytest.raises(eryx.ExecutionError, match="NameError"):
        p.execute("lease")
    pool.close()


def test_pool_waits_times_out_and_close_wakes(factory: eryx.SandboxFactory) -> None:
    pool = factory.create_pool(max_size=1, min_idle=0, acquire_timeout_ms=1000)
    held = pool.acquire()
    assert pool.try_acquire() is None
    got: list[str] = []

    def waiter(p: eryx.SandboxPool) -> None:
        try:
            with p.acquire():
                got.append("acquired")
        except eryx.PoolTimeoutError:
            got.append("timeout")
        except eryx.PoolClosedError:
            got.append("closed")

    t = threading.Thread(target=waiter, args=(pool,))
    t.start()
    time.sleep(0.1)
    held.release()  # the waiter gets it
    t.join(5)
    assert got == ["acquired"]
    assert pool.stats().wait_count == 1

    short = factory.create_pool(max_size=1, min_idle=0, acquire_timeout_ms=150)
    held = short.acquire()
    t0 = time.monotonic()
    with pytest.raises(eryx.PoolTimeoutError):
        short.acquire()
    assert time.monotonic() - t0 >= 0.1
    t = threading.Thread(target=waiter, args=(short,))
    t.start()
    short.close()  # wakes the waiter at once
    t.join(5)
    assert got[-1] in ("closed", "timeout") and not t.is_alive()
    held.release()
    pool.close()


def test_pool_exhausted_without_a_timeout(factory: eryx.SandboxFactory) -> None:
    pool = factory.create_pool(max_size=1, min_idle=0, acquire_timeout_ms=0)
    held = pool.acquire()
    with pytest.raises(eryx.PoolExhaustedError):
        pool.acquire()
    held.release()
    pool.close()


def test_pool_threads_in_parallel(factory: eryx.SandboxFactory) -> None:
    pool = factory.create_pool(max_size=4, min_idle=2)
    done: list[bytes] = []

    def work(i: int) -> None:
        with pool.acquire() as p:
            done.append(p.execute(f"print(base + {i})").stdout)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == sorted(f"{40 + i}\n".encode() for i in range(8))
    assert pool.evict_idle() == 0  # none is older than the idle timeout
    pool.close()
