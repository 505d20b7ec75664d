"""A long import keeps PostgreSQL's statistics of the tables it fills up to date, so each
batch's reads keep their index plans (autovacuum may be off or behind)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

from kopilka.services import audit
from kopilka.services.imports import import_members, import_purchases
from kopilka.services.imports.run import GrowingStatistics

from .test_import_factories import enroll_cards, loyalty_program, purchase_rows, write_csv


@contextmanager
def analyzes(engine: Engine) -> Iterator[list[str]]:
    """The ANALYZE statements run on the engine meanwhile."""
    seen: list[str] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("ANALYZE"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", spy)


def test_statistics_are_refreshed_each_time_the_booked_purchases_double(
    ctx, clock, tmp_path, monkeypatch
):
    monkeypatch.setattr(GrowingStatistics, "FIRST", 2)
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 4)
    path = write_csv(tmp_path / "p.csv", purchase_rows(cards, 16, redeem_every=1000))
    with analyzes(ctx.engine) as analyzed:
        report = import_purchases(ctx, program, path, batch_size=2)
    assert report.imported == 16
    assert audit.verify_ledger(ctx, program.id).ok
    growing = [s for s in analyzed if "purchases" in s]
    if ctx.engine.dialect.name == "postgresql":
        # batches of 2 purchases: refreshed after 2, 4, 8 and 16 were booked
        assert len(growing) == 4
    else:
        assert growing == []


def test_a_members_import_refreshes_the_identifier_statistics_too(
    ctx, make_program, tmp_path, monkeypatch
):
    monkeypatch.setattr(GrowingStatistics, "FIRST", 2)
    program = make_program()
    path = tmp_path / "members.csv"
    rows = [f"ext-{i},CARD{i:04d}" for i in range(1, 9)]
    path.write_text("\n".join(["external_id,card", *rows]) + "\n", encoding="utf-8")
    with analyzes(ctx.engine) as analyzed:
        report = import_members(ctx, program, path, batch_size=2)
    assert report.imported == 8
    growing = [s for s in analyzed if "member_identifiers" in s]
    # batches of 2 members: refreshed after 2, 4 and 8 were enrolled (PostgreSQL only)
    assert len(growing) == (3 if ctx.engine.dialect.name == "postgresql" else 0)
