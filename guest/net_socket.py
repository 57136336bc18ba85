"""Pure-Python replacement of CPython's ``_socket`` for the eryx guest.

The guest (CPython on WASI preview 1) has no usable sockets: every network
operation goes through the host via the ``_eryx_host`` built-in module. The
runtime executes this file as module ``_socket`` (``sys.modules["_socket"]``)
before anything imports ``socket``, so the unmodified stdlib ``socket.py``
builds its ``socket`` class on top of the ``socket`` class defined here.

What is supported: TCP client streams (AF_INET/AF_INET6, SOCK_STREAM) with the
usual blocking / timeout / non-blocking semantics. Names are not resolved in
the guest: ``getaddrinfo`` returns them unresolved and the host resolves them
when connecting (and checks every resolved address against its policy).
UDP sockets can be created but not used; listening sockets are not possible.

File descriptors: a guest socket's ``fileno()`` is ``NET_FD_BASE + handle``
once the host connection exists. A socket whose ``fileno()`` is asked for
before ``connect()`` (asyncio does this) gets a "virtual" descriptor from a
separate range (``_VFD_BASE`` and up) instead; the number stays the same for
the life of the socket and ``_handle_for_fd()`` maps it to the host handle
once the connection has been started.

This module must not import anything that imports ``socket`` (no ipaddress,
selectors, asyncio, ssl): ``socket.py`` imports it while being imported.
"""

import errno as _errno
import math as _math
import sys as _sys
import time as _time

import _eryx_host as _host

# -- constants (values as on Linux) --------------------------------------------

AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_NONBLOCK = 0x800
SOCK_CLOEXEC = 0x80000
_SOCK_FLAGS = SOCK_NONBLOCK | SOCK_CLOEXEC

IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ICMPV6 = 58
IPPROTO_RAW = 255

SOL_SOCKET = 1
SOL_IP = 0
SOL_TCP = 6
SOL_UDP = 17

SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_LINGER = 13
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO = 20
SO_SNDTIMEO = 21
SO_ACCEPTCONN = 30
SO_PROTOCOL = 38
SO_DOMAIN = 39

TCP_NODELAY = 1
TCP_MAXSEG = 2
TCP_KEEPIDLE = 4
TCP_KEEPINTVL = 5
TCP_KEEPCNT = 6
TCP_QUICKACK = 12
TCP_USER_TIMEOUT = 18
TCP_NOTSENT_LOWAT = 25

IPV6_V6ONLY = 26

MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_NOSIGNAL = 0x4000

SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2

SOMAXCONN = 4096

INADDR_ANY = 0
INADDR_BROADCAST = 0xFFFFFFFF
INADDR_LOOPBACK = 0x7F000001
INADDR_NONE = 0xFFFFFFFF
INADDR_UNSPEC_GROUP = 0xE0000000
INADDR_ALLHOSTS_GROUP = 0xE0000001
INADDR_MAX_LOCAL_GROUP = 0xE00000FF

AI_PASSIVE = 0x1
AI_CANONNAME = 0x2
AI_NUMERICHOST = 0x4
AI_V4MAPPED = 0x8
AI_ALL = 0x10
AI_ADDRCONFIG = 0x20
AI_NUMERICSERV = 0x400

NI_NUMERICHOST = 1
NI_NUMERICSERV = 2
NI_NOFQDN = 4
NI_NAMEREQD = 8
NI_DGRAM = 16
NI_MAXHOST = 1025
NI_MAXSERV = 32

EAI_BADFLAGS = -1
EAI_NONAME = -2
EAI_AGAIN = -3
EAI_FAIL = -4
EAI_NODATA = -5
EAI_FAMILY = -6
EAI_SOCKTYPE = -7
EAI_SERVICE = -8
EAI_ADDRFAMILY = -9
EAI_MEMORY = -10
EAI_SYSTEM = -11
EAI_OVERFLOW = -12

has_ipv6 = True

NET_FD_BASE = _host.NET_FD_BASE
# Virtual descriptors for sockets asked for fileno() before they connect.
_VFD_BASE = NET_FD_BASE + 0x20000000

# ENOTSUP is EOPNOTSUPP on Linux; WASI has both.
_ENOTSUP = getattr(_errno, "ENOTSUP", _errno.EOPNOTSUPP)

# net_poll event bits
_EV_READ = 1
_EV_WRITE = 2
_EV_ERROR = 4
_EV_IOTIMEOUT = 8

# -- exceptions -----------------------------------------------------------------

error = OSError
timeout = TimeoutError


class herror(OSError):
    pass


class gaierror(OSError):
    pass


herror.__module__ = "socket"
gaierror.__module__ = "socket"

# -- default timeout ----------------------------------------------------------------

_default_timeout = None


def _check_timeout(value):
    """Validate a timeout like CPython: None or a non-negative number."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError("Timeout value must be int, float or None") from None
    if _math.isnan(value):
        raise ValueError("Invalid value NaN (not a number)")
    if value < 0:
        raise ValueError("Timeout value out of range")
    return value


def getdefaulttimeout():
    """Return the default timeout in seconds (float) for new sockets, or None."""
    return _default_timeout


def setdefaulttimeout(timeout):
    """Set the default timeout in seconds (float) for new sockets; None = blocking."""
    global _default_timeout
    _default_timeout = _check_timeout(timeout)


# -- connection records ---------------------------------------------------------------
#
# A _Conn is what a file descriptor is for a real socket: it is shared when a
# socket object is re-created from a descriptor (socket(fileno=fd), which is
# what ssl does after detach()).


class _Conn:
    __slots__ = (
        "closed",
        "err_reported",
        "family",
        "fd",  # assigned lazily, see _assign_fd
        "handle",  # host handle, None before connect() and after close
        "host",  # the connect() address
        "opts",  # setsockopt values, {(level, name): value}
        "peek",  # bytes read by MSG_PEEK and not yet consumed
        "port",
        "proto",
        "so_error",  # errno of a failed connect reported once by SO_ERROR
        "tls_pending",  # set by ssl while a TLS handshake runs
        "type",
    )

    def __init__(self, family, type, proto):
        self.handle = None
        self.fd = None
        self.family = family
        self.type = type
        self.proto = proto
        self.host = None
        self.port = None
        self.opts = {}
        self.so_error = 0
        self.err_reported = False
        self.peek = bytearray()
        self.tls_pending = False
        self.closed = False


_conns_by_fd = {}
_next_vfd = _VFD_BASE


def _assign_fd(conn):
    """Give conn a stable descriptor: NET_FD_BASE + handle, or a virtual one."""
    global _next_vfd
    if conn.fd is None:
        fd = None
        if conn.handle is not None:
            fd = NET_FD_BASE + conn.handle
            if fd >= _VFD_BASE or fd in _conns_by_fd:
                fd = None
        if fd is None:
            fd = _next_vfd
            _next_vfd += 1
        conn.fd = fd
        _conns_by_fd[fd] = conn
    return conn.fd


def _close_conn(conn):
    if conn.closed:
        return
    conn.closed = True
    if conn.fd is not None:
        _conns_by_fd.pop(conn.fd, None)
    handle, conn.handle = conn.handle, None
    if handle is not None:
        _host.net_close(handle)


def _handle_for_fd(fd):
    """Return the host handle of the guest socket with descriptor fd, or None.

    None also for a socket that exists but has not started connecting yet.
    Used by the runtime's selector and by the select patch.
    """
    conn = _conns_by_fd.get(fd)
    if conn is None:
        return None
    return conn.handle


def _conn_for_fd(fd):
    return _conns_by_fd.get(fd)


def _is_net_fd(fd):
    return fd >= NET_FD_BASE


# -- waiting -----------------------------------------------------------------------------


def _deadline(timeout):
    return None if timeout is None else _time.monotonic() + timeout


def _wait(handle, events, deadline):
    """Block until handle is ready for events (or has an error) or the deadline.

    Raises TimeoutError when the deadline passes or the host's I/O timeout
    for the handle passed. Returns the revents.
    """
    while True:
        if deadline is None:
            remaining = None
        else:
            remaining = deadline - _time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
        for h, revents in _host.net_poll([(handle, events)], remaining):
            if h != handle:
                continue
            if revents & (events | _EV_ERROR):
                return revents
            if revents & _EV_IOTIMEOUT:
                raise TimeoutError("timed out (network I/O timeout)")


# -- addresses ----------------------------------------------------------------------------


def _parse_ipv4_strict(text):
    """Dotted quad, decimal, no leading zeros (inet_pton rules); None if not."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    out = []
    for p in parts:
        if not p or len(p) > 3 or not p.isascii() or not p.isdigit():
            return None
        if len(p) > 1 and p[0] == "0":
            return None
        v = int(p)
        if v > 255:
            return None
        out.append(v)
    return bytes(out)


def _parse_ipv6(text):
    """Parse an IPv6 literal (no brackets, no zone) to 16 bytes; None if invalid."""
    if not text or not text.isascii():
        return None
    # an embedded IPv4 address in the last 32 bits
    tail = b""
    if "." in text:
        head, _, v4 = text.rpartition(":")
        packed4 = _parse_ipv4_strict(v4)
        if packed4 is None or not head:
            return None
        tail = packed4
        text = head + ":0:0"  # placeholders, replaced below
    if text.count("::") > 1:
        return None
    want = 8
    if "::" in text:
        left, right = text.split("::")
        lparts = left.split(":") if left else []
        rparts = right.split(":") if right else []
        missing = want - len(lparts) - len(rparts)
        if missing < 1:
            return None
        groups = lparts + ["0"] * missing + rparts
    else:
        groups = text.split(":")
        if len(groups) != want:
            return None
    out = bytearray()
    for g in groups:
        if not g or len(g) > 4:
            return None
        try:
            v = int(g, 16)
        except ValueError:
            return None
        if g.startswith(("+", "-")) or "_" in g or " " in g:
            return None
        out += v.to_bytes(2, "big")
    if tail:
        out[12:16] = tail
    return bytes(out)


def _format_ipv6(packed):
    """Format 16 bytes like glibc's inet_ntop (RFC 5952 compression)."""
    words = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, 16, 2)]
    # longest run of zero words (length >= 2), first one wins on ties
    best_base, best_len = -1, 0
    i = 0
    while i < 8:
        if words[i] == 0:
            j = i
            while j < 8 and words[j] == 0:
                j += 1
            if j - i > best_len:
                best_base, best_len = i, j - i
            i = j
        else:
            i += 1
    if best_len < 2:
        best_base, best_len = -1, 0
    # IPv4-compatible / IPv4-mapped forms, as glibc prints them
    if best_base == 0 and (
        best_len == 6
        or (best_len == 7 and words[7] != 1)
        or (best_len == 5 and words[5] == 0xFFFF)
    ):
        prefix = "::ffff:" if best_len == 5 else "::"
        return prefix + ".".join(str(b) for b in packed[12:])
    parts = []
    i = 0
    while i < 8:
        if i == best_base:
            parts.append("")
            if i == 0:
                parts.append("")
            i += best_len
            if i == 8:
                parts.append("")
            continue
        parts.append(f"{words[i]:x}")
        i += 1
    return ":".join(parts)


def _literal_family(host):
    """AF_INET / AF_INET6 when host is an IP literal (IPv6 may have %zone)."""
    if _parse_ipv4_strict(host) is not None:
        return AF_INET
    if ":" in host and _parse_ipv6(host.partition("%")[0]) is not None:
        return AF_INET6
    return None


def _encode_host(host, what):
    """str/bytes host -> str (IDNA for non-ASCII names)."""
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("ascii")
    if not isinstance(host, str):
        raise TypeError(f"{what}(): host must be str, bytes or None, not {type(host).__name__}")
    if host.isascii():
        return host
    return host.encode("idna").decode("ascii")


_SERVICES = {
    "http": 80, "https": 443, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25,
    "domain": 53, "pop3": 110, "imap": 143, "imaps": 993, "pop3s": 995,
    "submission": 587, "smtps": 465, "ldap": 389, "ldaps": 636,
    "http-alt": 8080, "socks": 1080, "ntp": 123, "whois": 43,
}


def _service_port(port, flags=0):
    if port is None:
        return 0
    if isinstance(port, int):
        return port
    if isinstance(port, (bytes, bytearray)):
        port = bytes(port).decode("ascii")
    if isinstance(port, str):
        text = port.strip()
        if text.isascii() and text.isdigit():
            return int(text)
        if not flags & AI_NUMERICSERV and text.lower() in _SERVICES:
            return _SERVICES[text.lower()]
        raise gaierror(EAI_SERVICE, "Servname not supported for ai_socktype")
    raise OSError("Int or String expected")


def _check_address(address, family, what):
    """(host, port[, flowinfo, scope_id]) -> (host str, port int)."""
    if not isinstance(address, tuple):
        raise TypeError(f"{what}(): AF_INET address must be tuple, not {type(address).__name__}")
    if family == AF_INET6:
        if not 2 <= len(address) <= 4:
            raise TypeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])")
    elif len(address) != 2:
        raise TypeError("AF_INET address must be a pair (host, port)")
    host, port = address[0], address[1]
    host = _encode_host(host, what)
    if "\0" in host:
        raise ValueError("embedded null character")
    if not isinstance(port, int):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 65535:
        raise OverflowError(f"{what}(): port must be 0-65535.")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


# -- the socket class -------------------------------------------------------------------------


class socket:
    """A TCP client socket whose I/O the host does.

    socket(family=AF_INET, type=SOCK_STREAM, proto=0, fileno=None)
    """

    # No __dict__ and no __weakref__ here: socket.py's subclass declares
    # __slots__ = ["__weakref__", ...] (like for the C type).
    __slots__ = ("_conn", "_family", "_proto", "_timeout", "_type")

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # usable defaults even if __init__ is never called
        self._conn = None
        self._timeout = None
        self._family = AF_INET
        self._type = SOCK_STREAM
        self._proto = 0
        return self

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        family = int(family)
        type = int(type)
        proto = int(proto)
        if fileno is not None:
            if not isinstance(fileno, int):
                raise TypeError(f"fileno must be an integer, not {fileno.__class__.__name__}")
            if fileno < 0:
                raise ValueError("negative file descriptor")
            conn = _conns_by_fd.get(fileno)
            if conn is None:
                raise OSError(_errno.EBADF, "Bad file descriptor (not a sandbox socket)")
            if family == -1:
                family = conn.family
            if type == -1:
                type = conn.type
            if proto == -1:
                proto = conn.proto
        else:
            conn = None
            if family == -1:
                family = AF_INET
            if type == -1:
                type = SOCK_STREAM
            if proto == -1:
                proto = 0
            if family == AF_UNIX:
                raise OSError(_errno.EAFNOSUPPORT,
                              "AF_UNIX sockets are not supported by the sandbox")
            if family not in (AF_INET, AF_INET6):
                raise OSError(_errno.EAFNOSUPPORT,
                              "Address family not supported by protocol")
            if type & ~_SOCK_FLAGS not in (SOCK_STREAM, SOCK_DGRAM):
                raise OSError(_errno.EPROTONOSUPPORT,
                              "only SOCK_STREAM (and inert SOCK_DGRAM) sockets are "
                              "supported by the sandbox")
            conn = _Conn(family, type & ~_SOCK_FLAGS, proto)
        self._conn = conn
        self._family = family
        self._type = type & ~_SOCK_FLAGS
        self._proto = proto
        if type & SOCK_NONBLOCK:
            self._timeout = 0.0
        else:
            self._timeout = _default_timeout

    # -- attributes

    @property
    def family(self):
        """the socket family"""
        return self._family

    @property
    def type(self):
        """the socket type"""
        return self._type

    @property
    def proto(self):
        """the socket protocol"""
        return self._proto

    @property
    def timeout(self):
        """the socket timeout"""
        return self._timeout

    def __repr__(self):
        try:
            return (f"<_socket.socket fd={self.fileno()}, family={self._family}, "
                    f"type={self._type}, proto={self._proto}>")
        except Exception:  # noqa: BLE001 -- repr must not fail
            return "<_socket.socket>"

    def __getstate__(self):
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")

    def __del__(self):
        conn = self._conn
        if conn is not None and not conn.closed:
            # like CPython's socket finalizer: warn, then release the handle
            try:
                import _warnings
                _warnings.warn(f"unclosed {self!r}", ResourceWarning, 1, self)
            except Exception:  # noqa: BLE001, S110 -- nothing to report to in __del__
                pass
            try:
                _close_conn(conn)
            except Exception:  # noqa: BLE001, S110
                pass

    # -- internal helpers

    def _open_conn(self):
        conn = self._conn
        if conn is None or conn.closed:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        return conn

    def _stream_conn(self):
        conn = self._open_conn()
        if self._type != SOCK_STREAM:
            raise OSError(_ENOTSUP, "UDP (SOCK_DGRAM) sockets are not supported by the sandbox")
        return conn

    def _connected_handle(self):
        conn = self._stream_conn()
        if conn.handle is None:
            raise OSError(_errno.ENOTCONN, "Socket is not connected")
        return conn.handle

    # -- descriptors

    def fileno(self):
        """Return the descriptor: NET_FD_BASE + handle (or a virtual one), -1 if closed."""
        conn = self._conn
        if conn is None or conn.closed:
            return -1
        return _assign_fd(conn)

    def close(self):
        """Close the socket (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            _close_conn(conn)

    def detach(self):
        """Return the descriptor without closing it; the socket becomes closed."""
        conn = self._conn
        if conn is None or conn.closed:
            self._conn = None
            return -1
        fd = _assign_fd(conn)
        self._conn = None
        return fd

    def dup(self):
        raise OSError(_ENOTSUP, "dup() of sockets is not supported by the sandbox")

    # -- timeouts

    def settimeout(self, timeout):
        """Set the timeout in seconds: None = blocking, 0 = non-blocking."""
        self._timeout = _check_timeout(timeout)

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self._timeout = None if flag else 0.0

    def getblocking(self):
        return self._timeout != 0.0

    # -- connecting

    def connect(self, address):
        """Connect to (host, port); host may be a name (the host resolves it)."""
        self._connect(address)

    def connect_ex(self, address):
        """Like connect() but return an errno value instead of raising OSError."""
        try:
            self._connect(address)
        except TimeoutError:
            return _errno.EWOULDBLOCK
        except gaierror:
            raise
        except OSError as e:
            if e.errno is None:
                raise
            return e.errno
        return 0

    def _connect(self, address):
        conn = self._open_conn()
        if self._type != SOCK_STREAM:
            raise OSError(_ENOTSUP, "UDP (SOCK_DGRAM) sockets are not supported by the sandbox")
        host, port = _check_address(address, self._family, "connect")
        if conn.handle is not None:
            # connect() again: report progress like a non-blocking OS socket
            state = _host.net_state(conn.handle)  # raises the connect error
            if state == 1:
                raise OSError(_errno.EISCONN, "Transport endpoint is already connected")
            if self._timeout == 0:
                raise OSError(_errno.EALREADY, "Operation already in progress")
            handle = conn.handle
        else:
            if host == "":
                host = "0.0.0.0" if self._family == AF_INET else "::"
            handle = _host.net_connect(host, port)
            conn.handle = handle
            conn.host = host
            conn.port = port
            conn.so_error = 0
            conn.err_reported = False
            _assign_fd(conn)
        if self._timeout == 0:
            raise BlockingIOError(_errno.EINPROGRESS, "Operation now in progress")
        deadline = _deadline(self._timeout)
        while True:
            if _host.net_state(handle) == 1:
                return
            _wait(handle, _EV_WRITE, deadline)

    def bind(self, address):
        """Binding is only accepted for the 'any'/loopback address and port 0 (no-op)."""
        self._open_conn()
        host, port = _check_address(address, self._family, "bind")
        if port != 0 or host not in ("", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost"):
            raise OSError(_errno.EADDRNOTAVAIL,
                          "Cannot assign requested address (the sandbox cannot bind sockets)")

    def listen(self, backlog=None):
        raise OSError(_errno.EOPNOTSUPP, "the sandbox cannot accept connections")

    def _accept(self):
        raise OSError(_errno.EOPNOTSUPP, "the sandbox cannot accept connections")

    def accept(self):
        raise OSError(_errno.EOPNOTSUPP, "the sandbox cannot accept connections")

    # -- addresses

    def _info(self):
        conn = self._open_conn()
        if conn.handle is None:
            return None
        import json
        try:
            return json.loads(_host.net_info(conn.handle))
        except OSError:
            return None

    def _sockaddr(self, pair):
        host, port = pair[0], int(pair[1])
        if self._family == AF_INET6:
            return (host, port, 0, 0)
        return (host, port)

    def getsockname(self):
        """Local address; ('0.0.0.0', 0) before the connection exists."""
        info = self._info()
        if info and info.get("local"):
            return self._sockaddr(info["local"])
        if self._family == AF_INET6:
            return ("::", 0, 0, 0)
        return ("0.0.0.0", 0)

    def getpeername(self):
        """Remote address; OSError(ENOTCONN) when not connected."""
        conn = self._open_conn()
        if conn.handle is None:
            raise OSError(_errno.ENOTCONN, "Socket is not connected")
        info = self._info()
        if info and info.get("peer"):
            return self._sockaddr(info["peer"])
        raise OSError(_errno.ENOTCONN, "Socket is not connected")

    # -- options

    def setsockopt(self, level, optname, value, optlen=None):
        """Options are remembered (for getsockopt) but have no effect."""
        conn = self._open_conn()
        if optlen is not None:
            if value is not None:
                raise TypeError("setsockopt() takes 3 arguments when the 4th is not None")
            value = bytes(optlen)
        elif not isinstance(value, int):
            value = bytes(memoryview(value))
        conn.opts[(int(level), int(optname))] = value

    def getsockopt(self, level, optname, buflen=None):
        conn = self._open_conn()
        level, optname = int(level), int(optname)
        if level == SOL_SOCKET and optname == SO_ERROR:
            value = self._so_error(conn)
        elif level == SOL_SOCKET and optname == SO_TYPE:
            value = self._type
        elif level == SOL_SOCKET and optname == SO_DOMAIN:
            value = self._family
        elif level == SOL_SOCKET and optname == SO_PROTOCOL:
            value = self._proto or (IPPROTO_TCP if self._type == SOCK_STREAM else IPPROTO_UDP)
        elif level == SOL_SOCKET and optname == SO_ACCEPTCONN:
            value = 0
        else:
            value = conn.opts.get((level, optname), 0)
        if buflen is None:
            if isinstance(value, bytes):
                return int.from_bytes(value[:4].ljust(4, b"\0"), _sys.byteorder, signed=True)
            return value
        if not 0 <= buflen <= 1024:
            raise OSError(_errno.EINVAL, "getsockopt buflen out of range")
        if isinstance(value, int):
            value = value.to_bytes(4, _sys.byteorder, signed=value < 0)
        return value[:buflen]

    def _so_error(self, conn):
        """The errno of a failed connect, reported once (as asyncio expects)."""
        if conn.so_error:
            err, conn.so_error = conn.so_error, 0
            return err
        if conn.handle is None or conn.err_reported:
            return 0
        try:
            _host.net_state(conn.handle)
        except OSError as e:
            conn.err_reported = True
            return e.errno or _errno.EIO
        return 0

    # -- receiving

    def recv(self, bufsize, flags=0):
        """Receive up to bufsize bytes; b'' at end of stream."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        buf = bytearray(bufsize)
        n = self._recv_into(memoryview(buf), bufsize, flags)
        del buf[n:]
        return bytes(buf)

    def recv_into(self, buffer, nbytes=0, flags=0):
        """Receive into a writable buffer; return the number of bytes received."""
        mv = memoryview(buffer)
        if mv.readonly:
            raise TypeError("recv_into() argument 'buffer' must be read-write bytes-like object")
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes == 0:
            nbytes = len(mv)
        elif nbytes > len(mv):
            raise ValueError("buffer too small for requested bytes")
        return self._recv_into(mv, nbytes, flags)

    def recvfrom(self, bufsize, flags=0):
        return self.recv(bufsize, flags), None

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        return self.recv_into(buffer, nbytes, flags), None

    def _recv_into(self, mv, nbytes, flags):
        conn = self._stream_conn()
        if nbytes == 0:
            return 0
        timeout = 0.0 if flags & MSG_DONTWAIT else self._timeout
        if flags & MSG_PEEK:
            if not conn.peek:
                tmp = bytearray(max(nbytes, 8192))
                n = self._recv_once(conn, memoryview(tmp), len(tmp), timeout)
                conn.peek += tmp[:n]
            n = min(nbytes, len(conn.peek))
            mv[:n] = conn.peek[:n]
            return n
        total = 0
        if conn.peek:
            total = min(nbytes, len(conn.peek))
            mv[:total] = conn.peek[:total]
            del conn.peek[:total]
            if not flags & MSG_WAITALL or total == nbytes:
                return total
        deadline = _deadline(timeout)
        while True:
            n = self._recv_once(conn, mv[total:], nbytes - total, timeout, deadline)
            total += n
            if n == 0 or total == nbytes or not flags & MSG_WAITALL:
                return total

    def _recv_once(self, conn, mv, nbytes, timeout, deadline=None):
        if conn.handle is None:
            raise OSError(_errno.ENOTCONN, "Socket is not connected")
        handle = conn.handle
        if deadline is None:
            deadline = _deadline(timeout)
        while True:
            try:
                return _host.net_recv_into(handle, mv, nbytes)
            except BlockingIOError:
                if timeout == 0:
                    raise
            _wait(handle, _EV_READ, deadline)

    # -- sending

    def send(self, data, flags=0):
        """Send data; return the number of bytes sent."""
        mv = _byte_view(data)
        conn = self._stream_conn()
        timeout = 0.0 if flags & MSG_DONTWAIT else self._timeout
        return self._send_once(conn, mv, timeout, _deadline(timeout))

    def sendall(self, data, flags=0):
        """Send all of data (the timeout applies to the whole call)."""
        mv = _byte_view(data)
        conn = self._stream_conn()
        timeout = 0.0 if flags & MSG_DONTWAIT else self._timeout
        deadline = _deadline(timeout)
        sent = 0
        total = len(mv)
        while sent < total:
            sent += self._send_once(conn, mv[sent:], timeout, deadline)

    def sendto(self, data, flags_or_addr, addr=None):
        _byte_view(data)
        self._open_conn()
        if self._type != SOCK_STREAM:
            raise OSError(_ENOTSUP, "UDP (SOCK_DGRAM) sockets are not supported by the sandbox")
        if self._conn.handle is not None:
            raise OSError(_errno.EISCONN, "Transport endpoint is already connected")
        raise OSError(_errno.ENOTCONN, "Socket is not connected (sendto() is not supported)")

    def _send_once(self, conn, mv, timeout, deadline):
        if conn.handle is None:
            raise OSError(_errno.ENOTCONN, "Socket is not connected")
        if len(mv) == 0:
            return 0
        handle = conn.handle
        while True:
            try:
                return _host.net_send(handle, mv)
            except BlockingIOError:
                if timeout == 0:
                    raise
            _wait(handle, _EV_WRITE, deadline)

    # -- shutting down

    def shutdown(self, how):
        """Shut down reading (SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR)."""
        how = int(how)
        conn = self._open_conn()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise OSError(_errno.EINVAL, "Invalid argument")
        if conn.handle is None:
            raise OSError(_errno.ENOTCONN, "Socket is not connected")
        _host.net_shutdown(conn.handle, how)


SocketType = socket


def _byte_view(data):
    mv = memoryview(data)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


# -- module functions ------------------------------------------------------------------


def close(fd):
    """Close a socket descriptor."""
    conn = _conns_by_fd.get(fd)
    if conn is not None:
        _close_conn(conn)
        return
    if _is_net_fd(fd):
        raise OSError(_errno.EBADF, "Bad file descriptor")
    import os
    os.close(fd)


def dup(fd):
    raise OSError(_ENOTSUP, "dup() of sockets is not supported by the sandbox")


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    """Return addresses WITHOUT resolving names.

    IP literals are returned with their family. A name is returned as is
    (with the requested family, AF_INET by default): the host resolves it when
    connecting and checks every resolved address against its network policy.
    """
    family, type, proto, flags = int(family), int(type), int(proto), int(flags)
    if host is None or host == "" or host == b"":
        if family == AF_INET6:
            host = "::" if flags & AI_PASSIVE else "::1"
        else:
            host = "0.0.0.0" if flags & AI_PASSIVE else "127.0.0.1"
    host = _encode_host(host, "getaddrinfo")
    if "\0" in host:
        raise ValueError("embedded null character")
    port = _service_port(port, flags)
    if family not in (AF_UNSPEC, AF_INET, AF_INET6):
        raise gaierror(EAI_FAMILY, "ai_family not supported")
    type &= ~_SOCK_FLAGS
    if type == 0:
        type = SOCK_STREAM
    if type == SOCK_STREAM:
        proto = proto or IPPROTO_TCP
    elif type == SOCK_DGRAM:
        proto = proto or IPPROTO_UDP
    elif type != SOCK_RAW:
        raise gaierror(EAI_SOCKTYPE, "ai_socktype not supported")
    lit = _literal_family(host)
    if lit is None:
        if flags & AI_NUMERICHOST:
            raise gaierror(EAI_NONAME, "Name or service not known")
        af = family or AF_INET
    else:
        if family and family != lit:
            raise gaierror(EAI_ADDRFAMILY, "Address family for hostname not supported")
        af = lit
    canon = host if flags & AI_CANONNAME else ""
    if af == AF_INET6:
        addr, _, zone = host.partition("%")
        scope = int(zone) if zone.isdigit() else 0
        sockaddr = (addr, port, 0, scope)
    else:
        sockaddr = (host, port)
    return [(af, type, proto, canon, sockaddr)]


def _no_resolve(name):
    return gaierror(EAI_NONAME, f"cannot resolve {name!r}: the sandbox resolves names only "
                    "when connecting")


def gethostbyname(hostname):
    """IP literals only; names are resolved by the host when connecting."""
    host = _encode_host(hostname, "gethostbyname")
    if host == "":
        return "0.0.0.0"
    if _parse_ipv4_strict(host) is not None:
        return host
    raise _no_resolve(host)


def gethostbyname_ex(hostname):
    host = gethostbyname(hostname)
    return host, [], [host]


def gethostbyaddr(ip_address):
    raise herror(1, "Unknown host (the sandbox cannot do reverse lookups)")


def getnameinfo(sockaddr, flags):
    if not isinstance(sockaddr, tuple) or len(sockaddr) < 2:
        raise TypeError("getnameinfo() argument 1 must be a tuple")
    host, port = sockaddr[0], sockaddr[1]
    if flags & NI_NAMEREQD:
        raise gaierror(EAI_NONAME, "Name or service not known")
    if _literal_family(host) is None:
        raise _no_resolve(host)
    return host, str(port)


def gethostname():
    return "sandbox"


def sethostname(name):
    raise OSError(_errno.EPERM, "Operation not permitted")


def getservbyname(servicename, protocolname=None):
    port = _SERVICES.get(servicename.lower())
    if port is None:
        raise OSError("service/proto not found")
    return port


def getservbyport(port, protocolname=None):
    if not 0 <= port <= 65535:
        raise OverflowError("getservbyport: port must be 0-65535.")
    for name, p in _SERVICES.items():
        if p == port:
            return name
    raise OSError("port/proto not found")


_PROTOCOLS = {"ip": 0, "icmp": 1, "tcp": 6, "udp": 17, "ipv6": 41, "icmpv6": 58}


def getprotobyname(name):
    try:
        return _PROTOCOLS[name.lower()]
    except KeyError:
        raise OSError("protocol not found") from None


def _swap(x, size, name):
    if not isinstance(x, int):
        raise TypeError(f"expected int, {type(x).__name__} found")
    if x < 0:
        raise OverflowError(f"{name}: can't convert negative Python int to C "
                            f"{size * 8}-bit unsigned integer")
    if x >= 1 << (size * 8):
        raise OverflowError(f"{name}: Python int too large to convert to C "
                            f"{size * 8}-bit unsigned integer")
    return int.from_bytes(x.to_bytes(size, _sys.byteorder), "big")


def htons(x):
    return _swap(x, 2, "htons")


def ntohs(x):
    return _swap(x, 2, "ntohs")


def htonl(x):
    return _swap(x, 4, "htonl")


def ntohl(x):
    return _swap(x, 4, "ntohl")


def inet_aton(string):
    """Convert an IPv4 address in the inet_aton() forms (a.b.c.d, a.b.c, a.b, a) to 4 bytes."""
    if not isinstance(string, str):
        raise TypeError(f"inet_aton() argument 1 must be str, not {type(string).__name__}")
    bad = OSError("illegal IP address string passed to inet_aton")
    parts = string.split(".")
    if not 1 <= len(parts) <= 4 or not string.isascii():
        raise bad
    values = []
    for p in parts:
        try:
            if p[:2].lower() == "0x":
                v = int(p, 16) if p[2:] else 0
            elif len(p) > 1 and p[0] == "0":
                v = int(p[1:], 8)
            else:
                if not p.isdigit():
                    raise ValueError
                v = int(p, 10)
        except ValueError:
            raise bad from None
        if not p or p[0] in "+-":
            raise bad
        values.append(v)
    last_size = 5 - len(values)  # bytes covered by the last part
    for v in values[:-1]:
        if v > 255:
            raise bad
    if values[-1] >= 1 << (8 * last_size):
        raise bad
    return bytes(values[:-1]) + values[-1].to_bytes(last_size, "big")


def inet_ntoa(packed_ip):
    packed = bytes(memoryview(packed_ip))
    if len(packed) != 4:
        raise OSError("packed IP wrong length for inet_ntoa")
    return ".".join(str(b) for b in packed)


def inet_pton(address_family, ip_string):
    if not isinstance(ip_string, str):
        raise TypeError(f"inet_pton() argument 2 must be str, not {type(ip_string).__name__}")
    if address_family == AF_INET:
        packed = _parse_ipv4_strict(ip_string)
    elif address_family == AF_INET6:
        packed = _parse_ipv6(ip_string)
    else:
        raise OSError(_errno.EAFNOSUPPORT, "Address family not supported by protocol")
    if packed is None:
        raise OSError("illegal IP address string passed to inet_pton")
    return packed


def inet_ntop(address_family, packed_ip):
    packed = bytes(memoryview(packed_ip))
    if address_family == AF_INET:
        if len(packed) != 4:
            raise ValueError("invalid length of packed IP address string")
        return ".".join(str(b) for b in packed)
    if address_family == AF_INET6:
        if len(packed) != 16:
            raise ValueError("invalid length of packed IP address string")
        return _format_ipv6(packed)
    raise ValueError(f"unknown address family {address_family}")


# -- select patch -----------------------------------------------------------------------


def _fd_of(obj):
    if isinstance(obj, int):
        fd = obj
    else:
        try:
            meth = obj.fileno
        except AttributeError:
            raise TypeError("argument must be an int, or have a fileno() method.") from None
        fd = meth()
        if not isinstance(fd, int):
            raise TypeError("fileno() returned a non-integer")
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return fd


def _net_ready(wants, timeout):
    """Poll guest descriptors.

    wants: {fd: events} (events bits 1 read, 2 write); timeout in seconds or
    None. Returns {fd: revents} for the ready ones (revents may also hold the
    error bit 4; the host I/O timeout bit 8 is reported as readable+error so
    that the next operation raises TimeoutError).
    """
    result = {}
    items = {}
    by_handle = {}
    for fd, events in wants.items():
        conn = _conns_by_fd.get(fd)
        if conn is None or conn.closed:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        if events & _EV_READ and conn.peek:
            result[fd] = result.get(fd, 0) | _EV_READ
        if conn.handle is None:
            # not connecting yet: like an OS socket, ready (hang-up) at once
            result[fd] = result.get(fd, 0) | (events & (_EV_READ | _EV_WRITE))
            continue
        ask = events & (_EV_READ | _EV_WRITE)
        if ask & _EV_READ and conn.tls_pending:
            # during a TLS handshake "writable" is what tells that it ended
            # (SSLWantReadError callers then select for reading)
            ask |= _EV_WRITE
        items[conn.handle] = items.get(conn.handle, 0) | ask
        by_handle.setdefault(conn.handle, []).append((fd, events))
    if result:
        timeout = 0
    ready = _host.net_poll(list(items.items()), timeout) if items else []
    for handle, revents in ready:
        for fd, events in by_handle.get(handle, ()):
            conn = _conns_by_fd.get(fd)
            got = 0
            if revents & _EV_READ:
                got |= _EV_READ
            if revents & _EV_WRITE:
                got |= _EV_WRITE
                if conn is not None and conn.tls_pending:
                    got |= _EV_READ
            if revents & (_EV_ERROR | _EV_IOTIMEOUT):
                got |= _EV_ERROR | _EV_READ | _EV_WRITE
            got &= events | _EV_ERROR
            if got:
                result[fd] = result.get(fd, 0) | got
    return result


def install_select_patch():
    """Make select.select and select.poll understand guest sockets.

    When every descriptor given is a guest socket the answer comes from the
    host (net_poll); when none is, the original function is used; mixing both
    raises OSError.
    """
    import select as _select

    if getattr(_select.select, "_eryx_net", False):
        return
    orig_select = _select.select
    orig_poll = getattr(_select, "poll", None)

    defaults = {
        "POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8,
        "POLLHUP": 0x10, "POLLNVAL": 0x20, "POLLRDNORM": 0x40, "POLLRDBAND": 0x80,
        "POLLWRNORM": 0x100, "POLLWRBAND": 0x200, "POLLMSG": 0x400, "POLLRDHUP": 0x2000,
    }
    for name, value in defaults.items():
        if not hasattr(_select, name):
            setattr(_select, name, value)
    POLLIN = _select.POLLIN
    POLLPRI = _select.POLLPRI
    POLLOUT = _select.POLLOUT
    POLLERR = _select.POLLERR
    POLLHUP = _select.POLLHUP
    POLLNVAL = _select.POLLNVAL
    POLLRDNORM = _select.POLLRDNORM
    POLLWRNORM = _select.POLLWRNORM

    mixed = "select()/poll() cannot mix sandbox network sockets with other file descriptors"

    def select(rlist, wlist, xlist, timeout=None):
        if timeout is not None:
            timeout = float(timeout)
            if timeout < 0:
                raise ValueError("timeout must be non-negative")
        rfds = [(obj, _fd_of(obj)) for obj in rlist]
        wfds = [(obj, _fd_of(obj)) for obj in wlist]
        xfds = [(obj, _fd_of(obj)) for obj in xlist]
        fds = [fd for _, fd in rfds + wfds + xfds]
        net = [fd for fd in fds if _is_net_fd(fd)]
        if not net:
            return orig_select(rlist, wlist, xlist, timeout)
        if len(net) != len(fds):
            raise OSError(_errno.EINVAL, mixed)
        wants = {}
        for _, fd in rfds:
            wants[fd] = wants.get(fd, 0) | _EV_READ
        for _, fd in wfds:
            wants[fd] = wants.get(fd, 0) | _EV_WRITE
        for _, fd in xfds:
            wants.setdefault(fd, 0)
        ready = _net_ready(wants, timeout)
        return (
            [obj for obj, fd in rfds if ready.get(fd, 0) & _EV_READ],
            [obj for obj, fd in wfds if ready.get(fd, 0) & _EV_WRITE],
            [],
        )

    select._eryx_net = True
    select.__doc__ = orig_select.__doc__

    class poll:
        """select.poll() that also handles guest sockets (not both at once)."""

        def __init__(self):
            self._fds = {}

        def register(self, fd, eventmask=POLLIN | POLLPRI | POLLOUT):
            self._fds[_fd_of(fd)] = int(eventmask)

        def modify(self, fd, eventmask):
            fd = _fd_of(fd)
            if fd not in self._fds:
                raise FileNotFoundError(_errno.ENOENT, "No such file or directory")
            self._fds[fd] = int(eventmask)

        def unregister(self, fd):
            del self._fds[_fd_of(fd)]

        def poll(self, timeout=None):
            if timeout is not None:
                timeout = float(timeout)
                timeout = None if timeout < 0 else timeout / 1000.0
            net = [fd for fd in self._fds if _is_net_fd(fd)]
            if not net:
                return self._poll_other(timeout)
            if len(net) != len(self._fds):
                raise OSError(_errno.EINVAL, mixed)
            wants = {}
            result = []
            for fd, mask in self._fds.items():
                conn = _conns_by_fd.get(fd)
                if conn is None or conn.closed:
                    result.append((fd, POLLNVAL))
                    continue
                ev = 0
                if mask & (POLLIN | POLLPRI | POLLRDNORM):
                    ev |= _EV_READ
                if mask & (POLLOUT | POLLWRNORM):
                    ev |= _EV_WRITE
                wants[fd] = ev
            if result:
                timeout = 0
            ready = _net_ready(wants, timeout) if wants else {}
            for fd, got in ready.items():
                mask = self._fds[fd]
                rev = 0
                if got & _EV_READ:
                    rev |= mask & (POLLIN | POLLRDNORM)
                if got & _EV_WRITE:
                    rev |= mask & (POLLOUT | POLLWRNORM)
                if got & _EV_ERROR:
                    rev |= POLLERR
                conn = _conns_by_fd.get(fd)
                if conn is not None and conn.handle is None:
                    rev |= POLLHUP
                if rev:
                    result.append((fd, rev))
            return result

        def _poll_other(self, timeout):
            if orig_poll is not None:
                p = orig_poll()
                for fd, mask in self._fds.items():
                    p.register(fd, mask)
                return p.poll(None if timeout is None else timeout * 1000.0)
            # no native poll(): emulate with the original select()
            r = [fd for fd, m in self._fds.items() if m & (POLLIN | POLLPRI | POLLRDNORM)]
            w = [fd for fd, m in self._fds.items() if m & (POLLOUT | POLLWRNORM)]
            rr, ww, _ = orig_select(r, w, [], timeout)
            out = {}
            for fd in rr:
                out[fd] = out.get(fd, 0) | POLLIN
            for fd in ww:
                out[fd] = out.get(fd, 0) | POLLOUT
            return list(out.items())

    _select.select = select
    _select.poll = poll


__all__ = [
    _name for _name in list(globals())
    if not _name.startswith("_") and _name not in ("install_select_patch",)
]
