"""Partial indexes on open lots for the expiry and activation sweeps.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN = "expired_at IS NULL AND remaining > 0"
PENDING = "activated_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("lots") as batch:
        batch.drop_index("ix_lots_expiry")
        batch.drop_index("ix_lots_activation")
    op.create_index(
        "ix_lots_open_expiry", "lots", ["program_id", "expires_at"],
        postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_lots_pending", "lots", ["program_id", "available_at"],
        postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_lots_pending", table_name="lots")
    op.drop_index("ix_lots_open_expiry", table_name="lots")
    op.create_index("ix_lots_activation", "lots", ["program_id", "available_at"])
    op.create_index("ix_lots_expiry", "lots", ["program_id", "expires_at"])
