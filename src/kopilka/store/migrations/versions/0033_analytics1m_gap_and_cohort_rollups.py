"""Analytics at a million purchases: two rollups whose size depends on days and months, not
on purchases, so that no KPI reads the purchases or the member months.

``analytics_purchase_gaps``: per program, ``back`` (1 or 2), the local day of a member's
purchase one (``back`` 1) or two (``back`` 2) purchases earlier (``earlier``) and the
purchase's own local day (``day``), how many purchases. A range's distinct purchasing
members are its purchases less those whose previous purchase is in the range; its members
with two or more purchases are those whose previous purchase is in the range less those
whose one before that is too (docs/analytics.md). At most one row per pair of days.

``analytics_cohort_months``: per program, local month and enrolment month (cohort), the
members active that month (a purchase), those of them active the month before too, their
purchases and revenue: retention, churn, cohort retention and lifetime value, summed from
a few hundred rows.

Revision ID: 0033
Revises: 0032
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def _n(name: str) -> sa.Column[int]:
    return sa.Column(name, Id, nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "analytics_purchase_gaps",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("back", sa.SmallInteger(), nullable=False),
        sa.Column("earlier", sa.Date(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _n("purchases"),
        sa.PrimaryKeyConstraint(
            "program_id", "back", "earlier", "day", name="pk_analytics_purchase_gaps"
        ),
    )
    op.create_table(
        "analytics_cohort_months",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("month_no", sa.Integer(), nullable=False),
        sa.Column("cohort", sa.Integer(), nullable=False),
        _n("active"),
        _n("retained"),
        _n("purchases"),
        _n("revenue_minor"),
        sa.PrimaryKeyConstraint(
            "program_id", "month_no", "cohort", name="pk_analytics_cohort_months"
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_cohort_months")
    op.drop_table("analytics_purchase_gaps")
