"""An httpx transport that connects only where the media policy allows.

Each request's host is resolved here, every address is checked, and the connection
goes to the checked address (with the original Host header and TLS server name), so
a DNS answer that changes between the check and the connect cannot redirect it.
"""

from __future__ import annotations

import ipaddress

import httpx

from services.transcriber.failures import DownloadFailed
from services.transcriber.media_policy import MediaPolicy, Resolver, resolve


def _preferred(addresses: list[str]) -> list[str]:
    return sorted(addresses, key=lambda a: (ipaddress.ip_address(a.split("%")[0]).version, a))


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, policy: MediaPolicy, resolver: Resolver = resolve, inner: httpx.AsyncBaseTransport | None = None,
    ):
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpx.AsyncHTTPTransport(trust_env=False, retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        self.policy.check_url(url)
        host = url.host
        try:
            addresses = await self.resolver(host, url.port or (443 if url.scheme == "https" else 80))
        except OSError as exc:
            raise DownloadFailed(f"cannot resolve media host {host}: {exc}", transient=True) from exc
        self.policy.check_addresses(url, addresses)
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = host
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=_preferred(addresses)[0]),
            headers=request.headers,  # keeps the original Host header
            stream=request.stream,
            extensions=extensions,
        )
        return await self.inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self.inner.aclose()
