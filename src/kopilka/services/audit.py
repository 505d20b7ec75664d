"""Verification of the whole ledger and a member's explained history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from sqlalchemy import select

from kopilka.domain.program import Program
from kopilka.ledger.verify import VerifyReport, verify
from kopilka.services.context import ServiceContext
from kopilka.store.repos.tiers import StoredChange, TierRepo
from kopilka.store.repos.verification import VerificationRepo
from kopilka.store.tables import journal_entries, postings

MAX_PAGE = 200


class HistoryItem(TypedDict):
    """One journal entry of a member: what it did to each balance, and why."""

    entry_id: int
    kind: str
    points: int
    occurred_at: str
    changes: dict[str, int]
    why: str
    rule_id: str | None
    rule_version: int | None
    reverses_entry_id: int | None
    hold_id: int | None
    reference: str | None
    reason: str | None
    actor: str | None
    meta: dict[str, object] | None


class TierChangeItem(TypedDict):
    """A change of the member's tier in their history: from, to, why (``reason``:
    purchase, review, manual, return, migration) and what decided it."""

    at: str
    from_tier: str | None
    to_tier: str | None
    reason: str
    why: str
    rule_version: int | None
    actor: str | None
    note: str | None


class History(TypedDict):
    """A page of a member's ledger, newest first; ``next_cursor`` is the next ``before``.
    ``tier_changes``: the member's tier changes in the page's span of time (newest first),
    each on exactly one page: from the oldest entry's time on this page (from the start on
    the last page) to the time of the entry ``before`` names (to now on the first page)."""

    items: list[HistoryItem]
    next_cursor: int | None
    tier_changes: list[TierChangeItem]


class Entry(TypedDict):
    """What :func:`explain` reads of a journal entry (``reverses_kind``: the kind of the
    entry a reversal reverses, else None)."""

    kind: str
    points: int
    reference: str | None
    reason: str | None
    actor: str | None
    rule_id: str | None
    rule_version: int | None
    hold_id: int | None
    reverses_entry_id: int | None
    reverses_kind: str | None
    meta: Mapping[str, object] | None


def verify_ledger(ctx: ServiceContext, program_id: int | None = None) -> VerifyReport:
    """Recompute every balance from the journal and check every invariant."""
    with ctx.uow(read_only=True) as uow:
        return verify(VerificationRepo(uow.conn), program_id)


def history(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    *,
    limit: int = 50,
    before: int | None = None,
    for_member: bool = False,
) -> History:
    """A member's ledger, newest first, with what each entry did to each balance and why.

    Cursor pagination: pass the returned ``next_cursor`` as ``before``. With
    ``for_member`` (the member portal) the lines leave out who in the back office acted
    and the internal details: a member reads what happened and why, not staff names.
    """
    limit = max(1, min(limit, MAX_PAGE))
    e = journal_entries.c
    original = journal_entries.alias("original")
    # what a reversal reverses (an earning or a spending), for its sentence
    reverses_kind = (
        select(original.c.kind)
        .where(original.c.id == e.reverses_entry_id)
        .scalar_subquery()
        .label("reverses_kind")
    )
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id)
        q = select(
            e.id,
            e.kind,
            e.points,
            e.occurred_at,
            e.reverses_entry_id,
            e.hold_id,
            e.rule_id,
            e.rule_version,
            e.reference,
            e.reason,
            e.actor,
            e.meta,
            reverses_kind,
        ).where(e.member_id == member_id, e.program_id == program.id)
        if before is not None:
            q = q.where(e.id < before)
        rows = uow.conn.execute(q.order_by(e.id.desc()).limit(limit + 1)).fetchall()
        page = rows[:limit]
        until = (
            uow.conn.execute(select(e.occurred_at).where(e.id == before)).scalar()
            if before is not None
            else None
        )
        since = page[-1].occurred_at if len(rows) > limit else None
        changes = TierRepo(uow.conn).changes_between(member_id, since, until)
        ids = [r.id for r in page]
        deltas: dict[int, dict[str, int]] = {i: {} for i in ids}
        if ids:
            p = postings.c
            for entry_id, account, amount in uow.conn.execute(
                select(p.entry_id, p.account, p.amount).where(
                    p.entry_id.in_(ids), p.member_id == member_id
                )
            ):
                deltas[entry_id][account] = deltas[entry_id].get(account, 0) + amount
    items: list[HistoryItem] = [
        {
            "entry_id": r.id,
            "kind": r.kind,
            "points": r.points,
            "occurred_at": r.occurred_at.isoformat(),
            "changes": deltas[r.id],
            "why": explain(
                {
                    "kind": r.kind,
                    "points": r.points,
                    "reference": r.reference,
                    "reason": _member_reason(r.kind, r.rule_id, r.reason)
                    if for_member
                    else r.reason,
                    "actor": r.actor,
                    "rule_id": r.rule_id,
                    "rule_version": r.rule_version,
                    "hold_id": r.hold_id,
                    "reverses_entry_id": r.reverses_entry_id,
                    "reverses_kind": r.reverses_kind,
                    "meta": r.meta,
                },
                for_member=for_member,
            ),
            "rule_id": r.rule_id,
            "rule_version": r.rule_version,
            "reverses_entry_id": r.reverses_entry_id,
            "hold_id": r.hold_id,
            "reference": r.reference,
            "reason": _member_reason(r.kind, r.rule_id, r.reason) if for_member else r.reason,
            "actor": None if for_member else r.actor,
            "meta": _member_meta(r.meta) if for_member else r.meta,
        }
        for r in page
    ]
    return {
        "items": items,
        "next_cursor": page[-1].id if len(rows) > limit else None,
        "tier_changes": [_tier_change(c, for_member=for_member) for c in changes],
    }


def _tier_change(c: StoredChange, *, for_member: bool) -> TierChangeItem:
    return {
        "at": c.at.isoformat(),
        "from_tier": c.from_tier,
        "to_tier": c.to_tier,
        "reason": c.reason,
        "why": explain_tier_change(c.from_tier, c.to_tier, c.reason),
        "rule_version": c.rule_version,
        "actor": None if for_member else c.actor,
        "note": None if for_member else c.note,
    }


def explain_tier_change(from_tier: str | None, to_tier: str | None, reason: str) -> str:
    """One sentence for a tier change (the English of the API; pages word it themselves)."""
    before = from_tier or "no tier"
    after = to_tier or "no tier"
    why = {
        "purchase": "by purchases",
        "review": "at a review",
        "manual": "set by support",
        "return": "after a return",
        "migration": "carried over from before tiers",
        "event": "by points of an event",
        "adjustment": "by an adjustment",
    }.get(reason, reason)
    return f"tier {before} -> {after}, {why}"


def explain(entry: Entry, *, for_member: bool = False) -> str:
    """One sentence a member or support agent can read (``for_member``: no staff names)."""
    kind, pts = entry["kind"], entry["points"]
    ref = f" ({entry['reference']})" if entry["reference"] else ""
    if kind == "earn":
        rule = (
            f" under rule {entry['rule_id']} v{entry['rule_version']}" if entry["rule_id"] else ""
        )
        why = f": {entry['reason']}" if entry["reason"] else ""
        return f"earned {pts} points{rule}{ref}{why}"
    if kind == "reverse":
        return _reversal(entry, pts, ref)
    if kind == "adjust":
        delta = _count(entry["meta"] or {}, "delta", pts)
        if for_member:
            return f"adjusted by {delta:+d} points"
        return f"adjusted by {delta:+d} points by {entry['actor']}: {entry['reason']}"
    # released held points whose lot expired during the hold follow the restore policy
    released = _released(entry["meta"] or {})
    texts = {
        "activate": f"{pts} pending points became available",
        "redeem": f"spent {pts} points{ref}",
        "hold": f"reserved {pts} points at the till{ref}",
        "capture": f"paid {pts} points from hold {entry['hold_id']}{ref}{released}",
        "void": f"hold {entry['hold_id']} cancelled, {pts} points released{released}",
        "hold_expire": f"hold {entry['hold_id']} timed out, {pts} points released{released}",
        "expire": f"{pts} points expired",
        "reward": f"spent {pts} points on reward{ref}",
        "reward_refund": f"reward cancelled or expired: {pts} points given back{ref}{released}",
    }
    return texts.get(kind, f"{kind} {pts} points")


# what a member may read of an entry's meta: the point counts of a return or a release
MEMBER_META = ("expired_on_return", "reissued", "forgiven", "debt")


def _member_meta(meta: Mapping[str, object] | None) -> dict[str, object] | None:
    """The counts of ``meta`` a member's history shows (points that expired at once, came
    back, were forgiven or left as a debt) and the text support wrote for the member;
    nothing about who in the back office acted or why (the reason code is internal)."""
    kept: dict[str, object] = {
        k: meta[k] for k in MEMBER_META if meta and isinstance(meta.get(k), int)
    }
    if meta and isinstance(meta.get("member_text"), str) and meta["member_text"]:
        kept["member_text"] = meta["member_text"]
    return kept or None


def _member_reason(kind: str, rule_id: str | None, reason: str | None) -> str | None:
    """The reason a member may read: a rule's own description on what it earned (the
    program wrote it for members); never a note staff typed (an adjustment's, a void's,
    an earning booked by hand), which the member reads as the entry's member text."""
    return reason if kind == "earn" and rule_id else None


def _count(meta: Mapping[str, object], name: str, default: int = 0) -> int:
    """A number of points the ledger noted in an entry's ``meta`` (JSON: an int)."""
    n = meta.get(name, default)
    return n if isinstance(n, int) else default


def _released(meta: Mapping[str, object]) -> str:
    """What became of released held points whose lot expired during the hold."""
    expired, reissued = _count(meta, "expired_on_return"), _count(meta, "reissued")
    text = f", of which {expired} expired at once (their validity had ended)" if expired else ""
    if reissued:
        text += f", of which {reissued} came back with a new expiry date"
    return text


def _reversal(entry: Entry, pts: int, ref: str) -> str:
    """A return's line says what it did to the balance: points taken back (and those
    forgiven or left as a debt), or points restored (and those that expired at once
    because their validity had ended, or came back in a fresh lot)."""
    meta = entry["meta"] or {}
    of = entry["reverses_kind"]
    if of in ("redeem", "capture"):
        return f"return: {pts} points restored{ref}{_released(meta)}"
    if of in ("earn", "adjust"):
        forgiven, debt = _count(meta, "forgiven"), _count(meta, "debt")
        text = f"return: {pts - forgiven} points taken back{ref}"
        if forgiven:
            text += f"; {forgiven} more were no longer there (spent or expired) and are forgiven"
        if debt:
            text += f", {debt} of them below zero (a debt later earnings repay)"
        return text
    return f"return: reversed {pts} points of entry {entry['reverses_entry_id']}{ref}"
