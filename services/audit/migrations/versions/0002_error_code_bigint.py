"""Twilio error codes as BIGINT: a status callback may carry any integer (issue 11).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("messages", "error_code", type_=sa.BigInteger, existing_type=sa.Integer, schema="audit")


def downgrade() -> None:
    op.execute("UPDATE audit.messages SET error_code = NULL WHERE error_code NOT BETWEEN -2147483648 AND 2147483647")
    op.alter_column("messages", "error_code", type_=sa.Integer, existing_type=sa.BigInteger, schema="audit")
