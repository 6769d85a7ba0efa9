"""The Google backend's own promises: token refresh persisted, bounded failure, no invite spam.

The real google-api-python-client and google-auth run against the fake Calendar API and
OAuth token endpoint on loopback, behind the real `calendar` micro service.
"""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.calendar.google_credentials import CredentialStore
from shared.calendar import CalendarError, CreateEvent, DeleteEvent, ErrorCode, ListEvents, UpdateEvent
from tests.fakes.calendar_rig import OWNER_A, calendar_rig
from tests.waiting import scaled

LOCAL_OWNER = "+4915123456789"  # no Google mapping: served by the local backend
DAY = "2026-12-01"


def create_request(rig, owner: str = OWNER_A, **fields) -> CreateEvent:
    return CreateEvent(**rig.who(owner), summary=fields.pop("summary", "Dentist"), start=f"{DAY}T09:00", **fields)


def saved_token(rig) -> dict:
    return json.loads(rig.token_file.read_text())


@pytest.mark.parametrize("token", ["expired", "rejected"])
async def test_expired_token_is_refreshed_and_persisted(bus, database_url, tmp_path, token):
    async with calendar_rig(bus, database_url, "google", tmp_path, token=token) as rig:
        assert saved_token(rig)["token"] == "ya29.initial-token"
        created = await rig.client.create(create_request(rig))
        assert created.event.summary == "Dentist"
        assert rig.fake.token_grants == ["refresh_token"]

        persisted = saved_token(rig)
        assert persisted["token"] != "ya29.initial-token" and persisted["token"] in rig.fake.access_tokens
        assert persisted["refresh_token"] and persisted["client_id"] == rig.fake.client_id
        expiry = datetime.fromisoformat(persisted["expiry"].replace("Z", "+00:00"))
        assert expiry > datetime.now(UTC)
        assert stat.S_IMODE(rig.token_file.stat().st_mode) == 0o600

        # A restarted service starts from the refreshed token: no second refresh.
        reloaded = CredentialStore.from_file(rig.token_file, token_uri=rig.fake.token_uri)
        assert reloaded.credentials.valid and reloaded.credentials.token == persisted["token"]
        await rig.client.list(ListEvents(**rig.who(OWNER_A), start=f"{DAY}T00:00", end=f"{DAY}T23:00"))
        assert rig.fake.token_grants == ["refresh_token"]


async def test_a_read_only_token_file_does_not_break_calls(bus, database_url, tmp_path, monkeypatch):
    def read_only(path, content):
        raise OSError(30, "Read-only file system", str(path))

    monkeypatch.setattr("services.calendar.google_credentials.write_private_json", read_only)
    async with calendar_rig(bus, database_url, "google", tmp_path, token="expired") as rig:
        await rig.client.create(create_request(rig))
        await rig.client.list(ListEvents(**rig.who(OWNER_A), start=f"{DAY}T00:00", end=f"{DAY}T23:00"))
        assert rig.fake.token_grants == ["refresh_token"]  # refreshed once, kept in memory
        assert saved_token(rig)["token"] == "ya29.initial-token"


async def test_revoked_authorisation_is_forbidden_not_a_hang(bus, database_url, tmp_path):
    async with calendar_rig(bus, database_url, "google", tmp_path, token="expired") as rig:
        rig.fake.refresh_tokens.clear()
        with pytest.raises(CalendarError) as refused:
            await rig.client.create(create_request(rig))
        assert refused.value.code == ErrorCode.FORBIDDEN and "authorised again" in refused.value.message
        assert saved_token(rig)["token"] == "ya29.initial-token"


async def test_service_account_credentials(bus, database_url, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    account = tmp_path / "service-account.json"
    account.write_text(json.dumps({
        "type": "service_account", "project_id": "switchboard-test", "private_key_id": "k1",
        "private_key": pem.decode(), "client_email": "calendar@switchboard-test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "http://127.0.0.1:9/unused",
    }))
    before = account.read_text()
    async with calendar_rig(bus, database_url, "google", tmp_path, CALENDAR_GOOGLE_CREDENTIALS=str(account)) as rig:
        created = await rig.client.create(create_request(rig))
        assert created.event.event_id in rig.fake.calendars[f"{OWNER_A[1:]}@group.calendar.google.com"]
        assert rig.fake.token_grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert account.read_text() == before


def send_updates_used(rig) -> list[str]:
    return [query["sendUpdates"][0] for method, _, query in rig.fake.requests if method in ("POST", "PATCH", "DELETE")
            and "sendUpdates" in query]


@pytest.mark.parametrize(("allowed", "expected"), [(None, "none"), ("true", "all")])
async def test_invitations_only_when_configuration_allows(bus, database_url, tmp_path, allowed, expected):
    env = {"CALENDAR_SEND_INVITATIONS": allowed} if allowed else {}
    async with calendar_rig(bus, database_url, "google", tmp_path, **env) as rig:
        created = (await rig.client.create(create_request(rig, attendees=("ana@example.com",)))).event
        await rig.client.update(UpdateEvent(**rig.who(OWNER_A), event_id=created.event_id, start=f"{DAY}T10:00"))
        await rig.client.delete(DeleteEvent(**rig.who(OWNER_A), event_id=created.event_id))
        assert send_updates_used(rig) == [expected] * 3
        assert created.attendees == ("ana@example.com",)


@pytest.fixture
def black_hole():
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/calendar/v3/"


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/calendar/v3/"


@pytest.mark.parametrize("unreachable", ["api_black_hole", "api_closed_port", "token_endpoint_black_hole"])
async def test_unreachable_google_is_backend_unavailable_within_bounds(bus, database_url, tmp_path, unreachable, request):
    timeout_s = 1.0
    env, token = {"CALENDAR_GOOGLE_TIMEOUT_S": str(timeout_s)}, "valid"
    if unreachable == "token_endpoint_black_hole":  # an expired token, and nobody answers the refresh
        env["CALENDAR_GOOGLE_TOKEN_URI"] = request.getfixturevalue("black_hole").replace("/calendar/v3/", "/token")
        token = "expired"
    else:
        env["CALENDAR_GOOGLE_API_ENDPOINT"] = request.getfixturevalue(unreachable.removeprefix("api_"))
    async with calendar_rig(bus, database_url, "google", tmp_path, token=token, **env) as rig:
        started = time.monotonic()
        google_calls = [
            asyncio.create_task(rig.client.create(create_request(rig, summary=f"call {n}"))) for n in range(12)
        ]
        await asyncio.sleep(0.05)
        # Meanwhile an owner on the local backend is served while Google calls still hang:
        # nothing waits behind them (a closed port refuses at once, so nothing hangs there).
        await rig.client.create(create_request(rig, owner=LOCAL_OWNER))
        if unreachable != "api_closed_port":
            assert not all(call.done() for call in google_calls)

        outcomes = await asyncio.gather(*google_calls, return_exceptions=True)
        elapsed = time.monotonic() - started
        assert all(isinstance(o, CalendarError) and o.code == ErrorCode.BACKEND_UNAVAILABLE for o in outcomes), outcomes
        assert "try again" in outcomes[0].message
        # 12 calls on 8 threads: two rounds of at most 2 x the timeout each, plus slack.
        assert elapsed < scaled(7 * timeout_s), elapsed
