"""audit.events stays append-only, except for erasure and retention (issue 16).

A DELETE passes only in a transaction that said why with
`SET LOCAL audit.allow_delete = 'erasure'` (or `'retention'`), which only
`services.audit.privacy` does; updates are refused as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('audit.allow_delete', true) IN ('erasure', 'retention') THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit.events is append-only';
        END
        $$
        """
    )


def downgrade() -> None:
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
