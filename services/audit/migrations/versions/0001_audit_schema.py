"""The audit schema: the event record, messages and conversations, status ranking.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# How far along its life a message is. A status only replaces a higher-ranked one, so
# callbacks can arrive in any order. Every status has its own rank, which makes "keep the
# highest" a pure max: the live projection and a replay agree whatever the order.
STATUS_RANK = """
CREATE OR REPLACE FUNCTION audit.status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'accepted' THEN 1
        WHEN 'scheduled' THEN 2
        WHEN 'queued' THEN 3
        WHEN 'sending' THEN 4
        WHEN 'receiving' THEN 5
        WHEN 'sent' THEN 6
        WHEN 'received' THEN 7
        WHEN 'canceled' THEN 8
        WHEN 'failed' THEN 9
        WHEN 'undelivered' THEN 10
        WHEN 'partially_delivered' THEN 11
        WHEN 'delivered' THEN 12
        WHEN 'read' THEN 13
        ELSE 0
    END
$$
"""


def tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute(STATUS_RANK)
    op.create_table(
        "events",
        sa.Column("stream_seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("msg_id", sa.Text),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("conversation", sa.Text),
        sa.Column("event_id", sa.Text),
        sa.Column("correlation_id", sa.Text),
        sa.Column("causation_id", sa.Text),
        sa.Column("occurred_at", tz()),
        sa.Column("stored_at", tz()),
        sa.Column("recorded_at", tz(), nullable=False, server_default=sa.func.now()),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("error", sa.Text),
        schema="audit",
    )
    op.create_index("events_conversation_idx", "events", ["conversation", "stream_seq"], schema="audit")
    op.create_index("events_correlation_idx", "events", ["correlation_id"], schema="audit")
    op.create_index("events_type_idx", "events", ["type"], schema="audit")
    # Append-only: the service's writes are INSERT ... ON CONFLICT DO NOTHING; refuse
    # anything that would rewrite history, whoever tries.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit.events is append-only';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events "
        "FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()"
    )

    op.create_table(
        "messages",
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
        sa.Column("status_at", tz()),
        sa.Column("error_code", sa.Integer),
        sa.Column("error_status", sa.Text),
        sa.Column("created_at", tz()),
        sa.Column("updated_at", tz(), nullable=False),
        sa.CheckConstraint("direction IN ('inbound', 'outbound')", name="messages_direction_check"),
        schema="audit",
    )
    op.create_index("messages_conversation_idx", "messages", ["conversation", "created_at"], schema="audit")
    op.create_index("messages_reply_idx", "messages", ["reply_id"], schema="audit")

    op.create_table(
        "conversations",
        sa.Column("conversation", sa.Text, primary_key=True),
        sa.Column("business_number", sa.Text),
        sa.Column("user_number", sa.Text),
        sa.Column("first_activity_at", tz(), nullable=False),
        sa.Column("last_activity_at", tz(), nullable=False),
        sa.Column("inbound_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("outbound_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("event_count", sa.BigInteger, nullable=False, server_default="0"),
        schema="audit",
    )


def downgrade() -> None:
    op.drop_table("conversations", schema="audit")
    op.drop_table("messages", schema="audit")
    op.drop_table("events", schema="audit")
    op.execute("DROP FUNCTION IF EXISTS audit.refuse_change()")
    op.execute("DROP FUNCTION IF EXISTS audit.status_rank(text)")
