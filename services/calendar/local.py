"""The local backend: events in the `calendar` schema of the shared Postgres.

Every statement filters on the owner, so an id that belongs to someone else behaves
exactly like an id that does not exist.
"""

from __future__ import annotations

import builtins
import contextlib
from datetime import datetime
from typing import Any, AsyncIterator, NoReturn

from sqlalchemy import Row, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.calendar.ports import Created, EventChanges, NewEvent, Page, StoredEvent
from services.calendar.recurrence import occurrences
from services.calendar.tables import events
from shared.calendar import CalendarError, ErrorCode
from shared.settings import driver_url

_COLUMNS = (
    events.c.id, events.c.summary, events.c.starts_at, events.c.ends_at, events.c.time_zone,
    events.c.description, events.c.location, events.c.attendees, events.c.revision, events.c.all_day,
    events.c.recurrence,
)


# The hot reads are built once: building a statement per call costs more CPU than running it.
_OVERLAPPING = and_(
    events.c.owner == bindparam("owner"), events.c.starts_at < bindparam("end"), events.c.ends_at > bindparam("start"),
    events.c.recurrence.is_(None),
)
# a repeating event may have occurrences in any range after its first: expanded in Python
_REPEATING = and_(events.c.owner == bindparam("owner"), events.c.starts_at < bindparam("end"),
                  events.c.recurrence.is_not(None))
_MATCHING = or_(*(column.ilike(bindparam("pattern")) for column in (
    events.c.summary, events.c.description, events.c.location)))
_ORDER = (events.c.starts_at, events.c.id)
_LIST = select(*_COLUMNS).where(_OVERLAPPING).order_by(*_ORDER).limit(bindparam("limit"))
_LIST_MATCHING = select(*_COLUMNS).where(_OVERLAPPING, _MATCHING).order_by(*_ORDER).limit(bindparam("limit"))
_SERIES = select(*_COLUMNS).where(_REPEATING).order_by(*_ORDER)
_SERIES_MATCHING = select(*_COLUMNS).where(_REPEATING, _MATCHING).order_by(*_ORDER)
_GET = select(*_COLUMNS).where(events.c.id == bindparam("id"), events.c.owner == bindparam("owner"))


def _stored(row: Row[*tuple[Any, ...]]) -> StoredEvent:
    return StoredEvent(
        event_id=row.id, summary=row.summary, start=row.starts_at, end=row.ends_at,
        time_zone=row.time_zone, description=row.description, location=row.location,
        attendees=tuple(row.attendees or ()), revision=str(row.revision), all_day=row.all_day,
        recurrence=row.recurrence,
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def open_engine(database_url: str, pool_size: int = 10, statement_timeout_s: float = 5.0) -> AsyncEngine:
    return create_async_engine(
        driver_url(database_url, "asyncpg"),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=statement_timeout_s,
        connect_args={
            "timeout": statement_timeout_s,
            "command_timeout": statement_timeout_s,
            "server_settings": {"application_name": "switchboard-calendar"},
        },
    )


class PostgresCalendar:
    name = "local"

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        # Every change is one statement (an upsert, or an update or delete with RETURNING),
        # atomic on its own: autocommit spares each a BEGIN and a COMMIT round trip.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._autocommit.connect() as conn:
                yield conn
        except CalendarError:
            raise
        except IntegrityError as exc:
            raise CalendarError(ErrorCode.INVALID_RANGE) from exc
        except (OperationalError, InterfaceError, DBAPIError, PoolTimeout, OSError, TimeoutError) as exc:
            raise CalendarError(ErrorCode.BACKEND_UNAVAILABLE) from exc

    async def create(self, owner: str, event: NewEvent) -> Created:
        statement = (
            insert(events)
            .values(
                id=event.event_id, owner=owner, summary=event.summary, description=event.description,
                location=event.location, starts_at=event.start, ends_at=event.end,
                time_zone=event.time_zone, attendees=list(event.attendees), all_day=event.all_day,
                recurrence=event.recurrence,
            )
            .on_conflict_do_nothing(index_elements=[events.c.id])
            .returning(*_COLUMNS)
        )
        async with self._connection() as conn:
            row = (await conn.execute(statement)).first()
            if row is not None:
                return Created(_stored(row))
            existing = await self._find(conn, owner, event.event_id)
        if existing is None:  # the id is taken, and not by this owner
            raise CalendarError(ErrorCode.CONFLICT, "That event id is already in use.")
        return Created(existing, existed=True)

    async def get(self, owner: str, event_id: str) -> StoredEvent:
        async with self._connection() as conn:
            found = await self._find(conn, owner, event_id)
        if found is None:
            raise CalendarError(ErrorCode.NOT_FOUND)
        return found

    async def list(self, owner: str, start: datetime, end: datetime, query: str | None, limit: int) -> Page:
        values = {"owner": owner, "start": start, "end": end, "limit": limit + 1}
        statement = _LIST_MATCHING if query else _LIST
        if query:
            values["pattern"] = _like(query)
        async with self._connection() as conn:
            rows = (await conn.execute(statement, values)).all()
            series = (await conn.execute(_SERIES_MATCHING if query else _SERIES,
                                         {k: v for k, v in values.items() if k not in ("limit", "start")})).all()
        found = [_stored(row) for row in rows]
        found += [occurrence for row in series for occurrence in occurrences(_stored(row), start, end)]
        found.sort(key=lambda e: (e.start, e.event_id))
        return Page(found[:limit], truncated=len(found) > limit)

    async def update(self, owner: str, event_id: str, changes: EventChanges, if_revision: str | None) -> StoredEvent:
        values: dict[str, Any] = {
            column: value
            for column, value in (
                ("summary", changes.summary), ("starts_at", changes.start), ("ends_at", changes.end),
                ("time_zone", changes.time_zone), ("description", changes.description),
                ("location", changes.location),
            )
            if value is not None
        }
        statement = (
            update(events)
            .where(*self._target(owner, event_id, if_revision))
            .values(**values, revision=events.c.revision + 1, updated_at=func.now())
            .returning(*_COLUMNS)
        )
        async with self._connection() as conn:
            row = (await conn.execute(statement)).first()
            if row is None:
                await self._explain_miss(conn, owner, event_id)
        return _stored(row)

    async def delete(self, owner: str, event_id: str, if_revision: str | None) -> StoredEvent:
        statement = delete(events).where(*self._target(owner, event_id, if_revision)).returning(*_COLUMNS)
        async with self._connection() as conn:
            row = (await conn.execute(statement)).first()
            if row is None:
                await self._explain_miss(conn, owner, event_id)
        return _stored(row)

    async def close(self) -> None:
        await self.engine.dispose()

    @staticmethod
    def _target(owner: str, event_id: str, if_revision: str | None) -> builtins.list[Any]:
        conditions = [events.c.id == event_id, events.c.owner == owner]
        if if_revision is not None:
            revision = int(if_revision) if if_revision.isdigit() and len(if_revision) < 10 else -1
            conditions.append(events.c.revision == revision)
        return conditions

    async def _find(self, conn: AsyncConnection, owner: str, event_id: str) -> StoredEvent | None:
        row = (await conn.execute(_GET, {"owner": owner, "id": event_id})).first()
        return None if row is None else _stored(row)

    async def _explain_miss(self, conn: AsyncConnection, owner: str, event_id: str) -> NoReturn:
        """Nothing matched: the event is gone (not_found) or at another revision (conflict)."""
        if await self._find(conn, owner, event_id) is None:
            raise CalendarError(ErrorCode.NOT_FOUND)
        raise CalendarError(ErrorCode.CONFLICT)
