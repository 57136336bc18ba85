"""Loopback HTTP and HTTPS servers for the network tests, which record
every byte they read, and a test CA made with the openssl command."""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


def make_ca(d: Path, names: tuple[str, ...] = ("localhost", "api.test")) -> dict[str, Path]:
    """A test CA and a server certificate for `names` and 127.0.0.1."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
        "ca.pem", "-days", "2", "-subj", "/CN=eryx test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", f"/CN={names[0]}")  # fmt: skip
    sans = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"])
    (d / "ext.cnf").write_text(f"subjectAltName={sans}\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "srv.pem", "key": d / "srv.key"}


class _Recorder:
    """A handler's rfile that keeps a copy of every byte read."""

    def __init__(self, raw: Any, log: bytearray, lock: threading.Lock) -> None:
        self._raw, self._log, self._lock = raw, log, lock

    def _keep(self, data: bytes) -> bytes:
        with self._lock:
            self._log += data
        return data

    def readline(self, *a: Any) -> bytes:
        return self._keep(self._raw.readline(*a))

    def read(self, *a: Any) -> bytes:
        return self._keep(self._raw.read(*a))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.rfile = _Recorder(self.rfile, self.server.log, self.server.lock)  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/slow":
            time.sleep(0.1)
            self._send(b"slow")
        elif path == "/big":
            n = int(query.split("=")[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                self.wfile.write(chunk[: min(n, len(chunk))])
                n -= len(chunk)
        elif path == "/hang":
            time.sleep(30)
        else:
            self._send(b"hello")

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0"))
        self._send(b"got %d" % len(self.rfile.read(n)))


class Server(http.server.ThreadingHTTPServer):
    """An HTTP(S) server on 127.0.0.1 in a thread; `log` holds every byte
    its handlers read."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, tls: dict[str, Path] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.log = bytearray()
        self.lock = threading.Lock()
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls["cert"], tls["key"])
            self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def received(self) -> bytes:
        with self.lock:
            return bytes(self.log)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that broke off is part of the tests


def silent_server() -> tuple[socket.socket, int]:
    """A listener that accepts and never answers (for timeouts)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s, s.getsockname()[1]
