"""The stored ledger reports on both databases: the worker's ``verify`` job stores a report
(as of which entry, each invariant, the totals) that the console reads; the ``totals`` job
stores the overview's figures, which equal a full recomputation as of the run, stay as
they were until the next run, and follow the ledger after it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from kopilka.ledger.verify import CHECKS
from kopilka.services import ledger_reports
from kopilka.services import points as points_svc
from kopilka.services import programs as program_svc
from kopilka.services import worker as worker_svc
from kopilka.store.repos.reports import KEEP_REPORTS
from kopilka.store.tables import lots, verify_reports


def _worker(ctx, program, *jobs):
    return worker_svc.Worker(
        ctx,
        worker_svc.WorkerOptions(
            worker_id="W", poll_seconds=0.01, once=True, program_ids=(program.id,), jobs=jobs
        ),
    )


def _book(ctx, program, make_member, n: int, tag: str) -> None:
    for i in range(n):
        member = make_member(program)
        points_svc.earn(ctx, program, points_svc.Earn(member, 100 + i, key=f"{tag}-e{i}"))
        points_svc.redeem(ctx, program, points_svc.Redeem(member, 30, key=f"{tag}-r{i}"))
        points_svc.adjust(
            ctx,
            program,
            points_svc.Adjust(member, -5, key=f"{tag}-a{i}", reason="fix", actor="test"),
        )


def test_the_verify_job_stores_its_report(ctx, clock, make_program, make_member):
    """A worker round runs ``verify``: the stored report says ok, as of the program's
    newest journal entry, with every invariant and the totals, ``job`` as who ran it;
    the jobs page's run records its counts."""
    program = make_program()
    assert ledger_reports.latest_verify_report(ctx, program) is None
    _book(ctx, program, make_member, 3, "v")
    assert _worker(ctx, program, "verify").round() == 1
    report = ledger_reports.latest_verify_report(ctx, program)
    assert report is not None
    assert report["ok"]
    assert report["failed"] == 0
    assert report["ran_by"] == "job"
    assert report["checked_at"] == clock.now().isoformat()
    assert [c["name"] for c in report["checks"]] == list(CHECKS)
    assert report["totals"]["members"] == 3
    with ctx.uow(read_only=True) as uow:
        newest = uow.conn.execute(select(func.max(verify_reports.c.last_entry_id))).scalar_one()
    assert report["last_entry_id"] == newest
    run = worker_svc.list_runs(ctx, program, 10, "verify")[0]
    assert run["outcome"] == "ok"
    assert run["counts"] == {"checks": len(report["checks"]), "failed": 0}


def test_a_broken_ledger_is_stored_as_a_failed_report(ctx, make_program, make_member):
    """A lot whose remaining no longer matches its draws makes the stored report fail,
    naming the check and an example row; the next report after the repair is ok again."""
    program = make_program()
    _book(ctx, program, make_member, 1, "b")
    with ctx.uow() as uow:
        uow.conn.execute(update(lots).where(lots.c.program_id == program.id).values(remaining=1))
        uow.commit()
    report = ledger_reports.check_ledger(ctx, program, "console:test")
    assert not report["ok"]
    failed = {c["name"]: c for c in report["checks"] if not c["ok"]}
    assert "lots_match_draws" in failed
    assert failed["lots_match_draws"]["samples"]
    assert ledger_reports.latest_verify_report(ctx, program) == report


def test_only_the_newest_reports_are_kept(ctx, make_program):
    """Reports beyond the newest KEEP_REPORTS of a program are dropped as new ones come."""
    program = make_program()
    other = make_program()
    ledger_reports.check_ledger(ctx, other, "job")
    for _ in range(KEEP_REPORTS + 2):
        ledger_reports.check_ledger(ctx, program, "job")
    with ctx.uow(read_only=True) as uow:
        counts = dict(
            uow.conn.execute(
                select(verify_reports.c.program_id, func.count())
                .where(verify_reports.c.program_id.in_([program.id, other.id]))
                .group_by(verify_reports.c.program_id)
            ).all()
        )
    assert counts == {program.id: KEEP_REPORTS, other.id: 1}


def test_the_totals_snapshot_equals_a_full_recomputation(ctx, clock, make_program, make_member):
    """Before any run the overview computes its figures (not stored); after a ``totals``
    run they are read from the snapshot and equal a full recomputation; purchases after
    the run leave the snapshot as it was (its as-of time says so) until the next run,
    whose figures equal the recomputation again."""
    program = make_program()
    _book(ctx, program, make_member, 4, "t")
    before = ledger_reports.overview_totals(ctx, program)
    assert not before["stored"]
    assert before["totals"] == program_svc.program_totals(ctx, program)
    assert _worker(ctx, program, "totals").round() == 1
    first = ledger_reports.overview_totals(ctx, program)
    assert first["stored"]
    assert first["as_of"] == clock.now().isoformat()
    assert first["totals"] == program_svc.program_totals(ctx, program)
    assert first["totals"]["members"] == 4
    assert first["totals"]["issued"] == sum(100 + i for i in range(4))
    assert first["totals"]["redeemed"] == 4 * 30

    clock.advance(timedelta(seconds=30))
    _book(ctx, program, make_member, 2, "u")
    assert ledger_reports.overview_totals(ctx, program) == first
    assert program_svc.program_totals(ctx, program)["members"] == 6

    clock.advance(timedelta(seconds=30))
    assert _worker(ctx, program, "totals").round() == 1
    second = ledger_reports.overview_totals(ctx, program)
    assert second["totals"] == program_svc.program_totals(ctx, program)
    assert second["totals"]["members"] == 6
    assert second["as_of"] == clock.now().isoformat()
    assert second["last_entry_id"] > first["last_entry_id"]


def test_an_older_snapshot_does_not_replace_a_newer_one(ctx, clock, make_program, make_member):
    """Two runs racing: the one that read the earlier state, storing last, leaves the
    newer snapshot in place."""
    program = make_program()
    _book(ctx, program, make_member, 1, "o")
    newer = ledger_reports.snapshot_totals(ctx, program)
    clock.advance(timedelta(seconds=-30))
    ledger_reports.snapshot_totals(ctx, program)
    assert ledger_reports.overview_totals(ctx, program)["as_of"] == newer["as_of"]
