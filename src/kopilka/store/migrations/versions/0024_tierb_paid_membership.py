"""Paid membership and tier welcomes: the memberships members bought (plan, tier, term,
status), each sale with its money (start, renewal, refund; never points), the paid floor in
the member's tier standing, when the member's stored effective tier lapses by time alone,
and the members given a tier's welcome bonus (tier_reached), once per member and tier.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paid_memberships",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("plan_code", sa.String(64), nullable=False),
        sa.Column("tier_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_paid_memberships"),
    )
    op.create_index("ix_paid_memberships_member", "paid_memberships", ["member_id", "id"])
    op.create_table(
        "membership_sales",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("membership_id", Id, nullable=False),
        sa.Column("receipt_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_minor", Id, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("term_start", UTCDateTime(timezone=True)),
        sa.Column("term_end", UTCDateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_membership_sales"),
        sa.UniqueConstraint("program_id", "receipt_id", name="uq_membership_sales_receipt"),
    )
    op.create_index("ix_membership_sales_membership", "membership_sales", ["membership_id", "id"])
    op.create_table(
        "tier_welcomes",
        sa.Column("member_id", Id, nullable=False),
        sa.Column("tier_code", sa.String(64), nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("change_id", Id, nullable=False),
        sa.Column("points", Id, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "tier_code", name="pk_tier_welcomes"),
    )
    # plain ALTER TABLE on both databases (a batch copy of members would trip its foreign keys)
    op.add_column("member_tiers", sa.Column("paid_tier", sa.String(64)))
    op.add_column("member_tiers", sa.Column("paid_until", UTCDateTime(timezone=True)))
    op.add_column("members", sa.Column("tier_until", UTCDateTime(timezone=True)))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite since 3.35
    op.execute("ALTER TABLE members DROP COLUMN tier_until")
    op.execute("ALTER TABLE member_tiers DROP COLUMN paid_until")
    op.execute("ALTER TABLE member_tiers DROP COLUMN paid_tier")
    op.drop_table("tier_welcomes")
    op.drop_index("ix_membership_sales_membership", table_name="membership_sales")
    op.drop_table("membership_sales")
    op.drop_index("ix_paid_memberships_member", table_name="paid_memberships")
    op.drop_table("paid_memberships")
