"""The importer refuses the amounts, quantities and ids the API refuses, row by row."""

from __future__ import annotations

from kopilka.services import audit
from kopilka.services.imports import import_purchases

from .test_import_factories import enroll_cards, loyalty_program, purchase_rows, write_csv

AT = "2025-10-01T10:00:00+00:00"
# receipt_id,member_card,occurred_at,store,line_id,sku,category,quantity,amount,redeemed_points
BAD = {
    "arabic-amount": ["{rid},{card},{at},s1,1,SKU1,dairy,1,١٢٣,"],
    "arabic-quantity": ["{rid},{card},{at},s1,1,SKU1,dairy,٢,10.00,"],
    "huge-line": ["{rid},{card},{at},s1,1,SKU1,dairy,1,999999999999.99,"],
    "line-at-max": ["{rid},{card},{at},s1,1,SKU1,dairy,1,10000000,"],
    "big-receipt": [f"{{rid}},{{card}},{{at}},s1,{i},SKU1,dairy,1,9999999.99," for i in range(11)],
    "exponent": ["{rid},{card},{at},s1,1,SKU1,dairy,1,1e3,"],
    "slash-line": ["{rid},{card},{at},s1,a/b,SKU1,dairy,1,10.00,"],
}


def test_bad_amounts_quantities_and_ids_are_refused_with_their_line(ctx, clock, tmp_path):
    """Digits of other scripts, an exponent, a line of 10^7 or more, a receipt of 10^8 or
    more and an id outside the grammar are each a refused receipt naming its CSV line and
    field, by the fast reader and the checked one alike; nothing of them is booked."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 2)
    rows = purchase_rows(cards, 4, redeem_every=1000)
    extra: list[str] = []
    starts: dict[str, int] = {}
    for name, lines in BAD.items():
        starts[name] = len(rows) + 2 + len(extra)  # header is line 1
        extra += [ln.format(rid=f"X-{name}", card=cards[0], at=AT) for ln in lines]
    # a receipt id with a slash is refused like the API refuses it
    starts["slash-receipt"] = len(rows) + 2 + len(extra)
    extra.append(f"X/slash,{cards[0]},{AT},s1,1,SKU1,dairy,1,10.00,")
    path = write_csv(tmp_path / "p.csv", rows, extra)
    report = import_purchases(ctx, program, path, batch_size=5)
    assert (report.imported, report.rejected) == (4, len(BAD) + 1)
    rejects = (tmp_path / "p.csv.rejects.csv").read_text(encoding="utf-8").splitlines()[1:]
    got = {int(r.split(",")[0]): (r.split(",")[2], r.split(",")[3]) for r in rejects}
    assert got == {
        starts["arabic-amount"]: ("validation_error", "lines[0].amount"),
        starts["arabic-quantity"]: ("validation_error", "lines[0].quantity"),
        starts["huge-line"]: ("validation_error", "lines[0].amount"),
        starts["line-at-max"]: ("validation_error", "lines[0].amount"),
        starts["big-receipt"]: ("validation_error", "lines"),
        starts["exponent"]: ("validation_error", "lines[0].amount"),
        starts["slash-line"]: ("validation_error", "line_id"),
        starts["slash-receipt"]: ("validation_error", "receipt_id"),
    }
    assert audit.verify_ledger(ctx, program.id).ok
