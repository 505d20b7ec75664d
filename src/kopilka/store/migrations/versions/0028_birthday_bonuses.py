"""Birthday bonuses: the members credited the ``birthday`` event's points, one row per
member and year (the key makes a second credit of a year impossible, however often the
job runs and however many workers race).

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, UTCDateTime

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "birthday_bonuses",
        sa.Column("member_id", Id, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("points", Id, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "year", name="pk_birthday_bonuses"),
    )


def downgrade() -> None:
    op.drop_table("birthday_bonuses")
