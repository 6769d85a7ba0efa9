"""The time zone each user chose.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_time_zones",
        sa.Column("conversation", sa.Text(), primary_key=True),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="agent",
    )


def downgrade() -> None:
    op.drop_table("user_time_zones", schema="agent")
