"""Tiers: upgrade on purchase, review and downgrade, recompute, a manual floor set by
support, and a member's tier, progress and history.

The program's tiers are the ``tiers:`` section of the rules document in force
(``domain/rules/tiers_section.py``); a member's standing (earned tier, manual floor, grace)
is in ``member_tiers``, every change in ``tier_changes`` with the metrics, the thresholds
and the rules version that decided it, and the effective tier, what rules read, in
``members.tier_code``. A purchase only ever raises a tier; a tier is lost at a review
(:func:`review_tiers`, run by ``kopilka tiers review`` and by the jobs worker's ``tiers``
job). Every change of the effective tier writes a ``tier.changed`` event in its own unit
of work (:func:`kopilka.services.outbox.tier_changed_event`; a purchase's upgrade writes it
in the statement of its rows on PostgreSQL).
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import ValidationError
from kopilka.domain.member import Member
from kopilka.domain.messages import msg
from kopilka.domain.money import format_money
from kopilka.domain.program import Program
from kopilka.domain.reasons import Reason
from kopilka.domain.rules.model import RuleSet
from kopilka.domain.rules.tiers_section import tier_policy
from kopilka.domain.tiers import (
    ChangeReason,
    Combine,
    Downgrade,
    Metrics,
    PointsSource,
    Tier,
    TierPolicy,
    downgrade_on_return,
    effective,
    effective_until,
    next_anniversary,
    period_bounds,
    progress,
    review,
    review_window,
    upgrade_on_purchase,
)
from kopilka.ledger.ledger import Ledger
from kopilka.services import outbox, tier_welcome
from kopilka.services.context import ServiceContext
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.outbox import NewEvent, OutboxRepo
from kopilka.store.repos.rules import RuleSetRepo
from kopilka.store.repos.tiers import (
    BulkRise,
    PurchaseView,
    Screen,
    Standing,
    StoredChange,
    TierRepo,
)
from kopilka.store.uow import UnitOfWork

# members a review or recompute reads, decides and writes at a time (one transaction)
BATCH = 5_000

# ---- the policy in force --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProgramTiers:
    """A program's tier policy and the rules version it comes from."""

    policy: TierPolicy
    rule_version: int


@lru_cache(maxsize=256)
def _policy(document: str, fmt: str) -> TierPolicy | None:
    return tier_policy(document, fmt)


# by engine, program and rules version, as services/rules.py caches the rule sets: a
# published version never changes, so a purchase without tiers pays one dict lookup here
_BY_ROW: weakref.WeakKeyDictionary[Engine, dict[tuple[int, int], ProgramTiers | None]] = (
    weakref.WeakKeyDictionary()
)


def draft_tiers(document: str, fmt: str) -> TierPolicy | None:
    """The tiers of a draft rules document, for the console's rules editor (``None``: no
    ``tiers:`` section). A wrong section raises the ValidationError the publisher would,
    its errors at their lines and fields; nothing is stored."""
    return tier_policy(document, fmt)


def tiers_of_version(uow: UnitOfWork, program: Program, version: int | None) -> ProgramTiers | None:
    """The tiers of a published rules version (``None``: no rules, or no ``tiers:`` section)."""
    if version is None:
        return None
    cache = _BY_ROW.get(uow.conn.engine)
    if cache is None:
        cache = _BY_ROW.setdefault(uow.conn.engine, {})
    key = (program.id, version)
    if key in cache:
        return cache[key]
    stored = RuleSetRepo(uow.conn).get(program.id, version)
    policy = _policy(stored.document, stored.format) if stored else None
    found = ProgramTiers(policy, stored.version) if policy and stored else None
    if len(cache) >= 256:
        cache.clear()
    cache[key] = found
    return found


def tiers_at(uow: UnitOfWork, program: Program, at: datetime) -> ProgramTiers | None:
    """The tiers of the rules in force at ``at``."""
    stored = RuleSetRepo(uow.conn).active_at(program.id, at)
    if stored is None:
        return None
    policy = _policy(stored.document, stored.format)
    return ProgramTiers(policy, stored.version) if policy else None


def _metrics(
    repo: TierRepo,
    policy: TierPolicy,
    member_id: int,
    start: datetime | None,
    end: datetime | None,
) -> Metrics:
    """The metrics of ``[start, end)``, qualifying points from the policy's sources."""
    return _plus_other(
        repo, policy, member_id, start, end, Metrics(*repo.metrics(member_id, start, end))
    )


def _plus_other(
    repo: TierRepo,
    policy: TierPolicy,
    member_id: int,
    start: datetime | None,
    end: datetime | None,
    metrics: Metrics,
) -> Metrics:
    """``metrics`` (of purchases) with the window's points from events and adjustments
    when the program counts them (one or two more queries, only then); without purchases
    among the sources, purchase earnings are taken out."""
    events = policy.counts(PointsSource.EVENTS)
    adjustments = policy.counts(PointsSource.ADJUSTMENTS)
    points = metrics.points if policy.counts(PointsSource.PURCHASES) else 0
    if (events or adjustments) and policy.tests_points:
        points += repo.other_points(member_id, start, end, events=events, adjustments=adjustments)
    return Metrics(metrics.spend_minor, points, metrics.purchases)


def _due_after(program: Program, earned: str | None, now: datetime) -> datetime | None:
    """The next anniversary review of a tier reached at ``now`` (none without a tier)."""
    return next_anniversary(now, now, program.timezone) if earned is not None else None


@lru_cache(maxsize=64)
def _next_review(now: datetime, timezone: str) -> datetime:
    """:func:`_due_after` of a tier reached at ``now``, remembered: a review's or
    recompute's batch reaches thousands of tiers at one instant."""
    return next_anniversary(now, now, timezone)


def _metrics_dict(metrics: Metrics) -> dict[str, int]:
    return {"spend": metrics.spend_minor, "points": metrics.points, "purchases": metrics.purchases}


# ---- purchases ------------------------------------------------------------------------


def member_for_earning(
    uow: UnitOfWork,
    program: Program,
    version: int | None,
    member: Member,
    occurred_at: datetime,
    spend_minor: int,
) -> Member:
    """The member as the rules should see them for a purchase of ``spend_minor`` (money
    paid): with the tier this purchase reaches when the program lets the crossing purchase
    earn at its new tier, else unchanged. Quote and commit both call it, so they agree."""
    tiers = tiers_of_version(uow, program, version)
    if tiers is None:
        return member
    if member.tier_until is not None and occurred_at >= member.tier_until:
        # a paid or manual floor lifting the stored tier has ended and no review has run
        # since: the purchase earns at the tier the member has without it
        member = replace(member, tier_code=current_tier(uow, tiers.policy, member.id, occurred_at))
    if not tiers.policy.crossing_purchase_earns:
        return member
    policy = tiers.policy
    repo = TierRepo(uow.conn)
    start, end = period_bounds(policy, occurred_at, program.timezone)
    view = repo.purchase_view(member.id, start, end)
    metrics = _plus_other(repo, policy, member.id, start, end, Metrics(*view.metrics))
    metrics = metrics.plus(spend_minor, 0, 1)
    reached = upgrade_on_purchase(policy, view.earned_tier, metrics)
    if reached is None or policy.rank(reached) <= policy.rank(member.tier_code):
        return member
    return replace(member, tier_code=reached)


def tier_now(
    uow: UnitOfWork, program: Program, ruleset: RuleSet | None, member: Member, at: datetime
) -> str | None:
    """The member's effective tier at ``at`` as a purchase's payment with points reads it
    (``redemption.by_tier``): the stored tier, or, once a paid or manual floor lifting it
    has ended (``members.tier_until``) and no review has caught up, the tier without it.
    Costs nothing unless the document has limits by tier and the floor has ended."""
    if ruleset is None or not ruleset.redemption.by_tier:
        return member.tier_code
    if member.tier_until is None or at < member.tier_until:
        return member.tier_code
    tiers = tiers_of_version(uow, program, ruleset.version)
    if tiers is None:
        return member.tier_code
    return current_tier(uow, tiers.policy, member.id, at)


def purchase_window(
    uow: UnitOfWork, program: Program, version: int | None, occurred_at: datetime
) -> tuple[datetime | None, datetime | None] | None:
    """The window whose metrics :func:`after_purchase` judges a purchase made at
    ``occurred_at`` under rules version ``version`` on (``None``: those rules have no
    tiers), for the purchase to read its tier view as it is written
    (``PurchaseRepo.add_and_view``)."""
    tiers = tiers_of_version(uow, program, version)
    if tiers is None:
        return None
    return period_bounds(tiers.policy, occurred_at, program.timezone)


def after_purchase(
    uow: UnitOfWork,
    program: Program,
    version: int | None,
    member_id: int,
    occurred_at: datetime,
    now: datetime,
    ledger: Ledger | None = None,
    ruleset: RuleSet | None = None,
    *,
    reason: ChangeReason = ChangeReason.PURCHASE,
    view: PurchaseView | None = None,
) -> str | None:
    """Upgrade the member at once when the purchase just stored crossed a threshold; the
    new effective tier, or ``None`` when nothing changed (or the program has no tiers).
    A rise credits the tier's welcome bonus (``tier_reached``) through ``ledger``, the
    purchase's own, so that its balance stays the one the purchase answers, by the rules
    ``ruleset`` the purchase was booked under (version ``version``; read when not given).
    ``reason``: what is stored with the change (an event's or an adjustment's points, see
    :func:`after_points`). ``view``: the member's view of the :func:`purchase_window`
    with the purchase in it, when the purchase read it as it was written; read here
    otherwise."""
    tiers = tiers_of_version(uow, program, version)
    if tiers is None:
        return None
    policy = tiers.policy
    repo = TierRepo(uow.conn)
    start, end = period_bounds(policy, occurred_at, program.timezone)
    # the common case (no upgrade) costs this one query (none when the purchase read it),
    # an upgrade one statement more on PostgreSQL (four short ones elsewhere)
    if view is None:
        view = repo.purchase_view(member_id, start, end)
    metrics = _plus_other(repo, policy, member_id, start, end, Metrics(*view.metrics))
    reached = upgrade_on_purchase(policy, view.earned_tier, metrics)
    if reached is None:
        return None
    tier = policy.tier(reached)
    assert tier is not None
    floors = (view.manual_tier, view.manual_until, now, view.paid_tier, view.paid_until)
    after = effective(policy, reached, *floors)
    # the tier the member had just before: the stored one, unless a paid or manual floor
    # lifting it has ended and no review has caught up yet
    ended = any(t is not None and t <= now for t in (view.manual_until, view.paid_until))
    before = effective(policy, view.earned_tier, *floors) if ended else view.tier_code
    change = {
        "from_tier": before,
        "to_tier": after,
        "reason": str(reason),
        "metrics": _metrics_dict(metrics),
        "thresholds": tier.entry.as_dict(),
        "rule_version": tiers.rule_version,
        "actor": "system",
        "note": None,
    }
    until = effective_until(policy, reached, *floors)
    due = _due_after(program, reached, now)
    # the ``tier.changed`` event of a change of the effective tier, written with the rows
    event = (
        None
        if after == before
        else outbox.tier_changed_event(
            program, member_id, before, after, str(reason), tiers.rule_version, now
        )
    )
    change_id = repo.record_upgrade(
        program.id, view, member_id, reached, after, now, change, until, due, event
    )
    if event is None:
        return None
    if after is not None and policy.rank(after) > policy.rank(before):
        tier_welcome.welcome(
            uow,
            program,
            member_id,
            before,
            after,
            str(reason),
            change_id,
            now,
            ledger,
            ruleset,
        )
    return after


SOURCE_REASONS = {
    PointsSource.EVENTS: ChangeReason.EVENT,
    PointsSource.ADJUSTMENTS: ChangeReason.ADJUSTMENT,
}


def after_points(
    uow: UnitOfWork,
    program: Program,
    member_id: int,
    source: PointsSource,
    now: datetime,
    ledger: Ledger | None = None,
) -> str | None:
    """Upgrade the member at once when points just credited from ``source`` (an event
    rule's, an adjustment) are qualifying points under the rules in force and lift them
    over an entry bar, as a purchase would; the change is stored with reason ``event`` or
    ``adjustment``. The new effective tier, or ``None`` (nothing changed, or the program
    does not count that source: then this costs one cached lookup)."""
    tiers = tiers_at(uow, program, now)
    if tiers is None or not tiers.policy.counts(source) or not tiers.policy.tests_points:
        return None
    return after_purchase(
        uow,
        program,
        tiers.rule_version,
        member_id,
        now,
        now,
        ledger,
        reason=SOURCE_REASONS[source],
    )


def after_return(
    uow: UnitOfWork,
    program: Program,
    member_id: int,
    purchase_at: datetime,
    refund_minor: int,
    points_back: int,
    now: datetime,
) -> str | None:
    """When the program downgrades on returns (``downgrade: {on_return: true}``): take the
    member down at once if the return just stored (``refund_minor`` of a purchase made at
    ``purchase_at``, ``points_back`` of its points clawed back) is what pushed them below
    their tier's retention bar, judged as a review now would judge them. The change is
    stored with reason ``return``, the metrics after the return, the bar missed and the
    rules version. The new effective tier, or ``None`` when nothing changed."""
    tiers = tiers_at(uow, program, now)
    if tiers is None or not tiers.policy.downgrade_on_return:
        return None
    policy = tiers.policy
    repo = TierRepo(uow.conn)
    standing = repo.standing(member_id)
    if standing.earned_tier is None:
        return None
    start, judged_end = review_window(policy, now, program.timezone)
    # a rolling or lifetime window: everything booked up to the return (a review's end,
    # its own instant, would leave out a purchase booked at that same instant)
    end = judged_end if policy.calendar else None
    judged = _metrics(repo, policy, member_id, start, end)
    current = _metrics(repo, policy, member_id, end, None) if policy.calendar else None
    back = Metrics(refund_minor, points_back if policy.counts(PointsSource.PURCHASES) else 0, 0)

    def undone(metrics: Metrics, lo: datetime | None, hi: datetime | None) -> Metrics:
        inside = (lo is None or purchase_at >= lo) and (hi is None or purchase_at < hi)
        return metrics.plus(back.spend_minor, back.points, 0) if inside else metrics

    before = (
        undone(judged, start, end),
        undone(current, end, None) if current is not None else None,
    )
    earned = downgrade_on_return(policy, standing.earned_tier, now, before, (judged, current))
    if earned is None:
        return None
    bar = _bar_of(policy, standing.earned_tier, earned)
    return _apply(
        uow,
        repo,
        program,
        policy,
        standing,
        earned,
        None,
        now,
        ChangeReason.RETURN,
        judged,
        bar,
        tiers.rule_version,
    )


class _Unread:
    """The stored effective tier is not known yet (``_apply`` reads it)."""


UNREAD = _Unread()


def _apply(
    uow: UnitOfWork,
    repo: TierRepo,
    program: Program,
    policy: TierPolicy,
    standing: Standing,
    earned: str | None,
    grace_since: datetime | None,
    now: datetime,
    reason: ChangeReason,
    metrics: Metrics | None,
    thresholds: dict[str, int] | None,
    rule_version: int | None,
    *,
    actor: str = "system",
    note: str | None = None,
    force_history: bool = False,
    before: str | _Unread | None = UNREAD,
    writes: _Writes | None = None,
) -> str | None:
    """Store a new standing; set and record the effective tier when it changes. Returns the
    new effective tier, or ``None`` when it did not change. ``before``: the stored
    effective tier when the caller has read it; ``writes``: a review's batch, which takes
    the writes and stores them together (:meth:`_Writes.flush`)."""
    if isinstance(before, _Unread):
        before = repo.tier_code(standing.member_id)
    batch = writes if writes is not None else _Writes()
    earned_before = standing.earned_tier
    if earned != earned_before:
        # a tier reached (up or down) is next reviewed on its anniversary
        standing.review_due = _next_review(now, program.timezone) if earned is not None else None
    standing.earned_tier = earned
    standing.grace_since = grace_since
    batch.standings.append(standing)
    after = effective_of(policy, standing, now)
    changed = after != before
    if changed or standing.paid_until or standing.manual_until:
        batch.codes.append((standing.member_id, after, until_of(policy, standing, now)))
    if changed:
        # in the change's own unit of work: a dry run's rollback takes the event with it
        batch.events.append(
            outbox.tier_changed_event(
                program, standing.member_id, before, after, str(reason), rule_version, now
            )
        )
    if changed or force_history or earned != earned_before:
        batch.changes.append(
            {
                "member_id": standing.member_id,
                "from_tier": before,
                "to_tier": after,
                "at": now,
                "reason": str(reason),
                "metrics": _metrics_dict(metrics) if metrics else None,
                "thresholds": thresholds,
                "rule_version": rule_version,
                "actor": actor,
                "note": note,
            }
        )
        # a rise of the effective tier may carry the tier's welcome bonus (tier_reached)
        if changed and after is not None and policy.rank(after) > policy.rank(before):
            batch.raised.append((standing.member_id, before, after, str(reason)))
    if writes is None:
        batch.flush(uow, repo, program, now)
    return after if changed else None


@dataclass(slots=True)
class _Writes:
    """A review's or recompute's writes for a batch of members, stored together: the
    standings, the effective tiers, the ``tier.changed`` events, the history lines and
    then the welcome bonuses of the rises, in the order one member's writes take."""

    standings: list[Standing] = field(default_factory=list)
    codes: list[tuple[int, str | None, datetime | None]] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    changes: list[dict[str, object]] = field(default_factory=list)
    raised: list[tuple[int, str | None, str, str]] = field(default_factory=list)

    def flush(self, uow: UnitOfWork, repo: TierRepo, program: Program, now: datetime) -> None:
        """Write everything taken, in a few statements (the welcome bonuses, if the
        rules in force give any, member by member: each is a ledger earning)."""
        repo.save_standings(program.id, self.standings, now)
        repo.set_tier_codes(self.codes)
        OutboxRepo(uow.conn).add(self.events)
        if len(self.changes) == 1 and self.raised:
            # one change (support, a paid membership): its id, as the welcome references it
            change = dict(self.changes[0])
            member_id = change.pop("member_id")
            assert isinstance(member_id, int)
            change_id = repo.add_change(program.id, member_id, **change)
            self._welcome(uow, program, now, lambda _m: change_id)
        else:
            repo.add_changes(program.id, self.changes)
            self._welcome(uow, program, now, repo.last_change_id)
        self.standings, self.codes, self.events, self.changes, self.raised = [], [], [], [], []

    def _welcome(
        self, uow: UnitOfWork, program: Program, now: datetime, change_of: Callable[[int], int]
    ) -> None:
        if not self.raised:
            return
        ruleset = active_ruleset(uow, program, now)
        if ruleset is None or tier_welcome.EVENT not in ruleset.events:
            return
        for member_id, before, after, reason in self.raised:
            tier_welcome.welcome(
                uow,
                program,
                member_id,
                before,
                after,
                reason,
                partial(change_of, member_id),
                now,
                None,
                ruleset,
            )


def apply_paid(
    uow: UnitOfWork,
    program: Program,
    tiers: ProgramTiers | None,
    standing: Standing,
    now: datetime,
    *,
    actor: str,
    note: str,
) -> str | None:
    """Store a standing whose paid floor changed (a paid membership started, renewed,
    cancelled or refunded: ``services/memberships.py``), set the effective tier, and write
    the change into the tier history with reason ``paid`` (always, even when the tier stays).
    The new effective tier, or ``None`` when it did not change."""
    policy = tiers.policy if tiers else TierPolicy(())
    return _apply(
        uow,
        TierRepo(uow.conn),
        program,
        policy,
        standing,
        standing.earned_tier,
        standing.grace_since,
        now,
        ChangeReason.PAID,
        None,
        None,
        tiers.rule_version if tiers else None,
        actor=actor,
        note=note,
        force_history=True,
    )


def effective_of(policy: TierPolicy, standing: Standing, at: datetime) -> str | None:
    """The effective tier of a stored standing at ``at`` (earned, manual and paid floors)."""
    if standing.manual_tier is None and standing.paid_tier is None:
        return standing.earned_tier  # no floor: most members, at every review
    return effective(
        policy,
        standing.earned_tier,
        standing.manual_tier,
        standing.manual_until,
        at,
        standing.paid_tier,
        standing.paid_until,
    )


def until_of(policy: TierPolicy, standing: Standing, at: datetime) -> datetime | None:
    """When the effective tier of a standing lapses by time alone (``members.tier_until``)."""
    if standing.manual_until is None and standing.paid_until is None:
        return None  # no floor ends
    return effective_until(
        policy,
        standing.earned_tier,
        standing.manual_tier,
        standing.manual_until,
        at,
        standing.paid_tier,
        standing.paid_until,
    )


def current_tier(uow: UnitOfWork, policy: TierPolicy, member_id: int, at: datetime) -> str | None:
    """The member's effective tier computed at ``at`` from their standing (what the stored
    ``members.tier_code`` becomes once a review or a change has caught up)."""
    return effective_of(policy, TierRepo(uow.conn).standing(member_id), at)


# ---- review and recompute ----------------------------------------------------------------


class ReviewChange(TypedDict):
    member_id: int
    from_tier: str | None
    to_tier: str | None


class ReviewReport(TypedDict):
    """What a review (or a recompute) did, or would do with ``dry_run``."""

    program: str
    as_of: str
    dry_run: bool
    members: int
    upgraded: int
    downgraded: int
    entered_grace: int
    unchanged: int
    changes: list[ReviewChange]


MAX_CHANGES_LISTED = 1000
Tick = Callable[[int], None]


def review_tiers(
    ctx: ServiceContext,
    program: Program,
    as_of: datetime,
    dry_run: bool = False,
    *,
    tick: Tick | None = None,
) -> ReviewReport:
    """Review every member's tier as of ``as_of``: up to what the judged window qualifies
    for, kept while the retention bar is met, else down by the program's downgrade mode
    (``domain/tiers.py: review``); manual floors that ended fall away. With ``dry_run``
    nothing is written. The jobs worker calls this too; ``tick(n)`` reports progress."""
    return _walk(ctx, program, ensure_utc(as_of), dry_run, tick, recompute=False)


def recompute_tiers(
    ctx: ServiceContext, program: Program, *, tick: Tick | None = None
) -> ReviewReport:
    """Recompute earned tiers from the stored purchases after a rules change or an import:
    each member rises to what the current window qualifies them for (losing a tier waits
    for a review); effective tiers follow manual floors and their ends."""
    return _walk(ctx, program, ctx.now(), False, tick, recompute=True)


def count_members(ctx: ServiceContext, program: Program) -> int:
    """How many members a review or recompute walks (for a progress bar)."""
    with ctx.uow(read_only=True) as uow:
        return TierRepo(uow.conn).member_count(program.id)


def _walk(
    ctx: ServiceContext,
    program: Program,
    as_of: datetime,
    dry_run: bool,
    tick: Tick | None,
    *,
    recompute: bool,
) -> ReviewReport:
    """Every member of the program, batch by batch in id order, each batch its own
    transaction (:func:`_walk_batch`). On PostgreSQL two batches run at once, on two
    connections: each locks and writes only its own members, and the server's work, most
    of a batch's time, then uses two cores. SQLite has one writer: one batch at a time.
    Progress is reported and the report summed in id order; a ``tick`` that raises (the
    jobs worker stopping a run) stops the walk once the batches under way are done."""
    report = _empty_report(program, as_of, dry_run)
    workers = 1 if ctx.engine.dialect.name == "sqlite" else PARALLEL_BATCHES

    def next_ids(after: int) -> list[int]:
        with ctx.uow(read_only=True) as uow:
            return TierRepo(uow.conn).member_ids(program.id, after, BATCH)

    # whether the last batch done raised many members (a recompute after a rules change,
    # or the first): SQLite then raises the next batch's plain rises in bulk first
    many = [True]

    def run(ids: list[int]) -> ReviewReport | None:
        return _walk_batch(
            ctx, program, ids, as_of, dry_run, recompute=recompute, rises_likely=many[0]
        )

    def done(walked: int, part: ReviewReport) -> None:
        _add_up(report, part)
        many[0] = part["upgraded"] >= BULK_FROM
        report["members"] += walked
        if tick is not None:
            tick(walked)

    if workers == 1:
        after = 0
        while ids := next_ids(after):
            part = run(ids)
            if part is None:
                break  # the rules in force have no tiers (any more)
            done(len(ids), part)
            after = ids[-1]
        return report
    with ThreadPoolExecutor(workers, thread_name_prefix="tiers") as pool:
        running: deque[tuple[int, Future[ReviewReport | None]]] = deque()
        after, more = 0, True
        while True:
            while more and len(running) < workers:
                ids = next_ids(after)
                if not ids:
                    more = False
                    break
                running.append((len(ids), pool.submit(run, ids)))
                after = ids[-1]
            if not running:
                return report
            walked, future = running.popleft()
            part = future.result()
            if part is None:
                more = False
                continue
            done(walked, part)


# batches a review or recompute runs at once on PostgreSQL (one connection each)
PARALLEL_BATCHES = 2


def _empty_report(program: Program, as_of: datetime, dry_run: bool) -> ReviewReport:
    return {
        "program": program.code,
        "as_of": as_of.isoformat(),
        "dry_run": dry_run,
        "members": 0,
        "upgraded": 0,
        "downgraded": 0,
        "entered_grace": 0,
        "unchanged": 0,
        "changes": [],
    }


def _add_up(report: ReviewReport, part: ReviewReport) -> None:
    for key in ("upgraded", "downgraded", "entered_grace", "unchanged"):
        report[key] += part[key]
    _list(report, part["changes"])


def _list(report: ReviewReport, changes: list[ReviewChange]) -> None:
    """Add ``changes`` to the report's list, up to :data:`MAX_CHANGES_LISTED` in all."""
    room = MAX_CHANGES_LISTED - len(report["changes"])
    report["changes"].extend(changes[: max(room, 0)])


def _walk_batch(
    ctx: ServiceContext,
    program: Program,
    ids: list[int],
    as_of: datetime,
    dry_run: bool,
    *,
    recompute: bool,
    rises_likely: bool = True,
) -> ReviewReport | None:
    """Review or recompute the members ``ids`` (consecutive ids of the program) in one
    transaction; what it did, or ``None`` when the rules in force have no tiers. A
    recompute raises the plain rises in bulk (``_read_batch``): on PostgreSQL when the
    batch has many members to decide, on SQLite when ``rises_likely`` (the batch before
    had many rises; else the bulk statements would only read the batch once more)."""
    report = _empty_report(program, as_of, dry_run)
    with ctx.uow() as uow:
        tiers = tiers_at(uow, program, as_of)
        if tiers is None:
            return None
        repo = TierRepo(uow.conn)
        repo.plan_for_values()
        bulk = None
        if recompute and (rises_likely or repo.reads_before_locks):
            bulk = _bulk_rise(uow, program, tiers, as_of)
        batch, raised = _read_batch(
            uow, repo, program, tiers.policy, ids, as_of, recompute=recompute, bulk=bulk
        )
        # the members the database passed over: nothing can happen to them
        report["unchanged"] += len(ids) - len(batch) - len(raised)
        _report_rises(report, raised)
        writes = _Writes()
        rises = _Rises(tiers.policy)
        for row in batch:
            _review_one(
                uow, repo, program, tiers, row, as_of, report, writes, rises, recompute=recompute
            )
        writes.flush(uow, repo, program, as_of)
        if dry_run:
            uow.rollback()
        else:
            uow.commit()
    return report


class _Rises:
    """:func:`upgrade_on_purchase` for a batch's members, remembered by what decides it: a
    member's metrics count only through which of the policy's bars they meet, and those
    comparisons are fixed by where each metric falls among the bars' values (sorted), so
    the earned tier and the three positions are the whole answer's key. Thousands of
    members share a handful of keys."""

    def __init__(self, policy: TierPolicy) -> None:
        self.policy = policy
        values: dict[str, set[int]] = {"spend": set(), "points": set(), "purchases": set()}
        for tier in policy.tiers:
            for bar in (tier.entry, tier.keep):
                for name, value in bar.parts():
                    values[name].add(value)
        self.spend = sorted(values["spend"])
        self.points = sorted(values["points"])
        self.purchases = sorted(values["purchases"])
        self.memo: dict[tuple[str | None, int, int, int], str | None] = {}

    def __call__(self, earned: str | None, metrics: Metrics) -> str | None:
        key = (
            earned,
            bisect_right(self.spend, metrics.spend_minor),
            bisect_right(self.points, metrics.points),
            bisect_right(self.purchases, metrics.purchases),
        )
        if key in self.memo:
            return self.memo[key]
        found = self.memo[key] = upgrade_on_purchase(self.policy, earned, metrics)
        return found


@dataclass(frozen=True, slots=True)
class _Member:
    """One member of a batch as a review decides them: the standing, the stored effective
    tier, the metrics of the judged window and, for a calendar review, of the period
    under way."""

    standing: Standing
    before: str | None
    judged: Metrics
    current: Metrics | None


def _windows(
    policy: TierPolicy, program: Program, as_of: datetime, *, recompute: bool
) -> tuple[tuple[datetime | None, datetime | None], tuple[datetime | None, None] | None]:
    """The windows a batch is judged on: a recompute's the one under way; a review's the
    judged one (an anniversary review judges the window ending at ``as_of`` for every
    member it is due for; whose anniversary it is is decided per member, _not_due) and,
    for a calendar review, the period since it ended (what the member has bought since,
    even after ``as_of`` when a review runs late, may already hold the tier)."""
    if recompute:
        return period_bounds(policy, as_of, program.timezone), None
    start, end = review_window(policy, as_of, program.timezone)
    return (start, end), ((end, None) if policy.calendar else None)


def _screen(policy: TierPolicy, *, recompute: bool) -> Screen | None:
    """The database's test of the members nothing can happen to (``None``: every member
    is decided in Python: an anniversary review, whose due dates move; points from events
    or adjustments, which the batch adds in Python)."""
    if policy.tests_points and (
        policy.counts(PointsSource.EVENTS) or policy.counts(PointsSource.ADJUSTMENTS)
    ):
        return None
    if not recompute and policy.anniversary:
        return None
    return Screen(
        policy.tiers,
        policy.combine is Combine.ALL,
        review=not recompute,
        downgrades=policy.downgrade is not Downgrade.NEVER,
    )


def _bulk_rise(
    uow: UnitOfWork, program: Program, tiers: ProgramTiers, as_of: datetime
) -> BulkRise | None:
    """What a recompute's batch needs to write its plain rises in bulk
    (``TierRepo.raise_in_bulk``), or ``None`` when every member is decided in Python:
    points from events or adjustments count (added in Python), or the rules give a
    welcome bonus on reaching a tier (each a ledger earning)."""
    policy = tiers.policy
    if _screen(policy, recompute=True) is None:
        return None
    ruleset = active_ruleset(uow, program, as_of)
    if ruleset is not None and tier_welcome.EVENT in ruleset.events:
        return None
    bars = {}
    for tier in policy.tiers:
        bar = _bar_of(policy, None, tier.code)
        if bar is not None:
            bars[tier.code] = bar
    return BulkRise(
        now=as_of,
        review_due=_next_review(as_of, program.timezone),
        rule_version=tiers.rule_version,
        reason=str(ChangeReason.PURCHASE),
        note="recompute",
        schema_version=outbox.SCHEMA_VERSION,
        bars=bars,
    )


# fewer members than this to decide in a batch are decided in Python: the bulk statements
# would read the batch's purchases once more for a handful of rises
BULK_FROM = 256


def _report_rises(report: ReviewReport, raised: list[tuple[int, str | None, str]]) -> None:
    report["upgraded"] += len(raised)
    room = max(MAX_CHANGES_LISTED - len(report["changes"]), 0)
    _list(report, [{"member_id": m, "from_tier": a, "to_tier": b} for m, a, b in raised[:room]])


def _read_batch(
    uow: UnitOfWork,
    repo: TierRepo,
    program: Program,
    policy: TierPolicy,
    ids: list[int],
    as_of: datetime,
    *,
    recompute: bool,
    bulk: BulkRise | None = None,
) -> tuple[list[_Member], list[tuple[int, str | None, str]]]:
    """The members of a batch that a review or recompute must decide, in id order, read
    in bulk: standings, stored effective tiers and the metrics of the window(s), summed
    per member by the database; those the database proves unchanged are left out (never
    locked, never read into Python). With ``bulk`` (a recompute), the plain rises are
    first decided and written by the database (``TierRepo.raise_in_bulk``) and answered
    as ``(member, before, after)``; the rest are read."""
    first, last = ids[0], ids[-1]
    judged, current = _windows(policy, program, as_of, recompute=recompute)
    args = (program.id, first, last, judged, current)
    bought = policy.counts(PointsSource.PURCHASES)
    screen = _screen(policy, recompute=recompute)
    raised: list[tuple[int, str | None, str]] = []

    def rise() -> None:
        assert bulk is not None
        raised.extend(
            repo.raise_in_bulk(
                program.id,
                first,
                last,
                judged,
                policy.tiers,
                policy.combine is Combine.ALL,
                bulk,
                purchase_points=bought,
            )
        )

    if not repo.reads_before_locks:
        # SQLite: the writer holds the whole database; the plain rises first (the read
        # then passes them over, as risen), then one read, the members to decide
        if bulk is not None:
            rise()
        rows = repo.batch(*args, purchase_points=bought, screen=screen)
        chosen = [r.standing.member_id for r in rows]
    else:
        chosen = repo.batch_ids(*args, purchase_points=bought, screen=screen)
    if not chosen:
        return [], raised
    # the members to decide have their balance rows locked (in id order) as a purchase
    # locks its member's: a purchase's upgrade and the review never write one member's
    # standing at once
    if repo.reads_before_locks and bulk is not None and len(chosen) >= BULK_FROM:
        # PostgreSQL: the whole range locked, so that the plain rises are decided over
        # it on what the database holds now (a purchase committed since the first look
        # is seen; one under way has its member locked); the rest are read below
        repo.lock_members(program.id, ids)
        rise()
        done = {member_id for member_id, _, _ in raised}
        chosen = [member_id for member_id in chosen if member_id not in done]
        if not chosen:
            return [], raised
    else:
        repo.lock_members(program.id, chosen)
    if repo.reads_before_locks:
        # PostgreSQL: read under the locks (a member whom a purchase committed since the
        # first look made one to decide is one the review passed before the purchase,
        # which upgrades them itself)
        if len(chosen) * 2 > len(ids):
            # most of the range (a first recompute): read it all, keep the chosen
            wanted = set(chosen)
            rows = [
                r
                for r in repo.batch(*args, purchase_points=bought)
                if r.standing.member_id in wanted
            ]
        else:
            rows = repo.batch(*args, purchase_points=bought, only=chosen)
    events = policy.counts(PointsSource.EVENTS)
    adjustments = policy.counts(PointsSource.ADJUSTMENTS)
    other_judged: dict[int, int] = {}
    other_current: dict[int, int] = {}
    if (events or adjustments) and policy.tests_points:
        other = partial(
            repo.other_points_between, first, last, events=events, adjustments=adjustments
        )
        other_judged = other(*judged)
        if current is not None:
            other_current = other(*current)
    found = []
    for r in rows:
        member_id = r.standing.member_id
        spend, points, n = r.judged
        judged_m = Metrics(spend, points + other_judged.get(member_id, 0), n)
        current_m = None
        if r.current is not None:
            spend, points, n = r.current
            current_m = Metrics(spend, points + other_current.get(member_id, 0), n)
        found.append(_Member(r.standing, r.tier_code, judged_m, current_m))
    return found, raised


def _batch_metrics(
    repo: TierRepo,
    policy: TierPolicy,
    first: int,
    last: int,
    start: datetime | None,
    end: datetime | None,
) -> dict[int, Metrics]:
    """:func:`_metrics` of ``[start, end)`` for the members with ids ``first`` to ``last``,
    summed per member by the database: the purchases' metrics, and, when the program
    counts them, the points of events and adjustments (one to three more grouped queries,
    only then); without purchases among the sources, purchase earnings are taken out.
    (A review's batch reads the same sums with the standings, ``TierRepo.batch``.)"""
    found = {m: Metrics(*v) for m, v in repo.window_metrics(first, last, start, end).items()}
    if not policy.counts(PointsSource.PURCHASES):
        found = {m: Metrics(v.spend_minor, 0, v.purchases) for m, v in found.items()}
    events = policy.counts(PointsSource.EVENTS)
    adjustments = policy.counts(PointsSource.ADJUSTMENTS)
    if (events or adjustments) and policy.tests_points:
        other = repo.other_points_between(
            first, last, start, end, events=events, adjustments=adjustments
        )
        for member_id, points in other.items():
            had = found.get(member_id, NO_METRICS)
            found[member_id] = Metrics(had.spend_minor, had.points + points, had.purchases)
    return found


NO_METRICS = Metrics()


def _review_one(
    uow: UnitOfWork,
    repo: TierRepo,
    program: Program,
    tiers: ProgramTiers,
    member: _Member,
    as_of: datetime,
    report: ReviewReport,
    writes: _Writes,
    rises: _Rises,
    *,
    recompute: bool,
) -> None:
    policy = tiers.policy
    standing, before, metrics = member.standing, member.before, member.judged
    member_id = standing.member_id
    due_before = standing.review_due
    if recompute or _not_due(repo, program, policy, standing, as_of):
        # a recompute, or an anniversary review that is not this member's: only a rise
        reached = rises(standing.earned_tier, metrics)
        earned, grace, was_grace = reached or standing.earned_tier, standing.grace_since, False
    else:
        decision = review(
            policy, standing.earned_tier, metrics, as_of, standing.grace_since, member.current
        )
        earned, grace = decision.earned, decision.grace_since
        was_grace = grace is not None and standing.grace_since is None
        due = standing.review_due
        if policy.anniversary and due is not None and due <= as_of:
            # reviewed on this anniversary: the next one is a year on (a change of tier
            # resets it to the anniversary of the change, in _apply); a member judged
            # again while in grace keeps the date already set
            standing.review_due = next_anniversary(due, as_of, program.timezone)
    changed_standing = (
        earned != standing.earned_tier
        or grace != standing.grace_since
        or standing.review_due != due_before
    )
    if not changed_standing and before == effective_of(policy, standing, as_of) and standing.stored:
        report["unchanged"] += 1
        return
    if not changed_standing and not standing.stored and before is None:
        report["unchanged"] += 1
        return
    # the member's paid term ended since the last look, and nothing else moved: say so
    lapsed = (
        not changed_standing
        and standing.paid_until is not None
        and standing.paid_until <= as_of
        and before == standing.paid_tier
    )
    reason = ChangeReason.PURCHASE if recompute else ChangeReason.REVIEW
    bar = _bar_of(policy, standing.earned_tier, earned)
    after = _apply(
        uow,
        repo,
        program,
        policy,
        standing,
        earned,
        grace,
        as_of,
        ChangeReason.PAID if lapsed else reason,
        metrics,
        bar,
        tiers.rule_version,
        note="paid term ended" if lapsed else "recompute" if recompute else None,
        before=before,
        writes=writes,
    )
    if was_grace:
        report["entered_grace"] += 1
    if after is None and not was_grace:
        report["unchanged"] += 1
        return
    if after is not None:
        if policy.rank(after) > policy.rank(before):
            report["upgraded"] += 1
        else:
            report["downgraded"] += 1
        if len(report["changes"]) < MAX_CHANGES_LISTED:
            report["changes"].append(
                {"member_id": member_id, "from_tier": before, "to_tier": after}
            )


def _not_due(
    repo: TierRepo, program: Program, policy: TierPolicy, standing: Standing, as_of: datetime
) -> bool:
    """Whether an anniversary review at ``as_of`` passes this member by: their next review
    (``review_due``) is later and they are not in a grace period. A standing stored before
    reviews had due dates gets one here: the first anniversary of the newest change to its
    tier in the history (due at once when past), else a year from ``as_of``."""
    if not policy.anniversary or standing.earned_tier is None:
        return False
    if standing.review_due is None:
        reached = repo.reached_at(standing.member_id, standing.earned_tier)
        standing.review_due = (
            next_anniversary(reached, reached, program.timezone)
            if reached is not None
            else next_anniversary(as_of, as_of, program.timezone)
        )
    return standing.review_due > as_of and standing.grace_since is None


def _bar_of(policy: TierPolicy, before: str | None, after: str | None) -> dict[str, int] | None:
    """The bar that decided a change: the entry bar of a tier reached, else the retention
    bar of the tier held before (missed, or met)."""
    if policy.rank(after) > policy.rank(before):
        reached = policy.tier(after)
        return reached.entry.as_dict() if reached else None
    held = policy.tier(before)
    return held.keep.as_dict() if held else None


# ---- manual tiers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetManualTier:
    """Support sets a manual tier (a floor: the member is at least at it) until a date or
    for good, or lifts it (``tier_code`` None), always with a reason."""

    member_id: int
    tier_code: str | None
    reason: Reason
    until: datetime | None = None


def set_manual_tier(
    ctx: ServiceContext, program: Program, cmd: SetManualTier, *, actor: str
) -> MemberTier:
    """Set or lift a member's manual tier, audited as ``member.tier`` with its reason; the
    answer is the member's tier as :func:`member_tier` gives it."""
    now = ctx.now()
    until = ensure_utc(cmd.until) if cmd.until else None
    if until is not None and until <= now:
        raise ValidationError(
            msg("the manual tier must last until a time in the future"), field="until"
        )
    with ctx.uow() as uow:
        uow.members.get(program.id, cmd.member_id, identifiers=False)  # not_found otherwise
        tiers = tiers_at(uow, program, now)
        if tiers is None and cmd.tier_code is not None:
            raise ValidationError(msg("the program's rules define no tiers"), field="tier_code")
        # without tiers support may still lift a manual tier (one migrated from before)
        policy = tiers.policy if tiers else TierPolicy(())
        if cmd.tier_code is not None and policy.tier(cmd.tier_code) is None:
            codes = ", ".join(t.code for t in policy.tiers)
            raise ValidationError(
                msg(
                    "unknown tier %(tier)s; expected one of %(codes)s",
                    tier=repr(cmd.tier_code),
                    codes=codes,
                ),
                field="tier_code",
            )
        # the member's balance row locked as a purchase and a review lock it: one writer of
        # the member's standing (and of their events' order) at a time
        uow.ledger.lock_balances(program.id, [cmd.member_id])
        repo = TierRepo(uow.conn)
        standing = repo.standing(cmd.member_id)
        was = {
            "manual_tier": standing.manual_tier,
            "manual_until": _iso(standing.manual_until),
            "tier": repo.tier_code(cmd.member_id),
        }
        standing.manual_tier = cmd.tier_code
        standing.manual_until = until if cmd.tier_code else None
        standing.manual_reason = cmd.reason.internal() if cmd.tier_code else None
        _apply(
            uow,
            repo,
            program,
            policy,
            standing,
            standing.earned_tier,
            standing.grace_since,
            now,
            ChangeReason.MANUAL,
            None,
            None,
            tiers.rule_version if tiers else None,
            actor=actor,
            note=cmd.reason.internal(),
            force_history=True,
        )
        AuditLogRepo(uow.conn).add(
            program.id,
            actor,
            "member.tier",
            f"member:{cmd.member_id}",
            was,
            {
                "manual_tier": cmd.tier_code,
                "manual_until": _iso(standing.manual_until),
                "tier": repo.tier_code(cmd.member_id),
                "reason": cmd.reason.internal(),
            },
            now,
        )
        uow.commit()
    return member_tier(ctx, program, cmd.member_id)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


# ---- the member's tier, progress and history ------------------------------------------------


class TierName(TypedDict):
    code: str
    name_ru: str
    name_en: str
    benefits_ru: str
    benefits_en: str


class ProgressPart(TypedDict):
    """One metric of a bar: what it asks, what the member has, what is missing (money as
    decimal strings in the program's currency, other metrics as whole numbers in strings)."""

    metric: str  # spend | points | purchases
    required: str
    current: str
    missing: str
    share: float  # 0..1, for a progress bar


class TierProgress(TypedDict):
    """As of now: what the next tier still needs and what keeping the current one needs,
    by when (the end of the calendar window, local date; None for rolling or lifetime)."""

    combine: str
    next_tier: TierName | None
    to_next: list[ProgressPart]
    keep: list[ProgressPart]
    keep_met: bool
    deadline: str | None
    # the last day counted for keeping the tier: the calendar window's, or the day before
    # the member's anniversary review; None: no date (a rolling review)
    keep_deadline: str | None
    review: str  # period_end | anniversary | rolling


class TierHistoryItem(TypedDict):
    from_tier: str | None
    to_tier: str | None
    at: str
    reason: str
    metrics: dict[str, int] | None
    thresholds: dict[str, int] | None
    rule_version: int | None
    actor: str | None
    note: str | None


class ManualTier(TypedDict):
    tier_code: str
    until: str | None
    reason: str | None


class PaidTier(TypedDict):
    """The floor of a paid membership whose term runs (services/memberships.py)."""

    tier_code: str
    until: str


class MemberTier(TypedDict):
    """A member's tier as the API, the console and the portal show it."""

    member_id: int
    tier: TierName | None
    tier_code: str | None
    earned_tier: str | None
    manual: ManualTier | None
    paid: PaidTier | None
    grace_since: str | None
    progress: TierProgress | None
    history: list[TierHistoryItem]
    tiers: list[TierName]  # the program's tiers, lowest first


def _name(tier: Tier | None) -> TierName | None:
    if tier is None:
        return None
    return {
        "code": tier.code,
        "name_ru": tier.name_ru,
        "name_en": tier.name_en,
        "benefits_ru": tier.benefits_ru,
        "benefits_en": tier.benefits_en,
    }


def _parts(
    missing: dict[str, int], metrics: Metrics, bar: dict[str, int], currency: str
) -> list[ProgressPart]:
    def shown(name: str, value: int) -> str:
        return format_money(value, currency) if name == "spend" else str(value)

    have = _metrics_dict(metrics)
    return [
        {
            "metric": name,
            "required": shown(name, bar[name]),
            "current": shown(name, max(have[name], 0)),
            "missing": shown(name, missing[name]),
            "share": 1.0 if bar[name] <= 0 else min(max(have[name], 0) / bar[name], 1.0),
        }
        for name in missing
    ]


def member_tier(
    ctx: ServiceContext, program: Program, member_id: int, *, history: int = 50
) -> MemberTier:
    """The member's tier, their progress as of now, and their tier history (newest first)."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id, identifiers=False)  # not_found otherwise
        repo = TierRepo(uow.conn)
        tiers = tiers_at(uow, program, now)
        standing = repo.standing(member_id)
        code = repo.tier_code(member_id)
        changes = repo.history(member_id, history)
        prog: TierProgress | None = None
        tier: Tier | None = None
        levels: list[TierName] = []
        if tiers is not None:
            policy = tiers.policy
            levels = [n for n in map(_name, policy.tiers) if n is not None]
            lapses = repo.tier_until(member_id)
            if lapses is not None and now >= lapses:
                # a paid or manual floor ended and no review has caught up yet: as of now
                code = effective_of(policy, standing, now)
            tier = policy.tier(code)
            start, end = period_bounds(policy, now, program.timezone)
            metrics = _metrics(repo, policy, member_id, start, end)
            # the progress of the effective tier: a manual floor is the level to go on from
            base = policy.higher(standing.earned_tier, code if policy.tier(code) else None)
            p = progress(policy, base, metrics, now, program.timezone)
            own = policy.tier(base)
            keep_bar = own.keep.as_dict() if own else {}
            keep_metrics, keep_missing, keep_end = metrics, p.keep_missing, end
            if policy.anniversary and own is not None and base == standing.earned_tier:
                # kept or lost on the anniversary: what counts then is what the window
                # ending on that day holds (for a rolling window, from N months before it)
                _not_due(repo, program, policy, standing, now)
                keep_end = standing.review_due
                keep_start, _ = period_bounds(policy, keep_end or now, program.timezone)
                keep_metrics = _metrics(repo, policy, member_id, keep_start, None)
                keep_missing = own.keep.missing(keep_metrics)
            prog = {
                "combine": str(policy.combine),
                "next_tier": _name(p.next_tier),
                "to_next": _parts(p.to_next, metrics, p.next_tier.entry.as_dict(), program.currency)
                if p.next_tier
                else [],
                "keep": _parts(keep_missing, keep_metrics, keep_bar, program.currency),
                "keep_met": own.keep.met(keep_metrics, policy.combine) if own else True,
                "deadline": _last_day(end, program.timezone),
                "keep_deadline": _last_day(keep_end, program.timezone),
                "review": str(policy.schedule),
            }
    manual: ManualTier | None = None
    if standing.manual_tier is not None and (
        standing.manual_until is None or now < standing.manual_until
    ):
        manual = {
            "tier_code": standing.manual_tier,
            "until": _iso(standing.manual_until),
            "reason": standing.manual_reason,
        }
    paid: PaidTier | None = None
    if standing.paid_tier is not None and standing.paid_until and now < standing.paid_until:
        paid = {"tier_code": standing.paid_tier, "until": standing.paid_until.isoformat()}
    return {
        "member_id": member_id,
        "tier": _name(tier),
        "tier_code": code,
        "earned_tier": standing.earned_tier,
        "manual": manual,
        "paid": paid,
        "grace_since": _iso(standing.grace_since),
        "progress": prog,
        "history": [_history_item(c) for c in changes],
        "tiers": levels,
    }


def _last_day(end: datetime | None, timezone: str) -> str | None:
    """The last local day of a window ending at ``end`` (exclusive), as an ISO date."""
    if end is None:
        return None
    return (end.astimezone(ZoneInfo(timezone)) - timedelta(days=1)).date().isoformat()


def _history_item(c: StoredChange) -> TierHistoryItem:
    return {
        "from_tier": c.from_tier,
        "to_tier": c.to_tier,
        "at": c.at.isoformat(),
        "reason": c.reason,
        "metrics": c.metrics,
        "thresholds": c.thresholds,
        "rule_version": c.rule_version,
        "actor": c.actor,
        "note": c.note,
    }


# ---- the program's tiers: distribution now and movement by month ----------------------------


class TierCount(TypedDict):
    code: str | None  # None: members without a tier
    members: int
    share: float  # of all members, 0..1


class TierMove(TypedDict):
    month: str  # YYYY-MM in the program's time zone
    from_tier: str | None
    to_tier: str | None
    up: bool  # to a higher tier than from
    members: int


class TierOverview(TypedDict):
    """The program's tiers (lowest first), how many members are at each now, and the
    moves between tiers by month of the last ``months`` (newest month first)."""

    tiers: list[TierName]
    distribution: list[TierCount]
    moves: list[TierMove]


def tier_overview(ctx: ServiceContext, program: Program, *, months: int = 12) -> TierOverview:
    """Members per tier now and upgrades/downgrades (from -> to) per month, for the console."""
    now = ctx.now()
    zone = ZoneInfo(program.timezone)
    local = now.astimezone(zone)
    month0 = local.year * 12 + local.month - 1 - (months - 1)
    since = datetime(month0 // 12, month0 % 12 + 1, 1, tzinfo=zone)
    with ctx.uow(read_only=True) as uow:
        tiers = tiers_at(uow, program, now)
        repo = TierRepo(uow.conn)
        counts = repo.distribution(program.id)
        changes = repo.changes_since(program.id, since)
    policy = tiers.policy if tiers else TierPolicy(())
    total = sum(counts.values()) or 1
    codes: list[str | None] = [None, *(t.code for t in policy.tiers)]
    codes += sorted(c for c in counts if c is not None and c not in codes)
    moves: dict[tuple[str, str | None, str | None], int] = {}
    for at, a, b in changes:
        if a == b:
            continue
        key = (at.astimezone(zone).strftime("%Y-%m"), a, b)
        moves[key] = moves.get(key, 0) + 1
    return {
        "tiers": [n for n in map(_name, policy.tiers) if n is not None],
        "distribution": [
            {"code": c, "members": counts.get(c, 0), "share": counts.get(c, 0) / total}
            for c in codes
        ],
        "moves": [
            {
                "month": month,
                "from_tier": a,
                "to_tier": b,
                "up": policy.rank(b) > policy.rank(a),
                "members": n,
            }
            # newest month first, the largest move of a month first
            for (month, a, b), n in sorted(
                moves.items(), key=lambda kv: (kv[0][0], kv[1]), reverse=True
            )
        ],
    }
