"""What a store-bound key may touch, and how often a birthday may change.

``holds.store``: the store a hold was made at (NULL: none, as the web shop's), so that a
till's key sees and ends only its own store's holds. ``members.birthday_changed_at``:
when the birthday was last changed after enrollment (changes are rationed, since the
birthday drives birthday bonuses). Both are nullable: existing rows keep NULL (an
existing hold has no store and is the web shop's; no birthday change is on record).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kopilka.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("store", sa.String(length=64), nullable=True))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birthday_changed_at", kopilka.store.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("birthday_changed_at")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_column("store")
