"""Rewards (issue 24): the catalog, partner code pools, issued rewards and their history,
reward images, and each program's refund settings.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, Json, UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reward_settings",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("refund_on_cancel", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("refund_on_expiry", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program_id", name="pk_reward_settings"),
    )
    op.create_table(
        "rewards",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", Json, nullable=False),
        sa.Column("description", Json, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("tier_points", Json),
        sa.Column("coupon", Json),
        sa.Column("fulfilment", sa.String(16)),
        sa.Column("stock", sa.Integer),
        sa.Column("issued_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("limit_per_member", sa.Integer),
        sa.Column("limit_per_period", sa.Integer),
        sa.Column("limit_period", sa.String(8)),
        sa.Column("limit_total", sa.Integer),
        sa.Column("starts_at", UTCDateTime(timezone=True)),
        sa.Column("ends_at", UTCDateTime(timezone=True)),
        sa.Column("early_tier", sa.String(64)),
        sa.Column("early_opens_at", UTCDateTime(timezone=True)),
        sa.Column("audience_tiers", Json),
        sa.Column("audience_members", Json),
        sa.Column("activation_delay_s", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("valid_days", sa.Integer),
        sa.Column("valid_until", UTCDateTime(timezone=True)),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("image", sa.String(128)),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rewards"),
        sa.UniqueConstraint("program_id", "code", name="uq_rewards_program_code"),
        sa.CheckConstraint("stock IS NULL OR stock >= 0", name="ck_rewards_stock_nonneg"),
    )
    op.create_table(
        "reward_images",
        sa.Column("reward_id", Id, nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reward_id", name="pk_reward_images"),
    )
    op.create_table(
        "reward_pool_codes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("reward_id", Id, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("issued_id", Id),
        sa.Column("loaded_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reward_pool_codes"),
        sa.UniqueConstraint("reward_id", "code", name="uq_reward_pool_codes_reward_code"),
    )
    op.create_index(
        "ix_reward_pool_codes_free", "reward_pool_codes", ["reward_id", "issued_id", "id"]
    )
    op.create_table(
        "issued_rewards",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("reward_id", Id, nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("entry_id", Id, nullable=False),
        sa.Column("issued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_from", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("coupon", Json),
        sa.Column("refund_entry_id", Id),
        sa.Column("ended_at", UTCDateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_issued_rewards"),
        sa.UniqueConstraint("program_id", "code", name="uq_issued_rewards_program_code"),
    )
    op.create_index(
        "ix_issued_rewards_member", "issued_rewards", ["member_id", "reward_id", "issued_at"]
    )
    op.create_index(
        "ix_issued_rewards_due", "issued_rewards", ["program_id", "status", "expires_at"]
    )
    op.create_table(
        "issued_reward_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("issued_id", Id, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("reason", sa.String(600)),
        sa.Column("detail", Json),
        sa.PrimaryKeyConstraint("id", name="pk_issued_reward_events"),
    )
    op.create_index("ix_issued_reward_events_issued", "issued_reward_events", ["issued_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_issued_reward_events_issued", table_name="issued_reward_events")
    op.drop_table("issued_reward_events")
    op.drop_index("ix_issued_rewards_due", table_name="issued_rewards")
    op.drop_index("ix_issued_rewards_member", table_name="issued_rewards")
    op.drop_table("issued_rewards")
    op.drop_index("ix_reward_pool_codes_free", table_name="reward_pool_codes")
    op.drop_table("reward_pool_codes")
    op.drop_table("reward_images")
    op.drop_table("rewards")
    op.drop_table("reward_settings")
