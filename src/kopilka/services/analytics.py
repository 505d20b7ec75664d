"""The program's analytics: rollups kept current and rebuilt, and the KPIs read from them.

- :func:`refresh`: the ``analytics`` job's step: adds what is newer than the rollups' marks
  (journal entries, purchases, returns, guest receipts, enrolments) and recomputes the days
  the new purchases fall on; then checks the budget cap (:func:`check_budget`).
- :func:`rebuild`: recomputes the rollups from the journal and the purchases, wholly or for
  a range of local days (``kopilka analytics rebuild``).
- :func:`kpis`: every KPI of docs/analytics.md for a range of local days, by day, week or
  month and by store, channel or tier.
- :func:`record_guest_receipt`: a till's receipt without a member, for the average check of
  non-members (no points, no member).

Every figure is in the program's time zone (a local day is a day there) and in its
currency's minor units; points are worth ``Program.point_value_minor`` each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypedDict

from kopilka.domain.analytics import (
    DateRange,
    Dimension,
    Grain,
    bucket,
    local_day,
    local_midnight,
    month_label,
    month_no,
    month_start,
    ratio,
    utc_bounds,
)
from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.services import outbox
from kopilka.services.context import ServiceContext
from kopilka.store.repos.analytics import DAILY_COLUMNS, AnalyticsRepo, Marks
from kopilka.store.repos.reports import consistent_snapshot

ANALYTICS_JOB = "analytics"
BUDGET_ALERT = "budget.cap_exceeded"
# the rebuild's steps (its progress bar counts them)
REBUILD_STEPS = 6

Tick = Callable[[int], None]


def _no_tick(_: int) -> None:
    return None


# ---- commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KpiQuery:
    """The KPIs of local days ``days``, bucketed by ``grain``, broken down by
    ``dimension``; ``active_days``: a member is active with a purchase in the last so many
    days before the range's end (``None``: the program's setting)."""

    days: DateRange
    grain: Grain = Grain.DAY
    dimension: Dimension = Dimension.NONE
    active_days: int | None = None

    def __post_init__(self) -> None:
        if self.active_days is not None and not 1 <= self.active_days <= 3660:
            raise ValidationError(
                msg("active days must be between 1 and 3660"), field="active_days"
            )


@dataclass(frozen=True, slots=True)
class SetAnalyticsSettings:
    """The program's monthly budget cap as basis points of turnover (``None``: no cap;
    350 is 3.5 %) and the days without a purchase after which a member is not active."""

    budget_cap_bp: int | None
    active_days: int = 90

    def __post_init__(self) -> None:
        if self.budget_cap_bp is not None and not 0 < self.budget_cap_bp <= 10000:
            raise ValidationError(
                msg("the budget cap must be above 0 % and at most 100 %"), field="budget_cap"
            )
        if not 1 <= self.active_days <= 3660:
            raise ValidationError(
                msg("active days must be between 1 and 3660"), field="active_days"
            )


@dataclass(frozen=True, slots=True)
class RecordGuestReceipt:
    """A receipt without a member (for analytics only): its id, time, total in minor
    units, store and channel."""

    receipt_id: str
    occurred_at: datetime
    total_minor: int
    store: str | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        if not self.receipt_id or len(self.receipt_id) > 128:
            raise ValidationError(msg("a receipt id has 1 to 128 characters"), field="receipt_id")
        if self.total_minor < 0:
            raise ValidationError(msg("a receipt's total cannot be negative"), field="total")
        if self.occurred_at.tzinfo is None:
            raise ValidationError(msg("the time needs a UTC offset"), field="occurred_at")


# ---- results ---------------------------------------------------------------------------


class RollupReport(TypedDict):
    """What a refresh or a rebuild did."""

    program: str
    entries: int
    purchases: int
    days: int
    alert_written: bool


class GuestReceiptRecorded(TypedDict):
    receipt_id: str
    recorded: bool  # False: the id was recorded before (kept as it was)
    total_minor: int
    occurred_at: str


class AnalyticsSettings(TypedDict):
    budget_cap_bp: int | None
    active_days: int


class Totals(TypedDict):
    """The range's figures (docs/analytics.md defines each)."""

    issued: int
    redeemed: int
    expired: int
    adjusted: int
    redemption_rate: float | None
    due_to_expire: int
    expired_of_due: int
    breakage_rate: float | None
    liability_points: int
    liability_minor: int
    expected_breakage_rate: float | None
    liability_net_points: int
    liability_net_minor: int
    purchases: int
    revenue_minor: int
    refunds_minor: int
    purchasing_members: int
    purchase_frequency: float | None
    repeat_purchase_rate: float | None
    average_check_member_minor: int | None
    guest_receipts: int
    guest_revenue_minor: int
    average_check_guest_minor: int | None
    active_members: int
    members: int
    active_share: float | None
    new_members: int
    cost_minor: int
    turnover_minor: int
    cost_share: float | None
    clv_12_minor: int | None


class SeriesPoint(TypedDict):
    """One bucket (and dimension value) of the range."""

    bucket: str
    key: str
    issued: int
    redeemed: int
    expired: int
    adjusted: int
    purchases: int
    revenue_minor: int
    guest_receipts: int
    guest_revenue_minor: int
    new_members: int


class LiabilityPoint(TypedDict):
    """The outstanding points at the end of a bucket."""

    bucket: str
    points: int
    minor: int


class RetentionPoint(TypedDict):
    """A month's active members, those also active the month before, CRR and churn."""

    month: str
    active: int
    previous: int
    retained: int
    crr: float | None
    churn: float | None


class CohortRow(TypedDict):
    """Members enrolled in ``cohort``: how many, the share active each month since
    (``shares[0]``: the enrolment month) and the 12-month value per member."""

    cohort: str
    members: int
    shares: list[float | None]
    clv_12_minor: int | None


class BudgetMonth(TypedDict):
    """A month's program cost against its cap."""

    month: str
    cost_minor: int
    turnover_minor: int
    share: float | None
    cap_bp: int | None
    over_cap: bool
    alerted: bool


class RulePoints(TypedDict):
    rule_id: str
    points: int
    awards: int
    cost_minor: int


class Kpis(TypedDict):
    """Every KPI of a range (docs/analytics.md)."""

    program: str
    currency: str
    timezone: str
    point_value_minor: int
    start: str
    end: str
    grain: str
    dimension: str
    active_days: int
    built: bool
    totals: Totals
    series: list[SeriesPoint]
    liability: list[LiabilityPoint]
    retention: list[RetentionPoint]
    cohorts: list[CohortRow]
    budget: list[BudgetMonth]
    rules: list[RulePoints]


# ---- rollups ---------------------------------------------------------------------------


def _lock_marks(repo: AnalyticsRepo, program: Program, at: datetime) -> Marks:
    """The rollups' marks, the row locked (two refreshes never add the same rows twice)."""
    if repo.marks(program.id) is None:
        repo.save_marks(program.id, Marks(), at)
    return repo.lock_marks(program.id)


def refresh(ctx: ServiceContext, program: Program, *, check_cap: bool = True) -> RollupReport:
    """Bring the program's rollups up to the newest rows (one transaction): add the new
    journal entries' points and the new purchases' member months and rule points, and
    recompute the days the new purchases, returns, guest receipts and enrolments fall on;
    then check the month's budget cap (an alert written at most once a month)."""
    now = ctx.now()
    with ctx.uow() as uow:
        repo = AnalyticsRepo(uow.conn)
        since = _lock_marks(repo, program, now)
        upto = repo.newest()
        upto = Marks(
            max(upto.entry, since.entry),
            max(upto.purchase, since.purchase),
            max(upto.return_, since.return_),
            max(upto.member, since.member),
            max(upto.guest, since.guest),
            max(upto.lot, since.lot),
            max(upto.draw, since.draw),
        )
        repo.add_ledger(program.id, program.timezone, ids=(since.entry, upto.entry))
        repo.add_expiry(
            program.id,
            program.timezone,
            lots_of=(since.lot, upto.lot),
            draws_of=(since.draw, upto.draw),
        )
        new_purchases = repo.purchase_span(program.id, (since.purchase, upto.purchase))
        days = 0
        span = repo.changed_span(program.id, since, upto)
        if span is not None:
            first = local_day(span[0], program.timezone)
            last = local_day(span[1], program.timezone)
            days = (last - first).days + 1
            bounds = utc_bounds(DateRange(first, last), program.timezone)
            repo.set_purchase_figures(program.id, program.timezone, first, last, bounds, upto)
        purchases = repo.add_member_months(
            program.id, program.timezone, ids=(since.purchase, upto.purchase)
        )
        repo.add_rule_days(program.id, program.timezone, ids=(since.purchase, upto.purchase))
        if new_purchases is not None:
            _refresh_repeats(repo, program, since.purchase, upto.purchase, new_purchases)
        repo.save_marks(program.id, upto, now)
        uow.commit()
    alert = check_budget(ctx, program, now) if check_cap else False
    return {
        "program": program.code,
        "entries": upto.entry - since.entry,
        "purchases": purchases,
        "days": days,
        "alert_written": alert,
    }


def _refresh_repeats(
    repo: AnalyticsRepo,
    program: Program,
    since: int,
    upto: int,
    span: tuple[datetime, datetime],
) -> None:
    """Bring the purchase gaps and the cohort months up to the purchases of ids ``(since,
    upto]`` (occurring in ``span``): the gaps of their members' purchases as they were
    are taken away and added as they are now (a purchase booked late changes its later
    ones' gaps); the cohort months of the months they fall on, and of the month after
    (whose members active the month before may have changed), are recomputed."""
    tz = program.timezone
    members_of = (since, upto)
    repo.add_gaps(program.id, tz, upto=since, sign=-1, members_of=members_of)
    repo.add_gaps(program.id, tz, upto=upto, members_of=members_of)
    repo.drop_empty_gaps(program.id)
    first = month_no(local_day(span[0], tz))
    last = month_no(local_day(span[1], tz)) + 1
    repo.set_cohort_months(program.id, first, last)


def rebuild(
    ctx: ServiceContext,
    program: Program,
    days: DateRange | None = None,
    tick: Tick = _no_tick,
) -> RollupReport:
    """Recompute the program's rollups from the journal, the purchases, the returns, the
    guest receipts and the members, wholly (``days`` ``None``) or for the local days of
    ``days`` (their whole months for the member months), in one transaction. ``tick(1)``
    after each of its :data:`REBUILD_STEPS` steps."""
    now = ctx.now()
    tz = program.timezone
    with ctx.uow() as uow:
        repo = AnalyticsRepo(uow.conn)
        marks = _lock_marks(repo, program, now)
        whole = days is None
        # a whole rebuild reads everything there is; a range's keeps the marks, so the job
        # adds what is newer than them later, once
        upto = repo.newest() if whole else marks
        if days is None:
            repo.clear(program.id)
            span = repo.data_span(program.id)
            if span is None:
                repo.save_marks(program.id, upto, now)
                uow.commit()
                for _ in range(REBUILD_STEPS):
                    tick(1)
                return {
                    "program": program.code,
                    "entries": 0,
                    "purchases": 0,
                    "days": 0,
                    "alert_written": False,
                }
            first, last = local_day(span[0], tz), local_day(span[1], tz)
        else:
            first, last = days.start, days.end
            # member months are kept by whole month
            first = min(first, first.replace(day=1))
            repo.clear(program.id, first, last)
            last_month_end = month_start(month_no(last) + 1) - timedelta(days=1)
            repo.clear(program.id, month_start(month_no(last)), last_month_end)
            last = last_month_end
        bounds = utc_bounds(DateRange(first, last), tz)
        tick(1)
        with repo.bulk_memory():
            repo.add_ledger(program.id, tz, span=bounds, upto=upto.entry)
            repo.add_expiry(
                program.id,
                tz,
                lots_of=(0, upto.lot),
                draws_of=(0, upto.draw),
                span=None if whole else bounds,
            )
            tick(1)
            repo.set_purchase_figures(program.id, tz, first, last, bounds, upto)
            tick(1)
            purchases = repo.add_member_months(program.id, tz, ids=(0, upto.purchase), span=bounds)
            tick(1)
            repo.add_rule_days(program.id, tz, ids=(0, upto.purchase), span=bounds)
            tick(1)
            repo.add_gaps(program.id, tz, upto=upto.purchase, days=None if whole else (first, last))
            if whole:
                repo.set_cohort_months(program.id)
            else:
                repo.set_cohort_months(program.id, month_no(first), month_no(last) + 1)
        repo.save_marks(program.id, upto, now)
        uow.commit()
        tick(1)
    with ctx.uow() as uow:
        # after the commit: the statistics sample the committed rows
        AnalyticsRepo(uow.conn).refresh_statistics()
        uow.commit()
    return {
        "program": program.code,
        "entries": upto.entry,
        "purchases": purchases,
        "days": (last - first).days + 1,
        "alert_written": False,
    }


# ---- settings, guest receipts ----------------------------------------------------------


def get_settings(ctx: ServiceContext, program: Program) -> AnalyticsSettings:
    """The program's budget cap and active days."""
    with ctx.uow(read_only=True) as uow:
        cap, active = AnalyticsRepo(uow.conn).settings(program.id)
    return {"budget_cap_bp": cap, "active_days": active}


def set_settings(
    ctx: ServiceContext, program: Program, command: SetAnalyticsSettings
) -> AnalyticsSettings:
    """Store the program's budget cap and active days."""
    with ctx.uow() as uow:
        AnalyticsRepo(uow.conn).save_settings(
            program.id, command.budget_cap_bp, command.active_days, ctx.now()
        )
        uow.commit()
    return {"budget_cap_bp": command.budget_cap_bp, "active_days": command.active_days}


def record_guest_receipt(
    ctx: ServiceContext, program: Program, command: RecordGuestReceipt
) -> GuestReceiptRecorded:
    """Record a receipt without a member (no points, no member; analytics only). A
    receipt id recorded before is answered as it was stored: a retry records nothing."""
    with ctx.uow() as uow:
        new, total, at = AnalyticsRepo(uow.conn).add_guest_receipt(
            program.id,
            command.receipt_id,
            command.occurred_at,
            command.store,
            command.channel,
            command.total_minor,
            ctx.now(),
        )
        uow.commit()
    return {
        "receipt_id": command.receipt_id,
        "recorded": new,
        "total_minor": total,
        "occurred_at": at.isoformat(),
    }


# ---- the budget cap --------------------------------------------------------------------


def _over(cost: int, turnover: int, cap_bp: int | None) -> bool:
    return cap_bp is not None and cost * 10000 > cap_bp * turnover and cost > 0


def check_budget(ctx: ServiceContext, program: Program, at: datetime) -> bool:
    """Whether the month of ``at`` (local) is over the program's budget cap, from the
    rollups; the first time it is, write ``budget.cap_exceeded`` to the outbox (once per
    program and month). Answers whether it wrote the event."""
    today = local_day(at, program.timezone)
    month = month_no(today)
    first = month_start(month)
    with ctx.uow() as uow:
        repo = AnalyticsRepo(uow.conn)
        cap, _ = repo.settings(program.id)
        if cap is None:
            return False
        issued = turnover = 0
        for _, _, row in repo.daily(program.id, first, today, None):
            figures = dict(zip(DAILY_COLUMNS, row, strict=True))
            issued += figures["points_issued"]
            turnover += figures["revenue_minor"] + figures["guest_revenue_minor"]
        cost = issued * program.point_value_minor
        if not _over(cost, turnover, cap):
            return False
        if not repo.alert_once(program.id, BUDGET_ALERT, month_label(month), at):
            return False
        outbox.budget_cap_exceeded(
            uow,
            program,
            {
                "month": month_label(month),
                "cost_minor": cost,
                "turnover_minor": turnover,
                "cap_bp": cap,
                "share_bp": (cost * 10000) // turnover if turnover else None,
            },
            at,
        )
        uow.commit()
    return True


# ---- KPIs ------------------------------------------------------------------------------


def kpis(ctx: ServiceContext, program: Program, query: KpiQuery) -> Kpis:
    """Every KPI of ``query``'s range, read from the rollups only (and, for a range that
    ends today, today's lots due before now), in one consistent read: no read grows with
    the number of purchases or members."""
    tz = program.timezone
    value = program.point_value_minor
    days = query.days
    _, hi = utc_bounds(days, tz)
    dim = None if query.dimension is Dimension.NONE else query.dimension.value
    with ctx.uow(read_only=True) as uow:
        consistent_snapshot(uow.conn)
        repo = AnalyticsRepo(uow.conn)
        built = repo.marks(program.id) is not None
        cap, setting_days = repo.settings(program.id)
        active_days = query.active_days or setting_days
        # every day up to the range's end program-wide, one row a day (the range's
        # totals, the points outstanding before it, the liability, the budget, the
        # members enrolled by month), and the series summed by bucket and dimension in SQL
        history = {day: row for day, _, row in repo.daily(program.id, None, days.end, None)}
        series_rows = repo.series(program.id, days.start, days.end, query.grain.value, dim)
        # distinct and repeat purchasers from the purchase gaps (docs/analytics.md)
        in_range_gaps = repo.gap_counts(program.id, days.start, days.end)
        active_start = days.end - timedelta(days=active_days - 1)
        active_purchases = repo.purchases_in(program.id, active_start, days.end)
        active_gaps = repo.gap_counts(program.id, active_start, days.end)
        # breakage from the expiry days; the expected rate over the lots whose expiry
        # has passed: whole days from the rollup, today's part until now from the lots
        due, expired_of_due = repo.expiry_days(program.id, days.start, days.end)
        now = ctx.now()
        if hi <= now:
            due_all, expired_all = repo.expiry_days(program.id, None, days.end)
        else:
            today = local_day(now, tz)
            due_all, expired_all = repo.expiry_days(program.id, None, today - timedelta(days=1))
            due_today, expired_today = repo.expiring(program.id, local_midnight(today, tz), now)
            due_all += due_today
            expired_all += expired_today
        first_month, last_month = month_no(days.start), month_no(days.end)
        activity = repo.month_activity(program.id, first_month, last_month)
        cohort_cells = repo.cohorts(program.id, first_month, last_month)
        rules = repo.rules(program.id, days.start, days.end)
        alerted = repo.alerted_months(program.id, BUDGET_ALERT)
    col = {name: i for i, name in enumerate(DAILY_COLUMNS)}
    per_day = {d: r for d, r in history.items() if d >= days.start}
    net = (col["points_issued"], col["points_redeemed"], col["points_expired"])
    adjusted_col, new_col = col["points_adjusted"], col["new_members"]
    opening = sum(
        r[net[0]] - r[net[1]] - r[net[2]] + r[adjusted_col]
        for d, r in history.items()
        if d < days.start
    )
    # members enrolled by local month of enrolment (the cohorts' sizes), up to the end
    sizes: dict[int, int] = {}
    for d, r in history.items():
        if r[new_col]:
            sizes[month_no(d)] = sizes.get(month_no(d), 0) + r[new_col]
    members = sum(sizes.values())
    sums = [sum(r[i] for r in per_day.values()) for i in range(len(DAILY_COLUMNS))]

    def total(name: str) -> int:
        return sums[col[name]]

    # a range's purchasing members: its purchases less those whose member's previous
    # purchase is in the range too; members with two or more: those less the purchases
    # whose member's purchase two before is in the range too (one per such member)
    purchases = total("purchases")
    purchasers = purchases - in_range_gaps[0]
    repeaters = in_range_gaps[0] - in_range_gaps[1]
    active = active_purchases - active_gaps[0]

    issued, redeemed = total("points_issued"), total("points_redeemed")
    expired, adjusted = total("points_expired"), total("points_adjusted")
    liability = opening + sum(
        r[col["points_issued"]]
        - r[col["points_redeemed"]]
        - r[col["points_expired"]]
        + r[col["points_adjusted"]]
        for r in per_day.values()
    )
    expected = ratio(expired_all, due_all)
    net_points = round(liability * (1 - expected)) if expected is not None else liability
    revenue, guest_rev = total("revenue_minor"), total("guest_revenue_minor")
    guests = total("guest_receipts")
    cost = issued * value
    turnover = revenue + guest_rev
    # the lifetime value of the cohorts enrolled in the range's months (reading every
    # cohort ever would cost each request a scan of all member months)
    clv = _clv(
        cohort_cells,
        {c: n for c, n in sizes.items() if first_month <= c <= last_month},
        month_no(local_day(ctx.now(), tz)),
    )
    totals: Totals = {
        "issued": issued,
        "redeemed": redeemed,
        "expired": expired,
        "adjusted": adjusted,
        "redemption_rate": ratio(redeemed, issued),
        "due_to_expire": due,
        "expired_of_due": expired_of_due,
        "breakage_rate": ratio(expired_of_due, due),
        "liability_points": liability,
        "liability_minor": liability * value,
        "expected_breakage_rate": expected,
        "liability_net_points": net_points,
        "liability_net_minor": net_points * value,
        "purchases": purchases,
        "revenue_minor": revenue,
        "refunds_minor": total("refunds_minor"),
        "purchasing_members": purchasers,
        "purchase_frequency": ratio(purchases, purchasers),
        "repeat_purchase_rate": ratio(repeaters, purchasers),
        "average_check_member_minor": round(revenue / purchases) if purchases else None,
        "guest_receipts": guests,
        "guest_revenue_minor": guest_rev,
        "average_check_guest_minor": round(guest_rev / guests) if guests else None,
        "active_members": active,
        "members": members,
        "active_share": ratio(active, members),
        "new_members": total("new_members"),
        "cost_minor": cost,
        "turnover_minor": turnover,
        "cost_share": ratio(cost, turnover),
        "clv_12_minor": clv[1],
    }
    return {
        "program": program.code,
        "currency": program.currency,
        "timezone": tz,
        "point_value_minor": value,
        "start": days.start.isoformat(),
        "end": days.end.isoformat(),
        "grain": query.grain.value,
        "dimension": query.dimension.value,
        "active_days": active_days,
        "built": built,
        "totals": totals,
        "series": [
            {
                "bucket": b,
                "key": key,
                "issued": r[0],
                "redeemed": r[1],
                "expired": r[2],
                "adjusted": r[3],
                "purchases": r[4],
                "revenue_minor": r[5],
                "guest_receipts": r[6],
                "guest_revenue_minor": r[7],
                "new_members": r[8],
            }
            for b, key, r in sorted(series_rows)
        ],
        "liability": _liability(per_day, opening, days, query.grain, value),
        "retention": _retention(activity, first_month, last_month),
        "cohorts": _cohorts(cohort_cells, sizes, first_month, last_month, clv[0]),
        "budget": _budget(per_day, col, days, value, cap, alerted),
        "rules": [
            {"rule_id": r, "points": p, "awards": n, "cost_minor": p * value} for r, p, n in rules
        ],
    }


def _liability(
    per_day: dict[date, list[int]], opening: int, days: DateRange, grain: Grain, value: int
) -> list[LiabilityPoint]:
    """The outstanding points at the end of each bucket of the range: ``opening`` (those
    outstanding before it) plus what the range's days issued and adjusted less what they
    redeemed and expired."""

    def net(r: list[int]) -> int:
        return r[0] - r[1] - r[2] + r[3]

    running = opening
    ends: dict[date, int] = {}
    for i in range(days.days):
        day = days.start + timedelta(days=i)
        row = per_day.get(day)
        if row is not None:
            running += net(row)
        ends[bucket(day, grain)] = running
    return [
        {"bucket": b.isoformat(), "points": p, "minor": p * value} for b, p in sorted(ends.items())
    ]


def _retention(
    activity: dict[int, tuple[int, int, int]], first: int, last: int
) -> list[RetentionPoint]:
    out: list[RetentionPoint] = []
    for month in range(first, last + 1):
        active, retained, _ = activity.get(month, (0, 0, 0))
        previous = activity.get(month - 1, (0, 0, 0))[0]
        crr = ratio(retained, previous)
        out.append(
            {
                "month": month_label(month),
                "active": active,
                "previous": previous,
                "retained": retained,
                "crr": crr,
                "churn": None if crr is None else 1 - crr,
            }
        )
    return out


def _clv(
    cells: dict[int, dict[int, tuple[int, int]]], sizes: dict[int, int], current: int
) -> tuple[dict[int, int], int | None]:
    """The 12-month value per member of each cohort whose 12 months are over, and their
    average weighted by the cohorts' sizes."""
    per: dict[int, int] = {}
    revenue_all = members_all = 0
    for cohort, size in sizes.items():
        if cohort + 12 > current or not size:
            continue
        revenue = sum(rev for off, (_, rev) in cells.get(cohort, {}).items() if off < 12)
        per[cohort] = round(revenue / size)
        revenue_all += revenue
        members_all += size
    return per, (round(revenue_all / members_all) if members_all else None)


def _cohorts(
    cells: dict[int, dict[int, tuple[int, int]]],
    sizes: dict[int, int],
    first: int,
    last: int,
    clv: dict[int, int],
) -> list[CohortRow]:
    out: list[CohortRow] = []
    for cohort in range(first, last + 1):
        size = sizes.get(cohort, 0)
        if not size:
            continue
        span = last - cohort + 1
        out.append(
            {
                "cohort": month_label(cohort),
                "members": size,
                "shares": [
                    ratio(cells.get(cohort, {}).get(k, (0, 0))[0], size) for k in range(span)
                ],
                "clv_12_minor": clv.get(cohort),
            }
        )
    return out


def _budget(
    per_day: dict[date, list[int]],
    col: dict[str, int],
    days: DateRange,
    value: int,
    cap: int | None,
    alerted: set[str],
) -> list[BudgetMonth]:
    months: dict[int, list[int]] = {}
    for d, r in per_day.items():
        if days.start <= d <= days.end:
            m = months.setdefault(month_no(d), [0, 0])
            m[0] += r[col["points_issued"]] * value
            m[1] += r[col["revenue_minor"]] + r[col["guest_revenue_minor"]]
    out: list[BudgetMonth] = []
    for month in range(month_no(days.start), month_no(days.end) + 1):
        cost, turnover = months.get(month, [0, 0])
        out.append(
            {
                "month": month_label(month),
                "cost_minor": cost,
                "turnover_minor": turnover,
                "share": ratio(cost, turnover),
                "cap_bp": cap,
                "over_cap": _over(cost, turnover, cap),
                "alerted": month_label(month) in alerted,
            }
        )
    return out
