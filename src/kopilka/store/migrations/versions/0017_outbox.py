"""The transactional outbox: ``outbox_events``, one row per event, written in the same
transaction as the change it tells of; ``seq`` orders one member's events.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kopilka.store.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
AT = kopilka.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("dispatched_at", AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("member_id", "seq", name="uq_outbox_events_member_seq"),
    )
    op.create_index(
        "ix_outbox_events_undispatched",
        "outbox_events",
        ["program_id", "created_at"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    )
    op.create_index(
        "ix_outbox_events_program_created", "outbox_events", ["program_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_events_program_created", table_name="outbox_events")
    op.drop_index("ix_outbox_events_undispatched", table_name="outbox_events")
    op.drop_table("outbox_events")
