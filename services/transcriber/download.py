"""Downloading a message's media from Twilio: guarded, bounded, retried on 5xx.

Basic auth with the Twilio credentials goes only to the URL's own origin; redirects
are followed by hand, each hop checked against the media policy before it is
requested. The body is streamed and abandoned as soon as it passes the size cap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from prometheus_client import Counter

from services.transcriber.failures import DownloadFailed, MediaFailure, MediaRefused, TooLarge
from services.transcriber.media_policy import MediaPolicy, Resolver, origin_of, resolve
from services.transcriber.transport import PinnedTransport
from shared.logging import get_logger
from shared.retry import Backoff, retry

log = get_logger(__name__)

DOWNLOADS = Counter("switchboard_transcriber_downloads_total", "Media downloads by outcome", ["outcome"])
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int = 16 * 1024 * 1024
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    total_timeout_s: float = 60.0
    attempts: int = 3
    retry_base_s: float = 0.5
    max_redirects: int = 5


@dataclass(frozen=True)
class Downloaded:
    content: bytes
    content_type: str


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, MediaFailure) and exc.transient


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class MediaDownloader:
    """Fetches media URLs for the transcriber. One per process; `close()` at shutdown."""

    def __init__(
        self, policy: MediaPolicy, auth: tuple[str, str] | None, limits: DownloadLimits = DownloadLimits(),
        resolver: Resolver = resolve, inner: httpx.AsyncBaseTransport | None = None,
    ):
        self.policy = policy
        self.auth = httpx.BasicAuth(*auth) if auth else None
        self.limits = limits
        timeout = httpx.Timeout(limits.read_timeout_s, connect=limits.connect_timeout_s)
        self.client = httpx.AsyncClient(
            transport=PinnedTransport(policy, resolver, inner), timeout=timeout, follow_redirects=False, trust_env=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def fetch(self, url: str) -> Downloaded:
        """The media at `url`, or a MediaFailure saying why not (transient ones after retries)."""

        async def fetch_once() -> Downloaded:
            try:
                async with asyncio.timeout(self.limits.total_timeout_s):
                    return await self._fetch_once(parse_url(url))
            except TimeoutError:
                raise DownloadFailed(
                    f"media download took longer than {self.limits.total_timeout_s:g}s", transient=True
                ) from None

        def note_retry(failure: BaseException, attempt: int) -> None:
            DOWNLOADS.labels("retried").inc()
            log.warning("media_download_retry", attempt=attempt, reason=getattr(failure, "reason", str(failure)))

        policy = Backoff(self.limits.attempts, self.limits.retry_base_s, cap_s=float("inf"), jitter=0.5)
        try:
            result = await retry(fetch_once, policy, _transient, on_retry=note_retry)
        except MediaFailure as failure:
            DOWNLOADS.labels(failure.code).inc()
            raise
        DOWNLOADS.labels("ok").inc()
        return result

    async def _fetch_once(self, url: httpx.URL) -> Downloaded:
        first = origin_of(url)
        for _ in range(self.limits.max_redirects + 1):
            self.policy.check_url(url)
            # Credentials go to the media URL's own origin, never to where it redirects.
            auth = self.auth if origin_of(url) == first else None
            try:
                async with self.client.stream("GET", url, auth=auth) as response:
                    if response.status_code in REDIRECTS:
                        location = response.headers.get("location")
                        if not location:
                            raise DownloadFailed(f"media host answered {response.status_code} without a Location")
                        url = parse_url(location, base=url)
                        continue
                    self._check_status(response)
                    return Downloaded(await self._read_capped(response), _content_type(response))
            except httpx.TimeoutException as exc:
                raise DownloadFailed(f"media host timed out ({type(exc).__name__})", transient=True) from exc
            except httpx.TransportError as exc:
                raise DownloadFailed(f"media host unreachable ({type(exc).__name__})", transient=True) from exc
        raise MediaRefused(f"media URL redirected more than {self.limits.max_redirects} times")

    @staticmethod
    def _check_status(response: httpx.Response) -> None:
        status = response.status_code
        if status >= 500 or status == 429:
            raise DownloadFailed(f"media host answered {status}", transient=True)
        if not 200 <= status < 300:
            raise DownloadFailed(f"media host answered {status}")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        cap = self.limits.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise TooLarge(f"the media is {megabytes(int(declared))}; the limit is {megabytes(cap)}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise TooLarge(f"the media is over the {megabytes(cap)} limit")
            chunks.append(chunk)
        return b"".join(chunks)


def parse_url(text: str, base: httpx.URL | None = None) -> httpx.URL:
    """The URL, or MediaRefused (permanent: the same text fails the same way every time)."""
    try:
        return base.join(text) if base is not None else httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as exc:  # ValueError covers IDNA's UnicodeError
        raise MediaRefused(f"malformed media URL ({exc})"[:300]) from exc


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()
