"""Stored verify reports and the programs' totals snapshots.

``verify_reports``: each verification of a program's ledger (by the worker's ``verify``
job, the console's "Check now" or ``kopilka verify --program``): when, as of which journal
entry, each invariant's result, the totals and who asked. The console's verify page reads
the latest one instead of recomputing the ledger on every request.
``program_totals``: one row per program, the overview's figures as the worker's ``totals``
job last computed them (and as of when), so the overview reads one row instead of summing
every member's balance.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kopilka.store.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, kopilka.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "verify_reports",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("program_id", ID, nullable=False),
        _at("started_at"),
        _at("checked_at"),
        sa.Column("last_entry_id", ID, nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("checks", JSON, nullable=False),
        sa.Column("totals", JSON, nullable=False),
        sa.Column("ran_by", sa.String(length=128), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_verify_reports_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_reports")),
    )
    op.create_index("ix_verify_reports_program", "verify_reports", ["program_id", "id"])
    op.create_table(
        "program_totals",
        sa.Column("program_id", ID, nullable=False),
        _at("as_of"),
        sa.Column("last_entry_id", ID, nullable=True),
        sa.Column("totals", JSON, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_program_totals_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_program_totals")),
    )


def downgrade() -> None:
    op.drop_table("program_totals")
    op.drop_index("ix_verify_reports_program", table_name="verify_reports")
    op.drop_table("verify_reports")
