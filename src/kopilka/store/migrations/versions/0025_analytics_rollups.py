"""Analytics: daily rollups kept by the ``analytics`` job (and ``kopilka analytics
rebuild``), each member's activity by month, points by rule by day, receipts without a
member, the programs' analytics settings (the monthly budget cap) and the months whose cap
alert was written.

``analytics_daily``: per program, local day (the program's time zone), store, channel and
tier ('' for none): points issued, redeemed, expired and adjusted (from the postings of the
program accounts, so they add up to the ledger's totals), purchases, revenue and refunds of
members, receipts and revenue without a member, distinct purchasing members, new members.
``analytics_member_months``: per member and local month (``year * 12 + month - 1``) the
purchases and revenue, with the member's enrolment month (retention, cohorts, lifetime
value). ``analytics_rule_daily``: points awarded per rule per local day (line awards).
Two indexes let a return's or a capture's journal entry find its purchase (store, channel).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def _n(name: str) -> sa.Column[int]:
    return sa.Column(name, Id, nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "analytics_daily",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        _n("points_issued"),
        _n("points_redeemed"),
        _n("points_expired"),
        _n("points_adjusted"),
        _n("purchases"),
        _n("revenue_minor"),
        _n("refunds_minor"),
        _n("guest_receipts"),
        _n("guest_revenue_minor"),
        _n("active_members"),
        _n("new_members"),
        sa.PrimaryKeyConstraint(
            "program_id", "day", "store", "channel", "tier", name="pk_analytics_daily"
        ),
    )
    op.create_table(
        "analytics_member_months",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("month_no", sa.Integer(), nullable=False),
        sa.Column("cohort", sa.Integer(), nullable=False),
        _n("purchases"),
        _n("revenue_minor"),
        sa.PrimaryKeyConstraint(
            "program_id", "month_no", "member_id", name="pk_analytics_member_months"
        ),
    )
    op.create_index(
        "ix_analytics_member_months_cohort",
        "analytics_member_months",
        ["program_id", "cohort", "month_no"],
    )
    op.create_table(
        "analytics_rule_daily",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        _n("points"),
        _n("awards"),
        sa.PrimaryKeyConstraint("program_id", "day", "rule_id", name="pk_analytics_rule_daily"),
    )
    op.create_table(
        "analytics_state",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("last_entry_id", Id, nullable=False, server_default="0"),
        sa.Column("last_purchase_id", Id, nullable=False, server_default="0"),
        sa.Column("last_return_id", Id, nullable=False, server_default="0"),
        sa.Column("last_member_id", Id, nullable=False, server_default="0"),
        sa.Column("last_guest_id", Id, nullable=False, server_default="0"),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program_id", name="pk_analytics_state"),
    )
    op.create_table(
        "analytics_settings",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("budget_cap_bp", sa.Integer(), nullable=True),
        sa.Column("active_days", sa.Integer(), nullable=False, server_default="90"),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program_id", name="pk_analytics_settings"),
    )
    op.create_table(
        "analytics_alerts",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "kind", "month", name="pk_analytics_alerts"),
    )
    op.create_table(
        "guest_receipts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("receipt_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("store", sa.String(64)),
        sa.Column("channel", sa.String(16)),
        sa.Column("total_minor", Id, nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_guest_receipts"),
        sa.UniqueConstraint("program_id", "receipt_id", name="uq_guest_receipts_program_id"),
    )
    op.create_index(
        "ix_guest_receipts_program_time", "guest_receipts", ["program_id", "occurred_at"]
    )
    op.create_index("ix_purchases_earn_entry", "purchases", ["earn_entry_id"])
    op.create_index("ix_purchases_redeem_entry", "purchases", ["redeem_entry_id"])
    op.create_index("ix_lots_program_expires", "lots", ["program_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_lots_program_expires", table_name="lots")
    op.drop_index("ix_purchases_redeem_entry", table_name="purchases")
    op.drop_index("ix_purchases_earn_entry", table_name="purchases")
    op.drop_index("ix_guest_receipts_program_time", table_name="guest_receipts")
    op.drop_table("guest_receipts")
    op.drop_table("analytics_alerts")
    op.drop_table("analytics_settings")
    op.drop_table("analytics_state")
    op.drop_table("analytics_rule_daily")
    op.drop_index("ix_analytics_member_months_cohort", table_name="analytics_member_months")
    op.drop_table("analytics_member_months")
    op.drop_table("analytics_daily")
