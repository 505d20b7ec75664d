"""The jobs worker on both databases: claims with leases, takeover after a dead worker's
lease expires, one run of a job at a time, every run recorded, scheduled accruals booked
once per member even when two workers race or a run is repeated."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from kopilka.domain.clock import FrozenClock
from kopilka.domain.errors import NotFoundError, ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services import members as member_svc
from kopilka.services import points as points_svc
from kopilka.services import worker as worker_svc
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef
from kopilka.services.worker.runner import _Run
from kopilka.store.tables import scheduled_accruals

LEASE = timedelta(minutes=2)


def options(program, worker_id: str, **kw) -> worker_svc.WorkerOptions:
    return worker_svc.WorkerOptions(
        worker_id=worker_id,
        lease=LEASE,
        poll_seconds=0.01,
        once=True,
        program_ids=(program.id,),
        **kw,
    )


def runs_of(ctx, program, job=None):
    return worker_svc.list_runs(ctx, program, 100, job)


def test_a_claimed_job_is_nobody_elses_until_its_lease_expires(ctx, clock, make_program):
    """Worker A claims the sweep; B finds nothing to claim while A's lease lasts; A dies
    (never renews); once the lease expired B takes the job over, A's run is recorded as
    abandoned, and A, coming back, has lost its lease and changes nothing."""
    program = make_program()
    worker_svc.ensure_schedules(ctx, [program.id])
    a = worker_svc.claim(ctx, "A", LEASE, [program.id], ["sweep"])
    assert a is not None
    assert not a["took_over"]
    assert worker_svc.claim(ctx, "B", LEASE, [program.id], ["sweep"]) is None
    clock.advance(LEASE - timedelta(seconds=1))
    assert worker_svc.claim(ctx, "B", LEASE, [program.id], ["sweep"]) is None
    clock.advance(timedelta(seconds=1))
    b = worker_svc.claim(ctx, "B", LEASE, [program.id], ["sweep"])
    assert b is not None
    assert b["took_over"]
    outcomes = {r["id"]: r["outcome"] for r in runs_of(ctx, program, "sweep")}
    assert outcomes == {a["run_id"]: "abandoned", b["run_id"]: "running"}
    # A wakes up: its renewal fails, so its run stops at its next batch
    late = _Run(ctx, a, options(program, "A"), threading.Event())
    clock.advance(LEASE)
    with pytest.raises(worker_svc.RunStopped):
        late.checkpoint(1)
    report = worker_svc.execute(ctx, b, options(program, "B"))
    assert report["outcome"] == "ok"
    (sweep,) = [s for s in worker_svc.list_schedules(ctx, program) if s["job"] == "sweep"]
    assert sweep["running_by"] is None
    assert sweep["next_run_at"] > ctx.now()


def test_a_round_runs_every_due_job_and_records_it(ctx, clock, make_program, make_member):
    """A fresh program's jobs are due at once: one round runs the sweep (expiring a lot
    that is due) and the accruals job, records both as ok with their counts, and moves
    each schedule to its next slot; a second round at the same time runs nothing."""
    program = make_program(expiry_kind="days", expiry_n=1)
    member = make_member(program)
    points_svc.earn(ctx, program, points_svc.Earn(member, 40, key=f"w-{member}"))
    clock.advance(timedelta(days=2))
    worker = worker_svc.Worker(ctx, options(program, "W", jobs=("sweep", "accruals")))
    assert worker.round() == 2
    runs = {r["job"]: r for r in runs_of(ctx, program)}
    assert runs["sweep"]["outcome"] == "ok"
    assert runs["sweep"]["counts"]["lots_expired"] == 1
    assert runs["accruals"]["counts"] == {"accruals": 0, "credited": 0, "refused": 0}
    assert all(r["ended_at"] is not None and r["worker"] == "W" for r in runs.values())
    assert member_svc.get_balance(ctx, program, member).available == 0
    assert worker.round() == 0
    clock.advance(timedelta(minutes=5))
    assert worker.round() == 2  # the sweep's next 5-minute slot, and the minute's accruals


def test_a_stopped_worker_interrupts_its_run_and_the_job_is_due_again(
    ctx, clock, make_program, make_member
):
    """Asked to stop, the run ends after its batch as interrupted, and the schedule is left
    due so the next worker runs it at once."""
    program = make_program(expiry_kind="days", expiry_n=1)
    member = make_member(program)
    points_svc.earn(ctx, program, points_svc.Earn(member, 40, key=f"s-{member}"))
    clock.advance(timedelta(days=2))
    worker_svc.ensure_schedules(ctx, [program.id])
    claimed = worker_svc.claim(ctx, "S", LEASE, [program.id], ["sweep"])
    assert claimed is not None
    stop = threading.Event()
    stop.set()
    report = worker_svc.execute(ctx, claimed, options(program, "S"), stop)
    assert report["outcome"] == "interrupted"
    assert worker_svc.claim(ctx, "T", LEASE, [program.id], ["sweep"]) is not None


def test_a_set_schedule_is_read_in_the_programs_zone(ctx, make_program):
    """A schedule set for 03:00 in Moscow is next due at 00:00 UTC; a bad one writes nothing."""
    program = make_program(timezone="Europe/Moscow")
    row = worker_svc.set_schedule(ctx, program, worker_svc.SetSchedule("sweep", "0 3 * * *"))
    assert row["next_run_at"].isoformat() == "2026-03-15T00:00:00+00:00"
    with pytest.raises(Exception, match="cron"):
        worker_svc.set_schedule(ctx, program, worker_svc.SetSchedule("sweep", "0 25 * * *"))
    (sweep,) = [s for s in worker_svc.list_schedules(ctx, program) if s["job"] == "sweep"]
    assert sweep["cron"] == "0 3 * * *"


def _accrual(ctx, program, members, points=500):
    return worker_svc.schedule_accrual(
        ctx,
        program,
        worker_svc.ScheduleAccrual(
            tuple(MemberRef(member_id=m) for m in members),
            points,
            "spring gift",
            ctx.now() + timedelta(hours=1),
            "cli:test",
        ),
    )


def test_an_accrual_with_an_unknown_member_writes_nothing(ctx, make_program, make_member):
    """One member the program does not have refuses the whole schedule, by position only."""
    program = make_program()
    m = make_member(program)
    with pytest.raises(NotFoundError, match="member number 2"):
        _accrual(ctx, program, [m, 10**9])
    assert worker_svc.list_accruals(ctx, program) == []
    bad_card = MemberRef(identifier=(IdentifierKind.CARD, "x"))
    with pytest.raises(ValidationError, match="member number 2 of the list: card number"):
        worker_svc.schedule_accrual(
            ctx,
            program,
            worker_svc.ScheduleAccrual(
                (MemberRef(member_id=m), bad_card), 5, "r", ctx.now(), "cli:test"
            ),
        )
    assert worker_svc.list_accruals(ctx, program) == []


def test_a_scheduled_accrual_runs_at_its_time_once_per_member(
    ctx, clock, make_program, make_member
):
    """Nothing is booked before run_at; at run_at the job credits each member once (the
    accruals job was brought forward to it); repeating the booking (a run taken over after
    a crash) credits nobody twice."""
    program = make_program()
    members = [make_member(program) for _ in range(3)]
    done = _accrual(ctx, program, [*members, members[0]])
    assert done["members"] == 3
    worker = worker_svc.Worker(ctx, options(program, "W"))
    worker.round()
    assert member_svc.get_balance(ctx, program, members[0]).available == 0
    clock.advance(timedelta(hours=1))
    worker.round()
    (row,) = worker_svc.list_accruals(ctx, program)
    assert row["status"] == "done"
    assert row["counts"] == {"credited": 3, "refused": 0}
    # as if the run had crashed before marking it done: the accrual is due again
    with ctx.uow() as uow:
        uow.conn.execute(
            update(scheduled_accruals)
            .where(scheduled_accruals.c.id == row["id"])
            .values(status="scheduled")
        )
        uow.commit()
    clock.advance(timedelta(minutes=1))
    worker.round()
    for m in members:
        assert member_svc.get_balance(ctx, program, m).available == 500


def test_a_cancelled_accrual_books_nothing(ctx, clock, make_program, make_member):
    """Cancelled before its time, the accrual credits nobody; cancelling twice is a conflict."""
    program = make_program()
    m = make_member(program)
    row = _accrual(ctx, program, [m])
    worker_svc.cancel_accrual(ctx, program, row["id"])
    with pytest.raises(Exception, match="cancelled"):
        worker_svc.cancel_accrual(ctx, program, row["id"])
    clock.advance(timedelta(hours=2))
    worker_svc.Worker(ctx, options(program, "W")).round()
    assert member_svc.get_balance(ctx, program, m).available == 0


def test_two_workers_racing_book_an_accrual_once(backend, make_program, make_member, ctx):
    """Two workers (threads, each its own worker id) run at once on a due accrual: one
    claims the job, the other finds it leased; every member is credited exactly once and
    the job has exactly one run that is not abandoned."""
    if not backend.startswith("postgresql"):
        pytest.skip("SQLite takes one worker")
    program = make_program()
    members = [make_member(program) for _ in range(20)]
    _accrual(ctx, program, members, points=7)
    shared = FrozenClock(ctx.now() + timedelta(hours=1))
    racing = ServiceContext(ctx.engine, shared)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            barrier.wait()
            worker_svc.Worker(racing, options(program, name, jobs=("accruals",))).round()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for m in members:
        assert member_svc.get_balance(racing, program, m).available == 7
    runs = [r for r in runs_of(racing, program, "accruals") if r["outcome"] != "abandoned"]
    assert [r["outcome"] for r in runs] == ["ok"]
    assert runs[0]["counts"]["credited"] == 20


def test_a_new_job_kind_is_one_registration_and_its_failure_is_recorded(ctx, clock, make_program):
    """A kind registered once is scheduled for the program and run by the next round; when
    it raises, the run is recorded as failed with the error's code and message (no
    personal data, no traceback) and the job is due at its next slot, not at once."""
    from kopilka.domain.errors import ConflictError

    def explode(_ctx, _program, run):
        run.checkpoint(1)
        raise ConflictError("the reminder service is down", code_hint="x")

    kind = worker_svc.register(worker_svc.JobKind("test-explode", "0 * * * *", explode, "t"))
    try:
        program = make_program()
        worker = worker_svc.Worker(ctx, options(program, "W", jobs=("test-explode",)))
        assert worker.round() == 1
        (run,) = runs_of(ctx, program, "test-explode")
        assert run["outcome"] == "failed"
        assert run["error"] == "conflict: the reminder service is down"
        (row,) = [s for s in worker_svc.list_schedules(ctx, program) if s["job"] == kind.name]
        assert row["next_run_at"].isoformat() == "2026-03-14T13:00:00+00:00"
        assert worker.round() == 0
    finally:
        del worker_svc.REGISTRY[kind.name]


TIERED = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
tiers:
  window: {kind: calendar_year}
  downgrade: {mode: at_review}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
      keep: {spend: "10000"}
"""


def test_the_tiers_job_reviews_as_of_its_run_and_skips_a_program_without_tiers(
    ctx, clock, make_program, make_member
):
    """The tiers job is scheduled daily at 03:30 in the program's zone; its run reviews
    every member as of the run's time (a gold member who bought nothing last year goes
    down, a newcomer without a tier becomes basic) and records the counts; in a program
    whose rules define no tiers it runs, quietly, with every count 0."""
    from datetime import UTC, datetime

    from kopilka.services import outbox, purchases, rules, tiers
    from tests import commands
    from tests.integration.purchases.conftest import basket

    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    program = make_program(timezone="Europe/Moscow")
    plain = make_program()
    rules.publish(ctx, program, TIERED, actor="test")
    gold, newcomer = make_member(program), make_member(program)
    body = basket(gold, ("1", "16000", "food"))
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert tiers.member_tier(ctx, program, gold)["tier_code"] == "gold"
    clock.set(datetime(2027, 1, 1, 1, tzinfo=UTC))
    worker = worker_svc.Worker(ctx, options(program, "W", jobs=("tiers",)))
    assert worker.round() == 1
    (run,) = runs_of(ctx, program, "tiers")
    assert run["outcome"] == "ok"
    assert run["counts"] == {
        "reviewed": 2,
        "upgraded": 1,  # the newcomer, who had no tier yet, is basic
        "downgraded": 1,
        "entered_grace": 0,
        "unchanged": 0,
    }
    assert tiers.member_tier(ctx, program, gold)["tier_code"] == "basic"
    assert outbox.member_events(ctx, program, gold)[-1]["data"]["reason"] == "review"
    (row,) = [s for s in worker_svc.list_schedules(ctx, program) if s["job"] == "tiers"]
    assert row["cron"] == "30 3 * * *"
    assert row["next_run_at"].isoformat() == "2027-01-02T00:30:00+00:00"  # 03:30 in Moscow
    assert tiers.member_tier(ctx, program, newcomer)["tier_code"] == "basic"
    other = worker_svc.Worker(ctx, options(plain, "W", jobs=("tiers",)))
    assert other.round() == 1
    (skipped,) = runs_of(ctx, plain, "tiers")
    assert skipped["outcome"] == "ok"
    assert set(skipped["counts"].values()) == {0}


def test_the_tiers_job_judges_members_on_their_anniversary(ctx, clock, make_program, make_member):
    """With anniversary reviews the daily job judges a member on the anniversary of
    reaching their tier (gold since 1 June 2025, nothing bought in the twelve months
    before 1 June 2026: down), and passes by one whose anniversary is still to come,
    though a rolling review would take their gold now (9,000 of their 16,000 bought more
    than twelve months ago)."""
    from datetime import UTC, datetime

    from kopilka.services import purchases, rules, tiers
    from tests import commands
    from tests.integration.purchases.conftest import basket

    def buy(member_id: int, amount: str) -> None:
        body = basket(member_id, ("1", amount, "food"))
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))

    clock.set(datetime(2025, 5, 1, tzinfo=UTC))
    program = make_program(timezone="Europe/Moscow")
    document = TIERED.replace(
        "window: {kind: calendar_year}",
        "window: {kind: rolling, months: 12}\n  review: {schedule: anniversary}",
    )
    rules.publish(ctx, program, document, actor="test")
    due, later = make_member(program), make_member(program)
    buy(later, "9000")
    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    buy(due, "16000")
    clock.set(datetime(2025, 7, 1, tzinfo=UTC))
    buy(later, "7000")
    clock.set(datetime(2026, 6, 1, 1, tzinfo=UTC))
    worker = worker_svc.Worker(ctx, options(program, "W", jobs=("tiers",)))
    assert worker.round() == 1
    (run,) = runs_of(ctx, program, "tiers")
    assert run["counts"]["downgraded"] == 1
    assert tiers.member_tier(ctx, program, due)["tier_code"] == "basic"
    view = tiers.member_tier(ctx, program, later)
    assert view["tier_code"] == "gold"
    assert view["progress"] is not None
    assert view["progress"]["keep_deadline"] == "2026-06-30"
