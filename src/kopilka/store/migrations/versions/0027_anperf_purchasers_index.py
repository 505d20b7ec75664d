"""Analytics: an index of purchases by program, time and member.

The KPIs count distinct purchasing members, repeat purchasers and active members over a
range of time straight from ``purchases`` (a distinct count does not add up from daily
rollups). With this index the count reads the index alone, in time order, instead of
fetching each purchase's row for its member.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_purchases_program_time_member",
        "purchases",
        ["program_id", "occurred_at", "member_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_purchases_program_time_member", table_name="purchases")
