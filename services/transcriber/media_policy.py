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
from typing import Awaitable, Callable

import httpx

from services.transcriber.failures import DownloadFailed, MediaRefused

Resolver = Callable[[str, int], Awaitable[list[str]]]
Origin = tuple[str, str, int]

TWILIO_MEDIA_HOSTS = ("api.twilio.com", "*.twiliocdn.com")


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
