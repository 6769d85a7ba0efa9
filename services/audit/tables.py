"""The audit schema as SQLAlchemy Core tables: the record of every event and its read models.

`events` is append-only and keyed by stream sequence, so recording is idempotent.
`messages` and `conversations` are read models: everything in them can be rebuilt from
the stream (`services.audit.replay`). Migrations spell out their own DDL (history must
not change when this file does); `tests/integration/test_audit_schema.py` checks that
the migrated database matches these definitions.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "audit"

metadata = sa.MetaData(schema=SCHEMA)

events = sa.Table(
    "events",
    metadata,
    sa.Column("stream_seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("msg_id", sa.Text),  # the publisher's Nats-Msg-Id
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("conversation", sa.Text),
    sa.Column("event_id", sa.Text),
    sa.Column("correlation_id", sa.Text),
    sa.Column("causation_id", sa.Text),
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
    sa.Column("stored_at", sa.DateTime(timezone=True)),  # when JetStream stored it
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("payload", JSONB, nullable=False),
    # Why the payload could not be decoded (or how it had to be altered to be stored).
    sa.Column("error", sa.Text),
    sa.Index("events_conversation_idx", "conversation", "stream_seq"),
    sa.Index("events_correlation_idx", "correlation_id"),
    sa.Index("events_type_idx", "type"),
)

# One row per WhatsApp message, inbound (keyed by MessageSid) or outbound (Twilio sid).
messages = sa.Table(
    "messages",
    metadata,
    sa.Column("message_sid", sa.Text, primary_key=True),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("conversation", sa.Text),
    sa.Column("reply_id", sa.Text),
    sa.Column("part", sa.Integer),
    sa.Column("parts", sa.Integer),
    sa.Column("from_number", sa.Text),
    sa.Column("to_number", sa.Text),
    sa.Column("body", sa.Text),
    sa.Column("media_count", sa.Integer),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("status_at", sa.DateTime(timezone=True)),
    sa.Column("error_code", sa.BigInteger),  # any integer a callback carries; NULL past BIGINT
    sa.Column("error_status", sa.Text),  # the status the error code was reported with
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("direction IN ('inbound', 'outbound')", name="messages_direction_check"),
    sa.Index("messages_conversation_idx", "conversation", "created_at"),
    sa.Index("messages_reply_idx", "reply_id"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("conversation", sa.Text, primary_key=True),
    sa.Column("business_number", sa.Text),
    sa.Column("user_number", sa.Text),
    sa.Column("first_activity_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("inbound_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("outbound_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("event_count", sa.BigInteger, nullable=False, server_default="0"),
)
