"""``kopilka verify`` proves what the dropped foreign keys of migration 0006 used to:
every purchase line and line award names a purchase that exists."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select

from kopilka.ledger.verify import CHECKS, CheckResult, verify
from kopilka.services import purchases, rules
from kopilka.store.repos.verification import VerificationRepo
from kopilka.store.tables import line_awards, purchase_lines
from kopilka.store.tables import purchases as purchases_table
from tests import commands

CHECK = "purchase_references_exist"
RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
"""


def _check(conn: Connection, program_id: int | None = None) -> CheckResult:
    report = verify(VerificationRepo(conn), program_id, sample=10)
    return next(c for c in report.checks if c.name == CHECK)


def test_orphaned_purchase_lines_and_awards_are_reported(ctx, make_program, make_member):
    """A line and an award whose purchase does not exist are each a violation of the
    named check over the whole database; a booked purchase's own rows are not."""
    assert CHECK in CHECKS
    program = make_program()
    rules.publish(ctx, program, RULES, actor="test")
    member = make_member(program)
    booked = purchases.commit(
        ctx,
        program,
        commands.purchase(
            ctx,
            program,
            {
                "receipt_id": "verify-refs-1",
                "member_id": member,
                "lines": [
                    {"line_id": "1", "sku": "A", "quantity": "1", "amount": "250.00"},
                    {"line_id": "2", "sku": "B", "quantity": "2", "amount": "199.99"},
                ],
            },
        ),
    )
    assert booked["points_earned"] > 0  # so the purchase has line awards too
    with ctx.engine.connect() as conn, conn.begin() as tx:
        assert _check(conn).violations == 0
        missing = conn.execute(select(func.max(purchases_table.c.id))).scalar_one() + 1_000_000
        conn.execute(
            insert(purchase_lines).values(
                purchase_id=missing,
                line_id="orphan",
                sku="X",
                quantity="1",
                amount_minor=100,
                discount_minor=0,
                points_redeemed=0,
                points_earned=1,
            )
        )
        award_id = conn.execute(
            insert(line_awards)
            .values(purchase_id=missing, line_id="orphan", rule_id="base", rule_version=1, points=1)
            .returning(line_awards.c.id)
        ).scalar_one()
        found = _check(conn)
        assert found.violations == 2
        assert sorted(found.samples) == sorted(
            [f"purchase_line, {missing}, orphan", f"line_award, {missing}, {award_id}"]
        )
        # the rows name no program, so a run scoped to one cannot attribute them
        assert _check(conn, program.id).violations == 0
        tx.rollback()
