"""A long import keeps PostgreSQL's statistics of the tables it fills up to date, so each
batch's reads keep their index plans (autovacuum may be off or behind)."""

from __future__ import annotations

from sqlalchemy import event

from kopilka.services import audit
from kopilka.services.importer import _GrowingStatistics, import_purchases

from .test_import_factories import enroll_cards, loyalty_program, purchase_rows, write_csv


def test_statistics_are_refreshed_each_time_the_booked_purchases_double(
    ctx, clock, tmp_path, monkeypatch
):
    monkeypatch.setattr(_GrowingStatistics, "FIRST", 2)
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 4)
    path = write_csv(tmp_path / "p.csv", purchase_rows(cards, 16, redeem_every=1000))
    analyzed: list[str] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("ANALYZE"):
            analyzed.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", spy)
    try:
        report = import_purchases(ctx, program, path, batch_size=2)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", spy)
    assert report.imported == 16
    assert audit.verify_ledger(ctx, program.id).ok
    growing = [s for s in analyzed if "purchases" in s]
    if ctx.engine.dialect.name == "postgresql":
        # batches of 2 purchases: refreshed after 2, 4, 8 and 16 were booked
        assert len(growing) == 4
    else:
        assert growing == []
