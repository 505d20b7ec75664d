"""The transactional outbox: every change a downstream system cares about writes an event
in the same transaction as the change (the same unit of work), so an event exists iff its
change committed.

An event is an envelope (:class:`EventEnvelope`: ``id`` a UUID, ``type``,
``schema_version``, the program's code, the member, the member's ``sequence`` and
``created_at``) around a payload whose shape is its type's (the TypedDicts below, published
as JSON Schema by :func:`json_schemas` and documented in docs/events.md). The helpers here
are called by the use cases inside their unit of work; replays of an idempotent write do
not run its effect, so they write no second event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic reads it on Python 3.11 (the schemas)

from kopilka.domain.program import Program
from kopilka.ledger.model import EntryKind, Result
from kopilka.services.context import ServiceContext
from kopilka.store.repos.outbox import EventRow, NewEvent, OutboxRepo
from kopilka.store.uow import UnitOfWork

SCHEMA_VERSION = 1


class BalanceAfter(TypedDict):
    available: int
    pending: int
    held: int


class MemberEnrolled(TypedDict):
    """``member.enrolled``: a member joined the program (no personal data: a consumer
    reads the profile through the API)."""

    member_id: int
    enrolled_at: str
    tier_code: str | None
    referred_by: int | None


class MemberUpdated(TypedDict):
    """``member.updated``: a profile change set these fields (their names, not their
    values)."""

    member_id: int
    fields: list[str]


class MemberBlocked(TypedDict):
    """``member.blocked`` (no earning, no spending) and ``member.unblocked``."""

    member_id: int
    blocked: bool


class PurchaseCommitted(TypedDict):
    """``purchase.committed``: a purchase was booked, with the points it earned and
    redeemed (``hold_id``: the till's hold it captured, if any)."""

    member_id: int
    receipt_id: str
    total: str
    to_pay: str
    points_earned: int
    points_redeemed: int
    rule_version: int | None
    hold_id: int | None
    balance: BalanceAfter


class PurchaseReturned(TypedDict):
    """``purchase.returned``: a return of a purchase (whole or some lines) was booked."""

    member_id: int
    receipt_id: str
    return_id: str
    refund: str
    points_clawed_back: int
    points_restored: int
    expired_at_once: int
    balance: BalanceAfter


class PointsAdjusted(TypedDict):
    """``points.adjusted``: a manual correction (``delta`` signed)."""

    member_id: int
    entry_id: int | None
    delta: int
    reason: str
    balance: BalanceAfter


class PointsExpired(TypedDict):
    """``points.expired``: the sweep expired the member's due lots (one entry)."""

    member_id: int
    entry_id: int
    points: int


class HoldEnded(TypedDict):
    """``hold.captured`` (``points`` spent), ``hold.voided`` and ``hold.timed_out``
    (``points`` released)."""

    member_id: int
    hold_id: int
    entry_id: int | None
    points: int


class PointsEarned(TypedDict):
    """``points.earned``: points credited outside a purchase (one ledger entry):
    ``source`` is ``earn`` (the API's or the console's credit), ``event`` (a rule for a
    recorded event, ``reference`` ``event:<id>``), ``accrual`` (a scheduled accrual,
    ``accrual:<id>``) or ``birthday`` (the birthday bonus, ``birthday:<year>``)."""

    member_id: int
    entry_id: int | None
    points: int
    source: str
    rule_id: str | None
    reference: str | None
    balance: BalanceAfter


class PointsRedeemed(TypedDict):
    """``points.redeemed``: points spent outside a purchase (one ledger entry)."""

    member_id: int
    entry_id: int | None
    points: int
    reference: str | None
    balance: BalanceAfter


class HoldPlaced(TypedDict):
    """``hold.placed``: points reserved at a till (``store``: its code, or ``None``) until
    ``expires_at``, when the sweep times the hold out unless it is captured or voided."""

    member_id: int
    hold_id: int
    entry_id: int | None
    points: int
    expires_at: str | None
    store: str | None


class ConsentChangedEvent(TypedDict):
    """``consent.changed``: the member gave (``granted``) or withdrew a consent to
    ``purpose`` through ``channel``, at ``at``."""

    member_id: int
    purpose: str
    granted: bool
    channel: str | None
    at: str


class IdentifierChangedEvent(TypedDict):
    """``identifier.changed``: a phone, an e-mail or a card was added (``replaced``
    false) or replaced another (no values: they are personal data)."""

    member_id: int
    kind: str
    replaced: bool


class MemberErased(TypedDict):
    """``member.erased``: the member's personal data were erased (the ledger stays); a
    consumer erases its own copy."""

    member_id: int
    at: str


class ImportFinished(TypedDict):
    """``import.finished`` (a program event, ``member_id`` null): an import of
    ``kind`` (``members`` or ``purchases``) finished the file ``file`` (its name) with
    these counts."""

    kind: str
    file: str
    sha256: str
    counts: dict[str, int]


class AccrualDone(TypedDict):
    """``accrual.done`` (a program event, ``member_id`` null): a scheduled accrual was
    booked: ``credited`` members got ``points`` each, ``refused`` were refused (blocked,
    say); each credit is its own ``points.earned``."""

    accrual_id: int
    points: int
    reason: str | None
    credited: int
    refused: int


class TierChanged(TypedDict):
    """``tier.changed``: the member's effective tier changed (``from_tier`` or ``to_tier``
    ``None``: no tier); ``reason`` is ``purchase`` (an upgrade by a purchase, or a
    recompute), ``review``, ``manual`` (support set or lifted a manual tier) or ``paid`` (a
    paid membership started, renewed, refunded or ended: services/memberships.py); ``at`` the
    time of the change; ``rule_version`` the rules version that decided it (``None`` when
    support lifted a manual tier in a program without tiers)."""

    member_id: int
    from_tier: str | None
    to_tier: str | None
    reason: str
    at: str
    rule_version: int | None


class BudgetCapExceeded(TypedDict):
    """``budget.cap_exceeded``: the program's cost (points issued at the point value) in
    ``month`` (local, ``YYYY-MM``) went over its budget cap, ``cap_bp`` basis points of the
    month's turnover; written once per program and month, with no ``member_id`` (a
    program's event, about no member)."""

    month: str
    cost_minor: int
    turnover_minor: int
    cap_bp: int
    share_bp: int | None


class RewardIssuedEvent(TypedDict):
    """``reward.issued``: the member spent ``points`` (the ledger entry ``entry_id``) on
    the reward ``reward_id`` (its catalog code ``reward_code``, its ``kind``), issued as
    ``issued_id``, usable from ``valid_from`` until ``expires_at`` (``None``: no end). The
    coupon's code is not in it: whoever holds it may use it."""

    member_id: int
    issued_id: int
    reward_id: int
    reward_code: str
    kind: str
    points: int
    entry_id: int
    valid_from: str
    expires_at: str | None
    balance: BalanceAfter


class RewardEnded(TypedDict):
    """``reward.cancelled`` (support cancelled it, ``reason`` theirs) and
    ``reward.expired`` (the ``rewards`` job: unused past its expiry, ``reason``
    ``expired``): an unused issued reward ended, its ``points_refunded`` given back by the
    entry ``refund_entry_id`` when the program's refund settings say so (0 and ``None``
    otherwise)."""

    member_id: int
    issued_id: int
    reward_id: int
    points_refunded: int
    refund_entry_id: int | None
    reason: str
    balance: BalanceAfter


EventType = Literal[
    "member.enrolled",
    "member.updated",
    "member.blocked",
    "member.unblocked",
    "member.erased",
    "consent.changed",
    "identifier.changed",
    "purchase.committed",
    "purchase.returned",
    "points.earned",
    "points.redeemed",
    "points.adjusted",
    "points.expired",
    "hold.placed",
    "hold.captured",
    "hold.voided",
    "hold.timed_out",
    "reward.issued",
    "reward.cancelled",
    "reward.expired",
    "tier.changed",
    "budget.cap_exceeded",
    "import.finished",
    "accrual.done",
]

Payload = (
    MemberEnrolled
    | MemberUpdated
    | MemberBlocked
    | PurchaseCommitted
    | PurchaseReturned
    | PointsAdjusted
    | PointsExpired
    | HoldEnded
    | TierChanged
    | BudgetCapExceeded
    | PointsEarned
    | PointsRedeemed
    | HoldPlaced
    | ConsentChangedEvent
    | IdentifierChangedEvent
    | MemberErased
    | ImportFinished
    | AccrualDone
    | RewardIssuedEvent
    | RewardEnded
)

# each type's payload, as published (docs/events.md, GET /v1/events/schema)
PAYLOADS: dict[str, type[object]] = {
    "member.enrolled": MemberEnrolled,
    "member.updated": MemberUpdated,
    "member.blocked": MemberBlocked,
    "member.unblocked": MemberBlocked,
    "member.erased": MemberErased,
    "consent.changed": ConsentChangedEvent,
    "identifier.changed": IdentifierChangedEvent,
    "purchase.committed": PurchaseCommitted,
    "purchase.returned": PurchaseReturned,
    "points.earned": PointsEarned,
    "points.redeemed": PointsRedeemed,
    "points.adjusted": PointsAdjusted,
    "points.expired": PointsExpired,
    "hold.placed": HoldPlaced,
    "hold.captured": HoldEnded,
    "hold.voided": HoldEnded,
    "hold.timed_out": HoldEnded,
    "reward.issued": RewardIssuedEvent,
    "reward.cancelled": RewardEnded,
    "reward.expired": RewardEnded,
    "tier.changed": TierChanged,
    "budget.cap_exceeded": BudgetCapExceeded,
    "import.finished": ImportFinished,
    "accrual.done": AccrualDone,
}

# the types that tell of the program, not of a member: their ``member_id`` is null
PROGRAM_EVENTS = frozenset({"import.finished", "accrual.done"})


class EventEnvelope(TypedDict):
    """What every channel delivers: the event and its payload (``data``); ``member_id``
    (and ``sequence``'s member) is null for a program event."""

    id: str
    type: str
    schema_version: int
    program: str
    member_id: int | None
    sequence: int
    created_at: str
    data: dict[str, object]


def json_schemas(ref_template: str = "#/$defs/{model}") -> dict[str, dict[str, object]]:
    """JSON Schema of the envelope (``EventEnvelope``) and of each payload type, by name
    (``PurchaseCommitted``, ...; shared parts such as ``BalanceAfter`` too), each payload's
    with ``x-event-types`` naming the event types it serves. References point at
    ``ref_template`` (``#/components/schemas/{model}`` in the OpenAPI document)."""
    out: dict[str, dict[str, object]] = {}

    def add(shape: type[object]) -> dict[str, object]:
        schema = TypeAdapter(shape).json_schema(ref_template=ref_template)
        defs = schema.pop("$defs", {})
        assert isinstance(defs, dict)
        out.update(defs)
        return out.setdefault(shape.__name__, schema)

    add(EventEnvelope)
    for name, shape in PAYLOADS.items():
        types = add(shape).setdefault("x-event-types", [])
        assert isinstance(types, list)
        types.append(name)
    return out


def _new(
    program: Program, member_id: int | None, type_: EventType, payload: Payload, at: datetime
) -> NewEvent:
    return NewEvent(str(uuid.uuid4()), program.id, member_id, type_, SCHEMA_VERSION, payload, at)


def record(
    uow: UnitOfWork,
    program: Program,
    member_id: int,
    type_: EventType,
    payload: Payload,
    at: datetime,
) -> None:
    """Write one event in ``uow`` (the change's own unit of work: it commits or rolls back
    with it). The caller holds the member's lock, or the member is new."""
    OutboxRepo(uow.conn).add([_new(program, member_id, type_, payload, at)])


def budget_cap_exceeded(
    uow: UnitOfWork, program: Program, payload: BudgetCapExceeded, at: datetime
) -> None:
    """Write ``budget.cap_exceeded`` in ``uow`` (a program's event: no member)."""
    record_program_event(uow, program, "budget.cap_exceeded", payload, at)


def record_program_event(
    uow: UnitOfWork, program: Program, type_: EventType, payload: Payload, at: datetime
) -> None:
    """Write one program event (``member_id`` null) in ``uow``."""
    OutboxRepo(uow.conn).add([_new(program, None, type_, payload, at)])


def points_earned(
    uow: UnitOfWork,
    program: Program,
    result: Result,
    source: str,
    at: datetime,
    *,
    rule_id: str | None = None,
    reference: str | None = None,
) -> None:
    """``points.earned`` for an earning's result (in its unit of work)."""
    record(
        uow,
        program,
        result.member_id,
        "points.earned",
        {
            "member_id": result.member_id,
            "entry_id": result.entry_id,
            "points": result.points,
            "source": source,
            "rule_id": rule_id,
            "reference": reference,
            "balance": _balance(result),
        },
        at,
    )


def points_redeemed(
    uow: UnitOfWork, program: Program, result: Result, reference: str | None, at: datetime
) -> None:
    """``points.redeemed`` for a redemption's result (in its unit of work)."""
    record(
        uow,
        program,
        result.member_id,
        "points.redeemed",
        {
            "member_id": result.member_id,
            "entry_id": result.entry_id,
            "points": result.points,
            "reference": reference,
            "balance": _balance(result),
        },
        at,
    )


def hold_placed(
    uow: UnitOfWork, program: Program, result: Result, store: str | None, at: datetime
) -> None:
    """``hold.placed`` for a hold's result (in its unit of work)."""
    assert result.hold_id is not None
    expires = result.details.get("expires_at")
    record(
        uow,
        program,
        result.member_id,
        "hold.placed",
        {
            "member_id": result.member_id,
            "hold_id": result.hold_id,
            "entry_id": result.entry_id,
            "points": result.points,
            "expires_at": None if expires is None else str(expires),
            "store": store,
        },
        at,
    )


def tier_changed_event(
    program: Program,
    member_id: int,
    from_tier: str | None,
    to_tier: str | None,
    reason: str,
    rule_version: int | None,
    at: datetime,
) -> NewEvent:
    """The ``tier.changed`` event for a change of the member's effective tier, unwritten:
    a purchase's upgrade writes it in the upgrade's own statement, a review or a recompute
    its batch's events together (``OutboxRepo.add``)."""
    return _new(
        program,
        member_id,
        "tier.changed",
        {
            "member_id": member_id,
            "from_tier": from_tier,
            "to_tier": to_tier,
            "reason": reason,
            "at": at.isoformat(),
            "rule_version": rule_version,
        },
        at,
    )


def _balance(result: Result) -> BalanceAfter:
    return {"available": result.available, "pending": result.pending, "held": result.held}


def points_adjusted(
    uow: UnitOfWork, program: Program, result: Result, reason: str, at: datetime
) -> None:
    """``points.adjusted`` for an adjustment's result (``delta`` signed, as asked)."""
    delta = int(result.details.get("delta", result.points))
    record(
        uow,
        program,
        result.member_id,
        "points.adjusted",
        {
            "member_id": result.member_id,
            "entry_id": result.entry_id,
            "delta": delta,
            "reason": reason,
            "balance": _balance(result),
        },
        at,
    )


def hold_ended(
    uow: UnitOfWork,
    program: Program,
    type_: Literal["hold.captured", "hold.voided"],
    result: Result,
    at: datetime,
) -> None:
    """``hold.captured`` or ``hold.voided`` for a capture's or a void's result."""
    assert result.hold_id is not None
    record(
        uow,
        program,
        result.member_id,
        type_,
        {
            "member_id": result.member_id,
            "hold_id": result.hold_id,
            "entry_id": result.entry_id,
            "points": result.points,
        },
        at,
    )


class _Booked(TypedDict):
    # the part of services/purchases.py's PurchaseBooked an event reads (structural: that
    # module imports this one)
    receipt_id: str
    member_id: int
    total: str
    to_pay: str
    points_earned: int
    points_redeemed: int
    rule_version: int | None
    balance: BalanceAfter


class _Returned(TypedDict):
    # the part of services/purchases.py's ReturnBooked an event reads
    receipt_id: str
    return_id: str
    member_id: int
    refund: str
    points_clawed_back: int
    points_restored: int
    expired_at_once: int
    balance: BalanceAfter


def purchase_committed(
    uow: UnitOfWork, program: Program, booked: _Booked, hold_id: int | None, at: datetime
) -> None:
    """``purchase.committed`` for a booked purchase (the booking holds the member's lock)."""
    member_id = booked["member_id"]
    payload: PurchaseCommitted = {
        "member_id": member_id,
        "receipt_id": booked["receipt_id"],
        "total": booked["total"],
        "to_pay": booked["to_pay"],
        "points_earned": booked["points_earned"],
        "points_redeemed": booked["points_redeemed"],
        "rule_version": booked["rule_version"],
        "hold_id": hold_id,
        "balance": dict(booked["balance"]),  # type: ignore[typeddict-item]
    }
    record(uow, program, member_id, "purchase.committed", payload, at)


def purchase_returned(uow: UnitOfWork, program: Program, booked: _Returned, at: datetime) -> None:
    """``purchase.returned`` for a booked return (the return holds the member's lock)."""
    member_id = booked["member_id"]
    payload: PurchaseReturned = {
        "member_id": member_id,
        "receipt_id": booked["receipt_id"],
        "return_id": booked["return_id"],
        "refund": booked["refund"],
        "points_clawed_back": booked["points_clawed_back"],
        "points_restored": booked["points_restored"],
        "expired_at_once": booked["expired_at_once"],
        "balance": dict(booked["balance"]),  # type: ignore[typeddict-item]
    }
    record(uow, program, member_id, "purchase.returned", payload, at)


SWEPT_KINDS = (EntryKind.EXPIRE.value, EntryKind.HOLD_EXPIRE.value)


def swept_since(uow: UnitOfWork) -> int:
    """Call before a sweep's batch, in its unit of work: where its entries will start."""
    return OutboxRepo(uow.conn).last_entry_id()


def record_swept(
    uow: UnitOfWork,
    program: Program,
    since: int,
    at: datetime,
    members: Sequence[int] | None = None,
) -> int:
    """After a sweep's batch, in its unit of work: one ``points.expired`` per expiry entry
    and one ``hold.timed_out`` per hold timeout it wrote (``members``: the batch's, when
    batches of one sweep run at once). Returns how many events."""
    repo = OutboxRepo(uow.conn)
    events: list[NewEvent] = []
    for e in repo.swept_entries(program.id, since, at, SWEPT_KINDS, members):
        if e.kind == EntryKind.EXPIRE.value:
            events.append(
                _new(
                    program,
                    e.member_id,
                    "points.expired",
                    {"member_id": e.member_id, "entry_id": e.entry_id, "points": e.points},
                    at,
                )
            )
        elif e.hold_id is not None:
            events.append(
                _new(
                    program,
                    e.member_id,
                    "hold.timed_out",
                    {
                        "member_id": e.member_id,
                        "hold_id": int(e.hold_id),
                        "entry_id": e.entry_id,
                        "points": e.points,
                    },
                    at,
                )
            )
    repo.add(events)
    return len(events)


def envelope(program_code: str, row: EventRow) -> EventEnvelope:
    """The event as channels deliver it."""
    return {
        "id": row.id,
        "type": row.type,
        "schema_version": row.schema_version,
        "program": program_code,
        "member_id": row.member_id,
        "sequence": row.seq,
        "created_at": row.created_at.isoformat(),
        "data": row.payload,
    }


def member_events(ctx: ServiceContext, program: Program, member_id: int) -> list[EventEnvelope]:
    """A member's events in their order, as channels deliver them."""
    with ctx.uow(read_only=True) as uow:
        rows = OutboxRepo(uow.conn).for_member(member_id)
    return [envelope(program.code, r) for r in rows if r.program_id == program.id]


def counts(ctx: ServiceContext, program: Program) -> dict[str, int]:
    """How many events of each type the program has written."""
    with ctx.uow(read_only=True) as uow:
        return OutboxRepo(uow.conn).count_by_type(program.id)


def list_events(ctx: ServiceContext, program: Program, limit: int = 1000) -> list[EventEnvelope]:
    """The program's events, oldest first."""
    with ctx.uow(read_only=True) as uow:
        rows = OutboxRepo(uow.conn).for_program(program.id, limit)
    return [envelope(program.code, r) for r in rows]
