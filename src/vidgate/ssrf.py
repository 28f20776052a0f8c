"""The SSRF guard: a URL a user gave us (an input image, a webhook target) is fetched or called
only if it is http(s) and every address its host resolves to is public — no loopback,
link-local, private, shared, multicast or reserved ranges, and no IPv6 form that embeds such an
IPv4 address — unless an operator allow-listed the host or its network (``VIDGATE_SSRF_ALLOW``:
hosts and CIDRs).

The guard runs twice. ``check_url`` judges a URL at admission (and before each redirect hop),
so a bad one is refused with a clear error before anything is queued. ``GuardedTransport``
judges it again where it matters, when connecting: it resolves the host itself, checks every
address, and connects to a checked address — so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot reach a private address. The ``Host`` header, TLS SNI and
certificate verification still use the URL's own host name.

Both resolve through ``resolver`` (a module-level hook: ``system_resolver`` unless replaced) or
through a resolver passed to them."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

import httpx

from .exceptions import InvalidRequest

__all__ = ["GuardedTransport", "Resolver", "check_url", "forbidden", "system_resolver"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``(host, port) -> addresses``: how the guard turns a host name into addresses.
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


#: The resolver ``check_url`` and ``GuardedTransport`` use when none is passed to them.
resolver: Resolver = system_resolver

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4-mapped
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # IPv4-compatible (deprecated)
_6TO4 = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215)


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and leads to (mapped, 6to4, NAT64)."""
    if address in _MAPPED:
        return address.ipv4_mapped
    if address in _6TO4:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden(address: _Address) -> bool:
    """Whether the guard refuses to connect to ``address`` (unless allow-listed)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _COMPATIBLE or address in _TEREDO or address in _NAT64_LOCAL:
            # IPv4-compatible is deprecated, Teredo reaches whatever its relay is told,
            # local-use NAT64 is never public: refused whole.
            return True
        inner = _embedded(address)
        if inner is not None and forbidden(inner):
            return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
    )


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


def _parse(raw: Iterable[str]) -> list[_Address]:
    return [ipaddress.ip_address(str(a).split("%")[0]) for a in raw]


def _refused(label: str, host: str) -> InvalidRequest:
    # The message names neither the address nor anything else the host resolved to: that
    # would turn the guard into a resolver of internal names.
    return InvalidRequest(
        f"{label} points at a non-public address; an operator can allow it with VIDGATE_SSRF_ALLOW",
        details={"host": host},
    )


def check_url(
    url: str,
    *,
    allow: Iterable[str] = (),
    label: str = "url",
    resolve: Resolver | None = None,
) -> str:
    """Return ``url`` if it may be fetched; raise ``InvalidRequest`` saying why not."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise InvalidRequest(f"{label} must be an http(s) URL with a host name")
    if parts.username or parts.password:
        raise InvalidRequest(f"{label} must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidRequest(f"{label} must be an http(s) URL with a valid port") from None
    try:
        addresses = _parse((resolve or resolver)(host, port))
    except (OSError, UnicodeError, ValueError):
        raise InvalidRequest(f"{label} host {host!r} does not resolve") from None
    if not addresses:
        raise InvalidRequest(f"{label} host {host!r} does not resolve")
    allow = list(allow)
    if _allowed(host, addresses, allow):
        return url
    if any(forbidden(a) for a in addresses):
        raise _refused(label, host)
    return url


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to addresses the guard accepts.

    For each request it resolves the URL's host (``resolve``, else the module's ``resolver``),
    refuses with ``InvalidRequest`` if any address is non-public and not allow-listed, and
    sends the request to a checked address (the next one if a connection fails). The request
    keeps its ``Host`` header, and TLS uses the host name for SNI and certificate checks (the
    ``sni_hostname`` extension). Connections are pooled per host name, so a connection
    verified for one name is never reused for another name on the same address. Use it with
    ``trust_env=False``: a proxy from the environment would connect on the guard's behalf to
    whatever it resolves. ``verify`` is httpx's (True, or an ``ssl.SSLContext``)."""

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        label: str = "url",
        resolve: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allow = list(allow)
        self.label = label
        self.resolve = resolve
        self.verify = verify
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}

    def _pool(self, host: str) -> httpx.AsyncHTTPTransport:
        pool = self._pools.get(host)
        if pool is None:
            pool = self._pools[host] = httpx.AsyncHTTPTransport(verify=self.verify, trust_env=False)
        return pool

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[_Address]:
        resolve = self.resolve or resolver
        try:
            # The lookup counts against the connect timeout, as httpx's own lookup does.
            found = await asyncio.wait_for(asyncio.to_thread(resolve, host, port), timeout)
            addresses = _parse(found)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"looking up {host!r} timed out") from None
        except (OSError, UnicodeError, ValueError) as exc:
            raise httpx.ConnectError(f"{host!r} does not resolve: {exc}") from None
        if not addresses:
            raise httpx.ConnectError(f"{host!r} does not resolve")
        if not _allowed(host, addresses, self.allow) and any(forbidden(a) for a in addresses):
            raise _refused(self.label, host)
        return addresses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.raw_host.decode("ascii")  # IDNA-encoded, as DNS and TLS want it
        if url.scheme not in ("http", "https") or not host:
            raise InvalidRequest(f"{self.label} must be an http(s) URL with a host name")
        port = url.port or (443 if url.scheme == "https" else 80)
        timeouts = request.extensions.get("timeout") or {}
        addresses = await self._addresses(host, port, timeouts.get("connect"))
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions.setdefault("sni_hostname", host)
        error: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=request.headers,  # the Host header names the original host
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._pool(host).handle_async_request(pinned)
            except httpx.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
