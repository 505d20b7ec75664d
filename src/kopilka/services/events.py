"""Non-purchase actions (registration, review, social share, custom events) and the points
the published rules give for them, idempotent on the event id."""

from __future__ import annotations

from typing import Any

from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.domain.rules import evaluate_event
from kopilka.ledger.ledger import Ledger
from kopilka.services import usage
from kopilka.services.context import ServiceContext
from kopilka.services.purchase_input import ident, instant, text
from kopilka.services.purchases import member_context, resolve_member
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.rules import UsageRepo
from kopilka.store.uow import UnitOfWork


def record_event(ctx: ServiceContext, program: Program, data: dict[str, Any]) -> dict[str, Any]:
    """Record ``{event_id, type, member_id|member, attributes, occurred_at}`` and earn what
    the rules in force give for it (one entry per rule that applied)."""
    event_id = ident(data, "event_id", required=True) or ""
    name = text(data, "type", required=True) or ""
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict) or len(attributes) > 50:
        raise ValidationError("attributes must be an object of at most 50 keys", field="attributes")

    def effect(uow: UnitOfWork) -> dict[str, Any]:
        now = ctx.now()
        at = instant(data.get("occurred_at"), "occurred_at", now)
        lg = Ledger(uow.ledger, program)
        member_id = resolve_member(uow, program, data)
        lg.require_active(member_id)
        member = uow.members.get(program.id, member_id, identifiers=False)
        ruleset = active_ruleset(uow, program, at)
        awards: list[dict[str, Any]] = []
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
                res = lg.earn(
                    member_id,
                    award.points,
                    now,
                    rule_id=award.rule_id,
                    rule_version=award.ruleset_version,
                    reference=f"event:{event_id}",
                    reason=award.description,
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
        bal = lg.balance(member_id)
        return {
            "event_id": event_id,
            "type": name,
            "member_id": member_id,
            "points_earned": sum(a["points"] for a in awards),
            "awards": awards,
            "balance": {"available": bal.available, "pending": bal.pending, "held": bal.held},
        }

    return ctx.idempotent(program.id, f"event:{event_id}", "event", data, effect)
