"""MCP, both ways, through the official SDK: `eryx serve` driven by the
SDK's client (stdio and streamable HTTP; a hostile client's garbage), and
MCP servers' tools as the sandbox's callbacks (MCPManager, the config files
of Claude Desktop, Cursor, VS Code, Windsurf, Zed, Gemini and Codex,
`--mcp`), with a small stdio server written with the SDK
(mcp_tools_server.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import eryx

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters
from mcp.types import TextContent

TOOLS_SERVER = str(Path(__file__).with_name("mcp_tools_server.py"))


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def serve_params(*flags: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "eryx", "serve", *flags], env=env
    )


# ------------------------------------------------------------ eryx serve


def test_serve_over_stdio_with_the_sdk_client() -> None:
    async def main() -> None:
        async with Client(serve_params("--timeout", "20000")) as c:
            assert c.server_info.name == "eryx"
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) == {"run_python", "reset_session"}
            schema = tools["run_python"].input_schema
            assert schema["required"] == ["code"]
            assert set(schema["properties"]) == {"code", "timeout_ms"}

            r = await c.call_tool("run_python", {"code": "x = 41\nprint(x + 1)\nresult = [x]"})
            assert not r.is_error
            assert text(r) == "[stdout]\n42\n[result]\n[41]"
            assert r.structured_content == {
                "stdout": "42\n",
                "stderr": "",
                "result": [41],
                "error": None,
            }
            # State kept; stdout, stderr and the error in their own sections.
            r = await c.call_tool(
                "run_python",
                {"code": "import sys\nprint(x)\nprint('w', file=sys.stderr)\n1/0"},
            )
            assert r.is_error
            assert text(r).startswith("[stdout]\n41\n[stderr]\nw\n[error]\nTraceback")
            assert "ZeroDivisionError" in text(r)
            r = await c.call_tool("run_python", {"code": "pass"})
            assert (text(r), r.is_error) == ("(no output)", False)

            # timeout_ms interrupts the code; the session keeps its state.
            r = await c.call_tool("run_python", {"code": "while True: pass", "timeout_ms": 200})
            assert r.is_error and "timeout_ms=200 passed" in text(r)
            assert "KeyboardInterrupt" in text(r)
            r = await c.call_tool("run_python", {"code": "print(x)"})
            assert text(r) == "[stdout]\n41"
            # Code that swallows the interrupt is cancelled: the session restarts.
            stubborn = "try:\n    while True: pass\nexcept KeyboardInterrupt:\n    while True: pass"
            r = await c.call_tool("run_python", {"code": stubborn, "timeout_ms": 100})
            assert r.is_error and "the session was reset" in text(r)
            r = await c.call_tool("run_python", {"code": "print('x' in dir())"})
            assert text(r) == "[stdout]\nFalse"

            await c.call_tool("run_python", {"code": "y = 1"})
            r = await c.call_tool("reset_session", {})
            assert not r.is_error
            r = await c.call_tool("run_python", {"code": "print('y' in dir())"})
            assert text(r) == "[stdout]\nFalse"

            # Bad arguments and unknown tools are tool errors.
            for name, args in [
                ("run_python", {"code": 5}),
                ("run_python", {"code": "1", "timeout_ms": -3}),
                ("no_such_tool", {}),
            ]:
                r = await c.call_tool(name, args)
                assert r.is_error, (name, args)

    anyio.run(main)


class RawServer:
    """`eryx serve` spoken to line by line, as a hostile client would."""

    def __init__(self, *flags: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "eryx", "serve", *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def send(self, line: bytes) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + b"\n")
        self.p.stdin.flush()

    def ask(self, line: bytes) -> dict[str, Any]:
        self.send(line)
        assert self.p.stdout is not None
        reply = self.p.stdout.readline()
        assert reply, "the server ended"
        answer: dict[str, Any] = json.loads(reply)
        return answer

    def close(self) -> int:
        assert self.p.stdin is not None
        self.p.stdin.close()
        return self.p.wait(timeout=30)


def test_serve_answers_garbage_with_json_rpc_errors_and_goes_on() -> None:
    s = RawServer("--max-message-bytes", "100000")
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    assert s.ask(json.dumps(init).encode())["result"]["serverInfo"]["name"] == "eryx"
    s.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    cases = [
        (b"this is not json", None, -32700),
        (b"\xff\xfe\x00 binary", None, -32700),
        (b'{"hello": "world"}', None, -32600),
        (b"[1, 2, 3]", None, -32600),
        (b'{"jsonrpc": "2.0", "id": 7}', 7, -32600),
        (b'{"jsonrpc": "2.0", "id": 8, "method": "no/such", "params": {}}', 8, -32601),
        (
            b'{"jsonrpc": "2.0", "id": 9, "method": "x", "pad": "' + b"a" * 200000 + b'"}',
            None,
            -32600,
        ),
    ]
    for line, ident, code in cases:
        answer = s.ask(line)
        assert answer["id"] == ident and answer["error"]["code"] == code, (line[:40], answer)
    # Still serving: a real call works after all of that.
    call = {
        "jsonrpc": "2.0",
        "id": 10,
        "method": "tools/call",
        "params": {"name": "run_python", "arguments": {"code": "print(6 * 7)"}},
    }
    answer = s.ask(json.dumps(call).encode())
    assert answer["id"] == 10 and answer["result"]["content"][0]["text"] == "[stdout]\n42"
    assert s.close() == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_over_http_gives_each_client_its_own_session() -> None:
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "eryx", "serve", "--http", "--port", str(port)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

        async def main() -> None:
            url = f"http://127.0.0.1:{port}/mcp"
            async with Client(url) as a, Client(url) as b:
                await a.call_tool("run_python", {"code": "who = 'a'"})
                await b.call_tool("run_python", {"code": "who = 'b'"})
                assert text(await a.call_tool("run_python", {"code": "print(who)"})) == (
                    "[stdout]\na"
                )
                assert text(await b.call_tool("run_python", {"code": "print(who)"})) == (
                    "[stdout]\nb"
                )

        anyio.run(main)
    finally:
        p.terminate()
        p.wait(timeout=30)


# -------------------------------------------------- MCP tools as callbacks


@pytest.fixture(scope="module")
def manager() -> Iterator[eryx.MCPManager]:
    m = eryx.MCPManager()
    assert m.connect("tools", sys.executable, [TOOLS_SERVER]) == 4
    assert m.connect("my-tools", sys.executable, [TOOLS_SERVER]) == 4
    yield m
    m.close()


def test_manager_lists_the_servers_tools(manager: eryx.MCPManager) -> None:
    assert manager.server_names == ["tools", "my-tools"]
    assert repr(manager) == "MCPManager(servers=[tools, my-tools], tools=8)"
    tools = {t["name"]: t for t in manager.list_tools()}
    assert tools['mcp["tools"].add']["description"] == "Add two whole numbers."
    assert tools['mcp["tools"].add']["schema"]["required"] == ["a", "b"]
    assert 'mcp["my-tools"].get-weather' in tools
    assert manager.call_tool("tools", "shout", {"text": "hey"}) == "HEY!"


def test_tools_are_awaitable_callbacks(manager: eryx.MCPManager) -> None:
    sandbox = eryx.Sandbox(mcp=manager)
    r = sandbox.execute(
        "import asyncio\n"
        'print(await mcp["tools"].add(a=2, b=3))\n'
        "print(await mcp.tools.shout(text='hi'))\n"
        'print(await mcp["my-tools"]["get-weather"](city="Oslo"))\n'
        "print(await asyncio.gather(*[mcp.tools.add(a=i, b=1) for i in range(3)]))\n"
        "names = [c['name'] for c in list_callbacks()]\n"
        "print('mcp.tools.add' in names, 'mcp.my_tools.get_weather' in names)\n"
        "try:\n"
        '    await mcp["tools"].broken()\n'
        "except Exception as e:\n"
        "    print('failed:', 'broke on purpose' in str(e))\n"
    )
    assert r.stdout_text.splitlines() == [
        "{'total': 5, 'terms': 2}",
        "HI!",
        "sunny in Oslo",
        "[{'total': 1, 'terms': 2}, {'total': 2, 'terms': 2}, {'total': 3, 'terms': 2}]",
        "True True",
        "failed: True",
    ]
    # With callbacks of the caller's own, and in a session.
    session = eryx.Session(mcp=manager, callbacks=[{"name": "two", "fn": lambda: 2}])
    session.execute("x = await mcp.tools.add(a=await two(), b=40)")
    assert session.execute("print(x['total'])").stdout_text == "42\n"


def test_connect_failures_are_initialization_errors() -> None:
    m = eryx.MCPManager()
    try:
        with pytest.raises(eryx.InitializationError, match="nope"):
            m.connect("nope", "/nonexistent/mcp-server")
        with pytest.raises(eryx.InitializationError, match="no answer within"):
            m.connect("mute", sys.executable, ["-c", "import time; time.sleep(60)"], timeout_secs=1)
        assert m.server_names == []
        with pytest.raises(TypeError):
            eryx.Sandbox(mcp="not a manager")  # type: ignore[arg-type]
    finally:
        m.close()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_discovery_reads_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eryx.mcp import discover_servers

    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    monkeypatch.setenv("TOOLS_PY", TOOLS_SERVER)
    monkeypatch.setenv("TOKEN", "t0k")
    server = {"command": sys.executable, "args": ["$TOOLS_PY"]}

    def servers(key: str, **entries: Any) -> str:
        return json.dumps({key: entries})

    write(
        home / ".config/Claude/claude_desktop_config.json",
        servers(
            "mcpServers",
            claude=server,
            off={**server, "disabled": True},
            remote={"url": "https://example.invalid/mcp"},
        ),
    )
    write(
        home / ".cursor/mcp.json",
        servers("mcpServers", cursor={**server, "env": {"KEY": "${env:TOKEN}"}}),
    )
    write(
        home / ".codeium/windsurf/mcp_config.json",
        servers("mcpServers", windsurf={**server, "enabled": False}),
    )
    write(
        home / ".config/zed/settings.json",
        servers(
            "context_servers",
            zed={"command": {"path": sys.executable, "args": ["${TOOLS_PY}"]}},
        ),
    )
    write(
        home / ".gemini/settings.json",
        servers("mcpServers", gemini={**server, "env": {"X": "${UNSET_VAR:-dflt}"}}),
    )
    write(
        home / ".codex/config.toml",
        f'[mcp_servers.codex]\ncommand = "{sys.executable}"\nargs = ["$TOOLS_PY"]\n',
    )
    write(
        project / ".vscode/mcp.json",
        servers(
            "servers",
            vscode={"type": "stdio", **server},
            web={"type": "http", "url": "http://127.0.0.1:1/mcp"},
        ),
    )
    write(project / ".cursor/mcp.json", servers("mcpServers", cursor={**server, "args": ["p"]}))
    found = discover_servers()
    expected = {"claude", "cursor", "zed", "gemini", "vscode"}
    if sys.version_info >= (3, 11):
        expected.add("codex")  # tomllib
    assert set(found) == expected
    assert found["claude"] == {"command": sys.executable, "args": [TOOLS_SERVER], "env": {}}
    assert found["zed"]["args"] == [TOOLS_SERVER]
    assert found["gemini"]["env"] == {"X": "dflt"}
    assert found["cursor"]["args"] == ["p"]  # the project's overrides the user's
    assert found["cursor"]["env"] == {}

    # The CLI's --mcp connects them and hands their tools to the code.
    monkeypatch.delenv("UNSET_VAR", raising=False)
    p = subprocess.run(
        [sys.executable, "-m", "eryx", "--mcp", "-c", 'print(await mcp["claude"].add(a=1, b=2))'],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(home)},
        cwd=project,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"{'total': 3, 'terms': 2}\n"
    assert b"MCP: connected to 'claude' (4 tools)" in p.stderr


def test_serve_with_mcp_config_offers_the_inner_tools(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(
        json.dumps({"mcpServers": {"inner": {"command": sys.executable, "args": [TOOLS_SERVER]}}})
    )

    async def main() -> None:
        flags = ("--mcp-config", str(config), "--import", "csv", "--secret", "TOKEN=s3cret")
        async with Client(serve_params(*flags)) as c:
            (run,) = [t for t in (await c.list_tools()).tools if t.name == "run_python"]
            assert 'await mcp["inner"].add(...)' in (run.description or "")
            r = await c.call_tool(
                "run_python", {"code": 'print(await mcp["inner"].shout(text="x"))'}
            )
            assert text(r) == "[stdout]\nX!"
            # The flags shape the session: an import done first (a factory's
            # session), a secret as a placeholder, scrubbed from the output.
            r = await c.call_tool(
                "run_python",
                {"code": "import os\nprint(csv.__name__)\nprint(os.environ['TOKEN'])"},
            )
            assert text(r).startswith("[stdout]\ncsv\n")
            assert "s3cret" not in text(r)

    anyio.run(main)
