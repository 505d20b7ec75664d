"""The worker's tables: job schedules with their leases, job runs, scheduled accruals and
the SQLite worker lock.

``job_schedules``: one row per program and job kind (its cron expression, when it is due
next, the lease of the worker running it). ``job_runs``: every run, with its outcome and
counts. ``scheduled_accruals`` and ``scheduled_accrual_members``: points an operator
scheduled for a list of members. ``worker_locks``: which process serves a SQLite database.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kopilka.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, kopilka.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "job_schedules",
        sa.Column("program_id", ID, nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=False),
        _at("next_run_at"),
        sa.Column("lease_holder", sa.String(length=128), nullable=True),
        _at("lease_expires_at", nullable=True),
        sa.Column("lease_run_id", ID, nullable=True),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_job_schedules_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", "job", name=op.f("pk_job_schedules")),
    )
    op.create_index("ix_job_schedules_due", "job_schedules", ["next_run_at"])
    op.create_table(
        "job_runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("program_id", ID, nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        _at("scheduled_for"),
        _at("started_at"),
        _at("ended_at", nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("counts", JSON, nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index("ix_job_runs_program", "job_runs", ["program_id", "id"])
    op.create_table(
        "scheduled_accruals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("program_id", ID, nullable=False),
        sa.Column("points", ID, nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        _at("run_at"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _at("created_at"),
        _at("ended_at", nullable=True),
        sa.Column("counts", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_scheduled_accruals_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_accruals")),
    )
    op.create_index(
        "ix_scheduled_accruals_due", "scheduled_accruals", ["program_id", "status", "run_at"]
    )
    op.create_table(
        "scheduled_accrual_members",
        sa.Column("accrual_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["accrual_id"],
            ["scheduled_accruals.id"],
            name=op.f("fk_scheduled_accrual_members_accrual_id_scheduled_accruals"),
        ),
        sa.PrimaryKeyConstraint("accrual_id", "member_id", name=op.f("pk_scheduled_accrual_members")),
    )
    op.create_table(
        "worker_locks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        _at("started_at"),
        _at("heartbeat_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_locks")),
    )


def downgrade() -> None:
    op.drop_table("worker_locks")
    op.drop_table("scheduled_accrual_members")
    op.drop_index("ix_scheduled_accruals_due", table_name="scheduled_accruals")
    op.drop_table("scheduled_accruals")
    op.drop_index("ix_job_runs_program", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index("ix_job_schedules_due", table_name="job_schedules")
    op.drop_table("job_schedules")
