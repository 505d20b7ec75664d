"""The outbox's claim reads a program's pending deliveries in each member's order: one
partial index on the pending rows ``(program_id, channel, member_id, seq)`` replaces the
two it used before (``status, next_attempt_at`` and ``channel, member_id, seq`` over
every row, delivered ones too), so a settled delivery leaves the index and a dispatch
writes one index entry fewer per delivery.

Revision ID: 0034
Revises: 0033
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_deliveries_pending",
        "outbox_deliveries",
        ["program_id", "channel", "member_id", "seq"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.drop_index("ix_outbox_deliveries_member", table_name="outbox_deliveries")
    op.drop_index("ix_outbox_deliveries_due", table_name="outbox_deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_outbox_deliveries_due", "outbox_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_outbox_deliveries_member", "outbox_deliveries", ["channel", "member_id", "seq"]
    )
    op.drop_index("ix_outbox_deliveries_pending", table_name="outbox_deliveries")
