"""An index on ``lots.entry_id``.

Reversing an earn (every return of a purchase that earned points) finds the lot the
entry created with ``lot_of_entry``; without an index that read every lot of every
member (a sequential scan, or a walk of the primary key) and grew with the database.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lots_entry", "lots", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_lots_entry", table_name="lots")
