"""A reward as a personal offer: ``rewards.requires_activation`` (the member activates it
first; the activation is a row of ``offer_activations`` with the offer id ``reward:<id>``).

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rewards") as batch:
        batch.add_column(
            sa.Column(
                "requires_activation",
                sa.Boolean,
                nullable=False,
                server_default=sa.text("false"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("rewards") as batch:
        batch.drop_column("requires_activation")
