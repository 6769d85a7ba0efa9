"""Which media URLs the transcriber may fetch, and which addresses it may connect to.

Outside sandbox mode a URL must be https, on an allowed host (exact name or
`*.suffix`, port 443 unless the pattern names one), and every address its host
resolves to must be public: no loopback, private, link-local, shared, reserved or
multicast address. In sandbox mode the one origin of the local Twilio emulator
(`TWILIO_API_BASE_URL`) is also allowed, over http and on loopback; nothing else is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Awaitable, Callable, cast

import httpx

from services.transcriber.failures import DownloadFailed, MediaRefused

Resolver = Callable[[str, int], Awaitable[list[str]]]
Origin = tuple[str, str, int]

TWILIO_MEDIA_HOSTS = ("api.twilio.com", "*.twiliocdn.com")


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # typeshed's sockaddr covers every family; for the IP families getaddrinfo answers, [0] is the address.
    return sorted({cast(str, info[4][0]) for info in infos})


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the IPv4 address is the last 32 bits
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # local-use translation prefix (RFC 8215)
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, IPv4-compatible), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def is_public_address(address: str) -> bool:
    """True for a global unicast address; an IPv6 address that embeds an IPv4 one (or is
    a Teredo or local NAT64 address) counts as what it embeds, or as not public."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None or ip in LOCAL_NAT64:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_public_address(str(inner))
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> str | None:
    """The address a URL host names literally, in any form a resolver accepts: dotted,
    a single integer (2130706433), hex or octal parts (0x7f.1, 0177.0.0.1), IPv6; or None
    for a host name."""
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except (OSError, UnicodeError, ValueError):
        return None


def origin_of(url: httpx.URL) -> Origin:
    return (url.scheme, (url.host or "").lower().rstrip("."), url.port or (443 if url.scheme == "https" else 80))


@dataclass(frozen=True)
class HostPattern:
    name: str  # "api.twilio.com" or "*.twiliocdn.com"
    port: int = 443

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        name, _, port = text.strip().lower().rstrip(".").partition(":")
        if not name:
            raise ValueError(f"empty host pattern in {text!r}")
        return cls(name, int(port) if port else 443)

    def matches(self, host: str, port: int) -> bool:
        if port != self.port:
            return False
        if self.name.startswith("*."):
            return host.endswith(self.name[1:]) and len(host) > len(self.name) - 1
        return host == self.name


@dataclass(frozen=True)
class MediaPolicy:
    allowed_hosts: tuple[HostPattern, ...]
    sandbox_origin: Origin | None = None

    @classmethod
    def from_patterns(cls, patterns: list[str] | tuple[str, ...], sandbox_base_url: str | None = None) -> MediaPolicy:
        sandbox = origin_of(httpx.URL(sandbox_base_url)) if sandbox_base_url else None
        return cls(tuple(HostPattern.parse(p) for p in patterns if p.strip()), sandbox)

    def is_sandbox(self, url: httpx.URL) -> bool:
        return self.sandbox_origin is not None and origin_of(url) == self.sandbox_origin

    def check_url(self, url: httpx.URL) -> None:
        """Refuse a URL (before any connection) unless it is one we fetch."""
        if self.is_sandbox(url):
            return
        scheme, host, port = origin_of(url)
        if not 0 < port < 65536:
            raise MediaRefused(f"media URL port {port} refused: it does not exist")
        address = literal_address(host)
        if address is not None and not is_public_address(address):
            raise MediaRefused(f"media URL names a non-public address ({address})")
        if scheme != "https":
            raise MediaRefused(f"media URL scheme {scheme!r} refused: only https is fetched")
        if url.userinfo:
            raise MediaRefused("media URL with embedded credentials refused")
        if not any(pattern.matches(host, port) for pattern in self.allowed_hosts):
            raise MediaRefused(f"media host {host}:{port} is not on the allow list")

    def check_addresses(self, url: httpx.URL, addresses: list[str]) -> None:
        """Refuse unless every address the host resolved to may be connected to."""
        if not addresses:
            raise DownloadFailed(f"media host {url.host} resolved to no address", transient=True)
        if self.is_sandbox(url):
            return
        private = [a for a in addresses if not is_public_address(a)]
        if private:
            raise MediaRefused(f"media host {url.host} resolves to a non-public address ({private[0]})")
