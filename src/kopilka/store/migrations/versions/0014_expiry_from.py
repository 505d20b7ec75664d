"""A program's expiry counts from the earning (the default) or from the activation.

``programs.expiry_from``: ``earning`` or ``activation`` (``kopilka program
set-expiry-from``); every existing program keeps counting from the earning.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.add_column(
            sa.Column("expiry_from", sa.String(length=16), nullable=False, server_default="earning")
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("expiry_from")
