"""One-time codes and reminders: the portal's sign-in sends a 6-digit code; its HMAC, the
address's HMAC, the expiry, the tries and the end are kept in ``one_time_codes``. Each
program's reminder switches and parameters are in ``reminder_settings``.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, Json, UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "one_time_codes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("member_id", Id),
        sa.Column("address_digest", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("ended_at", UTCDateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_codes"),
    )
    op.create_index(
        "ix_one_time_codes_address",
        "one_time_codes",
        ["program_id", "address_digest", "created_at"],
    )

    op.create_table(
        "reminder_settings",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_reminder_settings_program_id_programs"
        ),
        sa.PrimaryKeyConstraint("program_id", name="pk_reminder_settings"),
    )


def downgrade() -> None:
    op.drop_table("reminder_settings")
    op.drop_index("ix_one_time_codes_address", table_name="one_time_codes")
    op.drop_table("one_time_codes")
