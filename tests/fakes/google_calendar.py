"""A fake Google Calendar API (v3) and OAuth token endpoint on loopback, for tests.

It speaks the real wire format for the few endpoints Switchboard uses, so the real
`google-api-python-client` and `google-auth` run against it unchanged (point
`api_endpoint` at `.api_endpoint` and the token URI at `.token_uri`):

- `POST/GET /calendar/v3/calendars/{calendarId}/events` (insert, list with timeMin,
  timeMax, q, maxResults, pageToken, singleEvents, orderBy); repeating events (`recurrence`
  RRULE lines) expand into instances with `singleEvents=true`; all-day events use `date`
- `GET/PATCH/DELETE /calendar/v3/calendars/{calendarId}/events/{eventId}` (If-Match)
- `POST /token` (grant types refresh_token, authorization_code, jwt-bearer)

Errors use Google's shape: {"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}.
Only access tokens it issued (or was told to accept) are valid; anything else gets 401.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

_EVENT_PATH = re.compile(r"^/calendar/v3/calendars/([^/]+)/events(?:/([^/]+))?$")


class GoogleError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "errors": [{"domain": "global", "reason": self.reason, "message": self.message}]}}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _instant(when: dict[str, Any], zone: str = "UTC") -> datetime:
    if "dateTime" in when:
        return datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))
    return datetime.fromisoformat(when["date"]).replace(tzinfo=ZoneInfo(when.get("timeZone") or zone))


def _instances(event: dict[str, Any], low: datetime | None, high: datetime | None) -> list[dict[str, Any]]:
    """A repeating event's occurrences in [low, high), as `singleEvents=true` lists them."""
    rule = next((r.removeprefix("RRULE:") for r in event.get("recurrence", ()) if r.startswith("RRULE:")), None)
    if rule is None:
        return [event]
    zone = ZoneInfo(event["start"].get("timeZone") or "UTC")
    start, end = _instant(event["start"]), _instant(event["end"])
    first = start.astimezone(zone).replace(tzinfo=None)
    found = []
    for wall in rrulestr(rule, dtstart=first).xafter(((low or start) - (end - start)).astimezone(zone).replace(tzinfo=None),
                                                        count=500, inc=True):
        begins = wall.replace(tzinfo=zone)
        if high is not None and begins >= high:
            break
        if low is not None and begins + (end - start) <= low:
            continue
        stamp = begins.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        edge = (lambda m: {"date": m.date().isoformat()}) if "date" in event["start"] else \
            (lambda m: {"dateTime": m.isoformat(), "timeZone": zone.key})
        found.append({**{k: v for k, v in event.items() if k != "recurrence"}, "id": f"{event['id']}_{stamp}",
                      "recurringEventId": event["id"], "originalStartTime": edge(begins),
                      "start": edge(begins), "end": edge(begins + (end - start))})
    return found


class FakeGoogleCalendar:
    def __init__(self, client_id: str = "fake-client.apps.googleusercontent.com", client_secret: str = "fake-secret"):
        self.client_id, self.client_secret = client_id, client_secret
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {}
        self.calendar_zones: dict[str, str] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.auth_codes: set[str] = set()
        self.token_grants: list[str] = []  # grant_type of every token request
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []  # method, path, query
        self.lock = threading.Lock()
        self._etags = itertools.count(3_181_161_784_712_000)
        self._server: ThreadingHTTPServer | None = None

    # --- set-up ------------------------------------------------------------------------

    def add_calendar(self, calendar_id: str, time_zone: str = "UTC") -> None:
        self.calendars.setdefault(calendar_id, {})
        self.calendar_zones[calendar_id] = time_zone

    def issue_refresh_token(self) -> str:
        token = "1//fake-refresh-" + secrets.token_hex(8)
        self.refresh_tokens.add(token)
        return token

    def accept_access_token(self, token: str) -> None:
        self.access_tokens.add(token)

    def issue_auth_code(self) -> str:
        code = "4/fake-code-" + secrets.token_hex(8)
        self.auth_codes.add(code)
        return code

    def start(self) -> FakeGoogleCalendar:
        fake = self

        class Handler(_Handler):
            calendar = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-google", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeGoogleCalendar:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_endpoint(self) -> str:
        return f"{self.url}/calendar/v3/"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    # --- OAuth -------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        self.token_grants.append(grant)
        reply: dict[str, Any] = {"expires_in": 3599, "token_type": "Bearer",
                                 "scope": "https://www.googleapis.com/auth/calendar.events"}
        if grant == "refresh_token":
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret) \
                    or form.get("refresh_token") not in self.refresh_tokens:
                raise GoogleError(400, "invalid_grant", "Token has been expired or revoked.")
        elif grant == "authorization_code":
            if form.get("code") not in self.auth_codes:
                raise GoogleError(400, "invalid_grant", "Malformed auth code.")
            self.auth_codes.discard(form["code"])
            reply["refresh_token"] = self.issue_refresh_token()
        elif grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise GoogleError(400, "unsupported_grant_type", "Invalid grant_type.")
        reply["access_token"] = "ya29.fake-" + secrets.token_hex(12)
        self.access_tokens.add(reply["access_token"])
        return reply

    # --- the Calendar API ----------------------------------------------------------------

    def _events(self, calendar_id: str) -> dict[str, dict[str, Any]]:
        if calendar_id not in self.calendars:
            raise GoogleError(404, "notFound", "Not Found")
        return self.calendars[calendar_id]

    def _event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        event = self._events(calendar_id).get(event_id)
        if event is None:
            raise GoogleError(404, "notFound", "Not Found")
        return event

    @staticmethod
    def _check_times(event: dict[str, Any]) -> None:
        if "start" not in event or "end" not in event:
            raise GoogleError(400, "required", "Missing end time.")
        if _instant(event["end"]) <= _instant(event["start"]):
            raise GoogleError(400, "timeRangeEmpty", "The specified time range is empty.")

    def insert(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        events = self._events(calendar_id)
        event_id = body.get("id") or secrets.token_hex(13)
        if event_id in events:
            raise GoogleError(409, "duplicate", "The requested identifier already exists.")
        self._check_times(body)
        now = _now()
        event = {
            "kind": "calendar#event", "etag": f'"{next(self._etags)}"', "id": event_id, "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}", "created": now, "updated": now,
            "creator": {"email": calendar_id, "self": True}, "organizer": {"email": calendar_id, "self": True},
            "iCalUID": f"{event_id}@google.com", "sequence": 0, "reminders": {"useDefault": True},
            "eventType": "default", **{k: v for k, v in body.items() if k != "attendees"},
        }
        if body.get("attendees"):
            event["attendees"] = [{"email": a["email"], "responseStatus": "needsAction"} for a in body["attendees"]]
        events[event_id] = event
        return event

    def list(self, calendar_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        events = self._events(calendar_id)
        one = {key: values[0] for key, values in query.items()}
        low = datetime.fromisoformat(one["timeMin"].replace("Z", "+00:00")) if "timeMin" in one else None
        high = datetime.fromisoformat(one["timeMax"].replace("Z", "+00:00")) if "timeMax" in one else None
        if low and high and high <= low:
            raise GoogleError(400, "timeRangeEmpty", "The specified time range is empty.")
        text = one.get("q", "").lower()
        zone = self.calendar_zones.get(calendar_id, "UTC")
        single = one.get("singleEvents") == "true"
        expanded = [i for e in events.values() for i in (_instances(e, low, high) if single else [e])]
        matching = sorted(
            (e for e in expanded if e["status"] != "cancelled"
             and (low is None or _instant(e["end"], zone) > low) and (high is None or _instant(e["start"], zone) < high)
             and text in " ".join(e.get(k, "") for k in ("summary", "description", "location")).lower()),
            key=lambda e: (_instant(e["start"], zone), e["id"]),
        )
        offset, size = int(one.get("pageToken", "0")), min(int(one.get("maxResults", "250")), 2500)
        page: dict[str, Any] = {
            "kind": "calendar#events", "etag": f'"{next(self._etags)}"', "summary": calendar_id,
            "updated": _now(), "timeZone": self.calendar_zones.get(calendar_id, "UTC"), "accessRole": "owner",
            "defaultReminders": [], "items": matching[offset:offset + size],
        }
        if offset + size < len(matching):
            page["nextPageToken"] = str(offset + size)
        return page

    def patch(self, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None) -> dict[str, Any]:
        event = self._live(calendar_id, event_id, if_match)
        changed = {**event, **body, "etag": f'"{next(self._etags)}"', "updated": _now()}
        self._check_times(changed)
        if "start" in body or "end" in body:
            changed["sequence"] = event["sequence"] + 1
        self.calendars[calendar_id][event_id] = changed
        return changed

    def delete(self, calendar_id: str, event_id: str, if_match: str | None) -> None:
        event = self._live(calendar_id, event_id, if_match)
        event.update(status="cancelled", etag=f'"{next(self._etags)}"', updated=_now())

    def _live(self, calendar_id: str, event_id: str, if_match: str | None) -> dict[str, Any]:
        event = self._event(calendar_id, event_id)
        if event["status"] == "cancelled":
            raise GoogleError(410, "deleted", "Resource has been deleted")
        if if_match is not None and if_match != event["etag"]:
            raise GoogleError(412, "conditionNotMet", "Precondition Failed")
        return event


class _Handler(BaseHTTPRequestHandler):
    calendar: FakeGoogleCalendar
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = self.calendar
        try:
            with fake.lock:
                fake.requests.append((method, parts.path, query))
                if parts.path == "/token" and method == "POST":
                    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    return self._reply(200, fake.token(form))
                match = _EVENT_PATH.match(parts.path)
                if match is None:
                    raise GoogleError(404, "notFound", "Not Found")
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if bearer not in fake.access_tokens:
                    raise GoogleError(401, "authError", "Invalid Credentials")
                calendar_id, event_id = unquote(match.group(1)), match.group(2) and unquote(match.group(2))
                body = json.loads(raw) if raw else {}
                if_match = self.headers.get("If-Match")
                if event_id is None and method == "POST":
                    return self._reply(200, fake.insert(calendar_id, body))
                if event_id is None and method == "GET":
                    return self._reply(200, fake.list(calendar_id, query))
                if event_id and method == "GET":
                    return self._reply(200, fake._event(calendar_id, event_id))
                if event_id and method == "PATCH":
                    return self._reply(200, fake.patch(calendar_id, event_id, body, if_match))
                if event_id and method == "DELETE":
                    fake.delete(calendar_id, event_id, if_match)
                    return self._reply(204, None)
                raise GoogleError(405, "methodNotAllowed", "Method Not Allowed")
        except GoogleError as exc:
            if parts.path == "/token":
                return self._reply(exc.code, {"error": exc.reason, "error_description": exc.message})
            return self._reply(exc.code, exc.body())

    def _reply(self, status: int, body: dict[str, Any] | None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")
