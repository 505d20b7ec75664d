"""A purchase keeps its partner and payment method.

Both are receipt-level facts the rules may test (``when: {partners: [...]}``,
``when: {payment_methods: [...]}``); until now they drove the points of a purchase but
were not stored with it, so a purchase could not show why a partner or payment rule
applied. Nullable: purchases booked before keep NULL (the facts were not kept).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # appended, so the table's column order stays the metadata's (the importer's bulk
    # rows follow it)
    op.add_column("purchases", sa.Column("partner", sa.String(64), nullable=True))
    op.add_column("purchases", sa.Column("payment_method", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("purchases") as batch:
        batch.drop_column("payment_method")
        batch.drop_column("partner")
