"""``eryx serve``: an MCP server that gives agents a Python sandbox.

Tools: ``run_python(code, timeout_ms)`` runs code in a persistent session
(one per client connection) and answers with its stdout, stderr, result
and error in separate sections (and as structured content);
``reset_session()`` starts that session again.  The sandbox's flags are
the CLI's (limits, volumes, network, packages, secrets, ``--mcp``).

Transports: stdio (the default), or streamable HTTP (``--http``).  Over
stdio the loop is eryx's own around the SDK's server, so that a client's
garbage gets a JSON-RPC error instead of silence: a line that is not JSON
gets -32700, JSON that is not a JSON-RPC message -32600, a line over
``--max-message-bytes`` (default 16 MiB) -32600, an unknown method the
SDK's -32601; and the server goes on.

A ``timeout_ms`` that passes raises KeyboardInterrupt in the code (the
session keeps its state); code that does not stop within a second more
is cancelled, and that session starts again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from ._core import (
    CancelledError,
    EryxError,
    ExecutionError,
    ResourceLimitError,
    Session,
    TimeoutError,
)

GRACE_S = 1.0  # after a timeout_ms's interrupt, before the cancel
MAX_SESSIONS = 64  # HTTP: the least recently used session goes past it
DEFAULT_MAX_MESSAGE = 16 << 20

RUN_PYTHON_DESCRIPTION = (
    "Run Python code (CPython 3.13, full standard library) in a sandbox and "
    "return its output. State persists between calls: variables, functions "
    "and imports stay until reset_session. Top-level `await` works. The "
    "answer has sections [stdout], [stderr], [result] (the JSON of the "
    "variable `result`, when set) and [error] (the traceback, when the code "
    "raised). The sandbox has no access to the host's files, network, "
    "environment or processes beyond what the server was started with."
)


class _Runner:
    """One client's session, its output, and its lock (tool calls of one
    client may arrive in parallel: they run one after another)."""

    def __init__(self, make: Callable[[Callable[[bytes], None], Callable[[bytes], None]], Session]):
        self._make = make
        self._lock = threading.Lock()
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self.session = make(self._out.append, self._err.append)

    def run(self, code: str, timeout_ms: int | None) -> dict[str, Any]:
        with self._lock:
            self._out.clear()
            self._err.clear()
            session = self.session
            timers: list[threading.Timer] = []
            fired: list[bool] = []

            def interrupt() -> None:
                fired.append(True)
                session.interrupt()

            if timeout_ms is not None:
                s = timeout_ms / 1000.0
                timers = [
                    threading.Timer(s, interrupt),
                    threading.Timer(s + GRACE_S, session._core.cancel),
                ]
                for t in timers:
                    t.daemon = True
                    t.start()
            result: Any = None
            error: str | None = None
            try:
                r = session.execute(code)
                result = r.result_json
                if r.result_error:
                    error = r.result_error
            except ExecutionError as e:
                error = str(e)
                if fired:
                    error = (
                        f"TimeoutError: timeout_ms={timeout_ms} passed: the code was "
                        f"interrupted (the session keeps its state)\n{error}"
                    )
            except CancelledError:
                error = (
                    f"TimeoutError: the code ran past timeout_ms={timeout_ms} and did not "
                    "stop at KeyboardInterrupt; the session was reset"
                )
            except (TimeoutError, ResourceLimitError) as e:
                error = f"{type(e).__name__}: {e}; the session was reset"
            except EryxError as e:
                error = f"{type(e).__name__}: {e}"
            finally:
                for t in timers:
                    t.cancel()
            return {
                "stdout": b"".join(self._out).decode("utf-8", "replace"),
                "stderr": b"".join(self._err).decode("utf-8", "replace"),
                "result": result,
                "error": error,
            }

    def reset(self) -> None:
        with self._lock:
            self.session = self._make(self._out.append, self._err.append)


def render(answer: dict[str, Any]) -> str:
    """The tool's text: one section per non-empty part."""
    parts = []
    for key in ("stdout", "stderr", "result", "error"):
        value = (answer.get(key) or "").rstrip("\n")
        if value:
            parts.append(f"[{key}]\n{value}")
    return "\n".join(parts) if parts else "(no output)"


def _session_maker(ns: argparse.Namespace) -> Callable[..., Session]:
    """Sessions as the flags ask (ns.settings, ns.mcp_manager), each with
    its own output sinks."""
    from .__main__ import make_factory

    factory = make_factory(ns)
    mcp = ns.mcp_manager

    def make(out: Callable[[bytes], None], err: Callable[[bytes], None]) -> Session:
        args: dict[str, Any] = {
            **ns.settings,
            "callbacks": mcp.callbacks() if mcp is not None else None,
            "on_stdout": out,
            "on_stderr": err,
        }
        return factory.create_session(**args) if factory is not None else Session(**args)

    return make


def _tool_description(mcp: Any) -> str:
    desc = RUN_PYTHON_DESCRIPTION
    tools = mcp.list_tools() if mcp is not None else []
    if tools:
        desc += '\n\nTools the code can await (e.g. `await mcp["server"].tool(x=1)`):'
        for t in tools:
            d = t["description"].splitlines()[0] if t["description"] else ""
            desc += f"\n- `await {t['name']}(...)`" + (f": {d[:117]}" if d else "")
    return desc


def build_server(make: Callable[..., Session], mcp: Any = None, http: bool = False) -> Any:
    """The SDK's low-level MCP server with the two tools; sessions are
    keyed by connection (HTTP: the Mcp-Session-Id; stdio: one)."""
    import anyio
    from mcp import types
    from mcp.server import Server
    from mcp.shared.exceptions import MCPError

    runners: OrderedDict[str | None, _Runner] = OrderedDict()
    lock = threading.Lock()

    def runner_for(ctx: Any) -> _Runner:
        request = getattr(ctx, "request", None)
        headers = getattr(request, "headers", None)
        key = headers.get("mcp-session-id") if headers is not None else None
        with lock:
            r = runners.get(key)
            if r is not None:
                runners.move_to_end(key)
                return r
        r = _Runner(make)
        with lock:
            runners[key] = r
            while len(runners) > MAX_SESSIONS:
                runners.popitem(last=False)
        return r

    tools = [
        types.Tool(
            name="run_python",
            description=_tool_description(mcp),
            input_schema={
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "Python source to run"},
                    "timeout_ms": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "stop the code after this many milliseconds "
                        "(KeyboardInterrupt; default: the server's --timeout)",
                    },
                },
                "required": ["code"],
            },
        ),
        types.Tool(
            name="reset_session",
            description="Forget every variable, function and import of this "
            "connection's Python session.",
            input_schema={"type": "object", "properties": {}},
        ),
    ]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    def text_result(text: str, error: bool, structured: dict[str, Any] | None = None) -> Any:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=structured,
            is_error=error,
        )

    async def call_tool(ctx: Any, params: Any) -> Any:
        args = params.arguments or {}
        if params.name == "reset_session":
            await anyio.to_thread.run_sync(runner_for(ctx).reset)
            return text_result("The session was reset: it starts empty.", False)
        if params.name != "run_python":
            return text_result(f"Unknown tool: {params.name}", True)
        code, timeout_ms = args.get("code"), args.get("timeout_ms")
        if not isinstance(code, str):
            return text_result("run_python needs `code`, a string", True)
        if timeout_ms is not None and (
            isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < 1
        ):
            return text_result("timeout_ms must be a whole number of milliseconds, >= 1", True)
        runner = runner_for(ctx)
        try:
            answer = await anyio.to_thread.run_sync(
                runner.run, code, timeout_ms, abandon_on_cancel=True
            )
        except anyio.get_cancelled_exc_class():
            runner.session.interrupt()  # the client gave up: stop the code
            raise
        result = answer["result"]  # JSON text, shown as is
        structured = dict(answer)
        if result is not None:
            structured["result"] = json.loads(result)
        return text_result(render(answer), answer["error"] is not None, structured)

    server = Server(
        "eryx",
        version=_version(),
        instructions="A Python sandbox: run_python runs code in a persistent session.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    if http:
        # Over HTTP a connection is an Mcp-Session-Id, which only the
        # handshake era has: steer clients away from the stateless era.
        async def no_discover(ctx: Any, params: Any) -> Any:
            raise MCPError(code=types.METHOD_NOT_FOUND, message="Method not found")

        server.add_request_handler("server/discover", types.RequestParams, no_discover)
    return server


def _version() -> str:
    from . import _eryx

    return str(_eryx.LIB_VERSION)


# ------------------------------------------------------------ stdio loop


def _error_line(msg_id: Any, code: int, message: str) -> bytes:
    return (
        json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})
        + "\n"
    ).encode()


def _read_line(f: Any, limit: int) -> bytes | None:
    """One line of at most `limit` bytes; b"" for a longer one (skipped
    to its end); None at the end of input."""
    line = f.readline(limit + 1)
    if not line:
        return None
    if len(line) <= limit or line.endswith(b"\n"):
        return line
    while True:  # too long: drop the rest of it
        more = f.readline(1 << 20)
        if not more or more.endswith(b"\n"):
            return b""


async def serve_stdio(server: Any, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
    """Serve one client over stdin/stdout.  The protocol's stdout is a
    private copy of fd 1; fd 1 itself then points at stderr, so that nothing
    else (a child MCP server, a stray print) can corrupt the stream."""
    import anyio
    from mcp import types
    from mcp.shared.message import SessionMessage

    wire = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    inp = os.fdopen(os.dup(0), "rb")
    write_lock = anyio.Lock()

    async def write(data: bytes) -> None:
        async with write_lock:
            await anyio.to_thread.run_sync(wire.write, data)

    in_send, in_recv = anyio.create_memory_object_stream[Any](16)
    out_send, out_recv = anyio.create_memory_object_stream[Any](16)

    async def reader() -> None:
        async with in_send:
            while True:
                line = await anyio.to_thread.run_sync(
                    _read_line, inp, max_message, abandon_on_cancel=True
                )
                if line is None:
                    return
                if line == b"":
                    await write(_error_line(None, -32600, f"message over {max_message} bytes"))
                    continue
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    await write(_error_line(None, -32700, "Parse error"))
                    continue
                try:
                    message = types.jsonrpc_message_adapter.validate_python(obj, by_name=False)
                except Exception:  # noqa: BLE001 - any invalid message
                    ident = obj.get("id") if isinstance(obj, dict) else None
                    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
                        ident = None
                    await write(_error_line(ident, -32600, "Invalid Request"))
                    continue
                await in_send.send(SessionMessage(message))

    async def writer() -> None:
        async with out_recv:
            async for sm in out_recv:
                data = sm.message.model_dump_json(by_alias=True, exclude_unset=True)
                await write(data.encode() + b"\n")

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)
        await server.run(in_recv, out_send, server.create_initialization_options())
        tg.cancel_scope.cancel()


# ------------------------------------------------------------------ main


def add_serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--http",
        action="store_true",
        help="serve streamable HTTP (default: stdio)",
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP: address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP: port (default 8000)")
    p.add_argument("--path", default="/mcp", help="HTTP: endpoint path (default /mcp)")
    p.add_argument(
        "--max-message-bytes",
        type=int,
        default=DEFAULT_MAX_MESSAGE,
        metavar="N",
        help="stdio: longest message line (default 16 MiB)",
    )


def serve(ns: argparse.Namespace) -> int:
    """Run the server the parsed flags describe."""
    try:
        import anyio
        import mcp  # noqa: F401
    except ImportError:
        sys.stderr.write("eryx serve needs the official MCP SDK: pip install 'eryx[mcp]'\n")
        return 1
    make = _session_maker(ns)
    server = build_server(make, ns.mcp_manager, ns.http)
    try:
        if ns.http:
            import uvicorn

            app = server.streamable_http_app(streamable_http_path=ns.path, host=ns.host)
            uvicorn.run(app, host=ns.host, port=ns.port, log_level="warning")
        else:
            anyio.run(serve_stdio, server, ns.max_message_bytes)
    except KeyboardInterrupt:
        pass
    finally:
        if ns.mcp_manager is not None:
            ns.mcp_manager.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``eryx serve [flags]``."""
    from .__main__ import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])
