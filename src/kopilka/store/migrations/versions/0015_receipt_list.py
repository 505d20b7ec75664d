"""Indexes behind the console's receipts list (keyset pages at a million purchases).

``purchases (program_id, occurred_at, id)``: the default order, newest first, and the
date filters. ``purchases (program_id, total_minor, id)``: the order by amount and the
amount filters. A member's receipts use ``ix_purchases_member_time``; a store's or a
channel's are read along the date index (a page is found within the first few thousand
rows of a store with a fiftieth of the receipts: measured in bench/README.md).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_purchases_program_time", "purchases", ["program_id", "occurred_at", "id"]
    )
    op.create_index(
        "ix_purchases_program_total", "purchases", ["program_id", "total_minor", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_purchases_program_total", table_name="purchases")
    op.drop_index("ix_purchases_program_time", table_name="purchases")
