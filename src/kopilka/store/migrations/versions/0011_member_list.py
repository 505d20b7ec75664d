"""Indexes behind the console's members list (keyset pages at a million members).

``members (program_id, enrolled_at, id)``: the default order, newest first, and the
enrolled-between filter. ``members (program_id, last_name, id)``: the order by name.
``member_balances (program_id, available, member_id)``: the order by balance and the
balance-between filter. ``purchases (member_id, occurred_at)``: whether a member bought
anything since a date (the last-purchase-before filter). Identifier prefixes use the
existing unique ``(program_id, kind, value)`` index by a range.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_members_program_enrolled", "members", ["program_id", "enrolled_at", "id"])
    op.create_index("ix_members_program_name", "members", ["program_id", "last_name", "id"])
    op.create_index(
        "ix_member_balances_program_available",
        "member_balances",
        ["program_id", "available", "member_id"],
    )
    op.create_index("ix_purchases_member_time", "purchases", ["member_id", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_purchases_member_time", table_name="purchases")
    op.drop_index("ix_member_balances_program_available", table_name="member_balances")
    op.drop_index("ix_members_program_name", table_name="members")
    op.drop_index("ix_members_program_enrolled", table_name="members")
