# The Python half of the guest runtime, compiled into runtime.wasm and run
# once as module `_eryx_runtime` by guest/init.c at initialize.  C does
# the ABI, compiling and evaluating; this file does what is easier said in
# Python: output streams, the event loop over host callbacks, callback
# proxies, tracing, traceback text, result JSON and state snapshots.
# `_eryx_host` is the C module of the host's imports (guest/host_module.c).
import _socket  # guest/net_socket.py, installed by init.c
import asyncio
import builtins
import errno
import importlib
import io
import json
import linecache
import marshal
import os
import pickle
import selectors
import sys
import time
import types

import _eryx_host

USER_FILENAME = "<user>"


# ---------------------------------------------------------------- output

class _HostWritable:
    """What the guest's output streams answer about themselves: writable,
    not a terminal, no descriptor to hand out, nothing to flush."""

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno")

    def flush(self):
        pass


class _BinaryOut(_HostWritable):
    """sys.stdout.buffer: bytes written here reach the host unchanged, in
    order with the text stream's writes."""

    def __init__(self, number):
        self._number = number

    def write(self, data):
        with memoryview(data) as view:  # TypeError unless bytes-like
            n = view.nbytes
            if n:
                _eryx_host.output(self._number, view)
        return n


class _Stream(_HostWritable, io.TextIOBase):
    """sys.stdout / sys.stderr: each write goes to the host at once, which
    keeps it, caps it and streams it to its output handler.  Output is
    bytes: text is encoded as UTF-8, and lone surrogates go back to the
    bytes they escape (so text decoded with surrogateescape round-trips)."""

    encoding = "utf-8"
    errors = "surrogateescape"
    newlines = None

    def __init__(self, name, number):
        self._name = name
        self._number = number
        self.buffer = _BinaryOut(number)

    @property
    def name(self):
        return self._name

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(
                f"write() argument must be str, not {type(s).__name__}")
        if s:
            _eryx_host.output(self._number, s)
        return len(s)


_stdout = _Stream("<stdout>", 1)
_stderr = _Stream("<stderr>", 2)


def _install_streams():
    """Point sys's streams at ours, writing only what differs: the first
    call happens at initialization (so in the pre-initialized snapshot),
    and the interpreter's own stdio objects die there, not in every new
    instance."""
    for name, stream in (("stdout", _stdout), ("__stdout__", _stdout),
                         ("stderr", _stderr), ("__stderr__", _stderr)):
        if getattr(sys, name, None) is not stream:
            setattr(sys, name, stream)


_install_streams()


# ------------------------------------------------------ C library gaps

def _patch_locale_and_time():
    """What WASI's C library lacks and ordinary code calls.

    locale.setlocale: WASI knows only the C and C.UTF-8 locales, and
    refused every other name; programs that set a locale at start-up
    (setlocale(LC_ALL, '') or 'en_US.UTF-8') then failed.  A name the C
    library refuses is accepted and behaves as C.UTF-8 (UTF-8 text, the C
    locale's formatting), which is what a sandbox without locale data
    offers.

    time.tzset: WASI's C library had no time zones; guest/tz.c gives it
    TZ (POSIX rules and zone names from the tzdata package; UTC when TZ
    is unset).  tzset recomputes time.timezone, altzone, daylight and
    tzname from the C library's local time, as CPython's init_timezone
    does on platforms without a tzname variable."""
    import locale
    real_setlocale = locale.setlocale

    def setlocale(category, locale_name=None):
        try:
            return real_setlocale(category, locale_name)
        except locale.Error:
            if locale_name is None:
                raise
            real_setlocale(category, "C.UTF-8")
            return locale_name if isinstance(locale_name, str) else "C.UTF-8"

    setlocale.__doc__ = real_setlocale.__doc__
    locale.setlocale = setlocale
    if not hasattr(time, "tzset"):
        def tzset():
            """Initialize, or reinitialize, the local timezone to the value
            of the environment variable TZ."""
            year = (365 * 24 + 6) * 3600
            t = (int(time.time()) // year) * year
            jan = time.localtime(t)
            jul = time.localtime(t + year // 2)
            janzone, julzone = -jan.tm_gmtoff, -jul.tm_gmtoff
            if janzone < julzone:  # DST is reversed in the southern hemisphere
                time.timezone, time.altzone = julzone, janzone
                time.tzname = (jul.tm_zone, jan.tm_zone)
            else:
                time.timezone, time.altzone = janzone, julzone
                time.tzname = (jan.tm_zone, jul.tm_zone)
            time.daylight = int(janzone != julzone)

        time.tzset = tzset


_patch_locale_and_time()


# ------------------------------------------------------------ event loop

class CallbackError(RuntimeError):
    """A host callback failed; the message is the host's."""


class CallbackTimeoutError(CallbackError, TimeoutError):
    """A host callback gave no answer within the callback timeout."""


_CALL_ERROR, _CALL_OK, _CALL_TIMEOUT = 0, 1, 2  # abi/eryx_abi.h
_pending = {}  # call handle -> future


def _deliver(finished):
    for handle, status, payload in finished:
        fut = _pending.pop(handle, None)
        if fut is None or fut.done():
            continue  # cancelled while the host was still working
        if status == _CALL_OK:
            fut.set_result(payload)
        elif status == _CALL_TIMEOUT:
            fut.set_exception(CallbackTimeoutError(payload))
        else:
            fut.set_exception(CallbackError(payload))


class _HostSelector(selectors.BaseSelector):
    """The event loop's selector.  It waits for host callback calls and for
    the sandbox's sockets (the host's connections, _socket's), with the
    timeout of the next timer: the host blocks in invoke-wait, or in
    net-poll when sockets are registered (which also returns when a call
    finishes)."""

    def __init__(self):
        self._keys = {}  # fd -> SelectorKey

    def register(self, fileobj, events, data=None):
        fd = selectors._fileobj_to_fd(fileobj)
        if _socket._handle_for_fd(fd) is None:
            raise OSError(errno.EBADF,
                          "only the sandbox's sockets can be watched")
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj):
        return self._keys.pop(selectors._fileobj_to_fd(fileobj))

    def get_key(self, fileobj):
        return self._keys[selectors._fileobj_to_fd(fileobj)]

    def select(self, timeout=None):
        if not self._keys:
            _deliver(_eryx_host.wait(timeout))
            return []
        items, keys = [], {}
        for fd, key in self._keys.items():
            handle = _socket._handle_for_fd(fd)
            if handle is None:  # closed under the loop: let its callback see
                items = None
                break
            items.append((handle, key.events))
            keys[handle] = key
        if items is None:
            return [(key, key.events) for key in self._keys.values()
                    if _socket._handle_for_fd(key.fd) is None]
        ready = _eryx_host.net_poll(items, timeout, True)
        _deliver(_eryx_host.wait(0))
        out = []
        for handle, revents in ready:
            key = keys.get(handle)
            if key is None:
                continue
            events = key.events if revents & 4 else revents & key.events
            if events:
                out.append((key, events))
        return out

    def get_map(self):
        return types.MappingProxyType(self._keys)

    def close(self):
        self._keys.clear()


def _patch_selector_loops():
    """Make the standard selector loops (asyncio.EventLoop,
    SelectorEventLoop, new_event_loop) work in the guest: by default they
    wait on host calls (_HostSelector), and they make no self-pipe (WASI has
    no socketpair; a single-threaded guest needs no cross-thread wake-up).
    A selector passed explicitly is used as given."""
    base = asyncio.selector_events.BaseSelectorEventLoop
    init = base.__init__

    def __init__(self, selector=None):
        init(self, _HostSelector() if selector is None else selector)

    def _make_self_pipe(self):
        self._ssock = self._csock = None

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        pass

    base.__init__ = __init__
    base._make_self_pipe = _make_self_pipe
    base._close_self_pipe = _close_self_pipe
    base._write_to_self = _write_to_self


_patch_selector_loops()


def _patch_asyncio_network():
    """asyncio over the host's sockets: names resolve where the host
    connects (getaddrinfo answers at once, without the thread pool WASI
    lacks), and TLS (ssl=) is the host's, done on the socket before a plain
    transport is made over it."""
    import socket
    base = asyncio.base_events.BaseEventLoop

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0,
                          flags=0):
        return socket.getaddrinfo(host, port, family, type, proto, flags)

    async def getnameinfo(self, sockaddr, flags=0):
        return socket.getnameinfo(sockaddr, flags)

    plain = base._create_connection_transport

    async def _create_connection_transport(self, sock, protocol_factory, ssl,
                                           server_hostname, server_side=False,
                                           ssl_handshake_timeout=None,
                                           ssl_shutdown_timeout=None):
        handle = _socket._handle_for_fd(sock.fileno())
        if not ssl or server_side or handle is None:
            return await plain(self, sock, protocol_factory, ssl,
                               server_hostname, server_side,
                               ssl_handshake_timeout, ssl_shutdown_timeout)
        import ssl as ssl_module
        context = (ssl_module.create_default_context()
                   if isinstance(ssl, bool) else ssl)
        alpn = getattr(context, "_alpn_protocols", None)
        _eryx_host.net_tls(handle, server_hostname, alpn)
        fd = sock.fileno()
        while _eryx_host.net_state(handle) == 0:  # raises if it failed
            waiter = self.create_future()
            self._add_writer(fd, waiter.set_result, None)
            try:
                await asyncio.wait_for(waiter, ssl_handshake_timeout or 60.0)
            finally:
                self._remove_writer(fd)
        transport, protocol = await plain(self, sock, protocol_factory, None,
                                          None, server_side)
        transport._extra["sslcontext"] = context
        return transport, protocol

    base.getaddrinfo = getaddrinfo
    base.getnameinfo = getnameinfo
    base._create_connection_transport = _create_connection_transport


_patch_asyncio_network()


class WasiEventLoop(asyncio.SelectorEventLoop):
    """The guest's loop: the standard selector loop, which waits on host
    calls (kept as a name of its own for code that used it)."""


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return WasiEventLoop()


asyncio.set_event_loop_policy(_Policy())
# Made now, in the pre-initialized snapshot: a fresh interpreter's first
# top-level await then finds its loop (a first `await asyncio.sleep(0)` in a
# fresh interpreter took 2.6-2.8 ms, 1.4 ms now: making the loop was
# first-touch page faults.  Running it once here too saved under 0.1 ms.)
_loop = WasiEventLoop()


def run_coroutine(coro):
    """Drive a top-level-await coroutine to completion on the guest loop."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = WasiEventLoop()
    asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(coro)


# -------------------------------------------------------------- callbacks

_QUICK = 20e-6


_scan_json = json.decoder.JSONDecoder().scan_once


def _loads(text):
    """json.loads for a callback's answer: the C scanner alone when the
    text is one JSON value and nothing else (what a handler returns), else
    json.loads itself, for its whitespace rules and its errors."""
    try:
        value, end = _scan_json(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    return json.loads(text)


async def invoke(name, /, **arguments):
    """Call the host callback `name` with keyword arguments."""
    payload = json.dumps(arguments) if arguments else "{}"
    tracing = _tracing
    if tracing:
        line = _user_line()
        _emit("callback_start", line, name=name, arguments=arguments)
        t0 = time.perf_counter()
    handle = _eryx_host.start(name, payload)
    # A handler that answers at once (within _QUICK seconds) is answered
    # here, without a future or an event-loop turn.  Not when tracing: a
    # coroutine that suspends reports its await's line again when it
    # resumes, and traces stay the same whatever the timing.  Not when
    # other calls are under way (a gather): their answers come together in
    # the loop's next wait instead of each start waiting.
    quick = not tracing and not _pending
    finished = _eryx_host.wait(_QUICK) if quick else ()
    if len(finished) == 1 and finished[0][0] == handle:
        status, text = finished[0][1], finished[0][2]
        if status == _CALL_OK:
            return _loads(text)
        raise (CallbackTimeoutError if status == _CALL_TIMEOUT
               else CallbackError)(text)
    fut = asyncio.get_running_loop().create_future()
    _pending[handle] = fut
    if finished:
        _deliver(finished)
    try:
        text = await fut
    except BaseException as e:
        _pending.pop(handle, None)
        if tracing:
            _emit("callback_end", line, name=name,
                  duration_ms=(time.perf_counter() - t0) * 1e3, error=str(e))
        raise
    if tracing:
        _emit("callback_end", line, name=name,
              duration_ms=(time.perf_counter() - t0) * 1e3, error=None)
    return _loads(text)


def list_callbacks():
    """The host's callbacks: [{'name', 'description', 'parameters_schema'}]."""
    return json.loads(_eryx_host.callbacks())


def _callback_proxy(name, params):
    async def proxy(*args, **kwargs):
        if len(args) > len(params):
            raise TypeError(f"{name}() takes {len(params)} positional "
                            f"argument{'s' if len(params) != 1 else ''} but "
                            f"{len(args)} were given")
        for param, value in zip(params, args):
            if param in kwargs:
                raise TypeError(
                    f"{name}() got multiple values for argument '{param}'")
            kwargs[param] = value
        return await invoke(name, **kwargs)

    proxy.__name__ = proxy.__qualname__ = name.rpartition(".")[2]
    proxy.__doc__ = None
    return proxy


class _CallbackNamespace:
    """`http` for callbacks named http.get, http.post, ...; also indexable
    by names that are not identifiers, as `mcp["my-server"]["get-data"]`
    (the host registers them as mcp.my_server.get_data: see _identifier)."""

    def __init__(self, path):
        self._path = path

    def __getitem__(self, key):
        value = getattr(self, _identifier(key), None) if isinstance(
            key, str) else None
        if value is None:
            raise KeyError(key)
        return value

    def __repr__(self):
        return f"<callbacks {self._path}>"


def _identifier(name):
    """The identifier a host-side name is registered under: characters
    other than ASCII letters, digits and '_' become '_', a leading digit
    gets a '_' before it, a keyword one after it (eryx.mcp does the same)."""
    out = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_"
                  for c in name)
    if not out or out[0].isdigit():
        out = "_" + out
    return out + "_" if __import__("keyword").iskeyword(out) else out


_RESERVED = frozenset(dir(builtins)) | {"invoke", "list_callbacks",
                                        "asyncio", "json"}
_globals = None  # name -> object the runtime offers in the user namespace
_globals_key = None  # the host's callback list _globals was made from


def _runtime_globals():
    """invoke, list_callbacks and one proxy per callback (dotted names as
    namespaces); names of builtins and of the runtime's own are never
    shadowed, but stay reachable through invoke().  Made again when the
    host's list changes: an interpreter started from an image (a factory's)
    may serve a config with other callbacks than the one it was made in."""
    global _globals, _globals_key
    key = _eryx_host.callbacks()
    if _globals is not None and key == _globals_key:
        return _globals
    offered = {"invoke": invoke, "list_callbacks": list_callbacks}
    for cb in json.loads(key):
        name = cb["name"]
        parts = name.split(".")
        if parts[0] in _RESERVED or not all(p.isidentifier() for p in parts):
            continue
        schema = cb.get("parameters_schema") or {}
        props = schema.get("properties") if isinstance(schema, dict) else None
        params = list(props) if isinstance(props, dict) else []
        proxy = _callback_proxy(name, params)
        if len(parts) == 1:
            offered[name] = proxy
            continue
        ns = offered.get(parts[0])
        if not isinstance(ns, _CallbackNamespace):
            ns = offered[parts[0]] = _CallbackNamespace(parts[0])
        for i, part in enumerate(parts[1:-1], 1):
            inner = getattr(ns, part, None)
            if not isinstance(inner, _CallbackNamespace):
                inner = _CallbackNamespace(".".join(parts[:i + 1]))
                setattr(ns, part, inner)
            ns = inner
        setattr(ns, parts[-1], proxy)
    _globals, _globals_key = offered, key
    return offered


# ---------------------------------------------------------------- tracing

_TOOL = 4  # a sys.monitoring tool id of our own
_tracing = False
_mon = sys.monitoring
_DISABLE = _mon.DISABLE


def _emit(event, lineno, **fields):
    record = {"event": event, "lineno": lineno}
    record.update(fields)
    _eryx_host.trace(lineno, json.dumps(record, default=repr))


def _user_line():
    """The line of the innermost frame of the user's code."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename != USER_FILENAME:
        f = f.f_back
    return f.f_lineno if f is not None else 0


def _on_line(code, line):
    if code.co_filename != USER_FILENAME:
        return _DISABLE
    _emit("line", line)


def _on_start(code, offset):
    if code.co_filename != USER_FILENAME:
        return _DISABLE
    if code.co_name != "<module>":
        _emit("call", code.co_firstlineno, name=code.co_qualname)


def _on_return(code, offset, value):
    if code.co_filename != USER_FILENAME:
        return _DISABLE
    if code.co_name != "<module>":
        _emit("return", sys._getframe(1).f_lineno, name=code.co_qualname)


def _on_raise(code, offset, exc):
    if code.co_filename == USER_FILENAME:
        _emit("exception", sys._getframe(1).f_lineno,
              type=type(exc).__name__, message=str(exc))


def _start_tracing():
    global _tracing
    ev = _mon.events
    if _mon.get_tool(_TOOL) is None:
        _mon.use_tool_id(_TOOL, "eryx")
    _mon.register_callback(_TOOL, ev.LINE, _on_line)
    _mon.register_callback(_TOOL, ev.PY_START, _on_start)
    _mon.register_callback(_TOOL, ev.PY_RETURN, _on_return)
    _mon.register_callback(_TOOL, ev.RAISE, _on_raise)
    _mon.restart_events()
    _mon.set_events(_TOOL, ev.LINE | ev.PY_START | ev.PY_RETURN | ev.RAISE)
    _tracing = True


def _stop_tracing():
    global _tracing
    if _tracing:
        _mon.set_events(_TOOL, 0)
        _tracing = False


# -------------------------------------------------------------- execution

# A factory's packages are mounted here; the path is on sys.path from the
# start (absent, it costs a failed stat when an import reaches it; present,
# its finder sees the directory's mtime change and lists it).
if "/site-packages" not in sys.path:
    sys.path.append("/site-packages")


def _apply_environment():
    """The variables the host adds (secrets' placeholders), each execute:
    a session made from an image gets its own."""
    text = _eryx_host.environment()
    if text:
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name and os.environ.get(name) != value:
                os.environ[name] = value


def begin(code, namespace, trace):
    """Prepare one execution of `code` in `namespace`."""
    _install_streams()  # user code may have replaced them
    _apply_environment()
    old = _globals
    offered = _runtime_globals()
    if old is not None and offered is not old:  # other callbacks now
        for name, value in old.items():
            if namespace.get(name) is value:
                del namespace[name]
    for name, value in offered.items():
        namespace.setdefault(name, value)
    # Tracebacks show the user's source lines.
    linecache.cache[USER_FILENAME] = (
        len(code), None, code.splitlines(True), USER_FILENAME)
    if trace:
        _start_tracing()


def format_exception(exc):
    """Traceback text starting at the first frame of the user's code."""
    _stop_tracing()
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != USER_FILENAME:
        tb = tb.tb_next
    return "".join(__import__("traceback").format_exception(
        type(exc), exc, tb))


def compile_interactive(source):
    """Compile `source` as Python's REPL does (mode "single": expression
    statements echo through sys.displayhook; top-level await allowed):
    a code object, None while it is an unfinished statement, or a raised
    SyntaxError."""
    compiler = __import__("codeop").CommandCompiler()
    compiler.compiler.flags |= _PyCF_ALLOW_TOP_LEVEL_AWAIT
    return compiler(source, USER_FILENAME, "single")


_PyCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000  # ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def finish(namespace, result_variable):
    """End one execution: (result_json, result_error).  The result variable
    is consumed."""
    _stop_tracing()
    result_json = result_error = None
    if result_variable and result_variable in namespace:
        value = namespace.pop(result_variable)
        try:
            result_json = json.dumps(value, allow_nan=False)
        except Exception as e:  # noqa: BLE001 - any failure is reported
            # The reference's wording, which programs may match on.
            result_error = (f"result is not JSON-serializable: "
                            f"{type(value).__name__} ({type(e).__name__})")
    return result_json, result_error


# ------------------------------------------------------------ session state

def _new_function(code_bytes, name, ncells):
    cells = tuple(types.CellType() for _ in range(ncells)) or None
    return types.FunctionType(marshal.loads(code_bytes), _state_globals,
                              name, None, cells)


def _set_function_state(fn, state):
    for cell, value in zip(fn.__closure__ or (), state.pop("cells")):
        cell.cell_contents = value
    for attr, value in state.items():
        setattr(fn, attr, value)


def _new_class(meta, name, bases):
    return meta(name, bases, {"__module__": "__main__"})


def _set_class_state(cls, state):
    for attr, value in state.items():
        setattr(cls, attr, value)


_state_globals = None  # the namespace functions are restored into


class _StatePickler(pickle.Pickler):
    """pickle, plus what a namespace holds that pickle alone cannot carry:
    the user's functions and classes by value, modules by name."""

    def reducer_override(self, obj):
        if isinstance(obj, types.ModuleType):
            return importlib.import_module, (obj.__name__,)
        if (isinstance(obj, types.FunctionType)
                and obj.__code__.co_filename == USER_FILENAME):
            cells = [c.cell_contents for c in obj.__closure__ or ()]
            state = {"__defaults__": obj.__defaults__,
                     "__kwdefaults__": obj.__kwdefaults__,
                     "__qualname__": obj.__qualname__,
                     "__doc__": obj.__doc__,
                     "__dict__": obj.__dict__,
                     "cells": cells}
            return (_new_function,
                    (marshal.dumps(obj.__code__), obj.__name__, len(cells)),
                    state, None, None, _set_function_state)
        if isinstance(obj, type) and obj.__module__ == "__main__":
            state = {k: v for k, v in vars(obj).items()
                     if k not in ("__dict__", "__weakref__", "__module__")}
            return (_new_class, (type(obj), obj.__name__, obj.__bases__),
                    state, None, None, _set_class_state)
        return NotImplemented


def _dumps(value):
    buf = io.BytesIO()
    _StatePickler(buf, protocol=5).dump(value)
    return buf.getvalue()


def snapshot_state(namespace):
    """(bytes, skipped names as JSON) for the user's part of `namespace`."""
    offered = _runtime_globals()
    keep, skipped = {}, []
    for name, value in namespace.items():
        if name.startswith("__") and name.endswith("__"):
            continue
        if name in offered and offered[name] is value:
            continue  # the runtime's own, offered again at the next execute
        try:
            _dumps(value)
        except Exception:  # noqa: BLE001 - what cannot be pickled is named
            skipped.append(name)
            continue
        keep[name] = value
    return _dumps(keep), json.dumps(skipped)


def restore_state(data, namespace):
    """Unpickle `data` and add its names to `namespace`; on any error the
    namespace is left as it was."""
    global _state_globals
    _state_globals = namespace
    try:
        values = pickle.loads(data)
    finally:
        _state_globals = None
    if not isinstance(values, dict):
        raise ValueError("the snapshot does not hold a namespace")
    namespace.update(values)


# What a first execute often does beyond the runtime's own work: fail (the
# traceback, with its suggestions and carets), and import a module the
# snapshot does not hold (importlib's finders and loaders).
_REHEARSED_ERRORS = (
    "n = 0\nprint(10 / n)\n",
    "total = 1\nprint(totl)\n",
    "import json\njson.dumsp({})\n",
    "[1, 2][5]\n",
)
_REHEARSED_IMPORTS = ("colorsys", "graphlib", "getopt", "shlex", "quopri")


def rehearse_execute(rounds=4):
    """Pre-initialization only (init.c calls it, with _eryx_host standing
    in for the host): run what a first execute runs a few times, so that a
    new interpreter starts with that code specialized (CPython specializes
    bytecode from its second run on) instead of specializing it in every
    first request.  Rehearsed: an execute with callbacks (begin, a
    top-level await of a coroutine that prints, sleeps, calls a callback
    answered at once and gathers two answered through the event loop,
    finish with a JSON result), executes that fail (_REHEARSED_ERRORS,
    formatted as the host receives them), and imports of modules not in
    the snapshot (_REHEARSED_IMPORTS, taken out of sys.modules again).
    The runtime's state is put back: callback proxies, linecache, pending
    calls, sys.modules."""
    global _globals, _globals_key
    code = "await rehearsal()\nresult = {'ok': [1, 2.5, 'x']}\n"

    async def main(ns):
        print("rehearsal")
        await asyncio.sleep(0)
        await ns["rehearsal"]()
        _eryx_host.rehearse(2)
        await asyncio.gather(ns["rehearsal"](), ns["rehearsal"](),
                             asyncio.sleep(0))
        _eryx_host.rehearse(1)
        ns["result"] = {"ok": [1, 2.5, "x"]}

    def fail(text):
        ns = {"__name__": "__main__", "__builtins__": builtins}
        begin(text, ns, False)
        try:
            exec(compile(text, USER_FILENAME, "exec"), ns)  # noqa: S102
        except Exception as e:  # noqa: BLE001 - each snippet fails
            if USER_FILENAME not in format_exception(e):
                raise RuntimeError("the rehearsal's traceback is wrong") from e
        else:
            raise RuntimeError("the rehearsal's error did not happen")
        finish(ns, "result")

    modules = set(sys.modules)
    try:
        for _ in range(rounds):
            ns = {"__name__": "__main__", "__builtins__": builtins}
            begin(code, ns, False)
            run_coroutine(main(ns))
            if finish(ns, "result")[0] is None:
                raise RuntimeError("the rehearsal's result is missing")
            for text in _REHEARSED_ERRORS:
                fail(text)
        for name in _REHEARSED_IMPORTS:
            importlib.import_module(name)
    finally:
        _globals = _globals_key = None
        _pending.clear()
        linecache.cache.pop(USER_FILENAME, None)
        for name in set(sys.modules) - modules:
            del sys.modules[name]


def clear_state(namespace):
    """Empty the user namespace; the runtime's names return at the next
    execute."""
    keep = {k: namespace[k] for k in ("__name__", "__builtins__")
            if k in namespace}
    namespace.clear()
    namespace.update(keep)
