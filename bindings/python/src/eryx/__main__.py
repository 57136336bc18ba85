"""python -m eryx (and the ``eryx`` console script): the C CLI's flags and
exit codes, from Python, and the MCP front doors (the official SDK's).

    eryx [options] [FILE | -c CODE | -]   (neither, on a terminal: a REPL)
    eryx serve [options]                  an MCP server (eryx/serve.py)
    eryx precompile [-o FILE] [--fuel]
    eryx info

Exit status: 0 on success, 1 if the code raised an exception (SystemExit
included) or the sandbox stopped it (a limit hit prints a one-line reason
naming the limit), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import _core, _eryx
from ._core import (
    CancelledError,
    EryxError,
    ExecutionError,
    MemoryLimitError,
    ResourceLimitError,
    ResourceLimits,
    Sandbox,
    Session,
    TimeoutError,
)
from ._factory import SandboxFactory
from ._net import NetConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"eryx: {message}\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="eryx",
        description="Run Python code in a WebAssembly sandbox.  Without FILE or -c, on a "
        "terminal: an interactive session; otherwise the code read from standard input.",
        epilog="The sandbox's stdout and stderr stream to eryx's own as the code "
        "writes them.  Exit status: 0 on success, 1 if the code raised an "
        "exception (SystemExit included) or the sandbox stopped it, 2 on a "
        "usage error.  'eryx info' prints the versions and where the "
        "engine's compiled guest comes from; 'eryx serve' is an MCP server.",
    )
    p.add_argument("file", nargs="?", help="run the code in FILE ('-': standard input)")
    p.add_argument("-c", dest="code", metavar="CODE", help="run CODE")
    p.add_argument(
        "--trace",
        action="store_true",
        help="print trace events of the code as JSON lines on stderr",
    )
    p.add_argument("--version", action="store_true", help="print the eryx and CPython versions")
    add_sandbox_args(p)
    return p


def add_sandbox_args(p: argparse.ArgumentParser) -> None:
    """The flags that shape a sandbox: the CLI's, and eryx serve's."""
    p.add_argument(
        "--timeout",
        type=int,
        default=30000,
        metavar="MS",
        help="stop the code after MS milliseconds (default 30000; 0: none)",
    )
    p.add_argument(
        "--max-memory",
        type=int,
        default=134217728,
        metavar="BYTES",
        help="largest guest memory (default 134217728)",
    )
    p.add_argument("--fuel", type=int, default=None, metavar="N", help="instruction budget")
    p.add_argument(
        "-v",
        "--volume",
        action="append",
        default=[],
        metavar="SRC:DST[:ro|:rw]",
        help="mount host file or directory SRC at DST (read-only unless :rw)",
    )
    p.add_argument("--vfs-limit", type=int, default=None, metavar="BYTES", help="quota of /data")
    p.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="PATH",
        help="install a .whl, .tar.gz/.tgz or directory at /site-packages",
    )
    p.add_argument("--site-packages", metavar="DIR", help="mount DIR at /site-packages")
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MOD",
        help="import MOD before the code",
    )
    p.add_argument("--net", action="store_true", help="the network: public hosts only")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only hosts matching PATTERN (implies --net)",
    )
    p.add_argument(
        "--allow-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="also allow addresses in CIDR (implies --net)",
    )
    p.add_argument(
        "--allow-localhost", action="store_true", help="also allow localhost (implies --net)"
    )
    p.add_argument(
        "--root-cert", action="append", default=[], metavar="FILE", help="trust this CA too"
    )
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=VALUE[@HOST,...]",
        help="$NAME holds a placeholder; VALUE goes only into headers to HOST",
    )
    p.add_argument(
        "--mcp",
        action="store_true",
        help="the tools of the MCP servers configured for Claude Desktop, Cursor, VS Code, "
        'Windsurf, Zed, Gemini or Codex, as callbacks: await mcp["server"].tool(...)',
    )
    p.add_argument(
        "--mcp-config",
        action="append",
        default=[],
        metavar="FILE",
        help="read MCP servers from FILE instead (repeatable; implies --mcp)",
    )


def make_net_config(ns: Any) -> NetConfig | None:
    """The CLI's policy, as the C CLI's: the default, without the IP-literal
    host patterns (every resolved address is checked against the networks),
    plus what --allow-* allow."""
    if not (ns.net or ns.allow_host or ns.allow_network or ns.allow_localhost):
        return None
    blocked = [] if ns.allow_localhost else ["localhost", "*.localhost"]
    net = NetConfig(allowed_hosts=ns.allow_host, blocked_hosts=blocked)
    if ns.allow_localhost:
        net.allow_localhost()
    for cidr in ns.allow_network:
        net.allow_network(cidr)
    for path in ns.root_cert:
        with open(path, "rb") as f:
            net.with_root_cert(f.read())
    return net


def parse_secrets(specs: Sequence[str]) -> dict[str, Any] | None:
    """--secret NAME=VALUE[@HOST,...] as Sandbox(secrets=...)."""
    out: dict[str, Any] = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"secret {spec!r} is not NAME=VALUE[@HOST,...]")
        value, _at, hosts = rest.rpartition("@") if "@" in rest else (rest, "", "")
        out[name] = {"value": value, "allowed_hosts": [h for h in hosts.split(",") if h]}
    return out or None


def parse_volume(spec: str) -> tuple[str, str, bool]:
    """SRC:DST[:ro|:rw] as a (host, guest, read_only) volume."""
    src, sep, rest = spec.partition(":")
    if not sep or not src:
        raise ValueError(f"volume {spec!r} is not SRC:DST[:ro|:rw]")
    read_only = True
    if rest.endswith((":ro", ":rw")):
        read_only = rest.endswith(":ro")
        rest = rest[:-3]
    if not rest.startswith("/"):
        raise ValueError(f"volume {spec!r}: DST must be an absolute path")
    return (src, rest, read_only)


def check_sandbox_args(p: argparse.ArgumentParser, ns: Any) -> None:
    if ns.timeout < 0 or ns.max_memory < 0 or (ns.fuel is not None and ns.fuel < 0):
        p.error("limits must not be negative")


def _limits(ns: Any) -> ResourceLimits:
    return ResourceLimits(
        execution_timeout_ms=ns.timeout or None,
        max_memory_bytes=ns.max_memory,
        max_fuel=ns.fuel or None,
        max_vfs_bytes=ns.vfs_limit or None,
    )


def connect_mcp(ns: Any) -> Any:
    """--mcp / --mcp-config: a connected MCPManager, or None (none found,
    or none connected: said on stderr)."""
    from .mcp import connect_servers

    try:
        manager = connect_servers(ns.mcp_config or None)
    except EryxError as e:
        sys.stderr.write(f"eryx: {e}\n")
        return None
    if manager is None:
        sys.stderr.write("eryx: --mcp: no MCP server connected\n")
    return manager


def _serve(args: list[str]) -> int:
    from . import serve

    p = _Parser(
        prog="eryx serve",
        description="An MCP server whose tools run Python in a sandbox: run_python(code, "
        "timeout_ms) on a persistent session per client, and reset_session().",
    )
    add_sandbox_args(p)
    serve.add_serve_args(p)
    ns = p.parse_args(args)
    check_sandbox_args(p, ns)
    try:
        ns.settings = sandbox_settings(ns)
    except (ValueError, OSError) as e:
        p.error(str(e))
    ns.mcp_manager = connect_mcp(ns) if ns.mcp or ns.mcp_config else None
    return serve.serve(ns)


def _write(stream: Any) -> Any:
    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    return write


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["precompile"]:
        p = _Parser(prog="eryx precompile", description="Compile the guest to a file.")
        p.add_argument("-o", dest="out", metavar="FILE", help="where (default: beside it)")
        p.add_argument("--fuel", action="store_true", help="the variant for fuel budgets")
        ns = p.parse_args(args[1:])
        _core._configure()
        try:
            _eryx.precompile(ns.out, ns.fuel)
        except RuntimeError as e:
            sys.stderr.write(f"eryx: {e}\n")
            return 1
        return 0
    if args[:1] == ["info"]:
        if len(args) != 1:
            sys.stderr.write("eryx: info takes no arguments\n")
            return 2
        _core._configure()
        print(f"eryx {_eryx.LIB_VERSION} (Python package), CPython {_eryx.PYTHON_VERSION}")
        try:
            print(_eryx.engine_info())
        except RuntimeError as e:
            sys.stderr.write(f"eryx: {e}\n")
            return 1
        return 0
    if args[:1] == ["serve"]:
        return _serve(args[1:])
    p = _parser()
    ns = p.parse_args(args)
    if ns.version:
        print(f"eryx {_eryx.LIB_VERSION}, CPython {_eryx.PYTHON_VERSION}")
        return 0
    if ns.code is not None and ns.file is not None:
        p.error("give one of FILE, -c CODE or -")
    interactive = ns.code is None and ns.file is None and sys.stdin.isatty()
    if ns.code is None and ns.file is None and not interactive:
        ns.file = "-"
    if interactive and "--timeout" not in args:
        ns.timeout = 0  # Ctrl-C is there
    check_sandbox_args(p, ns)
    try:
        settings = sandbox_settings(ns)
    except (ValueError, OSError) as e:
        p.error(str(e))
    manager = connect_mcp(ns) if ns.mcp or ns.mcp_config else None
    try:
        return _run(ns, interactive, settings, manager)
    finally:
        if manager is not None:
            manager.close()


def sandbox_settings(ns: Any) -> dict[str, Any]:
    """The keyword arguments of a sandbox or session the flags ask for
    (ValueError or OSError for a bad one)."""
    return {
        "resource_limits": _limits(ns),
        "volumes": [parse_volume(v) for v in ns.volume],
        "network": make_net_config(ns),
        "secrets": parse_secrets(ns.secret),
    }


def make_factory(ns: Any) -> SandboxFactory | None:
    """A factory when the flags install packages or import modules first."""
    if not (ns.package or ns.imports or ns.site_packages):
        return None
    return SandboxFactory(packages=ns.package, site_packages=ns.site_packages, imports=ns.imports)


def _run(ns: Any, interactive: bool, settings: dict[str, Any], manager: Any) -> int:
    factory = make_factory(ns)
    sandbox_args: dict[str, Any] = {
        **settings,
        "callbacks": manager.callbacks() if manager is not None else None,
        "on_stdout": _write(sys.stdout.buffer),
        "on_stderr": _write(sys.stderr.buffer),
    }
    if interactive:
        from ._repl import repl

        if factory is not None:
            return repl(factory.create_session(**sandbox_args))
        return repl(Session(**sandbox_args))
    if ns.code is not None:
        code = ns.code
    elif ns.file == "-":
        code = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    else:
        try:
            with open(ns.file, "rb") as f:
                code = f.read().decode("utf-8", "surrogateescape")
        except OSError as e:
            sys.stderr.write(f"eryx: cannot open {ns.file}: {e.strerror}\n")
            return 1

    def trace(event: dict[str, Any]) -> None:
        sys.stderr.write(json.dumps(event) + "\n")

    try:
        if factory is not None:
            sandbox: Any = factory.create_sandbox(**sandbox_args)
        else:
            sandbox = Sandbox(**sandbox_args, on_trace=trace if ns.trace else None)
        sandbox.execute(code)
    except MemoryLimitError as e:
        sys.stderr.write(str(e))
        sys.stderr.write(
            f"eryx: memory limit: the code ran out of its {ns.max_memory} bytes of memory\n"
        )
        return 1
    except (TimeoutError, ResourceLimitError, CancelledError) as e:
        sys.stderr.write(f"eryx: {e}\n")
        return 1
    except ExecutionError as e:
        sys.stderr.write(str(e))
        return 1
    except EryxError as e:
        sys.stderr.write(f"eryx: {e}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("eryx: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
