"""Import paths added for speed: they must book and report exactly like the checked ones."""

from __future__ import annotations

from kopilka.services import audit
from kopilka.services.importer import import_purchases

from .test_import_factories import enroll_cards, loyalty_program, purchase_rows, write_csv


def test_a_receipt_with_duplicate_line_ids_is_reported_at_its_first_line(ctx, clock, tmp_path):
    """The basket's own check names a line id, not a file line: the receipt's line is used
    (a non-numeric line id used to stop the whole import)."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 2)
    rows = purchase_rows(cards, 4, redeem_every=1000)
    extra = [
        f"DUP,{cards[0]},2025-10-01T10:00:00+00:00,s1,A,SKU1,dairy,1,10.00,",
        f"DUP,{cards[0]},2025-10-01T10:00:00+00:00,s1,A,SKU2,dairy,1,11.00,",
    ]
    path = write_csv(tmp_path / "p.csv", rows, extra)
    report = import_purchases(ctx, program, path)
    assert (report.imported, report.rejected) == (4, 1)
    first = len(rows) + 2
    assert report.first_errors[0]["line"] == first
    assert report.first_errors[0]["code"] == "validation_error"
    assert audit.verify_ledger(ctx, program.id).ok
