"""Personal offers and favourite categories: the members listed for an offer, the
members' activations of offers, and their choices of favourite categories by period; and
the program's setting whether a return of a coupon's lines gives the coupon back.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, Json, UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reward_settings") as batch:
        batch.add_column(
            sa.Column(
                "coupon_back_on_return", sa.Boolean, nullable=False, server_default=sa.text("false")
            )
        )
    op.create_table(
        "offer_audiences",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "offer_id", "member_id", name="pk_offer_audiences"),
    )
    op.create_index("ix_offer_audiences_member", "offer_audiences", ["member_id"])
    op.create_table(
        "offer_activations",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("activated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.PrimaryKeyConstraint("program_id", "offer_id", "member_id", name="pk_offer_activations"),
    )
    op.create_index("ix_offer_activations_member", "offer_activations", ["member_id"])
    op.create_table(
        "favourite_choices",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("categories", Json, nullable=False),
        sa.Column("chosen_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "program_id", "rule_id", "member_id", "period_start", name="pk_favourite_choices"
        ),
    )
    op.create_index("ix_favourite_choices_member", "favourite_choices", ["member_id"])


def downgrade() -> None:
    with op.batch_alter_table("reward_settings") as batch:
        batch.drop_column("coupon_back_on_return")
    op.drop_index("ix_favourite_choices_member", table_name="favourite_choices")
    op.drop_table("favourite_choices")
    op.drop_index("ix_offer_activations_member", table_name="offer_activations")
    op.drop_table("offer_activations")
    op.drop_index("ix_offer_audiences_member", table_name="offer_audiences")
    op.drop_table("offer_audiences")
