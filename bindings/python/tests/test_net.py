"""The network (docs/network.md): sockets, TLS and HTTP clients through the
host under NetConfig, and secrets that never leak.  Every server is on
loopback and started by the tests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netservers import Server, make_ca, silent_server
from pkgs import packages

import eryx

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def http_srv() -> Iterator[Server]:
    s = Server()
    yield s
    s.shutdown()


@pytest.fixture(scope="module")
def https_srv(ca: dict[str, Path]) -> Iterator[Server]:
    s = Server(tls=ca)
    yield s
    s.shutdown()


def local(ca: dict[str, Path] | None = None, **kw: Any) -> eryx.NetConfig:
    net = eryx.NetConfig(**kw).allow_localhost()
    if ca is not None:
        net.with_root_cert(ca["ca"].read_bytes())
    return net


def run(code: str, **kw: Any) -> str:
    return eryx.Sandbox(**kw).execute(code).stdout_text


FETCH = """
import urllib.request
try:
    print(urllib.request.urlopen({url!r}, timeout=10).read().decode())
except Exception as e:
    print(type(e).__name__, e)
"""


def test_no_network_without_a_policy(http_srv: Server) -> None:
    out = run(FETCH.format(url=f"http://127.0.0.1:{http_srv.port}/"))
    assert "no network" in out
    assert http_srv.received() == b""


def test_loopback_refused_by_the_default_policy_and_allowed_with_allow_localhost(
    http_srv: Server,
) -> None:
    url = f"http://127.0.0.1:{http_srv.port}/"
    assert "is blocked" in run(FETCH.format(url=url), network=eryx.NetConfig())
    assert "is blocked" in run(
        FETCH.format(url=f"http://localhost:{http_srv.port}/"), network=eryx.NetConfig()
    )
    assert run(FETCH.format(url=url), network=local()) == "hello\n"


def test_every_resolved_address_is_checked(http_srv: Server) -> None:
    url = f"http://api.test:{http_srv.port}/"
    # A name outside every blocked pattern that resolves to loopback.
    out = run(FETCH.format(url=url), network=eryx.NetConfig().resolve("api.test", "127.0.0.1"))
    assert "resolves to 127.0.0.1, in the blocked network 127.0.0.0/8" in out
    allowed = eryx.NetConfig().resolve("api.test", "127.0.0.1").allow_network("127.0.0.0/8")
    assert run(FETCH.format(url=url), network=allowed) == "hello\n"
    internal = eryx.NetConfig().resolve("api.test", "127.0.0.1").allow_internal_host("api.*")
    assert run(FETCH.format(url=url), network=internal) == "hello\n"
    # IPv4-mapped, NAT64 and metadata forms of blocked addresses.
    no_patterns = eryx.NetConfig(blocked_hosts=[])
    for host in ("[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", "169.254.169.254", "10.1.2.3"):
        out = run(FETCH.format(url=f"http://{host}:{http_srv.port}/"), network=no_patterns)
        assert "in the blocked network" in out, (host, out)


def test_host_patterns(http_srv: Server) -> None:
    net = local(allowed_hosts=["*.example.com"])
    out = run(FETCH.format(url=f"http://localhost:{http_srv.port}/"), network=net)
    assert "not among the network policy's allowed hosts" in out
    net = local(allowed_hosts=["LOCALHOST"]).block_host("localhost")
    assert "is blocked" in run(FETCH.format(url=f"http://localhost:{http_srv.port}/"), network=net)
    net = local(allowed_hosts=["LOCALHOST"])
    assert run(FETCH.format(url=f"http://localhost:{http_srv.port}/"), network=net) == "hello\n"
    with pytest.raises(ValueError, match="CIDR"):
        eryx.NetConfig(blocked_networks=["10.0.0.0/33"])


def test_https_urllib_and_the_ssl_module(https_srv: Server, ca: dict[str, Path]) -> None:
    url = f"https://localhost:{https_srv.port}/"
    assert run(FETCH.format(url=url), network=local(ca)) == "hello\n"
    code = f"""
import socket, ssl
ctx = ssl.create_default_context()
with socket.create_connection(("localhost", {https_srv.port})) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        print(s.version(), dict(x[0] for x in s.getpeercert()["subject"]))
        s.sendall(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
        print(s.recv(100).split(b"\\r\\n")[0].decode())
"""
    assert run(code, network=local(ca)) == "TLSv1.3 {'commonName': 'localhost'}\nHTTP/1.1 200 OK\n"
    # Without the test CA the certificate is refused, and the guest cannot
    # turn verification off.
    out = run(FETCH.format(url=url), network=local())
    assert "CERTIFICATE_VERIFY_FAILED" in out or "certificate verify failed" in out
    code = f"""
import ssl, urllib.request
try:
    urllib.request.urlopen({url!r}, context=ssl._create_unverified_context())
except Exception as e:
    print(type(e).__name__, "certificate verify failed" in str(e))
"""
    assert run(code, network=local()) == "URLError True\n"


def test_requests_and_httpx_over_https(https_srv: Server, ca: dict[str, Path]) -> None:
    names = ("requests", "urllib3", "idna", "certifi", "charset_normalizer")
    names += ("httpx", "httpcore", "h11", "anyio", "sniffio")
    factory = eryx.SandboxFactory(packages=packages(*names), imports=["requests", "httpx"])
    code = f"""
r = requests.get("https://localhost:{https_srv.port}/x")
print(r.status_code, r.text)
with requests.Session() as s:
    print([s.post("https://localhost:{https_srv.port}/p", data=b"a" * 1000).text
           for _ in range(2)])
print(httpx.get("https://localhost:{https_srv.port}/y").text)
with httpx.Client() as c:
    print(c.get("https://localhost:{https_srv.port}/z").status_code)
try:
    requests.get("https://localhost:{https_srv.port}/", verify=False, timeout=5)
except requests.exceptions.SSLError:
    print("refused")
"""
    out = factory.create_sandbox(network=local(ca)).execute(code).stdout_text
    assert out == "200 hello\n['got 1000', 'got 1000']\nhello\n200\n"
    # Without the root the host refuses the certificate, verify=False or not.
    out = (
        factory.create_sandbox(network=local())
        .execute(f"""
try:
    requests.get("https://localhost:{https_srv.port}/", verify=False, timeout=5)
except requests.exceptions.SSLError:
    print("refused")
""")
        .stdout_text
    )
    assert out == "refused\n"
    # The image compiles in the background once used: let it finish here,
    # not during a later test that measures the process's memory.
    assert factory._wait_compiled(timeout=300)


def test_asyncio_gather_of_five_fetches_runs_them_at_once(http_srv: Server) -> None:
    code = f"""
import asyncio, time
async def fetch():
    r, w = await asyncio.open_connection("127.0.0.1", {http_srv.port})
    w.write(b"GET /slow HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
    await w.drain()
    body = (await r.read()).split(b"\\r\\n\\r\\n")[1]
    w.close()
    return body.decode()
t = time.perf_counter()
print(await asyncio.gather(*[fetch() for _ in range(5)]))
print(time.perf_counter() - t)
"""
    out = run(code, network=local()).splitlines()
    assert out[0] == str(["slow"] * 5)
    assert float(out[1]) < 0.45  # five 0.1 s requests one after another: >= 0.5 s


def test_asyncio_tls(https_srv: Server, ca: dict[str, Path]) -> None:
    code = f"""
import asyncio
r, w = await asyncio.open_connection("localhost", {https_srv.port}, ssl=True)
w.write(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
print((await r.read()).split(b"\\r\\n")[0].decode())
"""
    assert run(code, network=local(ca)) == "HTTP/1.1 200 OK\n"


SEND_SECRET = """
import os, socket, ssl
def send(port, tls):
    s = socket.create_connection(("{host}", port))
    if tls:
        s = ssl.create_default_context().wrap_socket(s, server_hostname="localhost")
    token = os.environ["TOKEN"]
    body = ("body " + token).encode()
    head = ("POST /p HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer " + token
            + "\\r\\nContent-Length: " + str(len(body)) + "\\r\\n\\r\\n")
    # Split mid-header, as a client writing in pieces would.
    data = head.encode() + body
    s.sendall(data[:40]); s.sendall(data[40:])
    print(s.recv(100).split(b"\\r\\n")[0].decode())
    s.close()
send({port}, {tls})
"""


def test_a_secret_reaches_its_allowed_host_and_no_other(
    http_srv: Server, https_srv: Server, ca: dict[str, Path]
) -> None:
    secrets = {"TOKEN": {"value": SECRET, "allowed_hosts": ["localhost"]}}
    net = local(ca)
    sb = eryx.Sandbox(network=net, secrets=secrets)
    before = len(https_srv.received())
    out = sb.execute(SEND_SECRET.format(host="localhost", port=https_srv.port, tls=True))
    assert out.stdout_text == "HTTP/1.1 200 OK\n"
    got = https_srv.received()[before:]
    assert f"Authorization: Bearer {SECRET}\r\n".encode() in got
    assert b"body ERYX_SECRET_PLACEHOLDER_" in got  # bodies are never touched
    # Another host (127.0.0.1 is not "localhost") gets the placeholder.
    before = len(http_srv.received())
    sb.execute(SEND_SECRET.format(host="127.0.0.1", port=http_srv.port, tls=False))
    got = http_srv.received()[before:]
    assert SECRET.encode() not in got
    assert b"Authorization: Bearer ERYX_SECRET_PLACEHOLDER_" in got


def test_http2_is_refused_while_secrets_exist(http_srv: Server) -> None:
    code = f"""
import socket
s = socket.create_connection(("127.0.0.1", {http_srv.port}))
try:
    s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n")
    print("sent")
except OSError as e:
    print("refused", e)
"""
    secrets = {"TOKEN": {"value": SECRET}}
    assert "refused" in run(code, network=local(), secrets=secrets)
    assert run(code, network=local()) == "sent\n"


def test_secrets_are_scrubbed_everywhere(tmp_path: Path) -> None:
    streamed: list[bytes] = []
    events: list[dict[str, Any]] = []
    seen: list[Any] = []

    def cb(text: str) -> str:
        seen.append(text)
        return SECRET  # a host answer that would hand the guest the value

    secrets = {"TOKEN": {"value": SECRET, "allowed_hosts": []}}
    code = f"""
import os, sys
ph = os.environ["TOKEN"]
print("placeholder", ph, "value", {SECRET!r})
sys.stdout.write({SECRET[:9]!r}); sys.stdout.flush(); sys.stdout.write({SECRET[9:]!r} + "\\n")
print("err", ph, file=sys.stderr)
print("callback gave", await cb(text=ph + " " + {SECRET!r}))
with open("f.txt", "w") as f:
    f.write(ph + " " + {SECRET!r})
print("file", open("f.txt").read())
result = {SECRET!r}
"""
    sb = eryx.Sandbox(
        secrets=secrets,
        callbacks=[{"name": "cb", "fn": cb}],
        on_stdout=streamed.append,
        on_trace=events.append,
    )
    r = sb.execute(code)
    out = r.stdout_text
    assert SECRET not in out and "ERYX_SECRET_PLACEHOLDER" not in out
    assert out.count("[REDACTED]") == 6
    assert "callback gave [REDACTED]" in out and "file [REDACTED] [REDACTED]" in out
    assert r.stderr_text == "err [REDACTED]\n"
    assert b"".join(streamed).decode() == out
    assert seen == ["[REDACTED] [REDACTED]"]
    trace = json.dumps(events)
    assert events and SECRET not in trace and "ERYX_SECRET_PLACEHOLDER" not in trace
    # The result is the caller's own channel: scrubbed only when asked.
    assert r.result == SECRET
    sb = eryx.Sandbox(secrets=secrets, scrub_result=True)
    assert sb.execute(f"result = {SECRET!r}").result == "[REDACTED]"
    # scrub_stdout=False lets output through as written.
    sb = eryx.Sandbox(secrets=secrets, scrub_stdout=False)
    assert sb.execute(f"print({SECRET!r})").stdout_text == SECRET + "\n"


def test_secret_argument_errors() -> None:
    with pytest.raises(TypeError, match="secret names must be strings"):
        eryx.Sandbox(secrets={1: {"value": "x"}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="must contain a 'value' key"):
        eryx.Sandbox(secrets={"A": {}})
    with pytest.raises(TypeError, match="value must be a string"):
        eryx.Sandbox(secrets={"A": {"value": 1}})
    with pytest.raises(TypeError, match="allowed_hosts must be a list of strings"):
        eryx.Sandbox(secrets={"A": {"value": "x", "allowed_hosts": "h"}})
    with pytest.raises(ValueError, match="environment variable name"):
        eryx.Sandbox(secrets={"A-B": {"value": "x"}}).execute("pass")


def test_limits_timeouts_and_cancellation(http_srv: Server) -> None:
    lst, port = silent_server()
    try:
        code = f"""
import socket
socks = [socket.create_connection(("127.0.0.1", {http_srv.port})) for _ in range(2)]
try:
    socket.create_connection(("127.0.0.1", {http_srv.port}))
except OSError as e:
    print(e)
"""
        out = run(code, network=local(max_connections=2))
        assert "too many connections: the network policy allows 2 at once" in out
        # settimeout, and the policy's I/O timeout, on a read that never ends.
        code = f"""
import socket, time
s = socket.create_connection(("127.0.0.1", {port}))
s.settimeout(0.2)
try:
    s.recv(10)
except TimeoutError as e:
    print("timeout", e)
s.settimeout(None)
t = time.perf_counter()
try:
    s.recv(10)
except TimeoutError as e:
    print("io timeout", e, time.perf_counter() - t < 5)
"""
        out = run(code, network=local(io_timeout_ms=300))
        assert out == "timeout timed out\nio timeout timed out (network I/O timeout) True\n"
        # The execute's timeout cuts a blocked read.
        code = f"""
import socket
socket.create_connection(("127.0.0.1", {port})).recv(10)
"""
        sb = eryx.Sandbox(
            network=local(), resource_limits=eryx.ResourceLimits(execution_timeout_ms=300)
        )
        t = time.perf_counter()
        with pytest.raises(eryx.TimeoutError):
            sb.execute(code)
        assert time.perf_counter() - t < 5
    finally:
        lst.close()


def test_hostile_guest_gets_clear_errors_and_the_host_survives(http_srv: Server) -> None:
    code = f"""
import _eryx_host as h, errno, socket
def attempt(f, *a):
    try:
        f(*a)
        print("ok")
    except Exception as e:
        print(type(e).__name__, getattr(e, "errno", None) == errno.EBADF)
attempt(h.net_send, 12345, b"x")
attempt(h.net_recv_into, 999, bytearray(10), 10)
attempt(h.net_tls, 77, "x", None)
attempt(h.net_state, 0)
attempt(h.net_connect, "a\\x00b", 80)
attempt(h.net_connect, "x" * 5000, 80)
attempt(h.net_poll, [(1, 1)] * 5000, 0)
print(h.net_poll([(4242, 3)], 0))
# A 10 MB header: the server refuses or answers; nothing breaks.
s = socket.create_connection(("127.0.0.1", {http_srv.port}))
try:
    s.sendall(b"GET / HTTP/1.1\\r\\nX-Big: " + b"a" * 10_000_000 + b"\\r\\n\\r\\n")
    print("sent big")
except OSError as e:
    print("big refused", type(e).__name__)
s.close()
"""
    out = run(code, network=local(), secrets={"T": {"value": "abcdef"}}).splitlines()
    assert out[:7] == [
        "OSError True",
        "OSError True",
        "OSError True",
        "OSError True",
        "ValueError False",
        "OSError False",
        "ValueError False",
    ]
    assert out[7] == "[(4242, 4)]"
    assert out[8] in ("sent big", "big refused ConnectionResetError", "big refused BrokenPipeError")
    assert run(FETCH.format(url=f"http://127.0.0.1:{http_srv.port}/"), network=local()) == (
        "hello\n"
    )


def test_netconfig_api() -> None:
    n = eryx.NetConfig()
    assert len(n.blocked_hosts) == 23 and len(n.blocked_networks) == 18
    assert n.allow_all_hosts is True
    assert n.allow_host("api.example.com") is n and n.allowed_hosts == ["api.example.com"]
    n.allow_localhost()
    assert "localhost" not in n.blocked_hosts and "127.0.0.0/8" not in n.blocked_networks
    p = eryx.NetConfig.permissive()
    assert p.max_connections == 100 and p.blocked_hosts == [] and p.blocked_networks == []
    assert repr(eryx.NetConfig()).startswith("NetConfig(max_connections=10, connect_timeout_ms")
    with pytest.raises(TypeError):
        eryx.Sandbox(network="x")  # type: ignore[arg-type]
