"""Anniversary tier reviews: ``member_tiers.review_due``, the member's next review (the
anniversary of reaching their earned tier). NULL for a standing stored before it: the
service derives it from the tier history at the first review that needs it.

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import UTCDateTime

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE on both databases, as 0024 added the paid floor's columns
    op.add_column("member_tiers", sa.Column("review_due", UTCDateTime(timezone=True)))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite since 3.35
    op.execute("ALTER TABLE member_tiers DROP COLUMN review_due")
