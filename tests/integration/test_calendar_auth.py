"""`switchboard calendar auth`: the real InstalledAppFlow against the fake OAuth server."""

from __future__ import annotations

import json
import stat
import threading
import urllib.request
import webbrowser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from services.calendar.google_credentials import CredentialStore
from switchboard.calendar_auth import CalendarAuthError, default_token_file, run_calendar_auth
from tests.fakes.google_calendar import FakeGoogleCalendar


class ConsentingBrowser:
    """Plays the user: follows the consent URL's redirect back with an authorisation code."""

    def __init__(self, code: str):
        self.code = code
        self.opened: list[str] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        query = parse_qs(urlsplit(url).query)
        back = f"{query['redirect_uri'][0]}?{urlencode({'code': self.code, 'state': query['state'][0]})}"
        threading.Thread(target=lambda: urllib.request.urlopen(back, timeout=10).read(), daemon=True).start()
        return True


@pytest.fixture
def fake():
    with FakeGoogleCalendar() as running:
        yield running


@pytest.fixture
def client_secrets(tmp_path, fake):
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps({"installed": {
        "client_id": fake.client_id, "client_secret": fake.client_secret, "auth_uri": f"{fake.url}/auth",
        "token_uri": fake.token_uri, "redirect_uris": ["http://localhost"],
    }}))
    return path


def test_auth_runs_the_consent_flow_once_and_writes_a_refreshable_token(tmp_path, fake, client_secrets, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake token endpoint is plain http
    browser = ConsentingBrowser(fake.issue_auth_code())
    monkeypatch.setattr(webbrowser, "get", lambda using=None: browser)

    token_file = run_calendar_auth(client_secrets, tmp_path / "secrets" / "token.json", timeout_s=20)

    consent = parse_qs(urlsplit(browser.opened[0]).query)
    assert consent["access_type"] == ["offline"] and consent["scope"] == ["https://www.googleapis.com/auth/calendar.events"]
    assert fake.token_grants == ["authorization_code"]
    saved = json.loads(token_file.read_text())
    assert saved["type"] == "authorized_user" and saved["refresh_token"] in fake.refresh_tokens
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    store = CredentialStore.from_file(token_file, token_uri=fake.token_uri)
    assert store.credentials.valid and store.credentials.token in fake.access_tokens


def test_auth_refuses_a_missing_client_file(tmp_path):
    with pytest.raises(CalendarAuthError):
        run_calendar_auth(tmp_path / "nope.json", tmp_path / "token.json")


def test_default_token_file(monkeypatch, tmp_path):
    monkeypatch.delenv("CALENDAR_GOOGLE_CREDENTIALS", raising=False)
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path))
    assert default_token_file() == tmp_path / "google-calendar-token.json"
    monkeypatch.setenv("CALENDAR_GOOGLE_CREDENTIALS", "/etc/switchboard/token.json")
    assert str(default_token_file()) == "/etc/switchboard/token.json"


def test_a_refused_consent_is_a_clear_error(tmp_path, fake, client_secrets, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setattr(webbrowser, "get", lambda using=None: ConsentingBrowser("4/a-code-google-never-issued"))
    with pytest.raises(CalendarAuthError) as refused:
        run_calendar_auth(client_secrets, tmp_path / "token.json", timeout_s=20)
    assert "did not authorise" in str(refused.value)
    assert not (tmp_path / "token.json").exists()
