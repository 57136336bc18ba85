"""The network policy (NetConfig) and secrets, as pyeryx 0.11 has them.

The host enforces both (docs/network.md): names are checked against the
host patterns before anything is resolved, every address a name resolves
to is checked against the blocked networks, TLS is the host's with
verification always on, and a secret's value reaches only HTTP/1.x header
values sent to its allowed hosts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["NetConfig", "net_args"]

_DEFAULT_BLOCKED_HOSTS = (
    "localhost",
    "*.localhost",
    "127.*",
    "10.*",
    *(f"172.{n}.*" for n in range(16, 32)),
    "192.168.*",
    "169.254.*",
    "[::1]",
)
_DEFAULT_BLOCKED_NETWORKS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "2002::/16",
    "64:ff9b:1::/48",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)


def _cidr(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError("a network must be a CIDR string")
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError as e:
        raise ValueError(f"invalid CIDR {text!r}: {e}") from None
    return text


def _patterns(value: Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raise TypeError(f"{what} must be a list of strings")
    out = list(value)
    for p in out:
        if not isinstance(p, str):
            raise TypeError(f"{what} must be a list of strings")
    return out


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int")
    return value


class NetConfig:
    """Network configuration for sandbox execution.

    Without one, a sandbox has no network.  With one, the code's sockets,
    ``ssl``, ``urllib``, ``http.client``, ``requests``, ``httpx`` and
    ``asyncio`` connections go through the host under this policy.

    Example::

        net = NetConfig(allowed_hosts=["api.example.com", "*.openai.com"])
        sandbox = Sandbox(network=net)
    """

    def __init__(
        self,
        *,
        max_connections: int = 10,
        connect_timeout_ms: int = 30000,
        io_timeout_ms: int = 60000,
        allowed_hosts: Sequence[str] | None = None,
        blocked_hosts: Sequence[str] | None = None,
        blocked_networks: Sequence[str] | None = None,
        allowed_networks: Sequence[str] | None = None,
        internal_hosts: Sequence[str] | None = None,
        allow_all_hosts: bool | None = None,
    ) -> None:
        self.max_connections = _int(max_connections, "max_connections")
        self.connect_timeout_ms = _int(connect_timeout_ms, "connect_timeout_ms")
        self.io_timeout_ms = _int(io_timeout_ms, "io_timeout_ms")
        self.allowed_hosts = _patterns(allowed_hosts, "allowed_hosts")
        self.blocked_hosts = (
            list(_DEFAULT_BLOCKED_HOSTS)
            if blocked_hosts is None
            else _patterns(blocked_hosts, "blocked_hosts")
        )
        self._blocked_networks = [
            _cidr(c)
            for c in (_DEFAULT_BLOCKED_NETWORKS if blocked_networks is None else blocked_networks)
        ]
        self._allowed_networks = [_cidr(c) for c in (allowed_networks or [])]
        self.internal_hosts = _patterns(internal_hosts, "internal_hosts")
        self.allow_all_hosts = (
            not self.allowed_hosts if allow_all_hosts is None else bool(allow_all_hosts)
        )
        self._root_certs: list[bytes] = []
        self._resolve: list[tuple[str, str]] = []

    @property
    def blocked_networks(self) -> list[str]:
        """CIDRs a host's resolved addresses must not fall in."""
        return list(self._blocked_networks)

    @blocked_networks.setter
    def blocked_networks(self, value: Sequence[str]) -> None:
        self._blocked_networks = [_cidr(c) for c in value]

    @property
    def allowed_networks(self) -> list[str]:
        """CIDRs exempt from blocked_networks."""
        return list(self._allowed_networks)

    @allowed_networks.setter
    def allowed_networks(self, value: Sequence[str]) -> None:
        self._allowed_networks = [_cidr(c) for c in value]

    @staticmethod
    def permissive() -> NetConfig:
        """Every host, localhost and private networks included (as the
        reference's permissive(): nothing blocked).  Use with care."""
        return NetConfig(max_connections=100, blocked_hosts=[], blocked_networks=[])

    def allow_host(self, pattern: str) -> NetConfig:
        """Add a host pattern to the allowed list (``*.example.com``)."""
        self.allowed_hosts.append(_patterns([pattern], "pattern")[0])
        return self

    def block_host(self, pattern: str) -> NetConfig:
        """Add a host pattern to the blocked list (checked first)."""
        self.blocked_hosts.append(_patterns([pattern], "pattern")[0])
        return self

    def allow_network(self, cidr: str) -> NetConfig:
        """Allow addresses in `cidr` even though they fall in a blocked network."""
        self._allowed_networks.append(_cidr(cidr))
        return self

    def allow_internal_host(self, pattern: str) -> NetConfig:
        """Let names matching `pattern` resolve into blocked networks (only
        names whose DNS you control)."""
        self.internal_hosts.append(_patterns([pattern], "pattern")[0])
        return self

    def allow_localhost(self) -> NetConfig:
        """Allow localhost: its host patterns and loopback networks leave the
        blocked lists."""
        self.blocked_hosts = [
            p
            for p in self.blocked_hosts
            if "localhost" not in p and not p.startswith("127.") and "::1" not in p
        ]
        self._blocked_networks = [
            c for c in self._blocked_networks if c not in ("127.0.0.0/8", "::1/128")
        ]
        return self

    def with_root_cert(self, cert_der: bytes) -> NetConfig:
        """Also trust this root certificate (DER, or PEM) for TLS."""
        if not isinstance(cert_der, (bytes, bytearray)) or not cert_der:
            raise TypeError("cert_der must be non-empty bytes")
        self._root_certs.append(bytes(cert_der))
        return self

    def resolve(self, host: str, address: str) -> NetConfig:
        """Resolve `host` to `address` instead of asking DNS (as curl's
        --resolve); the address is still checked against the networks.
        An eryx extension."""
        if not isinstance(host, str) or not isinstance(address, str):
            raise TypeError("host and address must be strings")
        ipaddress.ip_address(address)
        self._resolve.append((host, address))
        return self

    def _spec(self) -> tuple[Any, ...]:
        blocked = list(self.blocked_hosts)
        if not self.allow_all_hosts and not self.allowed_hosts:
            blocked.append("*")
        return (
            self.max_connections,
            self.connect_timeout_ms,
            self.io_timeout_ms,
            list(self.allowed_hosts),
            blocked,
            list(self._blocked_networks),
            list(self._allowed_networks),
            list(self.internal_hosts),
            list(self._root_certs),
            list(self._resolve),
        )

    def __repr__(self) -> str:
        return (
            f"NetConfig(max_connections={self.max_connections}, "
            f"connect_timeout_ms={self.connect_timeout_ms}, "
            f"io_timeout_ms={self.io_timeout_ms}, "
            f"allow_all_hosts={'true' if self.allow_all_hosts else 'false'}, "
            f"allowed_hosts={self.allowed_hosts!r}, "
            f"blocked_hosts=[{len(self.blocked_hosts)} patterns], "
            f"blocked_networks=[{len(self._blocked_networks)} networks], "
            f"allowed_networks={self._allowed_networks!r}, "
            f"internal_hosts={self.internal_hosts!r})"
        )


def _secrets(secrets: Mapping[str, Any] | None) -> list[tuple[str, str, list[str]]]:
    if secrets is None:
        return []
    if not isinstance(secrets, Mapping):
        raise TypeError("secrets must be a dict")
    out = []
    for name, spec in secrets.items():
        if not isinstance(name, str):
            raise TypeError("secret names must be strings")
        if not isinstance(spec, Mapping):
            raise TypeError(f"secret '{name}' value must be a dict with a 'value' key")
        if "value" not in spec:
            raise ValueError(f"secret '{name}' dict must contain a 'value' key")
        value = spec["value"]
        if not isinstance(value, str):
            raise TypeError(f"secret '{name}' value must be a string")
        hosts = spec.get("allowed_hosts", [])
        if (
            isinstance(hosts, str)
            or not isinstance(hosts, Sequence)
            or not all(isinstance(h, str) for h in hosts)
        ):
            raise TypeError(f"secret '{name}' allowed_hosts must be a list of strings")
        out.append((name, value, list(hosts)))
    return out


_SCRUB_STDOUT, _SCRUB_STDERR, _SCRUB_FILES, _SCRUB_RESULT = 1, 2, 4, 8


def net_args(
    network: NetConfig | None = None,
    secrets: Mapping[str, Any] | None = None,
    scrub_stdout: bool | None = None,
    scrub_stderr: bool | None = None,
    scrub_files: bool | None = None,
    scrub_result: bool | None = None,
) -> tuple[Any, ...] | None:
    """What the C layer takes: (policy spec or None, secrets, scrub flags),
    or None for neither network nor secrets."""
    if network is not None and not isinstance(network, NetConfig):
        raise TypeError("network must be a NetConfig")
    items = _secrets(secrets)
    default = bool(items)
    flags = 0
    for value, bit in (
        (scrub_stdout, _SCRUB_STDOUT),
        (scrub_stderr, _SCRUB_STDERR),
        (scrub_files, _SCRUB_FILES),
    ):
        if default if value is None else value:
            flags |= bit
    if scrub_result:
        flags |= _SCRUB_RESULT
    if network is None and not items:
        return None
    return (network._spec() if network is not None else None, items, flags)
