"""``import purchases --jobs N``: N processes split by member book what one process books."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopilka.domain.errors import ValidationError
from kopilka.services import audit, members, rules
from kopilka.services.context import ServiceContext
from kopilka.services.imports import import_purchases
from kopilka.store.tables import purchases as purchases_t

from ..conftest import engine_for
from .test_import_factories import (
    RULES,
    loyalty_program,
    purchase_rows,
    write_csv,
    write_parquet,
)
from .test_import_purchases import BAD_LINES, count, ledger_snapshot

pytestmark = pytest.mark.xdist_group("import-jobs")  # spawns processes: keep them on one worker


@pytest.fixture
def pg(postgres_url: str, clock) -> ServiceContext:
    return ServiceContext(engine_for(postgres_url), clock)


def _twin_programs(ctx, clock, n_members: int):
    """Two programs with the same members (card and phone), for one import each."""
    a, b = loyalty_program(ctx, clock), loyalty_program(ctx, clock)
    cards = [f"C{uuid.uuid4().hex[:10].upper()}" for _ in range(n_members)]
    phones = [f"+7900{i:07d}" for i in range(n_members)]
    for program in (a, b):
        for card, phone in zip(cards, phones, strict=True):
            members.enroll(
                ctx,
                program,
                members.Enroll(members.identifiers([("card", card), ("phone", phone)])),
            )
    return a, b, cards, phones


def _rows(cards, phones, receipts: int, *, seed: int | None = None, redeem_every: int = 3):
    """Purchases naming a member by card or, for every third receipt, by phone: the same
    member then reaches the import under two identifiers. With a ``seed`` each receipt's
    member is drawn at random instead of in turn."""
    out = []
    rnd = random.Random(seed)
    drawn: dict[str, str] = {}
    for row in purchase_rows(cards, receipts, redeem_every=redeem_every, seed=seed or 7):
        card = row.pop("member_card")
        if seed is not None:
            card = drawn.setdefault(row["receipt_id"], rnd.choice(cards))
        by_phone = int(row["receipt_id"].rsplit("R", 1)[1]) % 3 == 0
        head = {
            "receipt_id": row.pop("receipt_id"),
            "member_card": None if by_phone else card,
            "member_phone": phones[cards.index(card)] if by_phone else None,
        }
        out.append({**head, **row})
    return out


def _bad_lines(card: str, which=BAD_LINES) -> list[str]:
    """The bad rows of the one-process tests, with an empty member_phone cell."""
    return [
        ",".join([*ln.split(",")[:2], "", *ln.split(",")[2:]])
        for ln in (line.format(rid="X", card=card) for line in which)
    ]


def _rejects(path) -> list[str]:
    return sorted(path.read_text().splitlines()[1:])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_jobs_book_exactly_what_one_process_books(pg, clock, tmp_path, fmt):
    """Same receipts booked and rejected with the same errors, same points, same ledger per
    member (refused redemptions included, so the order within a member matters), for a
    file naming members by card and by phone, with bad rows, in many small batches."""
    one, many, cards, phones = _twin_programs(pg, clock, 7)
    rows = _rows(cards, phones, 120)
    if fmt == "csv":
        extra = _bad_lines(cards[0])
        first = write_csv(tmp_path / "a.csv", rows, extra)
        second = write_csv(tmp_path / "b.csv", rows, extra)
    else:
        first = write_parquet(tmp_path / "a.parquet", rows)
        second = write_parquet(tmp_path / "b.parquet", rows)
    a = import_purchases(pg, one, first, batch_size=9)
    b = import_purchases(pg, many, second, batch_size=9, jobs=3)
    assert b.jobs == 3
    fields = ("rows", "imported", "already", "rejected", "points_earned", "points_redeemed")
    assert [getattr(b, f) for f in fields] == [getattr(a, f) for f in fields]
    assert a.rejected > (4 if fmt == "csv" else 0)  # refused redemptions besides bad rows
    assert ledger_snapshot(pg, many) == ledger_snapshot(pg, one)
    assert _rejects(tmp_path / f"b.{fmt}.rejects.csv") == _rejects(
        tmp_path / f"a.{fmt}.rejects.csv"
    )
    report = audit.verify_ledger(pg, many.id)
    assert report.ok, report.to_dict()
    again = import_purchases(pg, many, second, jobs=3)
    assert again.status == "already_done"
    assert again.imported == b.imported


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_file_books_alike_with_any_number_of_jobs(pg, clock, tmp_path_factory, data):
    """Random files (members drawn at random, named by card or phone, redemptions that the
    ledger may refuse, bad rows), any number of jobs and any batch size: the same counts,
    rejects and ledger as one process."""
    n_members = data.draw(st.integers(1, 7), label="members")
    one, many, cards, phones = _twin_programs(pg, clock, n_members)
    rows = _rows(
        cards,
        phones,
        data.draw(st.integers(1, 50), label="receipts"),
        seed=data.draw(st.integers(0, 2**16), label="seed"),
        redeem_every=data.draw(st.integers(2, 6), label="redeem_every"),
    )
    fmt = data.draw(st.sampled_from(["csv", "parquet"]), label="format")
    batch = data.draw(st.integers(1, 12), label="batch")
    jobs = data.draw(st.integers(2, 4), label="jobs")
    folder = tmp_path_factory.mktemp("jobs")
    if fmt == "csv":
        extra = _bad_lines(cards[0]) if data.draw(st.booleans(), label="bad rows") else []
        paths = [write_csv(folder / f"{name}.csv", rows, extra) for name in "ab"]
    else:
        paths = [write_parquet(folder / f"{name}.parquet", rows) for name in "ab"]
    a = import_purchases(pg, one, paths[0], batch_size=batch)
    b = import_purchases(pg, many, paths[1], batch_size=batch, jobs=jobs)
    fields = ("rows", "imported", "already", "rejected", "points_earned", "points_redeemed")
    assert [getattr(b, f) for f in fields] == [getattr(a, f) for f in fields]
    assert ledger_snapshot(pg, many) == ledger_snapshot(pg, one)
    if a.rejected:
        assert _rejects(folder / f"b.{fmt}.rejects.csv") == _rejects(
            folder / f"a.{fmt}.rejects.csv"
        )
    assert audit.verify_ledger(pg, many.id).ok


def crash_in_second_batch(batch: int) -> None:
    """Runs in the booking processes (hence module level)."""
    if batch == 2:
        raise RuntimeError("power cut")


def test_an_interrupted_import_with_jobs_resumes_each_job_after_its_last_batch(pg, clock, tmp_path):
    """Every job commits its first batch and dies in its second; the re-run (asking for
    one job) goes on with the three the import began with, and ends exactly as an
    uninterrupted one-process import."""
    clean, crashed, cards, phones = _twin_programs(pg, clock, 6)
    rows = _rows(cards, phones, 90)
    import_purchases(pg, clean, write_csv(tmp_path / "a.csv", rows), batch_size=8)
    path = write_csv(tmp_path / "b.csv", rows)
    with pytest.raises(RuntimeError, match="power cut"):
        import_purchases(
            pg, crashed, path, batch_size=8, jobs=3, before_commit=crash_in_second_batch
        )
    # each job's first batch may have committed (or not yet, when another job's crash
    # stopped it first; a batch can also book nothing, its redemptions all refused)
    assert count(pg, purchases_t, crashed) < count(pg, purchases_t, clean)
    report = import_purchases(pg, crashed, path, batch_size=8, jobs=1)
    assert report.jobs == 3
    assert report.already == 0  # no batch booked twice
    assert ledger_snapshot(pg, crashed) == ledger_snapshot(pg, clean)
    assert report.imported == count(pg, purchases_t, clean)
    assert audit.verify_ledger(pg, crashed.id).ok


def test_reject_mode_with_jobs_books_nothing_from_a_file_with_a_bad_row(pg, clock, tmp_path):
    program, _, cards, phones = _twin_programs(pg, clock, 3)
    rows = _rows(cards, phones, 20)
    for row in rows:
        row["redeemed_points"] = None
    path = write_csv(tmp_path / "p.csv", rows, _bad_lines(cards[0], BAD_LINES[:1]))
    with pytest.raises(ValidationError) as err:
        import_purchases(pg, program, path, on_error="reject", jobs=2)
    assert err.value.details["rejected"] == 1
    assert count(pg, purchases_t, program) == 0
    clean = import_purchases(
        pg, program, write_csv(tmp_path / "q.csv", rows), on_error="reject", jobs=2
    )
    assert (clean.imported, clean.rejected) == (20, 0)


def test_jobs_are_refused_where_they_cannot_book_as_one_process(
    pg, sqlite_url: str, clock, tmp_path
):
    """SQLite (one writer) and campaign budgets (spent in file order across members)
    refuse --jobs with a clear error, before anything is written."""
    lite = ServiceContext(engine_for(sqlite_url), clock)
    program, _, cards, phones = _twin_programs(lite, clock, 2)
    path = write_csv(tmp_path / "p.csv", _rows(cards, phones, 5))
    with pytest.raises(ValidationError, match="needs PostgreSQL") as err:
        import_purchases(lite, program, path, jobs=2)
    assert err.value.details["field"] == "jobs"
    assert count(lite, purchases_t, program) == 0

    budgeted, _, cards, phones = _twin_programs(pg, clock, 2)
    rules.publish(pg, budgeted, RULES.replace("per_member_day: 40", "budget: 1000"), actor="t")
    path = write_csv(tmp_path / "q.csv", _rows(cards, phones, 5))
    with pytest.raises(ValidationError, match="campaign budget"):
        import_purchases(pg, budgeted, path, jobs=2)
    assert count(pg, purchases_t, budgeted) == 0
    assert import_purchases(pg, budgeted, path).imported == 5
