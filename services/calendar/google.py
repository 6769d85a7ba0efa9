"""The Google Calendar backend: `google-api-python-client` with static discovery.

Each configured owner has their own Google calendar; one calendar never serves two
owners (configuration refuses it), so everything in it is theirs. The client is
blocking, so every call runs on a small thread pool of its own, with a socket timeout
and an overall deadline: an unreachable Google becomes `backend_unavailable`, never a
hang. Each thread has its own HTTP connection (httplib2 is not thread-safe).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time
from functools import partial
from typing import Any, Callable
from zoneinfo import ZoneInfo

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from services.calendar.google_credentials import CredentialStore
from services.calendar.ports import Created, EventChanges, NewEvent, Page, StoredEvent
from shared.calendar import CalendarError, ErrorCode

# Event ids are base32hex; expanded recurring instances add `_<start>`. Anything else
# cannot be an event of this calendar, so it is not_found without asking Google.
_EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,1024}")
_UNAVAILABLE = (TransportError, httplib2.HttpLib2Error, socket.timeout, OSError, TimeoutError)
_MAX_PAGE = 2500


def _when(moment: datetime, zone_name: str) -> dict[str, str]:
    return {"dateTime": moment.astimezone(ZoneInfo(zone_name)).isoformat(), "timeZone": zone_name}


def _instant(when: dict[str, Any], fallback_zone: str) -> datetime:
    if "dateTime" in when:
        return datetime.fromisoformat(when["dateTime"]).astimezone(UTC)
    day = date.fromisoformat(when["date"])  # an all-day event: midnight in its zone
    return datetime.combine(day, time(0), ZoneInfo(when.get("timeZone") or fallback_zone)).astimezone(UTC)


def _day(moment: datetime, zone_name: str) -> dict[str, str]:
    """An all-day boundary: the date (midnight in the event's zone)."""
    return {"date": moment.astimezone(ZoneInfo(zone_name)).date().isoformat(), "timeZone": zone_name}


def _rule(item: dict[str, Any]) -> str | None:
    return next((line.removeprefix("RRULE:") for line in item.get("recurrence", ()) if line.startswith("RRULE:")), None)


def _stored(item: dict[str, Any], calendar_zone: str = "UTC", rules: dict[str, str | None] | None = None) -> StoredEvent:
    """An event, or one occurrence of a repeating one (then under its series id, as locally)."""
    zone_name = item["start"].get("timeZone") or calendar_zone
    series = item.get("recurringEventId")
    return StoredEvent(
        event_id=series or item["id"], summary=item.get("summary", ""),
        all_day="date" in item["start"], recurrence=(rules or {}).get(series) if series else _rule(item),
        start=_instant(item["start"], zone_name), end=_instant(item["end"], zone_name),
        time_zone=zone_name, description=item.get("description"), location=item.get("location"),
        attendees=tuple(a["email"] for a in item.get("attendees", ()) if "email" in a),
        revision=item.get("etag", "").strip('"'),
    )


def _translate(exc: Exception) -> CalendarError:
    if isinstance(exc, HttpError):
        status = exc.resp.status
        if status in (404, 410):
            return CalendarError(ErrorCode.NOT_FOUND)
        if status in (409, 412):
            return CalendarError(ErrorCode.CONFLICT)
        if status == 400:
            return CalendarError(ErrorCode.INVALID_RANGE if b"timeRange" in (exc.content or b"") else ErrorCode.INVALID_REQUEST)
        if status in (401, 403) and b"ateLimit" not in (exc.content or b""):
            return CalendarError(ErrorCode.FORBIDDEN, "I'm not allowed to use that Google calendar.")
        return CalendarError(ErrorCode.BACKEND_UNAVAILABLE)
    if isinstance(exc, RefreshError) and not getattr(exc, "retryable", False):
        return CalendarError(ErrorCode.FORBIDDEN, "Access to that Google calendar needs to be authorised again.")
    return CalendarError(ErrorCode.BACKEND_UNAVAILABLE)


class GoogleCalendar:
    name = "google"

    def __init__(
        self,
        store: CredentialStore,
        calendars: dict[str, str],
        *,
        api_endpoint: str | None = None,
        timeout_s: float = 10.0,
        send_invitations: bool = False,
        max_threads: int = 8,
    ):
        self.store = store
        self.calendars = dict(calendars)
        self.timeout_s = timeout_s
        self.send_updates = "all" if send_invitations else "none"
        options = {"api_endpoint": api_endpoint} if api_endpoint else None
        self._api = build(
            "calendar", "v3", credentials=store.credentials, static_discovery=True,
            cache_discovery=False, client_options=options,
        )
        self._threads = ThreadPoolExecutor(max_threads, thread_name_prefix="google-calendar")
        self._local = threading.local()

    def serves(self, owner: str) -> bool:
        return owner in self.calendars

    # --- the port ----------------------------------------------------------------------

    async def create(self, owner: str, event: NewEvent) -> Created:
        edge = _day if event.all_day else _when
        body = {
            "id": event.event_id, "summary": event.summary,
            "start": edge(event.start, event.time_zone), "end": edge(event.end, event.time_zone),
            **({"recurrence": [f"RRULE:{event.recurrence}"]} if event.recurrence else {}),
            **({"description": event.description} if event.description else {}),
            **({"location": event.location} if event.location else {}),
            **({"attendees": [{"email": email} for email in event.attendees]} if event.attendees else {}),
        }
        calendar = self._calendar(owner)
        try:
            item = await self._call(lambda api: api.events().insert(
                calendarId=calendar, body=body, sendUpdates=self.send_updates))
        except CalendarError as exc:
            if exc.code is not ErrorCode.CONFLICT:
                raise
            return Created(await self.get(owner, event.event_id), existed=True)  # a retried create
        return Created(_stored(item))

    async def get(self, owner: str, event_id: str) -> StoredEvent:
        calendar = self._calendar(owner)
        if not _EVENT_ID.fullmatch(event_id):
            raise CalendarError(ErrorCode.NOT_FOUND)
        item = await self._call(lambda api: api.events().get(calendarId=calendar, eventId=event_id))
        if item.get("status") == "cancelled":
            raise CalendarError(ErrorCode.NOT_FOUND)
        return _stored(item)

    async def list(self, owner: str, start: datetime, end: datetime, query: str | None, limit: int) -> Page:
        calendar = self._calendar(owner)
        found: list[StoredEvent] = []
        token: str | None = None
        while True:
            # A def, not a lambda: mypy cannot infer a lambda with a default argument.
            def list_page(api: Any, token: str | None = token) -> Any:
                return api.events().list(
                    calendarId=calendar, timeMin=start.isoformat(), timeMax=end.isoformat(), singleEvents=True,
                    orderBy="startTime", maxResults=min(limit + 1, _MAX_PAGE), pageToken=token,
                    **({"q": query} if query else {}),
                )

            page = await self._call(list_page)
            zone_name = page.get("timeZone") or "UTC"
            items = [item for item in page.get("items", ()) if item.get("status") != "cancelled"]
            rules = await self._rules(owner, {item["recurringEventId"] for item in items if "recurringEventId" in item})
            found += [_stored(item, zone_name, rules) for item in items]
            token = page.get("nextPageToken")
            if len(found) > limit or not token:
                return Page(found[:limit], truncated=len(found) > limit or bool(token))

    async def _rules(self, owner: str, series: set[str]) -> dict[str, str | None]:
        """The repeat rule of each series (expanded occurrences do not carry it)."""
        found = await asyncio.gather(*(self.get(owner, event_id) for event_id in sorted(series)))
        return {event.event_id: event.recurrence for event in found}

    async def update(self, owner: str, event_id: str, changes: EventChanges, if_revision: str | None) -> StoredEvent:
        body: dict[str, Any] = {
            key: value for key, value in (
                ("summary", changes.summary), ("description", changes.description), ("location", changes.location),
            ) if value is not None
        }
        if changes.start and changes.end and changes.time_zone:
            body["start"] = _when(changes.start, changes.time_zone)
            body["end"] = _when(changes.end, changes.time_zone)
        calendar = self._calendar(owner)
        current = await self.get(owner, event_id)  # never touch a cancelled event
        item = await self._call(lambda api: self._if_match(api.events().patch(
            calendarId=calendar, eventId=current.event_id, body=body, sendUpdates=self.send_updates), if_revision))
        return _stored(item)

    async def delete(self, owner: str, event_id: str, if_revision: str | None) -> StoredEvent:
        calendar = self._calendar(owner)
        current = await self.get(owner, event_id)
        await self._call(lambda api: self._if_match(api.events().delete(
            calendarId=calendar, eventId=current.event_id, sendUpdates=self.send_updates), if_revision))
        return current

    async def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    # --- plumbing ----------------------------------------------------------------------

    def _calendar(self, owner: str) -> str:
        try:
            return self.calendars[owner]
        except KeyError:
            raise CalendarError(ErrorCode.FORBIDDEN) from None

    @staticmethod
    def _if_match(request: Any, revision: str | None) -> Any:
        if revision is not None:
            request.headers["If-Match"] = f'"{revision}"'
        return request

    async def _call(self, make_request: Callable[[Any], Any]) -> Any:
        loop = asyncio.get_running_loop()
        # The socket timeout bounds each read; the deadline bounds the whole call, token
        # refresh included. A thread that overruns finishes on its own; nobody waits on it.
        future = loop.run_in_executor(self._threads, partial(self._execute, make_request))
        try:
            return await asyncio.wait_for(future, self.timeout_s * 2)
        except CalendarError:
            raise
        except (HttpError, RefreshError, *_UNAVAILABLE) as exc:
            raise _translate(exc) from exc

    def _execute(self, make_request: Callable[[Any], Any]) -> Any:
        http = self._http()
        try:
            self.store.ensure_fresh(http.http)
            return make_request(self._api).execute(http=http, num_retries=0)
        finally:
            self.store.persist_if_changed()

    def _http(self) -> AuthorizedHttp:
        http = getattr(self._local, "http", None)
        if http is None:
            http = AuthorizedHttp(self.store.credentials, http=httplib2.Http(timeout=self.timeout_s))
            self._local.http = http
        return http
