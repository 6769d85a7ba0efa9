"""The transcriber's pure parts: which URLs and addresses it fetches, attachments, Ogg, settings."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from services.transcriber.attachments import MediaKind, audio_filename, describe_attachment, kind_of
from services.transcriber.config import TranscriberSettings
from services.transcriber.failures import POLITE_REPLIES, DownloadFailed, MediaFailure, MediaRefused, polite_reply
from services.transcriber.media_policy import TWILIO_MEDIA_HOSTS, MediaPolicy, is_public_address
from services.transcriber.ogg import ogg_duration_s
from services.transcriber.transport import PinnedTransport

VOICE = Path(__file__).resolve().parents[1] / "fixtures" / "voice"
TWILIO = MediaPolicy.from_patterns(TWILIO_MEDIA_HOSTS)
CREDENTIALS = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "token-for-tests"}
NATS_IDENTITY = {"NATS_USER": "transcriber", "NATS_PASSWORD": "a-real-password"}  # required in production


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "https://mms.twiliocdn.com/AC1/abc?Expires=1",
        "https://media.twiliocdn.com/x",
        "https://API.Twilio.com./x",
    ],
)
def test_twilio_media_urls_are_allowed(url):
    TWILIO.check_url(httpx.URL(url))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://api.twilio.com/x", "only https"),
        ("https://evil.example.com/x", "not on the allow list"),
        ("https://twiliocdn.com/x", "not on the allow list"),  # `*.` needs a subdomain
        ("https://api.twilio.com.evil.example/x", "not on the allow list"),
        ("https://eviltwiliocdn.com/x", "not on the allow list"),
        ("https://api.twilio.com:8443/x", "not on the allow list"),
        ("https://127.0.0.1/x", "non-public address"),
        ("https://user:pass@api.twilio.com/x", "credentials"),
        ("ftp://api.twilio.com/x", "only https"),
        ("file:///etc/passwd", "only https"),
    ],
)
def test_other_urls_are_refused(url, why):
    with pytest.raises(MediaRefused, match=why):
        TWILIO.check_url(httpx.URL(url))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.0.0.8", "172.16.5.4", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
        "::ffff:10.0.0.1", "fe80::1%eth0", "198.18.0.1", "240.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(address)
    with pytest.raises(MediaRefused, match="non-public address"):
        TWILIO.check_addresses(httpx.URL("https://api.twilio.com/x"), ["54.172.60.1", address])


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1", "::ffff:7f00:1", "2002:7f00:1::", "2002:a00:1::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1", "::127.0.0.1", "::10.0.0.1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)
def test_ipv6_forms_that_embed_a_private_ipv4_address_are_not_public(address):
    assert not is_public_address(address)


def test_ipv6_forms_that_embed_a_public_ipv4_address_count_as_it():
    assert is_public_address("2002:808:808::1") and is_public_address("64:ff9b::808:808")


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://2130706433/x", "127.0.0.1"), ("https://0x7f.1/x", "127.0.0.1"), ("https://0x7f000001/x", "127.0.0.1"),
        ("https://017700000001/x", "127.0.0.1"), ("https://127.1/x", "127.0.0.1"),
        ("https://[::ffff:127.0.0.1]/x", "::ffff:7f00:1"), ("https://[2002:7f00:1::]/x", "2002:7f00:1::"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "64:ff9b::a9fe:a9fe"), ("https://167772161/x", "10.0.0.1"),
    ],
)
def test_integer_hex_octal_and_embedded_hosts_are_refused_as_non_public(url, address):
    with pytest.raises(MediaRefused, match=rf"non-public address \({re.escape(address)}\)"):
        TWILIO.check_url(httpx.URL(url))


def test_public_addresses_pass_and_no_address_is_a_transient_failure():
    TWILIO.check_addresses(httpx.URL("https://api.twilio.com/x"), ["54.172.60.1", "2600:1f18::1"])
    with pytest.raises(DownloadFailed) as caught:
        TWILIO.check_addresses(httpx.URL("https://api.twilio.com/x"), [])
    assert caught.value.transient


def test_sandbox_allows_only_the_emulator_origin():
    policy = MediaPolicy.from_patterns(TWILIO_MEDIA_HOSTS, "http://127.0.0.1:4010")
    emulator = httpx.URL("http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")
    policy.check_url(emulator)
    policy.check_addresses(emulator, ["127.0.0.1"])
    for other in ("http://127.0.0.1:4011/x", "http://localhost:4010/x", "https://127.0.0.1:4010/x"):
        with pytest.raises(MediaRefused):
            policy.check_url(httpx.URL(other))


def test_settings_decide_sandbox_mode():
    emulated = {**CREDENTIALS, "TWILIO_API_BASE_URL": "http://127.0.0.1:4010"}
    assert TranscriberSettings(**emulated).media_policy().sandbox_origin == ("http", "127.0.0.1", 4010)
    assert TranscriberSettings(**emulated, TRANSCRIBER_SANDBOX="false").media_policy().sandbox_origin is None
    assert TranscriberSettings(**CREDENTIALS).media_policy().sandbox_origin is None  # real Twilio
    assert TranscriberSettings(**CREDENTIALS, TRANSCRIBER_SANDBOX="true").media_policy().sandbox_origin is None
    production = {**emulated, **NATS_IDENTITY, "SWITCHBOARD_ENV": "production"}
    assert TranscriberSettings(**production).media_policy().sandbox_origin is None
    with pytest.raises(ValueError, match="TRANSCRIBER_SANDBOX cannot be true"):
        TranscriberSettings(**production, TRANSCRIBER_SANDBOX="true")


def test_settings_fail_fast_and_have_their_own_health_port():
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"):
        TranscriberSettings()
    with pytest.raises(ValueError, match="needs OPENAI_API_KEY"):
        TranscriberSettings(**CREDENTIALS, TRANSCRIBER_ENGINE="openai")
    with pytest.raises(ValueError, match="holds no CTranslate2 model.bin"):
        TranscriberSettings(**CREDENTIALS, TRANSCRIBER_MODEL_PATH="/nonexistent")
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN must be set to a real value"):
        TranscriberSettings(**{**CREDENTIALS, **NATS_IDENTITY, "TWILIO_AUTH_TOKEN": "changeme"},
                            SWITCHBOARD_ENV="production")
    settings = TranscriberSettings(**CREDENTIALS, TRANSCRIBER_MEDIA_HOSTS="media.example.com:8443, *.cdn.example")
    assert settings.health_port == 8086
    assert settings.download_limits().max_bytes == 16 * 1024 * 1024
    settings.media_policy().check_url(httpx.URL("https://media.example.com:8443/a"))
    settings.media_policy().check_url(httpx.URL("https://x.cdn.example/a"))


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("audio/ogg", MediaKind.AUDIO), ("audio/ogg; codecs=opus", MediaKind.AUDIO), ("audio/mpeg", MediaKind.AUDIO),
        ("audio/amr", MediaKind.AUDIO), ("audio/midi", MediaKind.UNSUPPORTED_AUDIO),
        ("audio/x-ms-wma", MediaKind.UNSUPPORTED_AUDIO), ("image/jpeg", MediaKind.ATTACHMENT),
        ("application/pdf", MediaKind.ATTACHMENT), ("video/mp4", MediaKind.ATTACHMENT),
    ],
)
def test_media_kinds(content_type, kind):
    assert kind_of(content_type) is kind


@pytest.mark.parametrize(
    ("url", "content_type", "described"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg", "[image: photo.jpg]"),
        ("https://api.twilio.com/a/ME2", "image/png", "[image: photo.png]"),
        ("https://api.twilio.com/a/ME3", "application/pdf", "[document: document.pdf]"),
        ("https://api.twilio.com/a/ME4", "video/mp4", "[video: video.mp4]"),
        ("https://api.twilio.com/a/ME5", "text/vcard", "[contact: contact.vcf]"),
        ("https://files.example.com/a/Quarterly%20report.pdf", "application/pdf", "[document: Quarterly report.pdf]"),
        ("https://files.example.com/a/<script>.pdf", "application/pdf", "[document: document.pdf]"),
        ("https://api.twilio.com/a/ME6", "application/x-unknown-thing", "[document: document]"),
    ],
)
def test_attachments_are_described(url, content_type, described):
    assert describe_attachment(url, content_type) == described


def test_audio_filenames_carry_the_format():
    assert audio_filename("audio/ogg; codecs=opus") == "voice.ogg"
    assert audio_filename("audio/mpeg") == "voice.mp3"


def test_ogg_duration_from_page_headers():
    data = (VOICE / "dentist.ogg").read_bytes()
    assert ogg_duration_s(data) == pytest.approx(4.108, abs=0.01)
    assert ogg_duration_s(data[: len(data) // 2]) < 4.0  # a truncated file: what is there
    assert ogg_duration_s(b"RIFF....WAVEfmt ") is None
    assert ogg_duration_s(b"") is None


def test_every_failure_code_has_a_polite_reply():
    codes = {cls.code for cls in _all_subclasses(MediaFailure)}
    assert codes <= set(POLITE_REPLIES)
    for code in codes:
        reply = polite_reply(code)
        assert reply.endswith("?") and "error" not in reply.lower() and "exception" not in reply.lower()


def _all_subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_all_subclasses(direct)}}


async def test_pinned_transport_connects_to_the_checked_address_with_the_original_host():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    async def resolver(host: str, port: int) -> list[str]:
        return ["2600:1f18::1", "54.172.60.1"]

    transport = PinnedTransport(TWILIO, resolver, inner=httpx.MockTransport(answer))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("https://api.twilio.com/media/ME1")
    assert response.status_code == 200
    (request,) = seen
    assert request.url.host == "54.172.60.1"  # IPv4 first, and the address that was checked
    assert request.headers["host"] == "api.twilio.com"
    assert request.extensions["sni_hostname"] == "api.twilio.com"


async def test_pinned_transport_refuses_before_connecting():
    seen: list[httpx.Request] = []

    async def rebinding(host: str, port: int) -> list[str]:
        return ["54.172.60.1", "127.0.0.1"]

    transport = PinnedTransport(TWILIO, rebinding, inner=httpx.MockTransport(lambda r: seen.append(r)))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(MediaRefused, match="non-public"):
            await client.get("https://api.twilio.com/media/ME1")
    assert seen == []


def test_voice_fixtures_are_small_committed_opus_notes_with_their_script():
    import json

    notes = json.loads((VOICE / "notes.json").read_text())
    assert (VOICE / "make_fixtures.py").is_file()
    for name, note in notes.items():
        data = (VOICE / name).read_bytes()
        assert data.startswith(b"OggS") and b"OpusHead" in data[:200], name
        assert len(data) < 8 * 1024, f"{name} is {len(data)} bytes"
        assert 1.5 < ogg_duration_s(data) < 6
        assert not note["key_words"] or all(word in note["text"].lower() for word in note["key_words"])


def test_whisper_threads_default_to_the_cpus_we_may_use():
    import os

    from services.transcriber.engines.local import WhisperOptions, available_cpus

    assert 1 <= available_cpus() <= os.cpu_count()
    assert WhisperOptions().threads == min(available_cpus(), 4)
    assert WhisperOptions(cpu_threads=3).threads == 3
