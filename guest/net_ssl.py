"""Replacement of the stdlib ``ssl`` module for the eryx guest.

The guest has no ``_ssl``: TLS is done by the host (OpenSSL), on the host's
side of a guest socket (see ``_eryx_host.net_tls``). The runtime executes this
file as module ``ssl``. ``SSLContext.wrap_socket()`` returns an ``SSLSocket``
whose reads and writes are plaintext; the host encrypts and decrypts.

Certificate checking is always done by the host, with the host's trust
roots, including the hostname (or IP address) check: the guest cannot turn
it off. So:

* ``verify_mode = CERT_NONE`` and ``check_hostname = False`` are accepted
  (the attributes behave as in CPython) but the certificate is still verified;
* ``load_verify_locations()`` / ``load_default_certs()`` are accepted and
  ignored (the host's roots decide);
* client certificates (``load_cert_chain``), server-side TLS, and TLS over
  memory BIOs (``wrap_bio`` / ``SSLObject``) are not supported.
"""

import _socket
import base64 as _base64
import errno as _errno
import json as _json
import os as _os
import socket
import sys as _sys
import time as _time
from collections import namedtuple as _namedtuple
from enum import Enum as _Enum
from enum import IntEnum as _IntEnum
from enum import IntFlag as _IntFlag
from socket import SO_TYPE, SOCK_STREAM, SOL_SOCKET, create_connection

import _eryx_host as _host

socket_error = OSError

_TLS_ERRNO = 1000  # host: TLS error
_CERT_ERRNO = 1001  # host: certificate verification failed

# -- versions -------------------------------------------------------------------------------


def _openssl_version():
    try:
        text, number = _host.net_openssl_version()
        return str(text), int(number)
    except (AttributeError, OSError, TypeError, ValueError):
        return "OpenSSL 3.0.0 (eryx host)", 0x30000000


def _parse_version(n):
    # as CPython's _ssl: 0xMNNFFPPS -> (major, minor, fix, patch, status)
    status = n & 0xF
    n >>= 4
    patch = n & 0xFF
    n >>= 8
    fix = n & 0xFF
    n >>= 8
    minor = n & 0xFF
    n >>= 8
    major = n & 0xFF
    return major, minor, fix, patch, status


OPENSSL_VERSION, OPENSSL_VERSION_NUMBER = _openssl_version()
OPENSSL_VERSION_INFO = _parse_version(OPENSSL_VERSION_NUMBER)
_OPENSSL_API_VERSION = OPENSSL_VERSION_INFO

# -- enums and constants (values of CPython 3.13 with OpenSSL 3.0) ---------------------


class _SSLMethod(_IntEnum):
    PROTOCOL_SSLv23 = 2
    PROTOCOL_TLSv1 = 3
    PROTOCOL_TLSv1_1 = 4
    PROTOCOL_TLSv1_2 = 5
    PROTOCOL_TLS_CLIENT = 16
    PROTOCOL_TLS_SERVER = 17


PROTOCOL_SSLv23 = _SSLMethod.PROTOCOL_SSLv23
PROTOCOL_TLS = _SSLMethod.PROTOCOL_SSLv23
PROTOCOL_TLSv1 = _SSLMethod.PROTOCOL_TLSv1
PROTOCOL_TLSv1_1 = _SSLMethod.PROTOCOL_TLSv1_1
PROTOCOL_TLSv1_2 = _SSLMethod.PROTOCOL_TLSv1_2
PROTOCOL_TLS_CLIENT = _SSLMethod.PROTOCOL_TLS_CLIENT
PROTOCOL_TLS_SERVER = _SSLMethod.PROTOCOL_TLS_SERVER


class Options(_IntFlag):
    OP_ALL = 0x80000050
    OP_NO_SSLv2 = 0
    OP_NO_SSLv3 = 0x2000000
    OP_NO_TLSv1 = 0x4000000
    OP_NO_TLSv1_1 = 0x10000000
    OP_NO_TLSv1_2 = 0x8000000
    OP_NO_TLSv1_3 = 0x20000000
    OP_CIPHER_SERVER_PREFERENCE = 0x400000
    OP_SINGLE_DH_USE = 0
    OP_SINGLE_ECDH_USE = 0
    OP_NO_COMPRESSION = 0x20000
    OP_NO_TICKET = 0x4000
    OP_NO_RENEGOTIATION = 0x40000000
    OP_ENABLE_MIDDLEBOX_COMPAT = 0x100000
    OP_IGNORE_UNEXPECTED_EOF = 0x80
    OP_LEGACY_SERVER_CONNECT = 0x4
    OP_ENABLE_KTLS = 0x8


class VerifyMode(_IntEnum):
    CERT_NONE = 0
    CERT_OPTIONAL = 1
    CERT_REQUIRED = 2


class VerifyFlags(_IntFlag):
    VERIFY_DEFAULT = 0
    VERIFY_CRL_CHECK_LEAF = 0x4
    VERIFY_CRL_CHECK_CHAIN = 0xC
    VERIFY_X509_STRICT = 0x20
    VERIFY_ALLOW_PROXY_CERTS = 0x40
    VERIFY_X509_TRUSTED_FIRST = 0x8000
    VERIFY_X509_PARTIAL_CHAIN = 0x80000


class TLSVersion(_IntEnum):
    MINIMUM_SUPPORTED = -2
    MAXIMUM_SUPPORTED = -1
    SSLv3 = 0x300
    TLSv1 = 0x301
    TLSv1_1 = 0x302
    TLSv1_2 = 0x303
    TLSv1_3 = 0x304


class SSLErrorNumber(_IntEnum):
    SSL_ERROR_SSL = 1
    SSL_ERROR_WANT_READ = 2
    SSL_ERROR_WANT_WRITE = 3
    SSL_ERROR_WANT_X509_LOOKUP = 4
    SSL_ERROR_SYSCALL = 5
    SSL_ERROR_ZERO_RETURN = 6
    SSL_ERROR_WANT_CONNECT = 7
    SSL_ERROR_EOF = 8
    SSL_ERROR_INVALID_ERROR_CODE = 10


class AlertDescription(_IntEnum):
    ALERT_DESCRIPTION_CLOSE_NOTIFY = 0
    ALERT_DESCRIPTION_UNEXPECTED_MESSAGE = 10
    ALERT_DESCRIPTION_BAD_RECORD_MAC = 20
    ALERT_DESCRIPTION_RECORD_OVERFLOW = 22
    ALERT_DESCRIPTION_DECOMPRESSION_FAILURE = 30
    ALERT_DESCRIPTION_HANDSHAKE_FAILURE = 40
    ALERT_DESCRIPTION_BAD_CERTIFICATE = 42
    ALERT_DESCRIPTION_UNSUPPORTED_CERTIFICATE = 43
    ALERT_DESCRIPTION_CERTIFICATE_REVOKED = 44
    ALERT_DESCRIPTION_CERTIFICATE_EXPIRED = 45
    ALERT_DESCRIPTION_CERTIFICATE_UNKNOWN = 46
    ALERT_DESCRIPTION_ILLEGAL_PARAMETER = 47
    ALERT_DESCRIPTION_UNKNOWN_CA = 48
    ALERT_DESCRIPTION_ACCESS_DENIED = 49
    ALERT_DESCRIPTION_DECODE_ERROR = 50
    ALERT_DESCRIPTION_DECRYPT_ERROR = 51
    ALERT_DESCRIPTION_PROTOCOL_VERSION = 70
    ALERT_DESCRIPTION_INSUFFICIENT_SECURITY = 71
    ALERT_DESCRIPTION_INTERNAL_ERROR = 80
    ALERT_DESCRIPTION_USER_CANCELLED = 90
    ALERT_DESCRIPTION_NO_RENEGOTIATION = 100
    ALERT_DESCRIPTION_UNSUPPORTED_EXTENSION = 110
    ALERT_DESCRIPTION_CERTIFICATE_UNOBTAINABLE = 111
    ALERT_DESCRIPTION_UNRECOGNIZED_NAME = 112
    ALERT_DESCRIPTION_BAD_CERTIFICATE_STATUS_RESPONSE = 113
    ALERT_DESCRIPTION_BAD_CERTIFICATE_HASH_VALUE = 114
    ALERT_DESCRIPTION_UNKNOWN_PSK_IDENTITY = 115


# module-level names for every enum member, as the stdlib ssl exports them
for _enum in (Options, VerifyMode, VerifyFlags, SSLErrorNumber, AlertDescription):
    globals().update(_enum.__members__)
del _enum

# the ones this module uses itself, spelled out for linters
CERT_NONE = VerifyMode.CERT_NONE
CERT_OPTIONAL = VerifyMode.CERT_OPTIONAL
CERT_REQUIRED = VerifyMode.CERT_REQUIRED
OP_ALL = Options.OP_ALL
OP_NO_SSLv3 = Options.OP_NO_SSLv3
OP_NO_COMPRESSION = Options.OP_NO_COMPRESSION
OP_CIPHER_SERVER_PREFERENCE = Options.OP_CIPHER_SERVER_PREFERENCE
OP_ENABLE_MIDDLEBOX_COMPAT = Options.OP_ENABLE_MIDDLEBOX_COMPAT
VERIFY_X509_STRICT = VerifyFlags.VERIFY_X509_STRICT
VERIFY_X509_TRUSTED_FIRST = VerifyFlags.VERIFY_X509_TRUSTED_FIRST
VERIFY_X509_PARTIAL_CHAIN = VerifyFlags.VERIFY_X509_PARTIAL_CHAIN
SSL_ERROR_SSL = SSLErrorNumber.SSL_ERROR_SSL
SSL_ERROR_WANT_READ = SSLErrorNumber.SSL_ERROR_WANT_READ
SSL_ERROR_WANT_WRITE = SSLErrorNumber.SSL_ERROR_WANT_WRITE
SSL_ERROR_EOF = SSLErrorNumber.SSL_ERROR_EOF

HAS_SNI = True
HAS_ALPN = True
HAS_ECDH = True
HAS_NPN = False
HAS_NEVER_CHECK_COMMON_NAME = True
HAS_PSK = False
HAS_PHA = False
HAS_SSLv2 = False
HAS_SSLv3 = False
HAS_TLSv1 = False
HAS_TLSv1_1 = False
HAS_TLSv1_2 = True
HAS_TLSv1_3 = True

CHANNEL_BINDING_TYPES = ["tls-unique"]
_DEFAULT_CIPHERS = (
    "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"
)

PEM_HEADER = "-----BEGIN CERTIFICATE-----"
PEM_FOOTER = "-----END CERTIFICATE-----"

# -- exceptions --------------------------------------------------------------------------


class SSLError(OSError):
    """An error in the TLS layer (reason/library: as in CPython, when known)."""

    reason = None
    library = None

    def __str__(self):
        if len(self.args) >= 2 and isinstance(self.args[1], str):
            return self.args[1]
        return super().__str__()


class SSLZeroReturnError(SSLError):
    """SSL/TLS session closed cleanly."""


class SSLWantReadError(SSLError):
    """Non-blocking SSL socket needs to read more data before the operation can complete."""


class SSLWantWriteError(SSLError):
    """Non-blocking SSL socket needs to write more data before the operation can complete."""


class SSLSyscallError(SSLError):
    """System error when attempting SSL operation."""


class SSLEOFError(SSLError):
    """SSL/TLS connection terminated abruptly."""


class SSLCertVerificationError(SSLError, ValueError):
    """A certificate could not be verified."""

    verify_code = None
    verify_message = None


CertificateError = SSLCertVerificationError

for _cls in (SSLError, SSLZeroReturnError, SSLWantReadError, SSLWantWriteError,
             SSLSyscallError, SSLEOFError, SSLCertVerificationError):
    _cls.__module__ = "ssl"
del _cls

# X509_V_ERR codes for the verification messages the host may report
_VERIFY_CODES = {
    "certificate is not yet valid": 9,
    "certificate has expired": 10,
    "self-signed certificate": 18,
    "self signed certificate": 18,
    "self-signed certificate in certificate chain": 19,
    "self signed certificate in certificate chain": 19,
    "unable to get local issuer certificate": 20,
    "unable to verify the first certificate": 21,
    "certificate chain too long": 22,
    "certificate revoked": 23,
    "invalid CA certificate": 24,
    "unsupported certificate purpose": 26,
    "certificate not trusted": 27,
    "certificate rejected": 28,
    "hostname mismatch": 62,
    "email address mismatch": 63,
    "ip address mismatch": 64,
}


def _ssl_error(exc):
    """Map a host OSError (errno 1000/1001) to the matching SSLError; others as is."""
    if not isinstance(exc, OSError) or isinstance(exc, SSLError):
        return exc
    message = exc.strerror or (exc.args[-1] if exc.args else "")
    message = str(message)
    if exc.errno == _CERT_ERRNO:
        why = message
        prefix = "certificate verify failed:"
        if why.lower().startswith(prefix):
            why = why[len(prefix):].strip()
        err = SSLCertVerificationError(
            SSL_ERROR_SSL,
            f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {why}",
        )
        err.reason = "CERTIFICATE_VERIFY_FAILED"
        err.library = "SSL"
        err.verify_message = why
        err.verify_code = _VERIFY_CODES.get(why.strip().rstrip(".").lower(), 1)
        return err
    if exc.errno == _TLS_ERRNO:
        lower = message.lower()
        if "eof" in lower:
            err = SSLEOFError(SSL_ERROR_EOF, message)
        else:
            err = SSLError(SSL_ERROR_SSL, message)
        # "[SSL: REASON] text" -> reason
        if message.startswith("[") and "]" in message:
            lib, _, reason = message[1:message.index("]")].partition(": ")
            err.library = lib or None
            err.reason = reason or None
        return err
    return exc


# -- certificates helpers ------------------------------------------------------------------


def DER_cert_to_PEM_cert(der_cert_bytes):
    """Takes a certificate in binary DER format and returns the PEM version of it as a string."""
    f = str(_base64.standard_b64encode(der_cert_bytes), "ASCII", "strict")
    ss = [PEM_HEADER]
    ss += [f[i:i + 64] for i in range(0, len(f), 64)]
    ss.append(PEM_FOOTER + "\n")
    return "\n".join(ss)


def PEM_cert_to_DER_cert(pem_cert_string):
    """Takes a certificate in ASCII PEM format and returns the DER-encoded version of it."""
    if not pem_cert_string.startswith(PEM_HEADER):
        raise ValueError(f"Invalid PEM encoding; must start with {PEM_HEADER}")
    if not pem_cert_string.strip().endswith(PEM_FOOTER):
        raise ValueError(f"Invalid PEM encoding; must end with {PEM_FOOTER}")
    d = pem_cert_string.strip()[len(PEM_HEADER):-len(PEM_FOOTER)]
    return _base64.decodebytes(d.encode("ASCII", "strict"))


def cert_time_to_seconds(cert_time):
    """Return the time in seconds since the Epoch, given the timestring
    representing the "notBefore" or "notAfter" date from a certificate
    in ``"%b %d %H:%M:%S %Y %Z"`` strptime format (C locale)."""
    from calendar import timegm

    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    time_format = " %d %H:%M:%S %Y GMT"  # NOTE: no month, fixed GMT
    try:
        month_number = months.index(cert_time[:3].title()) + 1
    except ValueError:
        raise ValueError(f'time data {cert_time!r} does not match format "%b{time_format}"') from None
    tt = _time.strptime(cert_time[3:], time_format)
    return timegm((tt[0], month_number) + tt[2:6])


DefaultVerifyPaths = _namedtuple(
    "DefaultVerifyPaths",
    "cafile capath openssl_cafile_env openssl_cafile openssl_capath_env openssl_capath",
)


def get_default_verify_paths():
    """Return paths to default cafile and capath (the host's roots are what counts)."""
    openssl_cafile = "/etc/ssl/cert.pem"
    openssl_capath = "/etc/ssl/certs"
    cafile = _os.environ.get("SSL_CERT_FILE", openssl_cafile)
    capath = _os.environ.get("SSL_CERT_DIR", openssl_capath)
    return DefaultVerifyPaths(
        cafile if _os.path.isfile(cafile) else None,
        capath if _os.path.isdir(capath) else None,
        "SSL_CERT_FILE", openssl_cafile, "SSL_CERT_DIR", openssl_capath,
    )


class _ASN1Object(_namedtuple("_ASN1Object", "nid shortname longname oid")):
    """ASN.1 object identifier lookup (only the two TLS purposes are known)."""

    __slots__ = ()

    @classmethod
    def fromnid(cls, nid):
        for p in Purpose:
            if p.nid == nid:
                return p
        raise ValueError(f"unknown NID {nid}")

    @classmethod
    def fromname(cls, name):
        for p in Purpose:
            if name in (p.shortname, p.longname, p.oid):
                return p
        raise ValueError(f"unknown object '{name}'")


class Purpose(_ASN1Object, _Enum):
    """SSLContext purpose flags with X509v3 Extended Key Usage objects."""

    SERVER_AUTH = (129, "serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1")
    CLIENT_AUTH = (130, "clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2")


def RAND_bytes(n):
    return _os.urandom(n)


def RAND_status():
    return True


def RAND_add(string, entropy):
    pass


def get_protocol_name(protocol_code):
    try:
        return _SSLMethod(protocol_code).name[len("PROTOCOL_"):]
    except ValueError:
        return "<unknown>"


# -- memory BIOs (not usable for TLS here) ----------------------------------------


class MemoryBIO:
    """A memory buffer (works), but there is no SSLObject to use it with."""

    def __init__(self):
        self._buf = bytearray()
        self._eof = False

    @property
    def pending(self):
        return len(self._buf)

    @property
    def eof(self):
        return self._eof and not self._buf

    def read(self, size=-1):
        if size < 0 or size > len(self._buf):
            size = len(self._buf)
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def write(self, b):
        if self._eof:
            raise SSLError("cannot write() after write_eof()")
        data = memoryview(b)
        self._buf += data
        return data.nbytes

    def write_eof(self):
        self._eof = True


_NO_BIO = ("TLS over memory BIOs (SSLContext.wrap_bio / SSLObject, used by asyncio's "
           "TLS and TLS-in-TLS proxies) is not available in the sandbox: the host does "
           "TLS on sockets only; use SSLContext.wrap_socket()")


class SSLObject:
    """Not available in the sandbox (see SSLContext.wrap_bio)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_NO_BIO)


class SSLSession:
    """TLS sessions are kept by the host; this type only exists for isinstance checks."""

    def __init__(self, *args, **kwargs):
        raise TypeError("cannot create 'ssl.SSLSession' instances")


# -- SSLContext ---------------------------------------------------------------------------

_NO_CLIENT_CERTS = "client certificates are not supported by the sandbox"

_DEFAULT_OPTIONS = (
    OP_ALL | OP_NO_SSLv3 | OP_NO_COMPRESSION | OP_CIPHER_SERVER_PREFERENCE
    | OP_ENABLE_MIDDLEBOX_COMPAT
)


class SSLContext:
    """An SSLContext holds TLS settings for wrap_socket().

    Only some settings reach the host: the server hostname (SNI and
    verification) and the ALPN protocols. Certificate verification is always
    on (host's trust roots); the other attributes are kept for compatibility.
    """

    sslsocket_class = None  # set below
    sslobject_class = None

    def __init__(self, protocol=None, *args, **kwargs):
        if protocol is None:
            import warnings

            warnings.warn("ssl.SSLContext() without protocol argument is deprecated.",
                          category=DeprecationWarning, stacklevel=2)
            protocol = PROTOCOL_TLS
        self._protocol = _SSLMethod(protocol)
        if self._protocol == PROTOCOL_TLS_CLIENT:
            self._check_hostname = True
            self._verify_mode = CERT_REQUIRED
        else:
            self._check_hostname = False
            self._verify_mode = CERT_NONE
        self._options = _DEFAULT_OPTIONS
        self._verify_flags = VERIFY_X509_TRUSTED_FIRST
        self._minimum_version = TLSVersion.TLSv1_2
        self._maximum_version = TLSVersion.MAXIMUM_SUPPORTED
        self._hostname_checks_common_name = True
        self._post_handshake_auth = False
        self._keylog_filename = None
        self._sni_callback = None
        self._alpn_protocols = None
        self._ciphers = _DEFAULT_CIPHERS
        self._num_tickets = 2

    # -- attributes

    @property
    def protocol(self):
        return self._protocol

    @property
    def check_hostname(self):
        return self._check_hostname

    @check_hostname.setter
    def check_hostname(self, value):
        value = bool(value)
        if value and self._verify_mode == CERT_NONE:
            self._verify_mode = CERT_REQUIRED
        self._check_hostname = value

    @property
    def verify_mode(self):
        """CERT_NONE is accepted but the host verifies certificates anyway."""
        return VerifyMode(self._verify_mode)

    @verify_mode.setter
    def verify_mode(self, value):
        value = VerifyMode(value)
        if value == CERT_NONE and self._check_hostname:
            raise ValueError("Cannot set verify_mode to CERT_NONE when check_hostname "
                             "is enabled.")
        self._verify_mode = value

    @property
    def options(self):
        return Options(self._options)

    @options.setter
    def options(self, value):
        self._options = int(value)

    @property
    def verify_flags(self):
        return VerifyFlags(self._verify_flags)

    @verify_flags.setter
    def verify_flags(self, value):
        self._verify_flags = int(value)

    @property
    def minimum_version(self):
        return self._minimum_version

    @minimum_version.setter
    def minimum_version(self, value):
        self._check_version_settable()
        self._minimum_version = TLSVersion(value)

    @property
    def maximum_version(self):
        return self._maximum_version

    @maximum_version.setter
    def maximum_version(self, value):
        self._check_version_settable()
        self._maximum_version = TLSVersion(value)

    def _check_version_settable(self):
        if self._protocol not in (PROTOCOL_TLS, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER):
            raise ValueError("The context's protocol doesn't support modification of "
                             "highest and lowest version.")

    @property
    def hostname_checks_common_name(self):
        return self._hostname_checks_common_name

    @hostname_checks_common_name.setter
    def hostname_checks_common_name(self, value):
        self._hostname_checks_common_name = bool(value)

    @property
    def post_handshake_auth(self):
        return self._post_handshake_auth

    @post_handshake_auth.setter
    def post_handshake_auth(self, value):
        self._post_handshake_auth = bool(value)

    @property
    def keylog_filename(self):
        """Accepted, but the host does not export TLS keys: nothing is written."""
        return self._keylog_filename

    @keylog_filename.setter
    def keylog_filename(self, value):
        if value is not None and not isinstance(value, (str, bytes, _os.PathLike)):
            raise TypeError("keylog_filename must be a str, bytes or os.PathLike")
        self._keylog_filename = value

    @property
    def sni_callback(self):
        return self._sni_callback

    @sni_callback.setter
    def sni_callback(self, value):
        if value is not None and not callable(value):
            raise TypeError("not a callable object")
        self._sni_callback = value

    def set_servername_callback(self, server_name_callback):
        self.sni_callback = server_name_callback

    @property
    def security_level(self):
        return 2

    @property
    def num_tickets(self):
        return self._num_tickets

    @num_tickets.setter
    def num_tickets(self, value):
        if self._protocol != PROTOCOL_TLS_SERVER:
            raise ValueError("SSLContext is not a server context.")
        self._num_tickets = int(value)

    # -- certificates

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        """Accepted and ignored: the host's trust roots decide."""
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        if cafile is not None:
            cafile = _os.fspath(cafile)
            if not _os.path.exists(cafile):
                raise FileNotFoundError(_errno.ENOENT, "No such file or directory")
        if capath is not None:
            _os.fspath(capath)
        if cadata is not None and not isinstance(cadata, str):
            try:
                memoryview(cadata)
            except TypeError:
                raise TypeError("cadata should be an ASCII string or a bytes-like "
                                "object") from None

    def load_default_certs(self, purpose=Purpose.SERVER_AUTH):
        if not isinstance(purpose, _ASN1Object):
            raise TypeError(purpose)

    def set_default_verify_paths(self):
        pass

    def load_cert_chain(self, certfile, keyfile=None, password=None):
        raise SSLError(_errno.ENOTSUP if hasattr(_errno, "ENOTSUP") else 0, _NO_CLIENT_CERTS)

    def get_ca_certs(self, binary_form=False):
        return []

    def cert_store_stats(self):
        return {"x509": 0, "crl": 0, "x509_ca": 0}

    def session_stats(self):
        keys = ("number", "connect", "connect_good", "connect_renegotiate", "accept",
                "accept_good", "accept_renegotiate", "hits", "misses", "timeouts",
                "cache_full")
        return dict.fromkeys(keys, 0)

    def load_dh_params(self, path):
        pass

    def set_ecdh_curve(self, name):
        pass

    # -- ciphers and protocols

    def set_ciphers(self, ciphers):
        """Accepted; the host chooses its cipher suites."""
        if not isinstance(ciphers, str):
            raise TypeError("set_ciphers() argument must be str")
        self._ciphers = ciphers

    def get_ciphers(self):
        return []

    def set_alpn_protocols(self, alpn_protocols):
        protos = []
        for proto in alpn_protocols:
            if not isinstance(proto, str):
                raise TypeError(f"ALPN protocols must be str, not {type(proto).__name__}")
            b = proto.encode("ascii")
            if len(b) == 0 or len(b) > 255:
                raise SSLError("ALPN protocols must be 1 to 255 in length")
            protos.append(proto)
        self._alpn_protocols = protos

    def set_npn_protocols(self, npn_protocols):
        import warnings

        warnings.warn("ssl NPN is deprecated, use ALPN instead", DeprecationWarning,
                      stacklevel=2)

    # -- wrapping

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True,
                    suppress_ragged_eofs=True, server_hostname=None, session=None):
        return self.sslsocket_class._create(
            sock=sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            context=self,
            session=session,
        )

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None,
                 session=None):
        raise NotImplementedError(_NO_BIO)

    def _encode_hostname(self, hostname):
        if hostname is None:
            return None
        if isinstance(hostname, str):
            return hostname.encode("idna").decode("ascii")
        return hostname.decode("ascii")


def create_default_context(purpose=Purpose.SERVER_AUTH, *, cafile=None, capath=None,
                           cadata=None):
    """Create a client SSLContext with secure defaults (host-verified certificates)."""
    if not isinstance(purpose, _ASN1Object):
        raise TypeError(purpose)
    if purpose == Purpose.SERVER_AUTH:
        context = SSLContext(PROTOCOL_TLS_CLIENT)
    elif purpose == Purpose.CLIENT_AUTH:
        context = SSLContext(PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    context.verify_flags |= VERIFY_X509_PARTIAL_CHAIN | VERIFY_X509_STRICT
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != CERT_NONE:
        context.load_default_certs(purpose)
    keylogfile = _os.environ.get("SSLKEYLOGFILE")
    if keylogfile and not _sys.flags.ignore_environment:
        context.keylog_filename = keylogfile
    return context


def _create_unverified_context(protocol=None, *, cert_reqs=CERT_NONE, check_hostname=False,
                               purpose=Purpose.SERVER_AUTH, certfile=None, keyfile=None,
                               cafile=None, capath=None, cadata=None):
    """Create an SSLContext with verify_mode CERT_NONE and check_hostname False.

    NOTE: in the sandbox the host STILL verifies the server certificate and
    hostname: the guest cannot turn verification off.
    """
    if not isinstance(purpose, _ASN1Object):
        raise TypeError(purpose)
    if purpose == Purpose.SERVER_AUTH:
        if protocol is None:
            protocol = PROTOCOL_TLS_CLIENT
    elif purpose == Purpose.CLIENT_AUTH:
        if protocol is None:
            protocol = PROTOCOL_TLS_SERVER
    else:
        raise ValueError(purpose)
    context = SSLContext(protocol)
    context.check_hostname = check_hostname
    if cert_reqs is not None:
        context.verify_mode = cert_reqs
    if check_hostname:
        context.check_hostname = True
    if keyfile and not certfile:
        raise ValueError("certfile must be specified")
    if certfile or keyfile:
        context.load_cert_chain(certfile, keyfile)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != CERT_NONE:
        context.load_default_certs(purpose)
    return context


_create_default_https_context = create_default_context
_create_stdlib_context = _create_unverified_context


# -- SSLSocket --------------------------------------------------------------------------------


def _tuplify(value):
    """JSON lists back to the tuples of getpeercert()."""
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuplify(v) for k, v in value.items()}
    return value


class SSLSocket(socket.socket):
    """A socket whose data the host encrypts (TLS client only).

    Created by SSLContext.wrap_socket(); reads and writes are plaintext.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError(
            f"{self.__class__.__name__} does not have a public constructor. "
            f"Instances are returned by SSLContext.wrap_socket()."
        )

    @classmethod
    def _create(cls, sock, server_side=False, do_handshake_on_connect=True,
                suppress_ragged_eofs=True, server_hostname=None, context=None,
                session=None):
        if sock.getsockopt(SOL_SOCKET, SO_TYPE) != SOCK_STREAM:
            raise NotImplementedError("only stream sockets are supported")
        if server_side:
            raise NotImplementedError("the sandbox cannot act as a TLS server "
                                      "(server_side=True is not supported)")
        if context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        if server_hostname is not None:
            if isinstance(server_hostname, str) and server_hostname.startswith("."):
                raise ValueError("server_hostname cannot start with a dot")
            server_hostname = context._encode_hostname(server_hostname)
        if session is not None:
            raise ValueError("TLS sessions are handled by the host; session must be None")

        kwargs = {"family": sock.family, "type": sock.type, "proto": sock.proto,
                      "fileno": sock.fileno()}
        self = cls.__new__(cls, **kwargs)
        super(SSLSocket, self).__init__(**kwargs)
        sock_timeout = sock.gettimeout()
        sock.detach()

        self._context = context
        self._session = None
        self.server_side = False
        self.server_hostname = server_hostname
        self.do_handshake_on_connect = do_handshake_on_connect
        self.suppress_ragged_eofs = suppress_ragged_eofs
        self._tls_started = False
        self._handshake_done = False
        self._tls_info = None
        self.settimeout(sock_timeout)

        conn = self._conn
        connected = conn.handle is not None
        self._connected = connected
        if connected:
            try:
                self._start_tls()
                if do_handshake_on_connect:
                    timeout = self.gettimeout()
                    if timeout == 0.0:
                        # non-blocking: like CPython, the caller retries do_handshake()
                        raise ValueError("do_handshake_on_connect should not be "
                                         "specified for non-blocking sockets")
                    self.do_handshake()
            except (OSError, ValueError):
                self.close()
                raise
        return self

    # -- properties

    @property
    def context(self):
        return self._context

    @context.setter
    def context(self, ctx):
        self._context = ctx

    @property
    def session(self):
        """TLS sessions are handled by the host: always None."""
        return None

    @session.setter
    def session(self, session):
        if session is not None:
            raise ValueError("TLS sessions are handled by the host; session must be None")

    @property
    def session_reused(self):
        return False

    @property
    def _sslobj(self):
        # httpcore reads sock._sslobj.selected_alpn_protocol(); the socket
        # itself has every SSLObject query method
        if self._tls_started and self._conn is not None:
            return self
        return None

    # -- TLS set-up

    def _start_tls(self):
        if self._tls_started:
            return
        conn = self._conn
        hostname = self.server_hostname
        if hostname is None:
            # no SNI requested: the host still verifies, against the connect address
            hostname = conn.host
        alpn = self._context._alpn_protocols
        conn.tls_pending = True
        _host.net_tls(conn.handle, hostname, list(alpn) if alpn else None)
        self._tls_started = True

    def _check_connected(self):
        if not self._connected:
            # getpeername() raises ENOTCONN
            self.getpeername()

    def do_handshake(self, block=False):
        """Wait for the host to finish the TLS handshake (per the socket timeout)."""
        conn = self._open_conn()
        self._check_connected()
        if self._handshake_done:
            return
        self._start_tls()
        timeout = self.gettimeout()
        if block:
            timeout = None
        deadline = None if timeout is None else _time.monotonic() + timeout
        handle = conn.handle
        while True:
            try:
                state = _host.net_state(handle)
            except OSError as e:
                conn.tls_pending = False
                raise _ssl_error(e) from None
            if state == 1:
                break
            if timeout == 0.0:
                raise SSLWantReadError(SSL_ERROR_WANT_READ,
                                       "The operation did not complete (read)")
            try:
                _socket._wait(handle, 2, deadline)
            except TimeoutError:
                raise TimeoutError("The handshake operation timed out") from None
        conn.tls_pending = False
        self._handshake_done = True

    def _ensure_handshake(self):
        if not self._handshake_done:
            self.do_handshake()

    # -- connecting

    def _real_connect(self, addr, connect_ex):
        if self.server_side:
            raise ValueError("can't connect in server-side mode")
        if self._connected or self._tls_started:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        try:
            if connect_ex:
                rc = super().connect_ex(addr)
            else:
                rc = None
                try:
                    super().connect(addr)
                except BlockingIOError:
                    # non-blocking: TLS starts with the connection
                    self._connected = True
                    self._start_tls()
                    raise
            if (rc in (None, 0, _errno.EINPROGRESS, _errno.EWOULDBLOCK)
                    and self._conn.handle is not None):
                self._connected = True
                self._start_tls()
                if not rc and self.do_handshake_on_connect:
                    self.do_handshake()
            return rc
        except (OSError, ValueError) as e:
            raise _ssl_error(e)

    def connect(self, addr):
        """Connect, then do the TLS handshake (if do_handshake_on_connect)."""
        self._real_connect(addr, False)

    def connect_ex(self, addr):
        return self._real_connect(addr, True)

    # -- queries

    def _tls(self):
        if not self._handshake_done:
            return None
        if self._tls_info is None:
            try:
                info = _json.loads(_host.net_info(self._conn.handle))
            except (OSError, AttributeError):
                return None
            if not info.get("tls"):
                return None  # not known yet: ask again next time
            self._tls_info = info["tls"]
        return self._tls_info

    def getpeercert(self, binary_form=False):
        """The server certificate (dict, or DER bytes with binary_form=True)."""
        self._open_conn()
        self._check_connected()
        if not self._handshake_done:
            raise ValueError("handshake not done yet")
        tls = self._tls() or {}
        if binary_form:
            der = tls.get("cert_der")
            return _base64.b64decode(der) if der else None
        cert = tls.get("cert")
        if cert is None:
            return None
        return _tuplify(cert)

    def selected_npn_protocol(self):
        return None

    def selected_alpn_protocol(self):
        tls = self._tls()
        return tls.get("alpn") if tls else None

    def cipher(self):
        tls = self._tls()
        if not tls or not tls.get("cipher"):
            return None
        name, proto, bits = tls["cipher"]
        return (name, proto, bits)

    def shared_ciphers(self):
        c = self.cipher()
        return [c] if c else None

    def version(self):
        tls = self._tls()
        return tls.get("version") if tls else None

    def compression(self):
        return None

    def pending(self):
        return 0

    def get_channel_binding(self, cb_type="tls-unique"):
        if cb_type not in CHANNEL_BINDING_TYPES:
            raise ValueError(f"{cb_type} channel binding type not implemented")
        # the host does not export the TLS finished message: no binding data

    def verify_client_post_handshake(self):
        raise NotImplementedError("post-handshake authentication is not supported by the sandbox")

    def unwrap(self):
        raise NotImplementedError("the sandbox cannot unwrap a TLS connection "
                                  "(the host owns the TLS layer)")

    def dup(self):
        raise NotImplementedError(f"Can't dup() {self.__class__.__name__} instances")

    # -- I/O (plaintext; the host encrypts)

    def _io(self, func, want, *args):
        self._ensure_handshake()
        try:
            return func(*args)
        except BlockingIOError:
            if want == "read":
                raise SSLWantReadError(SSL_ERROR_WANT_READ,
                                       "The operation did not complete (read)") from None
            raise SSLWantWriteError(SSL_ERROR_WANT_WRITE,
                                    "The operation did not complete (write)") from None
        except OSError as e:
            err = _ssl_error(e)
            if (want == "read" and isinstance(err, SSLEOFError)
                    and self.suppress_ragged_eofs):
                return None
            if err is e:
                raise
            raise err from None

    def read(self, len=1024, buffer=None):
        """Read up to len bytes (into buffer if given: returns the count)."""
        self._open_conn()
        if buffer is not None:
            n = self._io(super().recv_into, "read", buffer, len)
            return 0 if n is None else n
        data = self._io(super().recv, "read", len)
        return b"" if data is None else data

    def write(self, data):
        self._open_conn()
        return self._io(super().send, "write", data)

    def recv(self, buflen=1024, flags=0):
        if self._tls_started:
            if flags != 0:
                raise ValueError(f"non-zero flags not allowed in calls to recv() on {self.__class__}")
            return self.read(buflen)
        return super().recv(buflen, flags)

    def recv_into(self, buffer, nbytes=None, flags=0):
        if nbytes is None:
            nbytes = 0
        if self._tls_started:
            if flags != 0:
                raise ValueError(f"non-zero flags not allowed in calls to recv_into() on {self.__class__}")
            mv = memoryview(buffer)
            if nbytes == 0:
                nbytes = mv.nbytes
            return self.read(nbytes, buffer)
        return super().recv_into(buffer, nbytes, flags)

    def recvfrom(self, buflen=1024, flags=0):
        if self._tls_started:
            raise ValueError(f"recvfrom not allowed on instances of {self.__class__}")
        return super().recvfrom(buflen, flags)

    def recvfrom_into(self, buffer, nbytes=None, flags=0):
        if self._tls_started:
            raise ValueError(f"recvfrom_into not allowed on instances of {self.__class__}")
        return super().recvfrom_into(buffer, nbytes or 0, flags)

    def send(self, data, flags=0):
        if self._tls_started:
            if flags != 0:
                raise ValueError(f"non-zero flags not allowed in calls to send() on {self.__class__}")
            return self.write(data)
        return super().send(data, flags)

    def sendall(self, data, flags=0):
        if self._tls_started:
            if flags != 0:
                raise ValueError(f"non-zero flags not allowed in calls to sendall() on {self.__class__}")
            self._ensure_handshake()
            try:
                return super().sendall(data)
            except BlockingIOError:
                raise SSLWantWriteError(SSL_ERROR_WANT_WRITE,
                                        "The operation did not complete (write)") from None
            except OSError as e:
                err = _ssl_error(e)
                if err is e:
                    raise
                raise err from None
        return super().sendall(data, flags)

    def sendto(self, data, flags_or_addr, addr=None):
        if self._tls_started:
            raise ValueError(f"sendto not allowed on instances of {self.__class__}")
        return super().sendto(data, flags_or_addr, addr)

    def sendmsg(self, *args, **kwargs):
        raise NotImplementedError(f"sendmsg not allowed on instances of {self.__class__}")

    def recvmsg(self, *args, **kwargs):
        raise NotImplementedError(f"recvmsg not allowed on instances of {self.__class__}")

    def sendfile(self, file, offset=0, count=None):
        """Send a file (through send(): the host encrypts)."""
        return self._sendfile_use_send(file, offset, count)

    def shutdown(self, how):
        self._connected = False
        super().shutdown(how)

    def _real_close(self):
        self._tls_started = False
        super()._real_close()

    def accept(self):
        raise OSError(_errno.EOPNOTSUPP, "the sandbox cannot accept connections")


SSLContext.sslsocket_class = SSLSocket
SSLContext.sslobject_class = SSLObject


def get_server_certificate(addr, ssl_version=PROTOCOL_TLS_CLIENT, ca_certs=None, timeout=None):
    """Retrieve the certificate from the server at addr (host, port) as PEM.

    The host verifies it, so this only works for servers the host trusts.
    """
    host = addr[0]
    context = _create_stdlib_context(ssl_version, cert_reqs=CERT_NONE, cafile=ca_certs)
    kwargs = {} if timeout is None else {"timeout": timeout}
    with (create_connection(addr, **kwargs) as sock,
          context.wrap_socket(sock, server_hostname=host) as sslsock):
        dercert = sslsock.getpeercert(True)
    return DER_cert_to_PEM_cert(dercert)
