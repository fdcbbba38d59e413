"""Outbound HTTP that cannot be turned against the host's own network (SSRF).

Every request, redirects included, resolves its host first and checks every A / AAAA answer: private,
loopback, link-local, shared (CGNAT 100.64/10), "this network" (0/8), multicast, reserved and
unspecified addresses are refused, also when hidden in IPv6 (IPv4-mapped, 6to4, Teredo), unless an
allow-list entry (a host name or a CIDR) names them. The connection then goes to the address that was
checked (no second lookup an attacker's DNS could answer differently), with the original Host header
and TLS server name. Responses larger than the client's cap are cut off with an error, never buffered."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx

from loopdesk.core.tracing import traced_request, traced_request_sync

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(httpx.RequestError):
    """The request would reach an address the policy forbids."""

    def __init__(self, message: str, *, request: Any = None) -> None:
        super().__init__(message)
        if isinstance(request, httpx.Request):
            self.request = request


class ResponseTooLarge(httpx.RequestError):
    """The response body is larger than the client accepts."""


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (IPv4-mapped, 6to4, Teredo client and server)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _public(address: IPAddress) -> bool:
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


@dataclass(frozen=True)
class OutboundPolicy:
    # (host, port): port None allows every port of the host.
    allowed_hosts: frozenset[tuple[str, int | None]] = frozenset()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default_factory=tuple)

    @classmethod
    def from_allowlist(cls, entries: Iterable[str]) -> OutboundPolicy:
        """Entries: a host name, `host:port`, `[v6]:port`, an address or a CIDR."""
        hosts: set[tuple[str, int | None]] = set()
        networks = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host, port = entry, None
            if entry.startswith("[") and "]" in entry:  # [v6]:port
                host, _, rest = entry[1:].partition("]")
                port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
            elif entry.count(":") == 1 and entry.rpartition(":")[2].isdigit():
                host, _, digits = entry.rpartition(":")
                port = int(digits)
            hosts.add((host.lower().rstrip("."), port))
        return cls(frozenset(hosts), tuple(networks))

    def permits(self, host: str, address: IPAddress, port: int | None = None) -> bool:
        name = host.lower().rstrip(".")
        if (name, None) in self.allowed_hosts or (port is not None and (name, port) in self.allowed_hosts):
            return True
        if any(address in net for net in self.allowed_networks):
            return True
        embedded = _embedded_ipv4(address)
        if embedded:  # judged by the IPv4 address it reaches (an allow-listed one included)
            return all(any(a in net for net in self.allowed_networks) or _public(a) for a in embedded)
        return _public(address)


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


def _check_destination(policy: OutboundPolicy, url: Any, addresses: list[IPAddress], request: Any) -> str:
    """The address to connect to, or UnsafeDestination when any answer for the host is refused."""
    port = url.port or (443 if url.scheme == "https" else 80)
    refused = [a for a in addresses if not policy.permits(url.host, a, port)]
    if refused or not addresses:
        raise UnsafeDestination(
            f"{url.host} resolves to a private or reserved address ({refused[0] if refused else 'none'}); "
            "add it to LOOPDESK_NET_ALLOWLIST to allow it",
            request=request,
        )
    return str(addresses[0])


def _pinned(request: Any, address: str) -> None:
    """Send the request to the address that was checked, with the original Host header and TLS name."""
    url = request.url
    request.url = url.copy_with(host=address)
    request.headers["Host"] = url.netloc.decode("ascii")
    if url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": url.host}


def _checked_url(request: Any) -> Any:
    url = request.url
    if url.scheme not in ("http", "https") or not url.host:
        raise UnsafeDestination(f"only http(s) URLs with a host are allowed, not {url.scheme}://", request=request)
    return url


def _resolve_blocking(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


@functools.cache
def _transports(module: ModuleType) -> tuple[type, type]:
    """The safe (async, sync) transports for an httpx-API module: `httpx` itself, or `httpx2`, which the
    current OpenAI and Anthropic SDKs are built on."""

    class CappedStream(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, cap: int, request: Any):
            self.inner, self.cap, self.request = inner, cap, request

        async def __aiter__(self):  # type: ignore[no-untyped-def]
            seen = 0
            async for chunk in self.inner:
                seen += len(chunk)
                if seen > self.cap:
                    raise ResponseTooLarge(f"response larger than {self.cap} bytes", request=self.request)
                yield chunk

        async def aclose(self) -> None:
            await self.inner.aclose()

    class AsyncSafe(module.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        def __init__(self, policy: OutboundPolicy, *, max_response_bytes: int | None = None, **options: Any):
            self.policy = policy
            self.max_response_bytes = max_response_bytes
            self.inner = module.AsyncHTTPTransport(**options)

        async def handle_async_request(self, request: Any) -> Any:
            return await traced_request(request, self._send)  # a client span when tracing is on

        async def _send(self, request: Any) -> Any:
            url = _checked_url(request)
            try:
                addresses = await resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
            except OSError as exc:
                raise module.ConnectError(f"cannot resolve {url.host}: {exc}", request=request) from exc
            _pinned(request, _check_destination(self.policy, url, addresses, request))
            response = await self.inner.handle_async_request(request)
            cap = self.max_response_bytes
            if cap is not None:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    await response.aclose()
                    raise ResponseTooLarge(f"response of {declared} bytes is larger than {cap}", request=request)
                response.stream = CappedStream(response.stream, cap, request)
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

    class SyncSafe(module.BaseTransport):  # type: ignore[name-defined,misc]
        """For SDK clients that also build a blocking client (uncapped: used by model calls only)."""

        def __init__(self, policy: OutboundPolicy, **options: Any):
            self.policy = policy
            self.inner = module.HTTPTransport(**options)

        def handle_request(self, request: Any) -> Any:
            return traced_request_sync(request, self._send)

        def _send(self, request: Any) -> Any:
            url = _checked_url(request)
            try:
                addresses = _resolve_blocking(url.host, url.port or (443 if url.scheme == "https" else 80))
            except OSError as exc:
                raise module.ConnectError(f"cannot resolve {url.host}: {exc}", request=request) from exc
            _pinned(request, _check_destination(self.policy, url, addresses, request))
            return self.inner.handle_request(request)

        def close(self) -> None:
            self.inner.close()

    return AsyncSafe, SyncSafe


SafeTransport = _transports(httpx)[0]


def safe_client(
    policy: OutboundPolicy, *, timeout: float = 10.0, max_response_bytes: int | None = 10 * 1024 * 1024, **options
) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    """An httpx client whose every request (and redirect) passes the policy, and whose responses are
    capped at `max_response_bytes` (None: no cap)."""
    return httpx.AsyncClient(
        transport=SafeTransport(policy, max_response_bytes=max_response_bytes),
        timeout=timeout,
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": "loopdesk"},
        **options,
    )


def safe_sdk_clients(policy: OutboundPolicy, *, timeout: float) -> tuple[Any, Any]:
    """(blocking, async) `httpx2` clients for the OpenAI / Anthropic SDKs: model calls to an operator's base URL
    pass the same policy as every other outbound request (a local vLLM or Ollama: LOOPDESK_NET_ALLOWLIST)."""
    import httpx2

    async_transport, sync_transport = _transports(httpx2)
    return (
        httpx2.Client(transport=sync_transport(policy), timeout=timeout),
        httpx2.AsyncClient(transport=async_transport(policy), timeout=timeout),
    )


def _absolute(url: str) -> httpx.URL:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeDestination(f"{url!r} is not an absolute http(s) URL")
    return parsed


async def check_url(url: str, policy: OutboundPolicy) -> None:
    """Raise UnsafeDestination unless every address the URL's host resolves to passes the policy (a URL kept
    for later use, checked when it is given). OSError when the host does not resolve."""
    parsed = _absolute(url)
    addresses = await resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
    _check_destination(policy, parsed, addresses, None)


def check_url_blocking(url: str, policy: OutboundPolicy) -> None:
    """`check_url` with a blocking lookup, for clients that cannot take our transport (gRPC) and build
    outside the event loop's reach."""
    parsed = _absolute(url)
    addresses = _resolve_blocking(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
    _check_destination(policy, parsed, addresses, None)
