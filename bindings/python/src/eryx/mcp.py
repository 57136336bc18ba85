"""MCP servers' tools as callbacks: ``MCPManager``, and the discovery of
the stdio servers configured for Claude Desktop, Claude Code, Cursor,
VS Code, Windsurf, Zed, Gemini CLI and Codex.

The manager speaks MCP through the official SDK (``pip install
'eryx[mcp]'``) from a background thread of its own; each server's tools
become callbacks named ``mcp.<server>.<tool>``, which the sandboxed code
awaits as ``await mcp["server"].tool(**arguments)`` (names that are not
identifiers: ``mcp["my-server"]["get-data"](...)``).  A tool's answer is
its structured content when it has one, else its text (several blocks: a
list of content dicts); a tool error raises in the sandbox.

Config files searched (later ones override earlier ones, by server name):

* user-wide: ``~/.config/Claude/claude_desktop_config.json`` (and the macOS
  place), ``~/.claude.json``, ``~/.cursor/mcp.json``,
  ``~/.codeium/windsurf/mcp_config.json``, ``~/.config/Code/User/mcp.json``
  (key ``servers``), ``~/.config/zed/settings.json`` (key
  ``context_servers``), ``~/.gemini/settings.json``,
  ``~/.codex/config.toml`` (TOML, key ``mcp_servers``);
* project (current directory): ``.mcp.json``, ``.cursor/mcp.json``,
  ``.vscode/mcp.json`` (``servers``), ``.zed/settings.json``,
  ``.gemini/settings.json``, ``.codex/config.toml``.

Servers that are disabled (``"disabled": true`` or ``"enabled": false``)
or not stdio (a ``type`` other than ``stdio``, or only a ``url``) are
skipped.  ``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${env:VAR}`` are
expanded in the command, its arguments and its environment.
"""

from __future__ import annotations

import asyncio
import json
import keyword
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._core import InitializationError

__all__ = ["MCPManager", "connect_servers", "discover_servers"]


def identifier(name: str) -> str:
    """The identifier a server or tool name is registered under (the
    guest's runtime maps ``mcp["name"]`` the same way)."""
    out = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    if not out or out[0].isdigit():
        out = "_" + out
    return out + "_" if keyword.iskeyword(out) else out


def _require_sdk() -> Any:
    try:
        import mcp
    except ImportError:
        raise InitializationError(
            "MCP needs the official MCP SDK: pip install 'eryx[mcp]'"
        ) from None
    return mcp


@dataclass
class _Server:
    name: str
    tools: list[Any] = field(default_factory=list)
    client: Any = None
    stop: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None


def _answer(result: Any) -> Any:
    """A CallToolResult as the callback's value (or an exception)."""
    texts = [getattr(c, "text", None) for c in result.content]
    if result.is_error:
        raise RuntimeError("\n".join(t for t in texts if t) or "the MCP tool failed")
    if result.structured_content is not None:
        return result.structured_content
    if all(t is not None for t in texts):
        return "".join(texts)  # type: ignore[arg-type]
    return [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.content]


class MCPManager:
    """Connections to MCP servers, whose tools become callbacks.

    Example::

        with eryx.MCPManager() as mcp:
            mcp.connect("files", "npx", ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"])
            sandbox = eryx.Sandbox(mcp=mcp)
            sandbox.execute('print(await mcp["files"].list_directory(path="/tmp"))')

    Thread-safe; the connections live until ``close()``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, _Server] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- loop
    def _run(self, coro: Any, timeout: float | None) -> Any:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="eryx-mcp", daemon=True
                )
                self._thread.start()
                self._loop = loop
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    async def _hold(self, srv: _Server, params: Any, ready: asyncio.Future[int]) -> None:
        """Keep `srv` connected until its stop event (one task: the SDK's
        contexts are entered and left in the same task)."""
        from mcp import Client

        try:
            async with Client(params) as client:
                tools: list[Any] = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        break
                srv.client, srv.tools = client, tools
                ready.set_result(len(tools))
                assert srv.stop is not None
                await srv.stop.wait()
        except BaseException as e:
            if not ready.done():
                ready.set_exception(e if isinstance(e, Exception) else RuntimeError(repr(e)))
            if not isinstance(e, Exception):
                raise

    async def _open(self, srv: _Server, params: Any, timeout: float) -> int:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        srv.stop = asyncio.Event()
        srv.task = asyncio.ensure_future(self._hold(srv, params, ready))
        try:
            return await asyncio.wait_for(asyncio.shield(ready), timeout)
        except BaseException:
            srv.stop.set()
            srv.task.cancel()
            raise

    # ------------------------------------------------------------ public
    @property
    def server_names(self) -> list[str]:
        """The connected servers, in the order they were connected."""
        with self._lock:
            return list(self._servers)

    def connect(
        self,
        name: str,
        command: str,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        timeout_secs: float = 30.0,
    ) -> int:
        """Start `command` with `args` (and `env` added to a minimal
        environment: HOME, PATH, ...) as MCP server `name`, over stdio;
        returns the number of its tools.  InitializationError when it cannot
        be started or does not answer within `timeout_secs`."""
        mcp = _require_sdk()
        if not isinstance(name, str) or not name:
            raise ValueError("an MCP server needs a name")
        with self._lock:
            if name in self._servers:
                raise ValueError(f"MCP server {name!r} is already connected")
        params = mcp.StdioServerParameters(
            command=command, args=list(args), env=dict(env) if env else None
        )
        srv = _Server(name)
        try:
            count = int(self._run(self._open(srv, params, timeout_secs), timeout_secs + 5))
        except Exception as e:  # noqa: BLE001 - any failure to connect
            while getattr(e, "exceptions", None):  # the SDK's task groups
                e = e.exceptions[0]  # type: ignore[attr-defined]
            why = f"no answer within {timeout_secs:g}s" if isinstance(e, TimeoutError) else e
            raise InitializationError(
                f"MCP server {name!r} ({command}): {why or type(e).__name__}"
            ) from None
        with self._lock:
            self._servers[name] = srv
        return count

    def list_tools(self) -> list[dict[str, Any]]:
        """``[{"name": 'mcp["server"].tool', "description", "schema"}]``."""
        with self._lock:
            servers = list(self._servers.values())
        return [
            {
                "name": f'mcp["{s.name}"].{t.name}',
                "description": t.description or "",
                "schema": dict(t.input_schema or {}),
            }
            for s in servers
            for t in s.tools
        ]

    def call_tool(
        self, server: str, tool: str, arguments: dict[str, Any], timeout: float | None = None
    ) -> Any:
        """Call `tool` of `server` from the host; returns what the sandbox
        would get."""
        with self._lock:
            srv = self._servers.get(server)
        if srv is None or srv.client is None:
            raise ValueError(f"no MCP server {server!r}")
        return _answer(self._run(srv.client.call_tool(tool, arguments), timeout))

    def callbacks(self) -> list[dict[str, Any]]:
        """The tools as callback dicts (what ``Sandbox(mcp=...)`` adds)."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        with self._lock:
            servers = list(self._servers.values())
        for s in servers:
            for t in s.tools:
                name = f"mcp.{identifier(s.name)}.{identifier(t.name)}"
                if name in seen:
                    print(f"MCP: tool {s.name}/{t.name} hides behind {name}", file=sys.stderr)
                    continue
                seen.add(name)
                schema = t.input_schema if isinstance(t.input_schema, dict) else None
                out.append(
                    {
                        "name": name,
                        "fn": self._tool_fn(s.name, t.name),
                        "description": t.description or f"MCP tool {t.name} of {s.name}",
                        **({"schema": dict(schema)} if schema else {}),
                    }
                )
        return out

    def _tool_fn(self, server: str, tool: str) -> Callable[..., Any]:
        def call(**arguments: Any) -> Any:
            return self.call_tool(server, tool, arguments)

        call.__name__ = identifier(tool)
        return call

    def close(self) -> None:
        """Stop every server and the background thread."""
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
            loop, self._loop = self._loop, None
            thread, self._thread = self._thread, None
        if loop is None:
            return

        async def stop() -> None:
            for s in servers:
                if s.stop is not None:
                    s.stop.set()
            tasks = [s.task for s in servers if s.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=10)

        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(5)

    def __enter__(self) -> MCPManager:  # noqa: PYI034 - Python 3.10 has no Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        with self._lock:
            names = ", ".join(self._servers)
            count = sum(len(s.tools) for s in self._servers.values())
        return f"MCPManager(servers=[{names}], tools={count})"


# ------------------------------------------------------------- discovery


@dataclass(frozen=True)
class _Source:
    path: Path
    key: str
    toml: bool = False


def _default_sources() -> list[_Source]:
    home, cwd = Path.home(), Path.cwd()
    return [
        _Source(home / ".config" / "Claude" / "claude_desktop_config.json", "mcpServers"),
        _Source(
            home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json",
            "mcpServers",
        ),
        _Source(home / ".claude.json", "mcpServers"),
        _Source(home / ".cursor" / "mcp.json", "mcpServers"),
        _Source(home / ".codeium" / "windsurf" / "mcp_config.json", "mcpServers"),
        _Source(home / ".config" / "Code" / "User" / "mcp.json", "servers"),
        _Source(home / ".config" / "zed" / "settings.json", "context_servers"),
        _Source(home / ".gemini" / "settings.json", "mcpServers"),
        _Source(home / ".codex" / "config.toml", "mcp_servers", True),
        _Source(cwd / ".mcp.json", "mcpServers"),
        _Source(cwd / ".cursor" / "mcp.json", "mcpServers"),
        _Source(cwd / ".vscode" / "mcp.json", "servers"),
        _Source(cwd / ".zed" / "settings.json", "context_servers"),
        _Source(cwd / ".gemini" / "settings.json", "mcpServers"),
        _Source(cwd / ".codex" / "config.toml", "mcp_servers", True),
    ]


_VAR = re.compile(
    r"\$(?:\{env:(?P<env>\w+)\}|\{(?P<brace>\w+)(?::-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


def expand_env(value: str) -> str:
    """``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${env:VAR}`` from the
    environment (unset: empty, or the default)."""

    def sub(m: re.Match[str]) -> str:
        name = m.group("env") or m.group("brace") or m.group("bare")
        got = os.environ.get(name, "")
        if m.group("default") is not None and not got:
            return m.group("default")
        return got

    return _VAR.sub(sub, value)


def _read(source: _Source) -> dict[str, Any] | None:
    try:
        text = source.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        if source.toml:
            import tomllib

            return tomllib.loads(text)
        data = json.loads(text)
    except (ImportError, ValueError):  # tomllib: Python 3.11+
        print(f"MCP: cannot read {source.path}", file=sys.stderr)
        return None
    return data if isinstance(data, dict) else None


def _stdio_servers(data: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    entries = data.get(key)
    if not isinstance(entries, dict):
        return found
    for name, cfg in entries.items():
        if not isinstance(cfg, dict) or cfg.get("disabled") is True or cfg.get("enabled") is False:
            continue
        if cfg.get("type", cfg.get("transport", "stdio")) != "stdio":
            continue
        command, args, env = cfg.get("command"), cfg.get("args", []), cfg.get("env", {})
        if isinstance(command, dict):  # Zed: {"command": {"path", "args", "env"}}
            command, args, env = (
                command.get("path"),
                command.get("args", []),
                command.get("env", {}),
            )
        if not isinstance(command, str) or not command:
            continue  # a remote server (url only), or an extension's
        if not isinstance(args, list) or not isinstance(env, dict):
            continue
        found[name] = {
            "command": expand_env(command),
            "args": [expand_env(str(a)) for a in args],
            "env": {str(k): expand_env(str(v)) for k, v in env.items()},
        }
    return found


def discover_servers(
    config_paths: Sequence[str | os.PathLike[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The stdio servers configured: ``{name: {"command", "args", "env"}}``.
    `config_paths`: files to read instead of the default places (JSON,
    with their servers under ``mcpServers``, ``servers`` or
    ``context_servers``; ``.toml``: Codex's ``mcp_servers``)."""
    if config_paths is None:
        sources = _default_sources()
    else:
        sources = []
        for p in config_paths:
            path = Path(p)
            toml = path.suffix == ".toml"
            for key in ("mcp_servers",) if toml else ("mcpServers", "servers", "context_servers"):
                sources.append(_Source(path, key, toml))
    servers: dict[str, dict[str, Any]] = {}
    for source in sources:
        data = _read(source)
        if data is not None:
            servers.update(_stdio_servers(data, source.key))
    return servers


def connect_servers(
    config_paths: Sequence[str | os.PathLike[str]] | None = None,
    connect_timeout: float = 30.0,
) -> MCPManager | None:
    """Discover the configured servers and connect to each; those that
    fail are reported on stderr and left out.  None when none connected."""
    servers = discover_servers(config_paths)
    if not servers:
        return None
    manager = MCPManager()
    for name, cfg in servers.items():
        try:
            count = manager.connect(name, cfg["command"], cfg["args"], cfg["env"], connect_timeout)
            print(f"MCP: connected to '{name}' ({count} tools)", file=sys.stderr)
        except InitializationError as e:
            print(f"MCP: failed to connect to '{name}': {e}", file=sys.stderr)
    if not manager.server_names:
        manager.close()
        return None
    return manager
