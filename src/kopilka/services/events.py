"""Non-purchase actions (registration, review, social share, custom events) and the points
the published rules give for them, idempotent on the event id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from kopilka.domain.basket import check_occurred_at
from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rules import evaluate_event
from kopilka.domain.tiers import PointsSource
from kopilka.ledger.ledger import Ledger
from kopilka.services import outbox, tiers, usage
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef, member_context, resolve_member
from kopilka.services.purchases import BalanceNow
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.rules import UsageRepo
from kopilka.store.uow import UnitOfWork

# events only Kopilka records: the birthday_bonus job's (services/birthday_bonus.py) and a
# tier's welcome (services/tier_welcome.py); from outside they would credit a bonus at will
RECORDED_BY_KOPILKA = frozenset({"birthday", "tier_reached"})


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """``member`` did ``type`` (event ``event_id``) at ``occurred_at`` (None: now), with
    ``attributes`` rules may match on (None: none given)."""

    event_id: str
    type: str
    member: MemberRef
    attributes: Mapping[str, object] | None = None
    occurred_at: datetime | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request as the idempotency store hashes it: the body as the API's schema
        dumped it before commands existed, so the hash is the same as before."""
        out = self.member.fingerprint()
        out["type"] = self.type
        if self.attributes is not None:
            out["attributes"] = dict(self.attributes)
        if self.occurred_at is not None:
            out["occurred_at"] = self.occurred_at.isoformat().replace("+00:00", "Z")
        out["event_id"] = self.event_id
        return out


class EventAward(TypedDict):
    rule_id: str
    points: int
    description: str
    entry_id: int | None


class EventRecorded(TypedDict):
    event_id: str
    type: str
    member_id: int
    points_earned: int
    awards: list[EventAward]
    balance: BalanceNow


def record_event(ctx: ServiceContext, program: Program, cmd: RecordEvent) -> EventRecorded:
    """Record the event and earn what the rules in force give for it (one entry per rule
    that applied)."""
    event_id = cmd.event_id
    name = cmd.type
    if name in RECORDED_BY_KOPILKA:
        # a till posting "birthday" or "tier_reached" would otherwise credit a bonus at will
        raise ValidationError(
            msg("the event %(type)s is recorded by Kopilka itself, not sent", type=repr(name)),
            field="type",
        )
    attributes = dict(cmd.attributes or {})

    def effect(uow: UnitOfWork) -> EventRecorded:
        now = ctx.now()
        at = now if cmd.occurred_at is None else check_occurred_at(cmd.occurred_at, now)
        lg = Ledger(uow.ledger, program)
        member_id = resolve_member(uow, program, cmd.member)
        lg.require_active(member_id)
        member = uow.members.get(program.id, member_id, identifiers=False)
        ruleset = active_ruleset(uow, program, at)
        awards: list[EventAward] = []
        if ruleset is not None:
            counters = usage.load(
                UsageRepo(uow.conn),
                program.id,
                usage.capped_rules(ruleset, events=name),
                member_id,
                at,
                program.timezone,
            )
            result = evaluate_event(
                ruleset, program, name, attributes, member_context(member), usage=counters, at=at
            )
            for award in result.awards:
                # a rule's own expiry (registration points valid 30 days, say) for its lot
                own = ruleset.expiries.get(award.rule_id)
                res = lg.earn(
                    member_id,
                    award.points,
                    now,
                    rule_id=award.rule_id,
                    rule_version=award.ruleset_version,
                    reference=f"event:{event_id}",
                    reason=award.description,
                    expiries=None if own is None else [(award.points, own)],
                )
                outbox.points_earned(
                    uow,
                    program,
                    res,
                    "event",
                    now,
                    rule_id=award.rule_id,
                    reference=f"event:{event_id}",
                )
                awards.append(
                    {
                        "rule_id": award.rule_id,
                        "points": award.points,
                        "description": award.description,
                        "entry_id": res.entry_id,
                    }
                )
            usage.record(
                UsageRepo(uow.conn), program.id, ruleset, result, member_id, at, program.timezone
            )
            if awards:
                # a program counting events' points toward tiers upgrades at once
                tiers.after_points(uow, program, member_id, PointsSource.EVENTS, now, lg)
        bal = lg.balance(member_id)
        recorded: EventRecorded = {
            "event_id": event_id,
            "type": name,
            "member_id": member_id,
            "points_earned": sum(a["points"] for a in awards),
            "awards": awards,
            "balance": {"available": bal.available, "pending": bal.pending, "held": bal.held},
        }
        return recorded

    return ctx.idempotent(program.id, f"event:{event_id}", "event", cmd.fingerprint(), effect)
