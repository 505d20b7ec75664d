"""Tiers: each member's tier standing (earned, manual floor, grace) and the history of
tier changes. Existing free-text ``members.tier_code`` values become manual tiers for good,
so nobody loses status on upgrade; each is recorded as a ``migration`` change.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, Json, UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_tiers",
        sa.Column("member_id", Id, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("earned_tier", sa.String(64)),
        sa.Column("manual_tier", sa.String(64)),
        sa.Column("manual_until", UTCDateTime(timezone=True)),
        sa.Column("manual_reason", sa.String(600)),
        sa.Column("grace_since", UTCDateTime(timezone=True)),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name="pk_member_tiers"),
    )
    op.create_index("ix_member_tiers_program", "member_tiers", ["program_id", "member_id"])
    op.create_table(
        "tier_changes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("from_tier", sa.String(64)),
        sa.Column("to_tier", sa.String(64)),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("metrics", Json),
        sa.Column("thresholds", Json),
        sa.Column("rule_version", sa.Integer),
        sa.Column("actor", sa.String(128)),
        sa.Column("note", sa.String(600)),
        sa.PrimaryKeyConstraint("id", name="pk_tier_changes"),
    )
    op.create_index("ix_tier_changes_member", "tier_changes", ["member_id", "id"])
    # existing tiers: a manual floor for good, with its history line
    op.execute(
        "INSERT INTO member_tiers (member_id, program_id, manual_tier, manual_reason, updated_at) "
        "SELECT id, program_id, tier_code, 'migration: tier_code before tiers', enrolled_at "
        "FROM members WHERE tier_code IS NOT NULL"
    )
    op.execute(
        "INSERT INTO tier_changes (program_id, member_id, from_tier, to_tier, at, reason, actor, note) "
        "SELECT program_id, id, NULL, tier_code, enrolled_at, 'migration', 'system', "
        "'tier_code before tiers' FROM members WHERE tier_code IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_tier_changes_member", table_name="tier_changes")
    op.drop_table("tier_changes")
    op.drop_index("ix_member_tiers_program", table_name="member_tiers")
    op.drop_table("member_tiers")
