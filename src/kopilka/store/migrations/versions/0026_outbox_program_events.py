"""Program events in the outbox: ``import.finished`` and ``accrual.done`` tell of the
program, not of one member, so an event's (and its deliveries') ``member_id`` may be null.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

from alembic import op

from kopilka.store.types import Id

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch:
        batch.alter_column("member_id", existing_type=Id, nullable=True)
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.alter_column("member_id", existing_type=Id, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM outbox_deliveries WHERE member_id IS NULL")
    op.execute("DELETE FROM outbox_events WHERE member_id IS NULL")
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.alter_column("member_id", existing_type=Id, nullable=False)
    with op.batch_alter_table("outbox_events") as batch:
        batch.alter_column("member_id", existing_type=Id, nullable=False)
