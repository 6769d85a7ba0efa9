"""calendar.events: all-day events and repeat rules

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("all_day", sa.Boolean, nullable=False, server_default=sa.false()),
                  schema="calendar")
    op.add_column("events", sa.Column("recurrence", sa.Text), schema="calendar")
    op.create_index("events_owner_repeating", "events", ["owner", "starts_at"], schema="calendar",
                    postgresql_where=sa.text("recurrence IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("events_owner_repeating", "events", schema="calendar")
    op.drop_column("events", "recurrence", schema="calendar")
    op.drop_column("events", "all_day", schema="calendar")
