"""An entry of one member is written with the balance it leaves: on PostgreSQL in the
entry's own statement (one round trip where it took two), on SQLite one after the other;
the same rows either way."""

from __future__ import annotations

from typing import Any

import pytest

from kopilka.services import members, points
from kopilka.services.points import Earn, PlaceHold, Redeem
from tests.integration.ledger.conftest import assert_verifies


@pytest.mark.parametrize("operation", ["earn", "redeem", "hold"])
def test_an_entry_carries_its_members_balance(
    operation, ctx, backend, make_program, funded_member, monkeypatch
):
    program = make_program()
    member = funded_member(program, 300)
    sent: list[str] = []
    if backend.startswith("postgresql"):
        import psycopg

        real = psycopg.Cursor.execute

        def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(query if isinstance(query, str) else str(query))
            return real(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    if operation == "earn":
        points.earn(ctx, program, Earn(member, 70, key="op"))
        expected = (370, 0, 0)
    elif operation == "redeem":
        points.redeem(ctx, program, Redeem(member, 120, key="op"))
        expected = (180, 0, 0)
    else:
        points.hold(ctx, program, PlaceHold(member, 50, key="op"))
        expected = (250, 0, 50)
    monkeypatch.undo()
    b = members.get_balance(ctx, program, member)
    assert (b.available, b.pending, b.held) == expected
    assert_verifies(ctx, program.id)
    if backend.startswith("postgresql"):
        journal = [q for q in sent if "INSERT INTO journal_entries" in q]
        assert len(journal) == 1
        assert "UPDATE member_balances" in journal[0]
        assert not [q for q in sent if q.lstrip().startswith("UPDATE member_balances")]
