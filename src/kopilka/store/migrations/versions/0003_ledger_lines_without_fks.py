"""Postings and lot draws without foreign keys (verify checks the references instead).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postings") as batch:
        batch.drop_constraint("fk_postings_entry_id_journal_entries", type_="foreignkey")
    with op.batch_alter_table("lot_draws") as batch:
        batch.drop_constraint("fk_lot_draws_lot_id_lots", type_="foreignkey")
        batch.drop_constraint("fk_lot_draws_entry_id_journal_entries", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("lot_draws") as batch:
        batch.create_foreign_key(
            "fk_lot_draws_entry_id_journal_entries", "journal_entries", ["entry_id"], ["id"]
        )
        batch.create_foreign_key("fk_lot_draws_lot_id_lots", "lots", ["lot_id"], ["id"])
    with op.batch_alter_table("postings") as batch:
        batch.create_foreign_key(
            "fk_postings_entry_id_journal_entries", "journal_entries", ["entry_id"], ["id"]
        )
