"""The SSRF guard: a URL a user gave us (an input image, a webhook target) is fetched or called
only if it is http(s) and every address its host resolves to is public — no loopback,
link-local, private, shared, multicast or reserved ranges — unless an operator allow-listed the
host or its network (``VIDGATE_SSRF_ALLOW``: comma-separated hosts and CIDRs)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from .exceptions import InvalidRequest

__all__ = ["check_url"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _forbidden(address: _Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
    )


_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT


def _allowed(host: str, addresses: list[_Address], allow: Iterable[str]) -> bool:
    for entry in allow:
        entry = entry.strip()
        if not entry:
            continue
        if entry.lower() == host.lower():
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(a in network for a in addresses):
            return True
    return False


def check_url(url: str, *, allow: Iterable[str] = (), label: str = "url") -> str:
    """Return ``url`` if it may be fetched; raise ``InvalidRequest`` saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{label} must be an http(s) URL, not {url[:200]!r}")
    if parts.username or parts.password:
        raise InvalidRequest(f"{label} must not carry credentials")
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        raise InvalidRequest(f"{label} host {host!r} does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    allow = list(allow)
    if _allowed(host, addresses, allow):
        return url
    bad = [a for a in addresses if _forbidden(a)]
    if bad:
        raise InvalidRequest(
            f"{label} points at a non-public address ({bad[0]}); "
            "an operator can allow it with VIDGATE_SSRF_ALLOW",
            details={"host": host},
        )
    return url
