"""Callers' idempotency keys that took the form of Kopilka's own are moved out of its way.

Before this release a caller's key was stored as sent, in the namespace of the keys
Kopilka makes itself: an earn under ``Idempotency-Key: purchase:R-1001`` took the key
receipt R-1001 is booked under, and the receipt answered 409 for good (so did an event
or a return whose key was taken). A caller's key is now stored as
``caller:<caller>:<key>`` (``kopilka.ledger.idempotency``), so no new one can; this moves
the ones already stored. A row is a caller's when it is under ``purchase:``,
``return:``, ``event:`` or ``import:`` and either its operation is not that key's own
(``purchase``, ``return``, ``event``, ``import``), or it is a success of that operation
whose answer names another receipt, return or event (a till that sent
``purchase:R-1001`` as the key of receipt R-2). It goes to ``caller:legacy:<key>``,
where no caller reaches (callers are API key ids, ``member-<id>`` and ``cli``); a row
too long for the column with that prefix (a key of more than 241 characters, possible
only from the CLI) is deleted. The receipts, returns, events and imports keep their own
rows as they were, so each still answers its replay.

Not moved, as a row cannot tell: a refusal stored under a receipt's, a return's or an
event's key by its own operation (it may be that receipt's own, made under the key
itself). README, "Upgrading", says how to find them.

Downgrade moves nothing back: the older code would only be blocked by them again.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LEGACY = "caller:legacy:"
MAX_KEY = 255
# the prefix of each key Kopilka makes itself, and the operation stored under it
OWN = {"purchase:": "purchase", "return:": "return", "event:": "event", "import:": "import"}


# the key a stored success of the key's own operation was made for, from its answer
ANSWERED = {
    "purchase:": "'purchase:' || {receipt_id}",
    "return:": "'return:' || {receipt_id} || ':' || {return_id}",
    "event:": "'event:' || {event_id}",
}


def _field(dialect: str, name: str) -> str:
    if dialect == "postgresql":
        return f"(response ->> '{name}')"
    return f"json_extract(response, '$.{name}')"


def upgrade() -> None:
    conn = op.get_bind()
    dialect = conn.dialect.name
    for prefix, operation in OWN.items():
        # substr, not LIKE: SQLite's LIKE ignores case, and these keys are compared exactly
        squatter = 'substr("key", 1, :n) = :prefix AND (operation <> :operation'
        if prefix in ANSWERED:
            names = ("receipt_id", "return_id", "event_id")
            answered = ANSWERED[prefix].format(**{n: _field(dialect, n) for n in names})
            # NULL (an answer without the field) compares as unknown: such a row stays
            squatter += f' OR (succeeded AND {answered} <> "key")'
        squatter += ")"
        params = {"n": len(prefix), "prefix": prefix, "operation": operation}
        conn.execute(
            sa.text(
                f'UPDATE idempotency_keys SET "key" = :legacy || "key" WHERE {squatter}'
                ' AND length("key") <= :room'
            ),
            {**params, "legacy": LEGACY, "room": MAX_KEY - len(LEGACY)},
        )
        conn.execute(sa.text(f"DELETE FROM idempotency_keys WHERE {squatter}"), params)


def downgrade() -> None:
    pass
