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

``analytics_expiry_daily``: per program and local day of expiry, the points of the lots due
to expire that day and how many of them expired (their ``expire`` draws, whenever swept):
the breakage rate and the expected breakage rate without reading the lots. The job adds
the lots and draws newer than its marks (``analytics_state.last_lot_id``,
``last_draw_id``).

``ix_purchases_program_time_member`` (0027) goes: the KPIs no longer count purchasers
from the purchases, and every purchase paid for the index. So does
``ix_analytics_member_months_cohort`` (0025): cohorts are read from the cohort months, and
the job and the rebuild paid for it on every member month they wrote.

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
    op.create_table(
        "analytics_expiry_daily",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _n("due"),
        _n("expired"),
        sa.PrimaryKeyConstraint("program_id", "day", name="pk_analytics_expiry_daily"),
    )
    with op.batch_alter_table("analytics_state") as batch:
        batch.add_column(sa.Column("last_lot_id", Id, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_draw_id", Id, nullable=False, server_default="0"))
    op.drop_index("ix_purchases_program_time_member", table_name="purchases")
    op.drop_index("ix_analytics_member_months_cohort", table_name="analytics_member_months")


def downgrade() -> None:
    op.create_index(
        "ix_analytics_member_months_cohort",
        "analytics_member_months",
        ["program_id", "cohort", "month_no"],
    )
    op.create_index(
        "ix_purchases_program_time_member",
        "purchases",
        ["program_id", "occurred_at", "member_id"],
    )
    with op.batch_alter_table("analytics_state") as batch:
        batch.drop_column("last_draw_id")
        batch.drop_column("last_lot_id")
    op.drop_table("analytics_expiry_daily")
    op.drop_table("analytics_cohort_months")
    op.drop_table("analytics_purchase_gaps")
