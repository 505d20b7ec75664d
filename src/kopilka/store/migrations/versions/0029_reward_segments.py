"""A reward's audience by segment: ``rewards.audience_segments`` (a JSON list of segment
codes, matched against the member's ``attributes.segments``; NULL: no segment named).

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Json

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rewards") as batch:
        batch.add_column(sa.Column("audience_segments", Json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rewards") as batch:
        batch.drop_column("audience_segments")
