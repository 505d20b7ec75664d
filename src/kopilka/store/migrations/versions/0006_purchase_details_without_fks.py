"""Purchase lines and line awards without foreign keys (verify checks the references instead).

A purchase writes 5-10 ``purchase_lines`` rows and about 15 ``line_awards`` rows; on
PostgreSQL the key check of each row (a lookup and a row lock on its purchase) cost about
110 µs of server time per purchase in the bulk import, the largest server cost left.
Both tables are written only together with their purchase, by the same code path
(``PurchaseRepo.add`` and the importer's ``book_batch``) in the same transaction, with the
purchase id just taken: a key check there can only confirm what that code did. Nothing
deletes purchases. ``kopilka verify`` proves the references instead (check
``purchase_references_exist``), as it does for postings and lot draws since 0003.

``returns.purchase_id`` keeps its key: a return is one row per return request, written
later by another path (``PurchaseRepo.add_return``) with an id it looked up, so the check
costs little and can still catch a mistake. Return lines have no table of their own (they
are a JSON column of ``returns``).

The downgrade checks every existing row as it adds the keys back, and fails if
``purchase_references_exist`` has violations: remove those rows first.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("purchase_lines") as batch:
        batch.drop_constraint("fk_purchase_lines_purchase_id_purchases", type_="foreignkey")
    with op.batch_alter_table("line_awards") as batch:
        batch.drop_constraint("fk_line_awards_purchase_id_purchases", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("line_awards") as batch:
        batch.create_foreign_key(
            "fk_line_awards_purchase_id_purchases", "purchases", ["purchase_id"], ["id"]
        )
    with op.batch_alter_table("purchase_lines") as batch:
        batch.create_foreign_key(
            "fk_purchase_lines_purchase_id_purchases", "purchases", ["purchase_id"], ["id"]
        )
