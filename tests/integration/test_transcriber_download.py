"""Media downloads: auth, redirects, caps, retries, and URLs refused without a request.

https flows run on httpx's MockTransport behind the real pinning transport (no socket
is opened); refusals are also proven against real servers on loopback, which must see
no request at all.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from services.transcriber.download import DownloadLimits, MediaDownloader
from services.transcriber.failures import DownloadFailed, MediaRefused, TooLarge
from services.transcriber.media_policy import TWILIO_MEDIA_HOSTS, MediaPolicy
from tests.transcriber_rig import (  # noqa: F401 - fixtures
    SID,
    TOKEN,
    LoopbackMediaHost,
    emulator,
    media_host,
    sandbox_policy,
    voice,
)
from tests.waiting import scaled

TWILIO = MediaPolicy.from_patterns(TWILIO_MEDIA_HOSTS)
MEDIA_URL = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1"
LIMITS = DownloadLimits(max_bytes=64 * 1024, attempts=3, retry_base_s=0.01, read_timeout_s=0.5, total_timeout_s=5)
PUBLIC = ["54.172.60.1"]


class Recorder:
    """A MockTransport handler: answers from a script and records every request and resolve."""

    def __init__(self, *answers: httpx.Response):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.resolved: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append(host)
        return ["127.0.0.1"] if host == "rebound.twiliocdn.com" else PUBLIC

    def downloader(self, limits: DownloadLimits = LIMITS) -> MediaDownloader:
        return MediaDownloader(TWILIO, (SID, TOKEN), limits, self.resolve, httpx.MockTransport(self))


def redirect(location: str, status: int = 307) -> httpx.Response:
    return httpx.Response(status, headers={"location": location})


def audio(content: bytes = b"OggS-audio", **headers: str) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "audio/ogg", **headers})


async def test_auth_goes_to_twilio_and_never_follows_a_redirect_to_the_cdn():
    fake = Recorder(redirect("https://mms.twiliocdn.com/AC1/signed?Expires=1"), audio())
    got = await fake.downloader().fetch(MEDIA_URL)
    assert got.content == b"OggS-audio" and got.content_type == "audio/ogg"
    first, second = fake.requests
    assert first.headers["authorization"] == httpx.BasicAuth(SID, TOKEN)._auth_header
    assert second.headers["host"] == "mms.twiliocdn.com" and "authorization" not in second.headers


@pytest.mark.parametrize(
    "location", ["https://evil.example.com/x", "http://mms.twiliocdn.com/x", "https://rebound.twiliocdn.com/x"]
)
async def test_redirects_to_disallowed_places_are_refused_before_the_hop(location):
    fake = Recorder(redirect(location), audio())
    with pytest.raises(MediaRefused):
        await fake.downloader().fetch(MEDIA_URL)
    assert len(fake.requests) == 1


async def test_endless_redirects_stop():
    fake = Recorder(redirect("https://mms.twiliocdn.com/again"))
    with pytest.raises(MediaRefused, match="redirected more than"):
        await fake.downloader().fetch(MEDIA_URL)
    assert len(fake.requests) == LIMITS.max_redirects + 1


async def test_5xx_is_retried_then_succeeds():
    fake = Recorder(httpx.Response(503), httpx.Response(502), audio())
    assert (await fake.downloader().fetch(MEDIA_URL)).content == b"OggS-audio"
    assert len(fake.requests) == 3


async def test_5xx_every_time_is_a_transient_failure_after_the_attempts():
    fake = Recorder(httpx.Response(500))
    with pytest.raises(DownloadFailed) as caught:
        await fake.downloader().fetch(MEDIA_URL)
    assert caught.value.transient and len(fake.requests) == LIMITS.attempts


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_4xx_is_not_retried(status):
    fake = Recorder(httpx.Response(status))
    with pytest.raises(DownloadFailed) as caught:
        await fake.downloader().fetch(MEDIA_URL)
    assert not caught.value.transient and len(fake.requests) == 1


async def test_declared_size_over_the_cap_is_refused_without_reading_the_body():
    read = []

    async def body():
        read.append(1)
        yield b"x" * 1024

    fake = Recorder(httpx.Response(200, headers={"content-length": str(17 * 1024 * 1024)}, content=body()))
    with pytest.raises(TooLarge, match="17.0 MB; the limit is 0.1 MB"):
        await fake.downloader().fetch(MEDIA_URL)
    assert read == []


async def test_undeclared_size_is_cut_off_at_the_cap():
    sent = []

    async def endless():
        for _ in range(10_000):
            sent.append(1)
            yield b"x" * 8192

    fake = Recorder(httpx.Response(200, content=endless()))
    with pytest.raises(TooLarge):
        await fake.downloader().fetch(MEDIA_URL)
    assert len(sent) <= LIMITS.max_bytes // 8192 + 1


async def test_hosts_off_the_allow_list_are_not_even_resolved():
    fake = Recorder(audio())
    with pytest.raises(MediaRefused, match="not on the allow list"):
        await fake.downloader().fetch("https://evil.example.com/a.ogg")
    assert fake.resolved == [] and fake.requests == []


# --- on real loopback servers ---------------------------------------------------------


async def test_emulator_media_needs_the_twilio_credentials(emulator):
    path = emulator.state.host_media("MM" + "3" * 32, voice("dentist.ogg"), "audio/ogg")
    downloader = MediaDownloader(sandbox_policy(emulator), (SID, TOKEN), LIMITS)
    wrong = MediaDownloader(sandbox_policy(emulator), (SID, "wrong-token"), LIMITS)
    try:
        got = await downloader.fetch(emulator.url + path)
        assert got.content == voice("dentist.ogg") and got.content_type == "audio/ogg"
        with pytest.raises(DownloadFailed, match="401"):
            await wrong.fetch(emulator.url + path)
    finally:
        await downloader.close()
        await wrong.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_loopback_is_refused_outside_sandbox_mode_without_a_request(media_host, scheme):
    media_host.routes["/a.ogg"] = lambda: (200, {"Content-Type": "audio/ogg"}, [voice("dentist.ogg")])
    port = media_host.url.rsplit(":", 1)[1]
    # Even when the operator allows the host by name, its loopback address is refused.
    policy = MediaPolicy.from_patterns([*TWILIO_MEDIA_HOSTS, f"localhost:{port}", f"127.0.0.1:{port}"])
    downloader = MediaDownloader(policy, (SID, TOKEN), LIMITS)
    try:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(MediaRefused):
                await downloader.fetch(f"{scheme}://{host}:{port}/a.ogg")
    finally:
        await downloader.close()
    assert media_host.hits == []


async def test_an_allowed_name_that_resolves_to_loopback_is_refused_without_a_request(media_host):
    media_host.routes["/a.ogg"] = lambda: (200, {"Content-Type": "audio/ogg"}, [b"OggS"])
    port = int(media_host.url.rsplit(":", 1)[1])

    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    policy = MediaPolicy.from_patterns([f"media.twiliocdn.com:{port}"])
    downloader = MediaDownloader(policy, (SID, TOKEN), LIMITS, rebinding)
    try:
        with pytest.raises(MediaRefused, match="non-public address"):
            await downloader.fetch(f"https://media.twiliocdn.com:{port}/a.ogg")
    finally:
        await downloader.close()
    assert media_host.hits == []


async def test_sandbox_mode_allows_only_the_emulator_and_no_redirect_away_from_it(media_host):
    other = LoopbackMediaHost().start()
    try:
        other.routes["/a.ogg"] = lambda: (200, {"Content-Type": "audio/ogg"}, [b"OggS"])
        media_host.routes["/hop"] = lambda: (302, {"Location": f"{other.url}/a.ogg", "Content-Length": "0"}, [])
        downloader = MediaDownloader(MediaPolicy.from_patterns(TWILIO_MEDIA_HOSTS, media_host.url), (SID, TOKEN), LIMITS)
        try:
            with pytest.raises(MediaRefused):
                await downloader.fetch(f"{other.url}/a.ogg")
            with pytest.raises(MediaRefused):
                await downloader.fetch(f"{media_host.url}/hop")
        finally:
            await downloader.close()
        assert other.hits == []
        assert [hit["path"] for hit in media_host.hits] == ["/hop"]
    finally:
        other.stop()


async def test_a_stalled_host_times_out_and_is_retried(media_host):
    # The host sends headers, then nothing until the test lets it go: the download can only
    # have ended by its own read timeout (no wall-clock bound needed to prove it).
    let_go = threading.Event()

    def stalled():
        def body():
            let_go.wait(scaled(120))
            yield b"OggS"
        return 200, {"Content-Type": "audio/ogg"}, body()

    media_host.routes["/slow.ogg"] = stalled
    limits = DownloadLimits(read_timeout_s=0.3, attempts=2, retry_base_s=0.01)
    downloader = MediaDownloader(MediaPolicy.from_patterns([], media_host.url), (SID, TOKEN), limits)
    try:
        with pytest.raises(DownloadFailed, match="timed out") as caught:
            await downloader.fetch(f"{media_host.url}/slow.ogg")  # both attempts give up on the stalled host
    finally:
        let_go.set()
        await downloader.close()
    assert caught.value.transient and len(media_host.hits) == 2


async def test_a_chunked_body_over_the_cap_is_abandoned(media_host):
    sent = []

    def endless():
        def body():
            for _ in range(1000):
                sent.append(1)
                yield b"x" * 16384
        return 200, {"Content-Type": "audio/ogg"}, body()

    media_host.routes["/big.ogg"] = endless
    downloader = MediaDownloader(MediaPolicy.from_patterns([], media_host.url), (SID, TOKEN), LIMITS)
    try:
        with pytest.raises(TooLarge):
            await downloader.fetch(f"{media_host.url}/big.ogg")
    finally:
        await downloader.close()
    assert len(sent) < 1000
