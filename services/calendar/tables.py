"""The `calendar` schema: one row per event, always read and written with its owner."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "calendar"
metadata = MetaData(schema=SCHEMA)

events = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(32), nullable=False),
    Column("summary", Text, nullable=False, server_default=""),
    Column("description", Text),
    Column("location", Text),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("attendees", JSONB, nullable=False, server_default="[]"),
    Column("revision", Integer, nullable=False, server_default="1"),
    Column("all_day", Boolean, nullable=False, server_default=false()),
    Column("recurrence", Text),  # an RRULE body; starts_at/ends_at are the first occurrence
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("ends_at > starts_at", name="events_end_after_start"),
    Index("events_owner_starts_at", "owner", "starts_at"),
    Index("events_owner_repeating", "owner", "starts_at", postgresql_where=text("recurrence IS NOT NULL")),
)
