"""What an import reports and stores keeps its shape: the report's first errors (``row`` as
well as ``line`` for Parquet) and the checkpoint's counts (four for members, six for
purchases), which resumed runs and the CLI's JSON read back."""

from __future__ import annotations

from kopilka.services.imports import import_members, import_purchases, open_source
from kopilka.store.bulk.lookup import read_checkpoint

from .test_import_factories import (
    enroll_cards,
    loyalty_program,
    purchase_rows,
    write_csv,
    write_parquet,
)

ERROR_FIELDS = ["line", "key", "code", "field", "message"]
MEMBER_COUNTS = ["rows", "imported", "already", "rejected"]
PURCHASE_COUNTS = [*MEMBER_COUNTS, "points_earned", "points_redeemed"]


def _stored_counts(ctx, program, kind, path) -> dict[str, int]:
    with ctx.uow(read_only=True) as uow:
        return read_checkpoint(uow.conn, program.id, kind, open_source(path).sha256).counts


def test_first_errors_name_the_parquet_row_and_the_csv_line(ctx, clock, tmp_path):
    """A Parquet file's bad receipts are listed by ``row`` (and ``line``, the same index);
    a CSV file's by ``line``; each with key, code, field and message, in that order."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 2)
    rows = purchase_rows([*cards, "NOSUCHCARD"], 9, redeem_every=1000)
    parquet = import_purchases(ctx, program, write_parquet(tmp_path / "p.parquet", rows))
    assert parquet.rejected == 3
    first = parquet.first_errors[0]
    assert list(first) == ["row", *ERROR_FIELDS]
    assert first["row"] == first["line"]
    assert (first["code"], first["field"]) == ("not_found", "member_card")

    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 2)
    rows = purchase_rows([*cards, "NOSUCHCARD"], 9, redeem_every=1000)
    csv = import_purchases(ctx, program, write_csv(tmp_path / "p.csv", rows))
    assert csv.rejected == 3
    assert [list(e) for e in csv.first_errors] == [ERROR_FIELDS] * 3


def test_checkpoints_store_the_counts_of_their_kind_only(ctx, clock, tmp_path):
    """A purchases checkpoint stores six counts; a members checkpoint four (no points)."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 3)
    path = write_csv(tmp_path / "p.csv", purchase_rows(cards, 12, redeem_every=3))
    report = import_purchases(ctx, program, path, batch_size=5)
    counts = _stored_counts(ctx, program, "purchases", path)
    assert sorted(counts) == sorted(PURCHASE_COUNTS)  # PostgreSQL (JSONB) keeps no order
    assert counts["imported"] == report.imported
    assert counts["points_earned"] == report.points_earned > 0

    members = tmp_path / "m.csv"
    members.write_text("external_id,first_name\next-1,Anna\next-2,Boris\n", encoding="utf-8")
    report = import_members(ctx, program, members)
    counts = _stored_counts(ctx, program, "members", members)
    assert counts == {"rows": 2, "imported": 2, "already": 0, "rejected": 0}
    assert report.imported == 2
