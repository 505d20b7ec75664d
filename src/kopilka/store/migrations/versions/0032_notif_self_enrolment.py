"""Self-enrolment in the portal: a one-time code's ``purpose`` (``sign_in``, or ``join``:
a code to join, sent whether or not a member has the address), and each program's portal
settings (``portal_settings``: whether visitors may join online).

Revision ID: 0032
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, Json, UTCDateTime

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("one_time_codes") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(8), nullable=False, server_default="sign_in")
        )
    op.create_table(
        "portal_settings",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_portal_settings_program_id_programs"
        ),
        sa.PrimaryKeyConstraint("program_id", name="pk_portal_settings"),
    )


def downgrade() -> None:
    op.drop_table("portal_settings")
    with op.batch_alter_table("one_time_codes") as batch:
        batch.drop_column("purpose")
