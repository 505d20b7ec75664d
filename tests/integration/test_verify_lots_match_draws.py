"""``kopilka verify``'s check "lots_match_draws": a lot's ``remaining`` is its amount less
what its draws took. The check reads every lot with its draws in one grouped join; this
pins down what it reports for lots with and without draws, scoped to a program or not."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from kopilka.ledger.verify import CHECKS, CheckResult, verify
from kopilka.services import points
from kopilka.services.points import Adjust, Redeem
from kopilka.store.repos.verification import VerificationRepo
from kopilka.store.tables import lots

CHECK = "lots_match_draws"


def _check(conn: Connection, program_id: int | None = None, sample: int = 10) -> CheckResult:
    report = verify(VerificationRepo(conn), program_id, sample=sample)
    return next(c for c in report.checks if c.name == CHECK)


def test_lots_that_disagree_with_their_draws_are_reported(ctx, make_program, make_member):
    assert CHECK in CHECKS
    program, other = make_program(), make_program()
    a, b, c = make_member(program), make_member(program), make_member(other)
    points.adjust(ctx, program, Adjust(a, 100, key="a1", reason="test", actor="test"))
    points.redeem(ctx, program, Redeem(a, 30, key="a2"))  # a's lot: 100, 30 drawn, 70 left
    points.adjust(ctx, program, Adjust(b, 40, key="b1", reason="test", actor="test"))  # no draws
    points.adjust(ctx, other, Adjust(c, 25, key="c1", reason="test", actor="test"))
    with ctx.engine.connect() as conn, conn.begin() as tx:
        # the whole database holds other tests' programs too (some corrupt theirs on
        # purpose): unscoped, this test only looks for its own lots
        assert _check(conn, program.id).violations == 0
        assert _check(conn, other.id).violations == 0

        def lot_of(member: int) -> int:
            return conn.execute(select(lots.c.id).where(lots.c.member_id == member)).scalar_one()

        lot_a, lot_b, lot_c = lot_of(a), lot_of(b), lot_of(c)
        conn.execute(update(lots).where(lots.c.id == lot_a).values(remaining=71))
        conn.execute(update(lots).where(lots.c.id == lot_b).values(remaining=39))
        conn.execute(update(lots).where(lots.c.id == lot_c).values(remaining=24))
        found = _check(conn, program.id)
        assert found.violations == 2
        assert sorted(found.samples) == sorted([f"{lot_a}, 100, 71, 30", f"{lot_b}, 40, 39, 0"])
        assert _check(conn, other.id).samples == [f"{lot_c}, 25, 24, 0"]
        everywhere = _check(conn, sample=100_000).samples
        assert {f"{lot_a}, 100, 71, 30", f"{lot_b}, 40, 39, 0", f"{lot_c}, 25, 24, 0"} <= set(
            everywhere
        )
        tx.rollback()
