"""Rules proposed by a marketer and approved by an admin (issue 20, "Rules as campaigns").

``programs.rules_approval``: whether a marketer's publication of rules becomes a proposal
that an admin approves (``kopilka program set-rules-approval CODE on``); off by default,
so every program keeps publishing directly. ``rule_proposals``: each proposal with its
document and effective time, who proposed it and when, and its decision (``proposed``,
``approved`` with the version it published, or ``rejected`` with the admin's comment).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "programs",
        sa.Column("rules_approval", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "rule_proposals",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("effective_at", UTCDateTime),
        sa.Column("proposed_by", sa.String(128), nullable=False),
        sa.Column("proposed_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("comment", sa.String(1000)),
        sa.Column("version", sa.Integer()),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_rule_proposals_program_id_programs"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rule_proposals"),
    )
    op.create_index("ix_rule_proposals_program", "rule_proposals", ["program_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_rule_proposals_program", table_name="rule_proposals")
    op.drop_table("rule_proposals")
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("rules_approval")
